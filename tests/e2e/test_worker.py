"""test_worker.py: `sukima worker` against a real nats-server, driven at the NATS level.

These tests publish work messages themselves (no gateway), so they pin the
worker's side of docs/architecture.md: the Sk-Call spec, the sync reply,
create-only results, the invocation record, completion events, membership,
leases, hand-back on leave, the attempt limit and bad input.
"""
import base64
import hashlib
import json
import os
import re
import time
import uuid

import pytest

import cloud
from natsproto import Client

pytestmark = pytest.mark.skipif(not cloud.vmm_runs_guests(),
                                reason="the monitor cannot run guests here")


def upload(nats, path):
    data = open(path, "rb").read()
    digest = hashlib.sha256(data).hexdigest()
    r = cloud.sukima("objstore", "--nats", nats.url, "put", digest, path)
    assert r.returncode == 0, r.stderr
    return digest


def call_spec(digest, cid=None, function="fn", reply="", timeout_ms=5000,
              argv=(), env=None, max_output=1 << 20):
    cid = cid or uuid.uuid4().hex
    return {"id": cid, "function": function, "version": 1, "digest": digest,
            "mem_mib": 64, "timeout_ms": timeout_ms, "max_output": max_output,
            "argv": list(argv), "env": env or {}, "reply": reply,
            "callback": "", "queued_at_us": int(time.time() * 1e6)}


def submit(c, spec, body=b""):
    c.js_publish("sk.work.x86_64", body,
                 {"Sk-Call": json.dumps(spec), "Nats-Msg-Id": spec["id"]})


def wait_result(c, cid, timeout=30):
    def get():
        v = c.kv_get("sk_results", cid)
        return json.loads(v) if v else None
    return cloud.wait_for(get, timeout, interval=0.1, what=f"result {cid}")


def consumer(c):
    return c.js("CONSUMER.INFO.SUKIMA_WORK.workers-x86_64")


def procs_with(text):
    """PIDs whose command line mentions text."""
    found = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/cmdline", "rb") as f:
                    if text.encode() in f.read():
                        found.append(int(d))
            except OSError:
                pass
    return found


def out(res):
    return base64.b64decode(res["output_b64"])


@pytest.fixture
def env(tmp_path, cloud_procs):
    nats = cloud.Nats(tmp_path / "nats").start()
    c = nats.client()
    yield nats, c
    c.close()


def test_sync_call_reply_record_and_event(env, tmp_path):
    nats, c = env
    w = cloud.Worker(nats.url, name="w1", slots=2, tmpdir=tmp_path).start()
    digest = upload(nats, cloud.guest("upper"))
    # The answer is the committed result, republished by the server.
    sid = c.subscribe("sk.result.*")
    rsid = c.subscribe("sk.reply.gw1.>")
    spec = call_spec(digest, reply="sk.reply.gw1.x1", cid="x1", function="upper")
    submit(c, spec, b"hello, worker")
    m = c.next_msg(30, sid)
    assert m is not None, w.log()
    assert m.subject == "sk.result.x1" and m.headers["Nats-Subject"] == "$KV.sk_results.x1"
    assert c.next_msg(0.3, rsid) is None  # no reply of the worker's own
    res = json.loads(m.data)
    assert res["status"] == "succeeded" and res["exit_code"] == 0
    assert out(res) == b"HELLO, WORKER"
    assert res["id"] == "x1" and res["function"] == "upper" and res["attempt"] == 1
    # Committed in sk_results, recorded in sk_calls.
    assert json.loads(c.kv_get("sk_results", "x1"))["output_b64"] == res["output_b64"]
    # A sync call's record stays at running: sk_results is the authority
    # (docs/architecture.md), one stream write less per call.
    rec = json.loads(c.kv_get("sk_calls", "x1"))
    assert rec["status"] == "running" and rec["attempts"] == 1
    assert rec["worker"] == res["worker"]
    # No completion event without a callback: the activation log reads
    # sk_results itself (gw_logs.c).
    for subj in ("sk.done.x1", "sk.done.cb.x1"):
        ev = c.js("STREAM.MSG.GET.SUKIMA_DONE", {"last_by_subj": subj})
        assert ev.get("error", {}).get("code") == 404, ev
    # Acked: nothing left in the work queue, nothing pending.
    ci = cloud.wait_for(lambda: (lambda x: x if x["num_ack_pending"] == 0 else None)(consumer(c)),
                        10, what="ack")
    assert ci["num_redelivered"] == 0
    assert c.js("STREAM.INFO.SUKIMA_WORK")["state"]["messages"] == 0


@pytest.mark.parametrize("warm", ["0", "4"])
def test_argv_env_and_many_calls(env, tmp_path, warm):
    nats, c = env
    w = cloud.Worker(nats.url, name="w1", slots=3, tmpdir=tmp_path,
                     args=["--warm", warm]).start()
    args = upload(nats, cloud.guest("args"))
    sha = upload(nats, cloud.guest("sha256"))
    spec = call_spec(args, argv=["alpha", "beta gamma"], env={"Http_Method": "POST"})
    submit(c, spec)
    text = out(wait_result(c, spec["id"])).decode()
    assert "alpha" in text and "beta gamma" in text and "Http_Method=POST" in text
    ids = {}
    for i in range(40):
        body = f"payload {i}".encode() * (i + 1)
        s = call_spec(sha)
        ids[s["id"]] = hashlib.sha256(body).hexdigest()
        submit(c, s, body)
    for cid, want in ids.items():
        res = wait_result(c, cid)
        assert res["status"] == "succeeded"
        assert out(res).decode().split()[0] == want
    assert w.term() == 0
    # Three slots wanted sha256 at once: one download, shared.
    assert w.log().count("cache: fetched") == 2, w.log()
    runs = re.search(r"(\d+) warm runs on (\d+) micro-VMs, (\d+) cold runs", w.log())
    assert runs, w.log()
    warm_runs, vms, cold_runs = map(int, runs.groups())
    if warm == "0":
        assert warm_runs == 0 and cold_runs == 41
    elif cloud.vmm_serves():
        # The 40 sha256 calls share one spec: at most one micro-VM per
        # slot; `args` never reads stdin, so it has no snapshot: cold.
        assert warm_runs == 40 and cold_runs == 1 and 1 <= vms <= 3


def test_membership_entry_and_leave(env, tmp_path):
    nats, c = env
    w = cloud.Worker(nats.url, name="member", slots=3, tmpdir=tmp_path,
                     args=["--mem", "1G"]).start()
    wid = w.log().split("worker ", 1)[1].split()[0]
    first = json.loads(cloud.wait_for(lambda: c.kv_get("sk_workers", wid), 10))
    assert first["name"] == "member" and first["slots"] == 3
    assert first["arch"] == "x86_64" and first["state"] == "idle"
    assert first["flavour"] in ("pvm", "vmx", "svm", "none")
    assert first["mem_mib"] == 1024 and first["busy"] == 0
    assert first["os"].startswith("Linux") and first["hostname"]
    # Refreshed every second.
    cloud.wait_for(lambda: json.loads(c.kv_get("sk_workers", wid))["seen_us"] > first["seen_us"],
                   5, what="membership refresh")
    assert w.term() == 0
    assert c.kv_get("sk_workers", wid) is None
    assert "left" in w.log()


def test_bad_messages_are_terminated_not_fatal(env, tmp_path):
    nats, c = env
    w = cloud.Worker(nats.url, name="w1", slots=1, tmpdir=tmp_path).start()
    echo = upload(nats, cloud.guest("echo"))
    c.js_publish("sk.work.x86_64", b"no header")
    c.js_publish("sk.work.x86_64", b"x", {"Sk-Call": "{not json"})
    c.js_publish("sk.work.x86_64", b"x", {"Sk-Call": json.dumps({"id": "a b", "function": "x"})})
    bad = call_spec(echo)
    bad["digest"] = "Z" * 64
    c.js_publish("sk.work.x86_64", b"x", {"Sk-Call": json.dumps(bad)})
    good = call_spec(echo)
    submit(c, good, b"still alive")
    assert out(wait_result(c, good["id"])) == b"still alive"
    assert w.running()
    log = w.log()
    assert log.count("terminated") == 4, log
    ci = cloud.wait_for(lambda: (lambda x: x if x["num_ack_pending"] == 0 else None)(consumer(c)),
                        10, what="acks")
    assert ci["num_redelivered"] == 0


def test_cancelled_call_is_skipped(env, tmp_path):
    nats, c = env
    w = cloud.Worker(nats.url, name="w1", slots=1, tmpdir=tmp_path).start()
    echo = upload(nats, cloud.guest("echo"))
    spec = call_spec(echo)
    # The gateway's record shape, with no worker yet, plus an unknown
    # extra that a stricter reader might refuse: a cancel must still hold.
    c.kv_put("sk_calls", spec["id"], json.dumps(
        {"id": spec["id"], "function": "fn", "version": 1, "status": "cancelled",
         "attempts": 0, "worker": "", "callback": "", "queued_at_us": 1,
         "started_at_us": 0, "ended_at_us": 0}))
    odd = call_spec(echo)
    c.kv_put("sk_calls", odd["id"], json.dumps(
        {"id": odd["id"], "function": "NOT A NAME", "status": "cancelled"}))
    submit(c, odd, b"x")
    submit(c, spec, b"x")
    after = call_spec(echo)
    submit(c, after, b"y")
    wait_result(c, after["id"])
    for cid in (spec["id"], odd["id"]):
        assert c.kv_get("sk_results", cid) is None
        assert json.loads(c.kv_get("sk_calls", cid))["status"] == "cancelled"
    assert "cancelled, skipped" in w.log()


def test_first_result_wins(env, tmp_path):
    nats, c = env
    w = cloud.Worker(nats.url, name="w1", slots=1, tmpdir=tmp_path).start()
    echo = upload(nats, cloud.guest("echo"))
    spec = call_spec(echo, reply="sk.reply.gw.dup")
    earlier = {"id": spec["id"], "function": "fn", "status": "succeeded",
               "output_b64": base64.b64encode(b"first").decode(), "worker": "other"}
    c.kv_put("sk_results", spec["id"], json.dumps(earlier))
    sid = c.subscribe("sk.reply.gw.>")
    res_sid = c.subscribe("sk.result.*")
    submit(c, spec, b"second")
    cloud.wait_for(lambda: "duplicate" in w.log(), 20, what="duplicate drop")
    assert json.loads(c.kv_get("sk_results", spec["id"]))["worker"] == "other"
    # The loser never answers the caller, and its refused write is not
    # republished.
    assert c.next_msg(0.5, sid) is None
    assert c.next_msg(0.5, res_sid) is None
    rec = cloud.wait_for(lambda: json.loads(c.kv_get("sk_calls", spec["id"]) or b"{}")
                         .get("duplicates"), 10, what="duplicate count")
    assert rec == 1


@pytest.mark.parametrize("warm", ["0", "4"])
def test_function_failure_and_timeout(env, tmp_path, warm):
    nats, c = env
    cloud.Worker(nats.url, name="w1", slots=2, tmpdir=tmp_path,
                 args=["--warm", warm]).start()
    priv = upload(nats, cloud.guest("hostile_priv"))
    loop = upload(nats, cloud.guest("hostile_loop"))
    f = call_spec(priv, argv=["hlt"])
    t = call_spec(loop, argv=["spin"], timeout_ms=1000)
    submit(c, f)
    submit(c, t)
    rf = wait_result(c, f["id"])
    assert rf["status"] == "failed" and rf["exit_code"] == 139
    assert "general protection" in rf["reason"], rf
    rt = wait_result(c, t["id"])
    assert rt["status"] == "timed_out", rt
    assert json.loads(c.kv_get("sk_calls", t["id"]))["status"] == "timed_out"


def test_artifact_digest_mismatch_refused(env, tmp_path):
    nats, c = env
    cloud.Worker(nats.url, name="w1", slots=1, tmpdir=tmp_path).start()
    real = open(cloud.guest("echo"), "rb").read()
    liar = hashlib.sha256(b"something else").hexdigest()
    p = tmp_path / "elf"
    p.write_bytes(real)
    r = cloud.sukima("objstore", "--nats", nats.url, "put", liar, str(p))
    assert r.returncode == 0
    spec = call_spec(liar)
    submit(c, spec, b"x")
    res = wait_result(c, spec["id"])
    assert res["status"] == "failed"
    assert "does not match" in res["reason"]
    missing = call_spec(hashlib.sha256(b"never uploaded").hexdigest())
    submit(c, missing, b"x")
    assert "not found" in wait_result(c, missing["id"])["reason"]


def test_long_function_keeps_its_lease(env, tmp_path):
    """Runs 3 lease periods: in-progress acks keep it from being redelivered."""
    nats, c = env
    # A 1.5 s lease renewed every 0.5 s: a keeper stalled up to ~1 s by a
    # busy machine still renews in time; the function outlives 3 leases.
    w = cloud.Worker(nats.url, name="w1", slots=1, tmpdir=tmp_path,
                     args=["--lease", "1.5"]).start()
    assert "lease 1500 ms" in w.log()
    cloud.Worker(nats.url, name="w2", slots=1, tmpdir=tmp_path).start()
    loop = upload(nats, cloud.guest("hostile_loop"))
    spec = call_spec(loop, argv=["sleep"], timeout_ms=5000)
    submit(c, spec)
    res = wait_result(c, spec["id"])
    assert res["status"] == "timed_out" and res["attempt"] == 1
    assert json.loads(c.kv_get("sk_calls", spec["id"]))["attempts"] == 1
    assert consumer(c)["num_redelivered"] == 0


def test_sigterm_hands_back_after_grace(env, tmp_path):
    nats, c = env
    w1 = cloud.Worker(nats.url, name="leaver", slots=1, tmpdir=tmp_path,
                      args=["--lease", "2", "--grace", "0.5"]).start()
    loop = upload(nats, cloud.guest("hostile_loop"))
    spec = call_spec(loop, argv=["sleep"], timeout_ms=4000)
    submit(c, spec)
    cloud.wait_for(lambda: (json.loads(c.kv_get("sk_calls", spec["id"]) or b"{}")
                            .get("status") == "running"), 20, what="running")
    assert w1.term() == 0
    assert "handed back" in w1.log()
    w2 = cloud.Worker(nats.url, name="taker", slots=1, tmpdir=tmp_path).start()
    res = wait_result(c, spec["id"])
    w2id = w2.log().split("worker ", 1)[1].split()[0]
    assert res["worker"] == w2id and res["attempt"] == 2
    rec = json.loads(c.kv_get("sk_calls", spec["id"]))
    assert rec["attempts"] == 2 and len(rec["workers"]) == 2


def test_attempt_limit_ends_poison_work(env, tmp_path):
    """The worker running it vanishes each time: failed after the limit."""
    nats, c = env
    loop = upload(nats, cloud.guest("hostile_loop"))
    spec = None
    for i in range(2):
        w = cloud.Worker(nats.url, name=f"victim{i}", slots=1, tmpdir=tmp_path,
                         args=["--lease", "1.5", "--max-attempts", "2"]).start()
        if spec is None:
            spec = call_spec(loop, argv=["spin"], timeout_ms=20000)
            submit(c, spec)
        cloud.wait_for(lambda: (json.loads(c.kv_get("sk_calls", spec["id"]) or b"{}")
                                .get("attempts", 0) == i + 1), 20, what=f"attempt {i + 1}")
        w.kill()
        # Its monitor went with it (PR_SET_PDEATHSIG), not on to its timeout.
        cloud.wait_for(lambda: not procs_with(w.cache), 10, what="orphan monitor gone")
    cloud.Worker(nats.url, name="judge", slots=1, tmpdir=tmp_path).start()
    res = wait_result(c, spec["id"])
    assert res["status"] == "failed", (res, [p.log() for p in cloud._procs])
    assert "gave up after 2 attempts" in res["reason"]


def test_unreachable_nats(tmp_path, cloud_procs):
    port = cloud.free_port()
    w = cloud.Worker(f"nats://127.0.0.1:{port}", name="lonely", tmpdir=tmp_path)
    w.start(wait_ready=False)
    cloud.wait_for(lambda: "cannot reach" in w.log(), 10, what="the error line")
    time.sleep(1.0)
    assert w.running(), "must keep retrying"
    assert w.term() == 0
    r = cloud.sukima("worker", "--nats", f"nats://127.0.0.1:{port}",
                     "--connect-timeout", "0.3", "--cache", str(tmp_path / "c"))
    assert r.returncode == 1
    assert r.stderr.decode().strip().splitlines()[-1].startswith("sukima worker: cannot connect")


def test_bad_options(tmp_path):
    for args in (["--slots", "0"], ["--mem", "lots"], ["--name", "bad name"],
                 ["--lease", "x"], []):
        r = cloud.sukima("worker", *args, env={"SUKIMA_NATS": ""})
        assert r.returncode == 2, args
        assert r.stderr.count(b"\n") >= 1


def test_argv0_names_the_program(env, tmp_path):
    """busybox dispatches on argv[0]: the worker runs it under that name."""
    nats, c = env
    busybox = "/bin/busybox"
    if not os.path.exists(busybox):
        pytest.skip("no busybox-static")
    cloud.Worker(nats.url, name="w1", slots=1, tmpdir=tmp_path).start()
    digest = upload(nats, busybox)
    spec = call_spec(digest, argv=["sha256sum"])
    spec["argv0"] = "busybox"
    submit(c, spec, b"abc")
    res = wait_result(c, spec["id"])
    assert res["status"] == "succeeded", res
    assert out(res).split()[0] == hashlib.sha256(b"abc").hexdigest().encode()
    direct = call_spec(digest)
    direct["argv0"] = "sha256sum"
    submit(c, direct, b"abc")
    assert out(wait_result(c, direct["id"])).split()[0] == \
        hashlib.sha256(b"abc").hexdigest().encode()
    evil = call_spec(digest)
    evil["argv0"] = ".."
    c.js_publish("sk.work.x86_64", b"x", {"Sk-Call": json.dumps(evil)})
    cloud.wait_for(lambda: (lambda x: x if x["num_ack_pending"] == 0 else None)(consumer(c)),
                   10, what="terminated")
    assert c.kv_get("sk_results", evil["id"]) is None


def test_warm_limits_and_isolation(env, tmp_path):
    """Warm micro-VMs honour the per-call output limit and timeout, and survive them."""
    nats, c = env
    w = cloud.Worker(nats.url, name="w1", slots=1, tmpdir=tmp_path,
                     args=["--warm", "2"]).start()
    echo = upload(nats, cloud.guest("echo"))
    small = call_spec(echo, max_output=10)
    submit(c, small, b"0123456789abcdef")
    r = wait_result(c, small["id"])
    assert r["status"] == "failed" and r["exit_code"] == 120, r
    assert len(out(r)) <= 10
    ok = call_spec(echo, max_output=100)
    submit(c, ok, b"fine")
    assert out(wait_result(c, ok["id"])) == b"fine"
    assert w.term() == 0
    if cloud.vmm_serves():
        assert re.search(r"2 warm runs on 1 micro-VMs", w.log()), w.log()


def test_nats_restart_worker_reconnects(env, tmp_path):
    """Work accepted before a NATS restart completes after it; the worker rejoins by itself."""
    nats, c = env
    w = cloud.Worker(nats.url, name="w1", slots=1, tmpdir=tmp_path).start()
    echo = upload(nats, cloud.guest("echo"))
    first = call_spec(echo)
    submit(c, first, b"before")
    assert out(wait_result(c, first["id"])) == b"before"
    c.close()
    w.signal(19)  # SIGSTOP: let work queue up while NATS goes away
    try:
        c2 = nats.client()
        queued = call_spec(echo)
        submit(c2, queued, b"queued")
        c2.close()
        nats.restart()
    finally:
        w.signal(18)  # SIGCONT
    c = nats.client()
    try:
        assert out(wait_result(c, queued["id"], timeout=60)) == b"queued"
        after = call_spec(echo)
        submit(c, after, b"after")
        assert out(wait_result(c, after["id"], timeout=60)) == b"after"
        assert w.running()
        assert "reconnected" in w.log()
    finally:
        c.close()


def test_graceful_leave_loses_nothing(env, tmp_path):
    """Calls published while one worker leaves all complete, once each."""
    nats, c = env
    leaver = cloud.Worker(nats.url, name="leaver", slots=2, tmpdir=tmp_path).start()
    stayer = cloud.Worker(nats.url, name="stayer", slots=2, tmpdir=tmp_path).start()
    sha = upload(nats, cloud.guest("sha256"))
    specs = []
    leaver.signal(15)
    for i in range(30):
        s = call_spec(sha)
        specs.append((s["id"], hashlib.sha256(b"%d" % i).hexdigest()))
        submit(c, s, b"%d" % i)
    assert leaver.wait(30) == 0
    for cid, want in specs:
        res = wait_result(c, cid)
        assert res["status"] == "succeeded"
        assert out(res).split()[0].decode() == want
    assert stayer.running()
    ci = consumer(c)
    assert ci["num_pending"] == 0 and ci["num_ack_pending"] == 0


def test_sync_call_cancelled_before_start_gets_no_result(env, tmp_path):
    """The early running-record write of a sync call loses to a cancel: no result, no reply."""
    nats, c = env
    w = cloud.Worker(nats.url, name="w1", slots=1, tmpdir=tmp_path).start()
    echo = upload(nats, cloud.guest("echo"))
    spec = call_spec(echo, reply="sk.reply.gw.late")
    c.kv_put("sk_calls", spec["id"], json.dumps(
        {"id": spec["id"], "function": "fn", "status": "cancelled", "attempts": 0}))
    sid = c.subscribe("sk.result.*")
    submit(c, spec, b"too late")
    cloud.wait_for(lambda: "result dropped" in w.log(), 20, what="the drop")
    assert c.next_msg(0.3, sid) is None
    assert c.kv_get("sk_results", spec["id"]) is None
    assert json.loads(c.kv_get("sk_calls", spec["id"]))["status"] == "cancelled"
    ok = call_spec(echo, reply="sk.reply.gw.ok")
    submit(c, ok, b"fine")
    m = c.next_msg(20, sid)
    assert m is not None and out(json.loads(m.data)) == b"fine"


def test_warm_pool_eviction_and_exit_leave_no_monitor(env, tmp_path):
    """Specs that differ (env) churn a 1-entry pool; every answer is right and no monitor outlives the worker."""
    nats, c = env
    w = cloud.Worker(nats.url, name="w1", slots=1, tmpdir=tmp_path,
                     args=["--warm", "1"]).start()
    upper = upload(nats, cloud.guest("upper"))
    ids = []
    for i in range(12):
        s = call_spec(upper, env={"Http_Query": "v=%d" % (i % 3)})
        ids.append((s["id"], b"abc%d" % i))
        submit(c, s, b"abc%d" % i)
    for cid, body in ids:
        assert out(wait_result(c, cid)) == body.upper()
    if cloud.vmm_serves():
        assert procs_with(w.cache), "a warm monitor should be idle in the pool"
    assert w.term() == 0
    cloud.wait_for(lambda: not procs_with(w.cache), 10, what="monitors gone")


@pytest.mark.parametrize("warm_mem,idle", [(None, 3), ("100M", 1)])
def test_warm_pool_memory_bound(env, tmp_path, warm_mem, idle):
    """--warm-mem bounds the guest memory idle warm micro-VMs hold: three
    64 MiB specs leave three idle monitors without it, one under 100M."""
    if not cloud.vmm_serves():
        pytest.skip("this monitor build has no warm path")
    nats, c = env
    args = ["--warm", "8"] + (["--warm-mem", warm_mem] if warm_mem else [])
    w = cloud.Worker(nats.url, name="wm", slots=1, tmpdir=tmp_path,
                     args=args).start()
    upper = upload(nats, cloud.guest("upper"))
    for i in range(3):
        s = call_spec(upper, env={"Http_Query": "v=%d" % i})
        submit(c, s, b"m%d" % i)
        assert out(wait_result(c, s["id"])) == b"M%d" % i
    monitors = lambda: [p for p in procs_with(w.cache) if p != w.pid]  # noqa: E731
    cloud.wait_for(lambda: len(monitors()) == idle, 10,
                   what="%d idle monitor(s)" % idle)
    time.sleep(0.3)  # and it stays so: nothing else is pending
    assert len(monitors()) == idle, monitors()
    assert w.term() == 0


def test_consumer_deleted_is_recreated(env, tmp_path):
    """An operator deletes the work consumer: the worker sets it up again and goes on."""
    nats, c = env
    w = cloud.Worker(nats.url, name="w1", slots=1, tmpdir=tmp_path).start()
    echo = upload(nats, cloud.guest("echo"))
    r = c.js("CONSUMER.DELETE.SUKIMA_WORK.workers-x86_64")
    assert r.get("success") is True, r
    cloud.wait_for(lambda: "setting up the streams again" in w.log(), 20,
                   what="the worker to notice")
    spec = call_spec(echo)
    submit(c, spec, b"back")
    assert out(wait_result(c, spec["id"], timeout=30)) == b"back"

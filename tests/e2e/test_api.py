"""test_api.py: the HTTP API end to end: nats-server + gateway + two workers running micro-VMs."""
import base64
import hashlib
import json
import os
import threading
import time

import pytest

import cloud
from gwhttp import CallbackSink, call, deploy, wait_status

pytestmark = [
    pytest.mark.skipif(not cloud.have_gateway(), reason="sukima gateway not built"),
    pytest.mark.skipif(not cloud.vmm_runs_guests(),
                       reason="the monitor cannot run guests here (no KVM?)"),
]

BUSYBOX = "/bin/busybox"
G = cloud.guest


class Cloud:
    """nats-server + gateway + workers, stopped by PID at teardown."""

    def __init__(self, tmp, workers=2, slots=2, gw_args=()):
        self.procs = []
        self.tmp = str(tmp)
        self.nats = self._add(cloud.Nats(os.path.join(self.tmp, "nats")).start())
        self.gw = self._add(cloud.Gateway(self.nats.url, tmpdir=self.tmp,
                                          args=list(gw_args)).start())
        self.workers = [self.add_worker(f"w{i}", slots) for i in range(workers)]
        if workers:
            cloud.wait_for(lambda: len(call(self.url, "GET", "/system/nodes").json())
                           == workers, 15, what="workers in /system/nodes")

    def _add(self, p):
        self.procs.append(p)
        return p

    def add_worker(self, name, slots=2):
        return self._add(cloud.Worker(self.nats.url, name=name, slots=slots,
                                      tmpdir=self.tmp).start())

    @property
    def url(self):
        return self.gw.url

    def stop(self):
        for p in reversed(self.procs):
            p.stop()


@pytest.fixture(scope="module")
def c(tmp_path_factory):
    # A generous start wait: 500 queued calls on a busy 2-core machine must
    # not be mistaken for "no worker"; that case has its own test below.
    cl = Cloud(tmp_path_factory.mktemp("api"), gw_args=["--start-wait", "60000"])
    try:
        deploy(cl.url, "sha", BUSYBOX, argv0="busybox", argv=["sha256sum"])
        deploy(cl.url, "echo", G("echo"))
        deploy(cl.url, "upper", G("upper"))
        deploy(cl.url, "args", G("args"), env={"FOO": "bar"}, argv=["one"])
        deploy(cl.url, "fail", BUSYBOX, argv0="busybox",
               argv=["cat", "/nonexistent"])
        deploy(cl.url, "spin", G("hostile_loop"), timeout_ms=1000)
        yield cl
    finally:
        cl.stop()


def test_busybox_sha256sum(c):
    for data in (b"", b"hello", os.urandom(100000)):
        r = call(c.url, "POST", "/function/sha", data)
        assert r.status == 200, r
        assert r.body == hashlib.sha256(data).hexdigest().encode() + b"  -\n"
        assert len(r.headers["x-call-id"]) == 26
        assert float(r.headers["x-duration-seconds"]) >= 0


def test_guest_outputs(c):
    allbytes = bytes(range(256)) * 64
    r = call(c.url, "POST", "/function/echo", allbytes)
    assert r.status == 200 and r.body == allbytes
    r = call(c.url, "POST", "/function/upper", b"Hello, Sukima!")
    assert r.status == 200 and r.body == b"HELLO, SUKIMA!"
    r = call(c.url, "GET", "/function/echo")
    assert r.status == 200 and r.body == b""
    # The caller's content type comes back, as with the classic watchdog.
    r = call(c.url, "POST", "/function/echo", b"{}",
             {"Content-Type": "application/json"})
    assert r.headers["content-type"] == "application/json"


def test_watchdog_env(c):
    r = call(c.url, "PUT", "/function/args/sub/path?a=1&b=two%20x", b"12345",
             {"Content-Type": "text/plain", "X-Custom-thing": "v1",
              "X_Skip": "no"})
    assert r.status == 200, r
    env = {}
    for line in r.body.decode().splitlines():
        if line.startswith("env "):
            k, _, v = line[4:].partition("=")
            env[k] = v
    assert env["FOO"] == "bar"
    assert env["Http_Method"] == "PUT"
    assert env["Http_Path"] == "/sub/path"
    assert env["Http_Query"] == "a=1&b=two%20x"
    assert env["Http_Content_Type"] == "text/plain"
    assert env["Http_X_Custom_Thing"] == "v1"
    assert env["Http_Content_Length"] == "5"
    assert env["Http_ContentLength"] == "5"
    assert env["Http_Host"] == f"127.0.0.1:{c.gw.port}"
    assert not any(k.startswith("Http_X_Skip") for k in env)
    assert "argv[1] one" in r.body.decode()
    r = call(c.url, "GET", "/function/args")
    assert "env Http_Path=/\n" in r.body.decode()
    assert "Http_Query" not in r.body.decode()


def test_async_status_and_raw(c):
    r = call(c.url, "POST", "/async-function/upper", b"async me")
    assert r.status == 202
    cid = r.headers["x-call-id"]
    rec = wait_status(c.url, cid)
    assert rec["status"] == "succeeded", rec
    assert rec["function"] == "upper" and rec["attempts"] >= 1
    assert rec["worker"] and rec["exit_code"] == 0
    assert base64.b64decode(rec["output_b64"]) == b"ASYNC ME"
    assert rec["started_at_us"] >= rec["queued_at_us"] > 0
    assert rec["ended_at_us"] >= rec["started_at_us"]
    r = call(c.url, "GET", f"/system/invocations/{cid}?raw=1")
    assert r.status == 200 and r.body == b"ASYNC ME"
    # A finished call cannot be cancelled.
    assert call(c.url, "DELETE", f"/system/invocations/{cid}").status == 409


def test_final_status_comes_with_its_output(c):
    """A status that says the call ended never comes without its result:
    the gateway read the result, then the record, and answered the
    record's "succeeded" alone when the worker committed the result and
    ended the record between the two reads (test_two_gateways_share_one_nats
    once, CI).  60 async calls, each polled by its own thread as it ends:
    5 of 10 runs failed before the fix (two busy loops beside), 0 of 10
    after."""
    bad = []
    for rnd in range(6):
        ids = []
        for i in range(10):
            r = call(c.url, "POST", "/async-function/upper", f"r{rnd}c{i}".encode())
            assert r.status == 202, r
            ids.append(r.headers["x-call-id"])

        def poll(i, cid):
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                r = call(c.url, "GET", f"/system/invocations/{cid}")
                if r.status == 200 and r.json().get("status") in (
                        "succeeded", "failed", "timed_out", "cancelled"):
                    j = r.json()
                    if base64.b64decode(j.get("output_b64", "")) != f"R{rnd}C{i}".encode():
                        bad.append(j)
                    return
            bad.append({"id": cid, "status": "not final within 60 s"})
        threads = [threading.Thread(target=poll, args=(i, cid))
                   for i, cid in enumerate(ids)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert not bad, bad[:3]


def test_sync_call_has_a_record(c):
    r = call(c.url, "POST", "/function/upper", b"abc")
    rec = wait_status(c.url, r.headers["x-call-id"])
    assert rec["status"] == "succeeded"
    assert base64.b64decode(rec["output_b64"]) == b"ABC"


def test_function_error_is_502(c):
    r = call(c.url, "POST", "/function/fail", b"x")
    assert r.status == 502, r
    j = r.json()
    assert j["exit_code"] == 1
    assert "can't open '/nonexistent'" in j["stderr"]
    assert r.headers["x-call-id"]
    rec = wait_status(c.url, r.headers["x-call-id"])
    assert rec["status"] == "failed"


def test_timeout_is_504(c):
    t0 = time.monotonic()
    r = call(c.url, "POST", "/function/spin", b"", timeout=60)
    assert r.status == 504, r
    assert "timed out" in r.json()["error"]
    assert time.monotonic() - t0 < 30
    assert wait_status(c.url, r.headers["x-call-id"])["status"] == "timed_out"


def test_callbacks(c):
    sink = CallbackSink(fail_first=1)
    try:
        ids = {}
        for body in (b"cb one", b"cb two"):
            r = call(c.url, "POST", "/async-function/upper", body,
                     {"X-Callback-Url": sink.url})
            assert r.status == 202
            ids[r.headers["x-call-id"]] = body.upper()
        r = call(c.url, "POST", "/async-function/fail", b"",
                 {"X-Callback-Url": sink.url})
        fail_id = r.headers["x-call-id"]
        got = sink.wait(3, timeout=60)
        by_id = {h["x-call-id"]: (h, b) for h, b in got}
        assert set(by_id) == set(ids) | {fail_id}
        for cid, want in ids.items():
            h, b = by_id[cid]
            assert b == want
            assert h["x-function-status"] == "200"
            assert h["x-function-name"] == "upper"
        h, b = by_id[fail_id]
        assert h["x-function-status"] == "502"
        assert b"can't open" in b
        # Exactly once each (the first attempt that got a 500 was retried).
        time.sleep(1.5)
        assert len(sink.got) == 3
    finally:
        sink.close()


def test_redeploy_during_load(c):
    deploy(c.url, "flip", G("upper"))
    stop = threading.Event()
    seen, errors = set(), []

    def load():
        i = 0
        while not stop.is_set():
            i += 1
            body = f"msg-{threading.get_ident()}-{i}".encode()
            r = call(c.url, "POST", "/function/flip", body)
            if r.status != 200 or r.body not in (body, body.upper()):
                errors.append(r)
            else:
                seen.add("upper" if r.body == body.upper() else "echo")

    ts = [threading.Thread(target=load) for _ in range(8)]
    for t in ts:
        t.start()
    try:
        time.sleep(1.0)
        f = deploy(c.url, "flip", G("echo"))
        assert f["version"] == 2
        time.sleep(1.5)
    finally:
        stop.set()
        for t in ts:
            t.join(60)
    assert not errors, errors[:3]
    assert seen == {"upper", "echo"}
    r = call(c.url, "POST", "/function/flip", b"after")
    assert r.body == b"after"


def test_500_concurrent_sync(c):
    n = 500
    res = [None] * n

    def one(i):
        body = f"concurrent {i} " .encode() * (1 + i % 7)
        try:
            r = call(c.url, "POST", "/function/upper", body, timeout=120)
            res[i] = (r.status, r.body == body.upper())
        except OSError as e:
            res[i] = ("error", repr(e))

    ts = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(180)
    bad = [(i, r) for i, r in enumerate(res) if r != (200, True)]
    assert not bad, bad[:5]
    assert call(c.url, "GET", "/healthz").status == 200


def test_nodes(c):
    nodes = call(c.url, "GET", "/system/nodes").json()
    assert sorted(n["name"] for n in nodes) == ["w0", "w1"]
    for n in nodes:
        assert n["arch"] == "x86_64" and n["slots"] == 2
    info = call(c.url, "GET", "/system/info").json()
    assert info["live_workers"] == 2


def test_no_start_within_wait_is_503(tmp_path):
    """One busy slot: a second call cannot start within --start-wait."""
    cl = Cloud(tmp_path, workers=1, slots=1, gw_args=["--start-wait", "1500"])
    try:
        deploy(cl.url, "spin", G("hostile_loop"), timeout_ms=6000)
        deploy(cl.url, "upper", G("upper"))
        out = {}
        t = threading.Thread(target=lambda: out.setdefault(
            "spin", call(cl.url, "POST", "/function/spin", b"", timeout=60)))
        t.start()
        cloud.wait_for(lambda: any(n["busy"] for n in
                                   call(cl.url, "GET", "/system/nodes").json()),
                       15, what="the slot to be busy")
        r = call(cl.url, "POST", "/function/upper", b"late", timeout=60)
        assert r.status == 503, r
        assert "no worker started" in r.json()["error"], r
        cid = r.headers["x-call-id"]
        t.join(60)
        assert out["spin"].status == 504
        # The cancelled call never runs, even once the slot is free.
        time.sleep(2)
        rec = call(cl.url, "GET", f"/system/invocations/{cid}").json()
        assert rec["status"] == "cancelled", (rec, cl.workers[0].log()[-3000:])
        assert call(cl.url, "POST", "/function/upper", b"now").body == b"NOW"
    finally:
        cl.stop()


def test_gateway_restart_keeps_queued_async(tmp_path):
    """Async calls queued with no worker survive a gateway restart."""
    cl = Cloud(tmp_path, workers=0)
    sink = CallbackSink()
    try:
        deploy(cl.url, "upper", G("upper"))
        want = {}
        for i in range(20):
            body = f"queued {i}".encode()
            r = call(cl.url, "POST", "/async-function/upper", body,
                     {"X-Callback-Url": sink.url})
            assert r.status == 202
            want[r.headers["x-call-id"]] = body.upper()
        cl.gw.kill()
        cl.gw = cl._add(cloud.Gateway(cl.nats.url, tmpdir=cl.tmp,
                                      port=cl.gw.port).start())
        for cid in want:
            assert call(cl.url, "GET", f"/system/invocations/{cid}").json()["status"] == "queued"
        cl.add_worker("late", slots=2)
        for cid, out in want.items():
            rec = wait_status(cl.url, cid)
            assert rec["status"] == "succeeded"
            assert base64.b64decode(rec["output_b64"]) == out
        got = sink.wait(20, timeout=60)
        assert {h["x-call-id"]: b for h, b in got} == want
    finally:
        sink.close()
        cl.stop()


def test_large_artifact(c, tmp_path):
    """A 64 MiB ELF: uploaded, stored in chunks, fetched and verified by a worker."""
    big = tmp_path / "big-upper"
    with open(G("upper"), "rb") as src, open(big, "wb") as dst:
        dst.write(src.read())
        # Trailing bytes outside every segment: still the same program.
        dst.write(os.urandom(1 << 20) * 64)
    f = deploy(c.url, "big", str(big))
    assert f["size"] == os.path.getsize(big) > 64 << 20
    r = call(c.url, "POST", "/function/big", b"large", timeout=120)
    assert r.status == 200 and r.body == b"LARGE"


def test_two_gateways_share_one_nats(c, tmp_path):
    """Stateless gateways: any of them serves what another accepted."""
    g2 = c._add(cloud.Gateway(c.nats.url, tmpdir=str(tmp_path)).start())
    try:
        deploy(g2.url, "up2", G("upper"))
        r = call(c.url, "POST", "/function/up2", b"via one")
        assert r.status == 200 and r.body == b"VIA ONE"
        sink = CallbackSink()
        try:
            ids = []
            for i in range(10):
                base = (c.url, g2.url)[i % 2]
                r = call(base, "POST", "/async-function/up2", f"n{i}".encode(),
                         {"X-Callback-Url": sink.url})
                assert r.status == 202
                ids.append(r.headers["x-call-id"])
            for i, cid in enumerate(ids):
                rec = wait_status((g2.url, c.url)[i % 2], cid)
                assert base64.b64decode(rec["output_b64"]) == f"N{i}".encode()
            got = sink.wait(10, timeout=60)
            time.sleep(1.5)
            # Both gateways pull the one durable consumer: each callback once.
            assert sorted(h["x-call-id"] for h, _ in sink.got) == sorted(ids)
            assert len(got) == 10
        finally:
            sink.close()
        assert call(g2.url, "DELETE", "/system/function/up2").status == 204
        # The other gateway's cache forgets within its 1 s TTL.
        cloud.wait_for(lambda: call(c.url, "POST", "/function/up2", b"").status == 404,
                       5, what="the removal to show on the other gateway")
    finally:
        g2.stop()


def test_results_are_republished_to_the_gateway(c):
    """A sync answer comes from sk_results itself: the worker sends no reply."""
    with c.nats.client() as n:
        cfg = n.js("STREAM.INFO.KV_sk_results")["config"]
        assert cfg["republish"] == {"src": "$KV.sk_results.*",
                                    "dest": "sk.result.{{wildcard(1)}}"}, cfg
        n.subscribe("sk.reply.>")
        n.subscribe("sk.result.*")
        n.request("$JS.API.INFO", b"")  # the subscriptions are in place
        r = call(c.url, "POST", "/function/echo", b"republished")
        assert r.status == 200 and r.body == b"republished", r
        cid = r.headers["x-call-id"]
        seen = []
        while (m := n.next_msg(timeout=1.0)) is not None:
            seen.append(m)
    got = [m for m in seen if m.subject == "sk.result." + cid]
    assert len(got) == 1, [m.subject for m in seen]
    assert base64.b64decode(json.loads(got[0].data)["output_b64"]) == b"republished"
    # On sk.reply only the PubAck of the work message: no worker reply.
    mine = [m.subject for m in seen if cid in m.subject and m.subject.startswith("sk.reply.")]
    assert len(mine) == 1 and mine[0].endswith(".ack"), mine


def test_results_bucket_from_before_republishing(tmp_path):
    """sk_results made without RePublish (an older version; nats-server 2.9
    cannot add it later): the workers answer sync calls themselves."""
    nats = cloud.Nats(tmp_path / "nats").start()
    procs = [nats]
    try:
        with nats.client() as n:
            r = n.js("STREAM.CREATE.KV_sk_results", {
                "name": "KV_sk_results", "subjects": ["$KV.sk_results.>"],
                "max_msgs_per_subject": 1, "discard": "new",
                "allow_direct": True, "allow_rollup_hdrs": True,
                "deny_delete": True, "storage": "file", "num_replicas": 1})
            assert "error" not in r, r
        gw = cloud.Gateway(nats.url, tmpdir=str(tmp_path)).start()
        procs.append(gw)
        procs.append(cloud.Worker(nats.url, name="old", slots=1,
                                  tmpdir=str(tmp_path)).start())
        deploy(gw.url, "upper", G("upper"))
        for i in range(3):
            r = call(gw.url, "POST", "/function/upper", f"old bucket {i}".encode())
            assert r.status == 200 and r.body == f"OLD BUCKET {i}".encode(), r
        assert "predates result republishing" in gw.log()
        with nats.client() as n:
            cfg = n.js("STREAM.INFO.KV_sk_results")["config"]
        assert "republish" not in cfg and cfg["discard_new_per_subject"], cfg
    finally:
        for p in reversed(procs):
            p.stop()

"""test_integrity.py: code integrity (tampered artifacts, Ed25519-signed code) and result integrity (replicas vote) end to end.

A real nats-server, gateway and workers on loopback.  Tampering is done the
way an attacker with NATS write access would do it: bytes published straight
into the object store's subjects, a function entry written straight into
sk_functions, never through the gateway's checks.
"""
import base64
import hashlib
import json
import os
import uuid

import pytest

import cloud
from gwhttp import call, deploy, upload, wait_status
from natsproto import Client, NatsError

pytestmark = [
    pytest.mark.skipif(not cloud.have_gateway(), reason="no gateway"),
    pytest.mark.skipif(not cloud.vmm_runs_guests(),
                       reason="the monitor cannot run guests here"),
]

FINAL = ("succeeded", "failed", "timed_out", "cancelled", "disputed")


@pytest.fixture
def env(tmp_path, cloud_procs):
    nats = cloud.Nats(tmp_path / "nats").start()
    gw = cloud.Gateway(nats.url, tmpdir=tmp_path).start()
    c = Client(nats.url)
    try:
        yield nats, gw, c
    finally:
        c.close()


def worker(nats, tmp_path, name, args=(), env=None):
    return cloud.Worker(nats.url, name=name, slots=1, tmpdir=tmp_path,
                        args=list(args), env=env).start()


def invoke(gw, name, body=b"abc"):
    return call(gw.url, "POST", f"/function/{name}", body,
                {"Content-Type": "text/plain"}, timeout=60)


def record(gw, cid):
    return wait_status(gw.url, cid, final=FINAL)


# --- code integrity: the artifact's bytes --------------------------------


def obj_put_raw(c, digest, data, claimed_sha256):
    """Publish (data) as object (digest) in sk_artifacts (ADR-20 layout),
    its metadata claiming (claimed_sha256): what a NATS-level attacker can
    do without any help from our code."""
    nuid = uuid.uuid4().hex[:22]
    c.js_publish(f"$O.sk_artifacts.C.{nuid}", data)
    meta = {"name": digest, "bucket": "sk_artifacts", "nuid": nuid,
            "size": len(data), "chunks": 1,
            "mtime": "2026-01-01T00:00:00Z",
            "digest": "SHA-256=" + base64.urlsafe_b64encode(
                claimed_sha256).decode(),
            "options": {"max_chunk_size": 131072}}
    subj = "$O.sk_artifacts.M." + base64.urlsafe_b64encode(
        digest.encode()).decode()
    c.js_publish(subj, json.dumps(meta).encode(), {"Nats-Rollup": "sub"})


@pytest.mark.parametrize("how", ["consistent", "lying-metadata"])
def test_tampered_artifact_refused(env, tmp_path, how):
    """Different bytes under the registered digest's name: the worker refuses
    before running them and the invocation fails with that reason."""
    nats, gw, c = env
    f = deploy(gw.url, "up", cloud.guest("upper"))
    evil = open(cloud.guest("echo"), "rb").read()  # would answer "abc"
    if how == "consistent":
        # Metadata honest about the new bytes: only the name check catches it.
        obj_put_raw(c, f["digest"], evil, hashlib.sha256(evil).digest())
    else:
        # Metadata repeats the registered digest: the chunk hash catches it.
        obj_put_raw(c, f["digest"], evil, bytes.fromhex(f["digest"]))
    w = worker(nats, tmp_path, "fresh")  # empty cache: must fetch
    r = invoke(gw, "up")
    assert r.status == 502, r
    err = r.json()["error"]
    assert "does not match its digest: refused" in err, err
    assert b"abc" not in r.body
    rec = record(gw, r.headers["x-call-id"])
    assert rec["status"] == "failed"
    assert "does not match its digest" in rec["reason"]
    assert not rec.get("output_b64")
    assert "refused" in w.log()
    # The tampered file is not left in the cache for a later call.
    assert not os.path.exists(os.path.join(w.cache, f["digest"]))


def test_untampered_artifact_runs(env, tmp_path):
    """Control for the test above: the same steps without tampering."""
    nats, gw, c = env
    deploy(gw.url, "up", cloud.guest("upper"))
    worker(nats, tmp_path, "fresh")
    r = invoke(gw, "up")
    assert r.status == 200 and r.body == b"ABC", r


# --- code integrity: signatures ----------------------------------------------


def keygen(tmp_path, name):
    prefix = tmp_path / name
    r = cloud.sukima("keygen", prefix)
    assert r.returncode == 0, r.stderr
    assert oct(os.stat(f"{prefix}.key").st_mode & 0o777) == "0o600"
    return f"{prefix}.key", f"{prefix}.pub"


def cli_deploy(gw, name, elf, *args):
    r = cloud.sukima("deploy", name, elf, "--gateway", gw.url, "--json",
                     *args)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def test_keygen_refuses_overwrite(tmp_path):
    keygen(tmp_path, "k")
    r = cloud.sukima("keygen", tmp_path / "k")
    assert r.returncode == 1 and b"not overwritten" in r.stderr


def test_signed_only_worker(env, tmp_path):
    nats, gw, c = env
    k1, p1 = keygen(tmp_path, "k1")
    k2, _ = keygen(tmp_path, "k2")
    up = cloud.guest("upper")
    f = cli_deploy(gw, "signed", up, "--sign", k1)
    assert len(f["sig"]) == 128 and len(f["signer"]) == 64
    cli_deploy(gw, "plain", up)
    cli_deploy(gw, "otherkey", up, "--sign", k2)
    # A signature of "signed" pasted onto another name, written straight
    # into the registry (the gateway would refuse it, see below).
    forged = dict(f, name="forged")
    c.kv_put("sk_functions", "forged", json.dumps(forged))
    keys = tmp_path / "trusted"
    keys.mkdir()
    (keys / "k1.pub").write_bytes(open(p1, "rb").read())
    w = worker(nats, tmp_path, "strict", ["--trusted-keys", str(keys)])
    assert "signed code only: 1 trusted key" in w.log()

    r = invoke(gw, "signed")
    assert r.status == 200 and r.body == b"ABC", r
    for name, why in (("plain", "unsigned"),
                      ("otherkey", "does not trust"),
                      ("forged", "does not verify")):
        r = invoke(gw, name)
        assert r.status == 502, (name, r)
        assert why in r.json()["error"], (name, r.json())
        assert b"ABC" not in r.body
        rec = record(gw, r.headers["x-call-id"])
        assert rec["status"] == "failed" and why in rec["reason"], rec


def test_worker_without_keys_runs_unsigned(env, tmp_path):
    """Signing is optional: a worker without --trusted-keys runs both."""
    nats, gw, c = env
    k1, _ = keygen(tmp_path, "k1")
    cli_deploy(gw, "plain", cloud.guest("upper"))
    cli_deploy(gw, "signed", cloud.guest("upper"), "--sign", k1)
    worker(nats, tmp_path, "lax")
    for name in ("plain", "signed"):
        r = invoke(gw, name)
        assert r.status == 200 and r.body == b"ABC", r


def test_gateway_refuses_bad_signature(env, tmp_path):
    nats, gw, c = env
    k1, _ = keygen(tmp_path, "k1")
    f = cli_deploy(gw, "signed", cloud.guest("upper"), "--sign", k1)
    spec = {"name": "stolen", "digest": f["digest"], "sig": f["sig"],
            "signer": f["signer"]}
    r = call(gw.url, "POST", "/system/functions", json.dumps(spec),
             {"Content-Type": "application/json"})
    assert r.status == 400 and "does not verify" in r.json()["error"], r
    spec = {"name": "bad", "digest": f["digest"], "sig": "zz"}
    r = call(gw.url, "POST", "/system/functions", json.dumps(spec),
             {"Content-Type": "application/json"})
    assert r.status == 400 and "sig must be" in r.json()["error"], r


def test_worker_refuses_bad_key_file(tmp_path):
    bad = tmp_path / "bad.pub"
    bad.write_text("not a key\n")
    r = cloud.sukima("worker", "--nats", "nats://127.0.0.1:1",
                     "--trusted-keys", bad)
    assert r.returncode == 2 and b"bad.pub:1" in r.stderr, r.stderr
    empty = tmp_path / "empty"
    empty.mkdir()
    r = cloud.sukima("worker", "--nats", "nats://127.0.0.1:1",
                     "--trusted-keys", empty)
    assert r.returncode == 2 and b"no public keys" in r.stderr, r.stderr


# --- result integrity: replicas vote ------------------------------------------

LIE_BUILD = os.path.join(cloud.BUILD, "test-lie", "sukima")
FORGED = b"forged by a --test-lie worker\n"


def liar(nats, tmp_path, name):
    """A worker from the test-only binary that forges every output."""
    if not os.path.exists(LIE_BUILD):
        pytest.skip("build/test-lie/sukima not built")
    keep = cloud.SUKIMA
    cloud.SUKIMA = LIE_BUILD  # Worker.start() reads it at spawn time
    try:
        w = worker(nats, tmp_path, name, ["--test-lie"])
    finally:
        cloud.SUKIMA = keep
    assert "every output of this worker is forged" in w.log()
    return w


def votes(c, cid):
    """Every vote stored for call cid (sk_results <cid>.<worker id>)."""
    si = c.js("STREAM.INFO.KV_sk_results",
              {"subjects_filter": f"$KV.sk_results.{cid}.*"})
    out = []
    for subj in (si.get("state", {}).get("subjects") or {}):
        v = c.kv_get("sk_results", subj.split(".", 2)[2])
        if v:
            out.append(json.loads(v))
    return out


def test_normal_build_has_no_lie_option():
    r = cloud.sukima("worker", "--test-lie", "--nats", "nats://127.0.0.1:1")
    assert r.returncode == 2 and b"unrecognized option" in r.stderr


def test_replicas_3_outvote_a_liar(env, tmp_path):
    nats, gw, c = env
    f = cli_deploy(gw, "up3", cloud.guest("upper"), "--replicas", "3")
    assert f["replicas"] == 3
    worker(nats, tmp_path, "honest1")
    worker(nats, tmp_path, "honest2")
    liar(nats, tmp_path, "liar")
    seen_lie = False
    for i in range(6):
        r = invoke(gw, "up3", b"abc%d" % i)
        assert r.status == 200 and r.body == b"ABC%d" % i, r
        cid = r.headers["x-call-id"]
        rec = record(gw, cid)
        assert rec["status"] == "succeeded", rec
        assert rec["votes"] == 3
        agree = [v for v in rec["replicas"] if v["agrees"]]
        assert len(agree) >= 2
        assert len({v["worker"] for v in rec["replicas"]}) == len(
            rec["replicas"])
        # The liar's vote, if it got in before or after the decision.
        def all_votes():
            vs = votes(c, cid)
            return vs if len(vs) == 3 else None
        try:
            vs = cloud.wait_for(all_votes, 10, what="three votes")
        except TimeoutError:
            continue  # the call was decided before the liar pulled
        outs = sorted(base64.b64decode(v["output_b64"]) for v in vs)
        assert outs.count(b"ABC%d" % i) == 2, outs
        if FORGED in outs:
            seen_lie = True
            break
    assert seen_lie, "the liar never voted: the test proved nothing"


def test_replicas_2_detect_a_liar(env, tmp_path):
    nats, gw, c = env
    cli_deploy(gw, "up2", cloud.guest("upper"), "--replicas", "2")
    worker(nats, tmp_path, "honest")
    liar(nats, tmp_path, "liar")
    r = invoke(gw, "up2")
    assert r.status == 502, r
    assert "replicas disagree" in r.json()["error"], r.json()
    assert b"ABC" not in r.body and FORGED not in r.body
    rec = record(gw, r.headers["x-call-id"])
    assert rec["status"] == "disputed" and rec["votes"] == 2, rec
    outs = sorted(base64.b64decode(v["output_b64"]) for v in rec["replicas"])
    assert outs == sorted([b"ABC", FORGED]), outs
    assert len({v["worker"] for v in rec["replicas"]}) == 2
    # Async calls end the same way, in the invocation record too.
    r = call(gw.url, "POST", "/async-function/up2", b"xyz")
    assert r.status == 202, r
    rec = record(gw, r.json()["id"])
    assert rec["status"] == "disputed", rec


def test_replicas_2_honest_agree(env, tmp_path):
    """Control for the test above: two honest workers agree."""
    nats, gw, c = env
    cli_deploy(gw, "up2", cloud.guest("upper"), "--replicas", "2")
    worker(nats, tmp_path, "honest1")
    worker(nats, tmp_path, "honest2")
    r = invoke(gw, "up2")
    assert r.status == 200 and r.body == b"ABC", r
    rec = record(gw, r.headers["x-call-id"])
    assert rec["status"] == "succeeded" and rec["votes"] == 2
    assert [v["agrees"] for v in rec["replicas"]] == [True, True]
    assert len({v["worker"] for v in rec["replicas"]}) == 2


def test_replicas_need_distinct_workers(env, tmp_path):
    """One worker cannot vote twice: the call fails, bounded, saying why."""
    nats, gw, c = env
    cli_deploy(gw, "up2", cloud.guest("upper"), "--replicas", "2")
    worker(nats, tmp_path, "alone")
    r = invoke(gw, "up2")
    assert r.status == 502, r
    assert "distinct workers" in r.json()["error"], r.json()
    rec = record(gw, r.headers["x-call-id"])
    assert rec["status"] == "failed" and len(rec["replicas"]) == 1, rec


@pytest.fixture
def secured(tmp_path, cloud_procs):
    """NATS with the logins of `sukima init`; an open gateway (tokens are
    test_auth's subject) that logs in as the gateway role."""
    sec = tmp_path / "secrets"
    r = cloud.sukima("init", "--dir", str(sec), "--workers", "3", timeout=60)
    assert r.returncode == 0, r.stderr
    nats = cloud.Nats(tmp_path / "nats", secrets=sec).start()
    gw = cloud.Gateway(nats.url, tmpdir=tmp_path,
                       args=["--creds", str(sec / "gateway.creds")]).start()
    return nats, gw, sec


def test_replicas_with_worker_credentials(secured, tmp_path):
    """Votes work under the worker role, and the role keeps a worker to its
    own vote: it cannot vote in another worker's name nor read results."""
    nats, gw, sec = secured
    cli_deploy(gw, "up2", cloud.guest("upper"), "--replicas", "2")
    for i in (1, 2):
        worker(nats, tmp_path, f"w{i}",
               ["--creds", str(sec / f"worker-{i}.creds")])
    r = invoke(gw, "up2")
    assert r.status == 200 and r.body == b"ABC", r
    cid = r.headers["x-call-id"]
    rec = record(gw, cid)
    assert rec["status"] == "succeeded" and rec["votes"] == 2, rec
    me = cloud.read_creds(sec, "worker-1")
    other = cloud.read_creds(sec, "worker-2")["id"]
    with Client(nats.url, tls_ca=str(sec / "ca.pem"), user=me["user"],
                password=me["password"]) as c:
        fake = json.dumps({"id": "x", "function": "up2", "worker": other,
                           "status": "succeeded", "exit_code": 0})
        with pytest.raises(NatsError) as e:
            c.js_publish(f"$KV.sk_results.x.{other}", fake.encode())
        assert "Permissions Violation" in str(e.value)
        # Its own vote key is writable; finals are (workers commit them).
        c.js_publish(f"$KV.sk_results.x.{me['id']}",
                     fake.replace(other, me["id"]).encode())
        # Votes are readable (to count them), final results are not.
        def get(key):
            return c.request("$JS.API.DIRECT.GET.KV_sk_results."
                             f"$KV.sk_results.{key}", b"")
        assert json.loads(get(f"{cid}.{me['id']}").data)["id"] == cid
        with pytest.raises(NatsError) as e:
            get(cid)
        assert "Permissions Violation" in str(e.value)


def test_forged_final_result_refused(env, tmp_path):
    """A final result written straight into sk_results (what a stolen
    worker credential can do) without votes behind it is not shown as
    the call's answer; the vote-backed one is (test_replicas_2_honest_agree
    reads its record through the same check)."""
    nats, gw, c = env
    cli_deploy(gw, "up2", cloud.guest("upper"), "--replicas", "2")
    r = call(gw.url, "POST", "/async-function/up2", b"abc")
    assert r.status == 202, r
    cid = r.json()["id"]
    forged = {"id": cid, "function": "up2", "version": 1, "worker": "evil",
              "attempt": 1, "status": "succeeded", "exit_code": 0,
              "reason": "", "output_b64": base64.b64encode(b"EVIL").decode(),
              "stderr": "", "queued_at_us": 1, "started_at_us": 1,
              "ended_at_us": 2}
    c.kv_put("sk_results", cid, json.dumps(forged))
    rec = call(gw.url, "GET", f"/system/invocations/{cid}").json()
    assert rec["status"] == "failed", rec
    assert "refused as forged" in rec["reason"], rec
    assert "output_b64" not in rec
    r = call(gw.url, "GET", f"/system/invocations/{cid}?raw=1")
    assert b"EVIL" not in r.body, r
    # Claiming votes that are not there does not help.
    r = call(gw.url, "POST", "/async-function/up2", b"abc")
    cid = r.json()["id"]
    forged.update(id=cid, votes=2)
    c.kv_put("sk_results", cid, json.dumps(forged))
    rec = call(gw.url, "GET", f"/system/invocations/{cid}").json()
    assert rec["status"] == "failed" and "forged" in rec["reason"], rec


def test_forged_completion_event_not_called_back(env, tmp_path):
    """A forged completion event of a redundant call (a worker credential
    may publish on sk.done.>, so also on sk.done.cb.<id>, the subject of
    events with a callback) is not delivered to its callback; a
    vote-backed one published after it is."""
    from gwhttp import CallbackSink
    nats, gw, c = env
    cli_deploy(gw, "up2", cloud.guest("upper"), "--replicas", "2")
    sink = CallbackSink()
    try:
        hdr = {"X-Callback-Url": sink.url}
        r = call(gw.url, "POST", "/async-function/up2", b"abc", hdr)
        fake = r.json()["id"]
        forged = {"id": fake, "function": "up2", "version": 1,
                  "worker": "evil", "attempt": 1, "status": "succeeded",
                  "exit_code": 0, "reason": "", "stderr": "",
                  "output_b64": base64.b64encode(b"EVIL").decode(),
                  "queued_at_us": 1, "started_at_us": 1, "ended_at_us": 2,
                  "callback": sink.url}
        # Another msg id: the same one would also shadow the honest event
        # (docs/security.md lists that gap).
        c.js_publish(f"sk.done.cb.{fake}", json.dumps(forged).encode(),
                     {"Nats-Msg-Id": fake + "-forged"})
        worker(nats, tmp_path, "honest1")
        worker(nats, tmp_path, "honest2")
        r = call(gw.url, "POST", "/async-function/up2", b"xyz", hdr)
        real = r.json()["id"]
        # The first call's replicas run too (only its event was forged):
        # its honest answer comes, and the real call's; never EVIL.
        got = sink.wait(2)
        bodies = sorted((h["x-call-id"], b) for h, b in got)
        assert bodies == sorted([(fake, b"ABC"), (real, b"XYZ")]), bodies
    finally:
        sink.close()


HOOKS_BUILD = os.path.join(cloud.BUILD, "test-hooks", "sukima")


def test_lost_announce_completed_under_roles(secured, tmp_path):
    """A worker that dies between committing a result and announcing it
    (test-hooks build), under the worker role: the worker that takes the
    call over may not read the result, yet the sync caller gets it and the
    callback is delivered (the gateway reads the result itself)."""
    import threading
    from gwhttp import CallbackSink
    if not os.path.exists(HOOKS_BUILD):
        pytest.skip("build/test-hooks/sukima not built")
    nats, gw, sec = secured
    cli_deploy(gw, "up1", cloud.guest("upper"), "--timeout", "10s")

    def dying(i):
        keep = cloud.SUKIMA
        cloud.SUKIMA = HOOKS_BUILD  # Worker.start() reads it at spawn time
        try:
            return worker(nats, tmp_path, f"dies{i}",
                          ["--creds", str(sec / f"worker-{i}.creds")],
                          env={"SUKIMA_TEST_DIE_COMMITTED_FN": "up1"})
        finally:
            cloud.SUKIMA = keep

    def died(w):
        cloud.wait_for(lambda: not w.running(), 30, interval=0.1,
                       what="the hooked worker to die")
        assert "dies after the commit" in w.log(), w.log()[-800:]

    sink = CallbackSink()
    try:
        # An async call with a callback: committed, never announced.
        w1 = dying(1)
        r = call(gw.url, "POST", "/async-function/up1", b"cb",
                 {"X-Callback-Url": sink.url})
        assert r.status == 202, r
        acid = r.json()["id"]
        died(w1)
        # A sync call: the same.
        w2 = dying(2)
        got = {}
        t = threading.Thread(target=lambda: got.update(r=invoke(gw, "up1", b"sync")))
        t.start()
        died(w2)
        # An honest worker takes both over once their leases end.
        worker(nats, tmp_path, "takes-over",
               ["--creds", str(sec / "worker-3.creds")])
        t.join(90)
        assert not t.is_alive()
        r = got["r"]
        assert r.status == 200 and r.body == b"SYNC", r
        cb = sink.wait(1)
        assert [(h["x-call-id"], b) for h, b in cb] == [(acid, b"CB")], cb
        assert record(gw, acid)["status"] == "succeeded"
    finally:
        sink.close()

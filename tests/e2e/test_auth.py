"""test_auth.py: issue 8: NATS roles refuse what a worker credential must not do; gateway tokens."""
import base64
import hashlib
import json
import os
import socket

import pytest

import cloud
from gwhttp import call
from natsproto import Client, NatsError


@pytest.fixture
def secure(tmp_path, cloud_procs):
    """`sukima init` secrets, a nats-server using them, a gateway and one
    worker logging in with their own credentials, the admin token stored."""
    if not cloud.have_gateway():
        pytest.skip("no gateway in this build")
    sec = tmp_path / "secrets"
    r = cloud.sukima("init", "--dir", str(sec), "--workers", "3", timeout=60)
    assert r.returncode == 0, r.stderr
    nats = cloud.Nats(tmp_path / "nats", secrets=sec).start()
    gw = cloud.Gateway(nats.url, args=["--creds", str(sec / "gateway.creds")],
                       secure=True).start()
    r = cloud.sukima("token", "import", str(sec / "admin.token"), "--nats", nats.url,
                     "--name", "admin", env={"SUKIMA_NATS_CREDS": str(sec / "admin.creds")})
    assert r.returncode == 0, r.stderr
    admin = (sec / "admin.token").read_text().strip()
    return {"sec": sec, "nats": nats, "gw": gw, "admin": admin}


def bearer(tok):
    return {"Authorization": "Bearer " + tok}


def new_token(s, *scopes, **extra):
    body = {"scopes": list(scopes), **extra}
    r = call(s["gw"].url, "POST", "/system/tokens", json.dumps(body), bearer(s["admin"]))
    assert r.status == 201, r
    j = r.json()
    assert "hash" not in j and j["token"].startswith("skt_" + j["id"] + "_")
    return j


def deploy(s, name, elf):
    with open(elf, "rb") as f:
        data = f.read()
    h = bearer(s["admin"])
    r = call(s["gw"].url, "POST", "/system/artifacts", data,
             {**h, "Content-Type": "application/octet-stream"})
    assert r.status in (200, 201), r
    r = call(s["gw"].url, "POST", "/system/functions",
             json.dumps({"name": name, "digest": hashlib.sha256(data).hexdigest()}), h)
    assert r.status in (200, 201), r


def refused(fn):
    """fn() must fail with a NATS permissions violation."""
    with pytest.raises(NatsError) as e:
        fn()
    assert "Permissions Violation" in str(e.value), str(e.value)


def test_worker_credential_is_confined(secure):
    s = secure
    creds = cloud.read_creds(s["sec"], "worker-1")
    other = cloud.read_creds(s["sec"], "worker-2")["id"]
    w = cloud.Worker(s["nats"].url, args=["--creds", str(s["sec"] / "worker-1.creds")]).start()
    # The worker's membership entry is its credential's id, and it works.
    with s["nats"].client("admin") as c:
        assert json.loads(c.kv_get("sk_workers", creds["id"]))["name"] == w.wname
    if cloud.vmm_runs_guests():
        deploy(s, "echo", cloud.guest("echo"))
        r = call(s["gw"].url, "POST", "/function/echo", b"through TLS", bearer(s["admin"]))
        assert r.status == 200 and r.body == b"through TLS", r
        call_id = r.headers["x-call-id"]
    else:
        call_id = "0" * 26
    login = s["nats"].login("worker-1")
    # Allowed: read a function, write its own membership key.
    with Client(s["nats"].url, **login) as c:
        c.js("STREAM.INFO.KV_sk_functions")
        c.kv_put("sk_workers", creds["id"], json.dumps({"id": creds["id"]}))
    # Forbidden, each on a fresh connection.
    forbidden = [
        lambda c: c.js_publish("sk.work.x86_64", b"not a real call",
                               {"Nats-Msg-Id": "evil"}),
        lambda c: c.kv_put("sk_functions", "evil", b'{"name":"evil"}'),
        lambda c: c.kv_get("sk_results", call_id),
        lambda c: c.js("STREAM.MSG.GET.KV_sk_results",
                       {"last_by_subj": "$KV.sk_results." + call_id}),
        lambda c: c.kv_put("sk_workers", other, b'{"id":"posing"}'),
        lambda c: c.js("STREAM.CREATE.STEAL", {"name": "STEAL", "subjects": ["sk.reply.>"]}),
        lambda c: c.js("CONSUMER.DURABLE.CREATE.SUKIMA_DONE.peek",
                       {"stream_name": "SUKIMA_DONE",
                        "config": {"durable_name": "peek", "ack_policy": "none"}}),
        lambda c: c.kv_put("sk_tokens", "0123456789abcdef", b"{}"),
        # Only the server republishes committed results to the gateways.
        lambda c: c.publish("sk.result." + call_id, b'{"forged":true}')
        or c.request("$JS.API.INFO", b"", timeout=5),
    ]
    for op in forbidden:
        with Client(s["nats"].url, **login) as c:
            refused(lambda: op(c))
    # A committed result cannot be overwritten, not even by a worker that
    # may write results: sk_results keeps one message per key.
    if cloud.vmm_runs_guests():
        with Client(s["nats"].url, **login) as c:
            with pytest.raises(NatsError) as e:
                c.js_publish("$KV.sk_results." + call_id, b'{"forged":true}')
            assert "maximum messages per subject" in str(e.value)
        with s["nats"].client("admin") as c:
            res = json.loads(c.kv_get("sk_results", call_id))
            assert base64.b64decode(res["output_b64"]) == b"through TLS"
    # Subscriptions to others' results and completion events are refused too.
    for subj in ("sk.done.>", "sk.reply.>", "sk.result.>", "$KV.sk_results.>"):
        with Client(s["nats"].url, **login) as c:
            c.subscribe(subj)
            refused(lambda: c.request("$JS.API.INFO", b"", timeout=5))
    # The result stayed the worker's own: nothing above reached the data.
    with s["nats"].client("admin") as c:
        assert c.kv_get("sk_functions", "evil") is None
        assert c.kv_get("sk_workers", other) is None


def test_worker_cannot_forge_a_sync_answer(secure):
    """A worker credential that knows a waiting sync call's id and reply
    subject (it pulled the call) publishes a forged answer there: the
    gateway ignores it and the caller gets the committed result, which
    only the server republishes (docs/security.md)."""
    import threading
    s = secure
    if not cloud.vmm_runs_guests():
        pytest.skip("the monitor cannot run guests here")
    cloud.Worker(s["nats"].url, args=["--creds", str(s["sec"] / "worker-1.creds")]).start()
    deploy(s, "slow", cloud.guest("slowhash"))
    body = b"3000:the real input"
    got = {}
    t = threading.Thread(target=lambda: got.setdefault("r", call(
        s["gw"].url, "POST", "/function/slow", body, bearer(s["admin"]), timeout=60)))
    t.start()
    try:
        with s["nats"].client("admin") as c:
            def in_flight():
                m = c.js("STREAM.MSG.GET.SUKIMA_WORK", {"last_by_subj": "sk.work.x86_64"})
                return m.get("message")
            m = cloud.wait_for(in_flight, 20, what="the call in the work stream")
        hdrs = base64.b64decode(m["hdrs"]).decode()
        spec = json.loads(next(ln.split(":", 1)[1] for ln in hdrs.split("\r\n")
                               if ln.lower().startswith("sk-call:")))
        forged = {"id": spec["id"], "function": "slow", "version": spec["version"],
                  "worker": "evil", "attempt": 1, "status": "succeeded",
                  "exit_code": 0, "reason": "", "stderr": "",
                  "output_b64": base64.b64encode(b"FORGED").decode(),
                  "queued_at_us": 1, "started_at_us": 1, "ended_at_us": 2}
        with Client(s["nats"].url, **s["nats"].login("worker-2")) as c:
            c.publish(spec["reply"], json.dumps(forged).encode())
            c.request("$JS.API.INFO", b"")  # the forgery went out
    finally:
        t.join(60)
    r = got["r"]
    assert r.status == 200, r
    assert r.body == (hashlib.sha256(body).hexdigest() + "\n").encode(), r.body
    assert r.headers["x-call-id"] == spec["id"]


def test_worker_cannot_aim_callbacks(secure):
    """A stolen worker credential may publish completion events but cannot
    choose where the gateway POSTs: the URL comes only from the gateway's
    own "<id>.cb" key, which the worker role may not write."""
    from gwhttp import CallbackSink
    s = secure
    if not os.path.exists(cloud.guest("echo")):
        pytest.skip("no echo guest in this build")
    deploy(s, "echo", cloud.guest("echo"))
    good, evil = CallbackSink(), CallbackSink()
    try:
        r = call(s["gw"].url, "POST", "/async-function/echo", b"hi",
                 {**bearer(s["admin"]), "X-Callback-Url": good.url})
        assert r.status == 202, r
        cid = r.json()["id"]
        fake = "F" * 26
        login = s["nats"].login("worker-1")
        with Client(s["nats"].url, **login) as c:
            refused(lambda: c.kv_put("sk_calls", fake + ".cb", evil.url))
        with Client(s["nats"].url, **login) as c:
            refused(lambda: c.kv_put("sk_calls", cid + ".cb", evil.url))
        with Client(s["nats"].url, **login) as c:
            for i in (fake, cid):
                ev = {"id": i, "function": "echo", "version": 1,
                      "worker": "evil", "attempt": 1, "status": "succeeded",
                      "exit_code": 0, "reason": "", "stderr": "",
                      "output_b64": base64.b64encode(b"EVIL").decode(),
                      "queued_at_us": 1, "started_at_us": 1,
                      "ended_at_us": 2, "callback": evil.url}
                # sk.done.cb.<id>: the events the callbacks consumer gets.
                c.js_publish("sk.done.cb." + i, json.dumps(ev).encode(),
                             {"Nats-Msg-Id": i + "-forged"})
        # Events are handled in stream order: once the second one reached
        # the registered URL, the first was handled too.
        got = good.wait(1)
        assert got[0][0]["x-call-id"] == cid, got
        assert evil.got == [], evil.got
    finally:
        good.close()
        evil.close()


def test_worker_cannot_snoop_inboxes(secure):
    """Each login gets its replies under its own prefix (_INBOX_<user>):
    a worker credential cannot subscribe to another login's replies (e.g.
    the gateway's reads of results) nor publish forged replies on them."""
    s = secure
    creds = cloud.read_creds(s["sec"], "worker-1")
    other = cloud.read_creds(s["sec"], "worker-2")["user"]
    login = s["nats"].login("worker-1")
    # Its own prefix works (every request below goes through it).
    with Client(s["nats"].url, **login) as c:
        assert c.inbox == "_INBOX_" + creds["user"]
        c.js("STREAM.INFO.KV_sk_functions")
    for subj in ("_INBOX.>", "_INBOX_gateway.>", "_INBOX_admin.>",
                 f"_INBOX_{other}.>", ">", "_INBOX_*.>"):
        with Client(s["nats"].url, **login) as c:
            c.subscribe(subj)
            refused(lambda: c.request("$JS.API.INFO", b"", timeout=5))
    for subj in ("_INBOX.x.y", "_INBOX_gateway.x.y", f"_INBOX_{other}.x.y"):
        with Client(s["nats"].url, **login) as c:
            c.publish(subj, b"forged reply")
            refused(lambda: c.request("$JS.API.INFO", b"", timeout=5))
    # The old shared inbox is refused outright, requests and all.
    with Client(s["nats"].url, inbox="_INBOX", **login) as c:
        refused(lambda: c.js("STREAM.INFO.KV_sk_functions"))
    # The gateway's own connections use their prefix: it serves, and a
    # worker may still answer a drain request (allow_responses).
    r = call(s["gw"].url, "GET", "/system/functions", headers=bearer(s["admin"]))
    assert r.status == 200, r
    w = cloud.Worker(s["nats"].url, args=["--creds", str(s["sec"] / "worker-1.creds")]).start()
    r = call(s["gw"].url, "POST", f"/system/nodes/{creds['id']}/drain",
             headers=bearer(s["admin"]))
    assert r.status == 202 and r.json()["state"] == "draining", r
    assert w.wait(30) == 0, w.log()


def test_token_scopes(secure):
    s = secure
    gw = s["gw"].url
    inv = new_token(s, "invoke", name="inv")["token"]
    dep = new_token(s, "deploy")["token"]
    # Open routes stay open.
    assert call(gw, "GET", "/healthz").status == 200
    # 401: no token, not a bearer, malformed, unknown, tampered.
    r = call(gw, "GET", "/system/functions")
    assert r.status == 401 and r.headers["www-authenticate"].startswith("Bearer"), r
    assert call(gw, "GET", "/system/functions", headers={"Authorization": "Basic eDp5"}).status == 401
    assert call(gw, "GET", "/system/functions", headers=bearer("nonsense")).status == 401
    unknown = "skt_" + "0" * 16 + "_" + "1" * 64
    assert call(gw, "GET", "/system/functions", headers=bearer(unknown)).status == 401
    tampered = dep[:-1] + ("0" if dep[-1] != "0" else "1")
    assert call(gw, "GET", "/system/functions", headers=bearer(tampered)).status == 401
    # 403: the right token for the wrong scope.
    r = call(gw, "GET", "/system/functions", headers=bearer(inv))
    assert r.status == 403 and "deploy" in r.json()["error"], r
    assert call(gw, "GET", "/system/tokens", headers=bearer(dep)).status == 403
    assert call(gw, "POST", "/system/tokens", '{"scopes":["admin"]}', bearer(inv)).status == 403
    # 200: the scope it has; admin has all.
    assert call(gw, "GET", "/system/functions", headers=bearer(dep)).status == 200
    assert call(gw, "GET", "/system/functions", headers=bearer(s["admin"])).status == 200
    r = call(gw, "GET", "/system/invocations/" + "a" * 26, headers=bearer(inv))
    assert r.status == 404, r  # past the auth check
    # A stranger's upload is refused before its body is read: the answer
    # comes after the headers alone.
    port = int(gw.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sk:
        sk.sendall(b"POST /system/artifacts HTTP/1.1\r\nHost: x\r\n"
                   b"Content-Length: 1048576\r\n\r\n")
        assert sk.recv(64).startswith(b"HTTP/1.1 401")
    # Listing shows ids and scopes, never hashes or tokens.
    r = call(gw, "GET", "/system/tokens", headers=bearer(s["admin"]))
    assert r.status == 200
    listed = r.json()
    assert {"inv", "admin"} <= {t["name"] for t in listed}
    assert all("hash" not in t and "token" not in t for t in listed)
    assert inv not in r.body.decode() and hashlib.sha256(inv.encode()).hexdigest() not in r.body.decode()
    # Bad requests to create.
    for bad in ('{"scopes":[]}', '{"scopes":["root"]}', '{"scopes":["invoke"],"ttl_s":-1}', "[]"):
        assert call(gw, "POST", "/system/tokens", bad, bearer(s["admin"])).status == 400, bad


def test_expired_and_revoked_tokens(secure):
    s = secure
    gw = s["gw"].url
    path = "/system/invocations/" + "b" * 26
    short = new_token(s, "invoke", ttl_s=1)["token"]
    cloud.wait_for(lambda: call(gw, "GET", path, headers=bearer(short)).status == 401,
                   15, interval=0.2, what="the token to expire")
    r = call(gw, "GET", path, headers=bearer(short))
    assert "expired" in r.json()["error"], r
    t = new_token(s, "invoke")
    assert call(gw, "GET", path, headers=bearer(t["token"])).status == 404
    r = call(gw, "DELETE", "/system/tokens/" + t["id"], headers=bearer(s["admin"]))
    assert r.status == 204, r
    r = call(gw, "GET", path, headers=bearer(t["token"]))
    assert r.status == 401 and "revoked" in r.json()["error"], r
    assert call(gw, "DELETE", "/system/tokens/" + t["id"], headers=bearer(s["admin"])).status == 404


def test_rate_limit(secure):
    s = secure
    gw = s["gw"].url
    path = "/system/invocations/" + "c" * 26
    # One request per 100 s: the first passes, the next ones get 429.
    slow = new_token(s, "invoke", rate=0.01)["token"]
    codes = [call(gw, "GET", path, headers=bearer(slow)) for _ in range(4)]
    assert codes[0].status == 404, codes[0]
    assert all(r.status == 429 for r in codes[1:]), codes
    assert codes[1].headers.get("retry-after") == "1"
    # Other tokens are not affected.
    free = new_token(s, "invoke")["token"]
    assert all(call(gw, "GET", path, headers=bearer(free)).status == 404 for _ in range(5))


def test_cli_token_commands(secure):
    s = secure
    env = {"SUKIMA_GATEWAY": s["gw"].url, "SUKIMA_TOKEN": ""}
    r = cloud.sukima("token", "ls", env=env)
    assert r.returncode == 1 and b"401" in r.stderr, r.stderr
    r = cloud.sukima("--token", s["admin"], "token", "create", "--scope", "invoke",
                     "--scope", "deploy", "--ttl", "1h", "--rate", "50/s", "--name", "ci",
                     env=env)
    assert r.returncode == 0, r.stderr
    tok = r.stdout.decode().strip()
    assert tok.startswith("skt_")
    r = cloud.sukima("token", "ls", "--json", env={**env, "SUKIMA_TOKEN": s["admin"]})
    ci = [t for t in json.loads(r.stdout) if t["name"] == "ci"][0]
    assert sorted(ci["scopes"]) == ["deploy", "invoke"] and ci["rate"] == 50
    assert ci["expires_us"] > ci["created_us"]
    # The new token works for the CLI (deploy scope lists functions).
    r = cloud.sukima("ls", "--token", tok, env=env)
    assert r.returncode == 0, r.stderr
    r = cloud.sukima("token", "revoke", ci["id"], env={**env, "SUKIMA_TOKEN": s["admin"]})
    assert r.returncode == 0, r.stderr
    r = cloud.sukima("ls", env={**env, "SUKIMA_TOKEN": tok})
    assert r.returncode == 1 and b"401" in r.stderr
    r = cloud.sukima("token", "create", "--scope", "root", env=env)
    assert r.returncode == 2


def test_init_files_are_private(tmp_path):
    sec = tmp_path / "s"
    r = cloud.sukima("init", "--dir", str(sec), "--workers", "2", "--host", "10.1.2.3",
                     "--host", "cloud.example")
    assert r.returncode == 0, r.stderr
    names = sorted(os.listdir(sec))
    for n in ("ca.pem", "ca.key", "nats.pem", "nats.key", "gateway.pem", "gateway.key",
              "nats-auth.conf", "admin.creds", "gateway.creds", "worker-1.creds",
              "worker-2.creds", "admin.token"):
        assert n in names
    for n in names:
        assert os.stat(sec / n).st_mode & 0o777 == 0o600, n
    conf = (sec / "nats-auth.conf").read_text()
    # Passwords are stored as bcrypt hashes only.
    for role in ("admin", "gateway", "worker-1"):
        pw = cloud.read_creds(sec, role)["password"]
        assert pw not in conf and len(pw) >= 32
    assert conf.count('password: "$2b$') == 4
    # A second init refuses to replace secrets without --force.
    r = cloud.sukima("init", "--dir", str(sec))
    assert r.returncode == 1 and b"--force" in r.stderr
    out = subprocess_openssl(sec / "nats.pem")
    if out is not None:
        assert "IP Address:10.1.2.3" in out and "DNS:cloud.example" in out
        assert "IP Address:127.0.0.1" in out and "DNS:localhost" in out
    # --conf-dir: nats-auth.conf names where the NATS host keeps the files.
    r = cloud.sukima("init", "--dir", str(sec), "--force", "--workers", "1",
                     "--conf-dir", "/etc/sukima")
    assert r.returncode == 0, r.stderr
    assert 'cert_file: "/etc/sukima/nats.pem"' in (sec / "nats-auth.conf").read_text()


def subprocess_openssl(pem):
    """The certificate as text (the openssl CLI reads it; init never runs it)."""
    import shutil
    import subprocess
    if not shutil.which("openssl"):
        return None
    r = subprocess.run(["openssl", "x509", "-in", str(pem), "-noout", "-text"],
                       capture_output=True, timeout=30)
    return r.stdout.decode()

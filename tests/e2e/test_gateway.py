"""test_gateway.py: the gateway alone (nats-server + gateway, no worker): routes, deploy, limits, errors, hostile input."""
import hashlib
import json
import os
import time

import pytest

import cloud
from gwhttp import call, deploy, raw, upload

pytestmark = pytest.mark.skipif(not cloud.have_gateway(),
                                reason="sukima gateway not built")

BUSYBOX = "/bin/busybox"


@pytest.fixture
def gw(nats, tmp_path):
    return cloud.Gateway(nats.url, tmpdir=tmp_path,
                         args=["--max-body", "64k", "--start-wait", "1000"]).start()


def test_health_and_info(gw):
    r = call(gw.url, "GET", "/healthz")
    assert r.status == 200 and r.body == b"OK\n"
    info = call(gw.url, "GET", "/system/info").json()
    assert info["provider"]["provider"] == "sukima"
    assert info["arch"] == "x86_64"
    assert info["max_body"] == 64 * 1024
    assert call(gw.url, "GET", "/system/nodes").json() == []
    assert call(gw.url, "GET", "/system/functions").json() == []


def test_routing_errors(gw):
    r = call(gw.url, "GET", "/nope")
    assert r.status == 404 and "error" in r.json()
    r = call(gw.url, "PATCH", "/system/functions")
    assert r.status == 405
    assert r.headers["allow"] == "GET, POST, PUT, DELETE"
    r = call(gw.url, "GET", "/async-function/x")
    assert r.status == 405 and r.headers["allow"] == "POST"
    for bad in ("/function/Upper", "/function/-x", "/function/a_b",
                "/system/function/" + "a" * 64, "/system/invocations/a.b"):
        assert call(gw.url, "GET", bad).status == 400, bad
    assert call(gw.url, "GET", "/function/").status == 404


def test_deploy_lifecycle(gw):
    with open(BUSYBOX, "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()
    assert upload(gw.url, BUSYBOX) == digest
    # Uploading the same bytes again is idempotent.
    r = call(gw.url, "POST", "/system/artifacts", open(BUSYBOX, "rb").read())
    assert r.status == 200 and r.json()["digest"] == digest

    f = deploy(gw.url, "sha", BUSYBOX, argv=["sha256sum"], env={"A": "1"},
               mem_mib=32, timeout_ms=2500)
    assert f["version"] == 1 and f["digest"] == digest
    assert f["size"] == os.path.getsize(BUSYBOX)
    assert f["argv"] == ["sha256sum"] and f["env"] == {"A": "1"}
    assert f["mem_mib"] == 32 and f["timeout_ms"] == 2500
    f2 = deploy(gw.url, "sha", BUSYBOX, argv=["sha256sum"])
    assert f2["version"] == 2 and f2["mem_mib"] == 64 and f2["env"] == {}

    got = call(gw.url, "GET", "/system/function/sha").json()
    assert got == f2
    assert [x["name"] for x in call(gw.url, "GET", "/system/functions").json()] == ["sha"]

    body = json.dumps({"name": "other", "digest": digest})
    assert call(gw.url, "PUT", "/system/functions", body).status == 404
    body = json.dumps({"name": "sha", "digest": digest, "timeout_ms": 100})
    r = call(gw.url, "PUT", "/system/functions", body)
    assert r.status == 200 and r.json()["version"] == 3

    assert call(gw.url, "DELETE", "/system/function/sha").status == 204
    assert call(gw.url, "GET", "/system/function/sha").status == 404
    assert call(gw.url, "DELETE", "/system/function/sha").status == 404
    deploy(gw.url, "sha2", BUSYBOX)
    r = call(gw.url, "DELETE", "/system/functions",
             json.dumps({"functionName": "sha2"}))
    assert r.status == 204
    assert call(gw.url, "GET", "/system/functions").json() == []


def test_artifact_refused(gw, tmp_path):
    r = call(gw.url, "POST", "/system/artifacts", open("/bin/ls", "rb").read())
    assert r.status == 400 and "PT_INTERP" in r.json()["error"]
    r = call(gw.url, "POST", "/system/artifacts", b"#!/bin/sh\necho hi\n")
    assert r.status == 400 and "not an ELF" in r.json()["error"]
    r = call(gw.url, "POST", "/system/artifacts", b"")
    assert r.status == 400
    # A 32-bit ELF header.
    hdr = bytearray(open(BUSYBOX, "rb").read(4096))
    hdr[4] = 1
    r = call(gw.url, "POST", "/system/artifacts", bytes(hdr))
    assert r.status == 400 and "x86-64" in r.json()["error"]
    # Deploying a digest nobody uploaded.
    body = json.dumps({"name": "ghost", "digest": "0" * 64})
    r = call(gw.url, "POST", "/system/functions", body)
    assert r.status == 400 and "not uploaded" in r.json()["error"]


@pytest.mark.parametrize("body", [
    b"", b"{", b"[]", b"null", b'"x"', b"{}",
    b'{"name":"ok"}',
    b'{"name":"Bad","digest":"' + b"0" * 64 + b'"}',
    b'{"name":"ok","digest":"' + b"0" * 64 + b'","mem_mib":1e309}',
    b'{"name":"ok","digest":"' + b"0" * 64 + b'","argv":[' + b'"a",' * 100 + b'"a"]}',
    b'{"name":"ok","digest":"' + b"0" * 64 + b'","env":{"A=B":"x"}}',
    b'{"name":"ok","digest":"' + b"0" * 64 + b'","env":{"A":"\\u0000"}}',
    b"\xff\xfe\x00garbage",
    b"[" * 5000,
])
def test_deploy_malformed(gw, body):
    r = call(gw.url, "POST", "/system/functions", body)
    assert r.status == 400, r
    assert r.json()["error"]
    assert call(gw.url, "GET", "/healthz").status == 200


def test_unknown_function(gw):
    r = call(gw.url, "POST", "/function/nosuch", b"x")
    assert r.status == 404 and "nosuch" in r.json()["error"]
    r = call(gw.url, "POST", "/async-function/nosuch", b"x")
    assert r.status == 404
    assert call(gw.url, "GET", "/system/invocations/nosuchid").status == 404
    assert call(gw.url, "DELETE", "/system/invocations/nosuchid").status == 404


def test_oversized_payload(gw):
    deploy(gw.url, "sha", BUSYBOX, argv=["sha256sum"])
    big = b"x" * (64 * 1024 + 1)
    r = call(gw.url, "POST", "/function/sha", big)
    assert r.status == 413 and "limit" in r.json()["error"]
    r = call(gw.url, "POST", "/async-function/sha", big)
    assert r.status == 413

    # Chunked, so the gateway cannot know the size up front.
    def chunks():
        for _ in range(40):
            yield b"y" * 4096
    import http.client
    c = http.client.HTTPConnection("127.0.0.1", gw.port, timeout=30)
    c.request("POST", "/function/sha", body=chunks(),
              headers={"Transfer-Encoding": "chunked"}, encode_chunked=True)
    r = c.getresponse()
    assert r.status == 413
    c.close()
    # Exactly at the limit passes the size check (no worker: 503).
    r = call(gw.url, "POST", "/function/sha", b"x" * (64 * 1024))
    assert r.status == 503


def test_no_worker_is_503_at_once(gw):
    deploy(gw.url, "sha", BUSYBOX, argv=["sha256sum"])
    t0 = time.monotonic()
    r = call(gw.url, "POST", "/function/sha", b"hello", timeout=30)
    assert r.status == 503 and "no live worker" in r.json()["error"]
    assert time.monotonic() - t0 < 20


def test_async_queue_and_cancel(gw):
    deploy(gw.url, "sha", BUSYBOX, argv=["sha256sum"])
    r = call(gw.url, "POST", "/async-function/sha", b"hello")
    assert r.status == 202
    cid = r.headers["x-call-id"]
    assert r.json() == {"id": cid, "status": "queued"}
    rec = call(gw.url, "GET", f"/system/invocations/{cid}").json()
    assert rec["status"] == "queued" and rec["function"] == "sha"
    assert rec["attempts"] == 0 and rec["version"] == 1
    assert call(gw.url, "GET", f"/system/invocations/{cid}?raw=1").status == 409

    r = call(gw.url, "DELETE", f"/system/invocations/{cid}")
    assert r.status == 200 and r.json()["status"] == "cancelled"
    # Idempotent.
    r = call(gw.url, "DELETE", f"/system/invocations/{cid}")
    assert r.status == 200 and r.json()["status"] == "cancelled"
    assert call(gw.url, "GET", f"/system/invocations/{cid}").json()["status"] == "cancelled"

    r = call(gw.url, "POST", "/async-function/sha", b"x",
             {"X-Callback-Url": "ftp://example/x"})
    assert r.status == 400


def test_hostile_http(gw):
    deploy(gw.url, "sha", BUSYBOX, argv=["sha256sum"])
    junk = [
        b"\x00\x01\x02\r\n\r\n",
        b"GET\r\n\r\n",
        b"GET / HTTP/9.9\r\n\r\n",
        b"GET /" + b"a" * 100000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
        b"POST /function/sha HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n",
        b"POST /function/sha HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999\r\n\r\n",
        b"POST /function/sha HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        b"GET /system/info HTTP/1.1\r\nHost: x\r\n" + b"X-A: b\r\n" * 5000 + b"\r\n",
        b"GET /system/info HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n",
        b"GET /function/sha/%00%ff?%zz HTTP/1.1\r\nHost: x\r\n\r\n",
    ]
    for j in junk:
        out = raw(gw.url, j, timeout=5)
        assert not out or out.startswith(b"HTTP/1."), (j[:40], out[:80])
    # Headers that cannot be env names, a huge header value: still served.
    r = call(gw.url, "POST", "/function/sha", b"x",
             {"X_Under": "1", "X-Long": "v" * 9000})
    assert r.status == 503
    assert gw.running()
    assert call(gw.url, "GET", "/healthz").status == 200


def test_inflight_budget(nats, tmp_path):
    """Bodies buffered at once are bounded gateway-wide (503, not OOM)."""
    g = cloud.Gateway(nats.url, tmpdir=tmp_path,
                      args=["--max-body", "6M", "--max-inflight", "3M"]).start()
    deploy(g.url, "sha", BUSYBOX, argv=["sha256sum"])  # 2 MB: fits
    # Refused from Content-Length alone: the body is never read.
    out = raw(g.url, b"POST /function/sha HTTP/1.1\r\nHost: x\r\n"
              b"Content-Length: 4194304\r\n\r\n")
    assert out.startswith(b"HTTP/1.1 503") and b"busy" in out

    def chunks():
        for _ in range(64):
            yield b"y" * 65536
    import http.client
    c = http.client.HTTPConnection("127.0.0.1", g.port, timeout=30)
    c.request("POST", "/function/sha", body=chunks(),
              headers={"Transfer-Encoding": "chunked"}, encode_chunked=True)
    r = c.getresponse()
    assert r.status == 503 and b"busy" in r.read()
    c.close()
    # Once those are gone the budget is free again (no worker: 503 of
    # another kind).  The gateway releases a refused body's budget when it
    # sees the connection close, which may trail our close() a little on a
    # loaded machine: ask again a bounded number of times.
    for _ in range(50):
        r = call(g.url, "POST", "/function/sha", b"x" * (1 << 20))
        err = r.json()["error"]
        if "busy" not in err:
            break
        time.sleep(0.1)
    assert r.status == 503 and "no live worker" in err


def test_oversized_spec_and_path(gw):
    digest = upload(gw.url, BUSYBOX)
    body = json.dumps({"name": "big", "digest": digest,
                       "env": {f"V{i}": "x" * 4000 for i in range(20)}})
    r = call(gw.url, "POST", "/system/functions", body)
    assert r.status == 400 and "too large" in r.json()["error"]
    deploy(gw.url, "sha", BUSYBOX, argv=["sha256sum"])
    r = call(gw.url, "POST", "/function/sha/" + "p" * 9000, b"")
    assert r.status == 400 and "too long" in r.json()["error"]

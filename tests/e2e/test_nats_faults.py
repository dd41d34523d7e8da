"""test_nats_faults.py: NATS faults between the gateway and nats-server, injected by a protocol proxy (natsproxy.py): a work publish whose PubAck never comes in time."""
import json
import time

import pytest

import cloud
from gwhttp import call, deploy, wait_status
from natsproxy import NatsProxy

pytestmark = pytest.mark.skipif(not cloud.have_gateway(),
                                reason="sukima gateway not built")

JS_WAIT_S = 5.0  # the gateway's JetStream publish timeout (sk_nats.c)


@pytest.fixture
def proxied(nats, tmp_path):
    """A gateway that reaches nats-server only through a NatsProxy."""
    proxy = NatsProxy(nats.port).start()
    try:
        gw = cloud.Gateway(proxy.url, tmpdir=tmp_path).start()
        yield nats, proxy, gw
    finally:
        cloud.stop_all()  # the gateway before its proxy goes
        proxy.close()


def test_timed_out_work_publish_is_retried_once(proxied, tmp_path):
    """The server stores an async call's work message, but its PubAck is
    late: the gateway's publish times out and is retried with the same
    Nats-Msg-Id, the server drops the copy, and one work item exists."""
    nats, proxy, gw = proxied
    deploy(gw.url, "echo", cloud.example("echo"))

    proxy.hold_next_ack("sk.work.")
    t0 = time.monotonic()
    r = call(gw.url, "POST", "/async-function/echo", b"once",
             timeout=4 * JS_WAIT_S + 30)
    took = time.monotonic() - t0
    assert r.status == 202, r
    cid = r.headers["x-call-id"]

    # Two publishes of the one call, the second after the first timed out.
    pubs = proxy.pubs_on("sk.work.")
    assert len(pubs) == 2, [(p.subject, p.msg_id) for p in pubs]
    assert pubs[0].msg_id == cid and pubs[1].msg_id == cid
    assert pubs[0].reply != pubs[1].reply
    assert proxy.late == [pubs[0].reply]
    assert took >= JS_WAIT_S - 0.5, took
    # The server stored the first and called the retry a duplicate of it.
    first = json.loads(proxy.replies[pubs[0].reply])
    second = json.loads(proxy.replies[pubs[1].reply])
    assert first.get("stream") == "SUKIMA_WORK" and not first.get("duplicate")
    assert second.get("duplicate") is True and second["seq"] == first["seq"]
    assert "failed" not in gw.log()

    # Exactly one work item, and the record is queued once.
    with nats.client() as c:
        si = c.js("STREAM.INFO.SUKIMA_WORK")
        assert si["state"]["messages"] == 1, si["state"]
    rec = call(gw.url, "GET", f"/system/invocations/{cid}").json()
    assert rec["status"] == "queued" and rec["attempts"] == 0

    if not cloud.vmm_runs_guests():
        pytest.skip("the monitor cannot run guests here")
    # A worker runs it once: no redelivery, nothing left in the stream.
    cloud.Worker(nats.url, tmpdir=tmp_path).start()
    rec = wait_status(gw.url, cid, timeout=60)
    assert rec["status"] == "succeeded" and rec["attempts"] == 1, rec
    with nats.client() as c:
        si = c.js("STREAM.INFO.SUKIMA_WORK")
        assert si["state"]["messages"] == 0, si["state"]

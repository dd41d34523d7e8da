"""test_logs.py: invocation records (GET /system/logs) and `sukima logs [--follow] [--since]`."""
import json
import os
import subprocess
import time

import pytest

import cloud
from cloud import sukima, wait_for
from gwhttp import call

pytestmark = pytest.mark.skipif(not cloud.have_gateway(),
                                reason="sukima gateway not built")


@pytest.fixture(scope="module")
def cl(tmp_path_factory):
    if not cloud.vmm_runs_guests():
        pytest.skip("the monitor cannot run guests here")
    tmp = tmp_path_factory.mktemp("logs")
    procs = []
    try:
        nats = cloud.Nats(tmp / "nats").start()
        procs.append(nats)
        gw = cloud.Gateway(nats.url, tmpdir=tmp).start()
        procs.append(gw)
        w = cloud.Worker(nats.url, name="lw", slots=2, tmpdir=tmp).start()
        procs.append(w)
        env = {"SUKIMA_GATEWAY": gw.url}
        for name, elf, args in (("lecho", cloud.example("echo"), []),
                                ("lerr", cloud.guest("sha256gen"), ["--arg", "-1"]),
                                ("lflood", cloud.guest("hostile_flood"), ["--arg", "err"])):
            r = sukima("deploy", name, elf, *args, env=env)
            assert r.returncode == 0, r.stderr
        yield {"gw": gw, "env": env, "tmp": tmp}
    finally:
        for p in reversed(procs):
            p.stop()


def logs(cl, query):
    r = call(cl["gw"].url, "GET", "/system/logs" + query)
    assert r.status == 200, r.body
    return r.json()


def logs_with(cl, query, ids):
    """Records of (query) once all of (ids) are in: a sync caller gets its
    answer just before the worker publishes the completion event."""
    def ready():
        got = logs(cl, query)
        have = {x["id"] for x in got["invocations"]}
        return got if set(ids) <= have else None
    return wait_for(ready, 15, 0.05, "records " + query)


def test_records_like_activations(cl):
    gw = cl["gw"].url
    ids = []
    for i in range(3):
        r = call(gw, "POST", "/function/lecho", body=b"r%d" % i)
        assert r.status == 200
        ids.append(r.headers["x-call-id"])
    r = call(gw, "POST", "/function/lerr")
    assert r.status == 502
    err_id = r.headers["x-call-id"]

    logs_with(cl, "?function=lerr", [err_id])
    got = logs_with(cl, "?function=lecho", ids)
    recs = got["invocations"]
    assert [x["id"] for x in recs] == ids  # oldest first, only lecho
    for x in recs:
        assert x["function"] == "lecho" and x["version"] == 1
        assert x["status"] == "succeeded" and x["exit_code"] == 0
        assert x["attempts"] == 1 and x["worker"]
        assert x["queued_at_us"] <= x["started_at_us"] <= x["ended_at_us"]
        assert x["duration_seconds"] == pytest.approx(
            (x["ended_at_us"] - x["started_at_us"]) / 1e6)
        assert x["stderr"] == [] and x["stderr_truncated"] is False
    assert got["cursor"] >= recs[-1]["seq"]

    e = logs(cl, "?function=lerr")["invocations"]
    assert [x["id"] for x in e] == [err_id]
    assert e[0]["status"] == "failed" and e[0]["exit_code"] == 2
    assert "sha256gen: bad size" in e[0]["stderr"]

    # limit keeps the newest; since filters by end time.
    assert [x["id"] for x in logs(cl, "?function=lecho&limit=2")
            ["invocations"]] == ids[1:]
    assert logs(cl, "?function=lecho&since=1h")["invocations"] == recs
    time.sleep(1.2)
    assert logs(cl, "?function=lecho&since=1s")["invocations"] == []
    # after=cursor: only what completed since.
    cur = logs(cl, "")["cursor"]
    assert logs(cl, f"?after={cur}")["invocations"] == []
    # A cursor past the end (the stream was recreated): back to the end.
    far = logs(cl, "?after=99999999")
    assert far["invocations"] == [] and far["cursor"] == cur
    r = call(gw, "POST", "/function/lecho", body=b"new")
    new = logs_with(cl, f"?after={cur}", [r.headers["x-call-id"]])[
        "invocations"]
    assert [x["id"] for x in new] == [r.headers["x-call-id"]]

    for bad in ("?function=Bad_Name", "?limit=0", "?limit=x", "?since=5y",
                "?after=-1"):
        r = call(gw, "GET", "/system/logs" + bad)
        assert r.status == 400 and "error" in r.json(), bad


def test_stderr_bounded_with_marker(cl):
    r = call(cl["gw"].url, "POST", "/function/lflood")
    assert r.status in (200, 502)
    x = logs_with(cl, "?function=lflood", [r.headers["x-call-id"]])[
        "invocations"][-1]
    assert x["stderr_truncated"] is True
    assert x["stderr"][0] == "[... earlier stderr truncated]"
    assert 1 < len(x["stderr"]) <= 51
    assert sum(len(s) for s in x["stderr"][1:]) <= 4096


def test_cli_logs_json_matches_api(cl):
    r = sukima("logs", "lecho", "--json", env=cl["env"])
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["invocations"] == \
        logs(cl, "?function=lecho")["invocations"]
    r = sukima("logs", "lecho", env=cl["env"])
    assert r.returncode == 0
    lines = r.stdout.decode().splitlines()
    assert len(lines) == len(logs(cl, "?function=lecho")["invocations"])
    assert all(" lecho v1 " in l and " succeeded " in l for l in lines)
    r = sukima("logs", "lerr", env=cl["env"])
    assert "    | sha256gen: bad size" in r.stdout.decode()
    assert sukima("logs", "--since", "soon", env=cl["env"]).returncode == 2
    r = sukima("logs", "lecho", env={"SUKIMA_GATEWAY": "http://127.0.0.1:1"})
    assert r.returncode == 3


def test_cli_logs_follow(cl):
    out = os.path.join(str(cl["tmp"]), "follow.out")
    with open(out, "wb") as f:
        p = subprocess.Popen([cloud.SUKIMA, "logs", "lecho", "--follow",
                              "--json", "--since", "1s"], stdout=f,
                             stderr=subprocess.STDOUT,
                             env=dict(os.environ, **cl["env"]),
                             start_new_session=True)
    try:
        time.sleep(0.5)  # it has read the history by now (or will skip it)
        ids = []
        for i in range(3):
            r = call(cl["gw"].url, "POST", "/function/lecho", body=b"f%d" % i)
            assert r.status == 200
            ids.append(r.headers["x-call-id"])

        def seen():
            with open(out) as f:
                got = [json.loads(l)["id"] for l in f if l.strip()]
            return got if all(i in got for i in ids) else None
        got = wait_for(seen, 20, 0.2, "followed records")
        assert got[-3:] == ids
        assert p.poll() is None  # still following
    finally:
        p.kill()
        p.wait(10)

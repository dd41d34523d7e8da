"""test_cli.py: the sukima client commands (deploy, invoke, ls, describe, rm, status, nodes) against a real cloud."""
import hashlib
import json
import os

import pytest

import cloud
from cloud import sukima
from gwhttp import wait_status

pytestmark = pytest.mark.skipif(not cloud.have_gateway(),
                                reason="sukima gateway not built")


@pytest.fixture(scope="module")
def cl(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("cli")
    procs = []
    try:
        nats = cloud.Nats(tmp / "nats").start()
        procs.append(nats)
        gw = cloud.Gateway(nats.url, tmpdir=tmp).start()
        procs.append(gw)
        workers = []
        if cloud.vmm_runs_guests():
            w = cloud.Worker(nats.url, name="cliw", slots=2, tmpdir=tmp).start()
            procs.append(w)
            workers.append(w)
        yield {"env": {"SUKIMA_GATEWAY": gw.url}, "gw": gw,
               "workers": workers}
    finally:
        for p in reversed(procs):
            p.stop()


def run(cl, *args, input=None):
    return sukima(*args, input=input, env=cl["env"], timeout=60)


def need_worker(cl):
    if not cl["workers"]:
        pytest.skip("the monitor cannot run guests here")


def test_deploy_ls_describe_rm(cl):
    up = cloud.guest("upper")
    r = run(cl, "deploy", "up", up, "--mem", "32", "--timeout", "1500ms",
            "--env", "A=b=c", "--arg", "x")
    assert r.returncode == 0, r.stderr
    assert r.stdout.decode().startswith("deployed up version 1 ")
    r = run(cl, "deploy", "up", up, "--json")
    f = json.loads(r.stdout)
    assert f["version"] == 2 and f["mem_mib"] == 64 and f["argv0"] == "upper.musl"
    assert f["digest"] == hashlib.sha256(open(up, "rb").read()).hexdigest()

    r = run(cl, "ls")
    assert r.returncode == 0
    lines = r.stdout.decode().splitlines()
    assert lines[0].split()[:3] == ["NAME", "VERSION", "MEM"]
    assert lines[1].split()[:2] == ["up", "2"]
    fs = json.loads(run(cl, "ls", "--json").stdout)
    assert [x["name"] for x in fs] == ["up"]

    r = run(cl, "describe", "up")
    assert r.returncode == 0 and "version:     2" in r.stdout.decode()
    assert json.loads(run(cl, "describe", "up", "--json").stdout)["name"] == "up"

    r = run(cl, "rm", "up")
    assert r.returncode == 0 and r.stdout == b"removed up\n"
    r = run(cl, "rm", "up")
    assert r.returncode == 1
    assert b"HTTP 404" in r.stderr and b"not found" in r.stderr
    r = run(cl, "describe", "up")
    assert r.returncode == 1


def test_deploy_refuses_bad_input(cl):
    r = run(cl, "deploy", "x", "/bin/ls")
    assert r.returncode == 1 and b"PT_INTERP" in r.stderr
    r = run(cl, "deploy", "Bad_Name", cloud.guest("upper"))
    assert r.returncode == 1 and b"HTTP 400" in r.stderr
    r = run(cl, "deploy", "x", "/nonexistent/file")
    assert r.returncode == 1 and b"cannot open" in r.stderr
    r = run(cl, "deploy", "x", cloud.guest("upper"), "--timeout", "soon")
    assert r.returncode == 2
    r = run(cl, "deploy", "x")
    assert r.returncode == 2 and b"usage" in r.stderr


def test_invoke_sync_async_status(cl):
    need_worker(cl)
    assert run(cl, "deploy", "up", cloud.guest("upper")).returncode == 0
    r = run(cl, "invoke", "up", input=b"hello cli")
    assert r.returncode == 0 and r.stdout == b"HELLO CLI"
    r = run(cl, "invoke", "up", "--json", input=b"j")
    j = json.loads(r.stdout)
    assert j["output"] == "J" and len(j["id"]) == 26

    r = run(cl, "invoke", "up", "--async", input=b"later")
    assert r.returncode == 0
    cid = r.stdout.decode().strip()
    wait_status(cl["gw"].url, cid)
    r = run(cl, "status", cid)
    assert r.returncode == 0 and "succeeded" in r.stdout.decode()
    assert json.loads(run(cl, "status", cid, "--json").stdout)["status"] == "succeeded"
    r = run(cl, "status", cid, "--output")
    assert r.stdout == b"LATER"
    r = run(cl, "status", "nosuchid")
    assert r.returncode == 1 and b"HTTP 404" in r.stderr


def test_invoke_headers_and_errors(cl):
    need_worker(cl)
    assert run(cl, "deploy", "args", cloud.guest("args")).returncode == 0
    r = run(cl, "invoke", "args", "-H", "X-Who: cli", "--path", "/p/q",
            "--query", "k=v", input=b"")
    out = r.stdout.decode()
    assert "env Http_X_Who=cli" in out
    assert "env Http_Path=/p/q" in out and "env Http_Query=k=v" in out
    r = run(cl, "invoke", "nosuch", input=b"")
    assert r.returncode == 1 and b"HTTP 404" in r.stderr
    r = run(cl, "invoke", "args", "-H", "novalue", input=b"")
    assert r.returncode == 2
    assert run(cl, "deploy", "spin", cloud.guest("hostile_loop"),
               "--timeout", "1s").returncode == 0
    r = run(cl, "invoke", "spin", input=b"")
    assert r.returncode == 1 and b"HTTP 504" in r.stderr


def test_nodes(cl):
    r = run(cl, "nodes")
    assert r.returncode == 0
    assert r.stdout.decode().splitlines()[0].split()[:3] == ["ID", "NAME", "HOST"]
    nodes = json.loads(run(cl, "nodes", "--json").stdout)
    assert [n["name"] for n in nodes] == [w.wname for w in cl["workers"]]


def test_unreachable_gateway(cl):
    port = cloud.free_port()
    for args in (("ls",), ("nodes",), ("status", "x"), ("rm", "x")):
        r = sukima(*args, "--gateway", f"http://127.0.0.1:{port}", timeout=30)
        assert r.returncode == 3
        err = r.stderr.decode()
        assert err.count("\n") == 1
        assert "cannot reach the gateway" in err and "make up" in err
    r = sukima("invoke", "x", input=b"", timeout=30,
               env={"SUKIMA_GATEWAY": f"http://127.0.0.1:{port}"})
    assert r.returncode == 3 and b"sukima gateway --nats" in r.stderr

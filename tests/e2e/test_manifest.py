"""test_manifest.py: sukima new + build + deploy -f sukima.yml + invoke end to end; --json outputs match the API; upload progress."""
import json
import os
import shutil

import pytest

import cloud
from cloud import sukima
from gwhttp import call

pytestmark = pytest.mark.skipif(not cloud.have_gateway(),
                                reason="sukima gateway not built")


@pytest.fixture(scope="module")
def cl(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("manifest")
    procs, workers = [], []
    try:
        nats = cloud.Nats(tmp / "nats").start()
        procs.append(nats)
        gw = cloud.Gateway(nats.url, tmpdir=tmp).start()
        procs.append(gw)
        if cloud.vmm_runs_guests():
            w = cloud.Worker(nats.url, name="mfw", slots=2, tmpdir=tmp).start()
            procs.append(w)
            workers.append(w)
        yield {"gw": gw, "env": {"SUKIMA_GATEWAY": gw.url}, "tmp": tmp,
               "workers": workers}
    finally:
        for p in reversed(procs):
            p.stop()


def run(cl, *args, cwd=None, input=None, env=None):
    import subprocess
    e = dict(os.environ, **cl["env"])
    e.pop("SUKIMA_PROGRESS", None)
    e.update(env or {})
    return subprocess.run([cloud.SUKIMA] + list(args), cwd=cwd, input=input,
                          capture_output=True, timeout=120, env=e)


def test_new_build_deploy_invoke(cl, tmp_path):
    if not shutil.which("make"):
        pytest.skip("make not installed")
    r = run(cl, "new", "greeter", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    d = tmp_path / "greeter"
    assert sorted(os.listdir(d)) == [".gitignore", "Makefile", "handler.c",
                                     "sukima.yml"]
    assert run(cl, "new", "greeter", cwd=tmp_path).returncode == 1  # exists
    assert run(cl, "new", "Not_A_Name", cwd=tmp_path).returncode == 2

    r = run(cl, "build", cwd=d)
    assert r.returncode == 0, r.stderr
    assert r.stdout.decode().startswith("built greeter: ")
    elf = d / "build" / "greeter"
    assert elf.exists()
    # Static: no program interpreter (PT_INTERP) in the ELF.
    assert b"ld-linux" not in elf.read_bytes()
    r = run(cl, "build", str(d), "--json")
    b = json.loads(r.stdout)
    assert b[0]["name"] == "greeter" and b[0]["size"] == elf.stat().st_size

    r = run(cl, "deploy", "-f", "sukima.yml", cwd=d)
    assert r.returncode == 0, r.stderr
    assert r.stdout.decode().startswith("deployed greeter version 1 ")
    f = call(cl["gw"].url, "GET", "/system/function/greeter").json()
    assert f["env"] == {"GREETING": "hello"} and f["mem_mib"] == 64
    assert f["timeout_ms"] == 10000 and f["argv0"] == "greeter"
    if not cl["workers"]:
        pytest.skip("the monitor cannot run guests here")
    r = run(cl, "invoke", "greeter", input=b"ping")
    assert r.returncode == 0, r.stderr
    assert r.stdout == b"hello from greeter! You sent 4 bytes: ping\n"

    # In the function's folder, plain `sukima deploy` takes sukima.yml.
    r = run(cl, "deploy", "--json", cwd=d)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)[0]["version"] == 2  # a redeploy
    assert run(cl, "deploy", cwd=tmp_path).returncode == 2  # no sukima.yml

    # Edit, rebuild through deploy -f (it runs make), a new version runs.
    src = (d / "handler.c").read_text().replace("You sent", "Got")
    (d / "handler.c").write_text(src)
    r = run(cl, "deploy", "-f", str(d / "sukima.yml"))
    assert r.returncode == 0 and b"version 3" in r.stdout, r.stderr
    r = run(cl, "invoke", "greeter", input=b"ping")
    assert r.stdout == b"hello from greeter! Got 4 bytes: ping\n"


def test_manifest_settings_and_json(cl, tmp_path):
    shutil.copy(cloud.example("upper"), tmp_path / "upper")
    (tmp_path / "sukima.yml").write_text(
        "version: 1.0\n"
        "provider: {name: sukima, gateway: http://127.0.0.1:1}\n"
        "functions:\n"
        "  up-a:\n"
        "    artifact: upper\n"
        "    limits: {memory: 32Mi}\n"
        "    timeout: 1500ms\n"
        "    max_output: 64k\n"
        "    replicas: 2\n"
        "    environment: {A: '1', B_2: two words}\n"
        "    args: [x, '--y']\n"
        "  up-b:\n"
        "    artifact: ./upper\n"
        "    memory: 16\n"
        "    argv0: shout\n")
    # --gateway (here: $SUKIMA_GATEWAY) wins over provider.gateway.
    r = run(cl, "deploy", "-f", str(tmp_path / "sukima.yml"), "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert [f["name"] for f in out] == ["up-a", "up-b"]
    for f in out:
        assert f == call(cl["gw"].url, "GET",
                         "/system/function/" + f["name"]).json()
    a, b = out
    assert a["mem_mib"] == 32 and a["timeout_ms"] == 1500
    assert a["max_output"] == 65536 and a["replicas"] == 2
    assert a["env"] == {"A": "1", "B_2": "two words"}
    assert a["argv"] == ["x", "--y"] and a["argv0"] == "upper"
    assert b["mem_mib"] == 16 and b["argv0"] == "shout"
    # --filter deploys one; the provider's gateway is used without others.
    r = run(cl, "deploy", "-f", str(tmp_path / "sukima.yml"), "--filter",
            "up-b", env={"SUKIMA_GATEWAY": ""})
    assert r.returncode == 3  # provider.gateway http://127.0.0.1:1: down
    r = run(cl, "deploy", "-f", str(tmp_path / "sukima.yml"), "--filter",
            "up-b")
    assert r.returncode == 0 and r.stdout.startswith(b"deployed up-b version 2")
    assert run(cl, "deploy", "-f", str(tmp_path / "sukima.yml"), "--filter",
               "zz").returncode == 1

    # The read commands' --json is the API's JSON.
    api = lambda p: call(cl["gw"].url, "GET", p).json()  # noqa: E731
    assert json.loads(run(cl, "ls", "--json").stdout) == \
        api("/system/functions")
    assert json.loads(run(cl, "describe", "up-a", "--json").stdout) == \
        api("/system/function/up-a")
    nodes = json.loads(run(cl, "nodes", "--json").stdout)
    assert [n["id"] for n in nodes] == [n["id"] for n in api("/system/nodes")]
    if cl["workers"]:
        r = run(cl, "invoke", "up-b", "--async", input=b"abc")
        cid = r.stdout.decode().strip()
        assert r.returncode == 0 and cid
        from cloud import wait_for
        wait_for(lambda: api(f"/system/invocations/{cid}")["status"]
                 == "succeeded", 30, 0.1, "async call")
        assert json.loads(run(cl, "status", cid, "--json").stdout) == \
            api(f"/system/invocations/{cid}")


@pytest.mark.parametrize("text,msg", [
    ("functions: {a: {memory: lots, artifact: x}}", ":1: functions.a.memory"),
    ("functions:\n  a:\n    artifact: x\n    colour: red\n", ":4: functions.a: unknown key 'colour'"),
    ("functions: {Bad: {artifact: x}}", "not a DNS label"),
    ("functions: {a: {lang: go, handler: .}}", "only 'c'"),
    ("functions: {a: {lang: c}}", "needs a handler"),
    ("functions: {a: {timeout: forever, artifact: x}}", "bad duration"),
    ("functions: {a: {replicas: 9, artifact: x}}", "replicas: 1..3"),
    ("functions: {a: {environment: {1X: y}, artifact: x}}", "bad variable name"),
    ("functions: {a: {}}", "give an artifact"),
    ("version: 1\n", "'functions:' must map"),
    ("functions: [a, b]", "'functions:' must map"),
    ("- just\n- a list\n", "a map with 'functions:'"),
    ("functions: {a: {artifact: x}\n", "sukima.yml:"),
    ("stack: {}\nfunctions: {a: {artifact: x}}", "unknown top-level key 'stack'"),
])
def test_bad_manifests(cl, tmp_path, text, msg):
    (tmp_path / "sukima.yml").write_text(text)
    for cmd in (["deploy", "-f", "sukima.yml"], ["build"]):
        r = run(cl, *cmd, cwd=tmp_path)
        err = r.stderr.decode()
        assert r.returncode == 2, (cmd, err)
        assert msg in err and err.count("\n") == 1, err


def test_missing_artifact_and_dynamic_elf(cl, tmp_path):
    (tmp_path / "sukima.yml").write_text(
        "functions: {gone: {artifact: nothing-here}}\n")
    r = run(cl, "deploy", "-f", "sukima.yml", cwd=tmp_path)
    assert r.returncode == 1 and b"cannot open" in r.stderr
    (tmp_path / "sukima.yml").write_text(
        "functions: {dyn: {artifact: /bin/sh}}\n")
    r = run(cl, "deploy", "-f", "sukima.yml", cwd=tmp_path)
    assert r.returncode == 1 and b"PT_INTERP" in r.stderr


def test_upload_progress(cl, tmp_path):
    big = tmp_path / "big"
    data = open(cloud.example("echo"), "rb").read()
    big.write_bytes(data + b"\0" * (6 << 20))  # trailing bytes: still an ELF
    r = run(cl, "deploy", "bigecho", str(big), env={"SUKIMA_PROGRESS": "1"})
    assert r.returncode == 0, r.stderr
    err = r.stderr.decode()
    assert "upload [" in err and "100%" in err and err.endswith("\n")
    # Not a terminal and not asked for: quiet.
    r = run(cl, "deploy", "bigecho", str(big))
    assert r.returncode == 0 and r.stderr == b""
    # Small bodies never get a bar.
    r = run(cl, "deploy", "smallecho", cloud.example("echo"),
            env={"SUKIMA_PROGRESS": "1"})
    assert r.returncode == 0 and r.stderr == b""

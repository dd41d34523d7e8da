"""test_policy.py: the owner-activity policy of `sukima worker --policy desktop` with real processes.

The owner is simulated: each worker reads its samples from a file
(--policy-source, docs/worker-policy.md) that the test rewrites, so the
transitions Idle -> Owner -> Suspended -> Vacating -> Idle happen when the
test says.  No timing is asserted (a noisy machine): only orders, states
and outcomes; bench/bench_owner.sh measures the latencies.
"""
import json
import os
import subprocess
import time

import pytest

import cloud
from test_worker import call_spec, out, procs_with, submit, upload, wait_result

pytestmark = pytest.mark.skipif(not cloud.vmm_runs_guests(),
                                reason="the monitor cannot run guests here")

AWAY = "input_idle=1000\nload=0\nbattery=0\n"
PRESENT = "input_idle=0\nload=0\nbattery=0\n"


@pytest.fixture
def env(tmp_path, cloud_procs):
    nats = cloud.Nats(tmp_path / "nats").start()
    c = nats.client()
    yield nats, c
    c.close()


def owner(path, text):
    """Rewrite the samples file atomically (the worker reads it each tick)."""
    tmp = str(path) + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def worker_id(w):
    return w.log().split("worker ", 1)[1].split()[0]


def state(c, w):
    v = c.kv_get("sk_workers", worker_id(w))
    return json.loads(v).get("state") if v else None


def wait_state(c, w, want, timeout=20):
    cloud.wait_for(lambda: state(c, w) == want, timeout, interval=0.05,
                   what=f"state {want}:\n" + w.log()[-2000:])


def record(c, cid):
    return json.loads(c.kv_get("sk_calls", cid) or b"{}")


def cpu_ticks(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def desktop(src, *extra):
    return ["--policy", "desktop", "--policy-source", str(src),
            "--input-idle", "5", "--policy-tick", "0.1"] + list(extra)


def test_cycle_vacates_to_another_worker(env, tmp_path):
    """Idle -> Owner -> Suspended -> Vacating -> Idle; the work ends elsewhere."""
    nats, c = env
    src = tmp_path / "owner"
    owner(src, AWAY)
    w1 = cloud.Worker(nats.url, name="desk", slots=1, tmpdir=tmp_path,
                      args=desktop(src, "--suspend-after", "1",
                                   "--vacate-after", "2", "--away", "1",
                                   "--lease", "2")).start()
    wait_state(c, w1, "idle")
    nap = upload(nats, cloud.guest("napwork"))
    spec = call_spec(nap, argv=["4000", "1"], timeout_ms=60000)
    submit(c, spec, b"req")
    cloud.wait_for(lambda: record(c, spec["id"]).get("status") == "running",
                   20, what="running on the desktop worker")
    w2 = cloud.Worker(nats.url, name="server", slots=1,
                      tmpdir=tmp_path).start()

    owner(src, PRESENT)
    wait_state(c, w1, "owner")
    wait_state(c, w1, "suspended")
    wait_state(c, w1, "vacating")
    res = wait_result(c, spec["id"], timeout=60)
    assert res["status"] == "succeeded", res
    assert res["worker"] == worker_id(w2) and res["attempt"] == 2
    assert b"after 4000 ms, 3 bytes in" in out(res)
    assert "stopped by the owner policy (vacating): handed back" in w1.log()

    owner(src, AWAY)
    wait_state(c, w1, "idle")
    log = w1.log()
    order = [log.index(f"policy: {a} -> {b}") for a, b in
             [("idle", "owner"), ("owner", "suspended"),
              ("suspended", "vacating"), ("vacating", "idle")]]
    assert order == sorted(order), log
    # The cgroup line is said once, whichever it is on this PC.
    assert sum("cgroup v2" in ln for ln in log.splitlines()) == 1, log


def test_suspended_vm_resumes_and_finishes(env, tmp_path):
    """Paused longer than its timeout, resumed: the right answer, no timeout."""
    nats, c = env
    src = tmp_path / "owner"
    owner(src, AWAY)
    w = cloud.Worker(nats.url, name="desk", slots=1, tmpdir=tmp_path,
                     args=desktop(src, "--suspend-after", "0",
                                  "--vacate-after", "600", "--away", "0.3",
                                  "--lease", "2")).start()
    wait_state(c, w, "idle")
    nap = upload(nats, cloud.guest("napwork"))
    # A timeout with room for a starved SCHED_IDLE monitor on a busy
    # machine, still shorter than the pause below.
    spec = call_spec(nap, argv=["1000", "4"], timeout_ms=5000)
    submit(c, spec, b"hello")
    cloud.wait_for(lambda: record(c, spec["id"]).get("status") == "running",
                   20, what="running")
    owner(src, PRESENT)
    wait_state(c, w, "suspended")
    t0 = time.monotonic()
    if cloud.have_gateway():
        gw = cloud.Gateway(nats.url).start()
        r = cloud.sukima("nodes", "--gateway", gw.url)
        assert r.returncode == 0 and b" suspended " in r.stdout, r
    mons = [p for p in procs_with(w.cache) if p in procs_with("sukima-vmm")]
    assert mons, "no monitor running"
    before = {p: cpu_ticks(p) for p in mons}
    time.sleep(5.5)  # longer than the function's 5 s timeout
    # Paused: no CPU spent, no result, the lease renewed (not redelivered).
    assert {p: cpu_ticks(p) for p in mons} == before
    assert c.kv_get("sk_results", spec["id"]) is None
    owner(src, AWAY)
    res = wait_result(c, spec["id"], timeout=60)
    assert time.monotonic() - t0 > 5.0
    want = subprocess.run([cloud.guest("napwork"), "1000", "4"],
                          input=b"hello", capture_output=True,
                          timeout=60).stdout
    assert res["status"] == "succeeded", res
    assert out(res) == want and res["attempt"] == 1
    assert "policy: suspended -> idle" in w.log()


def test_owner_state_pulls_nothing(env, tmp_path):
    """Present from the start: nothing is pulled until the owner leaves."""
    nats, c = env
    src = tmp_path / "owner"
    owner(src, PRESENT)
    w = cloud.Worker(nats.url, name="desk", slots=1, tmpdir=tmp_path,
                     args=desktop(src, "--suspend-after", "600",
                                  "--away", "0.3")).start()
    wait_state(c, w, "owner")
    nap = upload(nats, cloud.guest("napwork"))
    spec = call_spec(nap, argv=["0", "1"], timeout_ms=10000)
    submit(c, spec, b"x")
    time.sleep(2.5)  # more than two pull expiries
    assert c.kv_get("sk_results", spec["id"]) is None
    assert record(c, spec["id"]).get("status") is None
    owner(src, AWAY)
    wait_state(c, w, "idle")
    res = wait_result(c, spec["id"], timeout=30)
    assert res["status"] == "succeeded" and res["attempt"] == 1, res


def test_bad_policy_options(tmp_path):
    for args, msg in [(["--policy", "sometimes"], "bad --policy"),
                      (["--suspend-after", "-1"], "bad --suspend-after"),
                      (["--cpu-max", "0"], "bad --cpu-max"),
                      (["--load-max", "x"], "bad --load-max")]:
        r = cloud.sukima("worker", "--nats", "nats://127.0.0.1:1", *args)
        assert r.returncode == 2 and msg.encode() in r.stderr, r.stderr


JAIL_VMM = os.path.join(cloud.BUILD, "test-jail", "sukima-vmm")


@pytest.mark.skipif(not os.path.exists(JAIL_VMM),
                    reason="no test-jail monitor (make unit builds it)")
@pytest.mark.parametrize("warm", ["0", "2"])
def test_seccomp_kill_is_a_monitor_fault(env, tmp_path, warm):
    """A monitor its jail kills (SIGSYS) is reported as such, not as the function's end."""
    nats, c = env
    w = cloud.Worker(nats.url, name="jailed", slots=1, tmpdir=tmp_path,
                     args=["--monitor", JAIL_VMM, "--warm", warm],
                     env=dict(os.environ, SUKIMA_JAIL_TEST="exec")).start()
    echo = upload(nats, cloud.guest("echo"))
    spec = call_spec(echo)
    submit(c, spec, b"hi")
    res = wait_result(c, spec["id"])
    assert res["status"] == "failed", res
    assert res["reason"] == ("monitor killed by its seccomp jail "
                             "(forbidden system call)"), res
    assert "monitor killed by its seccomp jail" in w.log()

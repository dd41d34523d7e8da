"""test_churn.py: PCs leave at any moment and no invocation is lost (issue 6).

Real processes on loopback (and one network namespace for the partition):
a gateway, workers that are SIGKILLed, SIGTERMed, drained or cut off, a
NATS server that restarts.  Every invocation runs tests/guests/slowhash
(100-500 ms, output = SHA-256 of the input), so its result is checkable.
Each test prints what it saw (redeliveries, duplicates dropped).
"""
import base64
import hashlib
import json
import os
import random
import shutil
import subprocess
import threading
import time

import pytest

import cloud
import gwhttp
from natsproto import Client

pytestmark = pytest.mark.skipif(not cloud.vmm_runs_guests(),
                                reason="the monitor cannot run guests here")

HOOKS_BUILD = os.path.join(cloud.BUILD, "test-hooks", "sukima")


def want(body):
    return (hashlib.sha256(body).hexdigest() + "\n").encode()


def deploy(gw, name="slowhash", guest="slowhash"):
    r = gwhttp.call(gw.url, "POST", "/system/artifacts",
                    open(cloud.guest(guest), "rb").read())
    assert r.status in (200, 201), r
    r = gwhttp.call(gw.url, "POST", "/system/functions",
                    json.dumps({"name": name, "digest": r.json()["digest"],
                                "timeout_ms": 20000}))
    assert r.status in (200, 201), r


def submit(gw, body, name="slowhash"):
    r = gwhttp.call(gw.url, "POST", f"/async-function/{name}", body)
    assert r.status == 202, r
    return r.json()["id"]


def submit_many(gw, n, tag, ms=None):
    calls = {}
    for i in range(n):
        body = (f"{ms}:" if ms else "").encode() + f"{tag} {i}".encode()
        calls[submit(gw, body)] = body
    return calls


def missing(c, calls, got):
    """Read the results not seen yet into got; returns how many are missing."""
    for cid in calls:
        if cid not in got:
            v = c.kv_get("sk_results", cid)
            if v:
                got[cid] = json.loads(v)
    return len(calls) - len(got)


def check_exactly_once(c, calls, got, recs=None):
    """Right output once each; returns (redeliveries, duplicates dropped)
    and fills recs with the sk_calls records."""
    bad = [cid for cid, body in calls.items()
           if got[cid]["status"] != "succeeded"
           or base64.b64decode(got[cid]["output_b64"]) != want(body)]
    assert not bad, [got[cid] for cid in bad[:3]]
    # One stored result per invocation (the activation log's entry) and a
    # final record, which follows the commit of the result by a moment.
    recs = {} if recs is None else recs
    deadline = time.monotonic() + 20
    while True:
        si = c.js("STREAM.INFO.KV_sk_results", {"subjects_filter": "$KV.sk_results.*"})
        stored = si["state"].get("subjects") or {}
        odd = [(cid, stored.get("$KV.sk_results." + cid)) for cid in calls
               if stored.get("$KV.sk_results." + cid) != 1]
        for cid in calls:
            if recs.get(cid, {}).get("status") != "succeeded":
                recs[cid] = json.loads(c.kv_get("sk_calls", cid) or b"{}")
        late = [r for r in recs.values() if r.get("status") != "succeeded"]
        if (not odd and not late) or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert not odd, odd[:5]
    assert not late, late[:3]
    redeliveries = sum(r["attempt"] - 1 for r in got.values())
    dups = sum(r.get("duplicates", 0) for r in recs.values())
    return redeliveries, dups


def wait_all(c, calls, got, timeout, each=None):
    """Until every result is in (bounded); each() runs about every 0.5 s."""
    deadline = time.monotonic() + timeout
    while missing(c, calls, got):
        if time.monotonic() > deadline:
            raise TimeoutError(f"{missing(c, calls, got)} of {len(calls)} "
                               "invocations never completed")
        if each:
            each()
        time.sleep(0.5)


@pytest.fixture
def cl(tmp_path, cloud_procs):
    nats = cloud.Nats(tmp_path / "nats").start()
    gw = cloud.Gateway(nats.url, tmpdir=tmp_path).start()
    deploy(gw)
    c = nats.client()
    yield nats, gw, c
    c.close()


def worker_id(w):
    return w.log().split("worker ", 1)[1].split()[0]


def churn(nats, gw, c, tmp_path, leave, n=300):
    """3 workers; every ~2 s one of them leaves by leave(w) and a fresh one
    joins (a chaos thread), until all n invocations are in."""
    gen = [0]

    def fresh():
        gen[0] += 1
        return cloud.Worker(nats.url, name=f"c{gen[0]}", slots=2,
                            tmpdir=tmp_path).start()
    workers = [fresh() for _ in range(3)]
    rnd = random.Random(6)
    gone, stop = [], threading.Event()

    def chaos():
        while not stop.wait(2.0):
            victim = workers.pop(rnd.randrange(len(workers)))
            leave(victim)
            gone.append(victim)
            workers.append(fresh())
    t0 = time.monotonic()
    t = threading.Thread(target=chaos)
    t.start()
    try:
        calls = submit_many(gw, n, "churn")
        got = {}
        wait_all(c, calls, got, 150)
    finally:
        stop.set()
        t.join(60)
    elapsed = time.monotonic() - t0
    for w in gone:
        w.wait(30)
    return calls, got, workers, gone, len(gone), elapsed


def test_churn_sigkill_loses_nothing(cl, tmp_path):
    nats, gw, c = cl
    # Sync callers meanwhile: each gets one answer, the right one, or (queued
    # behind the async load past --start-wait) an honest 503: cancelled,
    # never run.
    answers, stop = [], threading.Event()

    def sync_calls():
        cloud.wait_for(lambda: gwhttp.call(gw.url, "GET", "/system/nodes").json(),
                       30, what="a worker")
        i = 0
        while not stop.is_set() and i < 200:
            body = f"sync {i}".encode()
            i += 1
            r = gwhttp.call(gw.url, "POST", "/function/slowhash", body,
                            timeout=60)
            answers.append((r.status, r.body == want(body), r.body[:80],
                            r.headers.get("x-call-id")))
    t = threading.Thread(target=sync_calls)
    t.start()
    try:
        calls, got, _, _, kills, elapsed = churn(nats, gw, c, tmp_path,
                                                 lambda w: w.kill())
    finally:
        stop.set()
        t.join(90)
    redeliveries, dups = check_exactly_once(c, calls, got)
    assert any(a[0] == 200 for a in answers), answers
    for status, right, text, cid in answers:
        if status == 503 and b"no worker started" in text:
            assert cid and c.kv_get("sk_results", cid) is None, cid
        else:
            assert status == 200 and right, (status, text)
    print(f"\nchurn/SIGKILL: {len(calls)} async and {len(answers)} sync "
          f"({sum(a[0] == 503 for a in answers)} not started in time) "
          f"invocations in {elapsed:.1f} s, "
          f"{kills} workers killed, {redeliveries} redeliveries, "
          f"{dups} duplicates dropped")
    assert kills >= 3


def test_churn_sigterm_only_hands_back(cl, tmp_path):
    nats, gw, c = cl
    calls, got, _, gone, leaves, elapsed = churn(
        nats, gw, c, tmp_path, lambda w: w.signal(15))
    recs = {}
    redeliveries, dups = check_exactly_once(c, calls, got, recs)
    handed = 0
    for w in gone:
        assert w.p.returncode == 0, w.log()
        log = w.log()
        assert "stopped by the drain deadline" not in log
        for line in log.splitlines():
            if "handed back" in line and "invocations delivered" in line:
                handed += int(line.split("handed back ")[1].split()[0])
    # A leave never made an invocation run twice: each ran on one worker;
    # the only redeliveries are the hand-backs (never started).
    assert all(len(r["workers"]) == 1 for r in recs.values()), \
        [r for r in recs.values() if len(r["workers"]) != 1][:3]
    print(f"\nchurn/SIGTERM: {len(calls)} invocations in {elapsed:.1f} s, "
          f"{leaves} graceful leaves, {handed} handed back, "
          f"{redeliveries} redeliveries, {dups} duplicates dropped")
    assert dups == 0
    assert leaves >= 3


def test_drain_request_and_nodes(cl, tmp_path):
    """Drain through the gateway and with `sukima worker --drain`: state
    draining in /system/nodes, running work finishes, then the entry goes."""
    nats, gw, c = cl
    a = cloud.Worker(nats.url, name="da", slots=2, tmpdir=tmp_path).start()
    b = cloud.Worker(nats.url, name="db", slots=2, tmpdir=tmp_path).start()
    stay = cloud.Worker(nats.url, name="dstay", slots=2, tmpdir=tmp_path).start()
    calls = submit_many(gw, 8, "drain", ms=5000)
    # Some are running on a before we ask it to go.
    aid = worker_id(a)
    cloud.wait_for(lambda: any(
        json.loads(c.kv_get("sk_calls", cid) or b"{}").get("worker") == aid
        for cid in calls), 20, what="work on da")
    r = gwhttp.call(gw.url, "POST", f"/system/nodes/{worker_id(a)}/drain")
    assert r.status == 202, r
    assert r.json() == {"id": worker_id(a), "state": "draining"}

    def state_of(wid):
        nodes = gwhttp.call(gw.url, "GET", "/system/nodes").json()
        return next((n["state"] for n in nodes if n["id"] == wid), None)
    # Its running work (5 s) keeps it listed as draining for a while.
    seen = cloud.wait_for(lambda: state_of(aid) in ("draining", None) and
                          (state_of(aid) or "gone"), 10, interval=0.02,
                          what="draining")
    assert seen == "draining"
    assert a.wait(30) == 0
    assert state_of(worker_id(a)) is None
    assert "drain requested over NATS" in a.log()
    r = cloud.sukima("worker", "--nats", nats.url, "--drain", worker_id(b))
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == {"id": worker_id(b), "state": "draining"}
    assert b.wait(30) == 0
    assert state_of(worker_id(b)) is None
    got = {}
    wait_all(c, calls, got, 60)
    check_exactly_once(c, calls, got)
    for cid in calls:
        assert len(json.loads(c.kv_get("sk_calls", cid))["workers"]) == 1
    # Unknown workers: a clear answer, never a hang.
    r = gwhttp.call(gw.url, "POST", "/system/nodes/nosuchworker/drain")
    assert r.status == 404, r
    r = gwhttp.call(gw.url, "POST", f"/system/nodes/{worker_id(stay)}/nope")
    assert r.status == 404, r
    r = cloud.sukima("worker", "--nats", nats.url, "--drain", "nosuchworker")
    assert r.returncode == 1 and b"no worker nosuchworker" in r.stderr
    assert stay.running()


def test_lost_worker_leaves_membership_and_work(cl, tmp_path):
    """SIGKILL: the entry goes within the membership bound (3 s TTL) and the
    work it held is redelivered after the lease; the record names both."""
    nats, gw, c = cl
    lost = cloud.Worker(nats.url, name="lost", slots=2, tmpdir=tmp_path).start()
    calls = submit_many(gw, 2, "lost", ms=4000)
    lid = worker_id(lost)
    cloud.wait_for(lambda: all(
        json.loads(c.kv_get("sk_calls", cid) or b"{}").get("status") == "running"
        for cid in calls), 20, what="both running")
    taker = cloud.Worker(nats.url, name="taker", slots=2, tmpdir=tmp_path).start()
    lost.kill()
    cloud.wait_for(lambda: c.kv_get("sk_workers", lid) is None, 10,
                   what="membership entry gone")
    got = {}
    wait_all(c, calls, got, 60)
    check_exactly_once(c, calls, got)
    for cid in calls:
        r = gwhttp.call(gw.url, "GET", f"/system/invocations/{cid}").json()
        assert r["attempts"] == 2 and r["workers"] == [lid, worker_id(taker)], r
        assert r["worker"] == worker_id(taker)


# --- partition: a worker in its own network namespace ---------------------

class NsNats(cloud.Nats):
    """nats-server listening on the host side of the veth pair."""

    host = None

    @property
    def url(self):
        return f"nats://{self.host}:{self.port}"

    def _write_conf(self):
        super()._write_conf()
        with open(self.conf) as f:
            conf = f.read().replace("listen: 127.0.0.1:", f"listen: {self.host}:")
        with open(self.conf, "w") as f:
            f.write(conf)

    def start(self, timeout=15.0):
        self.port = self.port or cloud.free_port()
        self._write_conf()
        self._spawn([cloud.NATS_SERVER, "-c", self.conf],
                    os.path.join(self.dir, "nats.log"))
        cloud.wait_for(lambda: cloud.port_open(self.port, self.host), timeout,
                       what="nats-server on the veth")
        self._wait_jetstream(timeout)
        return self


class NsWorker(cloud.Worker):
    ns = None

    def _spawn(self, argv, logpath, env=None):
        return super()._spawn(["ip", "netns", "exec", self.ns] + argv,
                              logpath, env)


def ip(*args, check=True):
    return subprocess.run(["ip"] + list(args), capture_output=True,
                          timeout=10, check=check)


@pytest.fixture
def netns():
    """A namespace and a veth pair with a private /30; removed after."""
    if os.geteuid() != 0 or not shutil.which("ip"):
        pytest.skip("needs root and iproute2")
    tag = f"{os.getpid() % 10000}"
    ns, host_if, ns_if = f"sk-part-{tag}", f"skh{tag}", f"skn{tag}"
    used = ip("-4", "addr").stdout.decode()
    for third in range(200, 250):
        net = f"10.231.{third}"
        if net + "." not in used:
            break
    try:
        ip("netns", "add", ns)
        ip("link", "add", host_if, "type", "veth", "peer", "name", ns_if)
        ip("link", "set", ns_if, "netns", ns)
        ip("addr", "add", f"{net}.1/30", "dev", host_if)
        ip("link", "set", host_if, "up")
        ip("netns", "exec", ns, "ip", "addr", "add", f"{net}.2/30", "dev", ns_if)
        ip("netns", "exec", ns, "ip", "link", "set", ns_if, "up")
        ip("netns", "exec", ns, "ip", "link", "set", "lo", "up")
        yield ns, ns_if, f"{net}.1"
    finally:
        cloud.stop_all()  # the worker inside goes before its namespace
        ip("link", "del", host_if, check=False)
        ip("netns", "del", ns, check=False)


def test_partition_redelivers_and_drops_late_results(netns, tmp_path, cloud_procs):
    ns, ns_if, addr = netns
    NsNats.host = addr
    nats = NsNats(tmp_path / "nats").start()
    gw = cloud.Gateway(nats.url, tmpdir=tmp_path).start()
    deploy(gw)
    c = Client(nats.url)
    try:
        NsWorker.ns = ns
        cut = NsWorker(nats.url, name="cutoff", slots=3, tmpdir=tmp_path).start()
        cid_cut = worker_id(cut)
        calls = submit_many(gw, 3, "partition", ms=3000)
        cloud.wait_for(lambda: all(
            json.loads(c.kv_get("sk_calls", cid) or b"{}").get("worker") == cid_cut
            for cid in calls), 20, what="all three running on the cut-off worker")
        other = cloud.Worker(nats.url, name="other", slots=3, tmpdir=tmp_path).start()
        # Cut on the namespace's side: the host keeps its address.
        ip("netns", "exec", ns, "ip", "link", "set", ns_if, "down")
        try:
            got = {}
            wait_all(c, calls, got, 60)
            assert all(r["worker"] == worker_id(other) for r in got.values()), got
        finally:
            ip("netns", "exec", ns, "ip", "link", "set", ns_if, "up")
        # Back on the network: its late results lose to the committed ones.
        cloud.wait_for(lambda: sum(json.loads(c.kv_get("sk_calls", cid))
                                   .get("duplicates", 0) for cid in calls) == 3,
                       60, interval=0.5, what="three duplicates counted")
        redeliveries, dups = check_exactly_once(c, calls, got)
        assert cut.running(), "the cut-off worker must come back by itself"
        print(f"\npartition: {len(calls)} invocations, {redeliveries} "
              f"redeliveries, {dups} late results dropped as duplicates")
        assert dups == 3 and redeliveries == 3
        cloud.wait_for(lambda: "\nsukima_duplicate_results_total 3\n" in
                       gwhttp.call(gw.url, "GET", "/metrics").body.decode(),
                       10, what="the duplicate counter")
    finally:
        c.close()


def test_nats_restart_mid_run_loses_nothing(cl, tmp_path):
    nats, gw, c = cl
    for i in range(2):
        cloud.Worker(nats.url, name=f"r{i}", slots=4, tmpdir=tmp_path).start()
    calls = submit_many(gw, 40, "before")
    c.close()
    # Calls keep coming while NATS restarts: each 202 must complete once
    # (a 503 is an honest "not accepted").
    more, refused, stop = {}, [0], threading.Event()

    def keep_submitting():
        i = 0
        while not stop.is_set() and i < 2000:
            body = f"during {i}".encode()
            i += 1
            try:
                r = gwhttp.call(gw.url, "POST", "/async-function/slowhash",
                                body, timeout=30)
            except OSError:
                refused[0] += 1
                continue
            if r.status == 202:
                more[r.json()["id"]] = body
            else:
                refused[0] += 1
            time.sleep(0.05)
    t = threading.Thread(target=keep_submitting)
    t.start()
    try:
        time.sleep(0.5)
        nats.restart()
        # The gateway reconnects by itself and takes new calls.
        n0 = len(more)
        cloud.wait_for(lambda: len(more) >= n0 + 20, 60, interval=0.1,
                       what="calls accepted after the restart")
    finally:
        stop.set()
        t.join(60)
    calls.update(more)
    c = nats.client()
    try:
        got = {}
        wait_all(c, calls, got, 120)
        redeliveries, dups = check_exactly_once(c, calls, got)
        print(f"\nnats restart: {len(calls)} invocations accepted "
              f"({refused[0]} refused while it was down), {redeliveries} "
              f"redeliveries, {dups} duplicates dropped")
    finally:
        c.close()


def test_poison_work_fails_after_the_attempt_limit(cl, tmp_path):
    """Its worker dies each time it runs it: failed after 5 attempts."""
    if not os.path.exists(HOOKS_BUILD):
        pytest.skip("build/test-hooks/sukima not built")
    nats, gw, c = cl
    deploy(gw, name="poison", guest="slowhash")
    keep = cloud.SUKIMA
    cloud.SUKIMA = HOOKS_BUILD  # Worker.start() reads it at spawn time
    try:
        cid = submit(gw, b"deadly", name="poison")
        fine = submit_many(gw, 5, "bystander")
        dead = []
        res = None
        for i in range(12):
            w = cloud.Worker(nats.url, name=f"p{i}", slots=1, tmpdir=tmp_path,
                             env={"SUKIMA_TEST_DIE_FN": "poison"}).start()
            try:
                res = cloud.wait_for(
                    lambda: (not w.running()) or c.kv_get("sk_results", cid),
                    30, interval=0.1, what="death or the verdict")
            except TimeoutError:
                res = None
            if not w.running():
                dead.append(w)
                assert "test hook: this worker dies now" in w.log()
                res = None
                continue
            break
        res = json.loads(c.kv_get("sk_results", cid))
    finally:
        cloud.SUKIMA = keep
    assert res["status"] == "failed", res
    assert "gave up after 5 attempts" in res["reason"], res
    assert len(dead) == 5, [w.log()[-400:] for w in dead]
    rec = gwhttp.call(gw.url, "GET", f"/system/invocations/{cid}").json()
    assert rec["status"] == "failed" and len(rec["workers"]) == 5, rec
    got = {}
    wait_all(c, fine, got, 60)
    check_exactly_once(c, fine, got)
    # The normal build has no such hook.
    r = subprocess.run(["grep", "-c", "SUKIMA_TEST_DIE_FN", cloud.SUKIMA],
                       capture_output=True)
    assert r.stdout.strip() == b"0"

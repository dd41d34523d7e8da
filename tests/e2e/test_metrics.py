"""test_metrics.py: GET /metrics parses as Prometheus text format and its counts match the invocations made."""
import math
import re

import pytest

import cloud
from cloud import sukima, wait_for
from gwhttp import call

pytestmark = pytest.mark.skipif(not cloud.have_gateway(),
                                reason="sukima gateway not built")

NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
LABEL = r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"'


class Exposition:
    """A strict parser of the Prometheus text format (0.0.4)."""

    def __init__(self, text):
        self.types, self.helps, self.samples = {}, {}, []
        assert text.endswith("\n"), "exposition must end with a newline"
        for n, line in enumerate(text.split("\n")[:-1], 1):
            where = f"line {n}: {line!r}"
            if line.startswith("#"):
                m = re.fullmatch(r"# (HELP|TYPE) (" + NAME + r") (.*)", line)
                assert m, where
                if m.group(1) == "TYPE":
                    assert m.group(3) in ("counter", "gauge", "histogram",
                                          "summary", "untyped"), where
                    assert m.group(2) not in self.types, "TYPE twice " + where
                    self.types[m.group(2)] = m.group(3)
                else:
                    self.helps[m.group(2)] = m.group(3)
                continue
            m = re.fullmatch(r"(" + NAME + r")(?:\{(.*)\})? (\S+)", line)
            assert m, where
            name, lab, val = m.groups()
            labels = {}
            if lab:
                pos = 0
                while pos < len(lab):
                    lm = re.compile(LABEL).match(lab, pos)
                    assert lm, where
                    assert lm.group(1) not in labels, "label twice " + where
                    labels[lm.group(1)] = lm.group(2)
                    pos = lm.end()
                    if pos < len(lab):
                        assert lab[pos] == ",", where
                        pos += 1
            v = float(val)  # also accepts +Inf / NaN spellings of Python
            base = re.sub(r"_(bucket|sum|count)$", "", name)
            t = self.types.get(name) or self.types.get(base)
            assert t, "sample before its TYPE: " + where
            if t == "counter" or name.endswith(("_bucket", "_count")):
                assert v >= 0 and not math.isnan(v), where
            self.samples.append((name, labels, v))

    def get(self, name, **labels):
        """Sum of the samples named (name) whose labels include (labels)."""
        return sum(v for n, l, v in self.samples
                   if n == name and all(l.get(k) == x
                                        for k, x in labels.items()))

    def has(self, name, **labels):
        return any(n == name and all(l.get(k) == x for k, x in labels.items())
                   for n, l, v in self.samples)

    def check_histogram(self, name, **labels):
        """Buckets cumulative, +Inf bucket == _count; returns the count."""
        key = tuple(sorted(labels.items()))
        series = {}
        for n, l, v in self.samples:
            if n != name + "_bucket":
                continue
            rest = {k: x for k, x in l.items() if k != "le"}
            if all(rest.get(k) == x for k, x in labels.items()):
                series.setdefault(tuple(sorted(rest.items())), []).append(
                    (float(l["le"]), v))
        assert series, f"no buckets for {name} {labels}"
        total = 0
        for k, bs in series.items():
            les = [le for le, _ in bs]
            assert les == sorted(les) and les[-1] == math.inf, (name, k)
            counts = [c for _, c in bs]
            assert counts == sorted(counts), f"{name} {k} not cumulative"
            lab = dict(k)
            assert counts[-1] == self.get(name + "_count", **lab), (name, k)
            total += counts[-1]
        return total


def scrape(gw):
    r = call(gw.url, "GET", "/metrics")
    assert r.status == 200
    assert r.headers["content-type"].startswith("text/plain")
    return Exposition(r.body.decode())


@pytest.fixture(scope="module")
def cl(tmp_path_factory):
    if not cloud.vmm_runs_guests():
        pytest.skip("the monitor cannot run guests here")
    tmp = tmp_path_factory.mktemp("metrics")
    procs = []
    try:
        nats = cloud.Nats(tmp / "nats").start()
        procs.append(nats)
        gw = cloud.Gateway(nats.url, tmpdir=tmp).start()
        procs.append(gw)
        ws = [cloud.Worker(nats.url, name=f"mw{i}", slots=2, tmpdir=tmp).start() for i in range(2)]
        procs += ws
        yield {"gw": gw, "workers": ws, "env": {"SUKIMA_GATEWAY": gw.url},
               "nats": nats}
    finally:
        for p in reversed(procs):
            p.stop()


def deploy(cl, name, elf, *args):
    r = sukima("deploy", name, elf, *args, env=cl["env"])
    assert r.returncode == 0, r.stderr


def test_counts_match_invocations(cl):
    gw = cl["gw"]
    before = scrape(gw)
    assert before.get("gateway_function_invocation_total",
                      function_name="mecho") == 0
    deploy(cl, "mecho", cloud.example("echo"))
    deploy(cl, "mfail", cloud.guest("exitcode"), "--arg", "3")
    ok, bad, queued = 7, 3, 4
    for i in range(ok):
        r = call(gw.url, "POST", "/function/mecho", body=b"x%d" % i)
        assert r.status == 200 and r.body == b"x%d" % i
    for i in range(bad):
        assert call(gw.url, "POST", "/function/mfail").status == 502
    ids = []
    for i in range(queued):
        r = call(gw.url, "POST", "/async-function/mecho", body=b"a")
        assert r.status == 202
        ids.append(r.json()["id"])
    # Unknown names make no series (a 404 is not an invocation of anything).
    assert call(gw.url, "POST", "/function/nosuch").status == 404
    for i in ids:
        wait_for(lambda: call(gw.url, "GET", f"/system/invocations/{i}")
                 .json().get("status") == "succeeded", 30, 0.1,
                 "async call done")

    m = scrape(gw)
    assert m.types["gateway_function_invocation_total"] == "counter"
    assert m.types["gateway_functions_seconds"] == "histogram"
    assert m.get("gateway_function_invocation_total",
                 function_name="mecho", code="200") == ok
    assert m.get("gateway_function_invocation_total",
                 function_name="mecho", code="202") == queued
    assert m.get("gateway_function_invocation_total",
                 function_name="mfail", code="502") == bad
    assert not m.has("gateway_function_invocation_total",
                     function_name="nosuch")
    assert m.check_histogram("gateway_functions_seconds",
                             function_name="mecho", code="200") == ok
    assert m.check_histogram("gateway_functions_seconds",
                             function_name="mfail", code="502") == bad
    assert m.get("gateway_functions_seconds_sum", function_name="mecho",
                 code="200") > 0

    # Cluster figures: workers refresh their entries every second.
    total = ok + bad + queued

    def settled():
        x = scrape(gw)
        runs = (x.check_histogram("sukima_invocation_seconds", mode="warm")
                + x.check_histogram("sukima_invocation_seconds", mode="cold"))
        return x if (runs == total and
                     x.get("sukima_worker_invocations_total") == total) \
            else None
    m = wait_for(settled, 15, 0.2, "worker figures in /metrics")
    assert m.get("sukima_workers", state="idle") == 2
    assert sum(v for n, l, v in m.samples if n == "sukima_workers") == 2
    assert m.get("sukima_slots") == 4
    assert m.get("sukima_slots", state="busy") + \
        m.get("sukima_slots", state="free") == 4
    assert m.get("sukima_redeliveries_total") == 0
    assert m.get("sukima_duplicate_results_total") == 0
    assert m.get("sukima_queue_depth", arch="x86_64") == 0
    assert m.has("sukima_queue_in_flight", arch="x86_64")
    m.check_histogram("sukima_vm_start_seconds")
    infos = [l for n, l, v in m.samples if n == "sukima_worker_info"]
    assert sorted(l["name"] for l in infos) == ["mw0", "mw1"]
    assert all(l["arch"] == "x86_64" and l["host"] and l["os"] for l in infos)
    assert m.get("sukima_worker_slots") == 4
    for l in infos:
        assert m.get("sukima_worker_slots", worker=l["worker"]) == 2
        assert m.has("sukima_worker_load1", worker=l["worker"])
    assert m.get("gateway_service_count", function_name="mecho") == 1
    assert m.get("sukima_gateway_calls_total", kind="sync") >= ok + bad


def test_queue_depth_and_redelivery(cl, tmp_path):
    gw, nats = cl["gw"], cl["nats"]
    deploy(cl, "mspin", cloud.guest("hostile_loop"), "--timeout", "6s")
    r = call(gw.url, "POST", "/async-function/mspin")
    assert r.status == 202
    cid = r.json()["id"]
    rec = wait_for(lambda: (lambda j: j if j.get("status") == "running"
                            and j.get("worker") else None)(
        call(gw.url, "GET", f"/system/invocations/{cid}").json()),
        30, 0.1, "spinning call running")
    nodes = call(gw.url, "GET", "/system/nodes").json()
    name = next(n["name"] for n in nodes if n["id"] == rec["worker"])
    victim = next(w for w in cl["workers"] if w.wname == name)
    before = scrape(gw)
    assert before.get("sukima_queue_in_flight", arch="x86_64") == 1
    # The worker dies with the call: its lease lapses, the other worker
    # gets the same message again (a redelivery).
    victim.kill()
    m = wait_for(lambda: (lambda x: x if x.get("sukima_redeliveries_total")
                          >= 1 else None)(scrape(gw)),
                 30, 0.2, "a redelivery counted")
    assert m.get("sukima_redeliveries_total") == 1
    wait_for(lambda: call(gw.url, "GET", f"/system/invocations/{cid}")
             .json().get("status") == "timed_out", 40, 0.2, "timed out")


def test_two_gateways_scope(cl):
    """Per-gateway series count what each gateway answered; cluster series
    are the same on both (docs/api.md, "Scope")."""
    gw1 = cl["gw"]
    gw2 = cloud.Gateway(cl["nats"].url).start()
    try:
        deploy(cl, "mtwo", cloud.example("echo"))
        for i in range(3):
            assert call(gw2.url, "POST", "/function/mtwo",
                        body=b"2").status == 200
        assert call(gw1.url, "POST", "/function/mtwo",
                    body=b"1").status == 200

        def same():
            a, b = scrape(gw1), scrape(gw2)
            keys = ("sukima_slots", "sukima_workers", "sukima_queue_depth")
            return (a, b) if all(a.get(k) == b.get(k) for k in keys) \
                else None
        a, b = wait_for(same, 15, 0.2, "cluster series to agree")
        assert a.get("gateway_function_invocation_total",
                     function_name="mtwo") == 1
        assert b.get("gateway_function_invocation_total",
                     function_name="mtwo") == 3
        assert b.get("sukima_workers") == a.get("sukima_workers") >= 1
        # Worker counters: gw2 never saw the worker killed earlier, so it
        # may count less than gw1 (what departed before it started).
        assert 0 < b.get("sukima_worker_invocations_total") <= \
            a.get("sukima_worker_invocations_total")
    finally:
        gw2.stop()

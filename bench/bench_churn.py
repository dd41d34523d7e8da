"""bench_churn.py: the cloud under churn (issue 6), driven by bench_churn.sh.

One run, three workers (BENCH_SLOTS slots each), the slowhash guest (100-500
ms, output checked): without churn, then with a worker SIGKILLed about every
2 s and replaced.  Per phase: a paced run (BENCH_RATE calls/s, BENCH_N calls)
for latency (queued -> ended, from the result) and a burst (BENCH_BURST
calls at once) for throughput.  Under churn also: the added latency of the
invocations a death hit (latency minus the no-churn median) and the recovery
time (a worker's death -> its invocation's completion elsewhere).
"""
import base64
import hashlib
import json
import os
import random
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests", "e2e"))
import cloud  # noqa: E402
import gwhttp  # noqa: E402

N = int(os.environ.get("BENCH_N", "200"))
RATE = float(os.environ.get("BENCH_RATE", "10"))
BURST = int(os.environ.get("BENCH_BURST", "150"))
SLOTS = int(os.environ.get("BENCH_SLOTS", "2"))
LEASE_MS = 3000


def pct(xs, p):
    xs = sorted(xs)
    if not xs:
        return float("nan")
    return xs[min(len(xs) - 1, int(round(p / 100.0 * (len(xs) - 1))))]


class Cloud:
    def __init__(self, tmp):
        self.tmp = tmp
        self.nats = cloud.Nats(os.path.join(tmp, "nats")).start()
        self.gw = cloud.Gateway(self.nats.url, tmpdir=tmp).start()
        self.c = self.nats.client()
        self.gen = 0
        self.workers = [self.fresh() for _ in range(3)]
        self.kills = []  # (wall time us, worker id)
        elf = open(os.environ["BENCH_FN"], "rb").read()
        d = gwhttp.call(self.gw.url, "POST", "/system/artifacts", elf).json()["digest"]
        r = gwhttp.call(self.gw.url, "POST", "/system/functions",
                        json.dumps({"name": "slowhash", "digest": d,
                                    "timeout_ms": 20000}))
        assert r.status in (200, 201), r

    def fresh(self):
        self.gen += 1
        return cloud.Worker(self.nats.url, name=f"b{self.gen}", slots=SLOTS,
                            tmpdir=self.tmp).start()

    def chaos(self, stop):
        rnd = random.Random(6)
        while not stop.wait(2.0):
            w = self.workers.pop(rnd.randrange(len(self.workers)))
            wid = w.log().split("worker ", 1)[1].split()[0]
            self.kills.append((int(time.time() * 1e6), wid))
            w.kill()
            self.workers.append(self.fresh())

    def run(self, n, rate, tag, churn):
        """n calls (paced at rate/s, or all at once); returns the results."""
        calls, stop = {}, threading.Event()
        t = threading.Thread(target=self.chaos, args=(stop,)) if churn else None
        if t:
            t.start()
        try:
            t0 = time.monotonic()
            for i in range(n):
                if rate:
                    delay = t0 + i / rate - time.monotonic()
                    if delay > 0:
                        time.sleep(delay)
                body = f"{tag} {i}".encode()
                r = gwhttp.call(self.gw.url, "POST", "/async-function/slowhash", body)
                assert r.status == 202, r
                calls[r.json()["id"]] = body
            got = {}
            deadline = time.monotonic() + 150
            while len(got) < n and time.monotonic() < deadline:
                for cid in calls:
                    if cid not in got:
                        v = self.c.kv_get("sk_results", cid)
                        if v:
                            got[cid] = json.loads(v)
                time.sleep(0.2)
            wall = time.monotonic() - t0
        finally:
            stop.set()
            if t:
                t.join(60)
        ok = sum(1 for cid, body in calls.items() if cid in got
                 and got[cid]["status"] == "succeeded"
                 and base64.b64decode(got[cid]["output_b64"])
                 == (hashlib.sha256(body).hexdigest() + "\n").encode())
        return calls, got, ok, wall

    def records(self, ids):
        return {cid: json.loads(self.c.kv_get("sk_calls", cid) or b"{}") for cid in ids}


def main():
    tmp = os.environ["BENCH_TMP"]
    cl = Cloud(tmp)
    rows = []
    try:
        lat = {}
        for churn in (False, True):
            name = "churn" if churn else "no churn"
            calls, got, ok, _ = cl.run(N, RATE, f"paced {name}", churn)
            ms = [(r["ended_at_us"] - r["queued_at_us"]) / 1000 for r in got.values()]
            lat[churn] = (calls, got, ms)
            kills0 = len(cl.kills)
            bcalls, bgot, bok, wall = cl.run(BURST, None, f"burst {name}", churn)
            redeliv = sum(r["attempt"] - 1 for r in list(got.values()) + list(bgot.values()))
            rows.append((name, len(calls) + len(bcalls), ok + bok,
                         len(bgot) / wall, pct(ms, 50), pct(ms, 99), redeliv,
                         len(cl.kills) if churn else 0))
            del kills0
        print(f"{'phase':<9} {'calls':>5} {'right':>5} {'tput/s':>7} "
              f"{'p50 ms':>7} {'p99 ms':>7} {'redeliv':>7} {'kills':>5}")
        for r in rows:
            print(f"{r[0]:<9} {r[1]:>5} {r[2]:>5} {r[3]:>7.1f} {r[4]:>7.0f} "
                  f"{r[5]:>7.0f} {r[6]:>7} {r[7]:>5}")
        base = pct(lat[False][2], 50)
        calls, got, _ = lat[True]
        recs = cl.records(calls)
        killed = dict((wid, t) for t, wid in cl.kills)
        added, recovery = [], []
        for cid, r in got.items():
            if r["attempt"] > 1:
                added.append((r["ended_at_us"] - r["queued_at_us"]) / 1000 - base)
            for wid in recs[cid].get("workers", []):
                if wid in killed and wid != r["worker"]:
                    recovery.append((r["ended_at_us"] - killed[wid]) / 1000)
        print()
        print(f"invocations hit by a death: {len(added)}; added latency "
              f"p50 {pct(added, 50):.0f} ms, p99 {pct(added, 99):.0f} ms, "
              f"max {max(added) if added else float('nan'):.0f} ms "
              f"(target <= lease {LEASE_MS} ms + 1000 ms)")
        print(f"recovery time (death -> completion elsewhere), n={len(recovery)}: "
              f"p50 {pct(recovery, 50):.0f} ms, p90 {pct(recovery, 90):.0f} ms, "
              f"p99 {pct(recovery, 99):.0f} ms, max "
              f"{max(recovery) if recovery else float('nan'):.0f} ms")
        total = sum(r[1] for r in rows)
        right = sum(r[2] for r in rows)
        print(f"completion: {right}/{total} right results "
              f"({100.0 * right / total:.1f} %)")
        return 0 if right == total else 1
    finally:
        cl.c.close()
        cloud.stop_all()


if __name__ == "__main__":
    sys.exit(main())

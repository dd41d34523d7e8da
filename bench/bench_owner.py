"""bench_owner.py: the owner's view of a worker on the same PC (issue 7); run by bench_owner.sh.

1. Slowdown of the owner's foreground jobs, alternating alone / beside a
   worker (policy always, one slot per CPU) saturated with CPU-bound
   functions (sha256gen, 64 MiB per call):
     cpu:     a fixed computation on every core (sha256gen natively, one
              process per CPU);
     compile: `make -j<CPUs>` of the monitor (12 C files) into a fresh O=.
2. Owner activity -> the worker pulls nothing new: a desktop worker (the
   default 0.25 s tick) reads its samples from a file; time from the file
   saying "input now" to the worker's "policy: idle -> owner" log line.
3. Vacating -> the work runs elsewhere: from the desktop worker's
   "suspended -> vacating" line to the call's record naming a second
   worker as running it.
Prints a table with medians and ratios; raw lines go to
$SUKIMA_BUILD/reports/bench_owner.tsv.
"""
import datetime
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "e2e"))
import cloud  # noqa: E402

REPS_CPU = int(os.environ.get("BENCH_OWNER_CPU_REPS", "5"))
REPS_CC = int(os.environ.get("BENCH_OWNER_CC_REPS", "3"))
REPS_LAT = int(os.environ.get("BENCH_OWNER_LAT_REPS", "5"))
CPUS = os.cpu_count() or 1
TSV = os.environ.get("BENCH_OWNER_TSV",
                     os.path.join(cloud.BUILD, "reports", "bench_owner.tsv"))
tsv = []


def upload(nats, path):
    import hashlib
    data = open(path, "rb").read()
    digest = hashlib.sha256(data).hexdigest()
    r = cloud.sukima("objstore", "--nats", nats.url, "put", digest, path)
    if r.returncode:
        raise RuntimeError(r.stderr.decode())
    return digest


def spec(digest, argv, timeout_ms=60000):
    return {"id": uuid.uuid4().hex, "function": "bench", "version": 1,
            "digest": digest, "mem_mib": 64, "timeout_ms": timeout_ms,
            "max_output": 4096, "argv": argv, "env": {}, "reply": "",
            "callback": "", "queued_at_us": int(time.time() * 1e6)}


def submit(c, s, body=b"x"):
    c.js_publish("sk.work.x86_64", body,
                 {"Sk-Call": json.dumps(s), "Nats-Msg-Id": s["id"]})


class Feeder(threading.Thread):
    """Keeps the work queue BACKLOG calls ahead of the worker while on."""

    def __init__(self, nats, digest, backlog):
        super().__init__(daemon=True)
        self.nats, self.digest, self.backlog = nats, digest, backlog
        self.on = threading.Event()
        self.quit = False
        self.sent = 0

    def run(self):
        c = self.nats.client()
        try:
            while not self.quit:
                if not self.on.is_set():
                    time.sleep(0.05)
                    continue
                info = c.js("CONSUMER.INFO.SUKIMA_WORK.workers-x86_64")
                waiting = info.get("num_pending", 0) + info.get(
                    "num_ack_pending", 0)
                for _ in range(max(0, self.backlog - waiting)):
                    submit(c, spec(self.digest, ["64"]))
                    self.sent += 1
                time.sleep(0.1)
        finally:
            c.close()


def quiesce(c, timeout=60):
    """Drop the backlog, wait for the running calls to end: True if quiet.

    At SCHED_IDLE the worker's calls may starve while other processes keep
    the CPUs busy: then the "alone" run is not alone, and we say so."""
    c.js("STREAM.PURGE.SUKIMA_WORK", {})

    def idle():
        i = c.js("CONSUMER.INFO.SUKIMA_WORK.workers-x86_64")
        return i.get("num_pending", 0) + i.get("num_ack_pending", 0) == 0
    try:
        cloud.wait_for(idle, timeout, interval=0.1, what="worker idle")
        return True
    except TimeoutError:
        return False


def cpu_job():
    g = os.path.join(cloud.BUILD, "guests", "sha256gen.musl")
    t = time.monotonic()
    ps = [subprocess.Popen([g, "160"], stdout=subprocess.DEVNULL)
          for _ in range(CPUS)]
    for p in ps:
        p.wait()
    return time.monotonic() - t


def compile_job():
    with tempfile.TemporaryDirectory(prefix="sukima-bench-cc-") as o:
        t = time.monotonic()
        subprocess.run(["make", "-s", f"-j{CPUS}", f"O={o}",
                        f"{o}/sukima-vmm"], cwd=ROOT, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        return time.monotonic() - t


def slowdown(name, job, reps, feeder, c):
    alone, loaded = [], []
    job()  # warm the page cache
    for i in range(reps):
        feeder.on.clear()
        if not quiesce(c):
            print(f"bench_owner: {name} run {i}: the worker's calls did "
                  "not end in 60 s (starved by other load): not alone")
        alone.append(job())
        feeder.on.set()
        time.sleep(1.5)  # the worker saturated before the job starts
        loaded.append(job())
        tsv.append(f"{name}\t{i}\t{alone[-1]:.3f}\t{loaded[-1]:.3f}")
    feeder.on.clear()
    return statistics.median(alone), statistics.median(loaded)


def log_time(line):
    """CLOCK_REALTIME seconds of a worker log line (sk_log's stamp)."""
    stamp = line.split(" ", 1)[0].rstrip("Z")
    dt = datetime.datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%f")
    return dt.replace(tzinfo=datetime.timezone.utc).timestamp()


def wait_line(w, text, after=0, timeout=20):
    def find():
        lines = [ln for ln in w.log().splitlines() if text in ln]
        return lines[after] if len(lines) > after else None
    return cloud.wait_for(find, timeout, interval=0.01, what=text)


def owner(path, present):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write("input_idle=0\n" if present else "input_idle=1000\n")
    os.replace(tmp, path)


def main():
    tmp = tempfile.mkdtemp(prefix="sukima-bench-owner-")
    os.makedirs(os.path.dirname(TSV), exist_ok=True)
    rows = []
    try:
        nats = cloud.Nats(os.path.join(tmp, "nats")).start()
        c = nats.client()
        sha = upload(nats, os.path.join(cloud.BUILD, "guests",
                                        "sha256gen.musl"))
        nap = upload(nats, os.path.join(cloud.BUILD, "guests",
                                        "napwork.musl"))

        # 1. slowdown beside a saturated worker (policy always)
        w = cloud.Worker(nats.url, name="busy", slots=CPUS, tmpdir=tmp,
                         args=["--lease", "10"]).start()
        feeder = Feeder(nats, sha, CPUS + 1)
        feeder.start()
        for name, job, reps in [("cpu", cpu_job, REPS_CPU),
                                ("compile", compile_job, REPS_CC)]:
            a, b = slowdown(name, job, reps, feeder, c)
            rows.append((f"{name}: alone / beside the worker (s)",
                         f"{a:.2f} / {b:.2f}",
                         f"{100 * (b / a - 1):+.1f} %", "<= +3 %"))
        feeder.quit = True
        feeder.join(5)
        quiesce(c)
        done = json.loads(c.kv_get("sk_workers", w.log().split(
            "worker ", 1)[1].split()[0]) or b"{}").get("done", 0)
        rows.append(("calls the worker finished meanwhile", str(done),
                     f"{feeder.sent} sent", ""))
        w.stop()

        # 2. owner activity -> pulling nothing new (default tick 0.25 s)
        src = os.path.join(tmp, "owner")
        owner(src, False)
        d = cloud.Worker(nats.url, name="desk", slots=1, tmpdir=tmp,
                         args=["--policy", "desktop", "--policy-source",
                               src, "--input-idle", "5",
                               "--suspend-after", "600", "--away",
                               "0.2"]).start()
        lat = []
        for i in range(REPS_LAT):
            time.sleep(0.3 + 0.05 * i)  # not in phase with the tick
            t0 = time.time()
            owner(src, True)
            lat.append(log_time(wait_line(d, "policy: idle -> owner", i))
                       - t0)
            owner(src, False)
            wait_line(d, "-> idle", i)
            tsv.append(f"owner_latency\t{i}\t{lat[-1]:.3f}")
        rows.append(("owner activity -> no new pulls (s)",
                     f"{statistics.median(lat):.3f}",
                     f"max {max(lat):.3f}", "<= 1 s"))
        d.stop()

        # 3. Vacating -> running on another worker
        vac = []
        for i in range(REPS_LAT):
            owner(src, False)
            v = cloud.Worker(nats.url, name=f"vac{i}", slots=1, tmpdir=tmp,
                             args=["--policy", "desktop",
                                   "--policy-source", src,
                                   "--input-idle", "5", "--suspend-after",
                                   "0", "--vacate-after", "0.5",
                                   "--away", "60"]).start()
            s = spec(nap, ["20000", "1"])
            submit(c, s)
            cloud.wait_for(lambda: json.loads(c.kv_get("sk_calls", s["id"])
                                              or b"{}").get("status")
                           == "running", 20, what="running")
            other = cloud.Worker(nats.url, name=f"other{i}", slots=1,
                                 tmpdir=tmp, args=["--grace", "0"]).start()
            oid = other.log().split("worker ", 1)[1].split()[0]
            owner(src, True)
            t_vac = log_time(wait_line(v, "suspended -> vacating"))

            def elsewhere():
                r = json.loads(c.kv_get("sk_calls", s["id"]) or b"{}")
                return (r.get("status") == "running"
                        and r.get("worker") == oid) and time.time()
            t_run = cloud.wait_for(elsewhere, 20, interval=0.005,
                                   what="running elsewhere")
            vac.append(t_run - t_vac)
            tsv.append(f"vacate_latency\t{i}\t{vac[-1]:.3f}")
            v.stop()
            other.stop()
            c.js("STREAM.PURGE.SUKIMA_WORK", {})
        rows.append(("Vacating -> running elsewhere (s)",
                     f"{statistics.median(vac):.3f}",
                     f"max {max(vac):.3f}", "<= 1 s + one pull"))
        c.close()
    finally:
        cloud.stop_all()
        subprocess.run(["rm", "-rf", tmp])
        with open(TSV, "w") as f:
            f.write("\n".join(tsv) + "\n")

    print(f"bench_owner: {CPUS} CPUs, cpu job = sha256gen 160 MiB x "
          f"{CPUS}, compile = make -j{CPUS} sukima-vmm; medians of "
          f"{REPS_CPU}/{REPS_CC}/{REPS_LAT} runs")
    print(f"{'measure':44} {'median':>14} {'ratio/spread':>16} {'target':>18}")
    for r in rows:
        print(f"{r[0]:44} {r[1]:>14} {r[2]:>16} {r[3]:>18}")


if __name__ == "__main__":
    main()

"""bench_owner.py: the owner's view of a worker on the same PC (issue 7); run by bench_owner.sh.

1. Slowdown of the owner's foreground jobs beside a worker (one slot per
   CPU) saturated with CPU-bound functions (sha256gen: SHA-256 of 64 MiB
   generated in the guest, ~0.25 s of CPU per call), once per policy:
     always:  scheduling only (monitors at SCHED_IDLE, nice 19);
     desktop: the same, plus the owner-activity policy reading the PC's
              own sources (/proc/stat foreign load; no --policy-source).
   Jobs:
     cpu:     a fixed computation on every core (sha256gen natively, one
              process per CPU);
     compile: `make -j<CPUs> all` of the whole project (every C binary)
              from a snapshot of the source into a fresh O= each run.
   Alone and beside alternate in pairs (the order flips every pair);
   before a beside run the worker must be saturated: every slot's monitor
   running and getting CPU (and, desktop, the worker in state idle).  Per
   pair: the ratio beside / alone; the table gives the median ratio and
   its range, the job's own CPU time (alone / beside: a higher CPU time
   beside means contention below the scheduler: caches, the hypervisor),
   what ran at normal priority beside it (worker, NATS server, this
   script), and the load others put on the machine meanwhile.
2. Owner activity -> the worker pulls nothing new: a desktop worker (the
   default 0.25 s tick) reads its samples from a file; time from the file
   saying "input now" to the worker's "policy: idle -> owner" log line.
3. Vacating -> the work runs elsewhere: from the desktop worker's
   "suspended -> vacating" line to the call's record naming a second
   worker as running it.
Raw lines go to $BENCH_OWNER_TSV.
"""
import datetime
import hashlib
import json
import os
import resource
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

REPS_CPU = int(os.environ.get("BENCH_OWNER_CPU_REPS", "7"))
REPS_CC = int(os.environ.get("BENCH_OWNER_CC_REPS", "5"))
REPS_LAT = int(os.environ.get("BENCH_OWNER_LAT_REPS", "5"))
CPU_MIB = int(os.environ.get("BENCH_OWNER_CPU_MIB", "400"))
POLICIES = os.environ.get("BENCH_OWNER_POLICIES", "always desktop").split()
# The desktop worker's --away: how soon it takes work again after a
# foreground job (default 60 s: a pair would take a minute more).  The
# reaction to the owner (tick, load window, --load-max, --suspend-after)
# stays at its defaults.
AWAY = os.environ.get("BENCH_OWNER_AWAY", "3")
EXTRA = os.environ.get("BENCH_OWNER_DESKTOP_ARGS", "").split()
SRC = os.environ.get("BENCH_OWNER_SRC", ROOT)  # what `compile` builds
# Past this many seconds no new pair starts (a busy machine makes every
# wait long); the table says how many pairs each row has.
BUDGET = float(os.environ.get("BENCH_OWNER_BUDGET", "420"))
T0 = time.monotonic()
CPUS = os.cpu_count() or 1
HZ = os.sysconf("SC_CLK_TCK")
TSV = os.environ.get("BENCH_OWNER_TSV",
                     os.path.join(cloud.BUILD, "reports", "bench_owner.tsv"))
tsv = []


def upload(nats, path):
    data = open(path, "rb").read()
    digest = hashlib.sha256(data).hexdigest()
    r = cloud.sukima("objstore", "--nats", nats.url, "put", digest, path)
    if r.returncode:
        raise RuntimeError(r.stderr.decode())
    return digest


def spec(digest, argv, timeout_ms=120000):
    return {"id": uuid.uuid4().hex, "function": "bench", "version": 1,
            "digest": digest, "mem_mib": 64, "timeout_ms": timeout_ms,
            "max_output": 4096, "argv": argv, "env": {}, "reply": "",
            "callback": "", "queued_at_us": int(time.time() * 1e6)}


def submit(c, s, body=b"x"):
    c.js_publish("sk.work.x86_64", body,
                 {"Sk-Call": json.dumps(s), "Nats-Msg-Id": s["id"]})


def pending(c):
    i = c.js("CONSUMER.INFO.SUKIMA_WORK.workers-x86_64")
    return i.get("num_pending", 0) + i.get("num_ack_pending", 0)


class Feeder(threading.Thread):
    """Keeps the work queue at least BACKLOG calls deep while on.

    It looks twice a second and tops the queue up to twice BACKLOG: the
    bench's own NATS traffic stays small beside the job it measures."""

    def __init__(self, nats, digest, backlog):
        super().__init__(daemon=True)
        self.nats, self.digest, self.backlog = nats, digest, backlog
        self.on = threading.Event()
        self.quit = False

    def run(self):
        c = self.nats.client()
        try:
            while not self.quit:
                if self.on.is_set():
                    n = pending(c)
                    if n < self.backlog:
                        for _ in range(2 * self.backlog - n):
                            submit(c, spec(self.digest, ["64"]))
                time.sleep(0.5)
        finally:
            c.close()


def quiesce(c, timeout=30):
    """Drop the backlog, wait for the running calls to end: True if quiet.

    At SCHED_IDLE the worker's calls may starve while other processes keep
    the CPUs busy: then the "alone" run is not alone, and we say so."""
    c.js("STREAM.PURGE.SUKIMA_WORK", {})
    try:
        cloud.wait_for(lambda: pending(c) == 0, timeout, interval=0.1,
                       what="worker idle")
        return True
    except TimeoutError:
        return False


# --- CPU accounting (clock ticks of /proc, seconds out) -------------------

def stat_fields(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None


def children(pid):
    out = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            f = stat_fields(d)
            if f and f[1] == str(pid):
                out.append(int(d))
    return out


def sukima_cpu(pid):
    """CPU seconds of a worker, its reaped monitors and its live ones."""
    f = stat_fields(pid)
    if not f:
        return 0.0
    t = sum(int(x) for x in f[11:15])
    for m in children(pid):
        g = stat_fields(m)
        if g:
            t += int(g[11]) + int(g[12])
    return t / HZ


def own_cpu(pid):
    f = stat_fields(pid)
    return (int(f[11]) + int(f[12])) / HZ if f else 0.0


def machine_busy():
    """Busy CPU seconds of the whole machine so far (/proc/stat)."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:9]]
    return (sum(v) - v[3] - v[4]) / HZ


class Meter:
    """What a run cost: the job's wall and CPU time, and who else ran."""

    KEYS = ("wall", "job", "busy", "sukima", "nats", "bench")

    def __init__(self, worker, nats):
        self.pids = (worker, nats)

    def _now(self):
        ru = resource.getrusage(resource.RUSAGE_CHILDREN)
        return {"wall": time.monotonic(), "job": ru.ru_utime + ru.ru_stime,
                "busy": machine_busy(),
                "sukima": sukima_cpu(self.pids[0]) if self.pids[0] else 0.0,
                "nats": own_cpu(self.pids[1]),
                "bench": own_cpu(os.getpid())}

    def run(self, job):
        a = self._now()
        job()
        b = self._now()
        r = {k: b[k] - a[k] for k in self.KEYS}
        # Busy time nobody here accounts for: other users of the machine.
        r["others"] = max(0.0, r["busy"] - r["job"] - r["sukima"] -
                          r["nats"] - r["bench"])
        return r


# --- the foreground jobs -----------------------------------------------------

def cpu_job():
    g = os.path.join(cloud.BUILD, "guests", "sha256gen.musl")
    ps = [subprocess.Popen([g, str(CPU_MIB)], stdout=subprocess.DEVNULL)
          for _ in range(CPUS)]
    for p in ps:
        if p.wait():
            raise RuntimeError("sha256gen failed")


def compile_job():
    with tempfile.TemporaryDirectory(prefix="sukima-bench-cc-") as o:
        subprocess.run(["make", "-s", f"-j{CPUS}", f"O={o}", "all"],
                       cwd=SRC, check=True, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)


JOBS = {"cpu": cpu_job, "compile": compile_job}


# --- the worker under test ---------------------------------------------------

class Busy:
    """A worker of one policy, kept saturated by a feeder when asked."""

    def __init__(self, nats, c, digest, policy, tmp):
        # "desktop:--opt,value,...": a variant with more worker options.
        self.c, self.policy = c, policy
        kind, _, more = policy.partition(":")
        self.desktop = kind == "desktop"
        args = ["--lease", "10", "--policy", kind]
        if self.desktop:
            # The PC's own sources; the keyboard of whoever runs the bench
            # is not the foreground job (--input-idle 0: input never counts).
            args += ["--input-idle", "0", "--away", AWAY] + EXTRA
        args += [a for a in more.split(",") if a]
        self.w = cloud.Worker(nats.url, name=f"busy{len(cloud._procs)}",
                              slots=CPUS, tmpdir=tmp, args=args).start()
        self.wid = self.w.log().split("worker ", 1)[1].split()[0]
        self.feeder = Feeder(nats, digest, 2 * CPUS)
        self.feeder.start()
        self.meter = Meter(self.w.pid, nats.pid)

    def state(self):
        v = self.c.kv_get("sk_workers", self.wid)
        return json.loads(v).get("state") if v else None

    def saturate(self, timeout=30):
        """Feed it until every slot's monitor gets CPU; True if it did."""
        self.feeder.on.set()
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.state() != "idle":
                time.sleep(0.2)
                continue
            mons = children(self.w.pid)
            a = sukima_cpu(self.w.pid)
            time.sleep(0.5)
            got = (sukima_cpu(self.w.pid) - a) / 0.5
            if len(mons) >= CPUS and got >= 0.7 * CPUS:
                return True
        return False

    def idle(self):
        self.feeder.on.clear()
        return quiesce(self.c)

    def transitions(self, since):
        """(state, seconds after (since)) of the policy lines after it."""
        out = []
        for ln in self.w.log().splitlines():
            if "policy: " in ln and " -> " in ln:
                t = log_time(ln)
                if t >= since:
                    out.append((ln.split("policy: ", 1)[1].split(" (")[0],
                                t - since))
        return out

    def stop(self):
        self.feeder.quit = True
        self.feeder.on.clear()
        self.feeder.join(5)
        quiesce(self.c)
        self.w.stop()


def pairs(b, name, reps):
    """Alternating alone / beside runs of job (name); returns the runs."""
    job = JOBS[name]
    runs = []
    for i in range(reps):
        if i and time.monotonic() - T0 > BUDGET:
            print(f"  {b.policy} {name}: {i} pairs of {reps}: past "
                  f"BENCH_OWNER_BUDGET ({BUDGET:.0f} s)")
            break
        pair, note = {}, []
        for side in (("alone", "beside") if i % 2 == 0
                     else ("beside", "alone")):
            if side == "alone":
                if not b.idle():
                    note.append("worker not idle (starved by others?)")
                if b.desktop and not wait_state(b, "idle"):
                    note.append("desktop worker not idle: others' load?")
            elif not b.saturate():
                note.append("worker NOT saturated (others' load?)")
            t0 = time.time()
            pair[side] = b.meter.run(job)
            if side == "beside":
                pair["policy"] = b.transitions(t0)
                b.feeder.on.clear()
        pair["note"] = note
        runs.append(pair)
        a, s = pair["alone"], pair["beside"]
        reaction = ", ".join(f"{st} at {t:.2f} s" for st, t in
                             pair["policy"] if t < s["wall"] + 1)
        print(f"  {b.policy:7} {name:7} pair {i}: alone {a['wall']:6.2f} s,"
              f" beside {s['wall']:6.2f} s (x{s['wall'] / a['wall']:.3f});"
              f" worker got {s['sukima']:.2f} CPU-s beside;"
              f" others {100 * a['others'] / (a['wall'] * CPUS):.0f}/"
              f"{100 * s['others'] / (s['wall'] * CPUS):.0f} %"
              + (f"; {reaction}" if reaction else "")
              + (f"; {'; '.join(note)}" if note else ""), flush=True)
        tsv.append("\t".join(
            [b.policy, name, str(i)] +
            [f"{pair[sd][k]:.3f}" for sd in ("alone", "beside")
             for k in Meter.KEYS + ("others",)] +
            [" ".join(f"{st}@{t:.2f}" for st, t in pair["policy"])]))
    b.feeder.on.clear()
    return runs


def wait_state(b, want, timeout=30):
    try:
        cloud.wait_for(lambda: b.state() == want, timeout, interval=0.1,
                       what=f"worker state {want}")
        return True
    except TimeoutError:
        return False


def med(xs):
    return statistics.median(xs) if xs else float("nan")


QUIET = 0.05  # others' load, share of the PC, under which a pair is quiet


def share(run):
    """Others' load during (run), as a share of the whole PC."""
    return run["others"] / (run["wall"] * CPUS)


def summary(policy, name, runs):
    """Table rows for one policy and job."""
    a = [r["alone"] for r in runs]
    s = [r["beside"] for r in runs]
    ratio = [y["wall"] / x["wall"] for x, y in zip(a, s)]
    cpu = [y["job"] / x["job"] for x, y in zip(a, s)]
    wall = sum(r["wall"] for r in s)
    rows = [
        (f"{policy} {name}, {len(runs)} pairs: alone / beside (s)",
         f"{med([r['wall'] for r in a]):.2f} / "
         f"{med([r['wall'] for r in s]):.2f}",
         f"{100 * (med(ratio) - 1):+.1f} %",
         f"{100 * (min(ratio) - 1):+.1f} .. {100 * (max(ratio) - 1):+.1f} %",
         "<= +3 %"),
        ("  job CPU time alone / beside (s)",
         f"{med([r['job'] for r in a]):.2f} / "
         f"{med([r['job'] for r in s]):.2f}",
         f"{100 * (med(cpu) - 1):+.1f} %",
         "", ""),
        ("  beside: worker+monitors / NATS / bench",
         f"{100 * sum(r['sukima'] for r in s) / (wall * CPUS):.1f} / "
         f"{100 * sum(r['nats'] for r in s) / (wall * CPUS):.1f} / "
         f"{100 * sum(r['bench'] for r in s) / (wall * CPUS):.1f} %",
         "of the PC", "", ""),
        ("  others' load alone / beside",
         f"{100 * med([share(r) for r in a]):.1f} / "
         f"{100 * med([share(r) for r in s]):.1f} %",
         "of the PC", "", ""),
    ]
    if policy.startswith("desktop"):
        owner = [t for r in runs for st, t in r["policy"]
                 if st == "idle -> owner" and t < r["beside"]["wall"]]
        susp = [t for r in runs for st, t in r["policy"]
                if st.endswith("-> suspended") and t < r["beside"]["wall"]]
        rows.append(("  job start -> owner / suspended (s)",
                     f"{med(owner):.2f} / " +
                     (f"{med(susp):.2f}" if susp else "never"),
                     f"{len(owner)}/{len(runs)} runs", "", ""))
    quiet = [r["beside"]["wall"] / r["alone"]["wall"] for r in runs
             if not r["note"] and
             max(share(r["alone"]), share(r["beside"])) <= QUIET]
    rows.append((f"  pairs others left quiet (<= {100 * QUIET:.0f} %)",
                 f"{len(quiet)} of {len(runs)}",
                 f"{100 * (med(quiet) - 1):+.1f} %" if quiet else "",
                 f"{100 * (min(quiet) - 1):+.1f} .. "
                 f"{100 * (max(quiet) - 1):+.1f} %" if quiet else "", ""))
    bad = sum(1 for r in runs if r["note"])
    if bad:
        rows.append(("  pairs with a warning (see above)", str(bad), "", "",
                     ""))
    return rows


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


def latencies(nats, c, nap, tmp, rows):
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
        lat.append(log_time(wait_line(d, "policy: idle -> owner", i)) - t0)
        owner(src, False)
        wait_line(d, "-> idle", i)
        tsv.append(f"owner_latency\t{i}\t{lat[-1]:.3f}")
    rows.append(("owner activity -> no new pulls (s)",
                 f"{med(lat):.3f}", "", f"max {max(lat):.3f}", "<= 1 s"))
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
                 f"{med(vac):.3f}", "", f"max {max(vac):.3f}",
                 "<= 1 s + one pull"))


def main():
    tmp = tempfile.mkdtemp(prefix="sukima-bench-owner-")
    os.makedirs(os.path.dirname(TSV), exist_ok=True)
    rows = []
    load0 = os.getloadavg()
    t_start = time.monotonic()
    try:
        nats = cloud.Nats(os.path.join(tmp, "nats")).start()
        c = nats.client()
        sha = upload(nats, os.path.join(cloud.BUILD, "guests",
                                        "sha256gen.musl"))
        nap = upload(nats, os.path.join(cloud.BUILD, "guests",
                                        "napwork.musl"))
        for job in JOBS.values():
            job()  # the page cache warm, the snapshot known to build

        # 1. slowdown beside a saturated worker, one policy after the other
        for policy in POLICIES:
            b = Busy(nats, c, sha, policy, tmp)
            try:
                for name, reps in (("cpu", REPS_CPU), ("compile", REPS_CC)):
                    rows += summary(policy, name, pairs(b, name, reps))
            finally:
                b.stop()
        if REPS_LAT:
            latencies(nats, c, nap, tmp, rows)
        c.close()
    finally:
        cloud.stop_all()
        subprocess.run(["rm", "-rf", tmp])
        with open(TSV, "w") as f:
            f.write("# policy job pair, alone: " + " ".join(Meter.KEYS) +
                    " others, beside: the same, policy transitions\n")
            f.write("\n".join(tsv) + "\n")

    load1 = os.getloadavg()
    print(f"bench_owner: {CPUS} CPUs; cpu job = sha256gen {CPU_MIB} MiB x "
          f"{CPUS} natively, compile = make -j{CPUS} all (the whole project,"
          f" fresh O=); worker: {CPUS} slots of sha256gen 64 MiB; pairs "
          f"cpu {REPS_CPU}, compile {REPS_CC}; desktop: PC's own sources, "
          f"defaults but --away {AWAY} {' '.join(EXTRA)}")
    print(f"load average at start {load0[0]:.2f}, at end {load1[0]:.2f}; "
          f"{time.monotonic() - t_start:.0f} s")
    print(f"{'measure':42} {'median':>15} {'slowdown':>9} "
          f"{'pair range':>16} {'target':>17}")
    for r in rows:
        print(f"{r[0]:42} {r[1]:>15} {r[2]:>9} {r[3]:>16} {r[4]:>17}")
    print("slowdown: median over the pairs of beside / alone - 1; pair "
          "range: the lowest and highest pair.  Pairs where others loaded "
          "the PC (see each pair's 'others') are not the owner's view: "
          "rerun on a quiet machine.")


if __name__ == "__main__":
    main()

# test_jail.py: the monitor's jail (src/vmm/vmm_jail.c, docs/security.md
# "The monitor's jail"): what a jailed monitor may no longer do, what it is
# seen to be from outside while a guest runs, and that guests do not notice.
import os
import shutil
import signal
import socket
import struct
import subprocess
import time

import pytest

from conftest import BUILD, HARD_TIMEOUT, VMM, guest, run, status_of

JAIL_VMM = os.path.join(BUILD, "test-jail", "sukima-vmm")
NOOP = guest("noop.musl")
LOOP = guest("hostile_loop.musl")
SCHED_IDLE = getattr(os, "SCHED_IDLE", 5)
# Sanitizer builds (scripts/test.sh --asan) keep RLIMIT_AS unlimited and
# refuse file lookups with EACCES instead of killing (vmm_jail.c).
ASAN = "asan" in os.path.basename(BUILD)


@pytest.fixture(scope="module")
def jail_vmm():
    if not os.access(JAIL_VMM, os.X_OK):
        pytest.fail("%s is not built (make unit)" % JAIL_VMM)
    return JAIL_VMM


def hook(jail_vmm, what, extra_env=None, args=()):
    env = {"SUKIMA_JAIL_TEST": what}
    env.update(extra_env or {})
    return run([jail_vmm] + list(args) + [NOOP], env=env, timeout=60)


def refused(r):
    """Killed by the filter, or refused with an error (status 3)."""
    err = r.stderr.decode(errors="replace")
    if r.returncode == -signal.SIGSYS:
        return True
    return r.returncode == 3 and " refused (" in err


# --- the test hook: forbidden acts right after the jail ------------------

@pytest.mark.parametrize("what", ["open", "socket", "exec", "fork",
                                  "mmap-exec", "kvm-set-regs"])
def test_forbidden_act_is_refused(jail_vmm, what):
    r = hook(jail_vmm, what)
    assert refused(r), "%s: status %d, stderr=%r" % (what, r.returncode,
                                                     r.stderr[-1000:])


@pytest.mark.parametrize("what", ["open", "socket", "exec", "fork"])
def test_filter_kills_not_just_refuses(jail_vmm, what):
    """Outside sanitizer builds these are filter kills (SIGSYS), so a
    compromised monitor gets no second try."""
    if ASAN:
        pytest.skip("sanitizer builds refuse file lookups with EACCES")
    r = hook(jail_vmm, what)
    assert r.returncode == -signal.SIGSYS, (what, r.returncode, r.stderr[-500:])


def test_hook_without_act_runs_the_guest(jail_vmm):
    """The hook build is the normal monitor when no act is named: a test
    of the hook that cannot pass by a hook that does nothing."""
    r = run([jail_vmm, NOOP], env={}, timeout=60)
    assert r.returncode == 0, r.stderr[-1000:]
    r = hook(jail_vmm, "no-such-act")
    assert r.returncode == 0, r.stderr[-1000:]


# --- the layers under the filter (the filter switched off) --------------

def test_empty_root_without_filter(jail_vmm):
    env = {"SUKIMA_JAIL_TEST_NOFILTER": "1"}
    for what in ("open", "exec"):
        r = hook(jail_vmm, what, env)
        err = r.stderr.decode(errors="replace")
        assert r.returncode == 3, (what, r.returncode, err)
        assert "No such file or directory" in err, (what, err)


def test_no_network_without_filter(jail_vmm):
    """A listener on the host's loopback is unreachable from the monitor's
    network namespace even when socket() itself is allowed."""
    ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        ls.bind(("127.0.0.1", 0))
        ls.listen(1)
        port = ls.getsockname()[1]
        r = hook(jail_vmm, "socket", {"SUKIMA_JAIL_TEST_NOFILTER": "1",
                                      "SUKIMA_JAIL_TEST_PORT": str(port)})
        err = r.stderr.decode(errors="replace")
        assert r.returncode == 3, (r.returncode, err)
        assert "connect refused" in err, err
    finally:
        ls.close()


# --- the jailed monitor seen from outside while a guest runs ------------

def proc_status(pid):
    out = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            k, _, v = line.partition(":")
            out[k] = v.strip()
    return out


def proc_limits(pid):
    out = {}
    with open("/proc/%d/limits" % pid) as f:
        for line in f.readlines()[1:]:
            name = line[:26].strip()
            out[name] = line[26:47].strip()
    return out


def cpu_ticks(pid):
    with open("/proc/%d/stat" % pid) as f:
        return sum(int(x) for x in f.read().rsplit(")", 1)[1].split()[11:13])


class Running:
    """A monitor running hostile_loop (spins until its --timeout)."""

    def __init__(self, vmm_opts, timeout=4):
        self.p = subprocess.Popen(
            [VMM] + vmm_opts + ["--timeout", str(timeout), LOOP],
            cwd=BUILD, env={}, stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE)

    def wait_jailed(self, want_seccomp):
        """Polls (bounded) until the monitor is past its jail (or, for
        "0", until it runs) and returns its /proc status."""
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            assert self.p.poll() is None, self.p.stderr.read()
            st = proc_status(self.p.pid)
            # The jail's last step is the filter, right before the first
            # KVM_RUN; no CPU-time condition: at SCHED_IDLE on a busy
            # machine the guest may get none for a while.
            if st.get("Seccomp") == want_seccomp and (
                    want_seccomp == "2" or cpu_ticks(self.p.pid) > 0):
                return st
            time.sleep(0.02)
        pytest.fail("monitor never reached its run loop")

    def finish(self):
        out, err = self.p.communicate(timeout=HARD_TIMEOUT)
        return self.p.returncode, out, err

    def kill(self):
        if self.p.poll() is None:
            self.p.kill()
            self.p.wait()


@pytest.fixture
def running():
    started = []

    def start(opts, timeout=4):
        r = Running(opts, timeout)
        started.append(r)
        return r

    yield start
    for r in started:
        r.kill()


def test_jailed_monitor_from_outside(running):
    m = running([])
    pid = m.p.pid
    st = m.wait_jailed("2")
    assert st["NoNewPrivs"] == "1"
    assert st["Seccomp"] == "2"
    assert int(st["CapEff"], 16) == 0 and int(st["CapPrm"], 16) == 0
    # Every thread: SCHED_IDLE and nice 19.
    tids = [int(t) for t in os.listdir("/proc/%d/task" % pid)]
    for tid in tids:
        assert os.sched_getscheduler(tid) == SCHED_IDLE, tid
        assert os.getpriority(os.PRIO_PROCESS, tid) == 19, tid
        with open("/proc/%d/task/%d/sched" % (pid, tid)) as f:
            pol = [l for l in f if l.startswith("policy")]
        assert pol and pol[0].split(":")[1].strip() == str(SCHED_IDLE), pol
    # An empty root, private namespaces.
    assert os.listdir("/proc/%d/root" % pid) == []
    for ns in ("mnt", "net", "ipc", "uts"):
        assert (os.readlink("/proc/%d/ns/%s" % (pid, ns)) !=
                os.readlink("/proc/self/ns/%s" % ns)), ns
    # Only stdio and KVM descriptors: no /dev/kvm system fd, no ELF.
    fds = {int(fd): os.readlink("/proc/%d/fd/%s" % (pid, fd))
           for fd in os.listdir("/proc/%d/fd" % pid)}
    for fd, target in fds.items():
        if fd > 2:
            assert target.startswith("anon_inode:kvm-"), (fd, target)
    lim = proc_limits(pid)
    assert lim["Max core file size"] == "0"
    assert lim["Max file size"] == "0"  # our stdout is a pipe here
    assert lim["Max processes"] == "0"
    assert int(lim["Max open files"]) == max(fds) + 1
    assert ASAN or lim["Max address space"] != "unlimited"
    # The deadline still works under the jail.
    rc, _, err = m.finish()
    assert rc == 124, (rc, err[-1000:])


def test_no_jail_and_normal_priority(running):
    m = running(["--no-jail", "--priority", "normal"])
    st = m.wait_jailed("0")
    assert st["NoNewPrivs"] == "0"
    assert os.sched_getscheduler(m.p.pid) == os.SCHED_OTHER
    assert os.readlink("/proc/%d/ns/mnt" % m.p.pid) == os.readlink(
        "/proc/self/ns/mnt")
    m.kill()


def test_no_jail_still_idle_priority(running):
    """--no-jail is for debugging the jail, not for taking the CPU."""
    m = running(["--no-jail"])
    deadline = time.monotonic() + 10
    while (os.sched_getscheduler(m.p.pid) != SCHED_IDLE and
           time.monotonic() < deadline and m.p.poll() is None):
        time.sleep(0.02)
    assert os.sched_getscheduler(m.p.pid) == SCHED_IDLE
    assert os.getpriority(os.PRIO_PROCESS, m.p.pid) == 19
    m.kill()


def test_priority_normal_keeps_the_jail(running):
    m = running(["--priority", "normal"])
    m.wait_jailed("2")
    assert os.sched_getscheduler(m.p.pid) == os.SCHED_OTHER
    m.kill()


# --- guests do not notice the jail --------------------------------------

SAME = [
    ("echo.musl", [], b"hello, jail\n" * 100),
    ("echo.glibc", [], b"hello, jail\n" * 100),
    ("upper.pie", [], b"MiXeD case\n"),
    ("wc.glibc", [], b"one two\nthree\n"),
    ("sha256.musl", [], bytes(range(256)) * 1000),
    ("alloc.musl", [], b""),
    ("alloc.glibc", [], b""),
    ("simd.glibc", [], b""),
    ("args.musl", ["a", "b c"], b""),
    ("hostile_forbidden.musl", [], b""),
    ("hostile_ptr.glibc", [], b""),
    ("hostile_flood.musl", [], b""),
]


@pytest.mark.parametrize("binary,args,stdin", SAME,
                         ids=[s[0] for s in SAME])
def test_same_output_jailed_and_not(binary, args, stdin):
    path = guest(binary)
    if not os.path.isfile(os.path.join(BUILD, path)):
        pytest.fail("%s is not built (make guests)" % path)
    # Normal priority for both: at SCHED_IDLE a busy machine could starve
    # a run past its deadline, and priority is not what is compared here.
    opts = ["--timeout", "20", "--max-output", "100000", "--priority",
            "normal"]
    jailed = run([VMM] + opts + [path] + args, stdin=stdin, env={})
    free = run([VMM, "--no-jail"] + opts + [path] + args, stdin=stdin, env={})
    assert jailed.returncode >= 0, "jailed monitor killed by signal %d: %r" % (
        -jailed.returncode, jailed.stderr[-1000:])
    assert (jailed.returncode, jailed.stdout, jailed.stderr) == (
        free.returncode, free.stdout, free.stderr)


def test_output_to_a_regular_file(tmp_path):
    """RLIMIT_FSIZE is left alone when stdout is a file (else SIGXFSZ)."""
    out = tmp_path / "out"
    with open(out, "wb") as f:
        p = subprocess.run([VMM, guest("echo.musl")], cwd=BUILD, env={},
                           input=b"to a file\n", stdout=f,
                           stderr=subprocess.PIPE, timeout=60)
    assert p.returncode == 0, (status_of(p.returncode), p.stderr[-500:])
    assert out.read_bytes() == b"to a file\n"


def test_shared_network_namespace():
    """$SUKIMA_JAIL_NETNS: the monitor joins the worker's empty network
    namespace instead of creating one (0.5 ms less per cold start)."""
    if os.geteuid() != 0 or not shutil.which("ip"):
        pytest.skip("needs root and iproute2 to create a named netns")
    name = "sukima-test-%d" % os.getpid()
    subprocess.run(["ip", "netns", "add", name], check=True, timeout=30)
    try:
        path = "/run/netns/" + name
        p = subprocess.Popen([VMM, "--timeout", "3", LOOP], cwd=BUILD,
                             env={"SUKIMA_JAIL_NETNS": path},
                             stdin=subprocess.DEVNULL,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            m = Running.__new__(Running)
            m.p = p
            m.wait_jailed("2")
            assert os.stat("/proc/%d/ns/net" % p.pid).st_ino == os.stat(path).st_ino
            assert os.readlink("/proc/%d/ns/mnt" % p.pid) != os.readlink(
                "/proc/self/ns/mnt")
        finally:
            m.kill()
    finally:
        subprocess.run(["ip", "netns", "del", name], timeout=30)


# --- the warm paths run under the same jail -------------------------------

def serve_session(opts, bodies):
    """A --serve monitor: hello, one response per body, then EOF; returns
    (responses, status, the /proc status seen while it waited)."""
    p = subprocess.Popen([VMM] + opts + ["--serve", guest("upper.musl")],
                         cwd=BUILD, env={}, stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        hello = p.stdout.read(32)
        assert hello[:4] == b"SKH1", (hello, p.stderr.read())
        # Blocked on its next request: past the jail, by construction.
        seen = proc_status(p.pid)
        out = []
        for body in bodies:
            p.stdin.write(b"SKQ1" + struct.pack("<IQQQ", 0, 0, 0, len(body))
                          + body)
            p.stdin.flush()
            h = p.stdout.read(48)
            assert h[:4] == b"SKR1", (h, p.stderr.read())
            status, reason, msg_len, out_len, err_len = struct.unpack(
                "<iIIQQ", h[4:32])
            out.append((status, reason, p.stdout.read(out_len),
                        p.stdout.read(err_len), p.stdout.read(msg_len)))
        p.stdin.close()
        return out, p.wait(timeout=60), seen
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()


def test_serve_mode_is_jailed():
    bodies = [b"first\n", b"second one\n" * 100, b""]
    jailed, rc, seen = serve_session(["--priority", "normal"], bodies)
    assert seen["Seccomp"] == "2" and seen["NoNewPrivs"] == "1", seen
    free, rc_free, seen_free = serve_session(
        ["--no-jail", "--priority", "normal"], bodies)
    assert seen_free["Seccomp"] == "0"
    assert rc == rc_free == 0
    assert jailed == free
    assert jailed[0][2] == b"FIRST\n"


def test_repeat_mode_same_output():
    req = b"repeat me\n" * 50
    opts = ["--priority", "normal", "--repeat", "20", guest("upper.glibc")]
    jailed = run([VMM] + opts, stdin=req, env={})
    free = run([VMM, "--no-jail"] + opts, stdin=req, env={})
    assert jailed.returncode == free.returncode == 0, jailed.stderr[-500:]
    assert jailed.stdout == free.stdout == req.upper()


# --- a template process's namespaces, joined ------------------------------

# What a worker does once (docs/security.md): private mount, network, IPC
# and UTS namespaces, an empty read-only tmpfs as root, then wait.
TEMPLATE = r'''
import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
def ok(r, what):
    if r != 0:
        raise OSError(ctypes.get_errno(), what)
ok(libc.unshare(0x00020000 | 0x40000000 | 0x08000000 | 0x04000000), "unshare")
ok(libc.mount(None, b"/", None, 0x4000 | 0x40000, None), "private")
ok(libc.mount(b"sukima-jail", b"/tmp", b"tmpfs", 2 | 4 | 8,
              b"size=4k,nr_inodes=1,mode=0555"), "tmpfs")
os.chdir("/tmp")
ok(libc.syscall(155, b".", b"."), "pivot_root")
ok(libc.umount2(b".", 2), "detach")
ok(libc.mount(None, b"/", None, 32 | 1 | 2 | 4 | 8, None), "read-only")
os.chdir("/")
sys.stdout.write("ready\n")
sys.stdout.flush()
sys.stdin.read()
'''


def ns_ino(pid, ns):
    return os.stat("/proc/%d/ns/%s" % (pid, ns)).st_ino


@pytest.fixture
def template():
    if os.geteuid() != 0:
        pytest.skip("joining namespaces needs root")
    t = subprocess.Popen(["/usr/bin/python3", "-c", TEMPLATE],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)
    try:
        line = t.stdout.readline()
        assert line == b"ready\n", (line, t.stderr.read())
        yield t.pid
    finally:
        t.kill()
        t.wait()


def loop_with_env(env):
    p = subprocess.Popen([VMM, "--timeout", "3", LOOP], cwd=BUILD, env=env,
                         stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)
    m = Running.__new__(Running)
    m.p = p
    return m


def test_template_namespaces_are_joined(template):
    m = loop_with_env({"SUKIMA_JAIL_NSPID": str(template)})
    try:
        m.wait_jailed("2")
        for ns in ("mnt", "net", "ipc", "uts"):
            assert ns_ino(m.p.pid, ns) == ns_ino(template, ns), ns
        assert os.listdir("/proc/%d/root" % m.p.pid) == []
    finally:
        m.kill()
    r = run([VMM, guest("echo.glibc")], stdin=b"via a template\n",
            env={"SUKIMA_JAIL_NSPID": str(template)})
    assert (r.returncode, r.stdout) == (0, b"via a template\n"), r.stderr


def test_a_process_that_is_no_template_is_ignored():
    """Our own pid (host namespaces, a real root): the monitor makes its
    own namespaces instead of joining the host's."""
    m = loop_with_env({"SUKIMA_JAIL_NSPID": str(os.getpid())})
    try:
        m.wait_jailed("2")
        for ns in ("mnt", "net", "ipc", "uts"):
            assert ns_ino(m.p.pid, ns) != ns_ino(os.getpid(), ns), ns
        assert os.listdir("/proc/%d/root" % m.p.pid) == []
    finally:
        m.kill()


def test_rlimit_as_leaves_room_for_big_warm_guests():
    """RLIMIT_AS counts every view of guest memory the warm path maps and
    the output it buffers: a 512 MiB guest with 2 MiB of output works."""
    req = b"abcdefghijklmnopqrstuvwxyz\n" * 80000
    r = run([VMM, "--priority", "normal", "--mem", "512M", "--repeat", "3",
             guest("upper.glibc")],
            stdin=req, env={})
    assert r.returncode == 0, r.stderr[-500:]
    assert r.stdout == req.upper()


def test_a_file_that_is_no_netns_is_ignored():
    if os.geteuid() != 0:
        pytest.skip("$SUKIMA_JAIL_NETNS is for root")
    m = loop_with_env({"SUKIMA_JAIL_NETNS": "/etc/passwd"})
    try:
        m.wait_jailed("2")
        assert ns_ino(m.p.pid, "net") != ns_ino(os.getpid(), "net")
    finally:
        m.kill()

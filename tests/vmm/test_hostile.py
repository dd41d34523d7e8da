# test_hostile.py: containment checks beyond the case table: no host file
# is touched (strace), hostile guests end with the documented reason, the
# monitor survives, and huge argv/env either work or fail clearly.
import os
import re
import shutil
import subprocess

import pytest

from conftest import (BUILD, VMM, check_monitor_end, default_env, guest, run,
                      status_of, sukima_lines)

LOADER_FILE = re.compile(r"^/etc/ld\.so\.(cache|preload)$|^/(usr/)?lib(64|x86_64-linux-gnu)?/.*\.so[.0-9]*$")


def strace_run(tmp_path, args, stdin=None):
    """Runs the monitor under strace -f; returns (result, [(call, path)])."""
    if not shutil.which("strace"):
        pytest.fail("strace is not installed (scripts/deps.sh installs it)")
    log = tmp_path / "strace.txt"
    r = run(["strace", "-f", "-qq", "-o", str(log), "-e",
             "trace=open,openat,openat2,creat,execve,execveat,socket,connect,"
             "bind,mkdir,unlink,unlinkat,rename,truncate,chmod,ioctl",
             VMM] + args, stdin=stdin)
    calls = []
    for line in log.read_text().splitlines():
        m = re.match(r"^\d+\s+(\w+)\((.*)$", line)
        if not m:
            continue
        if m.group(1) == "ioctl":
            if "KVM_RUN" in m.group(2):
                calls.append(("KVM_RUN", ""))
            continue
        path = re.search(r'"([^"]*)"', m.group(2))
        calls.append((m.group(1), path.group(1) if path else m.group(2)))
    return r, calls


def assert_only_elf_and_kvm(calls, elf):
    """Before the guest's first instruction (the first KVM_RUN) the monitor
    may open its loader's files, the ELF, /dev/kvm and its own /proc/self
    entries (the jail); once the guest runs, nothing at all."""
    assert calls and calls[0][0] == "execve", calls
    assert ("KVM_RUN", "") in calls, "the guest never ran: %r" % calls
    first_run = calls.index(("KVM_RUN", ""))
    before, after = calls[1:first_run], calls[first_run:]
    allowed = {("openat", elf), ("open", elf), ("openat", "/dev/kvm"),
               ("open", "/dev/kvm")}
    extra = [c for c in before if c not in allowed and not (
        c[0] in ("open", "openat") and (LOADER_FILE.match(c[1]) or
                                        c[1].startswith("/proc/self/")))]
    assert not extra, "the monitor touched the host before the run: %r" % extra
    assert ("openat", "/dev/kvm") in before or ("open", "/dev/kvm") in before
    extra = [c for c in after if c[0] != "KVM_RUN"]
    assert not extra, "the monitor touched the host while the guest ran: %r" % extra


@pytest.mark.parametrize("v", ["musl", "glibc", "pie"])
def test_forbidden_calls_never_reach_the_host(tmp_path, v):
    probe = tmp_path / "probe"
    elf = guest("hostile_forbidden." + v)
    r, calls = strace_run(tmp_path, [elf, str(probe)])
    assert r.returncode == 0, r.stdout + r.stderr
    assert b"0 mismatches" in r.stdout
    assert not probe.exists(), "the guest created a host file"
    assert_only_elf_and_kvm(calls, elf)


def test_busybox_cannot_read_host_files(tmp_path):
    r, calls = strace_run(tmp_path, ["/bin/busybox", "cat", "/etc/passwd",
                                     "/etc/hostname", "/proc/self/maps"])
    assert r.returncode == 1, r
    assert r.stdout == b""
    assert_only_elf_and_kvm(calls, "/bin/busybox")


def test_busybox_ls_sees_nothing(tmp_path):
    r, calls = strace_run(tmp_path, ["/bin/busybox", "ls", "/"])
    assert r.returncode != 0 and r.returncode < 120, r
    assert r.stdout == b""
    assert_only_elf_and_kvm(calls, "/bin/busybox")


@pytest.mark.parametrize("mode", ["spin", "sys", "sleep"])
def test_timeout_message_names_the_limit(mode):
    r = run([VMM, "--timeout", "0.5", guest("hostile_loop.musl"), mode])
    line = check_monitor_end(r, 124)
    assert line == "sukima: function timed out after 0.5 s", line


def test_tamper_scan_is_contained():
    # Walks and trashes all of guest memory it may touch: must end (any
    # contained status), never hang, never kill the monitor.
    for v in ("musl", "glibc", "pie"):
        r = run([VMM, "--timeout", "20", guest("hostile_tamper." + v), "scan"])
        assert r.returncode >= 0, "monitor died of signal %d" % -r.returncode
        assert r.returncode in (0, 121, 132, 133, 139), r
        if r.returncode >= 120:
            assert len(sukima_lines(r.stderr)) == 1, r.stderr[-500:]


@pytest.mark.parametrize("v", ["musl", "glibc", "pie"])
def test_stub_overwrite_via_read_is_refused(v):
    # read() into the stub would let stdin bytes become code run at the
    # stub's privilege (CPL 0 on standard KVM): must be -EFAULT.
    r = run([VMM, guest("hostile_tamper." + v), "viasys"], stdin=b"\xcc" * 64)
    assert r.returncode == 0, r
    assert b"0 not EFAULT" in r.stdout, r.stdout


def test_memory_bomb_is_bounded_by_mem():
    small = run([VMM, "--mem", "16M", guest("hostile_bomb.glibc"), "malloc"])
    big = run([VMM, "--mem", "256M", guest("hostile_bomb.glibc"), "malloc"])
    mib = []
    for r in (small, big):
        assert r.returncode == 0, r
        m = re.search(rb"malloc: (\d+) MiB before failure, errno 12", r.stderr)
        assert m, r.stderr
        mib.append(int(m.group(1)))
    assert mib[0] < 16, mib
    assert 64 < mib[1] < 256, mib


def test_monitors_run_side_by_side(tmp_path):
    data = os.urandom(300000)
    inp = tmp_path / "in"
    inp.write_bytes(data)
    procs = []
    try:
        for i in range(6):
            f = open(inp, "rb")
            procs.append((subprocess.Popen([VMM, guest("echo.musl" if i % 2 else "echo.glibc")],
                                           cwd=BUILD, stdin=f, stdout=subprocess.PIPE,
                                           stderr=subprocess.PIPE), f))
        for p, f in procs:
            out, err = p.communicate(timeout=120)
            assert p.returncode == 0, err
            assert out == data
    finally:
        for p, f in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
            f.close()


def native_args(binary, argv):
    n = run([binary] + argv)
    assert n.returncode == 0
    return n


def test_huge_argv_many():
    argv = ["arg%05d-%s" % (i, "x" * 20) for i in range(20000)]  # ~600 KB
    r = run([VMM, guest("args.musl")] + argv)
    assert r.returncode >= 0
    if r.returncode == 0:
        assert r.stdout == native_args(guest("args.musl"), argv).stdout
    else:
        check_monitor_end(r, r.returncode)
        assert r.returncode in (122, 125, 126), r


def test_huge_argv_long():
    argv = ["y" * 100000, "z" * 100000]
    r = run([VMM, guest("args.glibc")] + argv)
    assert r.returncode >= 0
    if r.returncode == 0:
        assert r.stdout == native_args(guest("args.glibc"), argv).stdout
    else:
        check_monitor_end(r, r.returncode)


def test_argv_near_arg_max_in_small_guest():
    # ~1.8 MB of arguments (the host's execve allows 2 MiB) into an 8 MiB
    # guest: works, or a clear error; never a crash.
    argv = ["w" * 100000] * 18
    r = run([VMM, "--mem", "8M", guest("args.musl")] + argv)
    assert r.returncode >= 0
    if r.returncode == 0:
        assert r.stdout == native_args(guest("args.musl"), argv).stdout
    else:
        check_monitor_end(r, r.returncode)
        assert r.returncode in (122, 125, 126), r


def test_huge_env():
    env = []
    for i in range(3000):
        env += ["--env", "K%04d=%s" % (i, "v" * 30)]
    r = run([VMM] + env + [guest("args.pie")])
    assert r.returncode >= 0
    if r.returncode == 0:
        assert b"envc 3000\n" in r.stdout
    else:
        check_monitor_end(r, r.returncode)


def test_stack_overflow_names_a_page_fault():
    r = run([VMM, guest("hostile_stack.glibc")])
    line = check_monitor_end(r, 139)
    assert line.startswith("sukima: page fault at 0x"), line
    assert re.search(r"\(rip 0x[0-9a-f]+\)$", line), line


@pytest.mark.parametrize("mode,status,text", [
    ("hlt", 139, "general protection"), ("ud2", 132, ""), ("div0", 136, ""),
    ("int3", 133, ""), ("null", 139, "page fault at 0x0 "),
])
def test_fault_status_equals_native_signal(mode, status, text):
    n = run([guest("hostile_priv.musl"), mode])
    assert status_of(n.returncode) == status  # the table's numbers are Linux's
    r = run([VMM, guest("hostile_priv.musl"), mode])
    line = check_monitor_end(r, status)
    assert text in line, line
    assert re.search(r"rip 0x[0-9a-f]+", line), line


@pytest.mark.parametrize("closed", [0, 1, 2])
def test_closed_stdio_is_not_reused_for_kvm(tmp_path, closed):
    # Started with a standard descriptor closed, the monitor must not let
    # /dev/kvm (or the VM or vCPU descriptor) take its number: the guest's
    # read(0)/write(1)/write(2), and the monitor's own `sukima: ` line,
    # would then reach a KVM descriptor.
    log = tmp_path / "strace.txt"

    def close_fd():
        os.close(closed)

    p = subprocess.Popen(["strace", "-f", "-qq", "-o", str(log), "-e",
                          "trace=openat,open,ioctl,dup,dup2,dup3,fcntl", VMM,
                          guest("echo.musl")],
                         cwd=BUILD, env=default_env(["strace"]),
                         stdin=subprocess.PIPE if closed != 0 else None,
                         stdout=subprocess.PIPE if closed != 1 else None,
                         stderr=subprocess.PIPE if closed != 2 else None,
                         preexec_fn=close_fd)
    try:
        p.communicate(b"hi\n" if closed != 0 else None, timeout=60)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    assert p.returncode >= 0
    bad = []
    for line in log.read_text().splitlines():
        m = re.search(r'(open(at)?\(.*"(/dev/kvm)".*|'
                      r'ioctl\(\d+, KVM_CREATE_(VM|VCPU).*)\) = (\d+)$', line)
        if m and int(m.group(5)) <= 2:
            bad.append(line)
    assert not bad, "a standard descriptor was reused: %r" % bad


def test_blocked_stdin_read_is_bounded_by_timeout():
    # stdin stays open and silent: the host read() the guest waits in must
    # be cut by the deadline like guest code is.
    p = subprocess.Popen([VMM, "--timeout", "1", guest("echo.musl")], cwd=BUILD,
                         env=default_env([VMM]), stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        try:
            rc = p.wait(timeout=20)  # the deadline is 1 s
        except subprocess.TimeoutExpired:
            pytest.fail("the monitor outlived its 1 s deadline by 20 s")
        err = p.stderr.read()
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        p.stdin.close()
        p.stdout.close()
        p.stderr.close()
    assert rc == 124, (rc, err)
    assert sukima_lines(err) == ["sukima: function timed out after 1.0 s"], err


def test_blocked_stdout_write_is_bounded_by_timeout():
    # nobody reads stdout: the guest's 8 MiB write blocks in the host
    # write(); the deadline must still end it.
    p = subprocess.Popen([VMM, "--timeout", "1", guest("bigout.glibc"), "8"],
                         cwd=BUILD, env=default_env([VMM]),
                         stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)
    try:
        try:
            rc = p.wait(timeout=20)  # the deadline is 1 s
        except subprocess.TimeoutExpired:
            pytest.fail("the monitor outlived its 1 s deadline by 20 s")
        err = p.stderr.read()
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        p.stdout.close()
        p.stderr.close()
    assert rc == 124, (rc, err)
    assert len(sukima_lines(err)) == 1, err


def test_broken_stdout_pipe_does_not_kill_the_monitor():
    # The reader goes away: the monitor must not die of SIGPIPE; the guest
    # sees its write fail (-EPIPE: no signal is delivered to a function)
    # and ends by itself (bigout: status 4).
    p = subprocess.Popen([VMM, "--timeout", "20", guest("bigout.musl"), "8"],
                         cwd=BUILD, env=default_env([VMM]),
                         stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)
    try:
        assert len(p.stdout.read(10)) == 10
        p.stdout.close()
        try:
            rc = p.wait(timeout=30)
        except subprocess.TimeoutExpired:
            pytest.fail("the monitor did not end after its reader left")
        err = p.stderr.read()
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        p.stderr.close()
    assert rc >= 0, "the monitor died of signal %d" % -rc
    assert rc == 4, (rc, err)


CONTAINED = (0, 121, 124, 132, 133, 136, 139)


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("v", ["musl", "glibc", "pie"])
def test_syscall_fuzz_is_contained(v, seed):
    # random calls with wild arguments: the guest may wreck itself (random
    # lengths over its own data), the monitor must answer and survive
    r = run([VMM, "--timeout", "2", guest("hostile_sysfuzz." + v), str(seed), "3000"])
    assert r.returncode >= 0, "monitor died of signal %d: %r" % (-r.returncode, r.stderr[-2000:])
    assert r.returncode in CONTAINED, (r.returncode, r.stderr[-2000:])
    if r.returncode >= 120:
        assert len(sukima_lines(r.stderr)) == 1, r.stderr[-2000:]

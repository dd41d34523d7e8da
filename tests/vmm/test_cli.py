# test_cli.py: the monitor's command line (sukima-vmm and `sukima run`):
# --mem, --timeout, --env, --trace, --max-output, bad usage -> 122.
import os
import re

import pytest

from conftest import (SUKIMA, VMM, check_monitor_end, guest, run,
                      sukima_lines)

HELLO = b"Hello, world!\n"


def usage_error(r):
    assert r.returncode == 122, "status %d, want 122; stderr=%r" % (
        r.returncode, r.stderr)
    assert len(sukima_lines(r.stderr)) == 1, r.stderr


@pytest.mark.parametrize("mem", ["8M", "32M", "64M", "128M", "1G", "16777216"])
def test_mem_sizes_accepted(mem):
    r = run([VMM, "--mem", mem, guest("noop.glibc")])
    assert r.returncode == 0, r.stderr


@pytest.mark.parametrize("mem", ["", "abc", "-5", "0", "1", "12Q", "99999999G",
                                 "64MM", "0x", "1e3M", "18446744073709551616"])
def test_mem_bad(mem):
    usage_error(run([VMM, "--mem", mem, guest("noop.musl")]))


def test_mem_is_honoured():
    r = run([VMM, "--mem", "16M", guest("alloc.musl")])
    # alloc needs ~30 MiB: with 16 MiB it must fail cleanly in the guest
    assert r.returncode != 0 and r.returncode < 120, r
    r = run([VMM, "--mem", "64M", guest("alloc.musl")])
    assert r.returncode == 0 and r.stdout.startswith(b"alloc ok"), r


@pytest.mark.parametrize("opt", ["-z", "-m", "-x5"])
def test_single_dash_option_is_usage_error(opt):
    # an unknown short option is not mistaken for the ELF path (127)
    usage_error(run([VMM, opt, guest("noop.musl")]))


def test_double_dash_ends_options():
    r = run([VMM, "--", guest("echo.musl")], stdin=HELLO)
    assert r.returncode == 0 and r.stdout == HELLO, r


@pytest.mark.parametrize("t", ["abc", "-1", "0", "", "1s", "nan", "inf", "1e400"])
def test_timeout_bad(t):
    usage_error(run([VMM, "--timeout", t, guest("noop.musl")]))


def test_timeout_fraction():
    r = run([VMM, "--timeout", "0.25", guest("hostile_loop.glibc")])
    line = check_monitor_end(r, 124)
    assert re.match(r"sukima: function timed out after 0\.[23] s$", line), line


def test_timeout_default_is_generous():
    # a short function is not cut by the default deadline (10 s)
    r = run([VMM, guest("sha256gen.musl"), "16"])
    assert r.returncode == 0, r


def test_env_pairs_reach_the_guest():
    r = run([VMM, "--env", "A=1", "--env", "B=x=y", "--env", "EMPTY=",
             guest("args.musl"), "z"])
    assert r.returncode == 0, r
    out = r.stdout.decode()
    assert "env A=1\nenv B=x=y\nenv EMPTY=\nenvc 3\n" in out, out
    assert "argv[1] z\n" in out


def test_env_empty_by_default():
    r = run([VMM, guest("args.glibc")], env={"LEAK": "1", "PATH": "/bin"})
    assert r.returncode == 0
    assert b"envc 0\n" in r.stdout and b"LEAK" not in r.stdout


@pytest.mark.parametrize("bad", ["noequals", "=value", ""])
def test_env_bad(bad):
    usage_error(run([VMM, "--env", bad, guest("noop.musl")]))


def test_options_after_the_elf_belong_to_the_guest():
    r = run([VMM, guest("args.musl"), "--mem", "5", "--trace"])
    assert r.returncode == 0, r
    assert b"argv[1] --mem\nargv[2] 5\nargv[3] --trace\n" in r.stdout
    assert not re.search(rb"^\w+\(", r.stderr, re.M), "traced anyway"


# name(args) = result, errors as strace shows them: "= -1 EACCES (...)"
TRACE_LINE = re.compile(r"^([a-z_0-9]+|syscall_?\d+|\d+)\(.*\) = (-?\d+|0x[0-9a-f]+)( .*)?$")
DENIED = r"= (-13|-1 EACCES)"


def test_trace_format():
    r = run([VMM, "--trace", guest("echo.musl")], stdin=HELLO)
    assert r.returncode == 0 and r.stdout == HELLO, r
    lines = r.stderr.decode().splitlines()
    bad = [l for l in lines if not TRACE_LINE.match(l)]
    assert not bad, "lines not in the trace format: %r" % bad
    names = [TRACE_LINE.match(l).group(1) for l in lines]
    assert "read" in names and "write" in names, names
    assert names[-1] in ("exit_group", "exit"), names
    w = [l for l in lines if l.startswith("write(")]
    assert w and w[0].endswith(" = 14"), w


def test_trace_shows_denied_calls():
    r = run([VMM, "--trace", guest("hostile_forbidden.musl")])
    assert r.returncode == 0, r
    err = r.stderr.decode()
    assert re.search(r"^open(at)?\(.*\) " + DENIED, err, re.M), err[:2000]
    assert re.search(r"^socket\(.*\) " + DENIED, err, re.M), err[:2000]
    assert re.search(r"= (-38|-1 ENOSYS)", err), err[:2000]
    bad = [l for l in err.splitlines() if not TRACE_LINE.match(l)]
    assert not bad, bad[:5]


def test_no_trace_by_default():
    r = run([VMM, guest("echo.glibc")], stdin=HELLO)
    assert r.returncode == 0 and r.stdout == HELLO and r.stderr == b"", r


def test_max_output_boundary():
    r = run([VMM, "--max-output", "14", guest("echo.musl")], stdin=HELLO)
    assert r.returncode == 0 and r.stdout == HELLO, r
    r = run([VMM, "--max-output", "13", guest("echo.musl")], stdin=HELLO)
    check_monitor_end(r, 120)
    # docs/guest-abi.md: the write that crosses the limit is cut at it
    assert r.stdout == HELLO[:13]


def test_max_output_counts_stderr_too():
    r = run([VMM, "--max-output", "100000", guest("hostile_flood.musl"), "err"])
    check_monitor_end(r, 120)
    assert r.stdout == b""
    assert r.stderr.startswith(b"x" * 100000) and r.stderr[100000:100001] != b"x"


def test_flood_is_cut_at_the_limit():
    r = run([VMM, "--max-output", "100000", guest("hostile_flood.glibc")])
    check_monitor_end(r, 120)
    assert len(r.stdout) == 100000
    assert set(r.stdout) <= {ord("x")}


@pytest.mark.parametrize("v", ["abc", "-1", "", "10X"])
def test_max_output_bad(v):
    usage_error(run([VMM, "--max-output", v, guest("noop.musl")]))


@pytest.mark.parametrize("argv", [[], ["--bogus", "x"], ["--mem"], ["--timeout"],
                                  ["--env"], ["--max-output"]],
                         ids=["nothing", "unknown", "mem-no-value", "timeout-no-value",
                              "env-no-value", "max-output-no-value"])
def test_bad_usage(argv):
    usage_error(run([VMM] + argv))


def test_exit_status_passes_through():
    r = run([VMM, "/bin/busybox", "false"])
    assert r.returncode == 1 and not sukima_lines(r.stderr)
    r = run([VMM, "/bin/busybox", "sh", "-c", "exit 42"])
    # sh may need fork for this; the status must be sh's, not a crash
    assert r.returncode >= 0 and r.returncode < 120 or r.returncode == 42


def test_stdin_from_a_pipe():
    data = bytes(range(256)) * 4096  # 1 MiB through a pipe, not a file
    r = run([VMM, guest("echo.pie")], stdin=data)
    assert r.returncode == 0 and r.stdout == data


def test_sukima_run_is_the_same():
    if not os.access(SUKIMA, os.X_OK):
        pytest.fail("%s is not built" % SUKIMA)
    r = run([SUKIMA, "run", "--timeout", "5", "--env", "K=v", guest("args.musl"), "a"])
    v = run([VMM, "--timeout", "5", "--env", "K=v", guest("args.musl"), "a"])
    assert r.returncode == 0 and r.stdout == v.stdout, r
    r = run([SUKIMA, "run", "--timeout", "0.3", guest("hostile_loop.musl")])
    assert check_monitor_end(r, 124).startswith("sukima: function timed out")
    r = run([SUKIMA, "run", "--bogus"])
    usage_error(r)


def test_odd_arguments_reach_the_guest_as_natively():
    argv = ["", "", b"\xff\xfe bytes", "sp ace", "-", "--", "x" * 5000]
    r = run([VMM, guest("args.glibc")] + argv)
    n = run([guest("args.glibc")] + argv)
    assert r.returncode == 0 and r.stdout == n.stdout, (r, n)


@pytest.mark.parametrize("mem", ["9M", "8388609", "2G", "4G"])
def test_mem_odd_sizes_run(mem):
    # not a multiple of 2 MiB, or the largest: rounded or refused cleanly
    r = run([VMM, "--mem", mem, guest("noop.musl")])
    assert r.returncode in (0, 122), r
    if r.returncode == 122:
        assert len(sukima_lines(r.stderr)) == 1

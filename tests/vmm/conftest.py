# conftest.py: shared helpers of the protection-domain tests (tests/vmm).
import os
import subprocess

import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BUILD = os.path.abspath(os.path.join(ROOT, os.environ.get("SUKIMA_BUILD", "build")))
VMM = os.path.join(BUILD, "sukima-vmm")
SUKIMA = os.path.join(BUILD, "sukima")
INPUTS = os.path.join(ROOT, "tests", "vmm", "inputs")
CASES = os.path.join(ROOT, "tests", "vmm", "cases.txt")
# Every process a test starts is bounded by this (seconds); the monitor's own
# --timeout is far below it for the cases that expect one.
HARD_TIMEOUT = 120


def status_of(rc):
    """A subprocess returncode as a shell would show it (-11 -> 139)."""
    return 128 - rc if rc < 0 else rc


def sukima_lines(stderr):
    return [l for l in stderr.decode(errors="replace").splitlines()
            if l.startswith("sukima: ")]


def guest(name):
    """Path of a built guest (guests/NAME.musl) relative to BUILD."""
    return os.path.join("guests", name)


SAN_VARS = ("ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS")


def default_env(argv):
    """Empty (env -i), except that our own monitor (directly, or under
    strace) keeps the sanitizer options of an ASan run; a guest's
    environment is only its --env pairs either way."""
    if os.path.basename(argv[0]) in ("sukima-vmm", "sukima", "strace"):
        return {k: os.environ[k] for k in SAN_VARS if k in os.environ}
    return {}


def run(argv, stdin=None, cwd=BUILD, env=None, timeout=HARD_TIMEOUT):
    """Runs argv (bytes stdin), returns CompletedProcess; kills on timeout."""
    p = subprocess.Popen(argv, cwd=cwd, env=default_env(argv) if env is None else env,
                         stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        out, err = p.communicate(stdin, timeout=timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        p.communicate()
        pytest.fail("%s: still running after %d s (killed)" % (argv, timeout))
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    return subprocess.CompletedProcess(argv, p.returncode, out, err)


def run_file_stdin(argv, stdin_path, cwd=BUILD, env=None, timeout=HARD_TIMEOUT):
    """As run(), with stdin redirected from a file (so the guest sees a
    regular file, like the stdkvm runner gives it)."""
    with open(stdin_path or os.devnull, "rb") as f:
        p = subprocess.Popen(argv, cwd=cwd,
                             env=default_env(argv) if env is None else env,
                             stdin=f, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE)
        try:
            out, err = p.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            p.communicate()
            pytest.fail("%s: still running after %d s (killed)" % (argv, timeout))
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
    return subprocess.CompletedProcess(argv, p.returncode, out, err)


def vmm(*args, stdin=None, timeout=HARD_TIMEOUT, tool=None):
    """Runs the monitor (or `sukima run` with tool="sukima") with args."""
    argv = [SUKIMA, "run"] if tool == "sukima" else [VMM]
    return run(argv + [str(a) for a in args], stdin=stdin, timeout=timeout)


def check_monitor_end(r, want):
    """The monitor ended the function: status want, one `sukima: ` line,
    and the monitor itself was not killed by a host signal."""
    assert r.returncode >= 0, "monitor killed by signal %d; stderr=%r" % (
        -r.returncode, r.stderr[-2000:])
    assert r.returncode == want, "status %d, want %d; stderr=%r" % (
        r.returncode, want, r.stderr[-2000:])
    lines = sukima_lines(r.stderr)
    assert len(lines) == 1, "want one 'sukima: ' line, got %r" % lines
    return lines[0]


@pytest.fixture(scope="session", autouse=True)
def built():
    if not os.access(VMM, os.X_OK):
        pytest.fail("%s is not built (make all guests)" % VMM)

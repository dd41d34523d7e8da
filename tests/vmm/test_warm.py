# test_warm.py: the warm path (issue 4): snapshot at the first read of stdin,
# restore per invocation, the exitless stub, `--serve` and `--repeat`.
# Correctness against native runs, isolation between invocations, a poisoned
# invocation not spoiling the next, the serve protocol's framing.
import hashlib
import os
import random
import struct
import subprocess

import pytest

from conftest import BUILD, VMM, run

HARD = 120  # seconds: bound on any read from a monitor

# Guests private to these tests, compiled here (musl and glibc, static).
GUESTS = {
    # counts invocations in a global: must print 1 every time
    "counter": r"""
#include <stdio.h>
#include <unistd.h>
static int calls;
int main(void) {
	char b[4096];
	while (read(0, b, sizeof b) > 0)
		;
	calls++;
	printf("calls=%d\n", calls);
	return 0;
}
""",
    # "set X" hides X in static memory, the heap and an SSE register;
    # "get" prints what it finds in all three
    "secret": r"""
#include <immintrin.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
static char hidden[64];
static char *heap;
int main(void) {
	char in[128] = {0};
	read(0, in, sizeof in - 1);
	if (!heap)
		heap = malloc(64); /* same block every time: from the snapshot */
	if (strncmp(in, "set ", 4) == 0) {
		strncpy(hidden, in + 4, sizeof hidden - 1);
		strncpy(heap, in + 4, 63);
		__m128i v = _mm_loadu_si128((const __m128i *)hidden);
		__asm__ volatile("movdqa %0, %%xmm15" : : "x"(v));
		printf("stored\n");
		return 0;
	}
	char x[17] = {0};
	__m128i v;
	__asm__ volatile("movdqa %%xmm15, %0" : "=x"(v));
	_mm_storeu_si128((__m128i *)x, v);
	printf("static=[%s] heap=[%.63s] xmm15=[%s]\n", hidden, heap, x);
	return 0;
}
""",
    # fresh random bytes per invocation; AT_RANDOM-derived values repeat
    "rand": r"""
#include <stdio.h>
#include <sys/random.h>
#include <unistd.h>
int main(void) {
	unsigned char r[16], b[16];
	read(0, b, sizeof b);
	getrandom(r, sizeof r, 0);
	for (int i = 0; i < 16; i++)
		printf("%02x", r[i]);
	printf("\n");
	return 0;
}
""",
    # misbehaves on request
    "crashy": r"""
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
int main(void) {
	char in[256] = {0};
	ssize_t n = read(0, in, sizeof in - 1);
	if (strncmp(in, "crash", 5) == 0)
		*(volatile int *)0 = 1;
	if (strncmp(in, "loop", 4) == 0)
		for (;;)
			;
	if (strncmp(in, "flood", 5) == 0)
		for (;;)
			fwrite(in, 1, sizeof in, stdout);
	if (strncmp(in, "exit7", 5) == 0)
		return 7;
	for (ssize_t i = 0; i < n; i++)
		in[i] = (char)toupper((unsigned char)in[i]);
	fwrite(in, 1, (size_t)n, stdout);
	return 0;
}
""",
    # prints before it reads: that output belongs to every invocation
    "banner": r"""
#include <stdio.h>
#include <unistd.h>
int main(void) {
	char b[64];
	printf("banner\n");
	fflush(stdout);
	fprintf(stderr, "log line\n");
	ssize_t n = read(0, b, sizeof b);
	printf("got %zd\n", n);
	return 0;
}
""",
    # never reads stdin: no snapshot
    "noread": r"""
#include <stdio.h>
int main(void) { printf("no read\n"); return 3; }
""",
    # reads in small pieces through stdio and writes many small chunks
    "chunky": r"""
#include <stdio.h>
int main(void) {
	int c; long n = 0;
	setvbuf(stdout, NULL, _IONBF, 0);
	while ((c = getchar()) != EOF) {
		putchar(c);
		n++;
	}
	printf("\n%ld\n", n);
	return 0;
}
""",
}


@pytest.fixture(scope="module")
def guests(tmp_path_factory):
    d = tmp_path_factory.mktemp("warm-guests")
    out = {}
    for name, src in GUESTS.items():
        c = d / (name + ".c")
        c.write_text(src)
        for cc, suffix in (("musl-gcc", "musl"), ("gcc", "glibc")):
            exe = str(d / ("%s.%s" % (name, suffix)))
            flags = ["-O2", "-static", "-o", exe, str(c)]
            if name == "secret":
                flags.insert(0, "-msse2")
            subprocess.run([cc] + flags, check=True, timeout=HARD)
            out["%s.%s" % (name, suffix)] = exe
    return out


def read_exact(f, n):
    buf = b""
    while len(buf) < n:
        chunk = f.read(n - len(buf))
        if not chunk:
            raise EOFError("monitor closed after %d of %d bytes" % (len(buf), n))
        buf += chunk
    return buf


class Served:
    """A `sukima-vmm --serve` process: hello, then invoke() per request."""

    def __init__(self, argv):
        self.p = subprocess.Popen([VMM, "--serve"] + argv, cwd=BUILD, env={},
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE)
        hello = read_exact(self.p.stdout, 32)
        magic, abi, warm, _, init_us, _ = struct.unpack("<4sIIIQQ", hello)
        assert magic == b"SKH1", hello
        self.abi, self.warm, self.init_us = abi, warm, init_us

    def invoke(self, data, timeout_us=0, max_output=0):
        self.p.stdin.write(struct.pack("<4sIQQQ", b"SKQ1", 0, timeout_us,
                                       max_output, len(data)) + data)
        self.p.stdin.flush()
        hdr = read_exact(self.p.stdout, 48)
        (magic, status, reason, msg_len, out_len, err_len, ns, exits,
         _) = struct.unpack("<4siIIQQQII", hdr)
        assert magic == b"SKR1", hdr
        out = read_exact(self.p.stdout, out_len)
        err = read_exact(self.p.stdout, err_len)
        msg = read_exact(self.p.stdout, msg_len).decode()
        return dict(status=status, reason=reason, out=out, err=err, msg=msg,
                    exits=exits, ns=ns)

    def close(self):
        try:
            if self.p.poll() is None:
                self.p.stdin.close()
                self.p.wait(timeout=HARD)
        finally:
            if self.p.poll() is None:
                self.p.kill()
                self.p.wait()
        return self.p.returncode


@pytest.fixture
def served():
    started = []

    def start(*argv):
        s = Served([str(a) for a in argv])
        started.append(s)
        return s
    yield start
    for s in started:
        if s.p.poll() is None:
            s.p.kill()
        s.p.wait()


def native(binary, data, args=()):
    p = subprocess.run([binary] + list(args), input=data, capture_output=True,
                       cwd=BUILD, env={}, timeout=HARD)
    return p.returncode, p.stdout


# --- correctness ------------------------------------------------------------

@pytest.mark.parametrize("binary,args", [
    ("guests/sha256.musl", []), ("guests/sha256.glibc", []),
    ("guests/upper.pie", []), ("guests/wc.glibc", []),
    ("/bin/busybox", ["sha256sum"]), ("/bin/busybox", ["sort"]),
])
def test_varied_inputs_match_native(served, binary, args):
    rng = random.Random(4)
    inputs = [b""] + [bytes(rng.getrandbits(8) for _ in range(rng.choice(
        [1, 7, 100, 4095, 4096, 70000]))) for _ in range(12)]
    inputs += [b"line %d\n" % i * (i + 1) for i in range(8)]
    want = {d: native(binary if binary.startswith("/") else
                      os.path.join(BUILD, binary), d, args) for d in inputs}
    s = served(binary, *args)
    assert s.warm == 1
    for _ in range(3):
        for d in inputs:
            r = s.invoke(d)
            assert (r["status"], r["out"]) == want[d], (binary, len(d), r["msg"])
    assert s.close() == 0


def test_ten_thousand_invocations(served):
    # back to back through one monitor, varied inputs, checked every time
    s = served("guests/sha256.glibc")
    rng = random.Random(10000)
    pool = [bytes(rng.getrandbits(8) for _ in range(rng.randrange(0, 3000)))
            for _ in range(64)]
    want = {d: native(os.path.join(BUILD, "guests/sha256.glibc"), d)[1]
            for d in pool}
    assert hashlib.sha256(pool[1]).hexdigest().encode() in want[pool[1]]
    for i in range(10000):
        d = pool[i % len(pool)]
        r = s.invoke(d)
        assert r["status"] == 0 and r["out"] == want[d], (i, r["msg"])
    assert s.close() == 0


def test_repeat_prints_latencies_and_last_output():
    r = run([VMM, "--repeat", "50", "guests/upper.musl"], stdin=b"abc\n")
    assert r.returncode == 0, r.stderr
    assert r.stdout == b"ABC\n"
    line = r.stderr.decode().strip().splitlines()[-1]
    f = line.split()
    assert f[0:7:2] == ["min", "p50", "p99", "max"], line
    lo, p50, p99, hi = (float(f[i]) for i in (1, 3, 5, 7))
    assert 0 < lo <= p50 <= p99 <= hi, line
    assert "(50 warm invocations" in line


def test_sukima_run_repeat():
    r = run([os.path.join(BUILD, "sukima"), "run", "--repeat", "3",
             "guests/echo.glibc"], stdin=b"x\n")
    assert r.returncode == 0 and r.stdout == b"x\n", r.stderr


@pytest.mark.parametrize("libc", ["musl", "glibc"])
def test_at_most_two_exits(served, guests, libc):
    s = served("guests/echo." + libc)
    for d in (b"", b"hi\n", b"x" * 100000):
        r = s.invoke(d)
        assert r["out"] == d and r["status"] == 0
        assert 1 <= r["exits"] <= 2, r
    # a busier function still reads and writes without exits
    s = served(guests["chunky." + libc])
    r = s.invoke(b"abcdef" * 1000)
    assert r["out"] == b"abcdef" * 1000 + b"\n6000\n"
    assert r["exits"] <= 2, r


def test_large_request_beyond_the_window(served):
    # more than the 448 KiB input window: the rest comes through exits
    data = bytes(random.Random(1).getrandbits(8) for _ in range(1 << 20))
    s = served("guests/sha256.musl")
    r = s.invoke(data)
    assert r["out"] == native(os.path.join(BUILD, "guests/sha256.musl"),
                              data)[1]
    r = s.invoke(b"small")
    assert r["out"] == native(os.path.join(BUILD, "guests/sha256.musl"),
                              b"small")[1]


def test_large_response_beyond_the_buffer(served):
    data = b"z" * (3 << 20)
    s = served("guests/upper.glibc")
    r = s.invoke(data)
    assert r["status"] == 0 and r["out"] == data.upper()


# --- isolation --------------------------------------------------------------

@pytest.mark.parametrize("libc", ["musl", "glibc"])
def test_global_counter_is_one_every_time(served, guests, libc):
    s = served(guests["counter." + libc])
    for i in range(50):
        assert s.invoke(b"req %d" % i)["out"] == b"calls=1\n"


@pytest.mark.parametrize("libc", ["musl", "glibc"])
def test_secret_does_not_leak(served, guests, libc):
    s = served(guests["secret." + libc])
    assert s.invoke(b"set hunter2-secret")["out"] == b"stored\n"
    r = s.invoke(b"get")
    assert b"hunter2" not in r["out"], r["out"]
    assert r["out"].startswith(b"static=[] heap=[] xmm15="), r["out"]


def test_getrandom_fresh_after_restore(served, guests):
    s = served(guests["rand.glibc"])
    seen = {s.invoke(b"x")["out"] for _ in range(20)}
    assert len(seen) == 20


# --- poison -----------------------------------------------------------------

@pytest.mark.parametrize("libc", ["musl", "glibc"])
def test_bad_invocations_do_not_poison(served, guests, libc):
    s = served(guests["crashy." + libc])
    good = lambda: s.invoke(b"fine\n")
    assert good()["out"] == b"FINE\n"
    r = s.invoke(b"crash")
    assert r["status"] == 139 and "page fault at 0x0" in r["msg"], r
    assert good()["out"] == b"FINE\n"
    r = s.invoke(b"loop", timeout_us=200000)
    assert r["status"] == 124 and "timed out after 0.2 s" in r["msg"], r
    assert good()["out"] == b"FINE\n"
    r = s.invoke(b"flood", max_output=10000)
    assert r["status"] == 120 and len(r["out"]) == 10000, r["msg"]
    assert "output limit of 10000 bytes" in r["msg"]
    r = s.invoke(b"exit7")
    assert r["status"] == 7 and r["msg"] == ""
    for _ in range(20):
        r = good()
        assert (r["status"], r["out"], r["msg"]) == (0, b"FINE\n", "")
    assert s.close() == 0


def test_startup_output_is_replayed(served, guests):
    s = served(guests["banner.musl"])
    for d in (b"", b"abc"):
        r = s.invoke(d)
        assert r["out"] == b"banner\ngot %d\n" % len(d)
        assert r["err"] == b"log line\n"


def test_function_that_never_reads_stdin(served, guests):
    s = served(guests["noread.glibc"])
    assert s.warm == 0
    assert s.close() == 0
    r = run([VMM, "--repeat", "5", guests["noread.musl"]], stdin=b"")
    assert r.returncode == 3 and r.stdout == b"no read\n", r
    assert b"cold run" in r.stderr


# --- the protocol -----------------------------------------------------------

@pytest.mark.parametrize("frame", [
    b"XXXX" + bytes(28),
    struct.pack("<4sIQQQ", b"SKQ1", 1, 0, 0, 0),
    struct.pack("<4sIQQQ", b"SKQ1", 0, 0, 0, 1 << 40),
    struct.pack("<4sIQQQ", b"SKQ1", 0, 0, 0, 100) + b"short",
    b"SKQ1" + bytes(10),
])
def test_malformed_frames_end_the_monitor_cleanly(frame):
    p = subprocess.Popen([VMM, "--serve", "guests/echo.musl"], cwd=BUILD,
                         env={}, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)
    try:
        out, err = p.communicate(frame, timeout=HARD)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    assert p.returncode == 122, (p.returncode, err)
    assert out[:4] == b"SKH1" and len(out) == 32


def test_serve_and_repeat_exclude_each_other():
    r = run([VMM, "--serve", "--repeat", "2", "guests/echo.musl"])
    assert r.returncode == 122

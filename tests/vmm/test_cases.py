# test_cases.py: runs tests/vmm/cases.txt through build/sukima-vmm (this
# host's KVM flavour) and compares with native runs byte for byte.
import os
import re

import pytest

from conftest import (BUILD, CASES, INPUTS, VMM, run_file_stdin, status_of,
                      sukima_lines)

EXPECT_RE = re.compile(r"^(native|status:([0-9]+(?:,[0-9]+)*)(?::stderr~(.*))?)$")


def load_cases():
    cases, seen = [], set()
    with open(CASES) as f:
        for no, line in enumerate(f, 1):
            line = line.rstrip("\n")
            if not line.strip() or line.startswith("#"):
                continue
            fields = line.split("|")
            if len(fields) == 5:
                fields.append("")
            if len(fields) != 6:
                raise ValueError("cases.txt:%d: want 5 or 6 fields" % no)
            name, binary, args, stdin, expect, opts = fields
            if name in seen:
                raise ValueError("cases.txt:%d: duplicate %s" % (no, name))
            seen.add(name)
            if not EXPECT_RE.match(expect):
                raise ValueError("cases.txt:%d: bad EXPECT %r" % (no, expect))
            if re.search(r"[*?\[]", args):
                raise ValueError("cases.txt:%d: glob character in ARGS" % no)
            cases.append(pytest.param(binary, args.split(), stdin, expect,
                                      opts.split(), id=name))
    return cases


def test_table_is_well_formed():
    assert len(load_cases()) > 50
    for p in load_cases():
        binary, _, stdin, _, _ = p.values
        if stdin:
            assert os.path.isfile(os.path.join(INPUTS, stdin)), stdin


@pytest.mark.parametrize("binary,args,stdin,expect,opts", load_cases())
def test_case(binary, args, stdin, expect, opts):
    inp = os.path.join(INPUTS, stdin) if stdin else None
    r = run_file_stdin([VMM] + opts + [binary] + args, inp)
    assert r.returncode >= 0, "the monitor died of signal %d; stderr=%r" % (
        -r.returncode, r.stderr[-2000:])
    lines = sukima_lines(r.stderr)
    m = EXPECT_RE.match(expect)
    if m.group(1) == "native":
        assert os.path.isfile(os.path.join(BUILD, binary)), binary
        n = run_file_stdin([binary] + args, inp)
        want = status_of(n.returncode)
        assert r.returncode == want, (
            "status %d, native %d; stderr=%r" % (r.returncode, want, r.stderr[-2000:]))
        assert r.stdout == n.stdout, (
            "stdout differs from native (%d vs %d bytes); first diff at %d; stderr=%r" % (
                len(r.stdout), len(n.stdout),
                next((i for i, (a, b) in enumerate(zip(r.stdout, n.stdout)) if a != b),
                     min(len(r.stdout), len(n.stdout))),
                r.stderr[-2000:]))
        if want < 120:
            assert not lines, "unexpected monitor message %r" % lines
        return
    wants = [int(s) for s in m.group(2).split(",")]
    assert r.returncode in wants, "status %d, want %s; stderr=%r" % (
        r.returncode, wants, r.stderr[-2000:])
    if r.returncode >= 120:
        assert len(lines) == 1, "want one 'sukima: ' line, got %r" % lines
    else:
        assert not lines, "unexpected monitor message %r" % lines
    if m.group(3):
        assert m.group(3).encode() in r.stderr, "stderr lacks %r: %r" % (
            m.group(3), r.stderr[-2000:])

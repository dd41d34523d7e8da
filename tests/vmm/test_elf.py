# test_elf.py: malformed ELFs, made here from a real guest, must be refused
# with status 126 (127: no such file) and one `sukima: ` line, never crash.
import os
import struct

import pytest

from conftest import BUILD, VMM, run

EHDR = struct.Struct("<16sHHIQQQIHHHHHH")
PHDR = struct.Struct("<IIQQQQQQ")
PT_LOAD, PT_INTERP = 1, 3


class Elf:
    """A mutable copy of a real ELF64 with helpers to damage it."""

    def __init__(self, name):
        with open(os.path.join(BUILD, "guests", name), "rb") as f:
            self.b = bytearray(f.read())
        self.eh = list(EHDR.unpack_from(self.b, 0))

    def phoff(self, i):
        return self.eh[5] + i * PHDR.size

    def ph(self, i):
        return list(PHDR.unpack_from(self.b, self.phoff(i)))

    def set_ph(self, i, ph):
        PHDR.pack_into(self.b, self.phoff(i), *ph)

    def loads(self):
        return [i for i in range(self.eh[10]) if self.ph(i)[0] == PT_LOAD]

    def set_eh(self, field, value):
        self.eh[field] = value
        EHDR.pack_into(self.b, 0, *self.eh)

    def write(self, tmp_path, name="bad.elf"):
        p = tmp_path / name
        p.write_bytes(bytes(self.b))
        p.chmod(0o755)
        return str(p)


# EHDR fields
E_IDENT, E_TYPE, E_MACHINE, E_VERSION, E_ENTRY, E_PHOFF = range(6)
E_PHENTSIZE, E_PHNUM = 9, 10
# PHDR fields
P_TYPE, P_FLAGS, P_OFFSET, P_VADDR, P_PADDR, P_FILESZ, P_MEMSZ, P_ALIGN = range(8)


def refused(path, *opts, want=126):
    r = run([VMM] + list(opts) + [path])
    assert r.returncode >= 0, "monitor died of signal %d" % -r.returncode
    err = r.stderr.decode(errors="replace")
    assert r.returncode == want, "status %d, want %d; stderr=%r" % (
        r.returncode, want, err)
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("sukima: "), (
        "want one 'sukima: ' line, got %r" % err)
    assert r.stdout == b""
    return lines[0]


def test_the_base_binaries_run(tmp_path):
    # The damaged copies below start from these: undamaged, they must run.
    for name in ("noop.musl", "noop.pie"):
        path = Elf(name).write(tmp_path, name)
        r = run([VMM, path])
        assert r.returncode == 0, r.stderr


def mutate_truncated_header(e):
    del e.b[40:]


def mutate_truncated_phdrs(e):
    del e.b[e.phoff(1) + 8:]


def mutate_truncated_segment(e):
    last = e.ph(e.loads()[-2])
    del e.b[last[P_OFFSET] + last[P_FILESZ] // 2:]


def mutate_overlapping_segments(e):
    l = e.loads()
    a, b = e.ph(l[1]), e.ph(l[2])
    b[P_VADDR] = b[P_PADDR] = a[P_VADDR] + 0x10
    e.set_ph(l[2], b)


def mutate_entry_outside(e):
    e.set_eh(E_ENTRY, 0x7f0000000000)


def mutate_entry_below_segments(e):
    e.set_eh(E_ENTRY, e.ph(e.loads()[0])[P_VADDR] - 0x1000
             if e.ph(e.loads()[0])[P_VADDR] >= 0x1000 else 0x7f0000001000)


def contained_entry_in_data(e):
    # inside a segment, but not an executable one: the loader may accept
    # it (the guest ABI does not promise NX per segment); it must fault
    rw = e.ph(e.loads()[-1])
    e.set_eh(E_ENTRY, rw[P_VADDR] + 8)


def tolerated_offset_misaligned(e):
    # p_offset and p_vaddr disagree modulo the page: Linux refuses it; a
    # loader that copies may load it (wrong bytes) or refuse it
    i = e.loads()[1]
    ph = e.ph(i)
    ph[P_OFFSET] += 1
    e.set_ph(i, ph)


def tolerated_align_odd(e):
    for i in e.loads():
        ph = e.ph(i)
        ph[P_ALIGN] = 3
        e.set_ph(i, ph)


def tolerated_many_null_phdrs(e):
    # 4000 PT_NULL entries appended after the real ones
    n = e.eh[E_PHNUM]
    table = bytes(e.b[e.eh[E_PHOFF]:e.eh[E_PHOFF] + n * PHDR.size])
    e.set_eh(E_PHOFF, len(e.b))
    e.b += table + bytes(PHDR.size * 4000)
    e.set_eh(E_PHNUM, n + 4000)


def contained_entry_zero(e):
    # 0 is outside the segments of an ET_EXEC but the first byte of a PIE
    e.set_eh(E_ENTRY, 0)


def mutate_memsz_absurd(e):
    ph = e.ph(e.loads()[-1])
    ph[P_MEMSZ] = 1 << 60
    e.set_ph(e.loads()[-1], ph)


def mutate_filesz_over_memsz(e):
    ph = e.ph(e.loads()[-1])
    ph[P_FILESZ] = ph[P_MEMSZ] + 0x10000
    e.set_ph(e.loads()[-1], ph)


def mutate_offset_absurd(e):
    ph = e.ph(e.loads()[1])
    ph[P_OFFSET] = 1 << 62
    e.set_ph(e.loads()[1], ph)


def mutate_vaddr_wraps(e):
    ph = e.ph(e.loads()[-1])
    ph[P_VADDR] = ph[P_PADDR] = 0xfffffffffffff000
    ph[P_OFFSET] = 0
    e.set_ph(e.loads()[-1], ph)


def mutate_vaddr_kernel(e):
    ph = e.ph(e.loads()[-1])
    ph[P_VADDR] = ph[P_PADDR] = 0xffff800000000000 + (ph[P_VADDR] & 0xfff)
    e.set_ph(e.loads()[-1], ph)


def mutate_vaddr_in_monitor_area(e):
    # the first 2 MiB hold the page tables, GDT, IDT and the stub
    ph = e.ph(e.loads()[-1])
    ph[P_VADDR] = ph[P_PADDR] = 0x12000 + (ph[P_VADDR] & 0xfff)
    e.set_ph(e.loads()[-1], ph)


def mutate_bigger_than_memory(e):
    ph = e.ph(e.loads()[-1])
    ph[P_MEMSZ] = 200 << 20  # guest memory is 64 MiB
    e.set_ph(e.loads()[-1], ph)


def mutate_phnum_huge(e):
    e.set_eh(E_PHNUM, 0xffff)


def mutate_phnum_zero(e):
    e.set_eh(E_PHNUM, 0)


def mutate_phentsize(e):
    e.set_eh(E_PHENTSIZE, 20)


def mutate_phoff_absurd(e):
    e.set_eh(E_PHOFF, 1 << 63)


def mutate_class32(e):
    e.b[4] = 1  # ELFCLASS32 with a 64-bit body


def mutate_big_endian(e):
    e.b[5] = 2


def mutate_machine_arm(e):
    e.set_eh(E_MACHINE, 183)  # EM_AARCH64


def mutate_type_rel(e):
    e.set_eh(E_TYPE, 1)  # ET_REL: an object file


def mutate_type_core(e):
    e.set_eh(E_TYPE, 4)


def mutate_interp(e):
    # a PT_INTERP makes it a dynamically linked program
    i = [i for i in range(e.eh[E_PHNUM]) if e.ph(i)[P_TYPE] != PT_LOAD][0]
    ph = e.ph(i)
    ph[P_TYPE] = PT_INTERP
    ph[P_OFFSET], ph[P_FILESZ], ph[P_MEMSZ] = 0, 8, 8
    e.set_ph(i, ph)


def mutate_no_load(e):
    for i in e.loads():
        ph = e.ph(i)
        ph[P_TYPE] = 6  # PT_PHDR
        e.set_ph(i, ph)


MUTATIONS = sorted((n[len("mutate_"):], f) for n, f in globals().items()
                   if n.startswith("mutate_"))


CONTAINED = sorted((n[len("contained_"):], f) for n, f in globals().items()
                   if n.startswith("contained_"))


@pytest.mark.parametrize("base", ["noop.musl", "noop.pie"])
@pytest.mark.parametrize("name,mutate", CONTAINED, ids=[m[0] for m in CONTAINED])
def test_contained(tmp_path, base, name, mutate):
    e = Elf(base)
    mutate(e)
    r = run([VMM, e.write(tmp_path)])
    assert r.returncode >= 0, "monitor died of signal %d" % -r.returncode
    assert r.returncode in (121, 126, 132, 139), r
    lines = r.stderr.decode(errors="replace").splitlines()
    assert len(lines) == 1 and lines[0].startswith("sukima: "), lines


TOLERATED = sorted((n[len("tolerated_"):], f) for n, f in globals().items()
                   if n.startswith("tolerated_"))


@pytest.mark.parametrize("base", ["noop.musl", "noop.pie"])
@pytest.mark.parametrize("name,mutate", TOLERATED, ids=[m[0] for m in TOLERATED])
def test_tolerated(tmp_path, base, name, mutate):
    # odd but not clearly invalid: run, fault or refuse, cleanly
    e = Elf(base)
    mutate(e)
    r = run([VMM, e.write(tmp_path)])
    assert r.returncode >= 0, "monitor died of signal %d" % -r.returncode
    assert r.returncode in (0, 121, 126, 132, 139), r
    lines = r.stderr.decode(errors="replace").splitlines()
    if r.returncode >= 120:
        assert len(lines) == 1 and lines[0].startswith("sukima: "), lines


@pytest.mark.parametrize("base", ["noop.musl", "noop.pie"])
@pytest.mark.parametrize("name,mutate", MUTATIONS, ids=[m[0] for m in MUTATIONS])
def test_malformed(tmp_path, base, name, mutate):
    e = Elf(base)
    mutate(e)
    line = refused(e.write(tmp_path))
    assert line.startswith("sukima: ELF: "), line


def test_elf32_header(tmp_path):
    # A well-formed 32-bit i386 executable header (no multilib needed).
    eh = struct.pack("<16sHHIIIIIHHHHHH", b"\x7fELF\x01\x01\x01" + b"\0" * 9,
                     2, 3, 1, 0x8048054, 52, 0, 0, 52, 32, 1, 40, 0, 0)
    ph = struct.pack("<IIIIIIII", PT_LOAD, 0, 0x8048000, 0x8048000, 0x60, 0x60, 5, 0x1000)
    p = tmp_path / "elf32"
    p.write_bytes(eh + ph + b"\x90" * 12)
    refused(str(p))


def test_dynamic_binary():
    refused("/bin/true")


@pytest.mark.parametrize("content", [b"", b"#!/bin/sh\necho hi\n", b"\x7fEL",
                                     b"MZ\x90\0" + b"\0" * 200,
                                     b"\x7fELF" + b"\xff" * 60],
                         ids=["empty", "script", "magic-only", "pe", "garbage-header"])
def test_not_an_elf(tmp_path, content):
    p = tmp_path / "notelf"
    p.write_bytes(content)
    refused(str(p))


def test_directory(tmp_path):
    r = run([VMM, str(tmp_path)])
    assert r.returncode in (126, 127), r
    assert len(r.stderr.decode().splitlines()) == 1
    assert r.stderr.startswith(b"sukima: ")


def test_nonexistent(tmp_path):
    refused(str(tmp_path / "nope"), want=127)


def test_dev_null():
    r = run([VMM, "/dev/null"])
    assert r.returncode in (126, 127), r
    assert len(r.stderr.decode().splitlines()) == 1
    assert r.stderr.startswith(b"sukima: ")


def test_truncated_everywhere(tmp_path):
    # Every prefix length at a few hundred cut points must be refused or
    # (if it happens to hold everything) run; never crash the monitor.
    e = Elf("noop.musl")
    src = e.b
    need = max([e.phoff(e.eh[E_PHNUM])] +
               [e.ph(i)[P_OFFSET] + e.ph(i)[P_FILESZ] for i in e.loads()])
    cuts = sorted(set(list(range(0, 512, 7)) + list(range(512, len(src), max(1, len(src) // 60)))))
    for n in cuts:
        p = tmp_path / "cut"
        p.write_bytes(bytes(src[:n]))
        r = run([VMM, str(p)], timeout=30)
        assert r.returncode >= 0, "cut at %d: monitor died of signal %d" % (n, -r.returncode)
        want = 0 if n >= need else 126
        assert r.returncode == want, "cut at %d (need %d): status %d %r" % (
            n, need, r.returncode, r.stderr)

#!/bin/sh
# make_seeds.sh: regenerates the seed corpora: fuzz_elf (tiny real static
# executables, ET_EXEC and static-PIE, and a few broken cuts), fuzz_serve (a
# request header), fuzz_syscall (a few calls with edge-of-memory pointers).
set -eu
cd "$(dirname "$0")"
out=corpus/elf
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$out"
cat > "$tmp/t.S" <<'ASM'
	.globl _start
_start:	mov $60, %eax
	xor %edi, %edi
	syscall
	.data
v:	.quad 42
	.bss
b:	.zero 8192
ASM
gcc -nostdlib -static -o "$tmp/exec" "$tmp/t.S"
gcc -nostdlib -static-pie -o "$tmp/pie" "$tmp/t.S"
strip -o "$out/exec" "$tmp/exec"
strip -o "$out/pie" "$tmp/pie"
head -c 64 "$out/exec" > "$out/ehdr-only"
head -c 200 "$out/exec" > "$out/phdrs-cut"
head -c 4200 "$out/pie" > "$out/pie-cut"
printf '\177ELF\001\001\001' > "$out/elf32-ident"
mkdir -p corpus/serve corpus/syscall
printf 'SKQ1\0\0\0\0\100\102\17\0\0\0\0\0\0\0\1\0\0\0\0\0\3\0\0\0\0\0\0\0' >corpus/serve/req-3
# nr (2 bytes), then 6 x (selector byte, 8 value bytes), 8 bytes of padding
python3 - <<'PY'
import struct
calls = [(1, [(0, 1), (6, 0), (0, 64)]), (0, [(0, 0), (1, 0), (0, 16)]),
         (20, [(0, 1), (9, 0), (0, 2)]), (9, [(0, 0), (0, 8192), (0, 3)]),
         (63, [(7, 0)]), (231, [(0, 3)])]
out = b""
for nr, args in calls:
    rec = struct.pack("<H", nr)
    for sel, val in (args + [(0, 0)] * 6)[:6]:
        rec += bytes([sel]) + struct.pack("<Q", val)
    out += rec + bytes(64 - len(rec))
open("corpus/syscall/calls", "wb").write(out)
PY
rm -f corpus/syscall/random-10
ls -l "$out" corpus/serve corpus/syscall

#!/bin/sh
# make_seeds.sh: regenerates the seed corpus of fuzz_elf (tests/fuzz/corpus/elf):
# tiny real static executables (ET_EXEC, static-PIE) and a few broken cuts.
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
ls -l "$out"

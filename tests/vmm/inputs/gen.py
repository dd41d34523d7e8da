#!/usr/bin/python3
# gen.py: regenerates the committed test inputs (deterministic; run from here).
import base64, gzip, random

rnd = random.Random(20261127)
words = ("the quick brown fox jumps over lazy dog Sukima gap idle PC "
         "function micro-VM KVM stub syscall page table guest host monitor "
         "caf\u00e9 na\u00efve \u00fcber \u65e5\u672c").split()


def prose(lines):
    out = []
    for i in range(lines):
        n = rnd.randint(0, 14)
        sep = rnd.choice([" ", " ", " ", "\t", "  "])
        line = sep.join(rnd.choice(words) for _ in range(n))
        if rnd.random() < 0.3:
            line = line.capitalize() + "."
        out.append(line)
    return "\n".join(out) + "\n"


with open("hello.txt", "w") as f:
    f.write("Hello, world!\n")
open("empty.txt", "w").close()
with open("text.txt", "w", encoding="utf-8") as f:
    f.write(prose(400))
with open("big.txt", "w", encoding="utf-8") as f:
    f.write(prose(5000))
with open("numbers.txt", "w") as f:
    for i in range(3000):
        f.write("%d\n" % rnd.choice([rnd.randint(-50, 50), rnd.randint(0, 10**9)]))
with open("csv.txt", "w") as f:
    for i in range(500):
        f.write("%d,%s,%d.%02d,%s\n" % (i, rnd.choice(words).encode("ascii", "replace").decode(),
                                        rnd.randint(0, 999), rnd.randint(0, 99),
                                        rnd.choice(["yes", "no", "maybe"])))
with open("binary.bin", "wb") as f:
    f.write(bytes(rnd.getrandbits(8) for _ in range(65536)))
with open("text.txt", "rb") as src, open("text.b64", "wb") as f:
    f.write(base64.encodebytes(src.read()))
with open("big.txt", "rb") as src, open("big.txt.gz", "wb") as f:
    f.write(gzip.compress(src.read(), compresslevel=6, mtime=0))

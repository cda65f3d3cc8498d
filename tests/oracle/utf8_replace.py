#!/usr/bin/env python3
"""Byte strings that are mostly not UTF-8, and what Python's
bytes.decode("utf-8", errors="replace") makes of them: the oracle for how nc
turns invalid UTF-8 into U+FFFD (lib/unicode.c).

usage: utf8_replace.py table [--seed N] [--cases N]
           one case a line: the bytes in hex, a space, the decoded text's
           UTF-8 in hex (tests/fixtures/unicode/utf8_replace.txt is this)
       utf8_replace.py lines [--seed N] [--cases N]
           the raw byte strings, one a line (none holds \\n or \\r)
       utf8_replace.py check-docs LINES DOCS
           DOCS (nc-shard docs --format=lines of LINES) holds each line of
           LINES decoded as Python does; exit 1 naming the first that differs
"""
import argparse
import json
import random
import sys

# Bytes at the edges of UTF-8's ranges: where lead bytes start and stop, and
# where the second byte's range narrows (E0, ED, F0, F4).
EDGES = [0x00, 0x41, 0x7F, 0x80, 0x8F, 0x90, 0x9F, 0xA0, 0xBF, 0xC0, 0xC1, 0xC2,
         0xDF, 0xE0, 0xE1, 0xEC, 0xED, 0xEE, 0xEF, 0xF0, 0xF1, 0xF3, 0xF4, 0xF5,
         0xF8, 0xFE, 0xFF]
# Code points at the edges of each encoded length and of the surrogates.
CODE_POINTS = [0x41, 0x7F, 0x80, 0x7FF, 0x800, 0xFFF, 0x1000, 0xD7FF, 0xE000,
               0xFFFD, 0xFFFF, 0x10000, 0x3FFFF, 0x40000, 0xFFFFF, 0x100000, 0x10FFFF]


def random_bytes(rng):
    return bytes(rng.choice(EDGES) if rng.random() < 0.7 else rng.randrange(256)
                 for _ in range(rng.randrange(1, 11)))


def valid_text(rng):
    cps = [rng.choice(CODE_POINTS) if rng.random() < 0.5 else rng.randrange(0x80, 0x110000)
           for _ in range(rng.randrange(1, 4))]
    return "".join(chr(c) for c in cps if not 0xD800 <= c <= 0xDFFF).encode("utf-8", "surrogatepass")


def mutated(rng):
    b = bytearray(valid_text(rng))
    for _ in range(rng.randrange(1, 3)):
        what, at = rng.randrange(4), rng.randrange(len(b) + 1)
        if what == 0 and at < len(b):
            b[at] = rng.choice(EDGES)                # replace a byte
        elif what == 1 and at < len(b):
            del b[at]                                # drop one
        elif what == 2:
            b.insert(at, rng.choice(EDGES))          # insert one
        else:
            del b[at:]                               # truncate
    return bytes(b) or b"\x80"


def cases(seed, n):
    rng = random.Random(seed)
    for i in range(n):
        b = random_bytes(rng) if i % 2 else mutated(rng)
        yield b.replace(b"\n", b"\x80").replace(b"\r", b"\xc0")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["table", "lines", "check-docs"])
    ap.add_argument("files", nargs="*")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--cases", type=int, default=3000)
    a = ap.parse_args()
    out = sys.stdout.buffer
    if a.mode == "table":
        for b in cases(a.seed, a.cases):
            out.write(b"%s %s\n" % (b.hex().encode(), b.decode("utf-8", "replace").encode().hex().encode()))
    elif a.mode == "lines":
        for b in cases(a.seed, a.cases):
            out.write(b + b"\n")
    else:
        with open(a.files[0], "rb") as f:
            want = [line.decode("utf-8", "replace") for line in f.read().split(b"\n")[:-1]]
        with open(a.files[1], encoding="utf-8") as f:
            got = [json.loads(line)["text"] for line in f]
        for i, (w, g) in enumerate(zip(want, got)):
            if w != g:
                sys.exit("%s:%d: python %r, nc-shard %r" % (a.files[0], i + 1, w, g))
        if len(want) != len(got):
            sys.exit("%d lines, %d documents" % (len(want), len(got)))


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Compare chat renders: nc's "id/m id/m ..." lines (one per conversation)
with the oracle's (render_chat.py). Reports the first differing
conversation and token; exit 1 on any difference.

usage: chat_compare.py NC_OUTPUT ORACLE_OUTPUT
"""
import sys


def lines(path):
    with open(path, encoding="utf-8") as f:
        return [line.rstrip("\n") for line in f]


def first_difference(got, want):
    for k, (g, w) in enumerate(zip(got, want)):
        if g != w:
            return k
    return min(len(got), len(want))


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    nc, oracle = lines(sys.argv[1]), lines(sys.argv[2])
    for i, (g, w) in enumerate(zip(nc, oracle)):
        got, want = g.split(), w.split()
        if got == want:
            continue
        k = first_difference(got, want)
        print("conversation %d, token %d: nc %s, oracle %s (nc %d tokens, oracle %d)" %
              (i + 1, k, " ".join(got[k:k + 5]) or "(end)", " ".join(want[k:k + 5]) or "(end)",
               len(got), len(want)))
        return 1
    if len(nc) != len(oracle):
        print("nc rendered %d conversations, the oracle %d" % (len(nc), len(oracle)))
        return 1
    print("%d conversations agree (%d tokens)" % (len(nc), sum(len(w.split()) for w in oracle)))
    return 0


if __name__ == "__main__":
    sys.exit(main())

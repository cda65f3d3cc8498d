#!/usr/bin/env python3
"""Oracle: draws of Python's own random.Random and numpy's own default_rng /
PCG64, printed one number per line, for tests/pyrand.bats to compare with
`test_pyrand --dump` (lib/pyrand.c) on the same arguments.

usage: pyrand_ref.py WHAT SEED [ARGS]
  mt SEED N           N MT19937 words (getrandbits(32))
  bits SEED           getrandbits(k) for k = 1..64, 50 draws each
  random SEED N       N random() values, times 2**53 (exact integers)
  below SEED          _randbelow(n), 200 draws for each n of BELOW_NS
  choice SEED N COUNT COUNT choice(range(N))
  shuffle SEED N      shuffle(list(range(N)))
  sample SEED N K     sample(range(N), K)
  mix SEED            random(), _randbelow, getrandbits and choice interleaved
  pcg SEED            PCG64(SEED) next_uint32 and next_uint64 interleaved
  interval SEED       random_interval(max), 200 draws for each max of BELOW_NS
  perm SEED N         default_rng(SEED).permutation(N)
"""
import random
import sys

import numpy as np

# Bounds on both sides of every power of two where the draw changes width
# (one word or two, 32-bit or 64-bit numpy draws).
BELOW_NS = [1, 2, 3, 5, 7, 10, 100, 1000, 2**31 - 1, 2**31, 2**31 + 1,
            2**32 - 1, 2**32, 2**32 + 1, 2**40 + 3, 2**63, 2**64 - 1]


def python_draws(what, rng, args):
    if what == "mt":
        return [rng.getrandbits(32) for _ in range(args[0])]
    if what == "bits":
        return [rng.getrandbits(k) for k in range(1, 65) for _ in range(50)]
    if what == "random":
        return [int(rng.random() * 2**53) for _ in range(args[0])]
    if what == "below":
        return [rng._randbelow(n) for n in BELOW_NS for _ in range(200)]
    if what == "choice":
        return [rng.choice(range(args[0])) for _ in range(args[1])]
    if what == "shuffle":
        x = list(range(args[0]))
        rng.shuffle(x)
        return x
    if what == "sample":
        return rng.sample(range(args[0]), args[1])
    if what == "mix":
        out = []
        for i in range(3000):
            op = i % 4
            if op == 0:
                out.append(int(rng.random() * 2**53))
            elif op == 1:
                out.append(rng._randbelow(i + 1))
            elif op == 2:
                out.append(rng.getrandbits(i % 64 + 1))
            else:
                out.append(rng.choice(range(i % 7 + 1)))
        return out
    return None


def numpy_draws(what, seed, args):
    if what == "pcg":
        bg = np.random.PCG64(seed)
        c = bg.ctypes
        # u32, u64, u32 (the buffered high half), u32, u64, ...
        return [c.next_uint64(c.state) if i % 5 in (1, 4) else c.next_uint32(c.state)
                for i in range(3000)]
    if what == "interval":
        # RandomState's randint masks and rejects exactly as random_interval
        # does (32-bit draws up to 2**32 - 1, 64-bit above).
        rs = np.random.RandomState(np.random.PCG64(seed))
        return [int(rs.randint(0, m + 1, dtype=np.uint64)) for m in BELOW_NS for _ in range(200)]
    if what == "perm":
        return [int(v) for v in np.random.default_rng(seed).permutation(args[0])]
    return None


def main():
    what, seed = sys.argv[1], int(sys.argv[2])
    args = [int(a) for a in sys.argv[3:]]
    out = python_draws(what, random.Random(seed), args)
    if out is None:
        out = numpy_draws(what, seed, args)
    if out is None:
        sys.exit("pyrand_ref.py: unknown draw " + what)
    sys.stdout.write("".join("%d\n" % v for v in out))


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Oracle: nanochat's CORE draws with Python's own random module, printed
as `test_core_eval --dump` prints them (tests/nc-eval.bats compares).

  shuffle MAXN         base_eval.py's random.Random(1337).shuffle(data), for
                       data = list(range(n)), n = 1..MAXN
  fewshot N K COUNT    core_eval.py's few-shot draw for idx = 0..COUNT-1 of N:
                       random.Random(1234 + idx).sample(
                           [i for i in range(N) if i != idx], K)
"""
import random
import sys


def main():
    what = sys.argv[1]
    if what == "shuffle":
        for n in range(1, int(sys.argv[2]) + 1):
            data = list(range(n))
            random.Random(1337).shuffle(data)
            print(" ".join(map(str, data)))
    elif what == "fewshot":
        n, k, count = map(int, sys.argv[2:5])
        for idx in range(count):
            available = [i for i in range(n) if i != idx]
            print(" ".join(map(str, random.Random(1234 + idx).sample(available, k))))
    else:
        sys.exit(f"core_draws_ref.py: unknown draw {what}")


main()

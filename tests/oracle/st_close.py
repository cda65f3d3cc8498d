#!/usr/bin/env python3
"""st_close.py A B [TOL [COUNT]]: compare the F32 tensors of two safetensors
files.

Standard library only. Prints the largest absolute difference and exits 1
when the two hold different names or shapes, or differ by more than TOL
(default 1e-5) in more than COUNT values (default 0)."""
import array
import json
import struct
import sys


def load(path):
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    header.pop("__metadata__", None)
    base = 8 + n
    out = {}
    for name, t in header.items():
        if t["dtype"] != "F32":
            sys.exit(f"{path}: {name} is {t['dtype']}, not F32")
        a = array.array("f")
        begin, end = t["data_offsets"]
        a.frombytes(data[base + begin:base + end])
        if sys.byteorder != "little":
            a.byteswap()
        out[name] = (tuple(t["shape"]), a)
    return out


def main():
    a, b = load(sys.argv[1]), load(sys.argv[2])
    tol = float(sys.argv[3]) if len(sys.argv) > 3 else 1e-5
    if sorted(a) != sorted(b):
        sys.exit("different tensors: %s" % sorted(set(a) ^ set(b)))
    allowed = int(sys.argv[4]) if len(sys.argv) > 4 else 0
    worst, where, over = 0.0, None, 0
    for name in sorted(a):
        if a[name][0] != b[name][0]:
            sys.exit(f"{name}: shape {a[name][0]} vs {b[name][0]}")
        for x, y in zip(a[name][1], b[name][1]):
            over += abs(x - y) > tol
            if abs(x - y) > worst:
                worst, where = abs(x - y), name
    print(f"max abs difference {worst:.3g}" + (f" ({where})" if where else "") +
          (f", {over} values past {tol:g}" if over else ""))
    sys.exit(1 if over > allowed else 0)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Check with Hugging Face's `safetensors` package that a file written by
nc's writer loads, with the tensors, values and metadata that
tests/unit/test_safetensors.c (--write FILE) puts in it.

Usage: check_safetensors.py FILE   (exits 1 with a message on a mismatch)
"""
import json
import struct
import sys

import numpy as np
from safetensors import deserialize, safe_open


def check(cond, what):
    if not cond:
        sys.exit("check_safetensors: " + what)


def main():
    path = sys.argv[1]
    raw = open(path, "rb").read()
    n = struct.unpack("<Q", raw[:8])[0]
    check((8 + n) % 8 == 0, "data does not start 8-aligned")
    keys = list(json.loads(raw[8:8 + n]).keys())
    check(keys == ["__metadata__", "a", "b.bf16", "c.ids", "s", "e"], "header order %r" % keys)

    with safe_open(path, framework="numpy") as f:
        check(f.metadata() == {"step": "42", "config": '{"n_layer": 2, "name": "h\u00e9llo"}'},
              "metadata %r" % f.metadata())
        a = f.get_tensor("a")
        check(a.dtype == np.float32 and a.shape == (2, 3), "a is %s %s" % (a.dtype, a.shape))
        check((a.ravel() == np.array([-1.25, -0.75, -0.25, 0.25, 0.75, 1.25], np.float32)).all(), "a values")
        c = f.get_tensor("c.ids")
        check(c.dtype == np.int32 and c.tolist() == [-7, 0, 2**31 - 1], "c.ids %r" % c)
        s = f.get_tensor("s")
        check(s.shape == () and s.dtype == np.float32 and float(s) == 2.5, "s %r" % s)
        e = f.get_tensor("e")
        check(e.shape == (0, 4) and e.dtype == np.float32, "e %r" % e)

    # numpy has no bfloat16: compare the raw bits, rounded to nearest even.
    tensors = dict(deserialize(raw))
    b = tensors["b.bf16"]
    check(b["dtype"].upper() in ("BF16", "BFLOAT16") and list(b["shape"]) == [5], "b.bf16 is %r" % b)
    bits = np.frombuffer(bytes(b["data"]), dtype="<u2").tolist()
    check(bits == [0x3F80, 0x3F80, 0x3F82, 0xBDCD, 0x4049], "b.bf16 bits %s" % [hex(x) for x in bits])
    print("ok")


if __name__ == "__main__":
    main()

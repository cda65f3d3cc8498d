#!/usr/bin/env python3
"""Write the safetensors interoperability fixture with the Hugging Face
`safetensors` package, as PyTorch would save a state_dict.

Usage: make_safetensors.py DIR   (the committed fixture lives in
tests/fixtures/safetensors; tests/unit/test_safetensors.c checks its values)

numpy has no bfloat16, so the BF16 tensor is rounded here (to nearest,
ties to even, as torch does) and handed to the serializer as raw bits.
"""
import os
import sys

import numpy as np
from safetensors import TensorSpec, serialize_file


def bf16_bits(x):
    u = np.asarray(x, dtype=np.float32).view(np.uint32).astype(np.uint64)
    return ((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype(np.uint16)


def main():
    out = os.path.join(sys.argv[1], "torch_like.safetensors")
    tensors = {
        # (i - 5) / 4: exact in every float type
        "transformer.wte.weight": np.arange(12, dtype=np.float32).reshape(3, 4) / 4 - 1.25,
        "transformer.h.0.attn.c_q.weight": bf16_bits(
            [[1.0, -2.5, 0.1], [3.14159, 65280.0, -0.0]]).reshape(2, 3),
        "transformer.h.0.mlp.c_fc.weight": np.array(
            [1.0, -2.0, 2.0**-14, 2.0**-24, 65504.0, np.inf], dtype=np.float16),
        "ids": np.array([0, -1, 2**31 - 1, -2**31, 7], dtype=np.int64),
        "step": np.array(12345, dtype=np.int64),
    }
    dtypes = {"transformer.h.0.attn.c_q.weight": "bfloat16"}
    specs = {
        name: TensorSpec(dtype=dtypes.get(name, a.dtype.name), shape=list(a.shape),
                         data_ptr=a.ctypes.data, data_len=a.nbytes)
        for name, a in tensors.items()
    }
    meta = {"format": "pt", "config": '{"n_layer": 1, "n_embd": 4}'}
    serialize_file(specs, out, metadata=meta)


if __name__ == "__main__":
    main()

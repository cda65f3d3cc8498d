"""A checkpoint whose greedy reply is known in advance, for nc-chat's tests.

program_model.py SRC OUT CONTEXT A:B [A:B ...] writes checkpoint OUT with
SRC's shapes, metadata and tokenizer, and weights that make token A's next
token B (ids): every block adds nothing (all block weights zero), the
embedding gives each programmed A its own unit direction and lm_head maps
that direction to B. A token with no rule predicts id 0. CONTEXT becomes
config.sequence_len (the weights do not depend on it). The checksum is
left out of the metadata, as a file from outside nc carries none.
"""
import shutil
import sys
from pathlib import Path

import numpy as np
from safetensors import safe_open
from safetensors.numpy import save_file


def main():
    src, out, context = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
    rules = [tuple(int(x) for x in r.split(":")) for r in sys.argv[4:]]
    with safe_open(src / "model.safetensors", "np") as f:
        meta = dict(f.metadata())
        tensors = {k: np.zeros_like(f.get_tensor(k)) for k in f.keys()}
    wte, lm = tensors["transformer.wte.weight"], tensors["lm_head.weight"]
    if len(rules) > wte.shape[1]:
        sys.exit(f"program_model.py: {len(rules)} rules, but only {wte.shape[1]} directions")
    for d, (a, b) in enumerate(rules):
        wte[a, d] = 1
        lm[b, d] = 1
    meta.pop("data_xxh3", None)
    meta["config.sequence_len"] = context
    out.mkdir(parents=True, exist_ok=True)
    save_file(tensors, out / "model.safetensors", metadata=meta)
    shutil.copy(src / "tokenizer", out / "tokenizer")


main()

"""What the PyTorch training drivers in sh/bench/ (nanochat_cpu_step.py,
nanochat_gpu_step.py) share: nc token shards as training batches, and
base_train's optimizer step with its schedules.

An nc token shard is a 64-byte header ("NCTOKENS", the token width at byte
12, the count at 16, flags at 32), the ids as little-endian uint16 or uint32
(followed by one document-boundary byte per token when flag 1 is set), then a
32-byte trailer. torch is imported inside the functions, so that a driver
can set up its environment (sh/bench/nanochat_cpu.py's start) first.
"""

import glob
import os
import struct
import sys

from nanochat_cpu import fail


def shard_tokens(path):
    """The ids of one nc token shard, as a 1-D int64 tensor."""
    import torch

    with open(path, "rb") as f:
        blob = f.read()
    if len(blob) < 96 or blob[:8] != b"NCTOKENS":
        fail(path + ": not an nc token shard")
    width, count = struct.unpack_from("<IQ", blob, 12)
    flags = struct.unpack_from("<I", blob, 32)[0]
    if width not in (2, 4):
        fail("%s: token width %d" % (path, width))
    payload = len(blob) - 64 - 32
    n = payload // (width + 1) if flags & 1 else payload // width
    if count != 2**64 - 1 and count != n:
        fail("%s: header says %d tokens, the file holds %d" % (path, count, n))
    dtype = torch.int32 if width == 4 else torch.uint16
    ids = torch.frombuffer(bytearray(blob[64:64 + n * width]), dtype=dtype)
    if sys.byteorder != "little":
        ids = ids.byteswap() if hasattr(ids, "byteswap") else fail("big-endian host")
    return ids.to(torch.int64)


def batches(B, T, V, data, seed):
    """(x, y) pairs of shape (B, T), forever."""
    import torch

    if data:
        files = sorted(glob.glob(os.path.join(data, "train_*.bin")))
        if not files:
            fail("no train_*.bin under " + data)
        toks = torch.cat([shard_tokens(p) for p in files])
        if int(toks.max()) >= V:
            fail("token id %d in the shards is outside the vocabulary (%d)" % (int(toks.max()), V))
        need = B * T + 1
        if toks.numel() < need:
            fail("the shards hold %d tokens, a batch needs %d" % (toks.numel(), need))
        pos = 0
        while True:
            if pos + need > toks.numel():
                pos = 0
            w = toks[pos:pos + need]
            pos += B * T
            yield w[:-1].view(B, T), w[1:].view(B, T)
    g = torch.Generator().manual_seed(seed + 1)
    while True:
        w = torch.randint(0, V, (B, T + 1), generator=g, dtype=torch.int64)
        yield w[:, :-1].contiguous(), w[:, 1:].contiguous()


def schedules(n_iter):
    """base_train's lr multiplier (warmup_ratio 0, warmdown_ratio 0.2,
    final_lr_frac 0) and Muon momentum (0.85 to 0.95 over 300 steps), as
    functions of the step, for a run of n_iter steps."""
    warmdown = round(0.2 * n_iter)

    def lr_mult(it):
        if it <= n_iter - warmdown:
            return 1.0
        return (n_iter - it) / warmdown

    def muon_momentum(it):
        frac = min(it / 300, 1)
        return (1 - frac) * 0.85 + frac * 0.95

    return lr_mult, muon_momentum


def step_optimizers(step, n_iter, adamw, muon):
    """base_train's optimizer step `step` of n_iter: every group's lr from
    its initial lr and the schedule, Muon's momentum, then both steps.
    Returns the lr multiplier."""
    lr_mult, muon_momentum = schedules(n_iter)
    lrm = lr_mult(step)
    for opt in (adamw, muon):
        for grp in opt.param_groups:
            grp["lr"] = grp["initial_lr"] * lrm
    for grp in muon.param_groups:
        grp["momentum"] = muon_momentum(step)
    for opt in (adamw, muon):
        opt.step()
    return lrm


def make_optimizers(model, init_lr_frac=1.0):
    """GPT.setup_optimizers()'s AdamW and Muon for one process, each
    group's lr times init_lr_frac and kept as its initial_lr (as chat_sft
    does; base_train's 1.0 leaves them), and which AdamW it is: "fused", or
    "unfused (fused refused)" when this torch build refuses fused AdamW on
    the CPU (then the same groups go to torch.optim.AdamW(fused=False))."""
    import torch
    from nanochat.muon import Muon

    impl = "fused"
    try:
        adamw, muon = model.setup_optimizers()
        # fused AdamW may only complain at its first step
        for grp in adamw.param_groups:
            for p in grp["params"]:
                p.grad = torch.zeros_like(p)
        snapshot = {n: p.detach().clone() for n, p in model.named_parameters()}
        adamw.step()
        with torch.no_grad():
            for n, p in model.named_parameters():
                p.copy_(snapshot[n])
        adamw.state.clear()
        model.zero_grad(set_to_none=True)
    except (RuntimeError, ValueError):
        scale = (model.config.n_embd / 768) ** -0.5
        adamw = torch.optim.AdamW(
            [dict(params=list(model.lm_head.parameters()), lr=0.004 * scale),
             dict(params=list(model.transformer.wte.parameters()), lr=0.2 * scale)],
            betas=(0.8, 0.95), eps=1e-10, weight_decay=0.0, fused=False)
        muon = Muon(list(model.transformer.h.parameters()), lr=0.02, momentum=0.95)
        impl = "unfused (fused refused)"
    for opt in (adamw, muon):
        for grp in opt.param_groups:
            grp["lr"] = grp["lr"] * init_lr_frac
            grp["initial_lr"] = grp["lr"]
    return adamw, muon, impl

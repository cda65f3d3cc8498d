#!/usr/bin/env python3
"""Reference tensors for nc's GPT forward/backward and optimizer step, made by
running nanochat's own PyTorch model code (v1, commit 3a5e0bc) as the oracle.

nanochat is NOT vendored: pass --nanochat DIR, a directory that holds a nanochat
checkout's `nanochat/` package, e.g.

    git --git-dir=NANOCHAT.git archive 3a5e0bc | tar -x -C DIR

and this script imports nanochat.gpt (GPT, GPTConfig) and nanochat.muon from it.

Everything runs on the CPU in float32:

  * v1 casts the wte embedding to bf16 inside GPT.__init__. We follow the v1
    build (meta device -> to_empty -> init_weights() under torch.manual_seed),
    so wte is drawn N(0,1) into bf16 storage (its values are bf16-representable);
    then the whole model is cast to float32 and the forward/backward/step run in
    float32 (no autocast, no TF32: CPU).
  * Zero-initialised weights are re-drawn. v1 init_weights zeroes lm_head and
    every attn.c_proj / mlp.c_proj. With lm_head = 0 every gradient except
    lm_head's is exactly zero, which tests nothing. After init_weights we
    redraw them from a separate generator (seed+1): c_proj weights with v1's
    Linear std (1/sqrt(fan_in) * min(1, sqrt(fan_out/fan_in))), lm_head with
    std 0.5 so that logits reach the softcap's non-linear range. The saved
    param.* tensors are the ones actually used, so nothing has to be re-drawn.
  * Rotary tables. v1 builds cos/sin in fp32 and stores them as bf16 buffers,
    and GPT.forward asserts that they are bf16. With --rotary fp32 (default)
    we build them with nanochat's own _precompute_rotary_embeddings while its
    final .bfloat16() cast is made a no-op, store them as fp32 buffers, and
    re-exec this script under `python -O` so that the dtype assert is skipped
    (nothing else in the run depends on asserts). With --rotary bf16 the v1
    bf16 tables are kept; x*cos then promotes to fp32 arithmetic with
    bf16-rounded table values. The metadata key `rotary_tables` says which.
    rotary.cos / rotary.sin hold the first sequence_len rows as (T, head_dim/2).
  * torch.compile is disabled (TORCHDYNAMO_DISABLE=1), so Muon's
    zeropower_via_newtonschulz5 runs eagerly. It still casts to bf16 internally
    (v1 runs Newton-Schulz in bf16 on every device); every eager op rounds to
    bf16. ns.out is that bf16 result (stored exactly as fp32); ns.out_fp32 is
    the same nanochat function with its .bfloat16() cast made a no-op, i.e.
    Newton-Schulz entirely in fp32.
  * Optimizers come from nanochat's GPT.setup_optimizers() with no distributed
    environment (RANK unset): torch.optim.AdamW(fused=True) on lm_head and wte,
    nanochat Muon on the block matrices. If fused AdamW is refused on this
    build we construct torch.optim.AdamW(fused=False) with the same groups and
    hyperparameters; metadata `adamw_impl` says which ran. One step of each
    (AdamW first, as base_train does), lr multiplier 1, Muon momentum 0.95
    (setup_optimizers' default; base_train's schedule would use 0.85 at step 0),
    no gradient clipping (base_train v1 clips at 1.0; not applied here).

Outputs (safetensors, written with sorted names and metadata so reruns are
byte-identical; ints are int64, floats float32):
  --out      GQA case: B=2, T=16, n_kv_head=1: param.*, input.idx,
             input.targets, out.logits, out.loss [1], out.loss_per_token,
             grad.*, step1.*, ns.*, ns_wide.*, rotary.cos, rotary.sin.
  --out-mha  MHA case, forward only: B=1, T=7, n_kv_head=n_head: param.*,
             input.*, out.logits, out.loss, out.loss_per_token, rotary.*.
"""

import argparse
import json
import math
import os
import struct
import sys

SEED_INIT = 42
SEED_DATA = 1234
SEED_MHA_DATA = 4321

BASE_CFG = dict(sequence_len=16, vocab_size=80, n_layer=2, n_head=2, n_embd=64)


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--nanochat", required=True,
                    help="directory containing nanochat's nanochat/ package")
    ap.add_argument("--out", required=True, help="GQA fixture (.safetensors)")
    ap.add_argument("--out-mha", help="MHA forward-only fixture (.safetensors)")
    ap.add_argument("--rotary", choices=("fp32", "bf16"), default="fp32")
    ap.add_argument("--commit", default="3a5e0bc",
                    help="nanochat commit recorded in the metadata")
    return ap.parse_args()


def check(cond, msg):
    # no `assert`: the fp32-rotary mode runs under python -O
    if not cond:
        raise SystemExit("nanochat_ref: check failed: " + msg)


args = parse_args()
if args.rotary == "fp32" and not sys.flags.optimize:
    os.execv(sys.executable, [sys.executable, "-O"] + sys.argv)

os.environ["TORCHDYNAMO_DISABLE"] = "1"
for _k in ("RANK", "LOCAL_RANK", "WORLD_SIZE"):
    os.environ.pop(_k, None)
sys.path.insert(0, os.path.abspath(args.nanochat))

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from safetensors.torch import load_file  # noqa: E402
from nanochat.gpt import GPT, GPTConfig  # noqa: E402
import nanochat.muon as nc_muon  # noqa: E402
from nanochat.muon import Muon  # noqa: E402,F401  (setup_optimizers uses it)
from torch_fp32 import bf16_cast_disabled  # noqa: E402  (beside this script)

torch.set_num_threads(1)  # deterministic CPU reductions


def our_rotary(seq_len, head_dim, base=10000.0):
    """Independent fp32 rotary tables, for cross-checking only."""
    ch = torch.arange(0, head_dim, 2, dtype=torch.float32)
    inv = 1.0 / (base ** (ch / head_dim))
    t = torch.arange(seq_len, dtype=torch.float32)
    f = torch.outer(t, inv)
    return f.cos(), f.sin()


def our_ns_fp32(g, steps=5):
    """Independent fp32 Newton-Schulz (quintic), for cross-checking only."""
    a, b, c = 3.4445, -4.7750, 2.0315
    x = g.float()
    tall = x.size(0) > x.size(1)
    if tall:
        x = x.t()
    x = x / (x.norm() + 1e-7)
    for _ in range(steps):
        m = x @ x.t()
        x = a * x + (b * m + c * m @ m) @ x
    return x.t() if tall else x


def linear_std(w):
    fan_out, fan_in = w.shape
    return 1.0 / math.sqrt(fan_in) * min(1.0, math.sqrt(fan_out / fan_in))


def build_model(cfg_kw, rotary_mode):
    torch.manual_seed(SEED_INIT)
    with torch.device("meta"):
        model = GPT(GPTConfig(**cfg_kw))
    model.to_empty(device="cpu")
    model.init_weights()
    wte_init_dtype = str(model.transformer.wte.weight.dtype)
    model.float()  # casts params and buffers
    # re-draw the zero-initialised weights (see module docstring)
    gen = torch.Generator().manual_seed(SEED_INIT + 1)
    with torch.no_grad():
        redraw = [("lm_head.weight", model.lm_head.weight, 0.5)]
        for i, blk in enumerate(model.transformer.h):
            for nm, w in ((f"transformer.h.{i}.attn.c_proj.weight", blk.attn.c_proj.weight),
                          (f"transformer.h.{i}.mlp.c_proj.weight", blk.mlp.c_proj.weight)):
                redraw.append((nm, w, linear_std(w)))
        for nm, w, std in redraw:
            check(bool((w == 0).all()), nm + " was expected to be zero-initialised")
            w.copy_(torch.randn(w.shape, generator=gen) * std)
    head_dim = cfg_kw["n_embd"] // cfg_kw["n_head"]
    if rotary_mode == "fp32":
        with bf16_cast_disabled():
            cos, sin = model._precompute_rotary_embeddings(model.rotary_seq_len, head_dim)
        check(cos.dtype == torch.float32, "rotary table not fp32")
        rc, rs = our_rotary(model.rotary_seq_len, head_dim)
        check(torch.equal(cos[0, :, 0, :], rc) and torch.equal(sin[0, :, 0, :], rs),
              "nanochat fp32 rotary differs from the independent formula")
        note = "fp32 (nanochat _precompute_rotary_embeddings with its bf16 cast disabled; forward dtype assert skipped via python -O)"
    else:
        cos, sin = model._precompute_rotary_embeddings(model.rotary_seq_len, head_dim)
        check(cos.dtype == torch.bfloat16, "v1 rotary table expected bf16")
        note = "bf16 (v1 as-is; applied to fp32 q/k, so arithmetic is fp32 with bf16-rounded cos/sin)"
    model.cos, model.sin = cos, sin
    for n, p in model.named_parameters():
        check(p.dtype == torch.float32, n + " not fp32")
    return model, wte_init_dtype, note


def make_data(B, T, V, seed, ignore):
    g = torch.Generator().manual_seed(seed)
    idx = torch.randint(0, V, (B, T), generator=g, dtype=torch.int64)
    tgt = torch.randint(0, V, (B, T), generator=g, dtype=torch.int64)
    for b, t in ignore:
        tgt[b, t] = -1
    return idx, tgt


def forward_outputs(model, idx, tgt):
    with torch.no_grad():
        logits = model(idx)
        per_tok = model(idx, tgt, loss_reduction="none")
    return logits.detach().clone(), per_tok.detach().clone().view(idx.shape)


def base_metadata(cfg_kw, B, T, rotary_note, wte_init_dtype, commit):
    md = {f"config.{k}": str(v) for k, v in cfg_kw.items()}
    md.update({
        "config.head_dim": str(cfg_kw["n_embd"] // cfg_kw["n_head"]),
        "batch": str(B), "seq": str(T),
        "torch_version": torch.__version__,
        "nanochat_commit": commit,
        "dtype": "float32 (CPU, no autocast)",
        "seed_init": str(SEED_INIT),
        "rotary_tables": rotary_note,
        "rotary_base": "10000",
        "wte_init_dtype": wte_init_dtype,
        "rms_norm_eps": repr(torch.finfo(torch.float32).eps) + " (F.rms_norm eps=None -> finfo(fp32).eps)",
        "softcap": "15 (logits = 15*tanh(logits/15), applied before the loss)",
        "loss": "cross_entropy(ignore_index=-1, reduction=mean over non-ignored targets)",
        "redrawn_weights": "lm_head ~ N(0,0.5); attn.c_proj and mlp.c_proj ~ N(0, v1 linear std); generator seed 43",
    })
    return md


def gqa_case(args):
    cfg_kw = dict(BASE_CFG, n_kv_head=1)
    B, T = 2, 16
    model, wte_dt, rot_note = build_model(cfg_kw, args.rotary)
    params = {n: p.detach().clone() for n, p in model.named_parameters()}
    idx, tgt = make_data(B, T, cfg_kw["vocab_size"], SEED_DATA,
                         ignore=[(0, 13), (0, 14), (0, 15), (1, 5)])

    model.zero_grad(set_to_none=True)
    loss = model(idx, tgt)
    loss.backward()
    grads = {n: p.grad.detach().clone() for n, p in model.named_parameters()}
    logits, per_tok = forward_outputs(model, idx, tgt)

    # consistency: mean of per-token losses over non-ignored == loss
    keep = tgt != -1
    check(torch.allclose(per_tok[keep].mean(), loss.detach(), rtol=1e-6, atol=0), "loss reduction")
    check(bool((per_tok[~keep] == 0).all()), "ignored tokens have nonzero loss")
    check(torch.allclose(F.cross_entropy(logits.view(-1, logits.size(-1)), tgt.view(-1),
                                         ignore_index=-1), loss.detach(), rtol=1e-6, atol=0),
          "logits path vs loss path")

    # optimizers, as GPT.setup_optimizers builds them for one process
    adamw_impl = "torch.optim.AdamW(fused=True) via GPT.setup_optimizers"
    try:
        adamw, muon = model.setup_optimizers()
    except (RuntimeError, ValueError) as e:  # fused AdamW unavailable
        dmodel_lr_scale = (cfg_kw["n_embd"] / 768) ** -0.5
        adamw = torch.optim.AdamW(
            [dict(params=list(model.lm_head.parameters()), lr=0.004 * dmodel_lr_scale),
             dict(params=list(model.transformer.wte.parameters()), lr=0.2 * dmodel_lr_scale)],
            betas=(0.8, 0.95), eps=1e-10, weight_decay=0.0, fused=False)
        muon = nc_muon.Muon(list(model.transformer.h.parameters()), lr=0.02, momentum=0.95)
        adamw_impl = f"torch.optim.AdamW(fused=False), constructed directly ({type(e).__name__})"
    check(isinstance(muon, nc_muon.Muon), "expected single-process Muon")
    lrs = {"lr.lm_head": adamw.param_groups[0]["lr"], "lr.wte": adamw.param_groups[1]["lr"],
           "lr.muon": muon.param_groups[0]["lr"]}
    check(adamw.param_groups[0]["params"][0] is model.lm_head.weight, "adam group 0 is lm_head")

    # record every Newton-Schulz call Muon makes
    ptr2name = {p.grad.data_ptr(): n for n, p in model.named_parameters()}
    ns_calls = {}
    orig_ns = nc_muon.zeropower_via_newtonschulz5

    def ns_recorder(G, steps):
        gin = G.detach().clone()
        out = orig_ns(G, steps)
        ns_calls[ptr2name[G.data_ptr()]] = (gin, out.detach().clone(), steps)
        return out

    nc_muon.zeropower_via_newtonschulz5 = ns_recorder
    try:
        adamw.step()
        muon.step()
    finally:
        nc_muon.zeropower_via_newtonschulz5 = orig_ns
    step1 = {n: p.detach().clone() for n, p in model.named_parameters()}
    check(len(ns_calls) == 6 * cfg_kw["n_layer"], "one NS call per block matrix")

    # self-checks of the step against our own formulas
    mu = 0.95
    for n, p0 in params.items():
        g = grads[n]
        if n.startswith("transformer.h."):
            gin, gout, _ = ns_calls[n]
            buf = torch.zeros_like(g).lerp_(g, 1 - mu)
            check(torch.allclose(gin, g.lerp(buf, mu), rtol=1e-6, atol=1e-12), "nesterov input " + n)
            scale = max(1.0, p0.size(0) / p0.size(1)) ** 0.5
            check(torch.equal(step1[n], p0 + gout.float() * (-0.02 * scale)) or
                  torch.allclose(step1[n], p0 - 0.02 * scale * gout.float(), rtol=0, atol=1e-7),
                  "muon update " + n)
        else:
            lr = lrs["lr.lm_head"] if n == "lm_head.weight" else lrs["lr.wte"]
            m = 0.2 * g
            v = 0.05 * g * g
            upd = lr / (1 - 0.8) * m / ((v / (1 - 0.95)).sqrt() + 1e-10)
            check(torch.allclose(step1[n], p0 - upd, rtol=0, atol=1e-6), "adamw update " + n)

    t = {}
    for n, p in params.items():
        t["param." + n] = p
    t["input.idx"] = idx
    t["input.targets"] = tgt
    t["out.logits"] = logits
    t["out.loss"] = loss.detach().reshape(1).clone()
    t["out.loss_per_token"] = per_tok
    for n, g in grads.items():
        t["grad." + n] = g
    for n, p in step1.items():
        t["step1." + n] = p
    for key, pname in (("ns", "transformer.h.0.mlp.c_fc.weight"),
                       ("ns_wide", "transformer.h.0.attn.c_k.weight")):
        gin, gout, steps = ns_calls[pname]
        check(gout.dtype == torch.bfloat16, "v1 NS output expected bf16")
        with bf16_cast_disabled():
            out32 = orig_ns(gin.clone(), steps)
        check(out32.dtype == torch.float32, "fp32 NS")
        check(torch.allclose(out32, our_ns_fp32(gin, steps), rtol=0, atol=1e-5),
              "nanochat fp32 NS vs independent formula")
        t[key + ".in"] = gin
        t[key + ".out"] = gout.float()
        t[key + ".out_fp32"] = out32
        lrs[key + ".param"] = pname
    head_dim = cfg_kw["n_embd"] // cfg_kw["n_head"]
    t["rotary.cos"] = model.cos[0, :cfg_kw["sequence_len"], 0, :].float().clone()
    t["rotary.sin"] = model.sin[0, :cfg_kw["sequence_len"], 0, :].float().clone()
    check(t["rotary.cos"].shape == (cfg_kw["sequence_len"], head_dim // 2), "rotary shape")

    md = base_metadata(cfg_kw, B, T, rot_note, wte_dt, args.commit)
    md.update({k: (repr(v) if isinstance(v, float) else str(v)) for k, v in lrs.items()})
    gnorm = torch.sqrt(sum((g.double() ** 2).sum() for g in grads.values())).item()
    md.update({
        "case": "gqa: forward, backward, one optimizer step",
        "seed_data": str(SEED_DATA),
        "ignored_targets": "(0,13) (0,14) (0,15) (1,5) set to -1",
        "adamw_impl": adamw_impl,
        "adamw": "betas (0.8,0.95) eps 1e-10 weight_decay 0; torch AdamW: p -= lr/(1-b1^t) * m / (sqrt(v)/sqrt(1-b2^t) + eps)",
        "adamw_lr_scale": repr((cfg_kw["n_embd"] / 768) ** -0.5) + " = (n_embd/768)^-0.5",
        "muon": "momentum 0.95 nesterov True ns_steps 5; buf.lerp_(g,1-mu); g.lerp_(buf,mu); X=NS5(g) in bf16; p -= lr*max(1,rows/cols)^0.5*X",
        "muon_ns_coeffs": "3.4445,-4.7750,2.0315; X/(||X||_F+1e-7); transpose when rows>cols",
        "ns_mode": "eager (TORCHDYNAMO_DISABLE=1): each op rounds to bf16; ns.out is bf16 stored as fp32, ns.out_fp32 is the same code with the bf16 cast disabled",
        "optimizer_order": "AdamW.step() then Muon.step(); lr multiplier 1; no grad clipping",
        "grad_norm_total": repr(gnorm),
        "ns_caveat": "the gradients are rank-deficient (B*T=32 tokens < 64); bf16 Newton-Schulz amplifies rounding noise in their null space to singular values ~0.1-0.3, so ns.out and the Muon step1.* match only a bit-exact bf16 replay; compare an NS implementation with ns.out_fp32",
        "step1_note": "step1.* are the parameters after one AdamW+Muon step (Muon update uses the bf16 NS output)",
    })
    return t, md


def mha_case(args):
    cfg_kw = dict(BASE_CFG, n_kv_head=BASE_CFG["n_head"])
    B, T = 1, 7
    model, wte_dt, rot_note = build_model(cfg_kw, args.rotary)
    idx, tgt = make_data(B, T, cfg_kw["vocab_size"], SEED_MHA_DATA, ignore=[(0, 6)])
    logits, per_tok = forward_outputs(model, idx, tgt)
    with torch.no_grad():
        loss = model(idx, tgt)
    t = {"param." + n: p.detach().clone() for n, p in model.named_parameters()}
    t.update({"input.idx": idx, "input.targets": tgt, "out.logits": logits,
              "out.loss": loss.reshape(1).clone(), "out.loss_per_token": per_tok,
              "rotary.cos": model.cos[0, :cfg_kw["sequence_len"], 0, :].float().clone(),
              "rotary.sin": model.sin[0, :cfg_kw["sequence_len"], 0, :].float().clone()})
    md = base_metadata(cfg_kw, B, T, rot_note, wte_dt, args.commit)
    md.update({"case": "mha: forward only (T=7 < sequence_len)", "seed_data": str(SEED_MHA_DATA),
               "ignored_targets": "(0,6) set to -1"})
    return t, md


def save(path, tensors, md):
    """Write a safetensors file with a byte-stable layout (sorted names and
    sorted metadata), so that regenerating gives identical bytes.
    safetensors.torch.save_file orders its metadata by hash."""
    codes = {torch.float32: "F32", torch.int64: "I64"}
    header = {"__metadata__": dict(sorted(md.items()))}
    blobs, off = [], 0
    for name in sorted(tensors):
        v = tensors[name].detach().contiguous()
        check(v.dtype in codes, f"{name}: unsupported dtype {v.dtype}")
        b = v.numpy().astype(v.numpy().dtype.newbyteorder("<"), copy=False).tobytes()
        header[name] = {"dtype": codes[v.dtype], "shape": list(v.shape),
                        "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)
    back = load_file(path)
    check(sorted(back) == sorted(tensors) and
          all(torch.equal(back[k], tensors[k]) for k in tensors), "read-back " + path)
    print(f"wrote {path}: {len(tensors)} tensors, {os.path.getsize(path)} bytes")


def main():
    t, md = gqa_case(args)
    save(args.out, t, md)
    if args.out_mha:
        t, md = mha_case(args)
        save(args.out_mha, t, md)


if __name__ == "__main__":
    main()

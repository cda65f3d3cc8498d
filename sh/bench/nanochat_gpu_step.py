#!/usr/bin/env python3
"""nanochat's own pretraining step on one GPU, timed: the PyTorch side of
sh/bench/train-gpu.sh.

nanochat is not vendored: --nanochat DIR names a directory holding a nanochat
checkout's `nanochat/` package (v1, e.g. `git archive 3a5e0bc` of
karpathy/nanochat). What runs is nanochat's scripts/base_train.py on one
GPU, as it sets itself up there:

  * torch.set_float32_matmul_precision("high") (TF32);
  * the model built on the meta device, made real on the GPU (to_empty) and
    initialised by init_weights, which casts wte to bf16 on CUDA;
  * torch.compile(model, dynamic=False) (--no-compile to leave it eager);
  * GPT.setup_optimizers()'s optimizers for one process (fused AdamW on
    lm_head and wte, Muon, whose Newton-Schulz nanochat compiles itself);
  * each step: --total-batch / (B*T) micro-steps of
        with autocast(cuda, bfloat16): loss = model(x, y)
        (loss / accum).backward()
    then clip_grad_norm_(1.0), base_train's lr and Muon momentum schedules,
    both optimizer steps, zero_grad(set_to_none=True), and a
    torch.cuda.synchronize() before the clock stops.

Batches come from nc token shards (sh/bench/nc_bench.py), moved to the GPU
inside the timed step as base_train's loader does. The first --warmup steps
(compilation among them) are not counted.

Output: an event=config line, one logfmt line per step (loss, dt_ms, tok_s,
mfu against --peak-flops), and an event=summary line.
"""

import argparse
import math
import os
import statistics
import sys
import time


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--nanochat", required=True, help="directory containing nanochat's nanochat/ package")
    ap.add_argument("--depth", type=int, default=20)
    ap.add_argument("--seq", type=int, default=2048, help="sequence length T")
    ap.add_argument("--batch", type=int, default=32, help="device batch size B")
    ap.add_argument("--total-batch", type=int, default=524288, help="tokens a step")
    ap.add_argument("--vocab", type=int, default=65536)
    ap.add_argument("--steps", type=int, default=5, help="timed steps")
    ap.add_argument("--warmup", type=int, default=2, help="untimed steps first")
    ap.add_argument("--data", required=True, help="directory of nc token shards (train_*.bin)")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--peak-flops", type=float, default=989e12, help="for MFU (H100 bf16 dense)")
    ap.add_argument("--no-compile", action="store_true")
    ap.add_argument("--device", default="cuda", help="cuda; cpu only to try the script without a GPU")
    return ap.parse_args()


args = parse_args()
sys.path.insert(0, os.path.abspath(os.path.dirname(__file__)))
if not os.path.isdir(os.path.join(args.nanochat, "nanochat")):
    raise SystemExit("nanochat_gpu_step: %s has no nanochat/ package" % args.nanochat)
sys.path.insert(0, os.path.abspath(args.nanochat))
for k in ("RANK", "LOCAL_RANK", "WORLD_SIZE"):  # one process, no DDP
    os.environ.pop(k, None)

import torch  # noqa: E402
from nanochat.gpt import GPT, GPTConfig  # noqa: E402
from nanochat_cpu import fail  # noqa: E402
from nc_bench import batches, step_optimizers  # noqa: E402


def flops_per_token(model, cfg):
    """nanochat's estimate_flops when it has one, else the same formula:
    6 per non-embedding parameter plus attention's 12 l h q t."""
    if hasattr(model, "estimate_flops"):
        return float(model.estimate_flops())
    nparams = sum(p.numel() for p in model.parameters()) - model.transformer.wte.weight.numel()
    l, h, t = cfg["n_layer"], cfg["n_head"], cfg["sequence_len"]
    return 6.0 * nparams + 12.0 * l * h * (cfg["n_embd"] // h) * t


def main():
    dev = args.device
    if dev == "cuda" and not torch.cuda.is_available():
        fail("no CUDA device")
    sync = torch.cuda.synchronize if dev == "cuda" else (lambda: None)
    B, T, V, depth = args.batch, args.seq, args.vocab, args.depth
    if args.total_batch % (B * T):
        fail("--total-batch %d is not a multiple of B*T = %d" % (args.total_batch, B * T))
    accum = args.total_batch // (B * T)
    n_embd = depth * 64
    n_head = max(1, (n_embd + 127) // 128)
    cfg = dict(sequence_len=T, vocab_size=V, n_layer=depth, n_head=n_head, n_kv_head=n_head, n_embd=n_embd)

    torch.manual_seed(args.seed)
    torch.set_float32_matmul_precision("high")
    with torch.device("meta"):
        model = GPT(GPTConfig(**cfg))
    model.to_empty(device=dev)
    model.init_weights()
    orig = model
    if not args.no_compile:
        model = torch.compile(model, dynamic=False)
    fpt = flops_per_token(orig, cfg)
    adamw, muon = orig.setup_optimizers()
    autocast = torch.amp.autocast(device_type=dev, dtype=torch.bfloat16)

    n_iter = args.warmup + args.steps

    params = sum(p.numel() for p in orig.parameters())
    print("event=config torch=%s gpu=%s depth=%d n_embd=%d n_head=%d vocab_size=%d seq=%d batch=%d "
          "total_batch=%d grad_accum_steps=%d params=%d flops_per_token=%.0f compile=%s wte_dtype=%s" % (
              torch.__version__, torch.cuda.get_device_name(0).replace(" ", "_") if dev == "cuda" else "none",
              depth, n_embd, n_head,
              V, T, B, args.total_batch, accum, params, fpt, "off" if args.no_compile else "on",
              str(orig.transformer.wte.weight.dtype).replace("torch.", "")), flush=True)

    it = batches(B, T, V, args.data, args.seed)
    times = []
    for step in range(n_iter):
        sync()
        t0 = time.perf_counter()
        for _ in range(accum):
            x, y = next(it)
            x, y = x.to(dev, non_blocking=True), y.to(dev, non_blocking=True)
            with autocast:
                loss = model(x, y)
            train_loss = loss.detach()
            (loss / accum).backward()
        gnorm = torch.nn.utils.clip_grad_norm_(orig.parameters(), 1.0)
        lrm = step_optimizers(step, n_iter, adamw, muon)
        model.zero_grad(set_to_none=True)
        sync()
        dt = time.perf_counter() - t0
        lossf = float(train_loss)
        if step >= args.warmup:
            times.append(dt)
        tok_s = args.total_batch / dt
        print("step=%d loss=%.6f grad_norm=%.4f lrm=%.4f dt_ms=%.1f tok_s=%.0f mfu=%.2f%s" % (
            step, lossf, float(gnorm), lrm, dt * 1e3, tok_s, 100 * fpt * tok_s / args.peak_flops,
            "" if step >= args.warmup else " warmup=1"), flush=True)
        if not math.isfinite(lossf):
            fail("loss is not finite")

    secs = sum(times)
    tok_s = len(times) * args.total_batch / secs
    print("event=summary steps=%d tokens=%d seconds=%.4f tok_s=%.1f mfu=%.2f best_ms=%.1f median_ms=%.1f "
          "peak_mem_gib=%.1f" % (
              len(times), len(times) * args.total_batch, secs, tok_s, 100 * fpt * tok_s / args.peak_flops,
              min(times) * 1e3, statistics.median(times) * 1e3,
              torch.cuda.max_memory_allocated() / 2**30 if dev == "cuda" else 0),
          flush=True)


main()

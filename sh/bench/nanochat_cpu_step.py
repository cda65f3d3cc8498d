#!/usr/bin/env python3
"""nanochat's own pretraining step on the CPU, timed: the PyTorch side of
sh/bench/train-cpu.sh.

nanochat is not vendored: --nanochat DIR names a directory holding a nanochat
checkout's `nanochat/` package (v1, e.g. `git archive 3a5e0bc` of
karpathy/nanochat), and this script imports GPT, GPTConfig (through
sh/bench/nanochat_cpu.py) and (through GPT.setup_optimizers) Muon from it.
What runs is the body of nanochat's scripts/base_train.py training loop, with
one micro-step per step:

    loss = model(x, y); loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    lr multiplier and Muon momentum from base_train's schedules
    adamw.step(); muon.step(); model.zero_grad(set_to_none=True)

The model is base_train's for --depth: n_layer = depth, n_embd = 64 * depth,
n_head = n_kv_head = ceil(n_embd / 128), sequence_len = --seq. It is built as
base_train builds it (meta device, to_empty, init_weights) and then run in
float32 on the CPU, by sh/bench/nanochat_cpu.py (shared with
sh/bench/nanochat_sample.py):

  * wte, which GPT.__init__ casts to bf16, is cast back to fp32 (model.float());
  * the rotary tables are built by nanochat's _precompute_rotary_embeddings
    with its final .bfloat16() made a no-op, so they are fp32, and the script
    re-executes itself under `python -O` to skip GPT.forward's assert that
    they are bf16 (the same route as tests/oracle/nanochat_ref.py);
  * no autocast (base_train's is a CUDA autocast);
  * torch.compile is off (TORCHDYNAMO_DISABLE=1): base_train compiles the
    model and Muon's Newton-Schulz is @torch.compile'd; here both run eagerly.
    Newton-Schulz still casts to bf16 inside, as nanochat does on every device.

The optimizers are GPT.setup_optimizers()'s for one process: fused AdamW on
lm_head and wte, Muon on the block matrices; if this torch build refuses
fused AdamW on the CPU, the same groups go to torch.optim.AdamW(fused=False)
and the output says so.

Batches: with --data DIR, consecutive (B, T+1) windows of the tokens of
DIR/train_*.bin (nc token shards: a 64-byte header, then the ids as
little-endian uint16 or uint32, then a 32-byte trailer); otherwise random ids.
Each step is timed with time.perf_counter from fetching its batch to the end
of zero_grad. The first --warmup steps are not counted.

Output: one logfmt line per step on stdout, then a summary line
  event=summary steps=K tokens=N seconds=S tok_s=R best_ms=... median_ms=...
and the run's facts as an event=config line first.
"""

import argparse
import math
import statistics
import time

from nanochat_cpu import empty_gpt, fail, start, to_fp32


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--nanochat", required=True, help="directory containing nanochat's nanochat/ package")
    ap.add_argument("--depth", type=int, default=2)
    ap.add_argument("--seq", type=int, default=256, help="sequence length T")
    ap.add_argument("--batch", type=int, default=8, help="device batch size B")
    ap.add_argument("--vocab", type=int, default=4096)
    ap.add_argument("--steps", type=int, default=20, help="timed steps")
    ap.add_argument("--warmup", type=int, default=3, help="untimed steps first")
    ap.add_argument("--threads", type=int, default=0, help="torch.set_num_threads (0: leave)")
    ap.add_argument("--data", help="directory of nc token shards (train_*.bin)")
    ap.add_argument("--seed", type=int, default=42)
    return ap.parse_args()


args = parse_args()
start(args.nanochat)  # python -O, no torch.compile, nanochat on sys.path

import torch  # noqa: E402
from nc_bench import batches, make_optimizers, step_optimizers  # noqa: E402


def main():
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    B, T, V, depth = args.batch, args.seq, args.vocab, args.depth
    n_embd = depth * 64
    n_head = max(1, (n_embd + 127) // 128)
    cfg = dict(sequence_len=T, vocab_size=V, n_layer=depth, n_head=n_head, n_kv_head=n_head, n_embd=n_embd)

    torch.manual_seed(args.seed)
    model = empty_gpt(cfg)
    model.init_weights()
    wte_dtype = str(model.transformer.wte.weight.dtype).replace("torch.", "")
    to_fp32(model)
    model.train()

    adamw, muon, adamw_impl = make_optimizers(model)

    n_iter = args.warmup + args.steps

    params = sum(p.numel() for p in model.parameters())
    print("event=config torch=%s threads=%d depth=%d n_embd=%d n_head=%d vocab_size=%d seq=%d batch=%d "
          "params=%d wte_init_dtype=%s rotary=fp32 compile=off adamw=%s data=%s" % (
              torch.__version__, torch.get_num_threads(), depth, n_embd, n_head, V, T, B, params,
              wte_dtype, adamw_impl.split()[0], "shards" if args.data else "random"), flush=True)

    it = batches(B, T, V, args.data, args.seed)
    times = []
    for step in range(n_iter):
        t0 = time.perf_counter()
        x, y = next(it)
        loss = model(x, y)
        loss.backward()
        gnorm = torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        lrm = step_optimizers(step, n_iter, adamw, muon)
        model.zero_grad(set_to_none=True)
        lossf = loss.item()
        dt = time.perf_counter() - t0
        if step >= args.warmup:
            times.append(dt)
        print("step=%d loss=%.6f grad_norm=%.4f lrm=%.4f dt_ms=%.1f tok_s=%.0f%s" % (
            step, lossf, float(gnorm), lrm, dt * 1e3, B * T / dt,
            "" if step >= args.warmup else " warmup=1"), flush=True)
        if not math.isfinite(lossf):
            fail("loss is not finite")

    secs = sum(times)
    print("event=summary steps=%d tokens=%d seconds=%.4f tok_s=%.1f best_ms=%.1f median_ms=%.1f" % (
        len(times), len(times) * B * T, secs, len(times) * B * T / secs,
        min(times) * 1e3, statistics.median(times) * 1e3), flush=True)


main()

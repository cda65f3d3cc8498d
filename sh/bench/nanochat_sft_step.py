#!/usr/bin/env python3
"""nanochat's own SFT step on the CPU, timed: the PyTorch side of
sh/bench/sft.sh.

nanochat is not vendored: --nanochat DIR names a directory holding a nanochat
v1 checkout's `nanochat/` package and `scripts/chat_sft.py` (e.g. `git
archive 3a5e0bc` of karpathy/nanochat). What runs is nanochat's own code:

  * the batches come from chat_sft.py's sft_data_generator (its collate:
    one conversation a row, right-padded with <|assistant_end|>, targets -1
    where the mask is 0 and on the padding), taken out of the script's
    source by name and executed alone, as tests/oracle/nanochat_train_ref.py
    does; its tokenizer.render_conversation is handed the conversations
    already rendered, read from the nc chat shard that nc-train reads;
  * the model is GPT (base_train's config for --depth), built and made fp32
    by sh/bench/nanochat_cpu.py (torch.compile off, no autocast; see there);
  * the optimizers are GPT.setup_optimizers() with chat_sft's learning rates
    (unembedding 0.004, embedding 0.2, matrix 0.02, weight decay 0) and
    init_lr_frac 0.02, as sh/bench/nc_bench.py's make_optimizers builds them;
  * a step is chat_sft's: --examples / --batch micro-steps of
    loss = model(x, y) / accum; loss.backward(), the num_tokens count, the
    learning rate from chat_sft's get_lr_multiplier, both optimizers' step,
    zero_grad.

The weights are nanochat's init_weights from a seed (nc-train starts from a
checkpoint of its own): the time of a step does not depend on them. Each
step is timed with time.perf_counter from its first batch's collate to the
end of zero_grad and the loss's .item(); the first --warmup steps are not
counted.

The chat shard (nc-formats(5)): a 64-byte header (token width at byte 12,
count at 16, BOS id at 28, flags at 32: bit 0, a loss mask), the ids, one
mask byte per token, a 32-byte trailer. Conversation i is the i-th
BOS-started segment.

Output: an event=config line, one logfmt line per step (step= loss=
num_tokens= lrm= dt_ms= ex_s=), then event=summary.
"""

import argparse
import ast
import math
import os
import statistics
import struct
import time

from nanochat_cpu import empty_gpt, fail, start, to_fp32


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--nanochat", required=True, help="directory holding nanochat/ and scripts/chat_sft.py")
    ap.add_argument("--shard", required=True, help="nc chat shard (ids and loss mask)")
    ap.add_argument("--pad", type=int, required=True, help="id of <|assistant_end|>")
    ap.add_argument("--depth", type=int, default=2)
    ap.add_argument("--seq", type=int, default=2048, help="the model's sequence_len")
    ap.add_argument("--vocab", type=int, required=True)
    ap.add_argument("--batch", type=int, default=4, help="device batch size (rows a micro-step)")
    ap.add_argument("--examples", type=int, default=32, help="examples a step")
    ap.add_argument("--steps", type=int, default=10, help="timed steps")
    ap.add_argument("--warmup", type=int, default=2, help="untimed steps first")
    ap.add_argument("--threads", type=int, default=0, help="torch.set_num_threads (0: leave)")
    ap.add_argument("--seed", type=int, default=42)
    return ap.parse_args()


args = parse_args()
start(args.nanochat)  # python -O, no torch.compile, nanochat on sys.path

import torch  # noqa: E402
from nc_bench import make_optimizers  # noqa: E402


def chat_shard(path):
    """The conversations of an nc chat shard: a list of (ids, mask) lists."""
    with open(path, "rb") as f:
        blob = f.read()
    if len(blob) < 96 or blob[:8] != b"NCTOKENS":
        fail(path + ": not an nc token shard")
    width, count = struct.unpack_from("<IQ", blob, 12)
    bos, flags = struct.unpack_from("<II", blob, 28)
    if not flags & 1:
        fail(path + ": no loss mask: not a chat shard")
    n = (len(blob) - 96) // (width + 1)
    if count != 2**64 - 1 and count != n:
        fail("%s: header says %d tokens, the file holds %d" % (path, count, n))
    ids = list(memoryview(blob)[64:64 + n * width].cast("H" if width == 2 else "I"))
    mask = list(blob[64 + n * width:64 + n * width + n])
    starts = [i for i, t in enumerate(ids) if t == bos] + [n]
    if not starts or starts[0] != 0:
        fail(path + ": does not start with BOS")
    return [(ids[a:b], mask[a:b]) for a, b in zip(starts, starts[1:])]


def chat_sft_functions(ns):
    """sft_data_generator and get_lr_multiplier from scripts/chat_sft.py,
    executed alone into ns (which holds the globals they read)."""
    names = {"sft_data_generator", "get_lr_multiplier"}
    path = os.path.join(args.nanochat, "scripts", "chat_sft.py")
    tree = ast.parse(open(path, encoding="utf-8").read())
    wanted = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name in names]
    if len(wanted) != len(names):
        fail("%s does not define %s" % (path, " and ".join(sorted(names))))
    exec(compile(ast.Module(body=wanted, type_ignores=[]), path, "exec"), ns)
    return ns


class Rendered:
    """The tokenizer chat_sft's generator calls: the conversations are
    rendered already (by nc-shard chat), so rendering one returns it."""

    def encode_special(self, name):
        if name != "<|assistant_end|>":
            fail("unexpected special token " + name)
        return args.pad

    def render_conversation(self, doc):
        return doc


def main():
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    if args.examples % args.batch:
        fail("--examples must be a multiple of --batch")
    accum = args.examples // args.batch
    n_iter = args.warmup + args.steps
    convos = chat_shard(args.shard)
    if len(convos) < n_iter * args.examples:
        fail("%d conversations, %d steps need %d" % (len(convos), n_iter, n_iter * args.examples))
    depth, V = args.depth, args.vocab
    n_embd = depth * 64
    n_head = max(1, (n_embd + 127) // 128)
    cfg = dict(sequence_len=args.seq, vocab_size=V, n_layer=depth, n_head=n_head, n_kv_head=n_head,
               n_embd=n_embd)
    torch.manual_seed(args.seed)
    model = empty_gpt(cfg)
    model.init_weights()
    to_fp32(model)
    model.train()
    adamw, muon, adamw_impl = make_optimizers(model, init_lr_frac=0.02)
    optimizers = [adamw, muon]

    ns = chat_sft_functions(dict(torch=torch, tokenizer=Rendered(), ddp_rank=0, ddp_world_size=1,
                                 device="cpu", num_iterations=n_iter + 1))
    train_iter = ns["sft_data_generator"](convos, batch_size=args.batch)
    params = sum(p.numel() for p in model.parameters())
    print("event=config torch=%s threads=%d depth=%d n_embd=%d n_head=%d vocab_size=%d batch=%d "
          "examples=%d grad_accum_steps=%d conversations=%d params=%d compile=off adamw=%s" % (
              torch.__version__, torch.get_num_threads(), depth, n_embd, n_head, V, args.batch,
              args.examples, accum, len(convos), params, adamw_impl.split()[0]), flush=True)

    times = []
    for step in range(n_iter):
        t0 = time.perf_counter()
        num_tokens = torch.tensor(0)
        for _ in range(accum):
            x, y = next(train_iter)
            loss = model(x, y)
            train_loss = loss.detach()
            loss = loss / accum
            loss.backward()
            num_tokens += (y >= 0).sum()
        lrm = ns["get_lr_multiplier"](step)
        for opt in optimizers:
            for group in opt.param_groups:
                group["lr"] = group["initial_lr"] * lrm
        for opt in optimizers:
            opt.step()
        model.zero_grad(set_to_none=True)
        lossf = train_loss.item()
        dt = time.perf_counter() - t0
        if step >= args.warmup:
            times.append(dt)
        print("step=%d loss=%.6f num_tokens=%d lrm=%.4f dt_ms=%.1f ex_s=%.1f%s" % (
            step, lossf, int(num_tokens), lrm, dt * 1e3, args.examples / dt,
            "" if step >= args.warmup else " warmup=1"), flush=True)
        if not math.isfinite(lossf):
            fail("loss is not finite")

    secs = sum(times)
    print("event=summary steps=%d examples=%d seconds=%.4f ex_s=%.2f best_ms=%.1f median_ms=%.1f" % (
        len(times), len(times) * args.examples, secs, len(times) * args.examples / secs,
        min(times) * 1e3, statistics.median(times) * 1e3), flush=True)


main()

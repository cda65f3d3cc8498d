#!/usr/bin/env python3
"""nanochat's inference Engine on the CPU or a GPU, timed: the PyTorch side
of sh/bench/sample.sh.

nanochat is not vendored: --nanochat DIR names a directory holding a nanochat
checkout's `nanochat/` package (v1, e.g. `git archive 3a5e0bc` of
karpathy/nanochat). This script imports GPT and GPTConfig from nanochat/gpt.py
(through sh/bench/nanochat_cpu.py) and Engine from nanochat/engine.py, and
runs Engine.generate unchanged.

The model: --model DIR is an nc checkpoint (DIR/model.safetensors), whose
tensors carry nanochat's state_dict names in fp32 and whose __metadata__
holds the config (config.n_layer, n_head, n_kv_head, n_embd, vocab_size,
sequence_len). GPT(GPTConfig(...)) is built on the meta device, made real on
the CPU (to_empty), made float32, and loaded with safetensors.torch.load_file
and load_state_dict(strict=True). The float32 route is sh/bench/nanochat_cpu.py,
shared with sh/bench/nanochat_cpu_step.py:

  * wte, which GPT.__init__ casts to bf16, is cast back to fp32 (model.float());
  * the rotary tables are built by nanochat's _precompute_rotary_embeddings
    with its final .bfloat16() made a no-op, so they are fp32 (as nc's are),
    and the script re-executes itself under `python -O` to skip GPT.forward's
    assert that they are bf16;
  * no autocast, no torch.compile (TORCHDYNAMO_DISABLE=1).

nanochat/engine.py imports nanochat.checkpoint_manager, which imports
nanochat.tokenizer and with it the `tokenizers`, `rustbpe` and `tiktoken`
packages; Engine itself uses none of them (only engine.py's __main__ calls
load_model). So an empty stand-in module is registered under that name
before the import, and torch alone is needed.

The tokenizer Engine.generate is given is a stand-in with what it calls:
encode_special(name) and get_bos_token_id(), answered from the special
tokens nc's tokenizer lists (--specials: the output of `nc-bpe info`, lines
`special=NAME id=N`), and decode(ids) / encode(text), which only the
calculator tool uses (a sampled <|python_start|> ... <|python_end|> span).
decode is exact (the bytes of each id from --ranks, `nc-bpe export`'s
tiktoken rank file); encode, needed only when such a span is valid
arithmetic, gives one id per byte (ids 0-255, unmerged). With random text
neither changes what is timed.

Timing (time.perf_counter), for each --samples S: one untimed warm-up
generate (--warmup-tokens tokens), then --runs timed ones. In a run:

  prefill = from calling Engine.generate to the first yielded token column
            (the batch-1 forward of the prompt, sampling, and copying the
            KV cache into the S-row decode cache);
  decode  = from there to the last column: (yielded columns - 1) steps, each
            a forward of the S-row token column, sampling and Engine's
            per-row bookkeeping. decode tokens/s = S * steps / decode time.

GPT.forward is also wrapped to time each call alone: fwd_prefill_s is the
prompt's forward, fwd_decode_s the sum of the decode forwards. Those are
the like-for-like numbers for nc-sample --stats, which times only the
model's step (nc_gpt_step), not sampling.

With --greedy N it first prints the greedy (temperature 0) ids of one
sample of N tokens, `greedy=ID ID ...`, to compare with nc-sample -T 0.
With --check-greedy FILE (nc-sample -T 0's ids on one line) it runs the
prompt and those ids through the model in one forward (no cache) and checks
that each of nc's ids has the largest logit at its position, to within 1e-4
(exact ties are common in a barely trained model: tokens never seen in
training keep identical lm_head rows, and which of them wins is rounding):
`greedy_check=K/N max_gap=G`, K positions within the tolerance, G the
largest shortfall of nc's id below the maximum.

With --device cuda the fp32 model is moved to the GPU after loading (the
same weights, fp32, no autocast, as nc-sample runs there), each timed
forward is bracketed by torch.cuda.synchronize(), and --bandwidth-mb N
first measures the GPU's memory bandwidth with torch: the best of
--bandwidth-reps device-to-device copies of N MiB (read + write bytes) and
sums over the same array (read bytes), `event=bandwidth copy_gbs=F
read_gbs=F`.

Output, logfmt on stdout: an event=config line, then one line per run:
  samples=S run=I prefill_tokens=P prefill_s=F prefill_tok_s=F
  decode_steps=N decode_tokens=N decode_s=F decode_tok_s=F
  fwd_prefill_s=F fwd_decode_s=F fwd_decode_tok_s=F
"""

import argparse
import base64
import os
import sys
import time
import types

from nanochat_cpu import empty_gpt, fail, start, to_fp32


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--nanochat", required=True, help="directory containing nanochat's nanochat/ package")
    ap.add_argument("--model", required=True, help="an nc checkpoint directory (model.safetensors)")
    ap.add_argument("--prompt", required=True, help="file: the prompt's token ids on one line")
    ap.add_argument("--specials", required=True, help="file: `nc-bpe info` output (special=NAME id=N lines)")
    ap.add_argument("--ranks", help="file: `nc-bpe export` ranks (base64 bytes, id), for decode")
    ap.add_argument("--max-tokens", type=int, default=128)
    ap.add_argument("--samples", default="1,8", help="comma-separated num_samples values")
    ap.add_argument("--runs", type=int, default=3, help="timed generates per num_samples")
    ap.add_argument("--warmup-tokens", type=int, default=16, help="tokens of the untimed warm-up generate")
    ap.add_argument("--temperature", type=float, default=1.0)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--threads", type=int, default=0, help="torch.set_num_threads (0: leave)")
    ap.add_argument("--greedy", type=int, default=0, help="print N greedy ids of one sample first")
    ap.add_argument("--check-greedy", help="file: nc's greedy ids, checked to be argmax (see above)")
    ap.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    ap.add_argument("--bandwidth-mb", type=int, default=0, help="GPU: MiB of the bandwidth probe (0: none)")
    ap.add_argument("--bandwidth-reps", type=int, default=5)
    return ap.parse_args()


args = parse_args()
start(args.nanochat)  # python -O, no torch.compile, nanochat on sys.path

import torch  # noqa: E402
from safetensors import safe_open  # noqa: E402
from safetensors.torch import load_file  # noqa: E402

# Engine needs nothing from checkpoint_manager (see the docstring).
_stub = types.ModuleType("nanochat.checkpoint_manager")
_stub.load_model = None
sys.modules.setdefault("nanochat.checkpoint_manager", _stub)

from nanochat.engine import Engine  # noqa: E402


class StandInTokenizer:
    """What Engine.generate asks of nanochat's tokenizer, from nc's."""

    def __init__(self, specials_path, ranks_path):
        self.special = {}
        with open(specials_path, encoding="utf-8") as f:
            for line in f:
                fields = dict(w.split("=", 1) for w in line.split() if "=" in w)
                if "special" in fields and "id" in fields:
                    self.special[fields["special"]] = int(fields["id"])
        if "<|bos|>" not in self.special:
            fail(specials_path + ": no special=<|bos|> id=N line")
        self.bytes_of = {}
        if ranks_path:
            with open(ranks_path, encoding="ascii") as f:
                for line in f:
                    if line.strip():
                        b64, rank = line.split()
                        self.bytes_of[int(rank)] = base64.b64decode(b64)

    def encode_special(self, name):
        return self.special.get(name, -1)   # -1: never sampled

    def get_bos_token_id(self):
        return self.special["<|bos|>"]

    def decode(self, ids):
        b = b"".join(self.bytes_of.get(i, b"") for i in ids)
        return b.decode("utf-8", errors="replace")

    def encode(self, text):
        return list(text.encode("utf-8"))


def load_model(ckpt):
    path = os.path.join(ckpt, "model.safetensors")
    with safe_open(path, "pt") as f:
        meta = f.metadata() or {}
    try:
        cfg = {k: int(meta["config." + k]) for k in
               ("sequence_len", "vocab_size", "n_layer", "n_head", "n_kv_head", "n_embd")}
    except (KeyError, ValueError):
        fail(path + ": no config.* in the safetensors metadata")
    model = to_fp32(empty_gpt(cfg))
    state = load_file(path, device="cpu")
    model.load_state_dict(state, strict=True)  # copies into the fp32 tensors
    model.eval()
    return model, cfg


def sync():
    if args.device == "cuda":
        torch.cuda.synchronize()


class ForwardClock:
    """Wraps model.forward; records each call's seconds (on a GPU, from
    the queue empty to the work done)."""

    def __init__(self, model):
        self.inner = model.forward
        self.calls = []
        model.forward = self

    def __call__(self, *a, **k):
        sync()
        t0 = time.perf_counter()
        out = self.inner(*a, **k)
        sync()
        self.calls.append(time.perf_counter() - t0)
        return out


def gpu_bandwidth(mib, reps):
    """Best copy and read bandwidth of the GPU, GB/s (see the docstring)."""
    n = (mib << 20) // 4
    a = torch.rand(n, device="cuda")
    b = torch.empty_like(a)
    copy = read = float("inf")
    for _ in range(reps):
        sync()
        t0 = time.perf_counter()
        b.copy_(a)
        sync()
        t1 = time.perf_counter()
        a.sum()
        sync()
        t2 = time.perf_counter()
        copy, read = min(copy, t1 - t0), min(read, t2 - t1)
    return 2 * n * 4 / copy / 1e9, n * 4 / read / 1e9


def main():
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    with open(args.prompt, encoding="ascii") as f:
        prompt = [int(w) for w in f.read().split()]
    if not prompt:
        fail(args.prompt + ": no token ids")
    model, cfg = load_model(args.model)
    if args.device == "cuda":
        if not torch.cuda.is_available():
            fail("--device cuda: torch sees no CUDA device")
        model.to("cuda")
        model.cos, model.sin = model.cos.to("cuda"), model.sin.to("cuda")
        if args.bandwidth_mb > 0:
            c, r = gpu_bandwidth(args.bandwidth_mb, args.bandwidth_reps)
            print("event=bandwidth copy_gbs=%.1f read_gbs=%.1f" % (c, r), flush=True)
    if max(prompt) >= cfg["vocab_size"]:
        fail("a prompt id is outside the vocabulary")
    if len(prompt) + args.max_tokens > cfg["sequence_len"]:
        fail("prompt + max tokens exceed the model's context of %d" % cfg["sequence_len"])
    tok = StandInTokenizer(args.specials, args.ranks)
    engine = Engine(model, tok)
    clock = ForwardClock(model)
    samples = [int(s) for s in args.samples.split(",") if s]
    params = sum(p.numel() for p in model.parameters())
    print("event=config device=%s torch=%s threads=%d n_layer=%d n_embd=%d n_head=%d n_kv_head=%d vocab_size=%d "
          "sequence_len=%d params=%d prompt_tokens=%d max_tokens=%d temperature=%g rotary=fp32 compile=off" % (
              args.device, torch.__version__, torch.get_num_threads(), cfg["n_layer"], cfg["n_embd"], cfg["n_head"],
              cfg["n_kv_head"], cfg["vocab_size"], cfg["sequence_len"], params, len(prompt),
              args.max_tokens, args.temperature), flush=True)

    if args.greedy > 0:
        ids = [col[0] for col, _ in engine.generate(prompt, num_samples=1, max_tokens=args.greedy,
                                                    temperature=0.0, seed=args.seed)]
        print("greedy=" + " ".join(map(str, ids)), flush=True)

    if args.check_greedy:
        with open(args.check_greedy, encoding="ascii") as f:
            ids = [int(w) for w in f.read().split()]
        if ids:
            x = torch.tensor([prompt + ids[:-1]], dtype=torch.long, device=args.device)
            with torch.inference_mode():
                z = clock.inner(x)[0, len(prompt) - 1:]
                want = torch.tensor(ids, device=args.device)
                gap = z.max(dim=-1).values - z.gather(1, want[:, None])[:, 0]
            print("greedy_check=%d/%d max_gap=%.3g" % (int((gap <= 1e-4).sum()), len(ids), float(gap.max())),
                  flush=True)

    for S in samples:
        for _ in engine.generate(prompt, num_samples=S, max_tokens=max(2, args.warmup_tokens),
                                 temperature=args.temperature, seed=args.seed):
            pass
        for run in range(args.runs):
            clock.calls = []
            t0 = time.perf_counter()
            gen = engine.generate(prompt, num_samples=S, max_tokens=args.max_tokens,
                                  temperature=args.temperature, seed=args.seed)
            next(gen)
            t1 = time.perf_counter()
            cols = 1
            for _ in gen:
                cols += 1
            t2 = time.perf_counter()
            steps = cols - 1
            pre, dec = t1 - t0, t2 - t1
            fpre, fdec = clock.calls[0], sum(clock.calls[1:])
            if len(clock.calls) != cols:
                fail("%d forwards for %d columns" % (len(clock.calls), cols))
            print("samples=%d run=%d prefill_tokens=%d prefill_s=%.6f prefill_tok_s=%.1f decode_steps=%d "
                  "decode_tokens=%d decode_s=%.6f decode_tok_s=%.1f fwd_prefill_s=%.6f fwd_decode_s=%.6f "
                  "fwd_decode_tok_s=%.1f" % (
                      S, run, len(prompt), pre, len(prompt) / pre, steps, S * steps, dec,
                      S * steps / dec if dec > 0 else 0, fpre, fdec, S * steps / fdec if fdec > 0 else 0),
                  flush=True)


main()

#!/usr/bin/env python3
"""Reference runs of nanochat's training and evaluation (v1, commit 3a5e0bc)
for nc's tests: a training trajectory, val bpb, and two ranks stepping with
nanochat's distributed optimizers.

nanochat is NOT vendored: pass --nanochat DIR, a directory holding a
nanochat checkout's `nanochat/` and `scripts/`, e.g.

    git --git-dir=NANOCHAT.git archive 3a5e0bc | tar -x -C DIR

What runs is nanochat's own code: GPT and GPT.setup_optimizers (gpt.py),
Muon / DistMuon (muon.py), DistAdamW (adamw.py), evaluate_bpb
(loss_eval.py), the pretraining loader (dataloader.py), and
get_lr_multiplier / get_muon_momentum, taken out of scripts/base_train.py
by name (its source is parsed, the two functions alone are executed).
What this script writes itself is base_train's loop around them
(base_train.py:255-277: micro-steps with the loss divided by grad_accum,
clip_grad_norm_, learning rates and momentum set from the schedules, both
optimizers stepped, grads zeroed), and eval_steps = eval_tokens //
(device_batch_size * max_seq_len * world) (base_train.py:180).

Everything runs on the CPU, eagerly (TORCHDYNAMO_DISABLE=1). As in
nanochat_ref.py the model is float32, the rotary tables are built in fp32
(their .bfloat16() made a no-op; python -O skips forward's dtype assert),
and the weights v1 initialises to zero are redrawn so that every gradient
is informative from the first step. Muon's Newton-Schulz runs with its
bf16 cast disabled, i.e. in the model's precision: v1's bf16 rounding
would add noise that only a bit-exact bf16 replay could follow (see
tests/fixtures/gpt/README.md).

Outputs (safetensors, sorted names and metadata, byte-identical reruns):
  --out-train  one process, 12 steps, grad_accum 2, grad_clip 5.5,
               warmup_ratio 0.25 and warmdown_ratio 0.25 (so that both
               ramps are crossed), Muon momentum from get_muon_momentum:
               param.* (start), batch.x / batch.y (step, micro, B, T),
               out.loss (per step, micro-step 0's loss as base_train logs
               it) and out.loss_mean (the mean over micro-steps),
               out.grad_norm (clip_grad_norm_'s return), out.lrm,
               out.momentum, final.* (after the last step); the same
               run in float64: f64.loss, f64.final.*.
  --out-bpb    evaluate_bpb on nanochat's loader over a token stream:
               param.*, data.tokens (the stream, documents with BOS),
               data.token_bytes, batch.x / batch.y (what the loader gave),
               out.bpb [1], out.steps [1].
  --out-dist   two ranks (gloo, two processes) with DistAdamW and
               DistMuon from setup_optimizers, 4 steps, each rank its own
               batches, clipping per rank: param.*, batch.x / batch.y
               (step, rank, B, T), out.loss and out.grad_norm (step,
               rank), step1.*,
               final.* (rank 0's; checked equal to rank 1's).
  --out-mid    mid_train.py's loop over a whole epoch of a small chat
               mixture (mid_data_generator and get_muon_momentum taken
               out of scripts/mid_train.py by name; the learning rate on
               the schedule fixed after v1, 1 until 80% progress then
               linear to 0): param.*, data.* (the conversations' ids and
               masks, train and val), batch.x / batch.y (every batch the
               generator gave, the last prefetch included), out.* (losses
               of each micro-step, progress, lrm, momentum, val bpb and the
               steps it was taken at), step1.* and final.*; w2.* (the
               batches ranks 0 and 1 of two draw).
  --out-sft    chat_sft.py's loop, two epochs of an odd number of
               conversations so that a batch takes rows from both
               (sft_data_generator and get_lr_multiplier taken out of
               scripts/chat_sft.py): param.*, data.*, batch.S.K.x / .y
               (step S, micro-step K: padding and -1 targets as the
               generator makes them), out.* (losses, num_tokens, lrm, val
               loss and its steps), step1.*, final.*, and w2.*.
"""

import argparse
import ast
import json
import math
import os
import struct
import sys
import types

SEED_INIT = 42
SEED_DATA = 2024
CFG = dict(sequence_len=16, vocab_size=64, n_layer=2, n_head=2, n_kv_head=1, n_embd=32)
B, T = 2, 16


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--nanochat", required=True, help="directory holding nanochat's nanochat/ and scripts/")
    ap.add_argument("--out-train", help="trajectory fixture (.safetensors)")
    ap.add_argument("--out-bpb", help="val bpb fixture (.safetensors)")
    ap.add_argument("--out-dist", help="two-rank fixture (.safetensors)")
    ap.add_argument("--out-mid", help="midtraining fixture (.safetensors)")
    ap.add_argument("--out-sft", help="SFT fixture (.safetensors)")
    ap.add_argument("--commit", default="3a5e0bc", help="nanochat commit recorded in the metadata")
    return ap.parse_args()


def check(cond, msg):
    # no `assert`: this runs under python -O
    if not cond:
        raise SystemExit("nanochat_train_ref: check failed: " + msg)


args = parse_args()
if not sys.flags.optimize:
    os.execv(sys.executable, [sys.executable, "-O"] + sys.argv)
os.environ["TORCHDYNAMO_DISABLE"] = "1"
for _k in ("RANK", "LOCAL_RANK", "WORLD_SIZE"):
    os.environ.pop(_k, None)
NANOCHAT = os.path.abspath(args.nanochat)
sys.path.insert(0, NANOCHAT)
sys.path.insert(1, os.path.dirname(os.path.abspath(__file__)))

import torch  # noqa: E402
import torch.distributed as dist  # noqa: E402
from safetensors.torch import load_file  # noqa: E402
from nanochat.gpt import GPT, GPTConfig  # noqa: E402
from torch_fp32 import bf16_cast_disabled  # noqa: E402

torch.set_num_threads(1)  # deterministic CPU reductions


# ---- nanochat's schedules, out of base_train.py ----

def script_functions(script, names, ns):
    """The functions called names that scripts/SCRIPT defines at its top
    level, executed (they alone) into ns, which holds the globals they
    read; ns is returned."""
    path = os.path.join(NANOCHAT, "scripts", script)
    tree = ast.parse(open(path, encoding="utf-8").read())
    wanted = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name in names]
    check(len(wanted) == len(names), f"{script} defines {', '.join(names)}")
    exec(compile(ast.Module(body=wanted, type_ignores=[]), path, "exec"), ns)
    return ns


def base_train_functions(num_iterations, warmup_ratio, warmdown_ratio, final_lr_frac=0.0):
    """get_lr_multiplier and get_muon_momentum as base_train.py defines
    them, executed with the globals they read."""
    ns = script_functions("base_train.py", ("get_lr_multiplier", "get_muon_momentum"),
                          dict(num_iterations=num_iterations, warmup_ratio=warmup_ratio,
                               warmdown_ratio=warmdown_ratio, final_lr_frac=final_lr_frac))
    return ns["get_lr_multiplier"], ns["get_muon_momentum"]


# ---- the model ----

def linear_std(w):
    fan_out, fan_in = w.shape
    return 1.0 / math.sqrt(fan_in) * min(1.0, math.sqrt(fan_out / fan_in))


def build_model(dtype=torch.float32, cfg=None):
    cfg = cfg or CFG
    torch.manual_seed(SEED_INIT)
    with torch.device("meta"):
        model = GPT(GPTConfig(**cfg))
    model.to_empty(device="cpu")
    model.init_weights()
    model.float()
    gen = torch.Generator().manual_seed(SEED_INIT + 1)
    with torch.no_grad():
        redraw = [(model.lm_head.weight, 0.5)]
        for blk in model.transformer.h:
            redraw += [(blk.attn.c_proj.weight, linear_std(blk.attn.c_proj.weight)),
                       (blk.mlp.c_proj.weight, linear_std(blk.mlp.c_proj.weight))]
        for w, std in redraw:
            check(bool((w == 0).all()), "v1 zero-initialises lm_head and c_proj")
            w.copy_(torch.randn(w.shape, generator=gen) * std)
    head_dim = cfg["n_embd"] // cfg["n_head"]
    with bf16_cast_disabled():
        cos, sin = model._precompute_rotary_embeddings(model.rotary_seq_len, head_dim)
    model.cos, model.sin = cos, sin
    model.to(dtype)
    for n, p in model.named_parameters():
        check(p.dtype == dtype, n + " dtype")
    return model


def params_of(model, prefix):
    return {prefix + n: p.detach().float().clone() for n, p in model.named_parameters()}


def random_batches(gen, shape):
    """Independent (x, y) token batches: the trajectory tests the training
    step, not the loader."""
    x = torch.randint(0, CFG["vocab_size"], shape, generator=gen, dtype=torch.int64)
    y = torch.randint(0, CFG["vocab_size"], shape, generator=gen, dtype=torch.int64)
    return x, y


def doubles(prefix, **values):
    """Each list of numbers as a float64 tensor named prefix + its name."""
    return {prefix + k: torch.tensor(v, dtype=torch.float64) for k, v in values.items()}


def metadata(extra, cfg=None, batch=B, seq=T):
    md = {f"config.{k}": str(v) for k, v in (cfg or CFG).items()}
    md.update({"batch": str(batch), "seq": str(seq), "torch_version": torch.__version__,
               "nanochat_commit": args.commit, "seed_init": str(SEED_INIT),
               "seed_data": str(SEED_DATA),
               "rotary_tables": "fp32 (bf16 cast disabled)",
               "redrawn_weights": "lm_head ~ N(0,0.5); attn.c_proj, mlp.c_proj ~ N(0, v1 linear std); seed 43",
               "newton_schulz": "nanochat's zeropower_via_newtonschulz5 with its bf16 cast disabled (model precision)"})
    md.update(extra)
    return {k: str(v) for k, v in md.items()}


# ---- 4a: a trajectory of base_train's loop ----

TRAIN_STEPS, TRAIN_ACCUM = 12, 2
TRAIN_WARMUP, TRAIN_WARMDOWN = 0.25, 0.25
# base_train clips at 1.0; this model's gradient norms run from about 4 to
# 7, so that some steps clip and some do not
GRAD_CLIP = 5.5


def train_loop(model, batches, lrm_of, momentum_of):
    """base_train.py's step (lines 255-277), single process."""
    adamw, muon = model.setup_optimizers()
    check(type(muon).__name__ == "Muon", "single-process Muon")
    optimizers = [adamw, muon]
    losses, means, norms, lrms, moms = [], [], [], [], []
    for step in range(TRAIN_STEPS):
        logged = None
        total = 0.0
        for micro in range(TRAIN_ACCUM):
            x, y = batches[0][step, micro], batches[1][step, micro]
            loss = model(x, y)
            if micro == 0:
                logged = loss.item()
            total += loss.item()
            loss = loss / TRAIN_ACCUM
            loss.backward()
        norm = torch.nn.utils.clip_grad_norm_(model.parameters(), GRAD_CLIP)
        lrm = lrm_of(step)
        for opt in optimizers:
            for group in opt.param_groups:
                group["lr"] = group["initial_lr"] * lrm
        mom = momentum_of(step)
        for group in muon.param_groups:
            group["momentum"] = mom
        with bf16_cast_disabled():
            for opt in optimizers:
                opt.step()
        model.zero_grad(set_to_none=True)
        losses.append(logged)
        means.append(total / TRAIN_ACCUM)
        norms.append(norm.item())
        lrms.append(lrm)
        moms.append(mom)
    return losses, means, norms, lrms, moms


def train_case():
    lrm_of, momentum_of = base_train_functions(TRAIN_STEPS, TRAIN_WARMUP, TRAIN_WARMDOWN)
    gen = torch.Generator().manual_seed(SEED_DATA)
    x, y = random_batches(gen, (TRAIN_STEPS, TRAIN_ACCUM, B, T))
    model = build_model(torch.float32)
    t = params_of(model, "param.")
    losses, means, norms, lrms, moms = train_loop(model, (x, y), lrm_of, momentum_of)
    t.update(params_of(model, "final."))
    model64 = build_model(torch.float64)
    check(all(torch.equal(p.float(), t["param." + n]) for n, p in model64.named_parameters()),
          "float64 run starts from the same weights")
    l64, m64, n64, _, _ = train_loop(model64, (x, y), lrm_of, momentum_of)
    t.update(params_of(model64, "f64.final."))
    check(any(n > GRAD_CLIP for n in norms) and any(n <= GRAD_CLIP for n in norms),
          "clipping acts on some steps, not all")
    check(lrms[0] < 1 and lrms[-1] < 1 and 1.0 in lrms, "warmup and warmdown are crossed")
    t.update({"batch.x": x, "batch.y": y})
    t.update(doubles("out.", loss=losses, loss_mean=means, grad_norm=norms, lrm=lrms, momentum=moms))
    t.update(doubles("f64.", loss=l64, loss_mean=m64, grad_norm=n64))
    spread = max(abs(a - b) for a, b in zip(means, m64))
    md = metadata({
        "case": "base_train's loop, one process",
        "steps": TRAIN_STEPS, "grad_accum": TRAIN_ACCUM, "grad_clip": GRAD_CLIP,
        "warmup_ratio": TRAIN_WARMUP, "warmdown_ratio": TRAIN_WARMDOWN, "final_lr_frac": 0.0,
        "schedules": "get_lr_multiplier, get_muon_momentum executed from scripts/base_train.py",
        "optimizers": "GPT.setup_optimizers() defaults: AdamW(fused) lm_head 0.004, wte 0.2 (x (32/768)^-0.5), Muon 0.02",
        "loss_logged": "out.loss = micro-step 0's loss (base_train's train_loss is the last micro-step's before the EMA; both are kept: out.loss_mean is the mean over micro-steps)",
        "fp32_vs_fp64_max_dloss_mean": repr(spread),
    })
    print(f"trajectory: fp32 vs fp64 nanochat, max |dloss| {spread:.3e}")
    return t, md


# ---- 4b: evaluate_bpb on nanochat's loader ----

BPB_EVAL_TOKENS = 5 * B * T   # eval_tokens // (B*T) = 5; // (B*T+1) would be 4
BOS = CFG["vocab_size"] - 1


def fake_documents(gen):
    docs = []
    for _ in range(40):
        n = int(torch.randint(1, 12, (1,), generator=gen))
        docs.append(torch.randint(0, BOS, (n,), generator=gen).tolist())
    return docs


class FakeTokenizer:
    """What dataloader.py asks of the tokenizer: the BOS id and a batch
    encode that prepends it. The 'documents' are already token lists."""

    def get_bos_token_id(self):
        return BOS

    def encode(self, docs, prepend=None, num_threads=None):
        return [[prepend] + list(d) for d in docs]


def nanochat_val_loader(docs):
    """nanochat's tokenizing_distributed_data_loader over docs as one
    parquet row group, on the CPU: its parquet reader and tokenizer are
    replaced, pinned memory and .to("cuda") become plain CPU tensors."""
    # dataloader.py imports these two; their dependencies (requests,
    # pyarrow, tiktoken) are not needed for what is replaced below
    for name in ("nanochat.dataset", "nanochat.tokenizer"):
        stub = types.ModuleType(name)
        stub.parquets_iter_batched = stub.get_tokenizer = None
        sys.modules.setdefault(name, stub)
    import nanochat.dataloader as dl
    dl.get_tokenizer = lambda: FakeTokenizer()
    dl.parquets_iter_batched = lambda split, start=0, step=1: iter([docs])
    real_empty, real_to = torch.empty, torch.Tensor.to

    def empty(*a, **k):
        k.pop("pin_memory", None)
        return real_empty(*a, **k)

    def to(self, *a, **k):
        if k.get("device") == "cuda":
            k["device"] = "cpu"
            k.pop("non_blocking", None)
        return real_to(self, *a, **k)

    class Patched:
        def __iter__(self):
            gen = dl.tokenizing_distributed_data_loader(B, T, "val")
            while True:
                torch.empty, torch.Tensor.to = empty, to
                try:
                    batch = next(gen)
                finally:
                    torch.empty, torch.Tensor.to = real_empty, real_to
                yield batch
    return Patched()


def bpb_case():
    from nanochat.loss_eval import evaluate_bpb
    gen = torch.Generator().manual_seed(SEED_DATA + 1)
    docs = fake_documents(gen)
    stream = torch.tensor([t for d in docs for t in [BOS] + d], dtype=torch.int64)
    check(len(stream) >= (BPB_EVAL_TOKENS // (B * T)) * (B * T + 1), "stream covers the windows")
    token_bytes = torch.randint(1, 5, (CFG["vocab_size"],), generator=gen, dtype=torch.int64)
    token_bytes[BOS] = 0
    token_bytes[5] = 0   # a second zero-byte id among ordinary ones
    model = build_model(torch.float32)
    model.eval()
    steps = BPB_EVAL_TOKENS // (B * T * 1)   # base_train.py:180, one rank
    seen = []
    loader = nanochat_val_loader(docs)

    def recording():
        for x, y in loader:
            seen.append((x.to(torch.int64).clone(), y.clone()))
            yield x, y
    bpb = evaluate_bpb(model, recording(), steps, token_bytes)
    check(len(seen) == steps, "evaluate_bpb took eval_steps batches")
    for k, (x, y) in enumerate(seen):
        w = stream[k * (B * T + 1):(k + 1) * (B * T + 1)]
        check(torch.equal(x.view(-1), w[:-1]) and torch.equal(y.view(-1), w[1:]),
              f"batch {k} is window {k} of the stream (B*T+1 tokens each)")
    t = params_of(model, "param.")
    t.update({"data.tokens": stream, "data.token_bytes": token_bytes,
              "batch.x": torch.stack([x for x, _ in seen]), "batch.y": torch.stack([y for _, y in seen]),
              "out.bpb": torch.tensor([bpb], dtype=torch.float64),
              "out.steps": torch.tensor([steps], dtype=torch.int64)})
    md = metadata({"case": "evaluate_bpb over nanochat's loader, one rank",
                   "eval_tokens": BPB_EVAL_TOKENS, "bos": BOS,
                   "eval_steps": "eval_tokens // (B*T*world) (base_train.py:180)",
                   "documents": "40 random token lists (ids 0..62), BOS prepended by the loader's tokenizer call"})
    print(f"bpb: {bpb:.8f} over {steps} batches")
    return t, md


# ---- 4c: two ranks, DistAdamW and DistMuon ----

DIST_STEPS, DIST_WORLD = 4, 2
DIST_ADAM_EPS = 1e-4
# the ranks' norms here run from about 7.9 to 9.6: at 8.5 one rank of a
# step may clip while the other does not
DIST_GRAD_CLIP = 8.5


class SyncCollectives:
    """torch.distributed as nanochat's optimizers see it, on gloo: gloo's
    reduce-scatter has no future ("Work::getFuture not implemented"), so
    an async collective runs to completion and hands back a future that is
    already done. Both ranks issue the same collectives in the same order,
    so the results are those of the asynchronous calls."""

    def __getattr__(self, name):
        real = getattr(dist, name)
        if name not in ("reduce_scatter_tensor", "reduce_scatter", "all_gather_into_tensor", "all_gather"):
            return real

        def call(*a, async_op=False, **k):
            real(*a, **k)
            if not async_op:
                return None
            fut = torch.futures.Future()
            fut.set_result(None)
            return types.SimpleNamespace(get_future=lambda: fut)
        return call


def dist_rank(rank, port, x, y, result):
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank),
                      LOCAL_RANK=str(rank), WORLD_SIZE=str(DIST_WORLD))
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=DIST_WORLD)
    import nanochat.adamw
    import nanochat.muon
    nanochat.adamw.dist = nanochat.muon.dist = SyncCollectives()
    lrm_of, momentum_of = base_train_functions(DIST_STEPS, 0.0, 0.5)
    model = build_model(torch.float32)
    adamw, muon = model.setup_optimizers()
    check(type(adamw).__name__ == "DistAdamW" and type(muon).__name__ == "DistMuon",
          "setup_optimizers picks the distributed optimizers under RANK/WORLD_SIZE")
    for group in adamw.param_groups:
        group["eps"] = DIST_ADAM_EPS
    out = {"loss": [], "norm": [], "params": []}
    for step in range(DIST_STEPS):
        loss = model(x[step, rank], y[step, rank])
        loss.backward()
        norm = torch.nn.utils.clip_grad_norm_(model.parameters(), DIST_GRAD_CLIP)
        lrm = lrm_of(step)
        for opt in (adamw, muon):
            for group in opt.param_groups:
                group["lr"] = group["initial_lr"] * lrm
        for group in muon.param_groups:
            group["momentum"] = momentum_of(step)
        with bf16_cast_disabled():
            adamw.step()
            muon.step()
        model.zero_grad(set_to_none=True)
        out["loss"].append(loss.item())
        out["norm"].append(norm.item())
        # numpy, not tensors: a queued tensor travels as shared memory that
        # goes with the process
        out["params"].append({n: p.detach().numpy().copy() for n, p in model.named_parameters()})
    result.put((rank, out["loss"], out["norm"], out["params"][0], out["params"][-1]))
    dist.barrier()
    dist.destroy_process_group()


def dist_case():
    import torch.multiprocessing as mp
    gen = torch.Generator().manual_seed(SEED_DATA + 2)
    x, y = random_batches(gen, (DIST_STEPS, DIST_WORLD, B, T))
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    port = 29500 + os.getpid() % 1000
    procs = [ctx.Process(target=dist_rank, args=(r, port, x, y, q)) for r in range(DIST_WORLD)]
    for p in procs:
        p.start()
    got = dict()
    for _ in procs:
        r, losses, norms, p1, pN = q.get(timeout=600)
        got[r] = (losses, {n: torch.from_numpy(v) for n, v in p1.items()},
                  {n: torch.from_numpy(v) for n, v in pN.items()}, norms)
    for p in procs:
        p.join()
        check(p.exitcode == 0, "rank process failed")
    for n in got[0][2]:
        check(torch.equal(got[0][2][n], got[1][2][n]) and torch.equal(got[0][1][n], got[1][1][n]),
              "both ranks hold the same parameters: " + n)
    model = build_model(torch.float32)
    t = params_of(model, "param.")
    t.update({"step1." + n: v for n, v in got[0][1].items()})
    t.update({"final." + n: v for n, v in got[0][2].items()})
    t.update({"batch.x": x, "batch.y": y,
              "out.loss": torch.tensor([[got[r][0][s] for r in range(DIST_WORLD)]
                                        for s in range(DIST_STEPS)], dtype=torch.float64),
              "out.grad_norm": torch.tensor([[got[r][3][s] for r in range(DIST_WORLD)]
                                             for s in range(DIST_STEPS)], dtype=torch.float64)})
    norms = t["out.grad_norm"]
    check(bool((norms > DIST_GRAD_CLIP).any()) and bool((norms <= DIST_GRAD_CLIP).any()),
          "some ranks' steps clip, some do not")
    md = metadata({"case": "two ranks (gloo), DistAdamW + DistMuon from setup_optimizers",
                   "world": DIST_WORLD, "steps": DIST_STEPS, "grad_clip": DIST_GRAD_CLIP,
                   "warmup_ratio": 0.0, "warmdown_ratio": 0.5,
                   "clipping": "each rank clips its own gradient (v1 has no DDP), before the optimizers average",
                   "adam_eps": repr(DIST_ADAM_EPS) + " set in DistAdamW's groups after setup_optimizers (1e-10 there): "
                               "large enough that DistAdamW's eps placement differs from torch AdamW's by far more than rounding"})
    return t, md


# ---- 4d, 4e: the chat stages, mid_train.py and chat_sft.py ----

# A byte-level vocabulary with nanochat's nine special tokens after it, as
# nc-bpe writes one with no merges: <|bos|> 256, <|user_start|> 257,
# <|user_end|> 258, <|assistant_start|> 259, <|assistant_end|> 260.
CHAT_CFG = dict(sequence_len=16, vocab_size=265, n_layer=2, n_head=2, n_kv_head=1, n_embd=32)
CHAT_BOS, USER_START, USER_END, ASSISTANT_START, ASSISTANT_END = 256, 257, 258, 259, 260
CHAT_B, CHAT_T = 2, 16


def fake_conversations(gen, n):
    """n conversations as render_conversation makes them: BOS, then one or
    two turns of <|user_start|> text <|user_end|> (mask 0) and
    <|assistant_start|> (mask 0) text <|assistant_end|> (mask 1); the text
    is random bytes."""
    convs = []
    rand = lambda lo, hi: int(torch.randint(lo, hi + 1, (1,), generator=gen))
    for _ in range(n):
        ids, mask = [CHAT_BOS], [0]
        for _ in range(rand(1, 2)):
            user = torch.randint(0, 256, (rand(1, 6),), generator=gen).tolist()
            reply = torch.randint(0, 256, (rand(1, 8),), generator=gen).tolist()
            ids += [USER_START] + user + [USER_END, ASSISTANT_START] + reply + [ASSISTANT_END]
            mask += [0] * (len(user) + 3) + [1] * (len(reply) + 1)
        convs.append((ids, mask))
    return convs


class ChatTokenizer:
    """What the generators ask of the tokenizer: the conversations are
    rendered already, and <|assistant_end|> is the pad id."""

    def render_conversation(self, conv):
        return list(conv[0]), list(conv[1])

    def encode_special(self, name):
        check(name == "<|assistant_end|>", "only the pad id is asked for")
        return ASSISTANT_END


class TorchOnCPU:
    """torch as the generators see it: pinned memory needs a GPU, so
    torch.empty drops pin_memory; everything else is torch's."""

    def __getattr__(self, name):
        return getattr(torch, name)

    @staticmethod
    def empty(*a, **k):
        k.pop("pin_memory", None)
        return torch.empty(*a, **k)


def chat_data(prefix, convs):
    ids = [t for c in convs for t in c[0]]
    mask = [m for c in convs for m in c[1]]
    return {prefix + ".ids": torch.tensor(ids, dtype=torch.int64),
            prefix + ".mask": torch.tensor(mask, dtype=torch.int64)}


def set_lrs(optimizers, lrm):
    for opt in optimizers:
        for group in opt.param_groups:
            group["lr"] = group["initial_lr"] * lrm


def chat_optimizers(model, init_lr_frac):
    """setup_optimizers with the scripts' defaults, every group's lr times
    init_lr_frac and kept as initial_lr (mid_train.py:83-89, chat_sft.py:146-155)."""
    optimizers = model.setup_optimizers(unembedding_lr=0.004, embedding_lr=0.2, matrix_lr=0.02,
                                        weight_decay=0.0)
    for opt in optimizers:
        for group in opt.param_groups:
            group["lr"] = group["lr"] * init_lr_frac
            group["initial_lr"] = group["lr"]
    return optimizers


def step_optimizers(optimizers, model):
    with bf16_cast_disabled():
        for opt in optimizers:
            opt.step()
    model.zero_grad(set_to_none=True)


MID_CONVS, MID_VAL_CONVS, MID_ACCUM = 23, 7, 2
MID_EVAL_EVERY, MID_EVAL_TOKENS = 2, 2 * CHAT_B * CHAT_T


def mid_generators(convs, val, rank, world):
    ns = dict(device_batch_size=CHAT_B, max_seq_len=CHAT_T, tokenizer=ChatTokenizer(),
              ddp_rank=rank, ddp_world_size=world, train_dataset=convs, val_dataset=val,
              deque=__import__("collections").deque, torch=TorchOnCPU(), device="cpu",
              last_step=False, approx_progress=0.0)
    return script_functions("mid_train.py", ("mid_data_generator", "get_muon_momentum"), ns)


def mid_lr_multiplier(progress):
    # the schedule as fixed after v1 (b8076dd:scripts/mid_train.py:143-145);
    # v1's own is lrm = progress, a ramp up
    return 1 if progress < 0.8 else 1 - (progress - 0.8) / 0.2


def mid_case():
    from nanochat.loss_eval import evaluate_bpb
    gen = torch.Generator().manual_seed(SEED_DATA + 3)
    convs, val = fake_conversations(gen, MID_CONVS), fake_conversations(gen, MID_VAL_CONVS)
    # as nc computes them from the tokenizer: a byte each, specials none
    token_bytes = torch.ones(CHAT_CFG["vocab_size"], dtype=torch.int64)
    token_bytes[256:] = 0
    ns = mid_generators(convs, val, 0, 1)
    model = build_model(torch.float32, CHAT_CFG)
    t = params_of(model, "param.")
    optimizers = chat_optimizers(model, 1.0)
    train_loader = ns["mid_data_generator"]("train")
    # mid_train.py:176-250, one process: the loop as the script writes it
    # on the CPU a batch's targets are a view of the generator's scratch
    # buffer, which the next batch overwrites: the loop uses them before
    # that, the record keeps copies
    xs, ys = [], []
    x, y = next(train_loader)
    xs.append(x), ys.append(y.clone())
    progress, step = 0, 0
    micro_losses, lrms, progs, moms, vals, val_steps = [], [], [], [], [], []
    while True:
        last_step = ns["last_step"]
        if last_step or step % MID_EVAL_EVERY == 0:
            eval_steps = MID_EVAL_TOKENS // (CHAT_B * CHAT_T * 1)
            vals.append(evaluate_bpb(model, ns["mid_data_generator"]("val"), eval_steps, token_bytes))
            val_steps.append(step)
        if last_step:
            break
        losses = []
        for _ in range(MID_ACCUM):
            loss = model(x, y)
            losses.append(loss.item())
            (loss / MID_ACCUM).backward()
            x, y = next(train_loader)
            xs.append(x), ys.append(y.clone())
            progress = max(progress, ns["approx_progress"])
        lrm = mid_lr_multiplier(progress)
        set_lrs(optimizers, lrm)
        mom = ns["get_muon_momentum"](step)
        for group in optimizers[1].param_groups:
            group["momentum"] = mom
        step_optimizers(optimizers, model)
        micro_losses.append(losses), lrms.append(float(lrm)), progs.append(progress), moms.append(mom)
        if step == 0:
            t.update(params_of(model, "step1."))
        step += 1
    check(any(m < 1 for m in lrms) and lrms[0] == 1, "the run crosses 80% progress")
    t.update(params_of(model, "final."))
    t.update(chat_data("data", convs))
    t.update(chat_data("data.val", val))
    t.update({"data.token_bytes": token_bytes,
              "batch.x": torch.stack(xs).to(torch.int64), "batch.y": torch.stack(ys),
              "out.val_steps": torch.tensor(val_steps, dtype=torch.int64)})
    t.update(doubles("out.", micro_loss=micro_losses, lrm=lrms, progress=progs, momentum=moms,
                     val_bpb=vals))
    # two ranks' generators: each takes conversations rank, rank+2, ...
    for r in range(2):
        g = mid_generators(convs, val, r, 2)["mid_data_generator"]("train")
        got = [(a, b.clone()) for a, b in (next(g) for _ in range(4))]
        t["w2.r%d.x" % r] = torch.stack([a for a, _ in got]).to(torch.int64)
        t["w2.r%d.y" % r] = torch.stack([b for _, b in got])
    md = metadata({"case": "mid_train's loop over one epoch, one process",
                   "grad_accum": MID_ACCUM, "steps": step, "eval_every": MID_EVAL_EVERY,
                   "eval_tokens": MID_EVAL_TOKENS, "init_lr_frac": 1.0,
                   "lr_schedule": "1 until progress 0.8, then linear to 0 (b8076dd); v1's ramp not used",
                   "functions": "mid_data_generator, get_muon_momentum executed from scripts/mid_train.py"},
                  CHAT_CFG, CHAT_B, CHAT_T)
    print(f"mid: {step} steps, {len(xs)} batches, val bpb {vals}")
    return t, md


SFT_CONVS, SFT_VAL_CONVS, SFT_EXAMPLES, SFT_EPOCHS = 23, 7, 4, 2
SFT_EVAL_EVERY, SFT_EVAL_STEPS = 3, 3


def sft_generators(rank, world, num_iterations):
    ns = dict(tokenizer=ChatTokenizer(), ddp_rank=rank, ddp_world_size=world, device="cpu",
              torch=torch, num_iterations=num_iterations)
    return script_functions("chat_sft.py", ("sft_data_generator", "get_lr_multiplier"), ns)


def sft_case():
    gen = torch.Generator().manual_seed(SEED_DATA + 4)
    convs, val = fake_conversations(gen, SFT_CONVS), fake_conversations(gen, SFT_VAL_CONVS)
    accum = SFT_EXAMPLES // (CHAT_B * 1)
    num_iterations = (len(convs) // SFT_EXAMPLES) * SFT_EPOCHS   # chat_sft.py:130
    ns = sft_generators(0, 1, num_iterations)
    model = build_model(torch.float32, CHAT_CFG)
    t = params_of(model, "param.")
    optimizers = chat_optimizers(model, 0.02)
    train_iter = iter(ns["sft_data_generator"](convs, batch_size=CHAT_B))
    # chat_sft.py:170-240, one process
    micro_losses, ntok, lrms, vals, val_steps = [], [], [], [], []
    for step in range(num_iterations):
        last_step = step == num_iterations - 1
        if last_step or step % SFT_EVAL_EVERY == 0:
            val_iter = iter(ns["sft_data_generator"](val, batch_size=CHAT_B))
            with torch.no_grad():
                losses = [model(*next(val_iter)) for _ in range(SFT_EVAL_STEPS)]
            vals.append(torch.stack(losses).mean().item())
            val_steps.append(step)
        if last_step:
            break
        losses, num_tokens = [], 0
        for k in range(accum):
            x, y = next(train_iter)
            t["batch.%d.%d.x" % (step, k)], t["batch.%d.%d.y" % (step, k)] = x, y
            loss = model(x, y)
            losses.append(loss.item())
            (loss / accum).backward()
            num_tokens += int((y >= 0).sum())
        lrm = ns["get_lr_multiplier"](step)
        set_lrs(optimizers, lrm)
        step_optimizers(optimizers, model)
        micro_losses.append(losses), ntok.append(num_tokens), lrms.append(lrm)
        if step == 0:
            t.update(params_of(model, "step1."))
    t.update(params_of(model, "final."))
    t.update(chat_data("data", convs))
    t.update(chat_data("data.val", val))
    t.update({"out.num_tokens": torch.tensor(ntok, dtype=torch.int64),
              "out.val_steps": torch.tensor(val_steps, dtype=torch.int64)})
    t.update(doubles("out.", micro_loss=micro_losses, lrm=lrms, val_loss=vals))
    for r in range(2):
        g = sft_generators(r, 2, num_iterations)["sft_data_generator"](convs, batch_size=CHAT_B)
        for k in range(8):
            t["w2.r%d.%d.x" % (r, k)], t["w2.r%d.%d.y" % (r, k)] = next(g)
    md = metadata({"case": "chat_sft's loop, two epochs, one process",
                   "grad_accum": accum, "num_iterations": num_iterations, "num_epochs": SFT_EPOCHS,
                   "target_examples_per_step": SFT_EXAMPLES, "eval_every": SFT_EVAL_EVERY,
                   "eval_steps": SFT_EVAL_STEPS, "init_lr_frac": 0.02, "pad": ASSISTANT_END,
                   "functions": "sft_data_generator, get_lr_multiplier executed from scripts/chat_sft.py"},
                  CHAT_CFG, CHAT_B, CHAT_T)
    print(f"sft: {num_iterations} iterations, val loss {vals}")
    return t, md


# ---- writing ----

def save(path, tensors, md):
    """Sorted names and metadata, so that reruns give identical bytes."""
    codes = {torch.float32: "F32", torch.float64: "F64", torch.int64: "I64"}
    header = {"__metadata__": dict(sorted(md.items()))}
    blobs, off = [], 0
    for name in sorted(tensors):
        v = tensors[name].detach().contiguous()
        check(v.dtype in codes, f"{name}: unsupported dtype {v.dtype}")
        b = v.numpy().astype(v.numpy().dtype.newbyteorder("<"), copy=False).tobytes()
        header[name] = {"dtype": codes[v.dtype], "shape": list(v.shape), "data_offsets": [off, off + len(b)]}
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
    check(sorted(back) == sorted(tensors) and all(torch.equal(back[k], tensors[k]) for k in tensors),
          "read-back " + path)
    print(f"wrote {path}: {len(tensors)} tensors, {os.path.getsize(path)} bytes")


def main():
    if args.out_train:
        save(args.out_train, *train_case())
    if args.out_bpb:
        save(args.out_bpb, *bpb_case())
    if args.out_dist:
        save(args.out_dist, *dist_case())
    if args.out_mid:
        save(args.out_mid, *mid_case())
    if args.out_sft:
        save(args.out_sft, *sft_case())


if __name__ == "__main__":
    main()

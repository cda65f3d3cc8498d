#!/usr/bin/env python3
"""Convert model checkpoints between nanochat (v1) and nc.

  nanochat-convert.py to-nc MODEL_PT META_JSON TOKENIZER OUT_DIR [--step N] [--stage S]
  nanochat-convert.py to-nanochat NC_DIR OUT_DIR [--step N] [--bf16-wte]
  nanochat-convert.py tokenizer TOKENIZER_PKL RANKFILE
  nanochat-convert.py tokenizer-pkl RANKFILE TOKENIZER_PKL [--pattern P]

Needs PyTorch and safetensors (tiktoken too for `tokenizer`). Not in the
project's .venv: PyTorch is a very large download.

to-nc
  Reads nanochat's model_NNNNNN.pt (a torch state_dict) and meta_NNNNNN.json
  and writes the nc checkpoint directory OUT_DIR: model.safetensors, every
  tensor float32 (nanochat keeps wte in bfloat16; that widens exactly), the
  configuration in its metadata (config.*: from meta's model_config, and
  nanochat v1's fixed rope_base 10000, softcap 15, norm_eps = float32's
  epsilon), step and stage; and a copy of TOKENIZER as OUT_DIR/tokenizer.
  torch.compile's "_orig_mod." prefix is stripped from the names. No
  optimizer state is written: the result is for evaluation, chat and
  fine-tuning, not for resuming a base run. The directory is written under a
  temporary name and renamed when complete; OUT_DIR must not exist.

  TOKENIZER is an nc tokenizer file. Make it from nanochat's tokenizer.pkl
  (a pickled tiktoken Encoding) in two steps:
      nanochat-convert.py tokenizer tokenizer.pkl ranks.tiktoken
      nc-bpe import -o tokenizer.nc ranks.tiktoken
  The first writes the Encoding's mergeable ranks as a tiktoken rank file
  (base64 token, space, rank; the format of tiktoken.load); `nc-bpe import`
  adds nanochat's split pattern and its nine special tokens by default.

to-nanochat
  Reads NC_DIR/model.safetensors and writes OUT_DIR/model_NNNNNN.pt (a
  state_dict in nanochat's order) and OUT_DIR/meta_NNNNNN.json (step and
  model_config), NNNNNN being the checkpoint's step unless --step is given.
  OUT_DIR may exist (a nanochat checkpoint directory holds many steps); the
  two files may not. By default every tensor stays float32, so nothing is
  rounded. nanochat v1 keeps wte in bfloat16; it loads a float32 wte too,
  but then its residual stream runs in float32 and its outputs differ
  slightly from a native run. --bf16-wte saves wte in bfloat16 as nanochat
  does: that rounds a wte nc trained, and is exact for one that came from
  nanochat (to-nc only widened it). The tokenizer is not converted.

tokenizer-pkl
  The other way: a tiktoken rank file (what `nc-bpe export` writes) becomes
  the tokenizer.pkl nanochat's get_tokenizer() loads, a pickled tiktoken
  Encoding made as nanochat's RustBPETokenizer makes it: the ranks, then
  nanochat's nine special tokens numbered from the number of ranks on (the
  ids nc gives them too), and nanochat's split pattern unless --pattern
  gives the tokenizer's own. With it, nanochat's chat_cli.py and
  chat_eval.py run nc's mid and sft checkpoints: put the pickle in
  $NANOCHAT_BASE_DIR/tokenizer/ and the output of to-nanochat in
  $NANOCHAT_BASE_DIR/mid_checkpoints/dN/ or chatsft_checkpoints/dN/.

Only nanochat v1's architecture is accepted: the state_dict must hold exactly
wte, per layer attn.c_q/c_k/c_v/c_proj and mlp.c_fc/c_proj, and lm_head, with
the shapes the configuration gives. Anything missing, misshapen or unknown
is refused with exit status 1.
"""
import argparse
import json
import os
import pickle
import shutil
import sys

MODEL_CONFIG_KEYS = ("sequence_len", "vocab_size", "n_layer", "n_head", "n_kv_head", "n_embd")
ROPE_BASE = 10000.0
SOFTCAP = 15.0
NORM_EPS = 2.0 ** -23  # float32's epsilon: F.rms_norm's default for float32
FORMAT = "nc-checkpoint 1"
COMPILE_PREFIX = "_orig_mod."


class Refusal(Exception):
    pass


def expected_shapes(cfg):
    """nanochat v1's state_dict names and shapes, in its order."""
    C, V = cfg["n_embd"], cfg["vocab_size"]
    if cfg["n_head"] < 1 or C % cfg["n_head"] or cfg["n_kv_head"] < 1 or cfg["n_head"] % cfg["n_kv_head"]:
        raise Refusal(f"impossible configuration {cfg}")
    kv = cfg["n_kv_head"] * (C // cfg["n_head"])
    shapes = {"transformer.wte.weight": (V, C)}
    for layer in range(cfg["n_layer"]):
        h = f"transformer.h.{layer}."
        shapes[h + "attn.c_q.weight"] = (C, C)
        shapes[h + "attn.c_k.weight"] = (kv, C)
        shapes[h + "attn.c_v.weight"] = (kv, C)
        shapes[h + "attn.c_proj.weight"] = (C, C)
        shapes[h + "mlp.c_fc.weight"] = (4 * C, C)
        shapes[h + "mlp.c_proj.weight"] = (C, 4 * C)
    shapes["lm_head.weight"] = (V, C)
    return shapes


def check_tensors(path, tensors, cfg):
    """Refuse (naming file and tensors) unless tensors match cfg exactly."""
    want = expected_shapes(cfg)
    problems = []
    missing = [n for n in want if n not in tensors]
    unknown = sorted(n for n in tensors if n not in want)
    if missing:
        problems.append("missing " + ", ".join(missing))
    if unknown:
        problems.append("unknown " + ", ".join(unknown))
    for name, shape in want.items():
        if name in tensors and tuple(tensors[name].shape) != shape:
            problems.append(f"{name} has shape {list(tensors[name].shape)}, expected {list(shape)}")
    if problems:
        raise Refusal(f"{path}: " + "; ".join(problems))
    return list(want)


def read_model_config(path, meta):
    cfg = meta.get("model_config")
    if not isinstance(cfg, dict):
        raise Refusal(f"{path}: no model_config")
    missing = [k for k in MODEL_CONFIG_KEYS if k not in cfg]
    unknown = sorted(k for k in cfg if k not in MODEL_CONFIG_KEYS)
    if missing:
        raise Refusal(f"{path}: model_config lacks " + ", ".join(missing))
    if unknown:
        raise Refusal(f"{path}: model_config has keys nanochat v1 does not: " + ", ".join(unknown))
    for k in MODEL_CONFIG_KEYS:
        if not isinstance(cfg[k], int) or isinstance(cfg[k], bool) or cfg[k] < 1:
            raise Refusal(f"{path}: model_config {k} is {cfg[k]!r}, not a positive integer")
    return {k: cfg[k] for k in MODEL_CONFIG_KEYS}


def fmt(x):
    # the way nc writes its metadata numbers (C's %.9g)
    return "%.9g" % x


def fsync_path(path):
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def to_nc(args):
    import torch
    from safetensors.torch import save_file

    try:
        with open(args.meta) as f:
            meta = json.load(f)
    except ValueError as e:
        raise Refusal(f"{args.meta}: not JSON ({e})")
    cfg = read_model_config(args.meta, meta)
    try:
        state = torch.load(args.model, map_location="cpu", weights_only=True)
    except (RuntimeError, pickle.UnpicklingError) as e:
        raise Refusal(f"{args.model}: cannot load ({e})")
    if not isinstance(state, dict):
        raise Refusal(f"{args.model}: not a state_dict")
    tensors = {}
    for name, t in state.items():
        if name.startswith(COMPILE_PREFIX):
            name = name[len(COMPILE_PREFIX):]
        if not torch.is_tensor(t):
            raise Refusal(f"{args.model}: {name} is not a tensor")
        tensors[name] = t
    names = check_tensors(args.model, tensors, cfg)
    for name in names:
        if not tensors[name].is_floating_point():
            raise Refusal(f"{args.model}: {name} is {tensors[name].dtype}, not floating point")
    out = {n: tensors[n].to(torch.float32).contiguous() for n in names}

    step = args.step if args.step is not None else meta.get("step", 0)
    stage = args.stage or meta.get("stage", "base")
    md = {"config." + k: str(cfg[k]) for k in MODEL_CONFIG_KEYS}
    md.update({"config.rope_base": fmt(ROPE_BASE), "config.softcap": fmt(SOFTCAP),
               "config.norm_eps": fmt(NORM_EPS), "format": FORMAT,
               "stage": str(stage), "step": str(int(step))})

    if os.path.lexists(args.out_dir):
        raise Refusal(f"{args.out_dir}: already exists")
    tmp = f"{args.out_dir.rstrip('/')}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    os.mkdir(tmp)
    try:
        save_file(out, os.path.join(tmp, "model.safetensors"), metadata=md)
        shutil.copyfile(args.tokenizer, os.path.join(tmp, "tokenizer"))
        for f in ("model.safetensors", "tokenizer"):
            fsync_path(os.path.join(tmp, f))
        os.rename(tmp, args.out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    fsync_path(os.path.dirname(os.path.abspath(args.out_dir)))
    print(f"wrote {args.out_dir}: {len(names)} tensors, step {md['step']}, stage {md['stage']}",
          file=sys.stderr)


def to_nanochat(args):
    import torch
    from safetensors import safe_open

    path = os.path.join(args.nc_dir, "model.safetensors")
    if not os.path.exists(path):
        raise Refusal(f"{path}: no such file")
    with safe_open(path, framework="pt") as f:
        md = f.metadata() or {}
        tensors = {n: f.get_tensor(n) for n in f.keys()}
    if md.get("format") != FORMAT:
        raise Refusal(f"{path}: format is {md.get('format')!r}, expected {FORMAT!r}")
    cfg = {}
    for k in MODEL_CONFIG_KEYS:
        v = md.get("config." + k)
        if v is None or not v.isdigit():
            raise Refusal(f"{path}: config.{k} is {v!r}")
        cfg[k] = int(v)
    # nanochat v1 hard-codes these; a checkpoint with others would run differently there
    for k, want in (("rope_base", ROPE_BASE), ("softcap", SOFTCAP), ("norm_eps", NORM_EPS)):
        v = md.get("config." + k)
        try:
            same = v is not None and abs(float(v) - want) <= 1e-6 * abs(want)
        except ValueError:
            same = False
        if not same:
            raise Refusal(f"{path}: config.{k} is {v!r}; nanochat v1 always uses {fmt(want)}")
    names = check_tensors(path, tensors, cfg)
    for n in names:
        if tensors[n].dtype != torch.float32:
            raise Refusal(f"{path}: {n} is {tensors[n].dtype}, expected float32")
    state = {n: tensors[n].contiguous() for n in names}
    if args.bf16_wte:
        state["transformer.wte.weight"] = state["transformer.wte.weight"].to(torch.bfloat16)

    step = args.step if args.step is not None else int(md.get("step", "0"))
    meta = {"step": step, "model_config": cfg}
    os.makedirs(args.out_dir, exist_ok=True)
    model_path = os.path.join(args.out_dir, f"model_{step:06d}.pt")
    meta_path = os.path.join(args.out_dir, f"meta_{step:06d}.json")
    for p in (model_path, meta_path):
        if os.path.lexists(p):
            raise Refusal(f"{p}: already exists")
    tmp_model, tmp_meta = model_path + f".tmp-{os.getpid()}", meta_path + f".tmp-{os.getpid()}"
    try:
        torch.save(state, tmp_model)
        with open(tmp_meta, "w") as f:
            json.dump(meta, f, indent=2)
        for p in (tmp_model, tmp_meta):
            fsync_path(p)
        os.rename(tmp_model, model_path)
        os.rename(tmp_meta, meta_path)
    except BaseException:
        for p in (tmp_model, tmp_meta):
            if os.path.exists(p):
                os.unlink(p)
        raise
    print(f"wrote {model_path} and {meta_path}: {len(names)} tensors", file=sys.stderr)


def tokenizer(args):
    import base64

    with open(args.pkl, "rb") as f:
        enc = pickle.load(f)  # needs tiktoken installed
    # tiktoken keeps the ranks in the attribute its own pickling uses
    ranks = getattr(enc, "_mergeable_ranks", None)
    if not isinstance(ranks, dict):
        raise Refusal(f"{args.pkl}: not a tiktoken Encoding")
    tmp = f"{args.rankfile}.tmp-{os.getpid()}"
    with open(tmp, "wb") as f:
        for token, rank in sorted(ranks.items(), key=lambda kv: kv[1]):
            f.write(base64.b64encode(token) + b" " + str(rank).encode() + b"\n")
    os.rename(tmp, args.rankfile)
    specials = sorted(enc._special_tokens.items(), key=lambda kv: kv[1])
    print(f"wrote {args.rankfile}: {len(ranks)} ranks; the pickle's {len(specials)} special tokens "
          f"({', '.join(n for n, _ in specials)}) are not in it.\n"
          f"next: nc-bpe import -o TOKENIZER {args.rankfile}", file=sys.stderr)


# nanochat v1's split pattern and special tokens (nanochat/tokenizer.py)
NANOCHAT_PATTERN = (r"'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}+|\p{N}{1,2}| ?[^\s\p{L}\p{N}]++[\r\n]*"
                    r"|\s*[\r\n]|\s+(?!\S)|\s+")
NANOCHAT_SPECIALS = ("<|bos|>", "<|user_start|>", "<|user_end|>", "<|assistant_start|>",
                     "<|assistant_end|>", "<|python_start|>", "<|python_end|>", "<|output_start|>",
                     "<|output_end|>")


def tokenizer_pkl(args):
    import base64
    import binascii

    import tiktoken

    ranks = {}
    with open(args.rankfile, "rb") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            parts = line.split()
            try:
                if len(parts) != 2:
                    raise ValueError
                token, rank = base64.b64decode(parts[0], validate=True), int(parts[1])
            except (ValueError, binascii.Error):
                raise Refusal(f"{args.rankfile}:{lineno}: not 'BASE64 RANK'")
            if rank != len(ranks) or token in ranks:
                raise Refusal(f"{args.rankfile}:{lineno}: rank {rank} out of order or token repeated")
            ranks[token] = rank
    if len(ranks) < 256:
        raise Refusal(f"{args.rankfile}: {len(ranks)} ranks, fewer than the 256 single bytes")
    specials = {name: len(ranks) + i for i, name in enumerate(NANOCHAT_SPECIALS)}
    enc = tiktoken.Encoding(name="rustbpe", pat_str=args.pattern or NANOCHAT_PATTERN,
                            mergeable_ranks=ranks, special_tokens=specials)
    if os.path.lexists(args.pkl):
        raise Refusal(f"{args.pkl}: already exists")
    tmp = f"{args.pkl}.tmp-{os.getpid()}"
    try:
        with open(tmp, "wb") as f:
            pickle.dump(enc, f)
        fsync_path(tmp)
        os.rename(tmp, args.pkl)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    print(f"wrote {args.pkl}: {len(ranks)} ranks and {len(specials)} special tokens, "
          f"vocabulary {len(ranks) + len(specials)}", file=sys.stderr)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                epilog=__doc__.split("\n\n", 2)[2],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    a = sub.add_parser("to-nc", help="nanochat checkpoint -> nc checkpoint directory")
    a.add_argument("model", metavar="MODEL_PT")
    a.add_argument("meta", metavar="META_JSON")
    a.add_argument("tokenizer", metavar="TOKENIZER", help="an nc tokenizer file (see below)")
    a.add_argument("out_dir", metavar="OUT_DIR")
    a.add_argument("--step", type=int, help="the step to record (default: meta's step, else 0)")
    a.add_argument("--stage", help="the stage to record (default: meta's stage, else base)")
    a.set_defaults(run=to_nc)
    b = sub.add_parser("to-nanochat", help="nc checkpoint directory -> nanochat checkpoint")
    b.add_argument("nc_dir", metavar="NC_DIR")
    b.add_argument("out_dir", metavar="OUT_DIR")
    b.add_argument("--step", type=int, help="the step in the file names (default: the checkpoint's)")
    b.add_argument("--bf16-wte", action="store_true",
                   help="save wte in bfloat16 as nanochat v1 does (rounds it)")
    b.set_defaults(run=to_nanochat)
    c = sub.add_parser("tokenizer", help="nanochat tokenizer.pkl -> tiktoken rank file")
    c.add_argument("pkl", metavar="TOKENIZER_PKL")
    c.add_argument("rankfile", metavar="RANKFILE")
    c.set_defaults(run=tokenizer)
    d = sub.add_parser("tokenizer-pkl", help="tiktoken rank file (nc-bpe export) -> nanochat tokenizer.pkl")
    d.add_argument("rankfile", metavar="RANKFILE")
    d.add_argument("pkl", metavar="TOKENIZER_PKL")
    d.add_argument("--pattern", help="the split pattern (default: nanochat's)")
    d.set_defaults(run=tokenizer_pkl)
    args = p.parse_args()
    try:
        args.run(args)
    except (Refusal, OSError) as e:
        print(f"nanochat-convert: {e}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()

"""What sh/bench/nanochat_sample.py and sh/bench/nanochat_cpu_step.py share:
nanochat's GPT, imported from a checkout named on the command line and run in
float32 on the CPU.

nanochat is not vendored: the scripts' --nanochat DIR names a directory
holding a nanochat checkout's `nanochat/` package (v1, e.g. `git archive
3a5e0bc` of karpathy/nanochat). A script calls start(DIR) before it imports
torch or nanochat (so this module imports them only inside its functions):

  * start re-executes the script under `python -O`, which skips GPT.forward's
    assert that the rotary tables are bf16 (the same route as
    tests/oracle/nanochat_ref.py); nothing else depends on asserts;
  * torch.compile is off (TORCHDYNAMO_DISABLE=1), and RANK, LOCAL_RANK and
    WORLD_SIZE are dropped, so nanochat sees one process;
  * DIR goes first on sys.path (the script stops when it has no nanochat/).

empty_gpt(cfg) is GPT(GPTConfig(**cfg)) built as base_train builds it: on the
meta device, then made real, uninitialised, on the CPU (to_empty). to_fp32
then makes it float32 throughout:

  * model.float(): wte, which GPT.__init__ casts to bf16, back to fp32;
  * the rotary tables are built by nanochat's _precompute_rotary_embeddings
    with its final .bfloat16() made a no-op (bf16_cast_disabled), so they are
    fp32, as nc's are;
  * every parameter is checked to be fp32.

fail(msg) stops the script with msg, prefixed by the script's name.
"""

import os
import sys


def fail(msg):
    name = os.path.splitext(os.path.basename(sys.argv[0]))[0]
    raise SystemExit("%s: %s" % (name, msg))


def start(nanochat_dir):
    """Before torch and nanochat are imported: see the module docstring."""
    if not sys.flags.optimize:
        # skip GPT.forward's `assert self.cos.dtype == torch.bfloat16`
        os.execv(sys.executable, [sys.executable, "-O"] + sys.argv)
    os.environ["TORCHDYNAMO_DISABLE"] = "1"
    for k in ("RANK", "LOCAL_RANK", "WORLD_SIZE"):
        os.environ.pop(k, None)
    if not os.path.isdir(os.path.join(nanochat_dir, "nanochat")):
        fail("no nanochat/ package under " + nanochat_dir)
    sys.path.insert(0, os.path.abspath(nanochat_dir))


# shared with the test oracle (tests/oracle/torch_fp32.py)
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests", "oracle"))
from torch_fp32 import bf16_cast_disabled  # noqa: E402,F401


def empty_gpt(cfg):
    """nanochat's GPT for the config dict cfg, on the CPU, uninitialised."""
    import torch
    from nanochat.gpt import GPT, GPTConfig

    with torch.device("meta"):
        model = GPT(GPTConfig(**cfg))
    model.to_empty(device="cpu")
    return model


def to_fp32(model):
    """model in float32, parameters, buffers and rotary tables; returns it."""
    import torch

    model.float()
    head_dim = model.config.n_embd // model.config.n_head
    with bf16_cast_disabled():
        cos, sin = model._precompute_rotary_embeddings(model.rotary_seq_len, head_dim)
    if cos.dtype != torch.float32:
        fail("rotary tables are not fp32")
    model.cos, model.sin = cos, sin
    for n, p in model.named_parameters():
        if p.dtype != torch.float32:
            fail(n + " is not fp32")
    return model

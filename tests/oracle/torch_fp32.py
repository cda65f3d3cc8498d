"""Running nanochat's v1 code in float32: its rotary tables end in
.bfloat16(), which this context manager makes a no-op while they are built.
Shared by tests/oracle/nanochat_ref.py and the benchmarks in sh/bench/."""

import contextlib


@contextlib.contextmanager
def bf16_cast_disabled():
    """Make Tensor.bfloat16() the identity while nanochat code runs."""
    import torch

    had = "bfloat16" in torch.Tensor.__dict__
    old = torch.Tensor.__dict__.get("bfloat16")
    torch.Tensor.bfloat16 = lambda self, *a, **k: self
    try:
        yield
    finally:
        if had:
            torch.Tensor.bfloat16 = old
        else:
            del torch.Tensor.bfloat16

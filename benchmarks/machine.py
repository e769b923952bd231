"""The benchmarks' shared parts: this machine's speed now, and the end of a run (speed again, JSON)."""

from __future__ import annotations

import json
import time

import torch


def matmul_gflops(dtype: torch.dtype = torch.float32, repeats: int = 100) -> float:
    """This machine's speed right now: GFLOP/s of one MLP-sized product of the embedded model (1,184 x 576 x 1,536).

    A shared host's speed drifts; timings are comparable only alongside this number.
    """
    x, w = torch.randn(1184, 576, dtype=dtype), torch.randn(1536, 576, dtype=dtype)
    for _ in range(5):
        torch.nn.functional.linear(x, w)
    start = time.perf_counter()
    for _ in range(repeats):
        torch.nn.functional.linear(x, w)
    return 2 * 1184 * 576 * 1536 * repeats / (time.perf_counter() - start) / 1e9


def finish(
    result: dict,
    speed_before: float,
    json_path: str | None,
    dtype: torch.dtype = torch.float32,
) -> None:
    """Measure the machine again, print it, store both speeds in ``result`` and write it to ``json_path``."""
    result["matmul_gflops_before_after"] = [speed_before, matmul_gflops(dtype)]
    print(
        f"machine speed at the end: {result['matmul_gflops_before_after'][1]:.0f} GFLOP/s"
    )
    if json_path:
        with open(json_path, "w") as f:
            json.dump(result, f, indent=1)


def pass_flops(
    config, prefix_len: int, suffix_lens: list[int], logit_positions: int = 1
) -> dict[str, float]:
    """FLOPs of one scoring pass from a decoder's config and token counts: the prefix encoded once, then every
    suffix attending to the prefix and causally to itself, logits at ``logit_positions`` per suffix.

    ``linear``: 2 x (q, k, v, o and MLP weights per layer) per token, plus the output head at the logit positions;
    ``attention``: 2 x 2 x heads x head_dim per query-key pair (scores and the weighted sum), causal.
    """
    hidden, layers = config.hidden_size, config.num_hidden_layers
    heads = config.num_attention_heads
    kv_heads = getattr(config, "num_key_value_heads", None) or heads
    head_dim = getattr(config, "head_dim", None) or hidden // heads
    per_layer = (
        hidden * heads * head_dim * 2
        + hidden * kv_heads * head_dim * 2
        + 3 * hidden * config.intermediate_size
    )
    tokens = prefix_len + sum(suffix_lens)
    linear = (
        2.0 * layers * per_layer * tokens
        + 2.0 * hidden * config.vocab_size * logit_positions * len(suffix_lens)
    )
    pairs = prefix_len * (prefix_len + 1) / 2 + sum(
        s * prefix_len + s * (s + 1) / 2 for s in suffix_lens
    )
    attention = 4.0 * layers * heads * head_dim * pairs
    return {"linear": linear, "attention": attention, "total": linear + attention}

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


def finish(result: dict, speed_before: float, json_path: str | None, dtype: torch.dtype = torch.float32) -> None:
    """Measure the machine again, print it, store both speeds in ``result`` and write it to ``json_path``."""
    result["matmul_gflops_before_after"] = [speed_before, matmul_gflops(dtype)]
    print(f"machine speed at the end: {result['matmul_gflops_before_after'][1]:.0f} GFLOP/s")
    if json_path:
        with open(json_path, "w") as f:
            json.dump(result, f, indent=1)

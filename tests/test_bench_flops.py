"""The benchmark's FLOP count of a scoring pass (benchmarks/machine.py: pass_flops), on a hand-computed case."""

from __future__ import annotations

import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
from machine import pass_flops  # noqa: E402


def test_a_tiny_decoder_by_hand():
    config = SimpleNamespace(
        hidden_size=4,
        num_hidden_layers=1,
        num_attention_heads=2,
        num_key_value_heads=1,
        head_dim=2,
        intermediate_size=8,
        vocab_size=10,
    )
    flops = pass_flops(config, prefix_len=2, suffix_lens=[1, 2])
    # weights per layer: q and o 4 x 4 each, k and v 4 x 2 each, MLP 3 x 4 x 8 = 144; 5 tokens; the head at 2 positions
    assert flops["linear"] == 2 * 144 * 5 + 2 * 4 * 10 * 2
    # query-key pairs: the prefix 1 + 2, suffix one 2 + 1, suffix two 2 x 2 + 1 + 2; 4 x heads x head_dim each
    assert flops["attention"] == 4 * 2 * 2 * (3 + 3 + 7)
    assert flops["total"] == flops["linear"] + flops["attention"]


def test_the_embedded_models_pass_matches_the_measured_token_counts():
    """SmolLM2-135M, 1,407 prefix tokens and 13,312 suffix tokens over 180 items: about 3.1 TFLOP in the linear
    layers and 1.4 in attention (the figures issue 21 gives for subject 0's pass)."""
    config = SimpleNamespace(
        hidden_size=576,
        num_hidden_layers=30,
        num_attention_heads=9,
        num_key_value_heads=3,
        head_dim=64,
        intermediate_size=1536,
        vocab_size=49152,
    )
    suffixes = [74] * 172 + [73] * 8  # 13,312 tokens in 180 suffixes
    flops = pass_flops(config, 1407, suffixes)
    assert sum(suffixes) == 13312
    assert flops["linear"] / 1e12 == pytest.approx(3.1, abs=0.05)
    assert flops["attention"] / 1e12 == pytest.approx(1.4, abs=0.05)

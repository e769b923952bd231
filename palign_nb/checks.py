"""Checks for the chapters' exercises: each runs a reader's function on small cases and says ✓.

A check raises ``AssertionError`` with a hint when the function disagrees with the reference, so
a wrong answer stops the notebook right at the exercise.

Introduced in :doc:`/notebooks/01_inventories`.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


def _alpha_reference(scores: np.ndarray) -> float:
    scores = np.asarray(scores, dtype=float)
    k = scores.shape[1]
    return float(k / (k - 1) * (1 - scores.var(axis=0, ddof=1).sum() / scores.sum(axis=1).var(ddof=1)))


def check_cronbach_alpha(fn: Callable[[np.ndarray], float]) -> None:
    """Check ``fn(scores) -> alpha`` for ``scores``: (n_respondents, n_items), no missing values.

    Introduced in :doc:`/notebooks/01_inventories`.
    """
    rng = np.random.default_rng(0)
    latent = rng.normal(size=(200, 1))
    cases = {
        "six consistent items": np.clip(np.round(3 + latent + rng.normal(scale=0.8, size=(200, 6))), 1, 5),
        "pure noise": rng.integers(1, 6, size=(150, 4)).astype(float),
        "two identical items": np.repeat(rng.integers(1, 6, size=(50, 1)), 2, axis=1).astype(float),
    }
    for name, scores in cases.items():
        got, want = float(fn(scores)), _alpha_reference(scores)
        assert np.isclose(got, want, atol=1e-9), (
            f"{name}: got alpha={got:.4f}, expected {want:.4f}. Use sample variances (ddof=1) of each item "
            "and of the per-respondent total, and the factor k/(k-1)."
        )
    print("✓ check_cronbach_alpha passed")


def _trait_mae_reference(predicted: np.ndarray, target: np.ndarray, variant: str) -> float:
    predicted, target = np.asarray(predicted, dtype=float), np.asarray(target, dtype=float)
    keep = ~np.isnan(predicted)
    if variant == "corrected":
        keep &= target > 0
    return float(np.abs(predicted[keep] - target[keep]).mean()) if keep.any() else float("nan")


def check_trait_mae(fn: Callable[[np.ndarray, np.ndarray, str], float]) -> None:
    """Check ``fn(predicted, target, variant) -> Score_t(s)`` for one subject and one trait.

    ``predicted``: (n_items,) answers 1..5, NaN where unparsed; ``target``: (n_items,) stored
    answers 1..5, 0 where missing; ``variant``: ``"faithful"`` or ``"corrected"``.

    Introduced in :doc:`/notebooks/02_dataset_splits`.
    """
    rng = np.random.default_rng(1)
    cases = [(np.array([4.0, 3.0, np.nan, 4.0]), np.array([5, 0, 2, 4]))]
    for _ in range(20):
        pred = rng.integers(1, 6, size=12).astype(float)
        pred[rng.random(12) < 0.2] = np.nan
        target = rng.integers(1, 6, size=12)
        target[rng.random(12) < 0.2] = 0
        cases.append((pred, target))
    for pred, target in cases:
        for variant in ("faithful", "corrected"):
            got, want = float(fn(pred.copy(), target.copy(), variant)), _trait_mae_reference(pred, target, variant)
            assert np.isclose(got, want, equal_nan=True), (
                f"{variant}: predicted={pred.tolist()}, target={target.tolist()} -> got {got:.4f}, expected {want:.4f}. "
                "Drop unparsed predictions (NaN) in both variants; drop missing targets (0) only in 'corrected'."
            )
    print("✓ check_trait_mae passed")

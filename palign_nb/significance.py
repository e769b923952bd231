"""Whether a paired difference between two methods is significant, and the verdict on a claim.

:func:`sign_flip_test` is the paired permutation test of :func:`palign_nb.results.paired_comparison`;
:func:`claim_verdict` turns a difference and its p into chapter 09's verdict on "PAS beats X".

Introduced in :doc:`/notebooks/09_results`.
"""

from __future__ import annotations

import numpy as np

from .errors import PalignError


def sign_flip_test(
    differences: np.ndarray, n_draws: int = 20000, seed: int = 0
) -> float:
    """Two-sided paired permutation test of mean(differences) = 0: the p-value.

    Each difference's sign is flipped at random under the null hypothesis. Exact (all 2^n sign
    patterns) for n <= 16, otherwise ``n_draws`` seeded random patterns. With n pairs the smallest
    possible p is 2 / 2^n (n = 2: 0.5), so a small run cannot reject anything.
    """
    d = np.asarray(differences, dtype=float)
    d = d[~np.isnan(d)]
    if len(d) == 0:
        raise PalignError("No paired differences to test.")
    observed = abs(d.mean())
    if len(d) <= 16:
        signs = 1 - 2 * ((np.arange(2 ** len(d))[:, None] >> np.arange(len(d))) & 1)
    else:
        signs = np.random.default_rng(seed).choice([-1, 1], size=(n_draws, len(d)))
    return float((np.abs((signs * d).mean(axis=1)) >= observed - 1e-12).mean())


#: The verdict of a claim whose PAS side answers (almost) one letter: its lower error is not knowledge of the person.
DEGENERATE_VERDICT = "degenerate (answers one letter)"


def claim_verdict(
    difference: float, p: float, degenerate: bool = False, level: float = 0.05
) -> str:
    """The verdict on "PAS beats X" from the paired mean difference (X's composite minus PAS's) and its p.

    ``not measured`` (NaN), ``does not reproduce`` (PAS not better), :data:`DEGENERATE_VERDICT` (PAS better but
    ``degenerate``: a one-letter answer sheet that happens to lie closer; a PAS that is not better does not
    reproduce the claim whatever its letters), ``reproduces`` (p < ``level``) or ``same direction, not significant``.
    """
    if np.isnan(difference):
        return "not measured"
    if difference <= 0:
        return "does not reproduce"
    if degenerate:
        return DEGENERATE_VERDICT
    return "reproduces" if p < level else "same direction, not significant"

"""Two precisions on the same subject and items: what bfloat16 changes against float32.

``dtype="auto"`` computes in bfloat16 on a GPU and on a CPU with native bfloat16 units (see
:func:`palign_nb.models.choose_dtype`). bfloat16 keeps 8 bits of mantissa, so option probabilities
move by up to a few hundredths and nearly tied options can swap. Chapter 03 scores one subject both
ways and reports the agreement with :func:`compare_precisions`.

Introduced in :doc:`/notebooks/03_asking_the_model`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from . import metrics
from .errors import PalignError
from .inventories import Inventory
from .readouts import PROB_COLUMNS

# Largest difference in an option probability between the cached-prefix scorer and a plain forward
# pass that chapter 03 accepts, per precision: the same sums in a different order round differently.
SHORTCUT_TOLERANCE = {torch.float32: 1e-3, torch.bfloat16: 0.05, torch.float16: 0.01}


def dtype_name(dtype: torch.dtype) -> str:
    """``torch.bfloat16`` -> ``"bfloat16"``."""
    return str(dtype).removeprefix("torch.")


def other_dtype(dtype: torch.dtype) -> str:
    """The precision to compare a run in ``dtype`` with: float32 for a half-precision run, else bfloat16."""
    return "bfloat16" if dtype == torch.float32 else "float32"


def compare_precisions(
    full: pd.DataFrame,
    half: pd.DataFrame,
    subject,
    answers: pd.DataFrame,
    inventory: Inventory,
    keying: str,
) -> dict[str, float]:
    """Agreement of two :func:`palign_nb.scoring.score_options` tables of the same items: ``full`` scored in
    float32, ``half`` in bfloat16 (or float16).

    Returns the items, the share of items whose argmax answer agrees, the largest and mean absolute
    difference of an option probability, and ``subject``'s composite error (faithful variant, ``keying``)
    in each precision with their difference (half - full).
    """
    if not full.index.equals(half.index):
        raise PalignError(
            "compare_precisions: the two tables must score the same items in the same order."
        )
    delta = np.abs(
        full[PROB_COLUMNS].to_numpy(dtype=float)
        - half[PROB_COLUMNS].to_numpy(dtype=float)
    )
    composite = [
        float(
            metrics.alignment_score(
                metrics.add_targets(
                    metrics.subject_predictions(subject, table, answers, inventory),
                    inventory,
                    keying,
                ),
                "faithful",
            )["composite"]
        )
        for table in (full, half)
    ]
    return {
        "items": len(full),
        "agreement": float((full["predicted"] == half["predicted"]).mean()),
        "max_abs_dp": float(delta.max()),
        "mean_abs_dp": float(delta.mean()),
        "composite_full": composite[0],
        "composite_half": composite[1],
        "composite_difference": composite[1] - composite[0],
    }


def precision_finding(comparison: dict[str, float], half: str = "bfloat16") -> str:
    """One sentence on what ``half`` changed against float32, from :func:`compare_precisions`'s numbers."""
    agreement, items = comparison["agreement"], int(comparison["items"])
    same = "every one" if agreement == 1 else f"{agreement:.0%}"
    moved = comparison["composite_difference"]
    effect = (
        "left the subject's composite error unchanged"
        if abs(moved) < 5e-3
        else f"moved the subject's composite error by {moved:+.2f} (float32 "
        f"{comparison['composite_full']:.2f}, {half} {comparison['composite_half']:.2f})"
    )
    return (
        f"on {items} items float32 and {half} gave the same answer on {same} of "
        f"them, their option probabilities differed by at most {comparison['max_abs_dp']:.3f} "
        f"(mean {comparison['mean_abs_dp']:.4f}), and the switch {effect}"
    )

"""What aligning one subject costs each method, and how PAS's error falls with the known answers it is shown (chapter 09)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from .comparison import (
    Comparison,
    label,
)
from .findings import (
    TIE,
    Sentence,
    share_word,
    trend,
)
from .paper_numbers import PAPER_TIME_FRACTION
from .results import alignment_seconds, per_subject_composite


def cost_table(
    pas_timings: pd.DataFrame, preference_timings: pd.DataFrame, keying: str
) -> pd.DataFrame:
    """Seconds per subject to align with PAS (chapter 05 under ``keying``), DPO and the RL baseline (chapter 07,
    trained under one keying), PAS's fraction of each and the paper's, by key."""
    trained = str(preference_timings["keying"].iloc[0])
    seconds = {
        "pas_icl": alignment_seconds(pas_timings, "pas_icl", keying),
        "dpo": alignment_seconds(preference_timings, "dpo", trained),
        "grpo": alignment_seconds(preference_timings, "grpo", trained),
    }
    cost = pd.DataFrame({"alignment s per subject": seconds})
    cost["PAS's fraction"] = (
        cost.loc["pas_icl", "alignment s per subject"] / cost["alignment s per subject"]
    )
    cost["paper's fraction"] = [
        np.nan,
        PAPER_TIME_FRACTION["dpo"],
        PAPER_TIME_FRACTION["grpo"],
    ]
    return cost


def cost_findings(
    cost: pd.DataFrame,
    pas_timings: pd.DataFrame,
    keying: str,
    capture_s: float | None,
    training: dict[str, Any],
    paper_training: dict[str, Any],
) -> dict[str, Any]:
    """Section 9.5: PAS's time against the preference baselines', what its alignment time is made of, and
    what DPO would cost at the paper's steps and batch (``training``: chapter 07's ``dpo_steps``,
    ``grpo_steps`` and ``dpo_batch_size``; ``paper_training``: the paper's ``steps`` and ``batch_size``)."""
    align = cost["alignment s per subject"]
    dpo_steps, grpo_steps = int(training["dpo_steps"]), int(training["grpo_steps"])
    paper_steps, paper_batch = (
        int(paper_training["steps"]),
        int(paper_training["batch_size"]),
    )
    dpo_paper_s = (
        align["dpo"]
        / (dpo_steps * int(training["dpo_batch_size"]))
        * paper_steps
        * paper_batch
    )
    pas_rows = pas_timings[
        (pas_timings.method == "pas_icl") & (pas_timings.keying == keying)
    ]
    stages = (
        pas_rows[pas_rows.stage.isin(["probe_fit", "alpha_search"])]
        .groupby("stage")["seconds"]
        .sum()
    )
    alpha_share = float(stages.get("alpha_search", 0.0) / stages.sum())
    if dpo_steps < paper_steps:
        steps_text = (
            f"Our preference baselines train for only {dpo_steps} (DPO) and {grpo_steps} (RL) steps; at the "
            f"paper's {paper_steps} steps of {paper_batch} pairs, DPO would take about "
            f"{dpo_paper_s / 60:.0f} min per subject here (extrapolated from the measured time per pair, "
            f"start-up costs included, so an upper bound), which puts PAS at "
            f"{align['pas_icl'] / dpo_paper_s:.3f} of it"
        )
    else:
        steps_text = (
            f"Our preference baselines train for {dpo_steps} (DPO) and {grpo_steps} (RL) steps, DPO at "
            f"least the paper's {paper_steps}, so the fractions above are measured at the paper's scale"
        )
    return {
        "c09_pas_align_s": float(align["pas_icl"]),
        "c09_dpo_train_s": float(align["dpo"]),
        "c09_grpo_train_s": float(align["grpo"]),
        "c09_frac_dpo": float(cost.loc["dpo", "PAS's fraction"]),
        "c09_frac_grpo": float(cost.loc["grpo", "PAS's fraction"]),
        "c09_capture_s": float(capture_s) if capture_s is not None else float("nan"),
        "c09_paper_dpo_steps": paper_steps,
        "c09_paper_dpo_batch": paper_batch,
        "c09_paper_frac_dpo": PAPER_TIME_FRACTION["dpo"],
        "c09_paper_frac_grpo": PAPER_TIME_FRACTION["grpo"],
        "c09_dpo_steps": dpo_steps,
        "c09_grpo_steps": grpo_steps,
        "c09_dpo_paper_min": float(dpo_paper_s / 60),
        "c09_frac_dpo_paper_scale": float(align["pas_icl"] / dpo_paper_s),
        "c09_alpha_share": alpha_share,
        "c09_alpha_share_finding": Sentence(
            f"In this run the α search took {share_word(alpha_share)} of PAS's alignment time ({alpha_share:.0%}); "
            "it is forward passes over the validation items for every α value, so it grows with their number, "
            "not with training steps"
        ),
        "c09_steps_finding": Sentence(steps_text),
    }


def efficiency_curve(eff: pd.DataFrame, comp: Comparison) -> tuple[pd.DataFrame, str]:
    """Chapter 05's data-efficiency predictions as a curve (method label, known items, mean composite over its
    subjects, subjects), under the comparison's keying where chapter 05 ran it (else its own), and that keying."""
    keying = (
        comp.keying
        if (eff["keying"] == comp.keying).any()
        else str(eff["keying"].iloc[0])
    )
    rows = []
    for (method, n_known), part in eff[eff["keying"] == keying].groupby(
        ["method", "n_known"]
    ):
        per_subject = per_subject_composite(part, comp.inventory, keying)
        rows.append(
            {
                "method": label(method),
                "known items": int(n_known),
                "composite": float(per_subject.mean()),
                "subjects": len(per_subject),
            }
        )
    return pd.DataFrame(rows), keying


def _curve_reading(name: str, first: float, last: float) -> str:
    """What the two ends of a curve say, judged by their numbers."""
    text = trend(name, first, last)
    if abs(last - first) <= TIE:
        return (
            text
            + " (a flat curve: it does not use the extra answers here, which is not the same as needing few)"
        )
    return text + (
        " (it gains from the extra answers in this run)"
        if last < first
        else " (the extra answers did not help it in this run)"
    )


def efficiency_findings(curve: pd.DataFrame, keying: str) -> dict[str, Any]:
    """Section 9.6: the ends of the curves of PAS with the prompt and of few-shot."""
    by_method = curve.pivot(index="known items", columns="method", values="composite")
    pas, icl = by_method[label("pas_icl")], by_method[label("icl")]
    return {
        "c09_eff_keying": keying,
        "c09_eff_min_known": int(by_method.index.min()),
        "c09_eff_max_known": int(by_method.index.max()),
        "c09_eff_subjects": int(curve["subjects"].max()),
        "c09_eff_pas_first": float(pas.iloc[0]),
        "c09_eff_pas_last": float(pas.iloc[-1]),
        "c09_eff_icl_first": float(icl.iloc[0]),
        "c09_eff_icl_last": float(icl.iloc[-1]),
        "c09_eff_finding": Sentence(
            _curve_reading("PAS with the prompt", pas.iloc[0], pas.iloc[-1])
            + "; "
            + _curve_reading("few-shot", icl.iloc[0], icl.iloc[-1])
        ),
    }

"""Chapter 09's methods read beyond the argmax letter (calibrated median, RPS, profile r) and their bootstrap intervals."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from . import findings, readout_tables, readouts
from .comparison import DEGENERATE_AT, Comparison, beats, label, strongest_control
from .controls import PREDICTORS
from .findings import TIE, Sentence, count_of, listed
from .metrics import add_targets


def read_tables(comp: Comparison) -> tuple[dict[str, pd.DataFrame], list[str]]:
    """Section 9.3: every table graded and read out (:func:`palign_nb.readout_tables.add_readouts`: a model's
    distribution batch-calibrated, the item prior's read as it is), and the methods whose store kept no option
    distribution (an older store)."""
    read, no_probs = {}, []
    for key, table in comp.tables.items():
        rows = add_targets(table, comp.inventory, comp.keying)
        if set(readouts.PROB_COLUMNS) <= set(rows.columns):
            rows = readout_tables.add_readouts(
                rows,
                None if key in PREDICTORS else readouts.letter_priors_by_subject(rows),
            )
        elif key not in PREDICTORS:
            no_probs.append(key)
        read[key] = rows
    return read, no_probs


def readout_summary(read: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """:func:`palign_nb.readout_tables.summarise_methods` of :func:`read_tables`, with ``degenerate``."""
    table = readout_tables.summarise_methods(read)
    table["degenerate"] = table["modal share"] > DEGENERATE_AT
    return table


#: The readouts whose bootstrap intervals chapter 09 shows, in its column order.
INTERVAL_READOUTS = [
    "argmax (paper's protocol)",
    "calibrated median",
    "RPS",
    "profile r (argmax)",
]


def interval_cells(intervals: pd.DataFrame, order: list[str]) -> pd.DataFrame:
    """:func:`palign_nb.results.readout_intervals` as one 'mean [low, high]' cell (n/a where no subject has the
    readout) per method key (in ``order``) and readout."""
    cells = intervals.assign(
        cell=[
            "n/a" if np.isnan(mean) else f"{mean:.2f} [{low:.2f}, {high:.2f}]"
            for mean, low, high in intervals[["mean", "low", "high"]].itertuples(
                index=False
            )
        ]
    )
    return cells.pivot(index="method", columns="readout", values="cell").reindex(
        index=order, columns=INTERVAL_READOUTS
    )


def _number(x: Any) -> float | None:
    """A glued number: None for NaN (a readout the table lacks)."""
    return None if pd.isna(x) else float(x)


def readout_findings(
    comp: Comparison, table: pd.DataFrame, no_probs: list[str]
) -> dict[str, Any]:
    """Section 9.3: how many methods are degenerate, where calibration helps, and the bars the predictors that
    need no model set on the RPS and the profile r (a method without the readout does not clear a bar)."""
    models = comp.model_methods
    with_dist = [m for m in models if m not in no_probs]
    argmax, calibrated = "argmax (paper's protocol)", "calibrated median"
    n_degenerate = int(table.loc[models, "degenerate"].sum())
    n_calibrated = sum(
        beats(table.loc[m, calibrated], table.loc[m, argmax]) for m in with_dist
    )
    degenerate_text = (
        f"{count_of(n_degenerate, len(models), 'model-based methods')} "
        f"{'is' if n_degenerate == 1 else 'are'} degenerate in this run (modal share above {DEGENERATE_AT:.0%})"
    )
    missing = (
        f" {listed([label(k) for k in no_probs])} stored no option distribution (rerun "
        f"{'its' if len(no_probs) == 1 else 'their'} chapter to fill the readouts)."
        if no_probs
        else ""
    )
    rps_bar = table.loc["item_prior_loo", "RPS"]
    r_controls = table.loc[comp.no_model, "profile r (argmax)"].dropna()
    r_from = label(r_controls.idxmax()) if len(r_controls) else None
    r_bar = r_controls.max() if len(r_controls) else np.nan
    n_rps = sum(beats(table.loc[m, "RPS"], rps_bar) for m in with_dist)
    n_r = sum(table.loc[m, "profile r (argmax)"] > r_bar + TIE for m in models)
    rps_text = (
        f"On the RPS, {count_of(n_rps, len(with_dist), 'methods with a distribution')} "
        f"{'beats' if n_rps == 1 else 'beat'} the item prior's {rps_bar:.2f}"
    )
    r_text = (
        "no predictor that needs no model has a profile r here"
        if r_from is None
        else f"on the profile r, {count_of(n_r, len(models), 'model-based methods')} "
        f"{'ranks' if n_r == 1 else 'rank'} the person's items better than the {r_from} does ({r_bar:.2f})"
    )
    return {
        "c09_degenerate_at": DEGENERATE_AT,
        "c09_readout_numbers": {
            label(m): [
                float(table.loc[m, argmax]),
                float(table.loc[m, calibrated]) if m in with_dist else None,
                float(table.loc[m, "modal share"]),
            ]
            for m in models
        },
        "c09_readouts_finding": Sentence(
            degenerate_text[0].upper()
            + degenerate_text[1:]
            + "; the calibrated median "
            f"scores better than the argmax letter for "
            f"{count_of(n_calibrated, len(with_dist), 'model-based methods')}."
            + missing
        ),
        "c09_readout_more": {
            label(m): [
                _number(table.loc[m, "RPS"]),
                _number(table.loc[m, "profile r (argmax)"]),
            ]
            for m in models
        },
        "c09_readout_bars": {
            "RPS": _number(rps_bar),
            "profile r": _number(r_bar),
            "r_from": r_from,
            "with_dist": [label(m) for m in with_dist],
        },
        "c09_readout_bar_finding": Sentence(f"{rps_text}; {r_text}."),
    }


def interval_findings(
    comp: Comparison, paired: pd.DataFrame, intervals: pd.DataFrame, cells: pd.DataFrame
) -> dict[str, Any]:
    """Section 9.3's intervals: the smallest p the sign-flip test can reach with these subjects, how many paired
    comparisons are significant, and where PAS's interval on the paper's metric lies against the no-model bar."""
    n = comp.n_subjects
    min_p = 2.0 ** (
        1 - n
    )  # the exact sign-flip test's smallest p: both all-same-sign patterns
    n_sig = int((paired["p (subjects)"] < 0.05).sum())
    _, bar = strongest_control(comp)
    pas = intervals[
        (intervals.method == "pas_icl") & (intervals.readout == INTERVAL_READOUTS[0])
    ].iloc[0]
    low, high = float(pas["low"]), float(pas["high"])
    where = f"PAS's interval on the paper's metric ({low:.2f} to {high:.2f})"
    if n == 1:
        ci_text = (
            "With one subject the bootstrap has nothing to resample: every interval is a single point, so none "
            "of them says how sure a number is."
        )
    elif high < bar - TIE:
        ci_text = (
            f"{where} lies entirely below the strongest predictor that needs no model ({bar:.2f}): resampling "
            "the subjects does not erase its lead."
        )
    elif low > bar + TIE:
        ci_text = (
            f"{where} lies entirely above the strongest predictor that needs no model ({bar:.2f}): it is worse "
            "on these subjects however they are resampled."
        )
    else:
        ci_text = (
            f"{where} contains the strongest predictor that needs no model ({bar:.2f}): these subjects cannot "
            "tell the two apart."
        )
    return {
        "c09_min_p_subjects": min_p,
        "c09_n_sig_subjects": n_sig,
        "c09_significance_finding": Sentence(findings.significance_possible(min_p)),
        "c09_n_sig_finding": Sentence(
            f"{count_of(n_sig, len(paired), 'paired comparisons')} "
            f"{'is' if n_sig == 1 else 'are'} significant over subjects"
        ),
        "c09_n_sig_items": int((paired["p (items, optimistic)"] < 0.05).sum()),
        "c09_n_compared": len(paired),
        **{
            f"c09_pas_ci_{short}": cells.loc["pas_icl", readout]
            for short, readout in zip(
                ["argmax", "calibrated", "rps", "r"], INTERVAL_READOUTS
            )
        },
        "c09_pas_ci": [float(pas["mean"]), low, high],
        "c09_ci_finding": Sentence(ci_text),
    }

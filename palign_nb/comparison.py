"""Every method on the same rows, graded once, and what chapter 09 finds in that table.

Chapter 09 reads the chapters' predictions back (:mod:`palign_nb.results`), cuts them to the
(subject, item) pairs every method answered and adds the predictors that need no model
(:mod:`palign_nb.controls`). :func:`compare` does that once and returns a :class:`Comparison`:
the tables and their composites by registry key (:data:`palign_nb.methods.METHODS`,
:data:`palign_nb.controls.PREDICTORS`), so no code finds a method by its display label.

The ``*_findings`` functions are pure: each takes numbers the chapter measured and returns the
glue keys of the prose, numbers and :class:`~palign_nb.findings.Sentence` s chosen by them (glued
by :meth:`palign_nb.context.Chapter.glue_all`). Labels appear only in what they return.

Introduced in :doc:`/notebooks/09_results`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from . import findings, readouts
from .controls import PREDICTORS, with_controls, with_trivial
from .findings import TIE, Sentence, count_of, listed
from .inventories import VALUE_TO_LETTER, Inventory
from .methods import METHODS
from .metrics import add_targets, alignment_score
from .results import common_rows

#: Every method and predictor that needs no model: its display label by registry key.
LABELS: dict[str, str] = {m.key: m.label for m in METHODS} | PREDICTORS
#: A modal share above this: (almost) one letter for every item, a degenerate answer sheet.
DEGENERATE_AT = 0.9


def label(key: str) -> str:
    """The display label of a method or predictor key."""
    return LABELS[key]


def labelled(frame: pd.DataFrame | pd.Series) -> pd.DataFrame | pd.Series:
    """``frame`` with its index of keys shown as labels, for a table a reader sees."""
    return frame.rename(index=LABELS)


def beats(score: float, bar: float) -> bool:
    """A lower error than ``bar`` by more than a tie."""
    return score < bar - TIE


def score_table(tables: dict[str, pd.DataFrame], inventory: Inventory, keying: str,
                variant: str = "faithful") -> pd.DataFrame:
    """Per table (the dict's keys as index): each trait's error and the composite, the paper's metric."""
    return pd.DataFrame({key: alignment_score(add_targets(t, inventory, keying), variant) for key, t in tables.items()}).T


@dataclass
class Comparison:
    """The methods (``tables`` by key, on common rows), the predictors that need no model on the same rows, and
    their ``scores`` (one row per key: traits and composite, faithful variant)."""

    tables: dict[str, pd.DataFrame]
    scores: pd.DataFrame
    inventory: Inventory
    keying: str
    n_methods: int  # the methods read from the store (the tables before the predictors were added)

    @property
    def model_methods(self) -> list[str]:
        """The keys of the methods that use a model, in table order."""
        return [key for key in self.scores.index if key not in PREDICTORS]

    @property
    def no_model(self) -> list[str]:
        """The keys of the predictors that need no model, in table order."""
        return [key for key in self.scores.index if key in PREDICTORS]

    @property
    def n_subjects(self) -> int:
        return int(next(iter(self.tables.values()))["subject"].nunique())

    @property
    def n_items(self) -> int:
        return len(next(iter(self.tables.values()))) // self.n_subjects

    def composite(self, key: str) -> float:
        """The composite of ``key`` (NaN when this run has no such method)."""
        return float(self.scores.loc[key, "composite"]) if key in self.scores.index else float("nan")

    def composites(self) -> dict[str, float]:
        """{label: composite} of every row, as the chapter glues them."""
        return {label(key): self.composite(key) for key in self.scores.index}


def compare(tables: dict[str, pd.DataFrame], inventory: Inventory, keying: str, answers: pd.DataFrame | None = None,
            known: list[str] | None = None, validation: list[str] | None = None) -> Comparison:
    """The methods' ``tables`` (by key) on their common rows, graded under ``keying``, with the predictors that
    need no model added from ``answers``: all of :data:`~palign_nb.controls.PREDICTORS` given ``validation``
    (``answers`` is then the population: the test subjects), the trivial ones alone without it."""
    common = common_rows(tables)
    if answers is not None and validation is not None:
        common = with_controls(common, answers, inventory, list(known or []), list(validation), keying)
    elif answers is not None:
        common = with_trivial(common, answers, inventory, list(known or []), keying)
    return Comparison(common, score_table(common, inventory, keying), inventory, keying, len(tables))


def coverage_findings(overview: pd.DataFrame) -> dict[str, Any]:
    """Section 9.1: whether every table read holds the same subjects and rows (``overview``: one row per method
    with its ``chapter``, ``subjects`` and ``rows``), and which chapters ran fewest otherwise."""
    sizes = {m: [int(s), int(r)] for m, s, r in overview[["method", "subjects", "rows"]].itertuples(index=False)}
    if overview["subjects"].nunique() == 1 and overview["rows"].nunique() == 1:
        text = "Here every table holds the same number of subjects and rows."
    else:
        fewest = sorted({c[:2] for c in overview.loc[overview["rows"] == overview["rows"].min(), "chapter"]})
        text = ("The chapters ran different numbers of subjects or items (the fewest rows: "
                f"chapter{'s' if len(fewest) > 1 else ''} {' and '.join(fewest)}).")
    return {"c09_table_sizes": sizes, "c09_coverage_finding": Sentence(text)}


def best_of(scores: pd.Series, keys: list[str]) -> tuple[list[str], float, str]:
    """The keys with the lowest composite in ``scores`` (all of them when they tie), that composite and a sentence."""
    low = min(float(scores[k]) for k in keys)
    tied = [k for k in keys if float(scores[k]) - low <= TIE]
    if len(tied) == 1:
        return tied, low, f"the best model-based method is **{label(tied[0])}** ({low:.2f})"
    return tied, low, f"{listed([f'**{label(k)}**' for k in tied])} tie as the best model-based methods ({low:.2f})"


def strongest_control(comp: Comparison) -> tuple[list[str], float]:
    """The predictors that need no model with the lowest composite (all of them when they tie), and that composite."""
    bar = min(comp.composite(k) for k in comp.no_model)
    return [k for k in comp.no_model if comp.composite(k) - bar <= TIE], bar


def table_findings(comp: Comparison, paper_pas: float, paper_always_c: float, n_paper_subjects: int,
                   n_test_items: int, model_id: str, paper_model: str) -> dict[str, Any]:
    """Section 9.2: the best method, the no-model bar and how many methods clear it, the paper's PAS against
    always C on the paper's own subjects, and what differs between this run and the paper."""
    models = comp.model_methods
    best_tied, best_score, best_text = best_of(comp.scores["composite"], models)
    strongest, bar = strongest_control(comp)
    n_beat_bar = sum(beats(comp.composite(m), bar) for m in models)
    n_beat_c = sum(beats(comp.composite(m), comp.composite("always_C")) for m in models)
    named_bar = (f"The strongest predictor that needs no model is **{label(strongest[0])}**" if len(strongest) == 1 else
                 "The strongest predictors that need no model are "
                 f"{listed([f'**{label(k)}**' for k in strongest])}, tied")
    letter = VALUE_TO_LETTER[int(comp.tables["best_constant"]["predicted"].iloc[0])]
    is_paper_model = paper_model.lower() in model_id.lower()
    differ = ([] if is_paper_model else ["the model"]) + (
        [] if comp.n_subjects == n_paper_subjects and comp.n_items == n_test_items else ["the scale"])
    differ.append("the α protocol (the paper chose α on the test items)")
    return {
        "c09_best_method": label(best_tied[0]), "c09_best_score": best_score, "c09_best_finding": Sentence(best_text),
        "c09_composites": comp.composites(),
        **{f"c09_{key}": comp.composite(k) for key, k in [
            ("pas", "pas_icl"), ("icl", "icl"), ("dpo", "dpo"), ("grpo", "grpo"), ("no_alignment", "no_alignment"),
            ("always_c", "always_C"), ("trait_mean", "trait_mean"), ("item_prior", "item_prior_loo"),
            ("trait_offset", "trait_offset"), ("best_constant", "best_constant")]},
        "c09_strongest_control": listed([label(k) for k in strongest]), "c09_strongest_score": bar,
        "c09_best_constant_letter": letter,
        "c09_n_beat_bar": n_beat_bar, "c09_n_beat_c": n_beat_c, "c09_n_model_methods": len(models),
        "c09_controls_finding": Sentence(f"{named_bar} ({bar:.2f}); {count_of(n_beat_bar, len(models), 'model-based methods')} "
                                         f"{'beats' if n_beat_bar == 1 else 'beat'} it."),
        "c09_beat_c_finding": Sentence(f"{count_of(n_beat_c, len(models), 'model-based methods')} "
                                       f"{'beats' if n_beat_c == 1 else 'beat'} the constant answer"),
        "c09_paper_pas": paper_pas, "c09_paper_always_c": paper_always_c,
        "c09_paper_c_finding": Sentence(
            f"The paper's PAS reaches {paper_pas:.2f} with {paper_model}; on the paper's own {n_paper_subjects} test "
            f"subjects the always-C predictor scores {paper_always_c:.2f} (chapter 02), "
            + ("better than that" if beats(paper_always_c, paper_pas) else "no better than that") + "."),
        "c09_differ_finding": Sentence(listed(differ) + (" differ" if len(differ) > 1 else " differs")),
    }


def read_tables(comp: Comparison) -> tuple[dict[str, pd.DataFrame], list[str]]:
    """Section 9.3: every table graded and read out (:func:`palign_nb.readouts.add_readouts`: a model's
    distribution batch-calibrated, the item prior's read as it is), and the methods whose store kept no option
    distribution (an older store)."""
    read, no_probs = {}, []
    for key, table in comp.tables.items():
        rows = add_targets(table, comp.inventory, comp.keying)
        if set(readouts.PROB_COLUMNS) <= set(rows.columns):
            rows = readouts.add_readouts(rows, None if key in PREDICTORS else readouts.letter_priors_by_subject(rows))
        elif key not in PREDICTORS:
            no_probs.append(key)
        read[key] = rows
    return read, no_probs


def readout_summary(read: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """:func:`palign_nb.readouts.summarise_methods` of :func:`read_tables`, with ``degenerate``."""
    table = readouts.summarise_methods(read)
    table["degenerate"] = table["modal share"] > DEGENERATE_AT
    return table


#: The readouts whose bootstrap intervals chapter 09 shows, in its column order.
INTERVAL_READOUTS = ["argmax (paper's protocol)", "calibrated median", "RPS", "profile r (argmax)"]


def interval_cells(intervals: pd.DataFrame, order: list[str]) -> pd.DataFrame:
    """:func:`palign_nb.results.readout_intervals` as one 'mean [low, high]' cell (n/a where no subject has the
    readout) per method key (in ``order``) and readout."""
    cells = intervals.assign(cell=[
        "n/a" if np.isnan(mean) else f"{mean:.2f} [{low:.2f}, {high:.2f}]"
        for mean, low, high in intervals[["mean", "low", "high"]].itertuples(index=False)])
    return cells.pivot(index="method", columns="readout", values="cell").reindex(index=order, columns=INTERVAL_READOUTS)


def _number(x: Any) -> float | None:
    """A glued number: None for NaN (a readout the table lacks)."""
    return None if pd.isna(x) else float(x)


def readout_findings(comp: Comparison, table: pd.DataFrame, no_probs: list[str]) -> dict[str, Any]:
    """Section 9.3: how many methods are degenerate, where calibration helps, and the bars the predictors that
    need no model set on the RPS and the profile r (a method without the readout does not clear a bar)."""
    models = comp.model_methods
    with_dist = [m for m in models if m not in no_probs]
    argmax, calibrated = "argmax (paper's protocol)", "calibrated median"
    n_degenerate = int(table.loc[models, "degenerate"].sum())
    n_calibrated = sum(beats(table.loc[m, calibrated], table.loc[m, argmax]) for m in with_dist)
    degenerate_text = (f"{count_of(n_degenerate, len(models), 'model-based methods')} "
                       f"{'is' if n_degenerate == 1 else 'are'} degenerate in this run (modal share above {DEGENERATE_AT:.0%})")
    missing = (f" {listed([label(k) for k in no_probs])} stored no option distribution (rerun "
               f"{'its' if len(no_probs) == 1 else 'their'} chapter to fill the readouts)." if no_probs else "")
    rps_bar = table.loc["item_prior_loo", "RPS"]
    r_controls = table.loc[comp.no_model, "profile r (argmax)"].dropna()
    r_from = label(r_controls.idxmax()) if len(r_controls) else None
    r_bar = r_controls.max() if len(r_controls) else np.nan
    n_rps = sum(beats(table.loc[m, "RPS"], rps_bar) for m in with_dist)
    n_r = sum(table.loc[m, "profile r (argmax)"] > r_bar + TIE for m in models)
    rps_text = (f"On the RPS, {count_of(n_rps, len(with_dist), 'methods with a distribution')} "
                f"{'beats' if n_rps == 1 else 'beat'} the item prior's {rps_bar:.2f}")
    r_text = ("no predictor that needs no model has a profile r here" if r_from is None else
              f"on the profile r, {count_of(n_r, len(models), 'model-based methods')} "
              f"{'ranks' if n_r == 1 else 'rank'} the person's items better than the {r_from} does ({r_bar:.2f})")
    return {
        "c09_degenerate_at": DEGENERATE_AT,
        "c09_readout_numbers": {label(m): [float(table.loc[m, argmax]),
                                           float(table.loc[m, calibrated]) if m in with_dist else None,
                                           float(table.loc[m, "modal share"])] for m in models},
        "c09_readouts_finding": Sentence(degenerate_text[0].upper() + degenerate_text[1:] + "; the calibrated median "
                                         f"scores better than the argmax letter for "
                                         f"{count_of(n_calibrated, len(with_dist), 'model-based methods')}." + missing),
        "c09_readout_more": {label(m): [_number(table.loc[m, "RPS"]), _number(table.loc[m, "profile r (argmax)"])]
                             for m in models},
        "c09_readout_bars": {"RPS": _number(rps_bar), "profile r": _number(r_bar), "r_from": r_from,
                             "with_dist": [label(m) for m in with_dist]},
        "c09_readout_bar_finding": Sentence(f"{rps_text}; {r_text}."),
    }


def interval_findings(comp: Comparison, paired: pd.DataFrame, intervals: pd.DataFrame,
                      cells: pd.DataFrame) -> dict[str, Any]:
    """Section 9.3's intervals: the smallest p the sign-flip test can reach with these subjects, how many paired
    comparisons are significant, and where PAS's interval on the paper's metric lies against the no-model bar."""
    n = comp.n_subjects
    min_p = 2.0 ** (1 - n)  # the exact sign-flip test's smallest p: both all-same-sign patterns
    n_sig = int((paired["p (subjects)"] < 0.05).sum())
    _, bar = strongest_control(comp)
    pas = intervals[(intervals.method == "pas_icl") & (intervals.readout == INTERVAL_READOUTS[0])].iloc[0]
    low, high = float(pas["low"]), float(pas["high"])
    where = f"PAS's interval on the paper's metric ({low:.2f} to {high:.2f})"
    if n == 1:
        ci_text = ("With one subject the bootstrap has nothing to resample: every interval is a single point, so none "
                   "of them says how sure a number is.")
    elif high < bar - TIE:
        ci_text = (f"{where} lies entirely below the strongest predictor that needs no model ({bar:.2f}): resampling "
                   "the subjects does not erase its lead.")
    elif low > bar + TIE:
        ci_text = (f"{where} lies entirely above the strongest predictor that needs no model ({bar:.2f}): it is worse "
                   "on these subjects however they are resampled.")
    else:
        ci_text = (f"{where} contains the strongest predictor that needs no model ({bar:.2f}): these subjects cannot "
                   "tell the two apart.")
    return {
        "c09_min_p_subjects": min_p, "c09_n_sig_subjects": n_sig,
        "c09_significance_finding": Sentence(findings.significance_possible(min_p)),
        "c09_n_sig_finding": Sentence(f"{count_of(n_sig, len(paired), 'paired comparisons')} "
                                      f"{'is' if n_sig == 1 else 'are'} significant over subjects"),
        "c09_n_sig_items": int((paired["p (items, optimistic)"] < 0.05).sum()), "c09_n_compared": len(paired),
        **{f"c09_pas_ci_{short}": cells.loc["pas_icl", readout]
           for short, readout in zip(["argmax", "calibrated", "rps", "r"], INTERVAL_READOUTS)},
        "c09_pas_ci": [float(pas["mean"]), low, high],
        "c09_ci_finding": Sentence(ci_text),
    }

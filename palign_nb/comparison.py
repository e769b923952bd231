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

import pandas as pd

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


def score_table(
    tables: dict[str, pd.DataFrame],
    inventory: Inventory,
    keying: str,
    variant: str = "faithful",
) -> pd.DataFrame:
    """Per table (the dict's keys as index): each trait's error and the composite, the paper's metric."""
    return pd.DataFrame(
        {
            key: alignment_score(add_targets(t, inventory, keying), variant)
            for key, t in tables.items()
        }
    ).T


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
        return (
            float(self.scores.loc[key, "composite"])
            if key in self.scores.index
            else float("nan")
        )

    def composites(self) -> dict[str, float]:
        """{label: composite} of every row, as the chapter glues them."""
        return {label(key): self.composite(key) for key in self.scores.index}


def compare(
    tables: dict[str, pd.DataFrame],
    inventory: Inventory,
    keying: str,
    answers: pd.DataFrame | None = None,
    known: list[str] | None = None,
    validation: list[str] | None = None,
) -> Comparison:
    """The methods' ``tables`` (by key) on their common rows, graded under ``keying``, with the predictors that
    need no model added from ``answers``: all of :data:`~palign_nb.controls.PREDICTORS` given ``validation``
    (``answers`` is then the population: the test subjects), the trivial ones alone without it."""
    common = common_rows(tables)
    if answers is not None and validation is not None:
        common = with_controls(
            common, answers, inventory, list(known or []), list(validation), keying
        )
    elif answers is not None:
        common = with_trivial(common, answers, inventory, list(known or []), keying)
    return Comparison(
        common, score_table(common, inventory, keying), inventory, keying, len(tables)
    )


def coverage_findings(overview: pd.DataFrame) -> dict[str, Any]:
    """Section 9.1: whether every table read holds the same subjects and rows (``overview``: one row per method
    with its ``chapter``, ``subjects`` and ``rows``), and which chapters ran fewest otherwise."""
    sizes = {
        m: [int(s), int(r)]
        for m, s, r in overview[["method", "subjects", "rows"]].itertuples(index=False)
    }
    if overview["subjects"].nunique() == 1 and overview["rows"].nunique() == 1:
        text = "Here every table holds the same number of subjects and rows."
    else:
        fewest = sorted(
            {
                c[:2]
                for c in overview.loc[
                    overview["rows"] == overview["rows"].min(), "chapter"
                ]
            }
        )
        text = (
            "The chapters ran different numbers of subjects or items (the fewest rows: "
            f"chapter{'s' if len(fewest) > 1 else ''} {' and '.join(fewest)})."
        )
    return {"c09_table_sizes": sizes, "c09_coverage_finding": Sentence(text)}


def best_of(scores: pd.Series, keys: list[str]) -> tuple[list[str], float, str]:
    """The keys with the lowest composite in ``scores`` (all of them when they tie), that composite and a sentence."""
    low = min(float(scores[k]) for k in keys)
    tied = [k for k in keys if float(scores[k]) - low <= TIE]
    if len(tied) == 1:
        return (
            tied,
            low,
            f"the best model-based method is **{label(tied[0])}** ({low:.2f})",
        )
    return (
        tied,
        low,
        f"{listed([f'**{label(k)}**' for k in tied])} tie as the best model-based methods ({low:.2f})",
    )


def strongest_control(comp: Comparison) -> tuple[list[str], float]:
    """The predictors that need no model with the lowest composite (all of them when they tie), and that composite."""
    bar = min(comp.composite(k) for k in comp.no_model)
    return [k for k in comp.no_model if comp.composite(k) - bar <= TIE], bar


def table_findings(
    comp: Comparison,
    paper_pas: float,
    paper_always_c: float,
    n_paper_subjects: int,
    n_test_items: int,
    model_id: str,
    paper_model: str,
) -> dict[str, Any]:
    """Section 9.2: the best method, the no-model bar and how many methods clear it, the paper's PAS against
    always C on the paper's own subjects, and what differs between this run and the paper."""
    models = comp.model_methods
    best_tied, best_score, best_text = best_of(comp.scores["composite"], models)
    strongest, bar = strongest_control(comp)
    n_beat_bar = sum(beats(comp.composite(m), bar) for m in models)
    n_beat_c = sum(beats(comp.composite(m), comp.composite("always_C")) for m in models)
    named_bar = (
        f"The strongest predictor that needs no model is **{label(strongest[0])}**"
        if len(strongest) == 1
        else "The strongest predictors that need no model are "
        f"{listed([f'**{label(k)}**' for k in strongest])}, tied"
    )
    letter = VALUE_TO_LETTER[int(comp.tables["best_constant"]["predicted"].iloc[0])]
    is_paper_model = paper_model.lower() in model_id.lower()
    differ = ([] if is_paper_model else ["the model"]) + (
        []
        if comp.n_subjects == n_paper_subjects and comp.n_items == n_test_items
        else ["the scale"]
    )
    differ.append("the α protocol (the paper chose α on the test items)")
    return {
        "c09_best_method": label(best_tied[0]),
        "c09_best_score": best_score,
        "c09_best_finding": Sentence(best_text),
        "c09_composites": comp.composites(),
        **{
            f"c09_{key}": comp.composite(k)
            for key, k in [
                ("pas", "pas_icl"),
                ("icl", "icl"),
                ("dpo", "dpo"),
                ("grpo", "grpo"),
                ("no_alignment", "no_alignment"),
                ("always_c", "always_C"),
                ("trait_mean", "trait_mean"),
                ("item_prior", "item_prior_loo"),
                ("trait_offset", "trait_offset"),
                ("best_constant", "best_constant"),
            ]
        },
        "c09_strongest_control": listed([label(k) for k in strongest]),
        "c09_strongest_score": bar,
        "c09_best_constant_letter": letter,
        "c09_n_beat_bar": n_beat_bar,
        "c09_n_beat_c": n_beat_c,
        "c09_n_model_methods": len(models),
        "c09_controls_finding": Sentence(
            f"{named_bar} ({bar:.2f}); {count_of(n_beat_bar, len(models), 'model-based methods')} "
            f"{'beats' if n_beat_bar == 1 else 'beat'} it."
        ),
        "c09_beat_c_finding": Sentence(
            f"{count_of(n_beat_c, len(models), 'model-based methods')} "
            f"{'beats' if n_beat_c == 1 else 'beat'} the constant answer"
        ),
        "c09_paper_pas": paper_pas,
        "c09_paper_always_c": paper_always_c,
        "c09_paper_c_finding": Sentence(
            f"The paper's PAS reaches {paper_pas:.2f} with {paper_model}; on the paper's own {n_paper_subjects} test "
            f"subjects the always-C predictor scores {paper_always_c:.2f} (chapter 02), "
            + (
                "better than that"
                if beats(paper_always_c, paper_pas)
                else "no better than that"
            )
            + "."
        ),
        "c09_differ_finding": Sentence(
            listed(differ) + (" differ" if len(differ) > 1 else " differs")
        ),
    }

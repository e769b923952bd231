"""A baseline chapter's methods graded beside its references: the unaligned model,
few-shot, the trivial predictors.

Chapters 06 and 07 score their methods on the run's subjects and test items, put the
store's tables of the same rows in front of them (:func:`with_references`), grade all of
them with :func:`palign_nb.results.scores_by_keying` and read one composite at a time
(:func:`composite`). The charts of both chapters are drawn by :func:`composite_bars` and
:func:`option_profile`.

Introduced in :doc:`/notebooks/06_prompting_baselines`.
"""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from . import charts, method_charts
from .config import RunConfig
from .errors import PalignError, StoreMissing
from .store import load_predictions


def stored_references(
    cfg: RunConfig, few_shot: str | None = None
) -> dict[str, pd.DataFrame]:
    """The store's tables a chapter compares with: the unaligned model's (chapter 03) as
    ``no alignment``, and, given a keying, few-shot's under it (chapter 06) as
    ``icl_<keying>`` when the store has it (a note is printed when it has not)."""
    references = {"no alignment": load_predictions(cfg, "no_alignment")}
    if few_shot is not None:
        try:
            references[f"icl_{few_shot}"] = load_predictions(cfg, "icl", few_shot)
        except StoreMissing:
            print(
                "no few-shot predictions in the store (run chapter 06 to compare with "
                "them)"
            )
    return references


def with_references(
    predictions: dict[str, pd.DataFrame], references: dict[str, pd.DataFrame]
) -> dict[str, pd.DataFrame]:
    """``predictions`` with each reference's rows of the same (subject, item) pairs in
    front (the last reference first); a reference that lacks some of the pairs is left
    out, with a note.

    The pairs are those of the first table of ``predictions``, in its order."""
    first = next(iter(predictions.values()))
    wanted = pd.MultiIndex.from_frame(first[["subject", "item"]])
    compared = dict(predictions)
    for name, table in references.items():
        table = table.set_index(["subject", "item"])
        if wanted.isin(table.index).all():
            compared = {name: table.loc[wanted].reset_index(), **compared}
        else:
            print(
                f"{name}: the store's predictions do not cover these subjects and "
                "items (rerun its chapter with the same subjects and n_items): left "
                "out"
            )
    return compared


#: The one row a table may lack: chapter 03's unaligned predictions cover other items.
OPTIONAL = "no alignment"


def composite(
    scores: pd.DataFrame, method: str, keying: str, variant: str = "faithful"
) -> float:
    """The composite error of ``method`` graded under ``keying`` and ``variant``, from a
    table of :func:`palign_nb.results.scores_by_keying`. A missing row is an error,
    except for :data:`OPTIONAL` (NaN: the reference does not cover the run)."""
    row = scores[
        (scores.method == method)
        & (scores.keying == keying)
        & (scores.variant == variant)
    ]
    if len(row):
        return float(row["composite"].iloc[0])
    if method == OPTIONAL:
        return float("nan")
    raise PalignError(
        f"no {variant} composite of {method!r} under {keying!r} among "
        f"{sorted(set(scores.method))}: score it with results.scores_by_keying"
    )


def faithful_table(scores: pd.DataFrame, keying: str) -> pd.DataFrame:
    """Each method's per-trait and composite error under ``keying`` (faithful metric),
    by method."""
    rows = scores[(scores.keying == keying) & (scores.variant == "faithful")]
    return rows.set_index("method").drop(columns=["keying", "variant"]).round(3)


def changed_share(table: pd.DataFrame, reference: pd.DataFrame | None) -> float:
    """The share of ``reference``'s answers (same rows, same order) that ``table``
    answers otherwise; NaN without a reference."""
    if reference is None:
        return float("nan")
    return float(
        (table["predicted"].to_numpy() != reference["predicted"].to_numpy()).mean()
    )


def composite_bars(scores: pd.DataFrame, reference: Mapping[str, float]):
    """Bars of every method's composite error under both keyings (faithful metric), with
    the paper's results as dashed ``reference`` rules
    (:func:`palign_nb.charts.bar_scores`)."""
    bars = scores[scores.variant == "faithful"][["method", "keying", "composite"]]
    bars = bars.rename(columns={"keying": "targets"})
    return charts.bar_scores(
        bars,
        category="method",
        value="composite",
        color="targets",
        reference=reference,
        sort=list(dict.fromkeys(bars["method"])),
        value_title="composite score (lower is better)",
    )


def option_profile(tables: dict[str, pd.DataFrame]):
    """Each table's mean option probabilities, one bar per method
    (:func:`palign_nb.method_charts.method_option_profile`)."""
    profile = pd.concat(
        [t.assign(method=m) for m, t in tables.items()], ignore_index=True
    )
    return method_charts.method_option_profile(profile)

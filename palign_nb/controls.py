"""The predictors that need no model: one registry, and every one of them.

A method that claims to know a person has to beat what can be said without a model. This module
holds all such predictors, each a pure function returning a predictions table (the long format of
:mod:`palign_nb.metrics`):

* the trivial ones of the paper's data (:func:`trivial_predictions`): one literal answer to every
  statement (``always_A`` .. ``always_E``), or the subject's mean known answer in the trait;
* the controls that read the population, the other test subjects: the leave-one-out item prior
  (:func:`loo_item_prior`), that prior moved by the subject's trait offset
  (:func:`trait_offset_predictions`), and the constant letter with the lowest error on the
  validation items (:func:`best_constant`), never chosen on test items.

:data:`PREDICTORS` names the five that chapter 09 shows beside the methods (key and label, as
:data:`palign_nb.methods.METHODS` names the methods); :func:`population_controls` and
:func:`with_controls` build them on the rows a chapter compares.

Introduced in :doc:`/notebooks/02_dataset_splits`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .errors import PalignError
from .inventories import (
    LETTER_TO_VALUE,
    OPTION_LETTERS,
    Inventory,
    check_name,
    keyed_values,
    reverse_keyed,
    target_direction,
)
from .metrics import alignment_score, long_table
from .readouts import OPTION_VALUES, PROB_COLUMNS, distribution_median

#: The predictors chapter 09 shows beside the methods, by key: the trivial ones, then the population controls.
PREDICTORS: dict[str, str] = {
    "always_C": "always C",
    "trait_mean": "trait mean",
    "item_prior_loo": "item prior (leave one out)",
    "trait_offset": "trait offset",
    "best_constant": "best constant",
}
#: Of :data:`PREDICTORS`, those that read only the subject's own known answers (the paper's data, no population).
TRIVIAL: tuple[str, ...] = ("always_C", "trait_mean")
#: Every kind :func:`trivial_predictions` makes.
TRIVIAL_KINDS: tuple[str, ...] = tuple(f"always_{x}" for x in OPTION_LETTERS) + (
    "trait_mean",
)


def _require(table: pd.DataFrame, columns: list[str], where: str) -> None:
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise PalignError(
            f"{where} needs columns {missing}; the table has {sorted(map(str, table.columns))}."
        )


# --- from the subject's own answers -------------------------------------------------------------------


def trivial_predictions(
    answers: pd.DataFrame,
    inventory: Inventory,
    known_items: list[str],
    test_items: list[str],
    kind: str,
    keying: str,
) -> pd.DataFrame:
    """Predictions of a predictor that needs no model, as a long table.

    ``kind``: ``always_A`` .. ``always_E`` (the same literal answer to every statement) or
    ``trait_mean`` (the subject's mean known answer in the trait, in the trait's direction, rounded
    half to even; 3 when none is known), turned into each test item's target space.
    """
    check_name(kind, TRIVIAL_KINDS, "trivial predictor")
    table = long_table(answers, test_items, inventory, keying)
    if kind.startswith("always_"):
        value = LETTER_TO_VALUE[kind[-1]]
        table["predicted"] = float(value)
        return table
    known_signs = inventory.items.loc[known_items, "sign"].to_numpy()
    keyed = keyed_values(
        answers[known_items].to_numpy(), known_signs, inventory
    ).astype(float)
    keyed[keyed == 0] = np.nan
    known_traits = inventory.items.loc[known_items, "trait"].to_numpy()
    test_traits = inventory.items.loc[test_items, "trait"].to_numpy()
    pred = np.full((len(answers), len(test_items)), 3.0)
    for trait in inventory.trait_order:
        cols = known_traits == trait
        with np.errstate(all="ignore"):
            mean = (
                np.nanmean(keyed[:, cols], axis=1)
                if cols.any()
                else np.full(len(answers), np.nan)
            )
        mean = np.where(
            np.isnan(mean), 3.0, np.round(mean)
        )  # numpy rounds half to even
        pred[:, test_traits == trait] = mean[:, None]
    # The prediction is in the trait's direction; the target space runs against it where the direction is -1.
    pred = reverse_keyed(
        pred, target_direction(inventory, keying).loc[test_items].to_numpy()
    )
    table["predicted"] = pred.reshape(-1)
    return table


# --- from the population: the other test subjects -----------------------------------------------------


def _one_row_per_pair(table: pd.DataFrame, name: str) -> None:
    if table.duplicated(["subject", "item"]).any():
        raise PalignError(
            f"{name}: the table has more than one row for a (subject, item); pass one method's rows."
        )


def _other_subject_counts(table: pd.DataFrame) -> np.ndarray:
    """Per row, the other subjects' answers to its item: counts (n_rows, 5) in letter order A..E.

    Counts of all subjects' targets per item, minus the row's own target (leave one out); missing
    targets (0) count nowhere.
    """
    target = table["target"].to_numpy()
    onehot = np.zeros((len(table), len(OPTION_LETTERS)))
    answered = target > 0
    onehot[
        np.flatnonzero(answered), (len(OPTION_LETTERS) - target[answered]).astype(int)
    ] = 1.0
    item_counts = (
        pd.DataFrame(onehot)
        .groupby(table["item"].to_numpy())
        .transform("sum")
        .to_numpy()
    )
    return item_counts - onehot


def loo_item_prior(table: pd.DataFrame, pseudocount: float = 0.0) -> pd.DataFrame:
    """The population prior per item, leaving the subject out: what the other subjects answered.

    For subject s and item i the distribution of the other subjects' targets to i (in ``table``, so
    the same keying as the targets), as ``p_A``..``p_E``, and its :func:`palign_nb.readouts.distribution_median` as
    ``predicted``: "someone else's typical answer", a model-free predictor a method has to beat
    to claim it knows *this* person. ``pseudocount`` is added to every count before normalising
    (0: the plain frequencies; pass 1 before reading a log-loss, as an answer nobody else gave has
    probability 0). ``prior_n``: how many others answered. With none, the distribution is uniform
    (median 3, the fallback of ``trait_mean``). Same rows and columns as ``table`` plus those.
    """
    _require(table, ["subject", "item", "target"], "loo_item_prior")
    _one_row_per_pair(table, "loo_item_prior")
    counts = _other_subject_counts(table)
    out = table.copy()
    out["prior_n"] = counts.sum(axis=1).astype(int)
    smoothed = counts + pseudocount
    empty = smoothed.sum(axis=1) == 0
    smoothed[empty] = 1.0  # nobody else answered: uniform
    out[PROB_COLUMNS] = smoothed / smoothed.sum(axis=1, keepdims=True)
    out["predicted"] = distribution_median(out[PROB_COLUMNS].to_numpy())
    return out


def _loo_item_means(table: pd.DataFrame) -> np.ndarray:
    """Per row, the mean target of the other subjects on its item (NaN when none answered)."""
    counts = _other_subject_counts(table)
    n = counts.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n > 0, (counts @ OPTION_VALUES) / n, np.nan)


def trait_offset_predictions(
    test: pd.DataFrame, known: pd.DataFrame, direction: pd.Series | None = None
) -> pd.DataFrame:
    """The population prior moved by how far this subject sits from the population in the trait.

    From the subject's KNOWN answers (``known``: rows subject, item, trait, target): its offset in a
    trait is the mean over its answered known items of (its answer - the other subjects' mean on
    that item), each turned in the trait's direction. The test prediction is the other subjects'
    mean on the test item (leave one out, in ``test``) plus the offset in the item's direction,
    rounded half to even (numpy) and clipped to 1..5. It is the "trait mean" predictor with the
    item's difficulty put back, and uses no answer the subject gives on a test item.

    ``direction``: +1 / -1 per item (:func:`palign_nb.inventories.target_direction`); None means every target already
    runs with its trait. Fallbacks: no known answer in the trait gives offset 0; a known item
    nobody else answered is skipped; a test item nobody else answered starts from 3. Returns
    ``test`` with ``offset`` and ``predicted``.
    """
    needed = ["subject", "item", "trait", "target"]
    _require(test, needed, "trait_offset_predictions (test)")
    _require(known, needed, "trait_offset_predictions (known)")
    _one_row_per_pair(test, "trait_offset_predictions (test)")
    _one_row_per_pair(known, "trait_offset_predictions (known)")
    unknown = set(test["subject"]) - set(known["subject"])
    if unknown:
        raise PalignError(
            f"No known-item rows for subjects {sorted(map(str, unknown))[:5]}: pass their known items "
            "(same subject ids and type; a missing answer is a row with target 0)."
        )

    def signs_of(items: pd.Series) -> np.ndarray:
        if direction is None:
            return np.ones(len(items))
        missing = set(items) - set(direction.index)
        if missing:
            raise PalignError(
                f"No direction for items {sorted(missing)[:5]}; pass inventories.target_direction(inventory, keying)."
            )
        return direction.loc[items].to_numpy(dtype=float)

    deviation = (known["target"].to_numpy() - _loo_item_means(known)) * signs_of(
        known["item"]
    )
    usable = (known["target"].to_numpy() > 0) & ~np.isnan(deviation)
    offsets = (
        pd.Series(deviation[usable])
        .groupby(
            [known["subject"].to_numpy()[usable], known["trait"].to_numpy()[usable]]
        )
        .mean()
    )
    keys = pd.MultiIndex.from_arrays([test["subject"], test["trait"]])
    offset = (
        offsets.reindex(keys).fillna(0.0).to_numpy()
        if len(offsets)
        else np.zeros(len(test))
    )
    start = np.nan_to_num(_loo_item_means(test), nan=3.0)
    out = test.copy()
    out["offset"] = offset
    out["predicted"] = np.clip(np.round(start + offset * signs_of(test["item"])), 1, 5)
    return out


def constant_predictions(table: pd.DataFrame, value: int) -> pd.DataFrame:
    """``table`` with every ``predicted`` set to ``value`` (1..5): ``always_A``..``always_E`` on any rows."""
    if value not in OPTION_VALUES:
        raise PalignError(f"A constant answer is a Likert value 1..5; got {value!r}.")
    return table.assign(predicted=float(value))


def best_constant(validation: pd.DataFrame, variant: str = "faithful") -> int:
    """The constant answer 1..5 with the lowest paper composite on the ``validation`` rows.

    The strongest "one letter" a method could land on, chosen on items that are not test items; a
    method whose argmax score does not beat it on the test items has shown no knowledge of the
    person. Ties go to the earlier letter (A before E), as the values are tried from 5 down to 1.
    """
    _require(validation, ["subject", "trait", "target"], "best_constant")
    best_value, best_score = 0, np.inf
    for value in OPTION_VALUES.astype(int):
        score = alignment_score(constant_predictions(validation, int(value)), variant)[
            "composite"
        ]
        if score < best_score:
            best_value, best_score = int(value), score
    return best_value


# --- on the rows a chapter compares -------------------------------------------------------------------


def population_controls(
    answers: pd.DataFrame,
    test: list[str],
    known: list[str],
    validation: list[str],
    inventory: Inventory,
    keying: str,
    variant: str = "faithful",
) -> dict[str, pd.DataFrame]:
    """The three population controls on every subject of ``answers`` x the ``test`` items, by key.

    ``answers`` is the population (the test subjects): each subject's item prior and trait offset read
    the others. The best constant is the letter with the lowest ``variant`` composite on the population's
    ``validation`` items. Tables as :func:`palign_nb.metrics.long_table` with ``predicted`` (and ``p_A``..``p_E`` for the prior).
    """
    test_rows = long_table(answers, list(test), inventory, keying)
    known_rows = long_table(answers, list(known), inventory, keying)
    value = best_constant(
        long_table(answers, list(validation), inventory, keying), variant
    )
    return {
        "item_prior_loo": loo_item_prior(test_rows).drop(columns="prior_n"),
        "trait_offset": trait_offset_predictions(
            test_rows, known_rows, target_direction(inventory, keying)
        ).drop(columns="offset"),
        "best_constant": constant_predictions(test_rows, value),
    }


def with_trivial(
    tables: dict[str, pd.DataFrame],
    answers: pd.DataFrame,
    inventory: Inventory,
    known: list[str],
    keying: str,
) -> dict[str, pd.DataFrame]:
    """``tables`` (cut by :func:`palign_nb.results.common_rows`) plus the :data:`TRIVIAL` predictors on their
    subjects and items, by key."""
    first = next(iter(tables.values()))
    subjects = [int(s) for s in first["subject"].unique()]
    items = list(dict.fromkeys(first["item"]))
    return {
        **tables,
        **{
            kind: trivial_predictions(
                answers.loc[subjects], inventory, known, items, kind, keying
            )
            for kind in TRIVIAL
        },
    }


def with_controls(
    tables: dict[str, pd.DataFrame],
    answers: pd.DataFrame,
    inventory: Inventory,
    known: list[str],
    validation: list[str],
    keying: str,
) -> dict[str, pd.DataFrame]:
    """``tables`` (cut by :func:`palign_nb.results.common_rows`) plus every one of :data:`PREDICTORS` on their
    subjects and items, by key: the :data:`TRIVIAL` ones as :func:`with_trivial`, and
    :func:`population_controls` with ``answers`` as the population (pass the test subjects). A subject of
    ``tables`` missing from ``answers`` raises.
    """
    first = next(iter(tables.values()))
    subjects = [int(s) for s in first["subject"].unique()]
    missing = sorted(set(subjects) - set(answers.index))
    if missing:
        raise PalignError(
            f"Subjects {missing[:5]} are not in the answers the controls read: pass the test subjects' answers."
        )
    out = with_trivial(tables, answers, inventory, known, keying)
    items = list(dict.fromkeys(first["item"]))
    keys = pd.MultiIndex.from_arrays([first["subject"].astype(int), first["item"]])
    for key, table in population_controls(
        answers, items, known, validation, inventory, keying
    ).items():
        out[key] = table.set_index(["subject", "item"]).loc[keys].reset_index()
    return out

"""The paper's alignment metric and its corrected variant (the predictors that calibrate it: :mod:`palign_nb.controls`).

Predictions live in a *long* table with one row per (subject, item): columns ``subject``,
``item``, ``trait``, ``target`` (0..5, 0 = missing) and ``predicted`` (1..5, NaN when the
model's answer could not be parsed; the paper drops those).

Two variants, always named:

* ``faithful``: the paper's code. A missing target (stored 0) is compared as the number 0.
* ``corrected``: rows whose target is missing are dropped.

Introduced in :doc:`/notebooks/02_dataset_splits`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .errors import PalignError
from .inventories import Inventory, check_name

VARIANTS: tuple[str, ...] = ("faithful", "corrected")


def _usable(predictions: pd.DataFrame, variant: str) -> pd.DataFrame:
    check_name(variant, VARIANTS, "metric variant")
    needed = {"subject", "trait", "target", "predicted"}
    if not needed <= set(predictions.columns):
        raise PalignError(
            f"Predictions need columns {sorted(needed)}; got {sorted(predictions.columns)}."
        )
    rows = predictions[predictions["predicted"].notna()]
    return rows if variant == "faithful" else rows[rows["target"] > 0]


def subject_trait_errors(
    predictions: pd.DataFrame, variant: str = "faithful"
) -> pd.DataFrame:
    """Mean absolute error per subject and trait: (n_subjects, n_traits), the paper's Score_t(s)."""
    rows = _usable(predictions, variant)
    err = (rows["predicted"] - rows["target"]).abs()
    return err.groupby([rows["subject"], rows["trait"]]).mean().unstack("trait")


def alignment_score(predictions: pd.DataFrame, variant: str = "faithful") -> pd.Series:
    """Per-trait MAE averaged over subjects, plus ``composite`` (their sum). Lower is better."""
    per_trait = subject_trait_errors(predictions, variant).mean()
    return pd.concat([per_trait, pd.Series({"composite": per_trait.sum()})])


def bootstrap_ci(
    per_subject: pd.Series, n_boot: int = 2000, level: float = 0.95, seed: int = 0
) -> tuple[float, float, float]:
    """Mean of a per-subject quantity with a percentile bootstrap CI over subjects: (mean, low, high)."""
    values = per_subject.dropna().to_numpy(dtype=float)
    if len(values) == 0:
        raise PalignError("No subjects to bootstrap over.")
    rng = np.random.default_rng(seed)
    means = values[rng.integers(0, len(values), size=(n_boot, len(values)))].mean(
        axis=1
    )
    tail = (1 - level) / 2 * 100
    return (
        float(values.mean()),
        float(np.percentile(means, tail)),
        float(np.percentile(means, 100 - tail)),
    )


def long_table(
    answers: pd.DataFrame, items: list[str], inventory: Inventory, keying: str
) -> pd.DataFrame:
    """A long predictions frame skeleton (no ``predicted`` yet) for ``answers`` x ``items``.

    It has the columns every predictions table has (``subject``, ``item``, ``trait``, ``stored``) and
    the ``target`` under ``keying`` (:func:`add_targets`).
    """
    from .inventories import targets

    stored = answers[items].to_numpy()
    n_subj, n_items = stored.shape
    return pd.DataFrame(
        {
            "subject": np.repeat(answers.index.to_numpy(), n_items),
            "item": np.tile(items, n_subj),
            "trait": np.tile(inventory.items.loc[items, "trait"].to_numpy(), n_subj),
            "stored": stored.reshape(-1),
            "target": targets(
                stored, inventory.items.loc[items, "sign"].to_numpy(), inventory, keying
            ).reshape(-1),
        }
    )


def add_targets(
    predictions: pd.DataFrame, inventory: Inventory, keying: str
) -> pd.DataFrame:
    """Add the ``target`` column to a store table holding ``item`` and ``stored`` (the stored answer).

    Model predictions are literal answers; the target depends on the keying convention.
    """
    from .inventories import targets

    out = predictions.copy()
    signs = inventory.items.loc[out["item"], "sign"].to_numpy()
    out["target"] = targets(out["stored"].to_numpy(), signs, inventory, keying)
    return out


def subject_predictions(
    subject, scored: pd.DataFrame, answers: pd.DataFrame, inventory: Inventory
) -> pd.DataFrame:
    """One subject's option table (indexed by item) as rows of the store's predictions format.

    Columns: ``subject``, ``item``, the option table's columns, ``trait`` and ``stored`` (the stored
    answer; :func:`add_targets` turns it into the target under a keying).
    """
    frame = scored.reset_index(names="item")
    frame.insert(0, "subject", subject)
    frame["trait"] = inventory.items.loc[frame["item"], "trait"].to_numpy()
    frame["stored"] = answers.loc[subject, frame["item"]].to_numpy()
    return frame

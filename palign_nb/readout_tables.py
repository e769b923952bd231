"""Every readout of :mod:`palign_nb.readouts` on a whole predictions table, and one row per method.

:func:`add_readouts` adds the point readouts and per-row scores to a table of option
probabilities; :func:`summarise_methods` sets the paper's reading of each method beside them.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .errors import PalignError
from .metrics import alignment_score
from .readouts import (
    PROB_COLUMNS,
    calibrated_median,
    distribution_median,
    expected_value,
    log_loss,
    modal_share,
    profile_spearman,
    proper_score_by_trait,
    ranked_probability_score,
    require_columns,
)


def add_readouts(
    table: pd.DataFrame, priors: pd.DataFrame | None = None, clip: float = 1e-6
) -> pd.DataFrame:
    """A predictions table with ``p_A``..``p_E`` plus the readouts and per-row scores of
    :mod:`palign_nb.readouts`.

    Adds ``median``, ``expected``, ``rps``, ``logloss`` (NaN on missing targets) and, when
    ``priors`` (one letter prior per subject, :func:`palign_nb.readouts.letter_priors_by_subject`)
    is given, ``calibrated_median``. ``predicted`` (the paper's argmax) is left as it is.
    """
    require_columns(table, ["subject", "target", *PROB_COLUMNS], "add_readouts")
    probs = table[PROB_COLUMNS].to_numpy(dtype=float)
    out = table.copy()
    out["median"] = distribution_median(probs)
    out["expected"] = expected_value(probs)
    if priors is not None:
        require_columns(priors, PROB_COLUMNS, "add_readouts (priors)")
        missing = set(table["subject"]) - set(priors.index)
        if missing:
            raise PalignError(
                f"No letter prior for subjects {sorted(map(str, missing))[:5]}: estimate one per subject "
                "with letter_priors_by_subject (same subject ids and type)."
            )
        out["calibrated_median"] = calibrated_median(
            probs, priors.loc[table["subject"], PROB_COLUMNS].to_numpy()
        )
    out["rps"] = ranked_probability_score(probs, table["target"])
    out["logloss"] = log_loss(probs, table["target"], clip)
    return out


def summarise_methods(
    tables: dict[str, pd.DataFrame], variant: str = "faithful"
) -> pd.DataFrame:
    """One row per method: the paper's reading beside the readouts and controls of this module.

    ``tables``: method label -> predictions table, after :func:`add_readouts` when it has option
    probabilities (a control without them gets NaN in the columns it cannot fill). Columns:

    * ``argmax (paper's protocol)``: paper composite (:func:`palign_nb.metrics.alignment_score`, ``variant``) of
      ``predicted`` (a model's argmax letter; a control's own prediction);
    * ``median``, ``calibrated median``: the same metric on those readouts;
    * ``RPS``, ``log-loss``: :func:`palign_nb.readouts.proper_score_by_trait` composites (sums over traits);
    * ``profile r (argmax)``, ``profile r (expected)``: mean Spearman r over the subjects that have one;
    * ``no r (argmax)``: share of subjects whose argmax r is undefined (a constant side);
    * ``modal share``: mean over subjects of :func:`palign_nb.readouts.modal_share` of the argmax answers.
    """
    rows = {}
    for label, table in tables.items():
        require_columns(
            table,
            ["subject", "trait", "target", "predicted"],
            f"summarise_methods ({label!r})",
        )
        argmax_r = profile_spearman(table, "predicted")["r"]
        rows[label] = {
            "argmax (paper's protocol)": _paper_composite(table, "predicted", variant),
            "median": _paper_composite(table, "median", variant),
            "calibrated median": _paper_composite(table, "calibrated_median", variant),
            "RPS": _proper_composite(table, "rps"),
            "log-loss": _proper_composite(table, "logloss"),
            "profile r (argmax)": float(argmax_r.mean()),
            "profile r (expected)": float(
                profile_spearman(table, "expected")["r"].mean()
            )
            if "expected" in table
            else np.nan,
            "no r (argmax)": float(argmax_r.isna().mean()),
            "modal share": float(modal_share(table, "predicted").mean()),
        }
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("method")


def _paper_composite(table: pd.DataFrame, readout: str, variant: str) -> float:
    """The paper's composite with ``readout`` as the prediction; NaN when the table lacks it."""
    if readout not in table or table[readout].isna().all():
        return np.nan
    return float(
        alignment_score(table.assign(predicted=table[readout]), variant)["composite"]
    )


def _proper_composite(table: pd.DataFrame, column: str) -> float:
    """:func:`palign_nb.readouts.proper_score_by_trait`'s composite of a score column; NaN when the table lacks it."""
    if column not in table or table[column].isna().all():
        return np.nan
    return float(proper_score_by_trait(table, column)["composite"])

"""Reading the model out from its whole option distribution.

The paper reads each answer as the argmax letter. A model that puts most mass on E for every
statement then "answers" 1 everywhere, and methods differ only in which constant letter they land
on. The option distribution (``p_A``..``p_E`` of :func:`palign_nb.scoring.option_table`, A = 5 ..
E = 1) carries more: where its mass sits *relative to the other items*, and how much it trusts an
answer. This module reads it in four ways, all pure functions on numpy / pandas:

* point readouts: the distribution's median (the value with the lowest expected absolute error,
  the loss the paper's metric uses) and its expected value;
* letter-bias calibration: divide out the letter prior of the system prompt, estimated from
  prompts whose answers are not test answers (contextual / batch calibration);
* proper scoring rules (ranked probability score, log-loss) that grade the whole distribution;
* within-person profile correlation and the modal-letter share, which tell "knows the person"
  from "answers one letter".

All of them at once on a predictions table: :mod:`palign_nb.readout_tables`. The predictors
that need no model, which these readouts are compared with, are in :mod:`palign_nb.controls`.
The paper metric is always :func:`palign_nb.metrics.alignment_score`.

Distributions are arrays (n, 5) in letter order A..E, the order of the ``p_`` columns. They are
over the model's *literal* answers, compared with ``target`` exactly as ``predicted`` is.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from .errors import PalignError
from .inventories import LETTER_TO_VALUE, OPTION_LETTERS

#: The option-probability columns of a predictions table, in letter order A..E.
PROB_COLUMNS: list[str] = [f"p_{x}" for x in OPTION_LETTERS]
#: The Likert value of each column of a distribution (A = 5 .. E = 1).
OPTION_VALUES: np.ndarray = np.array(
    [LETTER_TO_VALUE[x] for x in OPTION_LETTERS], dtype=float
)
#: Slack for "CDF >= 0.5": a CDF that is 0.5 on paper may be 0.4999999999 after floating-point sums.
CDF_TOLERANCE = 1e-9


# --- point readouts --------------------------------------------------------------------------------


def _distributions(probs: ArrayLike) -> np.ndarray:
    """``probs`` as float rows (n, 5), each renormalised to sum 1; a row with a NaN stays all NaN."""
    p = np.atleast_2d(np.asarray(probs, dtype=float))
    if p.ndim != 2 or p.shape[1] != len(OPTION_LETTERS):
        raise PalignError(
            f"Option distributions need shape (n, 5) in letter order A..E; got {p.shape}."
        )
    missing = np.isnan(p).any(axis=1)
    known = p[~missing]
    if (known < 0).any() or (known.sum(axis=1) <= 0).any():
        raise PalignError(
            "Option probabilities must be non-negative with a positive sum in every row."
        )
    out = np.full(p.shape, np.nan)
    out[~missing] = known / known.sum(axis=1, keepdims=True)
    return out


def _cdf_by_value(p: np.ndarray) -> np.ndarray:
    """CDF in value order: column k is P(answer <= k + 1), for values 1..5 (reverses A..E)."""
    return np.cumsum(p[:, ::-1], axis=1)


def distribution_median(probs: ArrayLike) -> np.ndarray:
    """The median answer of each distribution: the smallest value v in 1..5 with P(answer <= v) >= 0.5.

    The median minimises the expected absolute error, the loss of the paper's metric, so it is the
    point answer a distribution should give when graded that way (the argmax minimises the 0-1
    loss instead). Tie rule: when P(answer <= v) is exactly 0.5 every value from v to the next
    value with mass is a median; we take the lower, v (within ``CDF_TOLERANCE``). With real model
    probabilities an exact 0.5 does not occur. Rows with a NaN give NaN.
    """
    p = _distributions(probs)
    cdf = _cdf_by_value(p)
    first = np.argmax(
        cdf >= 0.5 - CDF_TOLERANCE, axis=1
    )  # index of the first True; the last CDF is 1
    return np.where(np.isnan(p).any(axis=1), np.nan, first + 1.0)


def expected_value(probs: ArrayLike) -> np.ndarray:
    """The mean answer of each distribution, sum_v v * p(v): a continuous readout (minimises squared error)."""
    return _distributions(probs) @ OPTION_VALUES


# --- letter-bias calibration -----------------------------------------------------------------------


def letter_prior(reference_probs: ArrayLike) -> np.ndarray:
    """The system prompt's letter prior: the mean option distribution over reference prompts, shape (5,).

    Both published estimators are this mean; they differ in the reference prompts.

    * Contextual calibration (Zhao et al. 2021, "Calibrate Before Use", ICML): content-free inputs
      ("N/A", "", "[MASK]") under the same system prompt. Whatever the model prefers there is the
      prompt's preference for letters, not an answer to any statement. The cleanest estimate.
    * Batch calibration (Zhou et al. 2024, "Batch Calibration", ICLR): the same prompt's batch of
      real items, here the subject's known items or its test items (their prompts, never their
      answers). It needs no extra prompts but assumes the letters are balanced over the batch, so
      it also removes a real overall level of the person (someone who agrees with everything).

    The mean of probabilities (not of log-probabilities) follows both papers.
    """
    p = _distributions(reference_probs)
    p = p[~np.isnan(p).any(axis=1)]
    if len(p) == 0:
        raise PalignError("No reference distributions to estimate a letter prior from.")
    prior = p.mean(axis=0)
    return prior / prior.sum()


def calibrate(probs: ArrayLike, prior: ArrayLike) -> np.ndarray:
    """Divide the letter prior out: p_cal(x) ∝ p(x) / prior(x), renormalised per row.

    ``prior``: (5,) for all rows, or (n, 5) one per row. This is Zhou et al.'s log p - log prior;
    Zhao et al. apply the same diagonal correction (W = diag(prior)^-1), then a softmax, which
    keeps the argmax but not the distribution, so we renormalise to keep medians meaningful. A
    prior equal to the content-free distribution turns it into the uniform one.
    """
    p = _distributions(probs)
    w = np.asarray(prior, dtype=float)
    if w.shape not in {(len(OPTION_LETTERS),), p.shape}:
        raise PalignError(
            f"A letter prior needs shape (5,) or {p.shape}; got {w.shape}."
        )
    if np.isnan(w).any() or (w <= 0).any():
        raise PalignError(
            "A letter prior must be positive for every letter (dividing by 0 is undefined)."
        )
    return _distributions(p / w)


def calibrated_median(probs: ArrayLike, prior: ArrayLike) -> np.ndarray:
    """:func:`distribution_median` of the calibrated distributions (:func:`calibrate`)."""
    return distribution_median(calibrate(probs, prior))


def letter_priors_by_subject(reference: pd.DataFrame) -> pd.DataFrame:
    """One :func:`letter_prior` per subject from a table with ``subject`` and ``p_A``..``p_E``.

    Pass the option tables of the subject's reference prompts under its system prompt (content-free
    or known items: contextual calibration), or its test rows themselves (batch calibration).
    Returns (n_subjects, 5) indexed by subject, columns ``p_A``..``p_E``.
    """
    require_columns(reference, ["subject", *PROB_COLUMNS], "letter_priors_by_subject")
    rows = {
        s: letter_prior(g[PROB_COLUMNS].to_numpy())
        for s, g in reference.groupby("subject", sort=False)
    }
    return pd.DataFrame.from_dict(
        rows, orient="index", columns=PROB_COLUMNS
    ).rename_axis("subject")


# --- proper scoring rules --------------------------------------------------------------------------


def _observed(observed: ArrayLike) -> np.ndarray:
    """Targets as floats with the missing value 0 turned into NaN (a proper score needs an outcome)."""
    obs = np.asarray(observed, dtype=float).reshape(-1)
    return np.where(obs > 0, obs, np.nan)


def ranked_probability_score(probs: ArrayLike, observed: ArrayLike) -> np.ndarray:
    """Ranked probability score per row: sum over the 4 thresholds v = 1..4 of (P(answer <= v) - 1[target <= v])^2.

    It grades the whole distribution on the ordinal scale (mass one step off costs less than mass
    four steps off), and it is proper: the forecaster's best expected score is its honest belief.
    Not divided by 4: in scale points, so for a sure forecast it equals ``abs(predicted - target)``, the
    paper's error (divide by 4 for the [0, 1] convention). 0 is perfect, 4 is all mass on the
    far end. Missing targets (0) give NaN.
    """
    p = _distributions(probs)
    obs = _observed(observed)
    if len(obs) != len(p):
        raise PalignError(f"{len(p)} distributions but {len(obs)} targets.")
    thresholds = np.arange(
        1, len(OPTION_LETTERS)
    )  # 1..4; the CDF at 5 is 1 for both sides
    cdf_obs = (obs[:, None] <= thresholds).astype(float)
    score = ((_cdf_by_value(p)[:, :-1] - cdf_obs) ** 2).sum(axis=1)
    return np.where(np.isnan(obs), np.nan, score)


def log_loss(probs: ArrayLike, observed: ArrayLike, clip: float = 1e-6) -> np.ndarray:
    """Log-loss per row: -log p(target), with p clipped below at ``clip``.

    Proper and sharp: it punishes confident wrong answers without bound, which is why the clip
    (1e-6: at most 13.8 nats per row) keeps one near-zero probability from dominating a mean. It
    ignores the order of the scale (a miss by one costs as much as a miss by four). Missing targets
    (0) give NaN.
    """
    p = _distributions(probs)
    obs = _observed(observed)
    if len(obs) != len(p):
        raise PalignError(f"{len(p)} distributions but {len(obs)} targets.")
    loss = np.full(len(obs), np.nan)
    ok = ~np.isnan(obs) & ~np.isnan(p).any(axis=1)
    column = (len(OPTION_LETTERS) - obs[ok]).astype(
        int
    )  # value 5 -> column 0 (A) .. value 1 -> column 4 (E)
    loss[ok] = -np.log(np.maximum(p[ok, column], clip))
    return loss


def proper_score_by_trait(table: pd.DataFrame, column: str) -> pd.Series:
    """A per-row score column averaged like the paper's metric: per subject and trait, then over subjects.

    Rows with a missing target or a NaN score are dropped (there is no faithful variant: a proper
    score needs an observed outcome). Returns the per-trait means plus ``composite``, their sum,
    so the RPS composite of sure forecasts equals the paper's corrected composite.
    """
    require_columns(
        table, ["subject", "trait", "target", column], "proper_score_by_trait"
    )
    rows = table[(table["target"] > 0) & table[column].notna()]
    per_trait = (
        rows.groupby(["subject", "trait"])[column].mean().unstack("trait").mean()
    )
    return pd.concat([per_trait, pd.Series({"composite": per_trait.sum()})])


# --- profile and degeneracy ------------------------------------------------------------------------


def profile_spearman(table: pd.DataFrame, readout: str = "predicted") -> pd.DataFrame:
    """Per subject: Spearman r between ``readout`` and the targets over its test items.

    Does the readout rank this person's items like the person does? A model that only shifts all
    answers up or down scores the same r as one that does not; a model that answers one letter has
    no r at all. Missing targets and NaN readouts are dropped; ties get average ranks. Returns
    columns ``r`` (NaN when either side is constant or fewer than 2 items remain: not an error),
    ``n_items``, ``readout_constant`` and ``target_constant``, so the NaNs can be counted.
    """
    require_columns(table, ["subject", "target", readout], "profile_spearman")
    rows = table[(table["target"] > 0) & table[readout].notna()]
    out = {}
    for subject, g in rows.groupby("subject", sort=False):
        readout_constant = g[readout].nunique() < 2
        target_constant = g["target"].nunique() < 2
        r = np.nan
        if not (readout_constant or target_constant):
            r = float(
                np.corrcoef(g[readout].rank(), g["target"].rank())[0, 1]
            )  # Pearson on ranks
        out[subject] = {
            "r": r,
            "n_items": len(g),
            "readout_constant": readout_constant,
            "target_constant": target_constant,
        }
    columns = ["r", "n_items", "readout_constant", "target_constant"]
    return pd.DataFrame.from_dict(out, orient="index", columns=columns).rename_axis(
        "subject"
    )


def modal_share(table: pd.DataFrame, readout: str = "predicted") -> pd.Series:
    """Per subject: the share of its answers (non-NaN ``readout``) that are its most common answer.

    1.0 means one letter for every item (a degenerate answer sheet); about 0.2 means all five
    used evenly. All rows count, missing targets included: it describes the model, not the person.
    """
    require_columns(table, ["subject", readout], "modal_share")
    rows = table[table[readout].notna()]
    return rows.groupby("subject", sort=False)[readout].agg(
        lambda x: x.value_counts().iloc[0] / len(x)
    )


# --- the columns a function needs -----------------------------------------------------------------


def require_columns(table: pd.DataFrame, columns: list[str], where: str) -> None:
    """Refuse a table without ``columns``, naming ``where`` and the columns it has."""
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise PalignError(
            f"{where} needs columns {missing}; the table has {sorted(map(str, table.columns))}."
        )

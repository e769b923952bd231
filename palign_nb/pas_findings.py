"""What chapter 05 measures around PAS, and the sentences it glues: pure functions over its tables.

The chapter shows PAS step by step for one subject and runs every subject through
:mod:`palign_nb.pas_every_subject`; the analyses around it live here: how stable the choice of
alpha is over redraws of the validation items (5.4) and the methods' scores and what they say
(5.5). How letter-like the steering directions are (5.5) is :mod:`palign_nb.pas_letters`, the
data-efficiency curve (5.7) :mod:`palign_nb.pas_efficiency`. Each ``*_findings`` function returns the glue keys of the prose, numbers and
:class:`~palign_nb.findings.Sentence` s chosen by them, for :meth:`palign_nb.context.Chapter.glue_all`.

Introduced in :doc:`/notebooks/05_pas`.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np
import pandas as pd

from . import pas
from .findings import Sentence, compare, listed
from .inventories import Inventory
from .metrics import VARIANTS, add_targets, alignment_score, subject_trait_errors

#: How the prose names each criterion of :data:`palign_nb.pas.ALPHA_CRITERIA`.
CRITERION_NAMES = {
    "argmax": "the paper's argmax criterion",
    "expected": "the expected error",
    "rps": "the RPS",
}


# --- 5.4 how stable is the choice of alpha ---------------------------------------------------------


def alpha_choices(
    tables: dict[float, pd.DataFrame],
    targets: np.ndarray,
    traits: np.ndarray,
    alphas: tuple[float, ...],
) -> Callable[[np.ndarray], dict[str, float]]:
    """A function of item positions: the alpha each criterion picks on those validation items, from each alpha's
    option ``tables`` (one row per item, answered items only), by :func:`palign_nb.pas.search_alpha`'s rule."""

    def choices(idx: np.ndarray) -> dict[str, float]:
        _, trials = pas.search_alpha(
            lambda a: tables[a].iloc[idx], targets[idx], traits[idx], alphas
        )
        return {
            c: float(trials.sort_values([*cols, "alpha"]).iloc[0]["alpha"])
            for c, cols in pas.ALPHA_CRITERIA.items()
        }

    return choices


def stratified_redraws(
    choices: Callable[[np.ndarray], dict[str, float]],
    traits: np.ndarray,
    trait_order: list[str],
    n_boot: int,
    seed: int,
) -> pd.DataFrame:
    """Each criterion's choice on ``n_boot`` redraws of the items, with replacement within each trait."""
    rng = np.random.default_rng(seed)
    strata = [np.flatnonzero(traits == t) for t in trait_order if (traits == t).any()]
    return pd.DataFrame(
        [
            choices(np.concatenate([rng.choice(g, size=len(g)) for g in strata]))
            for _ in range(n_boot)
        ]
    )


def stability_reading(shares: dict[str, float], n_alphas: int) -> str:
    """Which criterion picks the full set's alpha most often over the redraws, and where the paper's stands."""

    def text(c: str) -> str:
        return f"{CRITERION_NAMES[c]} ({shares[c]:.0%})"

    if n_alphas < 2:
        return "with a single alpha in the grid there is nothing to choose, so every criterion is trivially stable"
    best, worst = max(shares.values()), min(shares.values())
    if best - worst <= 1e-9:
        return (
            f"the three criteria are equally stable: each picks the full set's alpha in {best:.0%} of the redraws"
            + (" (every redraw agrees)" if best >= 1 else "")
        )
    top = [c for c in shares if shares[c] >= best - 1e-9]
    rest = [c for c in shares if c not in top]
    head = (
        f"{listed([text(c) for c in top])} {'is' if len(top) == 1 else 'are'} the most stable, against "
        f"{listed([text(c) for c in rest])}"
    )
    if "argmax" in top:
        return head + (
            "; the paper's criterion is the steadiest here"
            if len(top) == 1
            else "; the paper's criterion shares the top"
        )
    if shares["argmax"] <= worst + 1e-9:
        return head + "; the paper's criterion is the least stable of the three here"
    return head + "; the paper's criterion sits between the other two"


def stability_findings(
    full_choice: dict[str, float], redraws: pd.DataFrame, n_items: int, n_alphas: int
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Per criterion, the full set's alpha and the share of redraws that pick it; and the glue of section 5.4."""
    stability = pd.DataFrame(
        {
            "criterion": list(full_choice),
            "alpha_full": list(full_choice.values()),
            "share_same": [
                float((redraws[c] == full_choice[c]).mean()) for c in full_choice
            ],
        }
    )
    shares = dict(zip(stability["criterion"], stability["share_same"]))
    return stability, {
        "c05_stab_b": len(redraws),
        "c05_stab_n_items": n_items,
        "c05_stab_n_alphas": n_alphas,
        **{
            key: value
            for c, share in shares.items()
            for key, value in [
                (f"c05_stab_{c}", float(share)),
                (f"c05_stab_alpha_{c}", float(full_choice[c])),
            ]
        },
        "c05_stab_finding": Sentence(stability_reading(shares, n_alphas)),
    }


# --- 5.5 every subject, every variant --------------------------------------------------------------


def subject_alphas(table: pd.DataFrame) -> pd.DataFrame:
    """Per subject of a PAS predictions table: the alpha it was scored with and whether
    it fell back to the prompt alone."""
    return table.groupby("subject")[["alpha", "fallback"]].first()


def fallback_glue(chosen: pd.DataFrame, prefix: str) -> dict[str, Any]:
    """How many PAS fits in ``chosen`` (:func:`subject_alphas` rows) fell back (too few
    decided answers to probe: alpha 0, no validation), and the share of the others that
    chose alpha 0 (NaN: every fit fell back), as ``<prefix>_n_fallback`` and
    ``<prefix>_share_alpha_zero``."""
    return {
        f"{prefix}_n_fallback": int(chosen["fallback"].sum()),
        f"{prefix}_share_alpha_zero": float(
            (chosen.loc[~chosen["fallback"], "alpha"] == 0).mean()
        ),
    }


def method_scores(
    preds: dict[tuple[str, str], pd.DataFrame],
    unaligned: pd.DataFrame,
    keyings: list[str],
    inventory: Inventory,
) -> pd.DataFrame:
    """Every method's error (each trait and the composite, both variants) per keying: the unaligned model and
    always C on the same rows, then ``preds`` (by method and keying), each with its ``n_subjects``."""

    def rows(name: str, table: pd.DataFrame, key: str) -> list[dict]:
        scored = add_targets(table, inventory, key)
        return [
            {
                "method": name,
                "keying": key,
                "n_subjects": int(table["subject"].nunique()),
                "variant": v,
                **alignment_score(scored, v).to_dict(),
            }
            for v in VARIANTS
        ]

    out = []
    for key in keyings:
        # the keying's subjects: those its PAS + prompt ran (the other keying may run
        # fewer); the oracle may cover fewer still (``n_subjects`` says so)
        main = preds.get(("pas_icl", key))
        subjects = set(main["subject"] if main is not None else unaligned["subject"])
        base = unaligned[unaligned["subject"].isin(subjects)]
        out += rows("no_alignment", base, key) + rows(
            "always_C", base.assign(predicted=3.0), key
        )
        for (name, k), table in preds.items():
            if k == key:
                out += rows(name, table[table["subject"].isin(subjects)], key)
    return pd.DataFrame(out)


def method_findings(
    scores: pd.DataFrame,
    chosen: pd.DataFrame,
    timings: pd.DataFrame,
    pas_rows: pd.DataFrame,
    keying: str,
    inventory: Inventory,
) -> dict[str, Any]:
    """Section 5.5: every method's composite under ``keying``, how often alpha stayed 0, which method is better
    and whether the differences are large next to the subjects' spread (``pas_rows``: PAS + prompt's predictions)."""

    def comp(method: str) -> float:
        row = scores[
            (scores.method == method)
            & (scores.keying == keying)
            & (scores.variant == "faithful")
        ]
        return float(row["composite"].iloc[0]) if len(row) else float("nan")

    clean = chosen[chosen.method != "pas_oracle"]
    clean_scores = [
        comp(m) for m in ("pas_icl", "icl_known", "pas_alone", "no_alignment")
    ]
    largest = max(clean_scores) - min(clean_scores)
    per_subject = subject_trait_errors(
        add_targets(pas_rows, inventory, keying), "faithful"
    ).sum(axis=1)
    methods = "PAS + prompt, its prompt alone, PAS alone and the unaligned model"
    if len(per_subject) < 2:
        spread = (
            f"with one subject there is no subject-to-subject spread to set the largest difference between "
            f"{methods} ({largest:.2f}) against"
        )
    else:
        sd = float(per_subject.std())
        spread = (
            f"the largest difference between {methods} ({largest:.2f}) is "
            f"{'smaller' if largest < sd else 'larger'} than the subject-to-subject spread of PAS + prompt's "
            f"error (standard deviation {sd:.2f} over {len(per_subject)} subjects)"
        )
    oracle = timings[timings.method == "pas_oracle"]["seconds"]
    oracle_subjects = chosen.loc[
        (chosen.method == "pas_oracle") & (chosen.keying == keying), "subject"
    ].unique()
    pas_on_oracle = (
        float(
            alignment_score(
                add_targets(
                    pas_rows[pas_rows["subject"].isin(oracle_subjects)],
                    inventory,
                    keying,
                ),
                "faithful",
            )["composite"]
        )
        if len(oracle_subjects)
        else float("nan")
    )
    return {
        **{
            f"c05_{m.lower()}": comp(m)
            for m in (
                "pas_icl",
                "icl_known",
                "pas_alone",
                "no_alignment",
                "always_C",
                "pas_oracle",
            )
        },
        "c05_pas_vs_prompt": comp("pas_icl") - comp("icl_known"),
        **fallback_glue(clean, "c05"),
        "c05_methods_finding": Sentence(
            f"{compare('PAS + prompt', comp('pas_icl'), 'its prompt alone', comp('icl_known'))}, "
            f"{compare('PAS alone', comp('pas_alone'), 'the unaligned model', comp('no_alignment'))}, and "
            f"{compare('the oracle', comp('pas_oracle'), 'PAS + prompt', pas_on_oracle)}"
            f" on the oracle's {len(oracle_subjects)} subject(s)"
        ),
        "c05_n_oracle_subjects": len(oracle_subjects),
        "c05_pas_icl_oracle_subjects": pas_on_oracle,
        "c05_spread_finding": Sentence(spread),
        "c05_pas_seconds": float(
            timings[timings.method == "pas_icl"]
            .groupby(["subject", "keying"])["seconds"]
            .sum()
            .mean()
        ),
        "c05_oracle_seconds": float(oracle.mean()) if len(oracle) else float("nan"),
    }

"""What chapter 08 measures on the Short Dark Triad, and the sentences it glues: pure functions.

The chapter runs every method on the SD3 (:mod:`palign_nb.sd3_methods`); the numbers around it
are computed here: the inventory and its keying check (8.1), the setting's test subjects (8.2) and
item split (8.3), the trivial predictors over all test subjects (8.5), every method's error with
bootstrap intervals (8.7) and what each method cost (8.8). Each ``*_glue`` and ``*_findings``
function returns the glue keys of the prose, numbers and :class:`~palign_nb.findings.Sentence` s
chosen by them, for :meth:`palign_nb.context.Chapter.glue_all`.

Introduced in :doc:`/notebooks/08_dark_triad`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from .errors import PalignError
from .findings import (
    Sentence,
    compare,
    count_of,
    plural,
    share_word,
    significance_possible,
)
from .inventories import Inventory
from .metrics import VARIANTS, add_targets, alignment_score
from .metrics import subject_trait_errors
from .pas_findings import fallback_glue, subject_alphas
from .splits import SD3_SETTINGS, ItemSplit

#: The predictors that need no model, set beside the methods on the run's subjects (8.7).
BARS: tuple[str, ...] = ("always_C", "always_A", "trait_mean")
#: The methods whose composite the prose quotes, and the two bars it quotes (8.7).
QUOTED: tuple[str, ...] = (
    "no_alignment", "icl", "p2", "pas_icl", "pas_alone", "dpo", "grpo", "always_C", "trait_mean",
)  # fmt: skip


# --- 8.1 to 8.3: the inventory, the subjects, the items ----------------------------------------


def inventory_glue(
    inventory: Inventory, n_respondents: int, n_differ: int
) -> dict[str, Any]:
    """Section 8.1: the SD3's size and the cells on which the two keyings differ (none, or an error)."""
    if n_differ:
        raise PalignError(
            f"{n_differ} SD3 cells differ between the keyings: the SD3 data should store literal "
            "answers, so both conventions must give the same targets."
        )
    return {
        "c08_n_items": len(inventory.items),
        "c08_n_reversed": int((inventory.items["sign"] < 0).sum()),
        "c08_n_respondents": n_respondents,
        "c08_keying_cells_differ": n_differ,
    }


def subject_glue(
    setting: str, test_answers: pd.DataFrame, run: list, items: list[str]
) -> dict[str, Any]:
    """Section 8.2: the setting, its test subjects (``test_answers``: their rows), how many of them skipped
    one of ``items`` (stored 0), and the run's subjects."""
    return {
        "c08_setting": setting,
        "c08_setting_label": SD3_SETTINGS[setting],
        "c08_n_test_subjects": len(test_answers),
        "c08_n_test_incomplete": int((test_answers[items] == 0).any(axis=1).sum()),
        "c08_n_subjects": len(run),
        "c08_run_size": Sentence(plural(len(run), "subject")),
    }


def split_glue(
    known_all: list[str], split: ItemSplit, test: list[str], inventory: Inventory
) -> dict[str, Any]:
    """Section 8.3: the known items (``split``: those that probe and those that choose alpha) and test items."""
    per_trait = len(test) // len(inventory.traits)
    return {
        "c08_n_known": len(known_all),
        "c08_n_test": len(test),
        "c08_n_probe": len(split.known),
        "c08_n_val": len(split.validation),
        "c08_test_per_trait": per_trait,
        "c08_one_answer": 1
        / per_trait,  # one answer off by one point, in a trait's mean
    }


def split_table(
    inventory: Inventory, known: list[str], validation: list[str]
) -> pd.DataFrame:
    """Every item with its role (known, validation or test) and whether it is reversed, by trait and role."""
    role = pd.Series("test", index=inventory.items.index)
    role[known] = "known (probes, prompts)"
    role[validation] = "validation (alpha)"
    table = inventory.items.assign(
        role=role.to_numpy(), reversed=inventory.items["sign"] < 0
    )
    return table[["trait", "role", "reversed", "text"]].sort_values(["trait", "role"])


# --- 8.5 the trivial predictors over all test subjects -------------------------------------------


def trivial_findings(scores: pd.DataFrame, given: np.ndarray) -> dict[str, Any]:
    """Section 8.5: the best trivial predictor (papi keying, faithful metric), always C, A and the trait mean,
    and whether "strongly agree" (5) is common enough in the test answers ``given`` to make always A costly."""
    composite = scores[
        (scores.trait == "composite")
        & (scores.keying == "papi")
        & (scores.variant == "faithful")
    ].set_index("predictor")["score"]
    share_top = float(
        (given[given > 0] == 5).mean()
    )  # answers at the top of the agreement scale
    verdict = (
        'does worse than always C: "strongly agree" is a costly default'
        if composite["always_A"] > composite["always_C"]
        else "does no worse than always C"
    )
    return {
        "c08_best_trivial": composite.idxmin().replace("_", " "),
        "c08_best_trivial_score": float(composite.min()),
        "c08_all_always_c": float(composite["always_C"]),
        "c08_all_always_a": float(composite["always_A"]),
        "c08_all_trait_mean": float(composite["trait_mean"]),
        "c08_always_a_finding": Sentence(
            f"{share_word(share_top).capitalize()} of the test subjects' answers to the test statements "
            f'({share_top:.0%}) are "strongly agree", and always A {verdict}'
        ),
    }


# --- 8.6 and 8.7 every method --------------------------------------------------------------------


def alpha_choices(predictions: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """The alpha each PAS method chose per subject, and whether it fell back to the prompt alone."""
    return pd.concat(
        [
            subject_alphas(predictions[m]).assign(method=m)
            for m in ("pas_icl", "pas_alone")
        ]
    ).reset_index()


def alpha_glue(chosen: pd.DataFrame) -> dict[str, Any]:
    """How many PAS fits fell back, and the share of the others that chose alpha 0 (NaN if all fell back)."""
    return fallback_glue(chosen, "c08")


def method_scores(
    tables: dict[str, pd.DataFrame], inventory: Inventory, keying: str
) -> tuple[pd.DataFrame, dict[str, pd.Series]]:
    """Each table's error per trait and composite under ``keying`` (one row per method and variant), and each
    method's composite per subject (faithful), for the bootstrap."""
    rows, per_subject = [], {}
    for method, table in tables.items():
        scored = add_targets(table, inventory, keying)  # the target follows the keying
        rows += [
            {"method": method, "variant": v, **alignment_score(scored, v).to_dict()}
            for v in VARIANTS
        ]
        per_subject[method] = subject_trait_errors(scored, "faithful").sum(axis=1)
    return pd.DataFrame(rows), per_subject


def rank_reading(
    n: int, per_trait: int, cis: pd.DataFrame, best: str, second: str
) -> str:
    """How much ``n`` subjects with ``per_trait`` test items per trait can tell, and whether the intervals of
    the two best model-based methods (``cis``: :func:`~palign_nb.results.composite_intervals`) separate them."""
    text = (
        f"With {plural(n, 'subject')} and {plural(per_trait, 'test item')} per trait, a single changed "
        f"answer moves a trait error by {1 / per_trait:.2f}, and in a paired test over these subjects "
        + significance_possible(2.0 ** (1 - n))
    )  # an exact sign-flip test: at best p = 2 / 2^n
    ci = cis.set_index("method")
    pair = f"the two best model-based methods, {best} and {second}"
    if n < 2:
        return (
            text
            + ". With one subject the bootstrap intervals are points, so the figure separates no methods"
        )
    if (
        ci.loc[best, "high"] < ci.loc[second, "low"]
        or ci.loc[second, "high"] < ci.loc[best, "low"]
    ):
        return text + f". The 95 % intervals of {pair}, do not overlap"
    return (
        text + f". The 95 % intervals of {pair}, overlap: this run does not rank them"
    )


def method_findings(
    faithful: pd.DataFrame,
    cis: pd.DataFrame,
    unaligned: pd.DataFrame,
    n_subjects: int,
    per_trait: int,
) -> dict[str, Any]:
    """Section 8.7 from ``faithful`` (one row per method and bar: trait errors and ``composite``), the
    intervals ``cis`` and the unaligned model's predictions: each composite, the best model-based method,
    how many beat always C, the unaligned model's favourite letter, and the sentences chosen by them."""

    def comp(method: str) -> float:
        return float(faithful.loc[method, "composite"])

    model = faithful.drop(index=list(BARS))["composite"]
    best = model.idxmin()
    top_letter = unaligned[[f"p_{x}" for x in "ABCDE"]].idxmax(axis=1).str[-1]
    top, top_share = (
        top_letter.value_counts().idxmax(),
        float(top_letter.value_counts(normalize=True).max()),
    )
    ranked = model.sort_values()
    constant = (
        "close to that of a constant answer"
        if top_share >= 0.9
        else "not simply that of a constant answer"
    )
    return {
        **{f"c08_{m.lower()}": comp(m) for m in QUOTED},
        "c08_best_method": best,
        "c08_best_method_score": comp(best),
        "c08_n_beat_always_c": int((model < comp("always_C")).sum()),
        "c08_n_methods": int(len(faithful) - len(BARS)),
        "c08_pas_vs_icl": comp("pas_icl") - comp("icl"),
        "c08_no_alignment_top": top,
        "c08_no_alignment_top_share": top_share,
        "c08_beat_finding": Sentence(
            'answering "C" to everything is beaten by '
            + count_of(
                int((ranked < comp("always_C")).sum()),
                len(ranked),
                "model-based methods",
            )
        ),
        "c08_no_alignment_finding": Sentence(
            f"Without alignment the model answers {top} on {share_word(top_share)} of the SD3 questions "
            f"({top_share:.0%}), so its error ({comp('no_alignment'):.2f}) is {constant}"
        ),
        "c08_pas_icl_finding": Sentence(
            compare(
                "PAS with the few-shot prompt",
                comp("pas_icl"),
                "the few-shot prompt alone",
                comp("icl"),
            )
        ),
        "c08_rank_finding": Sentence(
            rank_reading(n_subjects, per_trait, cis, *ranked.index[:2])
        ),
    }


# --- 8.8 what each method cost --------------------------------------------------------------------


def seconds_per_subject(
    timings: pd.DataFrame, capture_s: float, n_subjects: int
) -> pd.Series:
    """Each method's mean seconds per subject; a PAS method also carries its subject's share of the activation
    capture (``capture_s`` for all ``n_subjects``), which it would need if run alone."""
    per_method = (
        timings.groupby(["method", "subject"])["seconds"].sum().groupby("method").mean()
    )
    per_method[per_method.index.str.startswith("pas_")] += capture_s / n_subjects
    return per_method


def cost_findings(
    per_method: pd.Series, timings: pd.DataFrame, capture_s: float
) -> dict[str, Any]:
    """Section 8.8: PAS's, DPO's and RL's seconds per subject, and the share of all the methods' time (the
    capture included) that went to DPO and RL."""
    training = timings.loc[timings.method.isin(["dpo", "grpo"]), "seconds"].sum()
    share = float(training / (timings["seconds"].sum() + capture_s))
    return {
        "c08_pas_seconds": float(per_method["pas_icl"]),
        "c08_dpo_seconds": float(per_method["dpo"]),
        "c08_grpo_seconds": float(per_method["grpo"]),
        "c08_time_finding": Sentence(
            f"{share_word(share)} of the methods' time ({share:.0%}) went to DPO and RL"
        ),
    }

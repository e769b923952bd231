"""What chapter 02's predictors that need no model score, and the sentences it glues.

The predictors themselves live in :mod:`palign_nb.controls`; chapter 02 scores them on
all PAPI test subjects under both keyings and both metric variants (2.5), on the two
Dark Triad settings (2.5) and with bootstrap intervals (2.6). This module runs those
loops into long tables and turns their numbers into the glue of the prose: numbers and
:class:`~palign_nb.findings.Sentence` s chosen by them, for
:meth:`palign_nb.context.Chapter.glue_all`.

Introduced in :doc:`/notebooks/02_dataset_splits`.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from .controls import TRIVIAL_KINDS, population_controls, trivial_predictions
from .findings import Sentence, compare, count_of
from .inventories import KEYINGS, VALUE_TO_LETTER, Inventory
from .metrics import VARIANTS, alignment_score, bootstrap_ci, subject_trait_errors
from .paper_numbers import PAPER_MODEL, PAPER_TABLE1, paper_composite
from .splits import ItemSplit

#: A section's glue: key -> number, string or :class:`~palign_nb.findings.Sentence`.
Glue = dict[str, Any]
#: The paper's Table 1: PAS on its model (``PAPER_MODEL``), composite of the five traits.
PAPER_PAS_8B: float = paper_composite("PAS")
#: That result as a labelled reference line for :func:`palign_nb.charts.bar_scores`.
PAPER_REFERENCE: dict[str, float] = {f"paper, {PAPER_MODEL} (PAS)": PAPER_PAS_8B}
#: The controls of :func:`palign_nb.controls.population_controls`, in table order.
CONTROL_KINDS: tuple[str, ...] = ("item_prior_loo", "trait_offset", "best_constant")


def trivial_scores(
    answers: pd.DataFrame,
    inventory: Inventory,
    known: list[str],
    test: list[str],
    kinds: tuple[str, ...] = TRIVIAL_KINDS,
    keyings: tuple[str, ...] = KEYINGS,
) -> pd.DataFrame:
    """Each trivial predictor's score (:func:`palign_nb.controls.trivial_predictions`)
    on the ``test`` items of every subject of ``answers``, per trait and composite,
    under each keying and both metric variants: one row per (predictor, keying,
    variant, trait)."""
    rows = []
    for kind in kinds:
        for keying in keyings:
            preds = trivial_predictions(answers, inventory, known, test, kind, keying)
            for variant in VARIANTS:
                rows += [
                    {
                        "predictor": kind,
                        "keying": keying,
                        "variant": variant,
                        "trait": trait,
                        "score": score,
                    }
                    for trait, score in alignment_score(preds, variant).items()
                ]
    return pd.DataFrame(rows)


def control_scores(
    answers: pd.DataFrame,
    inventory: Inventory,
    known: list[str],
    test: list[str],
    validation: list[str],
) -> tuple[pd.DataFrame, dict[tuple[str, str], str]]:
    """The population controls' scores in the long format of :func:`trivial_scores`,
    each subject of ``answers`` read against the others; and the best constant's
    letter (chosen on the ``validation`` items) by (keying, variant)."""
    rows, best_letter = [], {}
    for keying in KEYINGS:
        for variant in VARIANTS:
            preds = population_controls(
                answers, test, known, validation, inventory, keying, variant
            )
            value = int(preds["best_constant"]["predicted"].iloc[0])
            best_letter[keying, variant] = VALUE_TO_LETTER[value]
            for kind, table in preds.items():
                rows += [
                    {
                        "predictor": kind,
                        "keying": keying,
                        "variant": variant,
                        "trait": trait,
                        "score": score,
                    }
                    for trait, score in alignment_score(table, variant).items()
                ]
    return pd.DataFrame(rows), best_letter


def composite_of(
    composites: pd.DataFrame, kind: str, keying: str, variant: str
) -> float:
    """The composite of predictor ``kind`` under ``keying`` and ``variant`` in
    ``composites`` (rows of :func:`trivial_scores` or :func:`control_scores` with
    trait ``composite``)."""
    sel = composites[
        (composites["predictor"] == kind)
        & (composites["keying"] == keying)
        & (composites["variant"] == variant)
    ]
    return float(sel["score"].iloc[0])


def intro_sentence(always_c: float) -> Sentence:
    """Whether answering C to everything beats every method the paper reports."""
    best = PAPER_TABLE1.loc[PAPER_TABLE1["composite"].idxmin()]
    paper = f"{best['method']} on {best['model']}"
    if always_c < best["composite"]:
        return Sentence(
            'The last of those results is sobering: answering "C" to every '
            f"question (composite {always_c:.2f}) beats every method the paper "
            f"reports (its best, {paper}, scores {best['composite']:.2f})."
        )
    return Sentence(
        'The last of those results sets the bar: answering "C" to every question '
        f"scores {always_c:.2f}, against {best['composite']:.2f} for the paper's best "
        f"method ({paper})."
    )


def controls_sentence(scores: dict[str, float], letter: str) -> tuple[str, str]:
    """The predictors that need no model ranked best first, and the name of the
    strongest.

    ``scores``: composite by key (``trait_offset``, ``trait_mean``, ``item_prior_loo``,
    ``always_C``, ``best_constant``); ``letter``: the best constant's."""
    names = {
        "trait_offset": "the trait-offset control",
        "trait_mean": "the trait mean",
        "item_prior_loo": "the leave-one-out item prior",
        "always_C": "always C",
        "best_constant": f"the best constant letter {letter}",
    }
    ranked = sorted(names, key=lambda kind: scores[kind])
    parts = [
        f"{names[kind]} "
        f"({'chosen on the validation items; ' if kind == 'best_constant' else ''}"
        f"{scores[kind]:.2f})"
        for kind in ranked
    ]
    return ", ".join(parts[:-1]) + " and " + parts[-1], names[ranked[0]]


def trivial_findings(
    composites: pd.DataFrame,
    best_letter: dict[tuple[str, str], str],
    paper_pas: float = PAPER_PAS_8B,
) -> Glue:
    """The glue of section 2.5: every composite the prose quotes, the best constant
    letter, how many trivial predictors beat ``paper_pas``, and the sentences, all
    judged under the paper's protocol (``papi`` keying, ``faithful`` metric).

    ``composites``: the composite rows of :func:`trivial_scores` and
    :func:`control_scores`; ``best_letter``: as :func:`control_scores` returns it."""
    glue: Glue = {"c02_paper_pas8b": paper_pas}
    for kind in ("always_A", "always_C", "trait_mean", *CONTROL_KINDS):
        for keying in KEYINGS:
            for variant in VARIANTS:
                key = f"c02_{kind}_{keying}_{variant}".replace("always_", "always")
                glue[key] = composite_of(composites, kind, keying, variant)
    letter = best_letter["papi", "faithful"]
    glue["c02_best_constant_letter"] = letter
    paper = composites[
        (composites["keying"] == "papi") & (composites["variant"] == "faithful")
    ]
    trivial = paper[paper["predictor"].isin(TRIVIAL_KINDS)]
    n_beat = int((trivial["score"] < paper_pas).sum())
    glue["c02_n_beat_paper"] = n_beat
    score = dict(zip(paper["predictor"], paper["score"].astype(float)))
    always_c, always_a, trait_mean = (
        score["always_C"],
        score["always_A"],
        score["trait_mean"],
    )
    glue["c02_intro_finding"] = intro_sentence(always_c)
    if max(always_c, trait_mean) < paper_pas:
        below = "both below"
    elif min(always_c, trait_mean) > paper_pas:
        below = "both above"
    else:
        below = "one on each side of"
    beaten = count_of(n_beat, len(trivial), "trivial predictors")
    verb = "beats" if n_beat == 1 else "beat"
    glue["c02_trivial_finding"] = Sentence(
        f"Answering **C** to everything scores {always_c:.4f} and the **trait mean** "
        f"{trait_mean:.4f}, {below} the paper's {paper_pas:.2f}; {beaten} {verb} it."
    )
    glue["c02_summary_trivial"] = Sentence(
        f"{beaten[0].upper()}{beaten[1:]} {verb} the paper's best reported composite "
        f"({paper_pas:.2f})"
    )
    a_literal = composite_of(composites, "always_A", "literal", "faithful")
    glue["c02_alwaysA_finding"] = Sentence(
        f"A is right more often: it scores {always_a:.2f} against {a_literal:.2f} "
        "under `literal`"
        if always_a < a_literal
        else f"yet A does not score better under `papi` ({always_a:.2f} against "
        f"{a_literal:.2f} under `literal`)"
    )
    ranking, strongest = controls_sentence(score, letter)
    offset = score["trait_offset"]
    offset_vs_mean = compare(
        "The trait-offset control", offset, "the trait mean", trait_mean
    )
    offset_vs_mean += (
        ": putting each item's difficulty back helps."
        if offset < trait_mean
        else ": putting each item's difficulty back does not help here."
    )
    if letter == "C":
        constant = (
            "The best letter on the validation items is C, so the best constant is "
            "always C."
        )
    elif score["best_constant"] > always_c:
        constant = (
            f"The letter that did best on the validation items, {letter}, does "
            "worse than C on the test items: a constant chosen without peeking does "
            "not carry over."
        )
    else:
        constant = (
            f"The letter that did best on the validation items, {letter}, also beats C "
            "on the test items."
        )
    glue["c02_controls_finding"] = Sentence(
        "Under the paper's protocol the predictors that need no model rank, best "
        f"first: {ranking}. {offset_vs_mean} {constant} The strongest, {strongest}, is "
        "the bar a method has to clear."
    )
    glue["c02_controls_summary"] = Sentence(
        "the predictors that need no model rank, best first (`papi` keying, `faithful` "
        f"metric): {ranking}"
    )
    return glue


def sd3_trivial_findings(
    answers: pd.DataFrame,
    inventory: Inventory,
    designs: dict[str, tuple[list, ItemSplit]],
) -> tuple[pd.DataFrame, Glue]:
    """Always A, always C and the trait mean (``papi`` keying) on each Dark Triad
    setting's own test subjects and test items, in both metric variants: one row per
    (setting, predictor, variant) with its composite; and their glue with each
    setting's best.

    ``designs``: setting -> (its test subjects, its item split); the trait mean reads
    all of the split's known items, validation items included."""
    kinds = ("always_A", "always_C", "trait_mean")
    frames = []
    for name, (chosen, split) in designs.items():
        scores = trivial_scores(
            answers.loc[chosen],
            inventory,
            split.all_known,
            split.test,
            kinds,
            ("papi",),
        )
        frames.append(scores[scores["trait"] == "composite"].assign(setting=name))
    table = pd.concat(frames, ignore_index=True).rename(columns={"score": "composite"})
    table = table[["setting", "predictor", "variant", "composite"]]
    glue: Glue = {}
    for r in table.itertuples():
        key = f"c02_sd3_{r.setting}_{r.predictor}_{r.variant}".replace(
            "always_", "always"
        )
        glue[key] = r.composite
    best = table.loc[table.groupby(["setting", "variant"])["composite"].idxmin()]
    for r in best.itertuples():
        glue[f"c02_sd3_{r.setting}_best_{r.variant}"] = r.predictor.replace("_", " ")
    return table, glue


def bootstrap_findings(
    answers: pd.DataFrame,
    inventory: Inventory,
    known: list[str],
    test: list[str],
    keying: str,
    n_boot: int,
    seed: int,
    paper_pas: float = PAPER_PAS_8B,
) -> tuple[pd.DataFrame, Glue]:
    """Always C and the trait mean under ``keying``: the mean per-subject composite with
    its 95 % percentile bootstrap interval over subjects
    (:func:`palign_nb.metrics.bootstrap_ci`, ``n_boot`` resamples) in both variants;
    and the glue, with where the ``faithful`` intervals lie against ``paper_pas``."""
    rows = []
    for kind in ("always_C", "trait_mean"):
        preds = trivial_predictions(answers, inventory, known, test, kind, keying)
        for variant in VARIANTS:
            per_subject = subject_trait_errors(preds, variant).sum(axis=1)
            mean, low, high = bootstrap_ci(per_subject, n_boot=n_boot, seed=seed)
            rows.append(
                {
                    "predictor": kind,
                    "variant": variant,
                    "composite": mean,
                    "low": low,
                    "high": high,
                }
            )
    cis = pd.DataFrame(rows)
    glue: Glue = {"c02_n_boot": n_boot, "c02_keying": keying}
    for r in cis.itertuples():
        glue[f"c02_ci_{r.predictor}_{r.variant}_low"] = r.low
        glue[f"c02_ci_{r.predictor}_{r.variant}_high"] = r.high
    faithful = cis[cis["variant"] == "faithful"]
    if faithful["high"].max() < paper_pas:
        text = (
            f"Both intervals lie wholly below the paper's {paper_pas:.2f}: the gap is "
            "larger than the sampling noise over subjects."
        )
    elif faithful["low"].min() > paper_pas:
        text = f"Both intervals lie wholly above the paper's {paper_pas:.2f}."
    else:
        text = (
            f"At least one interval reaches the paper's {paper_pas:.2f}: with this "
            "keying the gap is within the sampling noise over subjects."
        )
    glue["c02_ci_finding"] = Sentence(text)
    return cis, glue

"""Where the unaligned model stands, and the sentences chapter 03 glues about it.

Before any alignment, chapter 03 asks the model with the default system prompt: its
answers against those of the predictors that need no model (always C, the trait mean),
whether it knows which statements people endorse (:mod:`palign_nb.knowledge`), and
whether it can copy the answers its few-shot prompt shows. Each ``*_findings`` function
returns the glue keys of the prose, numbers and :class:`~palign_nb.findings.Sentence` s
chosen by them, for :meth:`palign_nb.context.Chapter.glue_all`.

Introduced in :doc:`/notebooks/03_asking_the_model`.
"""

from __future__ import annotations

from typing import Any

import altair as alt
import pandas as pd

from . import charts, findings, knowledge, metrics
from .controls import PREDICTORS
from .findings import Sentence
from .inventories import KEYINGS, OPTION_LETTERS, Inventory
from .readouts import PROB_COLUMNS, expected_value

#: How the table of :func:`copy_findings` names the run with the answers in its prompt.
SHOWN = "answers in the prompt"
#: ... the run under the default system prompt ...
DEFAULT = "default prompt"
#: ... and the constant middle answer, as :data:`palign_nb.controls.PREDICTORS` does.
ALWAYS_C = PREDICTORS["always_C"]
#: How :func:`palign_nb.results.scores_by_keying`'s table names the unaligned model.
NO_ALIGNMENT = "no alignment"


def unaligned_predictions(
    scored: pd.DataFrame, subjects: list, answers: pd.DataFrame, inventory: Inventory
) -> pd.DataFrame:
    """One option table (the same answers for everyone) as every subject's rows of the
    store's predictions format."""
    rows = [
        metrics.subject_predictions(s, scored, answers, inventory) for s in subjects
    ]
    return pd.concat(rows, ignore_index=True)


def answer_shares(scored: pd.DataFrame) -> pd.Series:
    """The share of items that got each option, A to E."""
    shares = (
        scored["predicted"]
        .value_counts(normalize=True)
        .reindex([5, 4, 3, 2, 1], fill_value=0.0)
    )
    shares.index = list(OPTION_LETTERS)
    return shares.rename("share of items")


def composite_of(scores: pd.DataFrame, method: str, keying: str, variant: str) -> float:
    """The composite error of one row of :func:`palign_nb.results.scores_by_keying`."""
    row = scores[
        (scores.method == method)
        & (scores.keying == keying)
        & (scores.variant == variant)
    ]
    return float(row["composite"].iloc[0])


def middle_sentence(top: str) -> str:
    """Whether the model's favourite letter is the middle of the scale."""
    if top == "C":
        return (
            "Its favourite answer is the middle of the scale, which this metric "
            "rewards (chapter 02)."
        )
    return (
        f"Its favourite answer, {top}, is not the middle of the scale, which this "
        "metric would reward (chapter 02)."
    )


def unaligned_findings(
    scores: pd.DataFrame, shares: pd.Series, keying: str, n_subjects: int
) -> dict[str, Any]:
    """Glue of 3.5: the unaligned model's and always C's composites under ``keying``
    (from :func:`palign_nb.results.scores_by_keying`), its favourite answer (from
    :func:`answer_shares`) and the sentences they choose."""
    model = composite_of(scores, NO_ALIGNMENT, keying, "faithful")
    always_c = composite_of(scores, ALWAYS_C, keying, "faithful")
    top, share = str(shares.idxmax()), float(shares.max())
    versus = findings.compare("the unaligned model", model, ALWAYS_C, always_c)
    return {
        "c03_noalign_composite": model,
        "c03_noalign_composite_corrected": composite_of(
            scores, NO_ALIGNMENT, keying, "corrected"
        ),
        "c03_always_c_composite": always_c,
        "c03_share_top": share,
        "c03_top_option": top,
        "c03_n_subjects": n_subjects,
        "c03_same_answer_finding": Sentence(findings.same_answer_share(share, top)),
        "c03_middle_finding": Sentence(middle_sentence(top)),
        "c03_vs_c_finding": Sentence(versus),
    }


def knowledge_by_keying(
    scored: pd.DataFrame,
    answers: pd.DataFrame,
    population: list,
    subjects: list,
    inventory: Inventory,
) -> dict[str, pd.DataFrame]:
    """:func:`palign_nb.knowledge.item_knowledge` of one option table, per keying."""
    return {
        key: knowledge.item_knowledge(
            scored, answers, population, subjects, inventory, key
        )
        for key in KEYINGS
    }


def knowledge_findings(
    knows: dict[str, pd.DataFrame], keying: str
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The mean, least and largest correlation under each keying (over the run's
    subjects), and the glue of the item-knowledge check, judged under ``keying``."""
    rows = knows[keying]
    table = pd.DataFrame(
        {key: k["rho"].describe()[["mean", "min", "max"]] for key, k in knows.items()}
    ).round(3)
    sentence = knowledge.knowledge_finding(
        float(rows["rho"].mean()), float(rows["p"].max()), keying
    )
    return table, {
        **{f"c03_item_rho_{key}": float(k["rho"].mean()) for key, k in knows.items()},
        "c03_item_rho_items": int(rows["items"].iloc[0]),
        "c03_knowledge_finding": Sentence(sentence),
    }


def knowledge_points(
    scored: pd.DataFrame,
    answers: pd.DataFrame,
    population: list,
    inventory: Inventory,
    keying: str,
) -> pd.DataFrame:
    """One row per item of ``scored``: its statement and trait, the model's expected
    answer and the ``population``'s mean answer under ``keying``."""
    items = list(scored.index)
    people = knowledge.population_targets(answers, items, population, inventory, keying)
    return pd.DataFrame(
        {
            "statement": inventory.items.loc[items, "text"].to_numpy(),
            "trait": inventory.items.loc[items, "trait"].to_numpy(),
            "model": expected_value(scored[PROB_COLUMNS].to_numpy()),
            "people": people.mean().to_numpy(),
        }
    )


def knowledge_chart(points: pd.DataFrame) -> alt.Chart:
    """The model's expected answer against people's mean answer, one point per item."""
    return charts.scatter(
        points,
        "people",
        "model",
        x_title="people's mean answer (test subjects)",
        y_title="unaligned model's expected answer",
        tooltip=["statement", "trait"],
    )


def copy_verdict(shown: float, default: float, always_c: float) -> str:
    """What the copy check says about the prompt methods, from the composite errors on
    the listed items with the answers shown, under the default prompt and always C."""
    if shown < min(always_c, default):
        return (
            "It does use what it reads: listing the answers helps on the very items "
            "listed, beyond always C, so differences between the prompt methods of "
            "the next chapters can reflect the person."
        )
    if shown < default:
        return (
            "Listing the answers helps, yet the model still does no better than always "
            "C on the very items listed, so differences between the prompt methods of "
            "the next chapters say little about whether it learned the person."
        )
    return (
        "It cannot even copy what it is shown: listing the answers does not help on "
        "the very items listed, so differences between the prompt methods of the "
        "next chapters (few-shot, P2, PAS on the few-shot prompt) cannot show that it "
        "learned the person; they reflect its preferences among the letters."
    )


def copy_findings(
    shown: pd.DataFrame,
    default: pd.DataFrame,
    subject,
    answers: pd.DataFrame,
    inventory: Inventory,
) -> tuple[pd.Series, dict[str, Any]]:
    """The copy check: option tables of known items asked with their answers in the
    prompt (``shown``) and under the default prompt, graded against the stored values
    (the answers the prompt shows: the ``papi`` reading), beside always C. Returns each
    composite error (corrected variant) and the glue of the check."""
    rows = {
        name: metrics.add_targets(
            metrics.subject_predictions(subject, run, answers, inventory),
            inventory,
            "papi",
        )
        for name, run in ((SHOWN, shown), (DEFAULT, default))
    }
    rows[ALWAYS_C] = rows[DEFAULT].assign(predicted=3.0)
    scores = pd.Series(
        {
            name: float(metrics.alignment_score(table, "corrected")["composite"])
            for name, table in rows.items()
        },
        name="composite error on the known items (corrected)",
    )
    answered = rows[SHOWN][rows[SHOWN]["target"] > 0]
    score, by_default, by_c = (float(scores[k]) for k in (SHOWN, DEFAULT, ALWAYS_C))
    finding = (
        "With the answers in its prompt its composite error on these items is "
        f"{score:.2f}, against {by_default:.2f} under the default prompt and "
        f"{by_c:.2f} for always C. {copy_verdict(score, by_default, by_c)}"
    )
    return scores, {
        "c03_n_copy_items": len(shown),
        "c03_copy_composite": score,
        "c03_copy_default": by_default,
        "c03_copy_always_c": by_c,
        "c03_copy_exact": float((answered["predicted"] == answered["target"]).mean()),
        "c03_copy_finding": Sentence(finding),
    }

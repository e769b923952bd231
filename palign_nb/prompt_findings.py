"""What chapter 06 measures around the prompting baselines, and the sentences it glues.

The chapter builds the few-shot and P2 prompts for one subject; the bookkeeping around
them lives here: the two keyings' labels side by side (:func:`keyed_labels`), the P2
texts compared (:func:`p2_comparison`), the scores and what they say
(:func:`score_findings`), the probability of the subject's own answer
(:func:`answer_probabilities`) and the cost (:func:`cost_findings`). Every subject is
scored and recorded by :mod:`palign_nb.prompt_runs`. Each ``*_findings`` function
returns glue keys and values, numbers and :class:`~palign_nb.findings.Sentence` s chosen
by them, for :meth:`palign_nb.context.Chapter.glue_all`.

Introduced in :doc:`/notebooks/06_prompting_baselines`.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pandas as pd

from .baseline_scores import changed_share, composite, with_references
from .findings import Sentence, compare, share_word, trend
from .inventories import KEYINGS, Inventory
from .metrics import add_targets
from .prompt_baselines import known_answers
from .results import stage_seconds

#: The label of the run's model's own P2 description in the compared tables (first
#: subject only).
FIRST_ONLY = "p2_generated (first subject)"


def prompt_tokens(tokenizer: Any, text: str) -> int:
    """How many tokens ``text`` takes in a prompt (no special tokens)."""
    return len(tokenizer(text, add_special_tokens=False)["input_ids"])


def keyed_labels(
    answers: pd.DataFrame, subject, known: list[str], inventory: Inventory
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The label each keying's prompt shows for every known statement of ``subject``,
    and how many differ (``c06_n_flipped``) and how many minus-keyed statements show a
    rejection as accurate (``c06_minus_shown_accurate``: stored 4 or 5 under ``papi``).
    """
    shown = {
        k: known_answers(answers, subject, known, inventory, k)[1] for k in KEYINGS
    }
    minus = inventory.items.loc[known, "sign"].to_numpy() < 0
    table = pd.DataFrame(
        {
            "statement": inventory.items.loc[known, "text"].to_numpy(),
            "key": np.where(minus, "minus", "plus"),
            **{
                f"{k} shows": [inventory.labels[int(v)] for v in shown[k]]
                for k in KEYINGS
            },
        }
    )
    return table, {
        "c06_n_flipped": int((shown["papi"] != shown["literal"]).sum()),
        "c06_minus_shown_accurate": int((minus & (shown["papi"] >= 4)).sum()),
    }


def describe_p2(text: str, statements: list[str]) -> dict[str, int]:
    """Three crude measures of a P2 description: its words, the known ``statements`` it
    copies word for word, and the scale words ("accurate", "agree", ...) it kept."""
    lower = text.lower()
    pattern = r"\b(?:in)?accurate\b|\b(?:dis)?agree\b"
    return {
        "words": len(text.split()),
        "statements copied verbatim": sum(
            s.lower().rstrip(".") in lower for s in statements
        ),
        "scale words kept": len(re.findall(pattern, lower)),
    }


def p2_comparison(
    texts: dict[str, str | None], statements: list[str], seconds: float | None
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """:func:`describe_p2` of each description that exists (``texts``: the shipped one
    first, then the generated one, by name), and the glue of section 6.2: both texts'
    words and copied statements and the generated one's writing ``seconds``, NaN unless
    both texts exist."""
    table = pd.DataFrame(
        {name: describe_p2(t, statements) for name, t in texts.items() if t is not None}
    )
    both = table.shape[1] == 2
    glued = {}
    for row, key in [(0, "words"), (1, "copied")]:
        for col, who in [(0, "shipped"), (1, "generated")]:
            value = int(table.iloc[row, col]) if both else float("nan")
            glued[f"c06_p2_{who}_{key}"] = value
    glued["c06_p2_generate_s"] = float(seconds) if both else float("nan")
    return table, glued


def compared_tables(
    predictions: dict[str, pd.DataFrame], no_alignment: pd.DataFrame
) -> dict[str, pd.DataFrame]:
    """The unaligned model's rows in front of the chapter's predictions
    (:func:`palign_nb.baseline_scores.with_references`), the generated description's
    labelled :data:`FIRST_ONLY` (it was scored for the first subject only)."""
    compared = with_references(predictions, {"no alignment": no_alignment})
    if "p2_generated" in compared:
        compared[FIRST_ONLY] = compared.pop("p2_generated")
    return compared


def score_findings(
    scores: pd.DataFrame,
    compared: dict[str, pd.DataFrame],
    keying: str,
    n_known: int,
    paper_few_shot: float,
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Section 6.4: the few-shot prompts' composites under each target keying (the
    table), and every method's composite, the shares of answers changed and the
    sentences they choose."""

    def comp(method: str, key: str = keying) -> float:
        return composite(scores, method, key)

    unaligned = compared.get("no alignment")
    covered = unaligned is not None
    icl_changed = changed_share(compared["icl_papi"], unaligned)
    p2_changed = changed_share(compared["p2"], unaligned)
    glued: dict[str, Any] = {
        f"c06_{m.replace(' ', '_')}_composite": comp(m)
        for m in ["icl_papi", "icl_literal", "p2", "always C", "trait mean"]
    }
    glued["c06_noalign_composite"] = comp("no alignment")
    if FIRST_ONLY in compared:
        glued["c06_p2_generated_composite"] = comp(FIRST_ONLY)
    for p in KEYINGS:
        for t in KEYINGS:
            glued[f"c06_icl_{p}_on_{t}"] = comp(f"icl_{p}", t)
    few_shot, trait_mean = comp("icl_papi"), comp("trait mean")
    papi_on = [comp("icl_papi", t) for t in ("papi", "literal")]
    if covered:
        changed = (
            f"few-shot changed {share_word(icl_changed)} of the unaligned model's "
            f"answers ({icl_changed:.0%}), P2 {share_word(p2_changed)} "
            f"({p2_changed:.0%})"
        )
        unaligned_c = comp("no alignment")
        beats = (
            f"{compare('few-shot', few_shot, 'the unaligned model', unaligned_c)}, and "
        )
    else:
        changed = (
            "chapter 03's answers do not cover this run, so how many answers the "
            "prompts changed is not known"
        )
        beats = ""
    learned = (
        f"Whether the model turns a list of {n_known} answers into answers about new "
        "statements shows against the references: "
        f"{beats}{compare('few-shot', few_shot, 'the trait-mean lookup', trait_mean)}."
    )
    glued |= {
        "c06_keying": keying,
        "c06_icl_changed": icl_changed,
        "c06_p2_changed": p2_changed,
        "c06_keying_finding": Sentence(
            trend("the same few-shot answers' composite", *papi_on)
        ),
        "c06_icl_rows_changed": changed_share(
            compared["icl_papi"], compared["icl_literal"]
        ),
        "c06_paper_few_shot": paper_few_shot,
        "c06_changed_finding": Sentence(changed),
        "c06_learned_finding": Sentence(learned),
    }
    table = pd.DataFrame(
        {
            f"graded with {t} targets": [comp(f"icl_{p}", t) for p in KEYINGS]
            for t in KEYINGS
        },
        index=[f"prompt shows {p} labels" for p in KEYINGS],
    )
    return table.round(3), glued


def answer_probability(table: pd.DataFrame, inventory: Inventory, keying: str) -> float:
    """Mean probability a table's option distributions put on the subject's own option,
    graded under ``keying`` (missing answers left out)."""
    graded = add_targets(table, inventory, keying)
    graded = graded[graded["target"] > 0]
    probs = graded[[f"p_{x}" for x in "ABCDE"]].to_numpy()
    own = 5 - graded["target"].to_numpy().astype(int)
    return float(probs[np.arange(len(graded)), own].mean())


def answer_probabilities(
    compared: dict[str, pd.DataFrame], subject, inventory: Inventory, keying: str
) -> pd.DataFrame:
    """:func:`answer_probability` of each table over all subjects (not for a table of
    the first subject only) and over ``subject``'s rows, to four decimals."""
    first = {m: t[t["subject"] == subject] for m, t in compared.items()}
    return pd.DataFrame(
        {
            "all subjects": {
                m: answer_probability(t, inventory, keying)
                for m, t in compared.items()
                if "first subject" not in m
            },
            "first subject": {
                m: answer_probability(t, inventory, keying) for m, t in first.items()
            },
        }
    ).round(4)


def p_answer_findings(p_answer: pd.DataFrame) -> dict[str, Any]:
    """The probabilities of :func:`answer_probabilities` the prose quotes, and how far
    few-shot and P2 move the unaligned model's (nearer than 0.0005: not at all)."""
    everyone = p_answer["all subjects"]
    glued: dict[str, Any] = {
        f"c06_p_answer_{key}": float(everyone[name])
        for name, key in [
            ("no alignment", "noalign"),
            ("icl_papi", "icl"),
            ("p2", "p2"),
        ]
        if name in p_answer.index
    }
    if "no alignment" in p_answer.index:

        def moves(name: str, method: str) -> str:
            shift = everyone[method] - everyone["no alignment"]
            if round(shift, 3) == 0:
                return f"{name} leaves it where it was (to three decimals)"
            return (
                f"{name} {'raises' if shift > 0 else 'lowers'} it by {abs(shift):.3f}"
            )

        text = (
            f"against the unaligned model, {moves('few-shot', 'icl_papi')} and "
            f"{moves('P2', 'p2')}"
        )
    else:
        text = (
            "chapter 03's answers do not cover this run, so there is no unaligned "
            "probability to compare with"
        )
    glued["c06_p_answer_finding"] = Sentence(text)
    if FIRST_ONLY in p_answer.index:
        glued["c06_p_answer_p2_generated"] = float(
            p_answer.loc[FIRST_ONLY, "first subject"]
        )
        glued["c06_p_answer_p2_first"] = float(p_answer.loc["p2", "first subject"])
    return glued


def cost_findings(timings: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, float]]:
    """Mean seconds per subject of each method and stage (to 1/100 s), and the scoring
    seconds of few-shot and P2 the prose quotes."""
    per_subject = stage_seconds(timings).round(2)
    return per_subject, {
        "c06_icl_score_s": float(per_subject.loc["icl_papi", "score"]),
        "c06_p2_score_s": float(per_subject.loc["p2", "score"]),
    }

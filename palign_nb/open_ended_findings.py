"""What chapter 10 finds in its free-text answers and their judges, and the sentences it glues: pure
functions.

The steering strength (10.2), what the check set says about the offline judge (10.3), what it
reads in the answers (10.4) and what the paper's judge found (10.5). Each function returns the
glue keys of the prose, numbers and :class:`~palign_nb.findings.Sentence` s chosen by them, for
:meth:`palign_nb.context.Chapter.glue_all`; the run itself is :mod:`palign_nb.open_ended`.

Introduced in :doc:`/notebooks/10_open_ended`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from .findings import Sentence, share_word
from .open_ended import JudgeRun

#: The check set's answer templates (:data:`palign_nb.judging.CHECK_TEMPLATES`) whose accuracy the prose quotes.
CHECK_KEYS = {
    "c10_check_acc_yes_quoted": "Yes, {s}",
    "c10_check_acc_yes_plain": "Yes, that is exactly me.",
    "c10_check_acc_not_me": "No, that is not me at all.",
    "c10_check_acc_quoted": "No. I would never say that {s}",
}


def alpha_glue(persona_alpha: float, pas_alpha: float) -> dict[str, Any]:
    """The steering strength: the persona's own (chosen by chapter 05) unless ``pas_alpha`` >= 0 sets it."""
    chosen = pas_alpha < 0
    return {
        "c10_alpha": float(persona_alpha if chosen else pas_alpha),
        "c10_alpha_source": "chosen by chapter 05 on validation items"
        if chosen
        else "set by the pas_alpha parameter",
    }


def generation_glue(
    texts: dict[str, list[str]], seconds: dict[str, float]
) -> dict[str, Any]:
    """Section 10.2: the share of PAS answers that are word for word the ICL answers, and the seconds."""
    return {
        "c10_pas_same_as_icl": float(
            np.mean([a == b for a, b in zip(texts["PAS"], texts["ICL"])])
        ),
        "c10_gen_seconds": float(sum(seconds.values())),
    }


def check_findings(
    check: pd.DataFrame, seconds: float
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Section 10.3: per check template (``check``: :func:`palign_nb.judging.validate_stance`), the share the
    offline judge got right and its mean stance; and the glue: accuracies, how often an affirming answer
    outranks a denying one of the same statement, and whether quoting the statement in a denial fools it."""
    accuracy = (
        check.assign(answer=np.where(check["polarity"] > 0, "affirms", "denies"))
        .groupby("template", sort=False)
        .agg(
            answer=("answer", "first"),
            accuracy=("correct", "mean"),
            mean_stance=("stance", "mean"),
        )
        .reset_index()
    )
    pos = check[check["polarity"] > 0].groupby("item")["stance"].apply(list)
    neg = check[check["polarity"] < 0].groupby("item")["stance"].apply(list)
    pairwise = float(
        np.mean([a > d for item in pos.index for a in pos[item] for d in neg[item]])
    )
    acc_of = dict(zip(accuracy["template"], accuracy["accuracy"]))
    plain = float(
        np.mean(
            [acc_of["Yes, that is exactly me."], acc_of["No, that is not me at all."]]
        )
    )
    quoted = float(acc_of["No. I would never say that {s}"])
    if quoted < plain:
        text = (
            "So the judge reads an answer's stance better when the answer says it in plain words "
            f"({plain:.0%} right on a plain yes or no) than when the statement's words appear inside a denial "
            f"({quoted:.0%}): a similarity of meaning is not an inference"
        )
    else:
        text = (
            "On this check set the judge did no worse on denials that quote the statement "
            f"({quoted:.0%} right) than on a plain yes or no ({plain:.0%}), although a similarity of meaning "
            "is not an inference"
        )
    return accuracy, {
        "c10_n_check_items": int(check["item"].nunique()),
        "c10_check_n": len(check),
        "c10_check_accuracy": float(check["correct"].mean()),
        "c10_check_pairwise": pairwise,
        "c10_check_acc_affirm": float(check.loc[check.polarity > 0, "correct"].mean()),
        **{key: float(acc_of[template]) for key, template in CHECK_KEYS.items()},
        "c10_check_seconds": seconds,
        "c10_check_finding": Sentence(text),
    }


def offline_findings(
    long: pd.DataFrame, statements: pd.DataFrame
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Section 10.4: each method's mean stance towards the subject's side (``long``'s ``sides``), how many
    answers affirm, how many statements the subject affirms, and how ICL and PAS lean next to the base model."""
    offline = long.groupby("method", sort=False)["sides"].mean().reset_index()
    lean = dict(zip(offline["method"], offline["sides"]))

    def reading(m: str) -> str:
        a, b = lean[m], lean["base"]
        word = "more" if a > b else "less" if a < b else "as much"
        return f"{m}'s answers lean {word} towards the subject's side {'than' if a != b else 'as'} the base model's ({a - b:+.2f})"

    return offline, {
        **{f"c10_sides_{m.lower()}": float(v) for m, v in lean.items()},
        "c10_share_affirming": float((long["stance"] > 0).mean()),
        "c10_share_target_affirm": float((statements["target"] > 3).mean()),
        "c10_offline_finding": Sentence("; ".join(reading(m) for m in ("ICL", "PAS"))),
    }


def judge_findings(run: JudgeRun, n_statements: int) -> dict[str, Any]:
    """Section 10.5: whether the paper's judge ran, how many verdicts parsed, how often a verdict of 4 or more
    agrees with a stance towards the subject's side, and the run's size for the intro."""
    judged, out = run.judged, {}
    size = f"{n_statements} statement{'s' if n_statements != 1 else ''}, "
    if judged is None:
        text = "Without verdicts there is nothing to set beside the offline judge's stances"
    else:
        parsed = judged["judge_choice"].notna()
        out["c10_judge_parse_fail"] = int((~parsed).sum()) / len(judged)
        text = f"{share_word(float(parsed.mean())).capitalize()} of the verdicts ({parsed.mean():.0%}) could be parsed"
        if parsed.any():  # agreement is defined only when some verdict parsed
            agree = float(
                ((judged["judge_choice"] >= 4) == (judged["sides"] > 0))[parsed].mean()
            )
            out["c10_judge_agreement"] = agree
            text += (
                "; on those, a verdict of 4 or more and a stance towards the subject's side agree on "
                f"{share_word(agree)} of the answers ({agree:.0%})"
            )
        else:
            text += (
                ": this judge did not follow the output format, so there is no verdict to compare with the "
                "offline judge"
            )
    return {
        **out,
        "c10_judge_status": run.status,
        "c10_judge_finding": Sentence(text),
        "c10_run_size": Sentence(
            size
            + (
                f"judged by {run.name}"
                if judged is not None
                else "without the paper's judge"
            )
        ),
        "c10_judge_ran": int(judged is not None),
        "c10_judge_n": 0 if judged is None else len(judged),
    }

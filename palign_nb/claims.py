"""Chapter 09's verdicts on the paper's claims, and the findings of its later sections.

Pure functions over what the chapter read and measured (a :class:`~palign_nb.comparison.Comparison`,
the paired tests, the timings, the data-efficiency curve): each returns the glue keys of the prose,
numbers and :class:`~palign_nb.findings.Sentence` s chosen by them, and where a section shows a
table, that table. Methods are named by registry key; labels appear only in what is returned.

Introduced in :doc:`/notebooks/09_results`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from .comparison import (
    DEGENERATE_AT,
    Comparison,
    beats,
    best_of,
    label,
    strongest_control,
)
from .inventories import VALUE_TO_LETTER
from .findings import (
    TIE,
    Sentence,
    count_of,
    listed,
    same_answer_share,
)
from .methods import methods_for
from .paper_numbers import PAPER_TABLE1, PAPER_TIME_FRACTION, paper_composite
from .significance import DEGENERATE_VERDICT, claim_verdict


def sd3_findings(comp: Comparison, setting: str, setting_label: str) -> dict[str, Any]:
    """Section 9.4: the best method on the Dark Triad and how many beat always C."""
    models = comp.model_methods
    tied, best_score, best_text = best_of(comp.scores["composite"], models)
    n_beat_c = sum(beats(comp.composite(m), comp.composite("always_C")) for m in models)
    return {
        "c09_sd3_setting": setting,
        "c09_sd3_setting_label": setting_label,
        "c09_sd3_n_subjects": int(comp.tables["pas_icl"]["subject"].nunique()),
        "c09_sd3_best": label(tied[0]),
        "c09_sd3_best_score": best_score,
        "c09_sd3_best_finding": Sentence(best_text),
        "c09_sd3_composites": comp.composites(),
        **{
            f"c09_sd3_{name}": comp.composite(key)
            for name, key in [
                ("pas", "pas_icl"),
                ("icl", "icl"),
                ("always_c", "always_C"),
                ("trait_mean", "trait_mean"),
            ]
        },
        "c09_sd3_n_beat_c": n_beat_c,
        "c09_sd3_beat_c_finding": Sentence(
            f"{count_of(n_beat_c, len(models), 'model-based methods')} "
            f"{'beats' if n_beat_c == 1 else 'beat'} always C"
        ),
    }


# --- 9.5 cost ---------------------------------------------------------------------------------------


# --- 9.6 data efficiency ----------------------------------------------------------------------------


# --- 9.7 the keying convention ----------------------------------------------------------------------


# --- 9.8 the claims ---------------------------------------------------------------------------------


def oracle_findings(like: Comparison | None) -> tuple[dict[str, Any], str, str]:
    """The oracle (alpha chosen on the test items) like for like: its gain over its own prompt at alpha 0 minus
    PAS's gain over its own prompt (``like``: the four on their common rows, the oracle's subjects, keys
    ``pas_oracle``, ``icl_paper``, ``pas_icl``, ``icl_known``; None when the oracle or its prompt is not in
    the store). Returns the glue, and the claims table's 'this run' and verdict."""
    names = {
        "pas_oracle": "oracle",
        "icl_paper": "oracle at alpha 0",
        "pas_icl": label("pas_icl"),
        "icl_known": label("icl_known"),
    }
    numbers: dict[str, float | None] = dict.fromkeys(names.values())
    if like is None:
        text, verdict, run = (
            (
                "The oracle (α chosen on the test items) was not run, or its prompt at α = 0 is not in the "
                "store, so what choosing α on the test items is worth was not measured."
            ),
            "not measured",
            "oracle not run",
        )
    else:
        score = {names[k]: like.composite(k) for k in names}
        numbers.update(score)
        oracle_gain = score["oracle at alpha 0"] - score["oracle"]
        clean_gain = score[names["icl_known"]] - score[names["pas_icl"]]
        leak = oracle_gain - clean_gain
        gains = (
            f"Like for like, steering moves its own prompt from {score[names['icl_known']]:.2f} to "
            f"{score[names['pas_icl']]:.2f} with α chosen on validation items (a gain of {clean_gain:.2f}) and "
            f"from {score['oracle at alpha 0']:.2f} to {score['oracle']:.2f} with α chosen on the test items "
            f"(a gain of {oracle_gain:.2f}); "
        )
        if leak > TIE:
            text = (
                gains
                + f"choosing α on the test items flatters PAS by {leak:.2f}: that difference is the leak."
            )
            verdict = "the oracle flatters PAS"
        elif leak < -TIE:
            text = (
                gains
                + f"choosing α on the test items gains {-leak:.2f} less in this run, so no leak shows."
            )
            verdict = "no leak in this run"
        else:
            text = (
                gains
                + "choosing α on the test items adds nothing in this run: no leak."
            )
            verdict = "no leak in this run"
        run = (
            f"gain {oracle_gain:.2f} (α on test) vs {clean_gain:.2f} (α on validation): leak {leak:.2f}"
            f" ({like.n_subjects} subject(s))"
        )
        text += f" (Over the oracle's {like.n_subjects} subject(s).)"
    return (
        {"c09_oracle_numbers": numbers, "c09_leak_finding": Sentence(text)},
        run,
        verdict,
    )


#: The paired claims: the other side of "PAS beats X" by key (the strongest control is added by the run).
PAIRED = ("icl", "dpo", "grpo", "no_alignment")


def claims_findings(
    comp: Comparison,
    paired: pd.DataFrame,
    summary: pd.DataFrame,
    oracle: tuple[str, str],
    cost: pd.DataFrame,
    training: dict[str, Any],
    paper_training: dict[str, Any],
    n_rank_changes: int,
    n_ranked: int,
    paper_always_c: float,
    n_paper_subjects: int,
    model_id: str,
    paper_model: str,
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Section 9.8: each claim of the paper, what it reported, what this run measured and the verdict (a paired
    sign-flip test over subjects where one applies: :func:`palign_nb.significance.claim_verdict`), and the sentences
    on how many reproduce, the bar set by the data and what this run cannot tell. ``paired``: PAS + prompt
    against every key (:func:`palign_nb.results.paired_comparison`); ``summary``: the readouts by key
    (:func:`palign_nb.readout_comparison.readout_summary`); ``oracle``: the 'this run' and verdict of
    :func:`oracle_findings`."""
    n = comp.n_subjects
    paper_pas = paper_composite("PAS")
    pas_degenerate = bool(summary.loc["pas_icl", "modal share"] > DEGENERATE_AT)
    controls, bar = strongest_control(comp)
    strongest = controls[0]  # a tie has the same composite

    def one_letter(key: str) -> str:
        share = float(summary.loc[key, "modal share"])
        return (
            f"; {label(key)} answers one letter (modal share {share:.0%})"
            if share > DEGENERATE_AT
            else ""
        )

    paper_rows = {m.key: m.paper for m in methods_for("ipip")}
    sides = [
        (
            f"PAS beats {label(k)}",
            k,
            f"{paper_pas:.2f} vs {paper_composite(paper_rows[k]):.2f} ({paper_rows[k]})"
            if paper_rows[k]
            else "implied",
        )
        for k in PAIRED
    ]
    sides += [
        ("PAS beats the strongest no-model control", strongest, "not examined"),
        (
            "steering adds to its own prompt",
            "icl_known",
            "not separated (its few-shot row shows all 120 answers)",
        ),
    ]
    rows, verdicts = [], {}
    for claim, key, paper_text in sides:
        row = paired[paired["method"] == key]
        diff, p = (
            (float(row["mean difference"].iloc[0]), float(row["p (subjects)"].iloc[0]))
            if len(row)
            else (np.nan, np.nan)
        )
        verdicts[key] = claim_verdict(diff, p, pas_degenerate)
        rows.append(
            {
                "claim": claim,
                "paper": paper_text,
                "this run": (
                    f"{comp.composite('pas_icl'):.2f} vs {comp.composite(key):.2f} ({label(key)}; "
                    f"p = {p:.2g}, {n} subjects)"
                    + one_letter("pas_icl")
                    + one_letter(key)
                ),
                "verdict": verdicts[key],
                "paired test": True,
            }
        )
    rows.append(
        {
            "claim": "the reported PAS numbers are honest held-out numbers",
            "paper": "alpha chosen on the test items",
            "this run": oracle[0],
            "verdict": oracle[1],
            "paired test": False,
        }
    )
    n_beat_bar = sum(beats(comp.composite(m), bar) for m in comp.model_methods)
    rows.append(
        {
            "claim": "aligned methods beat the predictors that need no model",
            "paper": "not examined",
            "this run": f"{bar:.2f} for the strongest ({listed([label(k) for k in controls])}); "
            f"{n_beat_bar} of {len(comp.model_methods)} methods beat it",
            "verdict": f"always C ({paper_always_c:.2f} on all {n_paper_subjects} subjects) "
            + ("beats" if beats(paper_always_c, paper_pas) else "does not beat")
            + f" the paper's PAS ({paper_pas:.2f})",
            "paired test": False,
        }
    )
    frac_dpo, frac_grpo = (
        cost.loc["dpo", "PAS's fraction"],
        cost.loc["grpo", "PAS's fraction"],
    )
    paper_fd, paper_fg = PAPER_TIME_FRACTION["dpo"], PAPER_TIME_FRACTION["grpo"]
    rows.append(
        {
            "claim": f"PAS needs ~1/{1 / paper_fd:.0f} of DPO's and ~1/{1 / paper_fg:.0f} of PPO's time",
            "paper": f"{paper_fd:.2f} and {paper_fg:.2f}",
            "this run": f"{frac_dpo:.2f} and {frac_grpo:.2f} ({training['dpo_steps']} DPO and "
            f"{training['grpo_steps']} RL steps; the paper: {paper_training['steps']})",
            "verdict": "PAS is cheaper than both"
            if max(frac_dpo, frac_grpo) < 1
            else "PAS is not cheaper than both at these settings",
            "paired test": False,
        }
    )
    rows.append(
        {
            "claim": "the ranking does not depend on the keying",
            "paper": "one convention only",
            "this run": f"{n_rank_changes} of {n_ranked} ranks change",
            "verdict": "holds" if n_rank_changes == 0 else "the ranking moves",
            "paired test": False,
        }
    )
    claims = pd.DataFrame(rows)
    on_pairs = claims.loc[claims["paired test"], "verdict"]
    n_reproduce, n_degenerate = (
        int((on_pairs == "reproduces").sum()),
        int((on_pairs == DEGENERATE_VERDICT).sum()),
    )
    reproduced = (
        f"{count_of(n_reproduce, len(on_pairs), 'claims with a paired test')} "
        f"{'reproduces' if n_reproduce == 1 else 'reproduce'} with statistical support"
    )
    if n_degenerate:
        reproduced += (
            f"; PAS answers one letter, so the {n_degenerate} where it scores better "
            f"{'is' if n_degenerate == 1 else 'are'} marked degenerate instead"
        )
    paper_best = PAPER_TABLE1.loc[PAPER_TABLE1["composite"].idxmin()]
    base = comp.tables["no_alignment"]["predicted"].value_counts(normalize=True)
    before = same_answer_share(float(base.iloc[0]), VALUE_TO_LETTER[int(base.index[0])])
    plural = "s" if n != 1 else ""
    limits = (
        (
            f"What this run cannot tell: anything about {paper_model}, the paper's model ({model_id} is another "
            f"model: without alignment, {before}), and any difference smaller than the spread across {n} "
            f"subject{plural}."
        )
        if paper_model.lower() not in model_id.lower()
        else (
            f"This run uses the paper's model (without alignment, {before}); what it cannot tell is any "
            f"difference smaller than the spread across its {n} subject{plural}."
        )
    )
    return claims, {
        "c09_verdicts": {label(k): v for k, v in verdicts.items()},
        **{
            f"c09_verdict_{name}": verdicts[key]
            for name, key in [
                ("icl", "icl"),
                ("dpo", "dpo"),
                ("grpo", "grpo"),
                ("control", strongest),
                ("steering", "icl_known"),
            ]
        },
        "c09_pas_modal_share": float(summary.loc["pas_icl", "modal share"]),
        "c09_n_reproduce": n_reproduce,
        "c09_reproduce_finding": Sentence(reproduced[0].upper() + reproduced[1:] + "."),
        "c09_paper_best": float(paper_best["composite"]),
        "c09_bar_finding": Sentence(
            f'On the paper\'s own data, answering "C" everywhere scores {paper_always_c:.2f}, '
            + (
                "better than"
                if beats(paper_always_c, paper_best["composite"])
                else "no better than"
            )
            + f" the paper's best reported method ({paper_best['method']}, {paper_best['model']}: "
            f"{paper_best['composite']:.2f}), so a method has to beat that bar before its ranking against other "
            "methods means anything."
        ),
        "c09_base_modal_share": float(base.iloc[0]),
        "c09_limits_finding": Sentence(limits),
    }

"""Does the steering direction carry the person or only a letter? Chapter 05's letter-vector check (5.5).

Introduced in :doc:`/notebooks/05_pas`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from . import pas, probing
from .findings import Sentence
from .inventories import Inventory, shown_values


def letter_table(
    personas: dict,
    answers: pd.DataFrame,
    known: list[str],
    acts: np.ndarray,
    act_items: list[str],
    inventory: Inventory,
    keying: str,
) -> pd.DataFrame:
    """Per subject with a persona: how one-sided its known answers are and how close its heads' directions lie to
    the "answer A" letter vector (:func:`palign_nb.pas.letter_cosine`), on exactly the data its probes saw."""
    rows = [act_items.index(c) for c in known]
    out = []
    for s, persona in personas.items():
        values = shown_values(answers.loc[s], known, inventory, keying)
        X, y, _ = probing.probe_dataset(
            acts[rows], values
        )  # exactly what pas_subject.fit_persona probed
        cos = pas.letter_cosine(X, y, persona.heads)
        letters = pas.letter_vectors(X, persona.heads)
        steered = (
            persona.directions
            * (letters / np.linalg.norm(letters, axis=1, keepdims=True))
        ).sum(1)
        decided = values[(values > 0) & (values != 3)]
        agree = float((decided > 3).mean())
        out.append(
            {
                "subject": s,
                "share_agree": agree,
                "one_sidedness": abs(agree - 0.5) * 2,
                "letter_cosine": float(cos.mean()),
                "abs_letter_cosine": float(np.abs(cos).mean()),
                "abs_steered_cosine": float(np.abs(steered).mean()),
                "n_decided": len(decided),
            }
        )
    return pd.DataFrame(
        out,
        columns=[
            "subject",
            "share_agree",
            "one_sidedness",
            "letter_cosine",
            "abs_letter_cosine",
            "abs_steered_cosine",
            "n_decided",
        ],
    )


def letter_reading(table: pd.DataFrame, direction: str) -> str:
    """How letter-like the directions are, and whether that follows one-sidedness over the subjects."""
    if table.empty:
        return "no subject had a persona to measure (every one fell back to its prompt alone)"
    level = float(table["abs_letter_cosine"].mean())
    what = (
        "mostly the letter vector"
        if level >= 0.8
        else "mostly something other than the letter vector"
        if level <= 0.3
        else "partly the letter vector"
    )
    parts = [
        f"the chosen heads' directions are {what} (mean absolute cosine {level:.2f})"
    ]
    if len(table) == 1:
        row = table.iloc[0]
        parts.append(
            f"with one subject there is no correlation to report: this subject's one-sidedness is "
            f"{row.one_sidedness:.2f} ({row.share_agree:.0%} of {int(row.n_decided)} decided known answers "
            "are 4 or 5)"
        )
    elif len(table) == 2:
        parts.append(
            "with two subjects a correlation says nothing (two points always lie on a line)"
        )
    elif (
        table["one_sidedness"].nunique() < 2 or table["abs_letter_cosine"].nunique() < 2
    ):
        parts.append(
            f"across the {len(table)} subjects one of the two measures does not vary, so there is no "
            "correlation to compute"
        )
    else:
        r = float(
            table["one_sidedness"].corr(table["abs_letter_cosine"], method="spearman")
        )
        if r > 0.3:
            relation = "the more one-sided subjects have the more letter-like directions, as the decomposition predicts"
        elif r < -0.3:
            relation = (
                "the more one-sided subjects have the *less* letter-like directions, against the "
                "decomposition's prediction"
            )
        else:
            relation = "one-sidedness and the letter cosine are barely related"
        parts.append(
            f"across the {len(table)} subjects {relation} (Spearman r = {r:.2f})"
        )
    if direction != "mass_mean":
        parts.append(
            f'the directions this run steered along (`direction="{direction}"`) have a mean absolute '
            f"cosine of {float(table['abs_steered_cosine'].mean()):.2f} with the letter vector"
        )
    return "; ".join(parts)


def letter_findings(
    table: pd.DataFrame, n_subjects: int, direction: str
) -> dict[str, Any]:
    """The glue of "Is the direction just 'answer A'?" (section 5.5)."""

    def mean(column: str) -> float:
        return float(table[column].mean()) if len(table) else float("nan")

    return {
        "c05_letter_n_subjects": len(table),
        "c05_letter_n_fallback": n_subjects - len(table),
        "c05_letter_cos_mean": mean("abs_letter_cosine"),
        "c05_letter_onesided_mean": mean("one_sidedness"),
        "c05_letter_steered_mean": mean("abs_steered_cosine"),
        "c05_letter_finding": Sentence(letter_reading(table, direction)),
    }

"""Does the model know the items? Its unaligned answers against what people answer.

Personalising needs a starting point: a model that can tell which statements people tend to endorse
("Make friends easily" more than "Believe that others have good intentions", say) can then be moved
towards one person. :func:`item_knowledge` measures it without any alignment: over the test items,
the Spearman correlation between the unaligned model's expected answer and the population's mean
answer, the population being the other test subjects (leave-one-out, so a subject's own answers
never enter its reference). Near zero, the model's answers carry no knowledge of the items that a
method could build on; below zero, they run against people's.

Introduced in :doc:`/notebooks/03_asking_the_model`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import spearmanr

from .inventories import Inventory, targets
from .readouts import expected_value

PROBS = [f"p_{x}" for x in "ABCDE"]


def population_targets(
    answers: pd.DataFrame,
    items: list[str],
    subjects: list,
    inventory: Inventory,
    keying: str,
) -> pd.DataFrame:
    """The subjects' answers to ``items`` under ``keying`` (subjects x items), NaN where missing."""
    signs = inventory.items.loc[items, "sign"].to_numpy()
    values = targets(
        answers.loc[subjects, items].to_numpy(), signs, inventory, keying
    ).astype(float)
    return pd.DataFrame(
        np.where(values > 0, values, np.nan), index=subjects, columns=items
    )


def item_knowledge(
    scored: pd.DataFrame,
    answers: pd.DataFrame,
    population: list,
    run_subjects: list,
    inventory: Inventory,
    keying: str,
) -> pd.DataFrame:
    """Per run subject: Spearman's rho over the items of ``scored`` (an option table indexed by item, with
    ``p_A``..``p_E``) between the model's expected answer and the mean answer of the *other* ``population``
    subjects, under ``keying``; with the p-value of that correlation and the number of items."""
    items = list(scored.index)
    expected = expected_value(scored[PROBS].to_numpy())
    table = population_targets(answers, items, list(population), inventory, keying)
    rows = []
    for s in run_subjects:
        others = table.drop(index=s, errors="ignore").mean(axis=0).to_numpy()
        usable = ~np.isnan(others)
        rho, p = spearmanr(expected[usable], others[usable])
        rows.append(
            {"subject": s, "rho": float(rho), "p": float(p), "items": int(usable.sum())}
        )
    return pd.DataFrame(rows)


def knowledge_finding(rho: float, p: float, keying: str) -> str:
    """A sentence for the correlation, chosen by its sign and its p-value (two-sided, 5 %)."""
    reading = (
        "what people literally answered"
        if keying == "literal"
        else "the stored answers, the paper's keying"
    )
    if p < 0.05 and rho > 0:
        return (
            f"the model's answers follow {reading} (Spearman ρ = {rho:.2f}, p = {p:.3f}); it has some idea which "
            "statements people endorse, which a method can build on"
        )
    if p < 0.05:
        return (
            f"the model's answers run against {reading} (Spearman ρ = {rho:.2f}, p = {p:.3f}); where people agree "
            "it tends to disagree, so it brings no usable knowledge of the items"
        )
    return (
        f"the model's answers show no relation to {reading} (Spearman ρ = {rho:.2f}, p = {p:.2f}); it does not "
        "know which statements people endorse, so it has nothing about the items to personalise"
    )

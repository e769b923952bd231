"""Does the model know the items (palign_nb.knowledge), on hand-made answers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from palign_nb.inventories import get_inventory
from palign_nb.knowledge import item_knowledge, knowledge_finding, population_targets

INV = get_inventory("ipip")
ITEMS = [c for c in INV.items.index if INV.items.loc[c, "sign"] > 0][
    :4
]  # plus-keyed: both keyings agree


def scored(expected: list[float]) -> pd.DataFrame:
    """Option tables whose expected answer is ``expected`` (all mass on two neighbouring letters)."""
    rows = []
    for (
        e
    ) in expected:  # values: A = 5 ... E = 1; put the mass on floor(e) and floor(e) + 1
        p = np.zeros(5)
        low = int(np.floor(e))
        hi_share = e - low
        p[5 - low] += 1 - hi_share
        if hi_share:
            p[5 - low - 1] += hi_share
        rows.append(p)
    return pd.DataFrame(rows, index=ITEMS, columns=[f"p_{x}" for x in "ABCDE"])


def answers(rows: dict[int, list[int]]) -> pd.DataFrame:
    frame = pd.DataFrame(3, index=list(rows), columns=INV.items.index)
    for s, values in rows.items():
        frame.loc[s, ITEMS] = values
    return frame


def test_leave_one_out_and_the_sign():
    # subjects 2 and 3 rank the items 1 < 2 < 3 < 4; subject 1 ranks them the other way, strongly
    people = answers({1: [5, 5, 1, 1], 2: [1, 2, 4, 5], 3: [1, 2, 4, 5]})
    follows = item_knowledge(
        scored([1.5, 2.5, 3.5, 4.5]), people, [1, 2, 3], [1, 2], INV, "papi"
    )
    # for subject 1 the others (2, 3) rank exactly like the model; with subject 1 left in, the ranks would tie
    assert follows.loc[follows.subject == 1, "rho"].item() == pytest.approx(1.0)
    assert follows["items"].tolist() == [4, 4]
    against = item_knowledge(
        scored([4.5, 3.5, 2.5, 1.5]), people, [1, 2, 3], [1], INV, "papi"
    )
    assert against["rho"].item() == pytest.approx(-1.0)


def test_missing_answers_are_left_out_of_the_population_mean():
    people = answers({1: [0, 2, 4, 5], 2: [1, 0, 4, 5]})
    table = population_targets(people, ITEMS, [1, 2], INV, "papi")
    assert np.isnan(table.loc[1, ITEMS[0]]) and table.loc[2, ITEMS[0]] == 1
    # for subject 3 (not in the population) every item has a mean; item 1's is subject 2's alone
    result = item_knowledge(
        scored([1.5, 2.5, 3.5, 4.5]),
        people.reindex([1, 2, 3], fill_value=3),
        [1, 2],
        [3],
        INV,
        "papi",
    )
    assert result["rho"].item() == pytest.approx(1.0)


def test_the_sentence_follows_sign_and_p():
    assert "no relation" in knowledge_finding(-0.15, 0.25, "papi")
    assert "run against" in knowledge_finding(-0.6, 0.001, "literal")
    assert "follow" in knowledge_finding(0.6, 0.001, "literal")

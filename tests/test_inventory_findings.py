"""Chapter 01's counts and checks (palign_nb.inventory_findings) on tiny inventories."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from palign_nb import inventory_findings as found
from palign_nb.inventories import IPIP_LABELS, Inventory, score_respondents


def _inventory(
    traits: list[str], signs: list[int], recoded: bool, short=None
) -> Inventory:
    """Items q1.. with the given traits and key signs; facets: the trait and a running
    digit."""
    n = len(traits)
    items = pd.DataFrame(
        {
            "text": [f"statement {i + 1}" for i in range(n)],
            "trait": traits,
            "facet_code": [f"{t}{1 + i % 2}" for i, t in enumerate(traits)],
            "sign": signs,
            "short": short if short is not None else [0] * n,
        },
        index=[f"q{i + 1}" for i in range(n)],
    )
    names = {t: f"{t}-trait" for t in dict.fromkeys(traits)}
    return Inventory("tiny", items, names, IPIP_LABELS, stored_is_recoded=recoded)


# six items, two traits; facets A1 A2 A1 | B2 B1 B2
SIX = _inventory(["A"] * 3 + ["B"] * 3, [1, -1, 1, 1, 1, -1], True, [1, 0, 2, 0, 3, 0])
# four items, two traits of two items each: an item's rest is the other item
FOUR = _inventory(["A", "A", "B", "B"], [1, -1, 1, 1], False)
X = np.array([1.0, 2.0, 3.0, 4.0, 5.0])


def cronbach(scores: np.ndarray) -> float:
    k = scores.shape[1]
    return (
        k
        / (k - 1)
        * (1 - scores.var(axis=0, ddof=1).sum() / scores.sum(axis=1).var(ddof=1))
    )


def test_domain_counts():
    table, glue = found.domain_counts(SIX)
    assert list(table.index) == ["A A-trait", "B B-trait"]
    assert table.loc["A A-trait"].tolist() == [
        2,
        3,
        1,
        2,
    ]  # facets, items, minus, in 120
    assert table.loc["B B-trait"].tolist() == [2, 3, 1, 1]
    assert glue == {
        "c01_ipip_items": 6,
        "c01_ipip_facets": 4,
        "c01_items_per_facet": 2,
        "c01_ipip_minus": 2,
    }


def test_item_split_counts():
    table, glue = found.item_split_counts(
        SIX.items, ["q1", "q3", "q5"], ["q2", "q4", "q6"]
    )
    assert table.loc["A", ("known", "+")] == 2 and table.loc["A", ("test", "−")] == 1
    assert table.loc["B", ("test", "+")] == 1 and table.loc["B", ("test", "−")] == 1
    assert table.to_numpy().sum() == 6
    assert glue == {
        "c01_n_known_per_trait": 2,  # of the first trait, A
        "c01_n_test_per_trait": 1,
        "c01_n_known": 3,
        "c01_n_test": 3,
        "c01_known_minus": 0,
        "c01_test_minus": 2,
    }


def test_demographics():
    answers = pd.DataFrame(
        {"sex": [1, 2, 2], "age": [20, 30, 41], "country": ["USA", "DEU", "USA"]}
    )
    table, glue = found.demographics(answers)
    shown = table["PAPI test set"]
    assert shown["women (sex = 2)"] == 2 and shown["men (sex = 1)"] == 1
    assert (
        shown["age range"] == "20-41"
        and shown["countries"] == 2
        and shown["mean age"] == 30.3
    )
    assert (
        glue["c01_papi_female"] == 2
        and glue["c01_papi_usa"] == 2
        and glue["c01_papi_n"] == 3
    )
    assert (
        glue["c01_papi_age_mean"] == pytest.approx(91 / 3)
        and glue["c01_papi_age_median"] == 30.0
    )


def test_missing_counts():
    stored = np.array([[1, 0, 3], [0, 0, 5], [2, 2, 2]])
    assert found.missing_counts(stored) == {
        "c01_papi_cells": 9,
        "c01_papi_missing_cells": 3,
        "c01_papi_missing_subjects": 2,
    }


def test_sd3_missing_measures_what_a_zero_costs_a_naive_mean():
    raw = _inventory(["A"] * 3 + ["B"] * 3, [1, -1, 1, 1, 1, -1], False)
    answers = pd.DataFrame(
        [[5, 1, 0, 4, 4, 2], [3, 3, 3, 3, 3, 3]],
        columns=raw.items.index,
        index=[10, 11],
    )
    scores = score_respondents(answers, raw)
    # respondent 10, keyed: 5, 6 - 1 = 5, missing | 4, 4, 6 - 2 = 4
    assert scores.loc[10].tolist() == [5.0, 4.0] and scores.loc[11].tolist() == [
        3.0,
        3.0,
    ]
    glue = found.sd3_missing(answers, raw, scores, n_paper=7)
    assert glue["c01_sd3_n"] == 2 and glue["c01_sd3_paper_n"] == 7
    assert glue["c01_sd3_missing_cells"] == 1 and glue["c01_sd3_missing_rows"] == 1
    assert glue["c01_sd3_complete"] == 1
    # the only (respondent, trait) with a skip: A of 10, naive (5 + 5 + 0) / 3 against 5
    assert glue["c01_sd3_naive_shift"] == pytest.approx(5 - 10 / 3)
    assert glue["c01_sd3_mean_A"] == 4.0 and glue["c01_sd3_mean_B"] == 3.5


def test_signed_names():
    assert found.signed_names(SIX.items, ["q1", "q2"]) == {
        "q1": "+ statement 1",
        "q2": "− statement 2",
    }


def test_key_pair_correlations_by_sign():
    # A: q3 = q1 (same key), q2 mirrors them (opposite key); B: all three equal
    stored = pd.DataFrame({"q1": X, "q2": 6 - X, "q3": X, "q4": X, "q5": X, "q6": X})
    table, glue = found.key_pair_correlations(stored, SIX)
    assert table.loc["A A-trait"].tolist() == pytest.approx([1.0, -1.0])
    assert table.loc["B B-trait"].tolist() == pytest.approx([1.0, 1.0])
    assert glue["c01_r_opp_min"] == pytest.approx(-1.0) and glue[
        "c01_r_opp_max"
    ] == pytest.approx(1.0)
    assert glue["c01_r_same_min"] == pytest.approx(1.0)


def test_domain_alphas_reverse_only_the_minus_keyed_items_of_complete_respondents():
    # stored values already keyed: every item equal, alpha 1. Reversing the one
    # minus-keyed item per domain gives x, 6 - x, x: item variances 3 * 2.5, total 6 + x
    # with variance 2.5, so
    # alpha = 3/2 * (1 - 7.5 / 2.5) = -3. The sixth respondent skipped an
    # item of A and is left out there.
    col = np.append(X, 3.0)
    stored = pd.DataFrame({f"q{i}": col for i in range(1, 7)})
    stored.loc[5, "q1"] = np.nan
    table, glue = found.domain_alphas(stored, SIX, cronbach)
    assert table["n"].tolist() == [5, 5, 6, 6]  # the skip is in domain A
    assert table.loc[table["values"] == "stored", "alpha"].tolist() == pytest.approx(
        [1.0, 1.0]
    )
    reversed_alpha = table.loc[table["values"] == "minus-keyed reversed", "alpha"]
    assert reversed_alpha.tolist() == pytest.approx([-3.0, -3.0])
    assert glue["c01_alpha_stored_min"] == pytest.approx(1.0)
    assert glue["c01_alpha_reversed_max"] == pytest.approx(-3.0)
    # a domain without minus-keyed items (B of FOUR) is the same both ways
    other = np.array([2.0, 1.0, 4.0, 3.0, 5.0])
    stored = pd.DataFrame({"q1": X, "q2": other, "q3": X, "q4": other})
    table, _ = found.domain_alphas(stored, FOUR, cronbach)
    b = table.loc[table["trait"] == "B B-trait", "alpha"].tolist()
    assert b[0] == pytest.approx(b[1]) and b[0] == pytest.approx(
        cronbach(stored[["q3", "q4"]].to_numpy())
    )
    a = table.loc[table["trait"] == "A A-trait", "alpha"].tolist()
    assert a[1] == pytest.approx(cronbach(np.column_stack([X, 6 - other])))


def test_item_rest_on_raw_answers():
    raw = pd.DataFrame({"q1": X, "q2": 6 - X, "q3": X, "q4": X})
    assert found.item_rest(raw, FOUR).tolist() == pytest.approx([-1.0, -1.0, 1.0, 1.0])
    table, glue = found.sd3_item_rest(raw, FOUR)
    assert table["key"].tolist() == [
        "plus-keyed",
        "reverse-keyed",
        "plus-keyed",
        "plus-keyed",
    ]
    assert table["item"].iloc[1] == "q2 statement 2"
    assert glue["c01_sd3_rest_rev_min"] == pytest.approx(-1.0)
    assert glue["c01_sd3_rest_rev_max"] == pytest.approx(-1.0)
    assert glue["c01_sd3_rest_plus_min"] == pytest.approx(-1.0)  # q1 runs against q2


def test_papi_item_rest_summary():
    rest = pd.Series([-0.5, -1.0, 1.0, 0.25], index=FOUR.items.index)
    table, glue = found.papi_item_rest(rest, FOUR.items)
    assert (
        table.loc["minus-keyed", "count"] == 1 and table.loc["plus-keyed", "count"] == 3
    )
    assert table.loc["plus-keyed", "50%"] == 0.25
    assert glue == {
        "c01_papi_rest_minus_median": -1.0,
        "c01_papi_rest_plus_median": 0.25,
        "c01_papi_rest_negative": 2,
        "c01_papi_rest_min": -1.0,
    }


def test_keyings_differ_only_where_mirroring_changes_an_answer():
    recoded = _inventory(["A", "A", "B", "B"], [1, -1, -1, 1], True)
    # q2 (minus) has a 4: mirrored to 2; q3 (minus) holds only 3 and 0, which mirror to
    # themselves
    stored = np.array([[5, 4, 3, 1], [2, 3, 0, 4]])
    assert found.keyings_differ(stored, recoded) == ["q2"]
    raw = _inventory(["A", "A", "B", "B"], [1, -1, -1, 1], False)
    assert found.keyings_differ(stored, raw) == []

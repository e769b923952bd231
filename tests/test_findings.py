"""The sentence choosers of palign_nb.findings say the opposite thing when the numbers are opposite."""

from __future__ import annotations

import math

from palign_nb import findings


def test_compare_follows_the_numbers_both_ways():
    assert (
        findings.compare("PAS", 4.0, "ICL", 5.0)
        == "PAS (4.00) is better than ICL (5.00)"
    )
    assert (
        findings.compare("PAS", 6.0, "ICL", 5.0)
        == "PAS (6.00) is worse than ICL (5.00)"
    )
    assert findings.compare("PAS", 5.0, "ICL", 5.0) == "PAS (5.00) ties with ICL (5.00)"
    # higher is better (e.g. a correlation): the verbs swap
    assert "is better than" in findings.compare(
        "a", 0.6, "b", 0.2, lower_is_better=False
    )
    assert "is worse than" in findings.compare(
        "a", 0.1, "b", 0.2, lower_is_better=False
    )
    assert "cannot be compared" in findings.compare("a", math.nan, "b", 1.0)


def test_count_of_and_share_word():
    assert findings.count_of(0, 3, "methods") == "none of the 3 methods"
    assert findings.count_of(3, 3, "methods") == "all 3 methods"
    assert findings.count_of(2, 3, "methods") == "2 of the 3 methods"
    assert findings.count_of(1, 1, "methods") == "the only method"
    assert [findings.share_word(s) for s in (0, 0.1, 0.3, 0.5, 0.7, 0.95, 1)] == [
        "none",
        "a few",
        "a minority",
        "about half",
        "most",
        "almost all",
        "all",
    ]


def test_trend_and_significance():
    assert findings.trend("PAS", 5.0, 4.0) == "PAS improves from 5.00 to 4.00"
    assert findings.trend("PAS", 4.0, 5.0) == "PAS worsens from 4.00 to 5.00"
    assert findings.trend("PAS", 4.0, 4.0) == "PAS stays at 4.00"
    assert findings.trend("r", 0.1, 0.3, lower_is_better=False).startswith("r improves")
    assert findings.significance_possible(0.5).startswith(
        "no difference can be significant"
    )
    assert findings.significance_possible(1e-4).startswith("a difference can reach")
    assert (
        findings.same_answer_share(1.0, "E")
        == "all of the items (100%) get its most common answer, E"
    )
    assert findings.same_answer_share(0.3, "C").startswith("a minority")
    assert [findings.listed(x) for x in (["A"], ["A", "B"], ["A", "B", "C"])] == [
        "A",
        "A and B",
        "A, B and C",
    ]

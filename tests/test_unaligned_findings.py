"""Chapter 03's findings on the unaligned model (palign_nb.unaligned_findings) on
hand-made cases."""

from __future__ import annotations

import pandas as pd
import pytest

from palign_nb import unaligned_findings as uf
from palign_nb.findings import Sentence

from test_asking_findings import IPIP, ITEMS, _options


def test_unaligned_predictions_give_every_subject_the_same_answers():
    answers = pd.DataFrame(
        [[5, 4, 0, 2, 1], [1, 1, 1, 1, 1]], index=[3, 9], columns=ITEMS
    )
    rows = uf.unaligned_predictions(
        _options([5, 4, 3, 2, 1], ITEMS), [9, 3], answers, IPIP
    )
    assert list(rows["subject"]) == [9] * 5 + [3] * 5
    assert list(rows["predicted"]) == [5.0, 4.0, 3.0, 2.0, 1.0] * 2
    assert list(rows["stored"]) == [1, 1, 1, 1, 1, 5, 4, 0, 2, 1]


def test_answer_shares_run_from_a_to_e_with_zeros_for_unused_options():
    shares = uf.answer_shares(_options([5, 5, 3, 1], ["a", "b", "c", "d"]))
    assert shares.name == "share of items"
    assert shares.to_dict() == {"A": 0.5, "B": 0.0, "C": 0.25, "D": 0.0, "E": 0.25}


def _scores(model: float, always_c: float) -> pd.DataFrame:
    rows = []
    for keying in ("papi", "literal"):
        for variant, shift in (("faithful", 0.0), ("corrected", 0.5)):
            for method, value in ((uf.NO_ALIGNMENT, model), (uf.ALWAYS_C, always_c)):
                rows.append(
                    {
                        "method": method,
                        "keying": keying,
                        "variant": variant,
                        # literal rows differ, so a wrong keying shows
                        "composite": value + shift + (keying == "literal") * 10,
                    }
                )
    return pd.DataFrame(rows)


def test_unaligned_findings_read_the_run_keying_and_choose_the_sentences():
    shares = pd.Series({"A": 0.1, "B": 0.1, "C": 0.7, "D": 0.1, "E": 0.0})
    glue = uf.unaligned_findings(_scores(1.0, 0.5), shares, "papi", 4)
    assert glue["c03_noalign_composite"] == 1.0
    assert glue["c03_noalign_composite_corrected"] == 1.5
    assert glue["c03_always_c_composite"] == 0.5
    assert glue["c03_top_option"] == "C" and glue["c03_share_top"] == 0.7
    assert glue["c03_n_subjects"] == 4
    assert glue["c03_vs_c_finding"] == (
        "the unaligned model (1.00) is worse than always C (0.50)"
    )
    assert glue["c03_same_answer_finding"] == (
        "most of the items (70%) get its most common answer, C"
    )
    assert glue["c03_middle_finding"].startswith("Its favourite answer is the middle")
    assert all(
        isinstance(glue[k], Sentence)
        for k in ("c03_vs_c_finding", "c03_same_answer_finding", "c03_middle_finding")
    )
    literal = uf.unaligned_findings(_scores(0.2, 0.5), shares, "literal", 4)
    assert literal["c03_noalign_composite"] == pytest.approx(10.2)
    assert "is better than" in literal["c03_vs_c_finding"]


def test_a_favourite_letter_off_the_middle_is_named():
    assert uf.middle_sentence("A") == (
        "Its favourite answer, A, is not the middle of the scale, which this metric "
        "would reward (chapter 02)."
    )


def test_a_model_that_ranks_items_as_people_do_knows_them():
    # three people; item means 5, 4, 3, 2, 1 from whoever is left out
    answers = pd.DataFrame([[5, 4, 3, 2, 1]] * 3, index=[1, 2, 3], columns=ITEMS)
    scored = _options([5, 4, 3, 2, 2], ITEMS)  # the same order, one tie
    knows = uf.knowledge_by_keying(scored, answers, [1, 2, 3], [1, 2], IPIP)
    assert list(knows) == ["papi", "literal"]
    assert list(knows["papi"]["subject"]) == [1, 2]
    assert (knows["papi"]["rho"] > 0.9).all()
    points = uf.knowledge_points(scored, answers, [1, 2, 3], IPIP, "papi")
    assert list(points["people"]) == [5.0, 4.0, 3.0, 2.0, 1.0]
    # expected answer of 0.8 on one value and 0.05 on the four others
    assert points["model"].iloc[0] == pytest.approx(0.8 * 5 + 0.05 * (4 + 3 + 2 + 1))
    assert list(points["trait"]) == list(IPIP.items.loc[ITEMS, "trait"])
    chart = uf.knowledge_chart(points)
    assert len(chart.data) == 5


def test_knowledge_findings_average_over_subjects_under_the_run_keying():
    knows = {
        "papi": pd.DataFrame({"rho": [0.2, 0.4], "p": [0.01, 0.03], "items": [10, 10]}),
        "literal": pd.DataFrame({"rho": [-0.1, 0.1], "p": [0.5, 0.6], "items": [9, 9]}),
    }
    table, glue = uf.knowledge_findings(knows, "papi")
    assert glue["c03_item_rho_papi"] == pytest.approx(0.3)
    assert glue["c03_item_rho_literal"] == pytest.approx(0.0)
    assert glue["c03_item_rho_items"] == 10
    # judged by the mean rho and the largest p of the run keying
    assert "follow the stored answers" in glue["c03_knowledge_finding"]
    assert "ρ = 0.30, p = 0.030" in glue["c03_knowledge_finding"]
    assert table.loc["min", "papi"] == 0.2 and table.loc["max", "literal"] == 0.1
    _, literal = uf.knowledge_findings(knows, "literal")
    assert "no relation" in literal["c03_knowledge_finding"]


# stored answers of one subject, one item per trait; the third is missing
STORED = [5, 4, 0, 2, 1]


@pytest.mark.parametrize(
    "shown, default, composites, verdict",
    [
        # copies every answered item; the default prompt answers C
        ([5, 4, 3, 2, 1], [3] * 5, (0.0, 6.0, 6.0), "It does use what it reads"),
        # answers C with the answers shown, E without them
        ([3] * 5, [1] * 5, (6.0, 8.0, 6.0), "Listing the answers helps, yet"),
        # answers C either way
        ([3] * 5, [3] * 5, (6.0, 6.0, 6.0), "It cannot even copy what it is shown"),
    ],
)
def test_copy_findings_grade_against_the_shown_answers(
    shown, default, composites, verdict
):
    answers = pd.DataFrame([STORED], index=[7], columns=ITEMS)
    scores, glue = uf.copy_findings(
        _options(shown, ITEMS), _options(default, ITEMS), 7, answers, IPIP
    )
    assert list(scores.index) == [uf.SHOWN, uf.DEFAULT, uf.ALWAYS_C]
    # corrected variant: the missing item is dropped; one item per trait
    assert tuple(scores) == composites
    assert glue["c03_n_copy_items"] == 5
    assert (glue["c03_copy_composite"], glue["c03_copy_default"]) == composites[:2]
    assert glue["c03_copy_always_c"] == composites[2]
    assert glue["c03_copy_exact"] == (1.0 if shown == [5, 4, 3, 2, 1] else 0.0)
    assert glue["c03_copy_finding"].startswith(
        "With the answers in its prompt its composite error on these items is "
        f"{composites[0]:.2f}, against {composites[1]:.2f} under the default prompt"
    )
    assert verdict in glue["c03_copy_finding"]

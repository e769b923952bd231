"""Chapter 02's no-model predictors (palign_nb.no_model_findings) on hand-made cases."""

from __future__ import annotations

import pandas as pd
import pytest

from palign_nb import no_model_findings as found
from palign_nb.inventories import IPIP_LABELS, KEYINGS, Inventory
from palign_nb.metrics import VARIANTS
from palign_nb.splits import ItemSplit

# two traits: q1, q2 | q3, q4, all plus-keyed; stored answers already keyed
FOUR = Inventory(
    "tiny",
    pd.DataFrame(
        {"trait": list("AABB"), "sign": [1, 1, 1, 1], "text": list("abcd")},
        index=["q1", "q2", "q3", "q4"],
    ),
    {"A": "A-trait", "B": "B-trait"},
    IPIP_LABELS,
    stored_is_recoded=True,
)
# subject 2 skipped q2, a test item
ANSWERS = pd.DataFrame(
    [[5, 4, 2, 1], [3, 0, 4, 5]], columns=FOUR.items.index, index=[1, 2]
)
KNOWN, TEST = ["q1", "q3"], ["q2", "q4"]


def test_trivial_scores_by_hand():
    kinds = ("always_A", "always_C", "trait_mean")
    table = found.trivial_scores(ANSWERS, FOUR, KNOWN, TEST, kinds, ("papi",))
    composite = table[table["trait"] == "composite"].set_index(["predictor", "variant"])
    # always C: subject 1 errs 1 (q2) and 2 (q4); subject 2 errs 3 (q2 as 0) and 2
    assert composite.loc[("always_C", "faithful"), "score"] == pytest.approx(2 + 2)
    assert composite.loc[("always_C", "corrected"), "score"] == pytest.approx(1 + 2)
    # always A: 1 and 4; 5 (q2 as 0) and 0
    assert composite.loc[("always_A", "faithful"), "score"] == pytest.approx(3 + 2)
    assert composite.loc[("always_A", "corrected"), "score"] == pytest.approx(1 + 2)
    # trait mean: subject 1 answers 5 (A) and 2 (B): errs 1 and 1; subject 2 answers 3
    # and 4
    assert composite.loc[("trait_mean", "faithful"), "score"] == pytest.approx(2 + 1)
    assert composite.loc[("trait_mean", "corrected"), "score"] == pytest.approx(1 + 1)
    everything = found.trivial_scores(ANSWERS, FOUR, KNOWN, TEST)
    assert len(everything) == 6 * 2 * 2 * 3  # predictors x keyings x variants x rows
    assert list(everything.columns) == [
        "predictor",
        "keying",
        "variant",
        "trait",
        "score",
    ]


def test_control_scores_choose_the_constant_on_the_validation_items():
    six = Inventory(
        "tiny6",
        pd.DataFrame(
            {"trait": list("AAABBB"), "sign": [1] * 6, "text": list("abcdef")},
            index=[f"q{i}" for i in range(1, 7)],
        ),
        {"A": "A-trait", "B": "B-trait"},
        IPIP_LABELS,
        stored_is_recoded=True,
    )
    # validation items q2 and q5 are answered 4 by everyone: the best constant is B
    answers = pd.DataFrame(
        [[5, 4, 1, 2, 4, 3], [3, 4, 5, 4, 4, 1], [2, 4, 2, 5, 4, 4]],
        columns=six.items.index,
    )
    scores, letters = found.control_scores(
        answers, six, ["q1", "q4"], ["q3", "q6"], ["q2", "q5"]
    )
    assert letters == {(k, v): "B" for k in KEYINGS for v in VARIANTS}
    assert len(scores) == 3 * 2 * 2 * 3
    always_b = found.trivial_scores(
        answers, six, ["q1", "q4"], ["q3", "q6"], ("always_B",)
    )
    composite = scores[scores["trait"] == "composite"]
    for k in KEYINGS:
        for v in VARIANTS:
            assert found.composite_of(
                composite, "best_constant", k, v
            ) == pytest.approx(
                found.composite_of(
                    always_b[always_b["trait"] == "composite"], "always_B", k, v
                )
            )


def test_intro_sentence_against_the_papers_best():
    low = found.intro_sentence(3.8)
    assert low == (
        'The last of those results is sobering: answering "C" to every question '
        "(composite 3.80) beats every method the paper reports (its best, PAS on "
        "Llama-3-8B-Instruct, scores 4.41)."
    )
    assert found.intro_sentence(5.0).startswith(
        "The last of those results sets the bar"
    )


def _composites(papi: dict[str, float], literal_a: float) -> pd.DataFrame:
    """Composite rows: ``papi`` scores in every (keying, variant), always A under
    literal replaced by ``literal_a``."""
    rows = [
        {"predictor": p, "keying": k, "variant": v, "trait": "composite", "score": s}
        for p, s in papi.items()
        for k in KEYINGS
        for v in VARIANTS
    ]
    table = pd.DataFrame(rows)
    table.loc[
        (table["predictor"] == "always_A") & (table["keying"] == "literal"), "score"
    ] = literal_a
    return table


SCORES = {
    "always_A": 8.33,
    "always_B": 5.0,
    "always_C": 3.8,
    "always_D": 4.0,
    "always_E": 9.0,
    "trait_mean": 2.87,
    "item_prior_loo": 2.9,
    "trait_offset": 2.37,
    "best_constant": 4.04,
}


def test_trivial_findings_say_what_the_numbers_say():
    letters = {(k, v): "B" for k in KEYINGS for v in VARIANTS}
    glue = found.trivial_findings(_composites(SCORES, 9.52), letters, paper_pas=4.41)
    assert glue["c02_paper_pas8b"] == 4.41 and glue["c02_best_constant_letter"] == "B"
    assert (
        glue["c02_alwaysA_literal_faithful"] == 9.52
        and glue["c02_alwaysC_papi_corrected"] == 3.8
    )
    assert glue["c02_trait_offset_literal_corrected"] == 2.37
    assert len([k for k in glue if k.endswith(("_faithful", "_corrected"))]) == 6 * 4
    assert glue["c02_n_beat_paper"] == 3  # C, D and the trait mean
    assert glue["c02_trivial_finding"] == (
        "Answering **C** to everything scores 3.8000 and the **trait mean** 2.8700, "
        "both below the paper's 4.41; 3 of the 6 trivial predictors beat it."
    )
    assert glue["c02_summary_trivial"] == (
        "3 of the 6 trivial predictors beat the paper's best reported composite (4.41)"
    )
    assert (
        glue["c02_alwaysA_finding"]
        == "A is right more often: it scores 8.33 against 9.52 under `literal`"
    )
    assert glue["c02_controls_finding"] == (
        "Under the paper's protocol the predictors that need no model rank, best "
        "first: the trait-offset control (2.37), the trait mean (2.87), the "
        "leave-one-out item prior (2.90), always C (3.80) and the best constant "
        "letter B (chosen on the validation items; 4.04). The trait-offset control (2.37) is better than the "
        "trait mean (2.87): putting each item's difficulty back helps. The letter that "
        "did best on the validation items, B, does worse than C on the test items: a "
        "constant chosen without peeking does not carry over. The strongest, the "
        "trait-offset control, is the bar a method has to clear."
    )
    assert glue["c02_controls_summary"].endswith(
        "and the best constant letter B (chosen on the validation items; 4.04)"
    )


def test_trivial_findings_other_outcomes():
    scores = SCORES | {
        "always_D": 6.0,
        "always_C": 5.0,
        "trait_offset": 3.0,
        "best_constant": 5.0,
    }
    letters = {(k, v): "C" for k in KEYINGS for v in VARIANTS}
    glue = found.trivial_findings(_composites(scores, 7.0), letters, paper_pas=4.41)
    assert glue["c02_n_beat_paper"] == 1
    assert (
        "one on each side of the paper's 4.41; 1 of the 6 trivial predictors beats it."
        in glue["c02_trivial_finding"]
    )
    assert glue["c02_alwaysA_finding"].startswith(
        "yet A does not score better under `papi`"
    )
    assert "does not help here." in glue["c02_controls_finding"]
    assert (
        "The best letter on the validation items is C, so the best constant is always "
        "C." in glue["c02_controls_finding"]
    )
    assert "The strongest, the trait mean," in glue["c02_controls_finding"]


def test_sd3_trivial_findings_per_setting():
    designs = {
        "paper": ([1, 2], ItemSplit(["q1"], ["q3"], TEST)),  # all known: q1 and q3
        "kmeans": ([1], ItemSplit(["q1", "q3"], [], TEST)),
    }
    table, glue = found.sd3_trivial_findings(ANSWERS, FOUR, designs)
    assert list(table.columns) == ["setting", "predictor", "variant", "composite"]
    assert len(table) == 2 * 3 * 2
    assert glue["c02_sd3_paper_alwaysA_faithful"] == pytest.approx(5.0)
    assert glue["c02_sd3_paper_trait_mean_corrected"] == pytest.approx(2.0)
    assert glue["c02_sd3_kmeans_alwaysC_faithful"] == pytest.approx(
        3.0
    )  # subject 1 alone
    assert glue["c02_sd3_kmeans_trait_mean_corrected"] == pytest.approx(2.0)
    assert glue["c02_sd3_paper_best_faithful"] == "trait mean"
    # corrected on the paper's setting: always C and always A tie at 3, the trait mean
    # wins at 2
    assert glue["c02_sd3_paper_best_corrected"] == "trait mean"


@pytest.mark.parametrize(
    "paper_pas, says",
    [
        (100.0, "Both intervals lie wholly below the paper's 100.00"),
        (0.5, "Both intervals lie wholly above the paper's 0.50."),
        (3.5, "At least one interval reaches the paper's 3.50"),
    ],
)
def test_bootstrap_findings(paper_pas, says):
    cis, glue = found.bootstrap_findings(
        ANSWERS, FOUR, KNOWN, TEST, "papi", 50, 0, paper_pas
    )
    row = cis.set_index(["predictor", "variant"]).loc[("always_C", "faithful")]
    assert row["composite"] == pytest.approx(4.0)  # subjects: 1 + 2 and 3 + 2
    assert 3.0 <= row["low"] <= row["high"] <= 5.0
    assert glue["c02_n_boot"] == 50 and glue["c02_keying"] == "papi"
    assert glue["c02_ci_trait_mean_corrected_high"] == cis["high"].iloc[3]
    assert glue["c02_ci_finding"].startswith(says)

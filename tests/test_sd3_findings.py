"""Chapter 08's numbers and sentences (palign_nb.sd3_findings) on hand-made SD3 cases."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from palign_nb import results, sd3_findings
from palign_nb.errors import PalignError
from palign_nb.findings import Sentence
from palign_nb.inventories import get_inventory
from palign_nb.splits import ItemSplit

SD3 = get_inventory("sd3")
ITEMS = list(SD3.items.index)


def _answers(rows: dict[int, list[int]]) -> pd.DataFrame:
    return pd.DataFrame.from_dict(rows, orient="index", columns=ITEMS).rename_axis(
        "subject"
    )


def test_inventory_glue_counts_items_and_refuses_keyings_that_differ():
    glue = sd3_findings.inventory_glue(SD3, 18192, 0)
    assert glue == {
        "c08_n_items": 27,
        "c08_n_reversed": 5,
        "c08_n_respondents": 18192,
        "c08_keying_cells_differ": 0,
    }
    with pytest.raises(PalignError, match="3 SD3 cells differ"):
        sd3_findings.inventory_glue(SD3, 18192, 3)


def test_subject_glue_counts_incomplete_test_subjects_and_names_the_run():
    answers = _answers({1: [3] * 27, 2: [0] + [4] * 26, 3: [5] * 26 + [0]})
    glue = sd3_findings.subject_glue("paper", answers, [1], ITEMS)
    assert glue["c08_n_test_subjects"] == 3 and glue["c08_n_test_incomplete"] == 2
    assert glue["c08_setting_label"].startswith("the paper's released 300")
    assert glue["c08_run_size"] == "1 subject" and isinstance(
        glue["c08_run_size"], Sentence
    )
    assert (
        sd3_findings.subject_glue("kmeans", answers, [1, 2], ITEMS)["c08_run_size"]
        == "2 subjects"
    )


def test_split_glue_and_table_give_every_item_one_role():
    known_all = [f"{t}{i}" for t in "MNP" for i in range(1, 7)]
    test = [f"{t}{i}" for t in "MNP" for i in range(7, 10)]
    split = ItemSplit(
        known=[c for c in known_all if not c.endswith("6")],
        validation=["M6", "N6", "P6"],
        test=test,
    )
    glue = sd3_findings.split_glue(known_all, split, test, SD3)
    assert glue == {
        "c08_n_known": 18,
        "c08_n_test": 9,
        "c08_n_probe": 15,
        "c08_n_val": 3,
        "c08_test_per_trait": 3,
        "c08_one_answer": 1 / 3,
    }
    table = sd3_findings.split_table(SD3, split.known, split.validation)
    assert table["role"].value_counts().to_dict() == {
        "known (probes, prompts)": 15,
        "test": 9,
        "validation (alpha)": 3,
    }
    assert table.loc["N6", "role"] == "validation (alpha)"
    assert table.loc["P9", "role"] == "test"
    assert bool(table.loc["N2", "reversed"]) and not bool(table.loc["N1", "reversed"])
    assert list(table["trait"]) == sorted(table["trait"])  # sorted by trait, then role


def _trivial(composites: dict[str, float]) -> pd.DataFrame:
    rows = [
        {
            "predictor": p,
            "keying": k,
            "variant": v,
            "trait": "composite",
            "score": s + (k == "literal"),
        }
        for p, s in composites.items()
        for k in ("papi", "literal")
        for v in ("faithful", "corrected")
    ]
    return pd.DataFrame(rows)


def test_trivial_findings_read_the_papi_faithful_composites():
    scores = _trivial({"always_A": 7.0, "always_C": 5.0, "trait_mean": 4.5})
    given = np.array(
        [[5, 5, 0], [1, 5, 3]]
    )  # three of the five answers are 5; 0 is not an answer
    glue = sd3_findings.trivial_findings(scores, given)
    assert (
        glue["c08_best_trivial"] == "trait mean"
        and glue["c08_best_trivial_score"] == 4.5
    )
    assert (
        glue["c08_all_always_c"],
        glue["c08_all_always_a"],
        glue["c08_all_trait_mean"],
    ) == (5.0, 7.0, 4.5)
    assert glue["c08_always_a_finding"] == (
        "About half of the test subjects' answers to the test statements (60%) are "
        '"strongly agree", and always A does worse than always C: "strongly '
        'agree" is a costly default'
    )
    cheap_a = sd3_findings.trivial_findings(
        _trivial({"always_A": 4.0, "always_C": 5.0, "trait_mean": 6.0}), given
    )
    assert cheap_a["c08_always_a_finding"].endswith(
        "always A does no worse than always C"
    )


def _predictions(
    subjects: list[int], predicted: list[float], stored: list[int]
) -> pd.DataFrame:
    items = ["M1", "N1", "P1"]
    return pd.DataFrame(
        {
            "subject": np.repeat(subjects, 3),
            "item": items * len(subjects),
            "trait": ["M", "N", "P"] * len(subjects),
            "stored": stored,
            "predicted": predicted,
        }
    )


def test_method_scores_and_intervals_by_hand():
    tables = {
        "good": _predictions([1, 2], [5, 5, 5, 1, 1, 1], [5, 4, 5, 1, 1, 2]),
        "bad": _predictions([1, 2], [1, 1, 1, 5, 5, 5], [5, 4, 5, 1, 1, 2]),
    }
    scores, per_subject = sd3_findings.method_scores(tables, SD3, "papi")
    faithful = scores[scores.variant == "faithful"].set_index("method")
    assert faithful.loc["good", "composite"] == pytest.approx(
        1.0
    )  # one point off per subject
    assert faithful.loc["bad", "composite"] == pytest.approx(11.0)  # 4+3+4 and 4+4+3
    assert per_subject["bad"].tolist() == pytest.approx([11.0, 11.0])
    cis = results.composite_intervals(per_subject, n_boot=50, seed=0)
    assert cis["method"].tolist() == ["good", "bad"]  # best first
    assert cis.set_index("method").loc[
        "bad", ["composite", "low", "high"]
    ].tolist() == pytest.approx([11, 11, 11])


def test_alpha_choices_and_glue_count_fallbacks_and_zeros():
    def pas(alphas, fallbacks):
        return pd.DataFrame(
            {
                "subject": [1, 1, 2, 2, 3, 3],
                "alpha": np.repeat(alphas, 2),
                "fallback": np.repeat(fallbacks, 2),
            }
        )

    chosen = sd3_findings.alpha_choices(
        {
            "pas_icl": pas([0.0, 4.0, 0.0], [False, False, True]),
            "pas_alone": pas([2.0, 0.0, 8.0], [False, False, False]),
        }
    )
    assert len(chosen) == 6 and list(chosen.columns) == [
        "subject",
        "alpha",
        "fallback",
        "method",
    ]
    assert sd3_findings.alpha_glue(chosen) == {
        "c08_n_fallback": 1,
        "c08_share_alpha_zero": 0.4,
    }


def _faithful(composites: dict[str, float]) -> pd.DataFrame:
    return pd.DataFrame({"composite": composites})


def test_method_findings_pick_the_best_and_the_sentences():
    composites = {
        "no_alignment": 6.0,
        "icl": 5.0,
        "p2": 5.5,
        "pas_icl": 4.0,
        "pas_alone": 6.5,
        "dpo": 5.2,
        "grpo": 7.0,
        "always_C": 5.1,
        "always_A": 8.0,
        "trait_mean": 4.8,
    }
    unaligned = pd.DataFrame(
        {
            "p_A": [0.1, 0.1, 0.6],
            "p_B": 0.1,
            "p_C": [0.6, 0.5, 0.1],
            "p_D": 0.1,
            "p_E": 0.1,
        }
    )
    cis = pd.DataFrame(
        {
            "method": ["pas_icl", "icl"],
            "composite": [4.0, 5.0],
            "low": [3.5, 4.5],
            "high": [4.4, 5.5],
        }
    )
    glue = sd3_findings.method_findings(_faithful(composites), cis, unaligned, 2, 3)
    assert glue["c08_best_method"] == "pas_icl" and glue["c08_best_method_score"] == 4.0
    assert glue["c08_n_beat_always_c"] == 2 and glue["c08_n_methods"] == 7
    assert glue["c08_pas_vs_icl"] == pytest.approx(-1.0) and glue["c08_always_c"] == 5.1
    assert glue["c08_trait_mean"] == 4.8 and "c08_always_a" not in glue
    assert glue["c08_no_alignment_top"] == "C" and glue[
        "c08_no_alignment_top_share"
    ] == pytest.approx(2 / 3)
    assert (
        glue["c08_beat_finding"]
        == 'answering "C" to everything is beaten by 2 of the 7 model-based methods'
    )
    assert glue["c08_no_alignment_finding"] == (
        "Without alignment the model answers C on most of the SD3 questions "
        "(67%), so its error (6.00) is not simply that of a constant answer"
    )
    assert glue["c08_pas_icl_finding"] == (
        "PAS with the few-shot prompt (4.00) is better than the few-shot prompt "
        "alone (5.00)"
    )
    assert glue["c08_rank_finding"].endswith(
        "The 95 % intervals of the two best model-based methods, pas_icl and "
        "icl, do not overlap"
    )
    assert all(isinstance(glue[k], Sentence) for k in glue if k.endswith("_finding"))


def test_rank_reading_with_one_subject_or_overlapping_intervals():
    cis = pd.DataFrame(
        {
            "method": ["a", "b"],
            "composite": [4.0, 5.0],
            "low": [3.0, 4.0],
            "high": [4.5, 6.0],
        }
    )
    one = sd3_findings.rank_reading(1, 3, cis, "a", "b")
    assert one.startswith(
        "With 1 subject and 3 test items per trait, a single changed answer moves a trait "
        "error by 0.33"
    )
    assert one.endswith(
        "the bootstrap intervals are points, so the figure separates no methods"
    )
    assert sd3_findings.rank_reading(5, 1, cis, "a", "b").endswith(
        "a and b, overlap: this run does not rank them"
    )


def test_seconds_per_subject_share_the_capture_among_pas_methods():
    timings = pd.DataFrame(
        {
            "subject": [1, 1, 2, 1, 2, 1, 1],
            "method": ["pas_icl", "pas_icl", "pas_icl", "dpo", "dpo", "grpo", "icl"],
            "stage": ["fit", "test_pass", "fit", "train", "train", "train", "score"],
            "seconds": [2.0, 1.0, 3.0, 10.0, 20.0, 6.0, 1.0],
        }
    )
    per_method = sd3_findings.seconds_per_subject(timings, capture_s=4.0, n_subjects=2)
    assert per_method.to_dict() == pytest.approx(
        {"dpo": 15.0, "grpo": 6.0, "icl": 1.0, "pas_icl": 5.0}
    )
    glue = sd3_findings.cost_findings(per_method, timings, 4.0)
    assert (
        glue["c08_pas_seconds"],
        glue["c08_dpo_seconds"],
        glue["c08_grpo_seconds"],
    ) == (5.0, 15.0, 6.0)
    assert (
        glue["c08_time_finding"] == "most of the methods' time (77%) went to DPO and RL"
    )  # 36 of 47 s

"""Chapter 06's findings (palign_nb.prompt_findings) on hand-made cases whose answers
are known."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from palign_nb import prompt_findings
from palign_nb.findings import Sentence
from palign_nb.inventories import get_inventory

IPIP = get_inventory("ipip")
PLUS = IPIP.items.index[IPIP.items["sign"] > 0][:2].tolist()
MINUS = IPIP.items.index[IPIP.items["sign"] < 0][:3].tolist()


def test_prompt_tokens_counts_without_special_tokens():
    def tokenizer(text, add_special_tokens=True):
        return {"input_ids": text.split() + (["<s>"] if add_special_tokens else [])}

    assert prompt_findings.prompt_tokens(tokenizer, "one two three") == 3


def test_keyed_labels_flip_only_decided_minus_keyed_answers():
    known = PLUS + MINUS
    answers = pd.DataFrame([[5, 2, 5, 3, 1]], index=[7], columns=known)
    table, glued = prompt_findings.keyed_labels(answers, 7, known, IPIP)
    assert table["key"].tolist() == ["plus", "plus", "minus", "minus", "minus"]
    # papi shows the stored value; literal shows 6 - v on minus-keyed items
    assert table["papi shows"].tolist() == [IPIP.labels[v] for v in (5, 2, 5, 3, 1)]
    assert table["literal shows"].tolist() == [IPIP.labels[v] for v in (5, 2, 1, 3, 5)]
    # two minus-keyed answers flip (the 3 does not); one of them (a 5) shows as accurate
    assert glued == {"c06_n_flipped": 2, "c06_minus_shown_accurate": 1}


def test_describe_p2_counts_words_copies_and_scale_words():
    statements = ["Love to read.", "Break my promises."]
    text = "You love to read and are Accurate, though you disagree. Inaccurate!"
    assert prompt_findings.describe_p2(text, statements) == {
        "words": 11,
        "statements copied verbatim": 1,
        "scale words kept": 3,
    }


def test_p2_comparison_glues_both_texts_or_nan():
    statements = ["Love to read."]
    both = {"shipped": "You love to read.", "generated": "One two three"}
    table, glued = prompt_findings.p2_comparison(both, statements, 12.5)
    assert list(table.columns) == ["shipped", "generated"]
    assert glued == {
        "c06_p2_shipped_words": 4,
        "c06_p2_generated_words": 3,
        "c06_p2_shipped_copied": 1,
        "c06_p2_generated_copied": 0,
        "c06_p2_generate_s": 12.5,
    }
    table, glued = prompt_findings.p2_comparison(
        {"shipped": "You love to read.", "generated": None}, statements, None
    )
    assert list(table.columns) == ["shipped"]
    assert len(glued) == 5 and all(np.isnan(v) for v in glued.values())


def _rows(predicted: list[float], stored: list[int], probs=None) -> pd.DataFrame:
    items = (PLUS + MINUS)[: len(predicted)]
    probs = np.full((len(predicted), 5), 0.2) if probs is None else np.asarray(probs)
    frame = pd.DataFrame(probs, columns=[f"p_{x}" for x in "ABCDE"])
    return frame.assign(
        subject=7,
        item=items,
        trait=IPIP.items.loc[items, "trait"].to_numpy(),
        stored=stored,
        predicted=predicted,
    )


def test_compared_tables_labels_the_generated_description_as_first_subject_only():
    ours = {"icl_papi": _rows([5, 4], [5, 4]), "p2_generated": _rows([1, 1], [5, 4])}
    out = prompt_findings.compared_tables(ours, _rows([3, 3], [5, 4]))
    assert list(out) == ["no alignment", "icl_papi", prompt_findings.FIRST_ONLY]


def _scores(values: dict[tuple[str, str], float]) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {"method": m, "keying": k, "variant": "faithful", "composite": c}
            for (m, k), c in values.items()
        ]
    )


def test_score_findings_reads_composites_shares_and_chooses_the_sentences():
    scores = _scores(
        {
            ("icl_papi", "papi"): 4.0,
            ("icl_papi", "literal"): 5.0,
            ("icl_literal", "papi"): 6.0,
            ("icl_literal", "literal"): 3.0,
            ("p2", "papi"): 4.5,
            ("always C", "papi"): 3.5,
            ("trait mean", "papi"): 3.0,
            ("no alignment", "papi"): 4.2,
        }
    )
    compared = {
        "no alignment": _rows([3, 3, 3, 3], [5, 5, 5, 5]),
        "icl_papi": _rows([3, 3, 5, 5], [5, 5, 5, 5]),
        "icl_literal": _rows([3, 1, 5, 1], [5, 5, 5, 5]),
        "p2": _rows([1, 1, 1, 3], [5, 5, 5, 5]),
    }
    table, glued = prompt_findings.score_findings(scores, compared, "papi", 120, 3.9)
    assert (
        table.loc["prompt shows literal labels", "graded with literal targets"] == 3.0
    )
    assert table.loc["prompt shows papi labels", "graded with literal targets"] == 5.0
    assert (
        glued["c06_icl_papi_composite"] == 4.0
        and glued["c06_always_C_composite"] == 3.5
    )
    assert (
        glued["c06_icl_literal_on_papi"] == 6.0
        and glued["c06_noalign_composite"] == 4.2
    )
    assert glued["c06_icl_changed"] == 0.5 and glued["c06_p2_changed"] == 0.75
    assert glued["c06_icl_rows_changed"] == 0.5 and glued["c06_paper_few_shot"] == 3.9
    assert "c06_p2_generated_composite" not in glued
    assert isinstance(glued["c06_keying_finding"], Sentence)
    assert glued["c06_keying_finding"] == (
        "the same few-shot answers' composite worsens from 4.00 to 5.00"
    )
    assert glued["c06_changed_finding"] == (
        "few-shot changed about half of the unaligned model's answers (50%), P2 most "
        "(75%)"
    )
    assert glued["c06_learned_finding"] == (
        "Whether the model turns a list of 120 answers into answers about new "
        "statements shows against the references: few-shot (4.00) is better than the "
        "unaligned model (4.20), and few-shot (4.00) is worse than the trait-mean "
        "lookup (3.00)."
    )
    del compared["no alignment"]
    _, glued = prompt_findings.score_findings(scores, compared, "papi", 120, 3.9)
    assert (
        np.isnan(glued["c06_icl_changed"])
        and "not known" in glued["c06_changed_finding"]
    )
    assert "the unaligned model" not in glued["c06_learned_finding"]


def test_answer_probability_reads_the_subjects_own_option_under_the_keying():
    probs = [[0.6, 0.1, 0.1, 0.1, 0.1], [0.1, 0.1, 0.1, 0.1, 0.6], [0.5] + [0.125] * 4]
    # plus item answered 5 (A), minus item stored 5, minus item missing (left out)
    table = _rows([5, 5, 5], [5, 5, 0], probs).assign(
        item=[PLUS[0], MINUS[0], MINUS[1]]
    )
    assert prompt_findings.answer_probability(table, IPIP, "papi") == pytest.approx(
        (0.6 + 0.1) / 2
    )
    # literal: the minus-keyed 5 is a 1 (E)
    assert prompt_findings.answer_probability(table, IPIP, "literal") == pytest.approx(
        (0.6 + 0.6) / 2
    )


def test_answer_probabilities_and_what_the_prose_says_of_them():
    sure = [[0.9, 0.025, 0.025, 0.025, 0.025]] * 2
    compared = {
        "no alignment": _rows([3, 3], [5, 5]),
        "icl_papi": _rows([5, 5], [5, 5], sure),
        "p2": _rows([3, 3], [5, 5]),
        prompt_findings.FIRST_ONLY: _rows([5, 5], [5, 5], sure),
    }
    p_answer = prompt_findings.answer_probabilities(compared, 7, IPIP, "papi")
    assert np.isnan(p_answer.loc[prompt_findings.FIRST_ONLY, "all subjects"])
    assert p_answer.loc["icl_papi", "first subject"] == 0.9
    glued = prompt_findings.p_answer_findings(p_answer)
    assert glued["c06_p_answer_noalign"] == 0.2 and glued["c06_p_answer_icl"] == 0.9
    assert (
        glued["c06_p_answer_p2_generated"] == 0.9
        and glued["c06_p_answer_p2_first"] == 0.2
    )
    assert glued["c06_p_answer_finding"] == (
        "against the unaligned model, few-shot raises it by 0.700 and P2 leaves it "
        "where it was (to three decimals)"
    )
    without = prompt_findings.p_answer_findings(p_answer.drop(index="no alignment"))
    assert "c06_p_answer_noalign" not in without
    assert "no unaligned probability" in without["c06_p_answer_finding"]


def test_cost_findings_average_each_stage_over_subjects():
    timings = pd.DataFrame(
        {
            "subject": [1, 2, 1, 2, 1, 2],
            "method": ["icl_papi"] * 4 + ["p2"] * 2,
            "stage": ["prompt", "prompt", "score", "score", "score", "score"],
            "seconds": [0.0, 0.02, 1.0, 2.0, 3.0, 4.333],
        }
    )
    per_subject, glued = prompt_findings.cost_findings(timings)
    assert per_subject.loc["icl_papi", "prompt"] == 0.01
    assert np.isnan(per_subject.loc["p2", "prompt"])
    assert glued == {"c06_icl_score_s": 1.5, "c06_p2_score_s": 3.67}

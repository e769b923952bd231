"""Chapter 10's numbers and sentences (palign_nb.open_ended_findings) on hand-made tables."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from palign_nb import open_ended_findings as found
from palign_nb.findings import Sentence
from palign_nb.judging import CHECK_TEMPLATES
from palign_nb.open_ended import JudgeRun


def test_alpha_glue_keeps_the_chosen_alpha_unless_set():
    assert found.alpha_glue(2.0, -1.0) == {
        "c10_alpha": 2.0,
        "c10_alpha_source": "chosen by chapter 05 on validation items",
    }
    assert found.alpha_glue(2.0, 0.0) == {
        "c10_alpha": 0.0,
        "c10_alpha_source": "set by the pas_alpha parameter",
    }


def test_generation_glue_counts_pas_answers_equal_to_icl():
    texts = {"base": ["a", "b"], "ICL": ["x", "y"], "PAS": ["x", "z"]}
    assert found.generation_glue(texts, {"base": 1.0, "ICL": 2.0, "PAS": 3.5}) == {
        "c10_pas_same_as_icl": 0.5,
        "c10_gen_seconds": 6.5,
    }


def _check(stances: dict[str, list[float]]) -> pd.DataFrame:
    """A validated check set: two items, each template's stance per item."""
    rows = [
        {"item": item, "template": t, "polarity": CHECK_TEMPLATES[t][0], "stance": s}
        for t, values in stances.items()
        for item, s in zip(["i1", "i2"], values)
    ]
    check = pd.DataFrame(rows)
    return check.assign(correct=np.sign(check["stance"]) == check["polarity"])


def test_check_findings_score_each_template_and_the_pairs():
    check = _check(
        {
            "Yes, {s}": [0.8, 0.6],
            "Yes, that is exactly me.": [0.2, -0.1],
            "No, that is not me at all.": [-0.5, -0.3],
            "No. I would never say that {s}": [0.4, -0.2],
        }
    )
    accuracy, glue = found.check_findings(check, 1.5)
    assert accuracy["template"].tolist() == list(CHECK_TEMPLATES)
    assert accuracy["answer"].tolist() == ["affirms", "affirms", "denies", "denies"]
    assert accuracy["accuracy"].tolist() == [1.0, 0.5, 1.0, 0.5]
    assert glue["c10_check_accuracy"] == 0.75 and glue["c10_check_acc_affirm"] == 0.75
    assert (
        glue["c10_n_check_items"],
        glue["c10_check_n"],
        glue["c10_check_seconds"],
    ) == (2, 8, 1.5)
    assert (
        glue["c10_check_acc_yes_plain"] == 0.5 and glue["c10_check_acc_quoted"] == 0.5
    )
    # i1: affirming 0.8, 0.2 against denying -0.5, 0.4: 3 of 4 pairs; i2: 0.6, -0.1 against
    # -0.3, -0.2: all 4
    assert glue["c10_check_pairwise"] == 7 / 8
    assert glue["c10_check_finding"] == (
        "So the judge reads an answer's stance better when the answer says it in "
        "plain words (75% right on a plain yes or no) than when the statement's "
        "words appear inside a denial (50%): a similarity of meaning is not an "
        "inference"
    )
    _, fine = found.check_findings(
        _check({t: [p, p] for t, (p, _) in CHECK_TEMPLATES.items()}), 0.0
    )
    assert fine["c10_check_finding"].startswith(
        "On this check set the judge did no worse on denials that quote"
    )
    assert isinstance(fine["c10_check_finding"], Sentence)


def _long(sides: dict[str, list[float]], stance_sign: int = 1) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {"method": m, "sides": s, "stance": stance_sign * s}
            for m, v in sides.items()
            for s in v
        ]
    )


def test_offline_findings_compare_each_method_with_the_base_model():
    statements = pd.DataFrame({"target": [5, 1]})
    offline, glue = found.offline_findings(
        _long({"base": [0.2, 0.4], "ICL": [0.5, 0.5], "PAS": [0.1, 0.1]}), statements
    )
    assert offline["method"].tolist() == ["base", "ICL", "PAS"]
    assert glue["c10_sides_base"] == pytest.approx(0.3) and glue[
        "c10_sides_pas"
    ] == pytest.approx(0.1)
    assert glue["c10_share_affirming"] == 1.0 and glue["c10_share_target_affirm"] == 0.5
    assert glue["c10_offline_finding"] == (
        "ICL's answers lean more towards the subject's side than the base "
        "model's (+0.20); PAS's answers lean less towards the subject's side "
        "than the base model's (-0.20)"
    )
    _, same = found.offline_findings(
        _long({"base": [0.5], "ICL": [0.5], "PAS": [-0.5]}, -1), statements
    )
    assert same["c10_offline_finding"].startswith(
        "ICL's answers lean as much towards the subject's side as the "
        "base model's (+0.00); "
    )
    assert same["c10_share_affirming"] == pytest.approx(1 / 3)


def test_judge_findings_without_verdicts_say_so():
    glue = found.judge_findings(JudgeRun(None, "tiny", "skipped: it failed"), 1)
    assert glue == {
        "c10_judge_status": "skipped: it failed",
        "c10_judge_finding": "Without verdicts there is nothing to set beside the offline judge's stances",
        "c10_run_size": "1 statement, without the paper's judge",
        "c10_judge_ran": 0,
        "c10_judge_n": 0,
    }


def test_judge_findings_set_parsed_verdicts_beside_the_stances():
    judged = pd.DataFrame(
        {"judge_choice": [5.0, 2.0, np.nan, 4.0], "sides": [0.3, 0.2, 0.5, -0.1]}
    )
    glue = found.judge_findings(JudgeRun(judged, "tiny", "judged by tiny"), 2)
    assert glue["c10_judge_parse_fail"] == 0.25 and glue[
        "c10_judge_agreement"
    ] == pytest.approx(1 / 3)
    assert glue["c10_judge_finding"] == (
        "Most of the verdicts (75%) could be parsed; on those, a verdict of 4 or "
        "more and a stance towards the subject's side agree on a minority of the "
        "answers (33%)"
    )
    assert (
        glue["c10_run_size"] == "2 statements, judged by tiny"
        and glue["c10_judge_n"] == 4
    )
    unparsed = found.judge_findings(
        JudgeRun(judged.assign(judge_choice=np.nan), "tiny", "judged"), 2
    )
    assert (
        "c10_judge_agreement" not in unparsed
        and unparsed["c10_judge_parse_fail"] == 1.0
    )
    assert unparsed["c10_judge_finding"] == (
        "None of the verdicts (0%) could be parsed: this judge did not follow "
        "the output format, so there is no verdict to compare with the offline "
        "judge"
    )

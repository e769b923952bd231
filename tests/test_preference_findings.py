"""Chapter 07's findings (palign_nb.preference_findings) on hand-made cases whose
answers are known."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from palign_nb import preference_findings as pf
from palign_nb.findings import Sentence
from palign_nb.inventories import get_inventory
from palign_nb.preference import TRAINING_PARAMETERS, TrainSettings, chapter_settings

IPIP = get_inventory("ipip")
PARAMS = dict(
    zip(
        TRAINING_PARAMETERS,
        [8, 100, 0.05, 0, 1, 2, 5e-4, 0.1, 3, 4, 2, 4, 2, 5e-4, 0.0, 1.0],
    )
)


def test_run_size_reads_the_settings_and_words_the_run():
    settings = chapter_settings(PARAMS, seed=0)
    glued = pf.run_size(settings, [1], ["i"] * 12, ["k"] * 120, 134_515_008)
    assert glued["c07_n_subjects"] == 1 and glued["c07_n_items"] == 12
    assert glued["c07_n_known"] == 120 and glued["c07_dpo_steps"] == 1
    assert glued["c07_dpo_batch"] == 2 and glued["c07_grpo_steps"] == 3
    assert glued["c07_grpo_batch"] == 4 and glued["c07_grpo_generations"] == 2
    assert glued["c07_grpo_iterations"] == 2 and glued["c07_lora_alpha"] == 100
    assert glued["c07_model_size"] == "135 million"
    assert glued["c07_steps_both"] == "1 DPO step and 3 RL steps"
    assert isinstance(glued["c07_run_size"], Sentence)
    assert glued["c07_run_size"] == "1 subject, 1 DPO step and 3 RL steps per subject"
    big = pf.run_size(settings, [1, 2], [], [], 8_030_000_000)
    assert big["c07_model_size"] == "8.0 billion"
    assert big["c07_run_size"].startswith("2 subjects")


def test_pair_findings_count_middle_and_missing_answers_and_epochs():
    pairs = pd.DataFrame({"chosen_value": [5, 3, 3, 1]})  # the 3 makes two pairs
    known = pd.Series([5, 3, 0, 1, 0])
    dpo = TrainSettings("dpo", steps=1, batch_size=2)
    glued = pf.pair_findings(pairs, known, dpo)
    assert glued["c07_n_pairs"] == 4 and glued["c07_n_middle"] == 1
    assert glued["c07_n_missing"] == 2
    assert glued["c07_paper_epochs"] == 1000.0 and glued["c07_our_epochs"] == 0.5
    assert glued["c07_epochs_finding"] == (
        "DPO shows each of the first subject's pairs 0.50 times on average (below "
        "one: some pairs are never seen)"
    )
    more = pf.pair_findings(pairs, known, TrainSettings("dpo", steps=3, batch_size=4))
    assert more["c07_epochs_finding"].endswith("pairs 3.0 times on average")


def _history() -> pd.DataFrame:
    rows = []
    for subject, (loss, margin, reward) in {
        1: ([0.7, 0.5], [0, 1], [-3, -1]),
        2: ([0.7, 0.3], [0, 3], [-5, -1]),
    }.items():
        for step in (1, 2):
            rows.append(
                {
                    "step": step,
                    "subject": subject,
                    "method": "dpo",
                    "loss": loss[step - 1],
                    "rewards/margins": margin[step - 1],
                }
            )
            rows.append(
                {
                    "step": step,
                    "subject": subject,
                    "method": "grpo",
                    "reward": reward[step - 1],
                    "reward_std": 1.0,
                }
            )
    return pd.DataFrame(rows)


def test_curves_and_what_they_say():
    dpo, grpo = pf.curves(_history(), "dpo"), pf.curves(_history(), "grpo")
    assert set(dpo["metric"]) == {"DPO loss", "reward margin"} and len(dpo) == 8
    assert set(grpo["metric"]) == {
        "mean reward of the sampled answers",
        "reward spread in a step",
    }
    glued = pf.curve_findings(dpo, grpo)
    assert glued["c07_dpo_loss_last"] == pytest.approx(0.4)
    assert glued["c07_dpo_margin_last"] == 2.0
    assert (
        glued["c07_grpo_reward_first"] == -4.0 and glued["c07_grpo_reward_last"] == -1.0
    )
    assert glued["c07_curve_finding"] == (
        "the DPO loss improves from 0.700 to 0.400 and the mean RL reward improves "
        "from -4.00 to -1.00"
    )


def test_top_answer_and_the_closest_options():
    assert pf.top_answer(pd.DataFrame({"predicted": [3, 3, 3, 1]})) == ("C", 0.75)
    assert pf.closest_options(np.array([1, 3, 3, 5])) == ["C"]
    assert pf.closest_options(np.array([2, 3, 4, 5])) == [
        "B",
        "C",
    ]  # median 3.5: C and B


@pytest.mark.parametrize(
    "dpo, grpo, says",
    [
        ("C", "C", "Both adapters' most common answer is this least-wrong one"),
        (
            "C",
            "A",
            "The DPO adapters' most common answer is this least-wrong one; the RL "
            "adapters' is A",
        ),
        (
            "E",
            "C",
            "The RL adapters' most common answer is this least-wrong one; the DPO "
            "adapters' is E",
        ),
        (
            "E",
            "A",
            "Neither adapter's most common answer is this least-wrong one (DPO: E, "
            "RL: A)",
        ),
    ],
)
def test_learned_sentence_follows_the_top_answers(dpo, grpo, says):
    tops = {"dpo": (dpo, 0.9), "grpo": (grpo, 0.8)}
    assert pf.learned_sentence(tops, ["C"]).startswith(says)


def _rows(predicted: list[int]) -> pd.DataFrame:
    return pd.DataFrame({"predicted": predicted})


def test_result_findings_read_the_scores_and_the_answers():
    scores = pd.DataFrame(
        [
            {"method": m, "keying": "papi", "variant": "faithful", "composite": c}
            for m, c in [
                ("dpo", 4.0),
                ("grpo", 5.0),
                ("always C", 4.5),
                ("trait mean", 4.2),
                ("no alignment", 4.8),
            ]
        ]
    )
    compared = {
        "no alignment": _rows([3, 3, 3, 3]),
        "dpo": _rows([3, 3, 3, 5]),
        "grpo": _rows([1, 1, 2, 2]),
    }
    plus = IPIP.items.index[IPIP.items["sign"] > 0][:2].tolist()
    minus = IPIP.items.index[IPIP.items["sign"] < 0][:1].tolist()
    # papi reads the stored values: 3, 4, 5 / 2, 3, 0 (missing)
    known = pd.DataFrame([[3, 4, 5], [2, 3, 0]], columns=plus + minus)
    glued = pf.result_findings(
        scores, compared, known, IPIP, "papi", {"DPO": 1.1, "PPO": 2.2}
    )
    assert glued["c07_dpo_composite"] == 4.0 and glued["c07_noalign_composite"] == 4.8
    assert glued["c07_paper_ppo"] == 2.2 and glued["c07_keying"] == "papi"
    assert glued["c07_dpo_changed"] == 0.25 and glued["c07_grpo_changed"] == 1.0
    assert glued["c07_dpo_share_c"] == 0.75 and glued["c07_grpo_share_c"] == 0.0
    assert glued["c07_share_middle_known"] == 0.4 and glued["c07_share_bcd"] == 0.8
    assert (glued["c07_dpo_top"], glued["c07_dpo_top_share"]) == ("C", 0.75)
    assert glued["c07_closest"] == "C" and isinstance(glued["c07_closest"], Sentence)
    assert glued["c07_versus_finding"] == (
        "DPO (4.00) is better than the unaligned model (4.80), and DPO (4.00) is "
        "better than always C (4.50); RL (5.00) is worse than the unaligned model "
        "(4.80), and RL (5.00) is worse than always C (4.50)"
    )
    assert glued["c07_known_finding"] == (
        "About half of these subjects' answered known items (40%) are C and most "
        "(80%) are B, C or D; their median answer is C, the single option closest to "
        "all of them on average"
    )
    assert glued["c07_learned_finding"].startswith("The DPO adapters'")
    assert glued["c07_top_summary"].startswith(
        "the most common answer is C for DPO (75%"
    )
    # the keying decides what the subjects answered: a minus-keyed 5 is a 1 (literal)
    minus = IPIP.items.index[IPIP.items["sign"] < 0][:2].tolist()
    lean = pd.DataFrame([[4, 5, 5]], columns=plus[:1] + minus)
    paper = {"DPO": 1.1, "PPO": 2.2}
    assert (
        pf.result_findings(scores, compared, lean, IPIP, "papi", paper)["c07_closest"]
        == "A"
    )
    literal = pf.result_findings(
        scores.assign(keying="literal"), compared, lean, IPIP, "literal", paper
    )
    assert literal["c07_closest"] == "E" and literal["c07_dpo_composite"] == 4.0
    no_reference = pf.result_findings(
        scores,
        {k: v for k, v in compared.items() if k != "no alignment"},
        known,
        IPIP,
        "papi",
        {"DPO": 1.1, "PPO": 2.2},
    )
    assert np.isnan(no_reference["c07_dpo_changed"])


def test_cost_findings_per_step_per_example_and_the_papers_run():
    timings = pd.DataFrame(
        {
            "subject": [1, 2, 1, 2, 1, 1],
            "method": ["dpo"] * 4 + ["grpo"] * 2,
            "stage": ["train", "train", "score", "score", "train", "score"],
            "seconds": [10.0, 30.0, 1.0, 3.0, 60.0, 5.0],
        }
    )
    settings = {
        "dpo": TrainSettings("dpo", steps=4, batch_size=2),
        "grpo": TrainSettings("grpo", steps=3, batch_size=4, num_generations=2),
    }
    per_subject, glued = pf.cost_findings(timings, settings)
    assert per_subject.loc["dpo", "seconds per example"] == 2.5
    assert glued["c07_dpo_train_s"] == 20.0 and glued["c07_dpo_score_s"] == 2.0
    assert glued["c07_dpo_step_s"] == 5.0 and glued["c07_grpo_step_s"] == 20.0
    assert glued["c07_dpo_paper_min"] == pytest.approx(2.5 * 4000 / 60)
    assert glued["c07_grpo_paper_min"] == pytest.approx(5.0 * 4000 / 60)


def test_roundtrip_findings_compare_the_same_items_and_size_the_folder(tmp_path):
    cols = [f"p_{x}" for x in "ABCDE"]
    trained = pd.DataFrame(
        {
            "subject": [1, 1, 2],
            "item": ["a", "b", "a"],
            **{c: [0.2, 0.2, 0.9] for c in cols},
        }
    )
    rescored = pd.DataFrame({c: [0.2, 0.2] for c in cols}, index=["b", "a"])
    rescored.loc["b", "p_C"] = 0.25
    (tmp_path / "adapter_model.safetensors").write_bytes(b"x" * 2048)
    (tmp_path / "adapter_config.json").write_bytes(b"x" * 1024)
    glued = pf.roundtrip_findings(rescored, trained, 1, tmp_path)
    assert glued["c07_roundtrip_diff"] == pytest.approx(0.05)
    assert glued["c07_adapter_kb"] == 3.0

"""Chapter 03's bookkeeping (palign_nb.asking_findings) on hand-made cases."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch
from transformers import LlamaConfig, LlamaForCausalLM

from palign_nb import asking_findings
from palign_nb.findings import Sentence
from palign_nb.inventories import get_inventory
from palign_nb.models import LoadedModel
from palign_nb.readouts import PROB_COLUMNS

IPIP = get_inventory("ipip")
#: One IPIP item per trait.
ITEMS = list(IPIP.items.groupby("trait").head(1).index)


def _options(values: list[int], index: list[str]) -> pd.DataFrame:
    """An option table that puts 0.8 on each given value (A = 5 .. E = 1)."""
    probs = np.full((len(values), 5), 0.05)
    probs[np.arange(len(values)), [5 - v for v in values]] = 0.8
    table = pd.DataFrame(probs, index=index, columns=PROB_COLUMNS)
    return table.assign(predicted=[float(v) for v in values])


def test_few_shot_items_are_the_papers_for_ipip_and_every_answer_for_sd3():
    splits = {"paper_known": ["a", "b"], "known": ["c"], "validation": ["d", "e"]}
    assert asking_findings.few_shot_items(splits, "ipip") == ["a", "b"]
    assert asking_findings.few_shot_items(splits, "sd3") == ["c", "d", "e"]


@pytest.mark.parametrize(
    "n, name", [(134_515_008, "135M"), (8_030_261_248, "8.0B"), (1_000_000_000, "1.0B")]
)
def test_model_size(n, name):
    assert asking_findings.model_size(n) == name


def test_model_costs_count_the_head_and_the_layers_of_a_tiny_llama():
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=100,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=4,
        tie_word_embeddings=True,
    )
    lm = LoadedModel(
        LlamaForCausalLM(config), None, "tiny", "random", torch.device("cpu")
    )
    costs = asking_findings.model_costs(lm)
    # per layer: q, k, v, o (32 x 32) and gate, up, down (32 x 64)
    per_layer = 4 * 32 * 32 + 3 * 32 * 64
    assert costs["c03_hidden"] == 32 and costs["c03_vocab"] == 100
    assert costs["c03_n_layers"] == 2
    assert costs["c03_head_mmacs"] == pytest.approx(100 * 32 / 1e6)
    assert costs["c03_layers_mmacs"] == pytest.approx(2 * per_layer / 1e6)
    # the tied embedding counted once, two norms per layer and the final norm
    assert costs["c03_n_params"] == 100 * 32 + 2 * (per_layer + 2 * 32) + 32
    assert costs["c03_model_size"] == "0M"


def test_prompt_lengths_round_the_mean_suffix_down():
    lengths = asking_findings.prompt_lengths([1, 2, 3], [[1], [1, 2], [1, 2, 3, 4]])
    assert lengths == {
        "c03_prefix_tokens": 3,
        "c03_suffix_tokens": 2,
        "c03_prompt_tokens": 5,
    }


def test_modes_agree_on_parsed_answers_only():
    generated = pd.DataFrame(
        {"text": ["A)", "?", "C.", "E "], "predicted": [5.0, np.nan, 3.0, 1.0]},
        index=["i1", "i2", "i3", "i4"],
    )
    scored = _options([5, 4, 2, 1, 3], ["i1", "i2", "i3", "i4", "i5"])
    both = asking_findings.join_modes(generated, scored)
    assert list(both.index) == ["i1", "i2", "i3", "i4"]
    assert list(both["option_scoring"]) == [5.0, 4.0, 2.0, 1.0]
    # i1 and i4 agree, i3 does not, i2 did not parse
    assert asking_findings.mode_agreement(both) == pytest.approx(2 / 3)
    glue = asking_findings.mode_findings(both, option_s=0.5, generate_s=2.0)
    assert glue == {
        "c03_fast_s_per_item": 0.5,
        "c03_gen_s_per_item": 2.0,
        "c03_speedup": 4.0,
        "c03_gen_min": pytest.approx(8 / 60),
        "c03_agreement": pytest.approx(2 / 3),
        "c03_parse_fail": 0.25,
    }
    speed = asking_findings.speed_record(both, 0.5, 2.0)
    assert speed["parse_failure"] == 0.25 and speed["items_generated"] == 4
    assert list(speed) == [
        "option_s_per_item",
        "generate_s_per_item",
        "agreement",
        "parse_failure",
        "items_generated",
    ]


def test_no_parsed_answer_leaves_the_agreement_undefined():
    generated = pd.DataFrame({"text": ["?"], "predicted": [np.nan]}, index=["i1"])
    both = asking_findings.join_modes(generated, _options([3], ["i1"]))
    assert math.isnan(asking_findings.mode_agreement(both))
    assert asking_findings.speed_record(both, 1.0, 1.0)["parse_failure"] == 1.0


def test_timing_table_puts_each_mode_beside_its_seconds():
    table = asking_findings.timing_table(0.1, 3.0)
    assert dict(zip(table["mode"], table["seconds per item"])) == {
        "generate + regex (paper)": 3.0,
        "option log-likelihood (ours)": 0.1,
    }


def test_precision_findings_compare_float32_with_the_half_precision():
    answers = pd.DataFrame([[5, 4, 3, 2, 1]], index=[7], columns=ITEMS)
    full = _options([5, 4, 3, 2, 1], ITEMS)
    half = full.copy()
    half.loc[ITEMS[0], "p_A"] = 0.7  # one probability moves by 0.1, no answer changes
    # the half precision first: the float32 table is found by its name
    by_dtype = {"bfloat16": half, "float32": full}
    table, glue = asking_findings.precision_findings(
        by_dtype, 7, answers, IPIP, "papi", "bfloat16 (test)"
    )
    assert asking_findings.half_name(by_dtype) == "bfloat16"
    assert list(table.columns) == ["float32 vs bfloat16"]
    assert glue["c03_precision_items"] == 5
    assert glue["c03_precision_agreement"] == 1.0
    assert glue["c03_precision_max_abs_dp"] == pytest.approx(0.1)
    assert glue["c03_precision_mean_abs_dp"] == pytest.approx(0.1 / 25)
    assert glue["c03_precision_composite_full"] == 0.0
    assert glue["c03_precision_composite_difference"] == 0.0
    assert glue["c03_precision"] == "bfloat16 (test)"
    finding = glue["c03_precision_finding"]
    assert isinstance(finding, Sentence)
    assert "gave the same answer on every one of them" in finding
    assert "left the subject's composite error unchanged" in finding
    chart = asking_findings.precision_chart(by_dtype)
    assert list(chart.data.columns) == ["bfloat16", "float32"]
    assert len(chart.data) == 25
    assert chart.data["bfloat16"].iloc[0] == pytest.approx(0.7)

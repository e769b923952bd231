"""The results chapter's plumbing: method registry, common rows, paired tests, missing stores."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from palign_nb import results, store
from palign_nb.config import RunConfig
from palign_nb.errors import PalignError, StoreMissing
from palign_nb.inventories import get_inventory


def test_sign_flip_exact_hand_computed():
    # differences (1, 2, 3): mean 2; of the 8 sign patterns only (+,+,+) and (-,-,-) reach |mean| >= 2
    assert results.sign_flip_test(np.array([1.0, 2.0, 3.0])) == pytest.approx(2 / 8)
    # (1, -1): every pattern has |mean| >= 0, so p = 1
    assert results.sign_flip_test(np.array([1.0, -1.0])) == pytest.approx(1.0)
    # two subjects can never give p below 2 / 2**2
    assert results.sign_flip_test(np.array([5.0, 7.0])) == pytest.approx(0.5)


def test_sign_flip_monte_carlo_detects_a_shift():
    rng = np.random.default_rng(0)
    assert results.sign_flip_test(rng.normal(1.0, 1.0, size=40), seed=0) < 0.01
    assert results.sign_flip_test(rng.normal(0.0, 1.0, size=40), seed=0) > 0.01
    with pytest.raises(PalignError, match="No paired differences"):
        results.sign_flip_test(np.array([np.nan]))


def _table(subjects, items, predicted, stored=4):
    rows = [{"subject": s, "item": i, "predicted": p, "stored": stored} for s in subjects for i, p in zip(items, predicted)]
    frame = pd.DataFrame(rows)
    frame["trait"] = get_inventory("ipip").items.loc[frame["item"], "trait"].to_numpy()
    return frame


def test_common_rows_keeps_only_shared_pairs():
    a = _table([1, 2], ["i1", "i2", "i3"], [4, 4, 4])
    b = _table([2, 3], ["i2", "i3"], [5, 5])
    common = results.common_rows({"a": a, "b": b})
    assert list(zip(common["a"]["subject"], common["a"]["item"])) == [("2", "i2"), ("2", "i3")]
    assert list(common["b"]["item"]) == ["i2", "i3"]
    with pytest.raises(PalignError, match="share no"):
        results.common_rows({"a": a, "c": _table([9], ["i1"], [1])})


def test_paired_comparison_sign_and_size():
    inv = get_inventory("ipip")
    items = ["i1", "i2", "i3"]  # plus-keyed items: papi targets equal the stored value 4
    perfect = _table([1, 2, 3], items, [4, 4, 4])
    worse = _table([1, 2, 3], items, [2, 2, 2])
    out = results.paired_comparison("perfect", {"perfect": perfect, "worse": worse}, inv, "papi", n_boot=200)
    row = out.iloc[0]
    assert row["method"] == "worse" and row["subjects"] == 3 and row["items"] == 9
    # i1, i2, i3 belong to three traits: each subject's composite rises by 3 x 2 = 6; the reference is better
    assert row["mean difference"] == pytest.approx(6.0) and row["low"] == pytest.approx(6.0)
    assert row["p (subjects)"] == pytest.approx(2 / 8)


def test_missing_table_names_the_chapter(tmp_path):
    cfg = RunConfig(results_dir=str(tmp_path))
    with pytest.raises(StoreMissing, match="notebooks/05_pas.ipynb"):
        results.load_methods(cfg, tuple(m for m in results.IPIP_METHODS if m.key == "pas_icl"), "papi")
    store.save_table(cfg, "predictions_no_alignment", _table([1], ["i1"], [3]), chapter="03_asking_the_model")
    oracle = [m for m in results.IPIP_METHODS if m.optional]
    assert [m.key for m in oracle] == ["pas_oracle"]  # a variant chapter 05 runs only when asked: skipped when missing
    assert results.load_methods(cfg, tuple(oracle), "papi") == {}
    assert list(results.load_methods(cfg, results.IPIP_METHODS[:1], "papi")) == ["no alignment"]


def test_method_tables_per_keying():
    by_label = {m.label: m for m in results.IPIP_METHODS}
    assert by_label["DPO"].table("papi") == "predictions_dpo_papi"
    assert by_label["DPO"].table("literal") == "predictions_dpo_literal"
    assert by_label["no alignment"].table("literal") == "predictions_no_alignment"
    assert "few-shot, validation held out" not in {m.label for m in results.SD3_METHODS}
    assert results.paper_composite("DPO") == 7.45 and results.paper_composite("PAS", "Llama-3-70B-Instruct") == 4.74
    assert {m.paper for m in results.IPIP_METHODS if m.paper} <= set(results.PAPER_TABLE1["method"]) | {"PPO"}
    pas = results.PAPER_TABLE1.iloc[0]
    assert pas[["A", "C", "E", "N", "O"]].sum() == pytest.approx(pas["composite"])


def test_sd3_setting_read_from_the_splits_record():
    """Chapter 09 labels the Dark Triad table with the setting chapter 08 stored, and refuses to guess."""
    assert results.sd3_setting({"setting": "paper"})[0] == "paper"
    assert "K-means" in results.sd3_setting({"setting": "kmeans"})[1]
    with pytest.raises(PalignError, match="rerun notebooks/08_dark_triad.ipynb"):
        results.sd3_setting({"inventory": "sd3"})  # a store written before the setting existed

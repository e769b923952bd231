"""The results chapter's plumbing: method registry, common rows, paired tests, missing stores."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from palign_nb import controls, paper_numbers, results, significance, store
from palign_nb.config import RunConfig
from palign_nb.errors import PalignError, StoreMissing
from palign_nb.inventories import get_inventory
from palign_nb.metrics import add_targets


def test_sign_flip_exact_hand_computed():
    # differences (1, 2, 3): mean 2; of the 8 sign patterns only (+,+,+) and (-,-,-) reach |mean| >= 2
    assert significance.sign_flip_test(np.array([1.0, 2.0, 3.0])) == pytest.approx(
        2 / 8
    )
    # (1, -1): every pattern has |mean| >= 0, so p = 1
    assert significance.sign_flip_test(np.array([1.0, -1.0])) == pytest.approx(1.0)
    # two subjects can never give p below 2 / 2**2
    assert significance.sign_flip_test(np.array([5.0, 7.0])) == pytest.approx(0.5)


def test_sign_flip_monte_carlo_detects_a_shift():
    rng = np.random.default_rng(0)
    assert significance.sign_flip_test(rng.normal(1.0, 1.0, size=40), seed=0) < 0.01
    assert significance.sign_flip_test(rng.normal(0.0, 1.0, size=40), seed=0) > 0.01
    with pytest.raises(PalignError, match="No paired differences"):
        significance.sign_flip_test(np.array([np.nan]))


def _table(subjects, items, predicted, stored=4):
    rows = [
        {"subject": s, "item": i, "predicted": p, "stored": stored}
        for s in subjects
        for i, p in zip(items, predicted)
    ]
    frame = pd.DataFrame(rows)
    frame["trait"] = get_inventory("ipip").items.loc[frame["item"], "trait"].to_numpy()
    return frame


def test_common_rows_keeps_only_shared_pairs():
    a = _table([1, 2], ["i1", "i2", "i3"], [4, 4, 4])
    b = _table([2, 3], ["i2", "i3"], [5, 5])
    common = results.common_rows({"a": a, "b": b})
    assert list(zip(common["a"]["subject"], common["a"]["item"])) == [
        (2, "i2"),
        (2, "i3"),
    ]
    assert list(common["b"]["item"]) == ["i2", "i3"]
    with pytest.raises(PalignError, match="share no"):
        results.common_rows({"a": a, "c": _table([9], ["i1"], [1])})


def test_paired_comparison_sign_and_size():
    inv = get_inventory("ipip")
    items = [
        "i1",
        "i2",
        "i3",
    ]  # plus-keyed items: papi targets equal the stored value 4
    perfect = _table([1, 2, 3], items, [4, 4, 4])
    worse = _table([1, 2, 3], items, [2, 2, 2])
    out = results.paired_comparison(
        "perfect", {"perfect": perfect, "worse": worse}, inv, "papi", n_boot=200
    )
    row = out.iloc[0]
    assert row["method"] == "worse" and row["subjects"] == 3 and row["items"] == 9
    # i1, i2, i3 belong to three traits: each subject's composite rises by 3 x 2 = 6; the reference is better
    assert row["mean difference"] == pytest.approx(6.0) and row["low"] == pytest.approx(
        6.0
    )
    assert row["p (subjects)"] == pytest.approx(2 / 8)


def test_missing_table_names_the_chapter(tmp_path):
    cfg = RunConfig(results_dir=str(tmp_path))
    with pytest.raises(StoreMissing, match="notebooks/05_pas.ipynb"):
        results.load_methods(
            cfg, tuple(m for m in results.IPIP_METHODS if m.key == "pas_icl"), "papi"
        )
    store.save_table(
        cfg,
        "predictions_no_alignment",
        _table([1], ["i1"], [3]),
        chapter="03_asking_the_model",
    )
    # the oracle runs fewer subjects: chapter 05 keeps it, 9.8 compares it like for like
    assert "pas_oracle" not in {m.key for m in results.IPIP_METHODS}
    assert list(results.load_methods(cfg, results.IPIP_METHODS[:1], "papi")) == [
        "no_alignment"
    ]


def test_method_tables_per_keying():
    by_label = {m.label: m for m in results.IPIP_METHODS}
    assert by_label["DPO"].table("papi") == "predictions_dpo_papi"
    assert by_label["DPO"].table("literal") == "predictions_dpo_literal"
    assert by_label["no alignment"].table("literal") == "predictions_no_alignment"
    assert "few-shot, validation held out" not in {m.label for m in results.SD3_METHODS}
    assert (
        paper_numbers.paper_composite("DPO") == 7.45
        and paper_numbers.paper_composite("PAS", "Llama-3-70B-Instruct") == 4.74
    )
    assert {m.paper for m in results.IPIP_METHODS if m.paper} <= set(
        paper_numbers.PAPER_TABLE1["method"]
    ) | {"PPO"}
    pas = paper_numbers.PAPER_TABLE1.iloc[0]
    assert pas[["A", "C", "E", "N", "O"]].sum() == pytest.approx(pas["composite"])


def test_sd3_setting_read_from_the_splits_record():
    """Chapter 09 labels the Dark Triad table with the setting chapter 08 stored, and refuses to guess."""
    assert results.sd3_setting({"setting": "paper"})[0] == "paper"
    assert "K-means" in results.sd3_setting({"setting": "kmeans"})[1]
    with pytest.raises(PalignError, match="rerun notebooks/08_dark_triad.ipynb"):
        results.sd3_setting(
            {"inventory": "sd3"}
        )  # a store written before the setting existed


# --- chapter 09's controls, readouts per subject and verdicts -------------------------------------------


def _answers() -> pd.DataFrame:
    """Four subjects on N items i1, i6, i11 (i1, i6 known, i6 also a validation item; i11 tested) and E item i2 (tested)."""
    return pd.DataFrame(
        {
            "i1": [5, 1, 3, 3],
            "i6": [5, 1, 3, 2],
            "i11": [4, 2, 2, 3],
            "i2": [2, 4, 4, 4],
        },
        index=pd.Index([10, 20, 30, 40], name="subject"),
    )


def test_with_controls_adds_every_no_model_predictor_on_the_common_rows():
    inv = get_inventory("ipip")
    # the run's rows: subjects 30 and 10 (not in the answers' order), items i2 then i11
    run = _table([30, 10], ["i2", "i11"], [3, 3])
    run["stored"] = [_answers().loc[s, i] for s, i in zip(run["subject"], run["item"])]
    out = controls.with_controls(
        {"m": run},
        _answers(),
        inv,
        known=["i1", "i6"],
        validation=["i6"],
        keying="papi",
    )
    assert set(out) == {"m", *controls.PREDICTORS}
    for label in ("item_prior_loo", "trait_offset", "best_constant"):
        table = out[label]
        assert list(zip(table["subject"], table["item"])) == [
            (30, "i2"),
            (30, "i11"),
            (10, "i2"),
            (10, "i11"),
        ], label
        assert list(table["target"]) == [4, 2, 2, 4], label
    # the item prior: the median of the OTHER three subjects' answers (subject 30 on i2: others 2, 4, 4 -> 4)
    assert list(out["item_prior_loo"]["predicted"]) == [4, 3, 4, 2]
    # the best constant is chosen on the validation item i6 (answers 5, 1, 3, 2: C = 3 has the lowest error)
    assert set(out["best_constant"]["predicted"]) == {3.0}
    # the trait offset: subject 10 sits far above the others on its known N items, so its N prediction rises
    offset = out["trait_offset"].set_index(["subject", "item"])["predicted"]
    assert (
        offset[(10, "i11")]
        > out["item_prior_loo"].set_index(["subject", "item"])["predicted"][(10, "i11")]
    )
    with pytest.raises(PalignError, match="not in the answers"):
        controls.with_controls(
            {"m": run.assign(subject=99)}, _answers(), inv, ["i1", "i6"], ["i6"], "papi"
        )


def test_per_subject_readouts_average_to_the_method_summary():
    from palign_nb import readout_tables, readouts

    inv = get_inventory("ipip")
    items = ["i1", "i2", "i3", "i4", "i5", "i6"]
    rng = np.random.default_rng(0)
    rows = _table([1, 2, 3], items, [5, 4, 3, 2, 1, 2])
    rows["stored"] = rng.integers(1, 6, size=len(rows))
    probs = rng.dirichlet(np.ones(5), size=len(rows))
    rows[readouts.PROB_COLUMNS] = probs
    graded = readout_tables.add_readouts(
        add_targets(rows, inv, "papi"), readouts.letter_priors_by_subject(rows)
    )
    per_subject = results.per_subject_readouts(graded)
    summary = readout_tables.summarise_methods({"m": graded}).loc["m"]
    assert list(per_subject.index) == [1, 2, 3]
    for column in [
        "argmax (paper's protocol)",
        "calibrated median",
        "RPS",
        "profile r (argmax)",
    ]:
        assert per_subject[column].mean() == pytest.approx(summary[column]), column
    # a control without option probabilities: its distribution readouts are NaN, not an error
    bare = results.per_subject_readouts(
        add_targets(rows.drop(columns=readouts.PROB_COLUMNS), inv, "papi")
    )
    assert bare["RPS"].isna().all() and bare["calibrated median"].isna().all()


def test_readout_intervals_bracket_the_mean_and_mark_what_is_missing():
    inv = get_inventory("ipip")
    rows = _table([1, 2, 3, 4], ["i1", "i2", "i3"], [5, 3, 1])
    rows["stored"] = np.tile([5, 3, 2], 4) + np.repeat([0, 0, -1, -1], 3)
    out = results.readout_intervals(
        {"m": add_targets(rows, inv, "papi")}, n_boot=200
    ).set_index("readout")
    argmax = out.loc["argmax (paper's protocol)"]
    assert argmax["low"] <= argmax["mean"] <= argmax["high"] and argmax["subjects"] == 4
    assert np.isnan(out.loc["RPS", "mean"]) and out.loc["RPS", "subjects"] == 0


def test_claim_verdicts_follow_the_difference_the_p_and_degeneracy():
    assert significance.claim_verdict(np.nan, np.nan) == "not measured"
    assert significance.claim_verdict(-1.0, 0.01) == "does not reproduce"
    assert significance.claim_verdict(0.0, 1.0) == "does not reproduce"
    assert significance.claim_verdict(1.0, 0.01) == "reproduces"
    assert significance.claim_verdict(1.0, 0.5) == "same direction, not significant"
    # a one-letter PAS that wins is not credited; one that loses does not reproduce the claim either way
    assert (
        significance.claim_verdict(1.0, 0.01, degenerate=True)
        == significance.DEGENERATE_VERDICT
    )
    assert (
        significance.claim_verdict(-1.0, 0.01, degenerate=True) == "does not reproduce"
    )

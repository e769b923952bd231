"""Unit tests of palign_nb.readouts (seconds, no model): point readouts, letter-bias calibration,
proper scores, profile correlation, modal share and the model-free controls, on hand-computed cases."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from palign_nb import controls, metrics, readout_tables, readouts
from palign_nb import inventories as inv
from palign_nb.errors import PalignError

# Distributions are rows p_A..p_E (A = 5 .. E = 1).
SPREAD = [0.1, 0.2, 0.3, 0.2, 0.2]  # by value 1..5: .2 .2 .3 .2 .1 -> CDF .2 .4 .7 .9 1
SPLIT_E_HEAVY = [
    0.3,
    0.25,
    0.0,
    0.0,
    0.45,
]  # argmax E (1); CDF .45 .45 .45 .70 1 -> median 4


# --- point readouts --------------------------------------------------------------------------------


def test_median_hand_made():
    probs = [
        SPREAD,  # CDF(2) = .4 < .5 <= CDF(3) = .7 -> 3
        SPLIT_E_HEAVY,  # the argmax says 1, the median 4
        [0, 0, 0, 1, 0],  # all mass on D -> 2
        [0.6, 0.1, 0.1, 0.1, 0.1],  # CDF(4) = .4 -> 5
        [np.nan, 0.2, 0.2, 0.2, 0.2],  # unknown -> NaN
    ]
    got = readouts.distribution_median(probs)
    assert got[:4].tolist() == [3, 4, 2, 5] and np.isnan(got[4])


def test_median_tie_takes_the_lower_value():
    # A .5, E .5: CDF(1) = .5 exactly, every value 1..5 minimises the expected absolute error -> 1
    assert readouts.distribution_median([[0.5, 0, 0, 0, 0.5]]).tolist() == [1]
    # unnormalised counts are renormalised first: the same tie
    assert readouts.distribution_median([[2, 0, 0, 0, 2]]).tolist() == [1]
    # by value 1..3: .3 + .15 + .05 = 0.49999999999999994 in floating point, 0.5 on paper -> 3, not 4
    assert readouts.distribution_median([[0.25, 0.25, 0.05, 0.15, 0.3]]).tolist() == [3]


def test_expected_value():
    # SPREAD: 5*.1 + 4*.2 + 3*.3 + 2*.2 + 1*.2 = 2.8; SPLIT_E_HEAVY: 1.5 + 1.0 + .45 = 2.95
    got = readouts.expected_value([SPREAD, SPLIT_E_HEAVY, [0.5, 0, 0, 0, 0.5]])
    assert got == pytest.approx([2.8, 2.95, 3.0])


def test_distributions_reject_bad_input():
    with pytest.raises(PalignError, match="shape"):
        readouts.distribution_median([[0.5, 0.5]])
    with pytest.raises(PalignError, match="non-negative"):
        readouts.expected_value([[-0.1, 0.3, 0.3, 0.3, 0.2]])


# --- proper scores ---------------------------------------------------------------------------------


def test_rps_hand_computed():
    # SPREAD has CDF .2 .4 .7 .9 at thresholds 1..4.
    #   target 3: observed CDF 0 0 1 1 -> .2^2 + .4^2 + .3^2 + .1^2 = .04 + .16 + .09 + .01 = .30
    #   target 5: observed CDF 0 0 0 0 -> .04 + .16 + .49 + .81 = 1.50
    # All mass on A (5), target 1: four thresholds each off by 1 -> 4 = |5 - 1|, the paper's error.
    # Target 0 (missing) -> NaN.
    probs = [SPREAD, SPREAD, [1, 0, 0, 0, 0], SPREAD]
    got = readouts.ranked_probability_score(probs, [3, 5, 1, 0])
    assert got[:3] == pytest.approx([0.30, 1.50, 4.0]) and np.isnan(got[3])


def test_rps_of_a_sure_forecast_is_the_absolute_error():
    for value in range(1, 6):
        one_hot = np.zeros((5, 5))
        one_hot[:, 5 - value] = 1
        rps = readouts.ranked_probability_score(one_hot, [1, 2, 3, 4, 5])
        assert rps.tolist() == [abs(value - t) for t in [1, 2, 3, 4, 5]]


def test_log_loss_hand_computed():
    # SPREAD, target 3 -> -log .3; target 5 -> -log .1; all mass on A, target 1 -> -log(clip)
    got = readouts.log_loss([SPREAD, SPREAD, [1, 0, 0, 0, 0], SPREAD], [3, 5, 1, 0])
    assert got[:3] == pytest.approx(
        [-np.log(0.3), -np.log(0.1), -np.log(1e-6)]
    ) and np.isnan(got[3])
    assert readouts.log_loss([[1, 0, 0, 0, 0]], [1], clip=1e-3) == pytest.approx(
        [np.log(1e3)]
    )


# --- calibration -----------------------------------------------------------------------------------


def test_letter_prior_is_the_mean_distribution():
    # (.1+.3)/2, (.2+.2)/2, (.3+.1)/2, .2, .2 -> uniform
    assert readouts.letter_prior([SPREAD, [0.3, 0.2, 0.1, 0.2, 0.2]]) == pytest.approx(
        [0.2] * 5
    )
    assert readouts.letter_prior([[1, 0, 0, 0, 1], [0, 0, 0, 0, 2]]) == pytest.approx(
        [0.25, 0, 0, 0, 0.75]
    )


def test_calibrate_removes_a_known_prior_exactly():
    true = np.array([[0.1, 0.2, 0.4, 0.2, 0.1], [0.6, 0.2, 0.1, 0.05, 0.05]])
    prior = np.array([0.1, 0.1, 0.1, 0.1, 0.6])  # a prompt that pushes towards E
    biased = true * prior / (true * prior).sum(axis=1, keepdims=True)
    # row 1: true * prior = .01 .02 .04 .02 .06 (/ .15): by value 1..5 .4 .13 .27 .. -> CDF(2) = .53 -> 2
    # row 2: .06 .02 .01 .005 .03 (/ .125): by value .24 .04 .08 .16 .48 -> CDF(3) = .36, CDF(4) = .52 -> 4
    assert readouts.distribution_median(biased).tolist() == [
        2,
        4,
    ]  # both pulled down from 3, 5
    assert readouts.calibrate(biased, prior) == pytest.approx(true)
    assert readouts.calibrated_median(biased, prior).tolist() == [
        3,
        5,
    ]  # the true medians (CDF(2) .3, CDF(4) .4)
    # Contextual calibration: content-free prompts show the prior itself, which becomes uniform.
    content_free = np.array([prior, prior, prior])
    estimated = readouts.letter_prior(content_free)
    assert estimated == pytest.approx(prior)
    assert readouts.calibrate(content_free, estimated) == pytest.approx(
        np.full((3, 5), 0.2)
    )


def test_calibrate_rejects_a_zero_prior():
    with pytest.raises(PalignError, match="positive"):
        readouts.calibrate([SPREAD], [0.25, 0.25, 0.25, 0.25, 0.0])
    with pytest.raises(PalignError, match="shape"):
        readouts.calibrate([SPREAD], [0.5, 0.5])


def test_batch_calibration_recovers_the_true_answers():
    # Ten items per subject whose true distributions peak on each letter twice (balanced letters),
    # seen through a planted per-subject letter prior. The prior is estimated from the subject's own
    # rows (batch calibration, no answers used), divided out, and the true readouts come back.
    base = np.array([0.7, 0.15, 0.08, 0.05, 0.02])
    true = np.array([np.roll(base, k) for k in range(5)] * 2)
    planted = {
        "s1": np.array([0.04, 0.04, 0.04, 0.08, 0.8]),
        "s2": np.array([0.8, 0.08, 0.04, 0.04, 0.04]),
    }
    frames = []
    for subject, prior in planted.items():
        biased = true * prior / (true * prior).sum(axis=1, keepdims=True)
        frame = pd.DataFrame(biased, columns=readouts.PROB_COLUMNS)
        frames.append(
            frame.assign(
                subject=subject, item=[f"q{i}" for i in range(10)], trait="A", target=3
            )
        )
    table = pd.concat(frames, ignore_index=True)
    true_median = np.tile(
        readouts.distribution_median(true), 2
    )  # 5 4 3 2 1 5 4 3 2 1, twice
    assert not np.array_equal(
        readouts.distribution_median(table[readouts.PROB_COLUMNS]), true_median
    )

    priors = readouts.letter_priors_by_subject(table)
    assert priors.index.tolist() == ["s1", "s2"]
    assert (
        priors.loc["s1"].to_numpy().argmax() == 4
        and priors.loc["s2"].to_numpy().argmax() == 0
    )
    out = readout_tables.add_readouts(table, priors)
    assert out["calibrated_median"].tolist() == true_median.tolist()
    calibrated = readouts.calibrate(
        table[readouts.PROB_COLUMNS], priors.loc[table["subject"]].to_numpy()
    )
    assert (
        calibrated.argmax(axis=1).tolist() == np.tile(true.argmax(axis=1), 2).tolist()
    )


# --- the table function ----------------------------------------------------------------------------


def test_add_readouts_columns():
    table = pd.DataFrame([SPREAD, SPLIT_E_HEAVY], columns=readouts.PROB_COLUMNS).assign(
        subject=[1, 1], item=["a", "b"], trait="A", target=[3, 0], predicted=[3.0, 1.0]
    )
    out = readout_tables.add_readouts(table)
    assert "calibrated_median" not in out and out["predicted"].tolist() == [3.0, 1.0]
    assert out["median"].tolist() == [3, 4] and out[
        "expected"
    ].tolist() == pytest.approx([2.8, 2.95])
    assert out["rps"][0] == pytest.approx(0.30) and out["logloss"][0] == pytest.approx(
        -np.log(0.3)
    )
    assert out[["rps", "logloss"]].iloc[1].isna().all()  # missing target
    priors = pd.DataFrame(
        [[0.2] * 5], index=["1"], columns=readouts.PROB_COLUMNS
    )  # subject "1" is not 1
    with pytest.raises(PalignError, match="letter prior"):
        readout_tables.add_readouts(table, priors)


# --- profile and degeneracy ------------------------------------------------------------------------


def test_profile_spearman_and_constant_sides():
    table = pd.DataFrame(
        {
            "subject": ["flat"] * 3 + ["same"] * 3 + ["mono"] * 4 + ["ties"] * 4,
            "target": [1, 3, 5] + [4, 4, 4] + [1, 2, 3, 0] + [1, 3, 2, 4],
            "expected": [1, 1, 1] + [1, 2, 3] + [1.1, 1.2, 4.9, 5] + [1, 2, 2, 3],
        }
    )
    got = readouts.profile_spearman(table, "expected")
    assert np.isnan(got.loc["flat", "r"]) and got.loc["flat", "readout_constant"]
    assert np.isnan(got.loc["same", "r"]) and got.loc["same", "target_constant"]
    assert not got.loc["same", "readout_constant"]
    # monotone but not linear: Spearman 1; the row with a missing target is left out (3 items)
    assert (
        got.loc["mono", "r"] == pytest.approx(1.0) and got.loc["mono", "n_items"] == 3
    )
    # ranks (average for ties): readout 1 2.5 2.5 4, target 1 3 2 4; deviations from 2.5:
    # -1.5 0 0 1.5 and -1.5 .5 -.5 1.5 -> r = 4.5 / sqrt(4.5 * 5) = sqrt(.9)
    assert got.loc["ties", "r"] == pytest.approx(np.sqrt(0.9))


def test_modal_share():
    table = pd.DataFrame(
        {
            "subject": ["a"] * 4 + ["b"] * 5,
            "predicted": [1, 1, 1, 2] + [1, 2, 3, 4, np.nan],
        }
    )
    assert readouts.modal_share(table).to_dict() == {"a": 0.75, "b": 0.25}


# --- controls --------------------------------------------------------------------------------------


def _long(values: dict[str, dict[str, int]], traits: dict[str, str]) -> pd.DataFrame:
    """{item: {subject: target}} -> long rows subject, item, trait, target."""
    rows = [
        (s, item, traits[item], t)
        for item, by_subject in values.items()
        for s, t in by_subject.items()
    ]
    return pd.DataFrame(rows, columns=["subject", "item", "trait", "target"])


def test_loo_item_prior_hand_computed():
    table = _long(
        {"q1": {"s1": 5, "s2": 4, "s3": 4}, "q2": {"s1": 2, "s2": 0, "s3": 1}},
        {"q1": "A", "q2": "A"},
    )
    out = controls.loo_item_prior(table).set_index(["subject", "item"])
    # s1,q1: others 4,4 -> B 1 -> 4.  s2,q1 and s3,q1: others 5,4 -> A .5 B .5, CDF(4) = .5 -> tie, lower: 4
    # s1,q2: others 1 (s2 missing) -> 1.  s2,q2: others 2,1 -> CDF(1) = .5 -> 1.  s3,q2: others 2 -> 2
    expected = {
        ("s1", "q1"): 4,
        ("s2", "q1"): 4,
        ("s3", "q1"): 4,
        ("s1", "q2"): 1,
        ("s2", "q2"): 1,
        ("s3", "q2"): 2,
    }
    assert out["predicted"].to_dict() == expected
    assert out.loc[("s2", "q1"), readouts.PROB_COLUMNS].tolist() == [0.5, 0.5, 0, 0, 0]
    assert (
        out.loc[("s1", "q2"), "prior_n"] == 1 and out.loc[("s2", "q2"), "prior_n"] == 2
    )
    # pseudocount 1: s1,q1 counts A 0 B 2 C 0 D 0 E 0 -> 1 3 1 1 1 over 7
    smooth = controls.loo_item_prior(table, pseudocount=1).set_index(
        ["subject", "item"]
    )
    assert smooth.loc[("s1", "q1"), readouts.PROB_COLUMNS].tolist() == pytest.approx(
        np.array([1, 3, 1, 1, 1]) / 7
    )
    # nobody else answered: uniform, median 3
    alone = controls.loo_item_prior(_long({"q1": {"s1": 5}}, {"q1": "A"}))
    assert (
        alone["predicted"].tolist() == [3]
        and alone[readouts.PROB_COLUMNS].iloc[0].tolist() == [0.2] * 5
    )
    with pytest.raises(PalignError, match="more than one row"):
        controls.loo_item_prior(pd.concat([table, table]))


TRAITS = {"k1": "A", "k2": "A", "k3": "C", "t1": "A", "t2": "C"}
KNOWN = {
    "k1": {"s1": 5, "s2": 3, "s3": 1},
    "k2": {"s1": 4, "s2": 2, "s3": 3},
    "k3": {"s1": 2, "s2": 4, "s3": 0},
}
TEST = {"t1": {"s1": 4, "s2": 2, "s3": 3}, "t2": {"s1": 1, "s2": 5, "s3": 3}}


def test_trait_offset_hand_computed():
    known, test = _long(KNOWN, TRAITS), _long(TEST, TRAITS)
    out = controls.trait_offset_predictions(test, known).set_index(["subject", "item"])
    # s1: A: k1 5 - mean(3, 1) = 3, k2 4 - mean(2, 3) = 1.5 -> offset 2.25; C: k3 2 - 4 (s3 missing) = -2
    #     t1: mean(2, 3) + 2.25 = 4.75 -> 5;  t2: mean(5, 3) - 2 = 2
    # s2: A: 3 - mean(5, 1) = 0, 2 - mean(4, 3) = -1.5 -> -0.75; C: 4 - 2 = 2
    #     t1: mean(4, 3) - 0.75 = 2.75 -> 3;  t2: mean(1, 3) + 2 = 4
    # s3: A: 1 - mean(5, 3) = -3, 3 - mean(4, 2) = 0 -> -1.5; C: no known answer -> 0
    #     t1: mean(4, 2) - 1.5 = 1.5 -> 2 (half to even);  t2: mean(1, 5) + 0 = 3
    assert out["offset"].to_dict() == pytest.approx(
        {
            ("s1", "t1"): 2.25,
            ("s2", "t1"): -0.75,
            ("s3", "t1"): -1.5,
            ("s1", "t2"): -2,
            ("s2", "t2"): 2,
            ("s3", "t2"): 0,
        }
    )
    assert out["predicted"].to_dict() == {
        ("s1", "t1"): 5,
        ("s2", "t1"): 3,
        ("s3", "t1"): 2,
        ("s1", "t2"): 2,
        ("s2", "t2"): 4,
        ("s3", "t2"): 3,
    }
    assert (
        out["target"].to_dict()
        == test.set_index(["subject", "item"])["target"].to_dict()
    )  # rows kept


def test_trait_offset_follows_item_direction():
    known, test = _long(KNOWN, TRAITS), _long(TEST, TRAITS)
    direction = pd.Series({"k1": 1, "k2": -1, "k3": 1, "t1": -1, "t2": 1})
    out = controls.trait_offset_predictions(test, known, direction).set_index(
        ["subject", "item"]
    )
    # k2 now runs against trait A: its deviation counts negated.
    # s1: A offset (3 - 1.5) / 2 = .75;  t1 runs against A: 2.5 - .75 = 1.75 -> 2
    # s2: (0 + 1.5) / 2 = .75;  t1: 3.5 - .75 = 2.75 -> 3
    # s3: (-3 + 0) / 2 = -1.5;  t1: 3 + 1.5 = 4.5 -> 4 (half to even);  t2 as before
    assert out["predicted"].to_dict() == {
        ("s1", "t1"): 2,
        ("s2", "t1"): 3,
        ("s3", "t1"): 4,
        ("s1", "t2"): 2,
        ("s2", "t2"): 4,
        ("s3", "t2"): 3,
    }
    with pytest.raises(PalignError, match="direction"):
        controls.trait_offset_predictions(test, known, direction.drop("t2"))
    with pytest.raises(PalignError, match="known-item rows"):
        controls.trait_offset_predictions(
            test.assign(subject=test["subject"] + "x"), known
        )


def test_trait_offset_clips_to_the_scale():
    traits = {"k": "A", "t": "A"}
    known, test = (
        _long({"k": {"s1": 5, "s2": 1}}, traits),
        _long({"t": {"s1": 3, "s2": 3}}, traits),
    )
    out = controls.trait_offset_predictions(test, known).set_index("subject")
    # s1: offset 5 - 1 = 4, t: 3 + 4 = 7 -> 5;  s2: offset -4, t: 3 - 4 = -1 -> 1
    assert out["predicted"].to_dict() == {"s1": 5, "s2": 1}


def test_target_direction():
    ipip, sd3 = inv.get_inventory("ipip"), inv.get_inventory("sd3")
    assert (
        inv.target_direction(ipip, "papi") == 1
    ).all()  # stored answers are already keyed
    assert inv.target_direction(ipip, "literal").loc[["i45", "i195"]].tolist() == [
        1,
        -1,
    ]
    for keying in inv.KEYINGS:
        assert inv.target_direction(sd3, keying).loc[["N1", "N2"]].tolist() == [1, -1]


def test_best_constant_on_validation():
    def one_subject(targets: list[int]) -> pd.DataFrame:
        return pd.DataFrame(
            {
                "subject": 1,
                "item": [f"v{i}" for i in range(len(targets))],
                "trait": "A",
                "target": targets,
            }
        )

    # targets 1 1 1 5: constant 1 -> (0+0+0+4)/4 = 1, constant 2 -> (1+1+1+3)/4 = 1.5, 3 -> 2 ... -> 1
    assert controls.best_constant(one_subject([1, 1, 1, 5])) == 1
    # targets 1 1 2 5: 1 -> 5/4, 2 -> 5/4, 3 -> 7/4: a tie between D and E goes to the earlier letter, D (2)
    assert controls.best_constant(one_subject([1, 1, 2, 5])) == 2
    # targets 0 0 0 4: faithful compares the missing 0s: 1 -> (1+1+1+3)/4 = 1.5, 2 -> 2 ... -> 1;
    # corrected keeps only the 4 -> 4
    assert controls.best_constant(one_subject([0, 0, 0, 4]), "faithful") == 1
    assert controls.best_constant(one_subject([0, 0, 0, 4]), "corrected") == 4
    test = one_subject([3, 2])
    assert controls.constant_predictions(test, 4)["predicted"].tolist() == [4.0, 4.0]
    with pytest.raises(PalignError, match="1..5"):
        controls.constant_predictions(test, 0)


def test_constant_matches_the_trivial_always_letters():
    sd3 = inv.get_inventory("sd3")
    answers = pd.DataFrame(
        [[1, 2, 3, 4, 5, 0] + [3] * 21, [5] * 27],
        columns=sd3.items.index,
        index=[10, 11],
    )
    items = sd3.items.index.tolist()
    for letter, value in inv.LETTER_TO_VALUE.items():
        trivial = controls.trivial_predictions(
            answers, sd3, items[:3], items[3:], f"always_{letter}", "papi"
        )
        ours = controls.constant_predictions(trivial.drop(columns="predicted"), value)
        pd.testing.assert_frame_equal(ours, trivial)


# --- summary ---------------------------------------------------------------------------------------


def test_summarise_methods():
    # Two subjects, trait A and C, two items each. The "model" puts .6 on E and the rest on the
    # person's answer: argmax E everywhere, but the median finds the answer when it is above 1.
    targets = {1: [5, 4, 2, 3], 2: [1, 3, 4, 0]}
    rows = []
    for subject, ts in targets.items():
        for item, (trait, t) in enumerate(zip("AACC", ts)):
            p = np.zeros(5)
            p[4] = 0.6
            p[5 - max(t, 1)] += 0.4
            rows.append(
                {
                    "subject": subject,
                    "item": f"i{item}",
                    "trait": trait,
                    "target": t,
                    "predicted": 1.0,
                    **dict(zip(readouts.PROB_COLUMNS, p)),
                }
            )
    model = readout_tables.add_readouts(pd.DataFrame(rows))
    assert (model["median"] == 1).all()  # .6 on E: the median is 1 too
    sure = (
        model.copy()
    )  # a sure forecast of the argmax: RPS composite = corrected paper composite
    sure[readouts.PROB_COLUMNS] = np.tile([0, 0, 0, 0, 1.0], (len(sure), 1))
    sure = readout_tables.add_readouts(
        sure.drop(columns=["median", "expected", "rps", "logloss"])
    )
    control = controls.loo_item_prior(model[["subject", "item", "trait", "target"]])[
        ["subject", "item", "trait", "target", "predicted"]
    ]
    summary = readout_tables.summarise_methods(
        {"model": model, "sure": sure, "control": control}
    )
    assert summary.index.tolist() == ["model", "sure", "control"]
    assert summary.loc["model", "argmax (paper's protocol)"] == pytest.approx(
        metrics.alignment_score(model)["composite"]
    )
    assert summary.loc["model", "median"] == pytest.approx(
        metrics.alignment_score(model.assign(predicted=model["median"]))["composite"]
    )
    assert summary.loc["sure", "RPS"] == pytest.approx(
        metrics.alignment_score(sure, "corrected")["composite"]
    )
    assert (
        summary.loc["model", "RPS"] < summary.loc["sure", "RPS"]
    )  # the .4 on the answer is worth something
    assert (
        summary.loc["model", "modal share"] == 1.0
        and summary.loc["model", "no r (argmax)"] == 1.0
    )
    assert np.isnan(summary.loc["model", "profile r (argmax)"])
    assert (
        summary.loc["model", "profile r (expected)"] > 0.9
    )  # the expected value still orders the items
    assert np.isnan(summary.loc["model", "calibrated median"])  # no priors given
    for column in ["median", "RPS", "log-loss", "profile r (expected)"]:
        assert np.isnan(
            summary.loc["control", column]
        )  # a control without probabilities
    assert summary.loc["control", "argmax (paper's protocol)"] == pytest.approx(
        metrics.alignment_score(control)["composite"]
    )

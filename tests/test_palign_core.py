"""Unit tests of the data side of palign_nb (seconds, no model): inventories, keying, metric,
trivial predictors, splits, store, charts, exercise checks, and the error messages for bad input."""

from __future__ import annotations

import json

import altair as alt
import numpy as np
import pandas as pd
import pytest

from palign_nb import (
    charts,
    checks,
    controls,
    data,
    data_charts,
    metrics,
    splits,
    store,
)
from palign_nb import inventories as inv
from palign_nb.config import RunConfig
from palign_nb.errors import PalignError, StoreMissing

APPROX = 5e-5


@pytest.fixture(scope="module")
def ipip() -> inv.Inventory:
    return inv.get_inventory("ipip")


@pytest.fixture(scope="module")
def sd3() -> inv.Inventory:
    return inv.get_inventory("sd3")


@pytest.fixture(scope="module")
def papi() -> pd.DataFrame:
    return data.load_papi_test()


# --- scale and keying ---------------------------------------------------------------------------


def test_likert_letter_maps():
    assert inv.LETTER_TO_VALUE == {"A": 5, "B": 4, "C": 3, "D": 2, "E": 1}
    assert all(
        inv.VALUE_TO_LETTER[v] == letter for letter, v in inv.LETTER_TO_VALUE.items()
    )
    assert inv.OPTION_LETTERS == ("A", "B", "C", "D", "E")
    assert (
        inv.IPIP_LABELS[5] == "Very Accurate"
        and inv.IPIP_LABELS[1] == "Very Inaccurate"
    )
    assert (
        inv.IPIP_LABELS[3] == "Neither Accurate Nor Inaccurate"
        and inv.IPIP_LABELS[0] == "Unknown"
    )
    assert set(inv.SD3_LABELS) == set(inv.IPIP_LABELS) == {0, 1, 2, 3, 4, 5}


def test_inventory_structure(ipip, sd3):
    assert len(ipip.items) == 300 and ipip.items["facet_code"].nunique() == 30
    assert (ipip.items.groupby("facet_code").size() == 10).all()
    assert int((ipip.items["sign"] < 0).sum()) == 148
    assert int((ipip.items["short"] > 0).sum()) == 120
    assert len(sd3.items) == 27 and sd3.items.groupby("trait").size().tolist() == [
        9,
        9,
        9,
    ]
    assert sd3.items.index[sd3.items["sign"] < 0].tolist() == list(inv.SD3_REVERSED)


def test_keying_golden_values_ipip(ipip):
    # i195 "Break my promises." is minus-keyed; i45 "Keep my promises." plus-keyed.
    assert ipip.items.loc["i195", "sign"] == -1 and ipip.items.loc["i45", "sign"] == 1
    signs = ipip.items.loc[["i45", "i195"], "sign"].to_numpy()
    stored = np.array([[4, 4], [5, 1], [0, 0]])
    assert inv.targets(stored, signs, ipip, "papi").tolist() == [[4, 4], [5, 1], [0, 0]]
    assert inv.targets(stored, signs, ipip, "literal").tolist() == [
        [4, 2],
        [5, 5],
        [0, 0],
    ]
    # IPIP stores keyed values: scoring uses them as they are.
    assert inv.keyed_values(stored, signs, ipip).tolist() == stored.tolist()


def test_keying_sd3_is_not_recoded(sd3):
    signs = sd3.items.loc[["N1", "N2"], "sign"].to_numpy()  # N2 is reverse-keyed
    stored = np.array([[5, 2], [0, 4]])
    for keying in inv.KEYINGS:
        assert inv.targets(stored, signs, sd3, keying).tolist() == stored.tolist()
    assert inv.keyed_values(stored, signs, sd3).tolist() == [[5, 4], [0, 2]]


def test_score_respondents_ignores_missing(sd3):
    answers = pd.DataFrame(
        [[3] * 27, [5] * 27], columns=sd3.items.index, index=["x", "y"]
    )
    answers.loc["x", "M1"] = 0
    answers.loc["x", "M2"] = 5
    scores = inv.score_respondents(answers, sd3)
    assert scores.loc["x", "M"] == pytest.approx((5 + 3 * 7) / 8)  # the 0 is left out
    # y answered 5 everywhere: reversed N2, N6, N8 count as 1
    assert scores.loc["y", "N"] == pytest.approx((5 * 6 + 1 * 3) / 9)


# --- metric and trivial predictors ----------------------------------------------------------------


def test_metric_hand_computed():
    tiny = pd.DataFrame(
        {
            "subject": [1] * 7 + [2] * 2,
            "item": ["a1", "a2", "a3", "a4", "c1", "c2", "c3", "a1", "c1"],
            "trait": ["A", "A", "A", "A", "C", "C", "C", "A", "C"],
            "target": [5, 0, 2, 4, 3, 1, 5, 2, 2],
            "predicted": [4, 3, np.nan, 4, 3, 2, 3, 2, 5],
        }
    )
    faithful = metrics.alignment_score(tiny, "faithful")
    corrected = metrics.alignment_score(tiny, "corrected")
    # subject 1: A faithful (1 + 3 + 0) / 3, corrected (1 + 0) / 2; C (0 + 1 + 2) / 3; subject 2: A 0, C 3
    assert faithful["A"] == pytest.approx((4 / 3 + 0) / 2)
    assert corrected["A"] == pytest.approx((1 / 2 + 0) / 2)
    assert faithful["C"] == pytest.approx((1 + 3) / 2) == corrected["C"]
    assert faithful["composite"] == pytest.approx(faithful["A"] + faithful["C"])
    per_subject = metrics.subject_trait_errors(tiny, "corrected")
    assert per_subject.loc[1, "A"] == pytest.approx(0.5) and per_subject.loc[
        2, "C"
    ] == pytest.approx(3)


def test_metric_bad_variant_suggests():
    frame = pd.DataFrame(
        {"subject": [1], "trait": ["A"], "target": [3], "predicted": [3.0]}
    )
    with pytest.raises(PalignError, match="corrected"):
        metrics.alignment_score(frame, "corected")


@pytest.fixture(scope="module")
def paper_split():
    return data.paper_item_split()


@pytest.mark.parametrize(
    ("kind", "keying", "faithful", "corrected"),
    [
        ("always_C", "papi", 3.7994, 3.7922),
        ("always_C", "literal", 3.7994, 3.7922),
        ("always_A", "papi", 8.3288, 8.3185),
        ("trait_mean", "papi", 2.8668, 2.8591),
    ],
)
def test_trivial_predictors_pinned(
    papi, ipip, paper_split, kind, keying, faithful, corrected
):
    known, test = paper_split
    preds = controls.trivial_predictions(papi, ipip, known, test, kind, keying)
    assert len(preds) == 300 * 180
    assert metrics.alignment_score(preds, "faithful")["composite"] == pytest.approx(
        faithful, abs=APPROX
    )
    assert metrics.alignment_score(preds, "corrected")["composite"] == pytest.approx(
        corrected, abs=APPROX
    )


def test_always_c_per_trait(papi, ipip, paper_split):
    known, test = paper_split
    scores = metrics.alignment_score(
        controls.trivial_predictions(papi, ipip, known, test, "always_C", "papi")
    )
    expected = {"A": 0.7089, "C": 0.7200, "E": 0.7543, "N": 0.7247, "O": 0.8915}
    for trait, value in expected.items():
        assert scores[trait] == pytest.approx(value, abs=APPROX), trait


@pytest.fixture(scope="module")
def sd3_design(sd3):
    """Chapter 08's alternative SD3 setting (``kmeans``): K-means (k=300, random_state=42) on the complete respondents, split seed 0."""
    answers = data.load_sd3()
    cols = sd3.items.index.tolist()
    complete = answers[(answers[cols] > 0).all(axis=1)]
    representatives = splits.kmeans_representatives(complete, cols, 300)
    known, test = splits.stratified_item_split(sd3, 4, seed=0)
    return answers.loc[representatives], known, test


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        ("always_A", {"M": 1.0600, "N": 1.9973, "P": 2.1627, "composite": 5.2200}),
        ("always_C", {"M": 1.2067, "N": 0.8627, "P": 0.9587, "composite": 3.0280}),
        ("trait_mean", {"M": 0.6967, "N": 0.6887, "P": 0.6867, "composite": 2.0720}),
    ],
)
def test_sd3_trivial_predictors_pinned(sd3, sd3_design, kind, expected):
    """The SD3 bar of chapter 08's alternative (``kmeans``) setting: trivial predictors on the 300 K-means subjects, 15 test items."""
    answers, known, test = sd3_design
    assert len(answers) == 300 and len(test) == 15 and answers[test].gt(0).all().all()
    for keying in (
        inv.KEYINGS
    ):  # SD3 stores literal answers: both conventions give the same scores
        preds = controls.trivial_predictions(answers, sd3, known, test, kind, keying)
        for variant in (
            metrics.VARIANTS
        ):  # complete respondents: no missing targets, the variants agree
            scores = metrics.alignment_score(preds, variant)
            for trait, value in expected.items():
                assert scores[trait] == pytest.approx(value, abs=APPROX), (
                    keying,
                    variant,
                    trait,
                )


@pytest.fixture(scope="module")
def sd3_paper_design():
    """Chapter 08's faithful SD3 setting: the paper's released 300 subjects and its 18/9 item split."""
    known, test = data.sd3_paper_item_split()
    return data.load_sd3().loc[data.sd3_paper_subjects()], known, test


def test_sd3_paper_subjects_and_split(sd3):
    """The paper's 300 SD3 test subjects map onto distinct rows of data.csv, answer for answer; items 1-6 known."""
    subjects = data.sd3_paper_subjects()
    assert len(subjects) == len(set(subjects)) == 300 and subjects[:3] == [
        14490,
        12134,
        11472,
    ]
    released = pd.DataFrame(
        json.loads(
            (data.data_dir() / "sd3" / "paper" / "dark_triad_Test_set.json").read_text()
        )
    )
    mapped = data.load_sd3().loc[subjects].reset_index(drop=True)[released.columns]
    assert (mapped.astype(str) == released.astype(str)).all().all()
    known, test = data.sd3_paper_item_split()
    assert (len(known), len(test)) == (18, 9) and not set(known) & set(test)
    assert known == [f"{t}{i}" for t in "MNP" for i in range(1, 7)] and test == [
        f"{t}{i}" for t in "MNP" for i in (7, 8, 9)
    ]
    assert splits.sd3_design("paper", data.load_sd3()) == (subjects, known, test)
    with pytest.raises(PalignError, match="Did you mean 'kmeans'"):
        splits.sd3_design("kmean", data.load_sd3())


def test_sd3_paper_files_checked(tmp_path, monkeypatch):
    """A changed paper file fails its SOURCE.md checksum; a released subject missing from data.csv is named."""
    import shutil

    copy = tmp_path / "data"
    shutil.copytree(data.data_dir() / "sd3", copy / "sd3")
    monkeypatch.setenv("PALIGN_DATA", str(copy))
    _clear_caches()
    try:
        split = copy / "sd3" / "paper" / "dark_triad_split.json"
        split.write_text(split.read_text().replace("[0, 1,", "[1, 0,"))
        with pytest.raises(PalignError, match="does not match the sha256 in SOURCE.md"):
            data.sd3_paper_item_split()
        csv = copy / "sd3" / "data.csv"
        lines = csv.read_text().splitlines(keepends=True)
        csv.write_text(
            "".join(lines[:14491] + lines[14492:])
        )  # drop row 14490, the paper's first subject
        with pytest.raises(
            PalignError, match="1 of the paper's 300 SD3 test subjects .* match no row"
        ):
            data.sd3_paper_subjects()
    finally:
        monkeypatch.undo()
        _clear_caches()


@pytest.mark.parametrize(
    ("kind", "variant", "expected"),
    [
        (
            "always_A",
            "faithful",
            {"M": 1.1700, "N": 2.0411, "P": 2.0089, "composite": 5.2200},
        ),
        (
            "always_A",
            "corrected",
            {"M": 1.1589, "N": 2.0356, "P": 1.9978, "composite": 5.1922},
        ),
        (
            "always_C",
            "faithful",
            {"M": 1.1744, "N": 0.9256, "P": 1.1200, "composite": 3.2200},
        ),
        (
            "always_C",
            "corrected",
            {"M": 1.1722, "N": 0.9244, "P": 1.1178, "composite": 3.2144},
        ),
        (
            "trait_mean",
            "faithful",
            {"M": 0.6489, "N": 0.6756, "P": 0.8022, "composite": 2.1267},
        ),
        (
            "trait_mean",
            "corrected",
            {"M": 0.6378, "N": 0.6722, "P": 0.8000, "composite": 2.1100},
        ),
    ],
)
def test_sd3_paper_trivial_predictors_pinned(
    sd3, sd3_paper_design, kind, variant, expected
):
    """The SD3 bar of the faithful setting: trivial predictors on the paper's 300 subjects and 9 test items.

    One subject (row 2002) skipped test items, so the two metric variants differ here.
    """
    answers, known, test = sd3_paper_design
    assert (
        len(answers) == 300
        and len(test) == 9
        and int((answers[test] == 0).any(axis=1).sum()) == 1
    )
    for keying in (
        inv.KEYINGS
    ):  # SD3 stores literal answers: both conventions give the same scores
        scores = metrics.alignment_score(
            controls.trivial_predictions(answers, sd3, known, test, kind, keying),
            variant,
        )
        for trait, value in expected.items():
            assert scores[trait] == pytest.approx(value, abs=APPROX), (keying, trait)


def test_always_a_matches_issue_8(papi, ipip, paper_split):
    """The per-trait numbers a user reported in PAlign issue #8 for a model answering A everywhere."""
    known, test = paper_split
    scores = metrics.alignment_score(
        controls.trivial_predictions(papi, ipip, known, test, "always_A", "papi")
    )
    for trait, value in {
        "A": 1.6528,
        "C": 1.5556,
        "E": 1.6622,
        "N": 2.1134,
        "O": 1.3448,
    }.items():
        assert scores[trait] == pytest.approx(value, abs=APPROX), trait


def test_bootstrap_ci_brackets_mean():
    values = pd.Series(np.random.default_rng(0).normal(3, 1, size=200))
    mean, low, high = metrics.bootstrap_ci(values, n_boot=500, seed=1)
    assert low < mean < high and mean == pytest.approx(values.mean())
    assert metrics.bootstrap_ci(values, n_boot=500, seed=1) == (mean, low, high)


# --- splits ---------------------------------------------------------------------------------------


def _blobs(seed: int = 0) -> tuple[pd.DataFrame, list[str]]:
    rng = np.random.default_rng(seed)
    centres = np.array([[1, 1, 1], [3, 3, 3], [5, 5, 1]])
    rows = np.concatenate([c + rng.normal(scale=0.3, size=(20, 3)) for c in centres])
    cols = ["q1", "q2", "q3"]
    return pd.DataFrame(
        rows, columns=cols, index=pd.Index(np.arange(100, 160), name="subject")
    ), cols


def test_kmeans_representatives_distinct_real_deterministic():
    frame, cols = _blobs()
    first = splits.kmeans_representatives(frame, cols, k=3)
    assert len(first) == 3 and len(set(first)) == 3 and set(first) <= set(frame.index)
    # one representative per blob
    assert sorted((np.asarray(first) - 100) // 20) == [0, 1, 2]
    assert first.tolist() == splits.kmeans_representatives(frame, cols, k=3).tolist()
    many = splits.kmeans_representatives(
        frame, cols, k=len(frame)
    )  # every subject, each once
    assert sorted(many) == sorted(frame.index)


def test_kmeans_bad_k():
    frame, cols = _blobs()
    with pytest.raises(PalignError, match="k=0"):
        splits.kmeans_representatives(frame, cols, k=0)
    with pytest.raises(PalignError, match="number of respondents"):
        splits.kmeans_representatives(frame, cols, k=61)


def test_carve_validation_disjoint_stratified_seeded(ipip, paper_split):
    known, test = paper_split
    split = splits.carve_validation(known, ipip, per_trait=4, seed=0)
    assert set(split.known).isdisjoint(split.validation)
    assert set(split.all_known) == set(known) and sorted(split.test) == sorted(test)
    assert set(split.test).isdisjoint(split.all_known)
    assert ipip.items.loc[split.validation, "trait"].value_counts().to_dict() == {
        t: 4 for t in "ACENO"
    }
    assert splits.carve_validation(known, ipip, per_trait=4, seed=0) == split
    others = {
        tuple(splits.carve_validation(known, ipip, per_trait=4, seed=s).validation)
        for s in range(1, 4)
    }
    assert tuple(split.validation) not in others or len(others) > 1
    with pytest.raises(PalignError, match="n_validation_per_trait"):
        splits.carve_validation(known, ipip, per_trait=24, seed=0)


def test_stratified_item_split(sd3):
    known, test = splits.stratified_item_split(sd3, 4, seed=0)
    assert len(known) == 12 and len(test) == 15 and set(known).isdisjoint(test)
    assert sd3.items.loc[known, "trait"].value_counts().to_dict() == {
        "M": 4,
        "N": 4,
        "P": 4,
    }
    assert splits.stratified_item_split(sd3, 4, seed=0) == (known, test)
    with pytest.raises(PalignError, match="n_known_per_trait"):
        splits.stratified_item_split(sd3, 9)


def test_run_config_subjects_from_papermill_text():
    """papermill's `-p subjects "[172481, 205752]"` arrives as text; it is read as the list."""
    assert RunConfig(subjects="[172481, 205752]").subjects == [172481, 205752]
    with pytest.raises(PalignError, match="non-empty list"):
        RunConfig(subjects="172481")
    with pytest.raises(PalignError, match="non-empty list"):
        RunConfig(subjects="[1, 2")


def test_select_subjects(papi):
    assert splits.select_subjects(papi, 3) == papi.index[:3].tolist()
    ids = papi.index[[5, 7]].tolist()
    assert splits.select_subjects(papi, 3, ids) == ids
    with pytest.raises(PalignError, match="Unknown subject ids"):
        splits.select_subjects(papi, 3, [-1])
    with pytest.raises(PalignError, match="only 300"):
        splits.select_subjects(papi, 301)


# --- store ----------------------------------------------------------------------------------------


def test_store_round_trip(tmp_path):
    cfg = RunConfig(results_dir=str(tmp_path), n_subjects=2)
    obj = {"subjects": [1, 2], "known": ["i1"], "test": ["i2"]}
    store.save_json(cfg, "splits", obj, chapter="02_dataset_splits", wall_s=1.5)
    assert store.require_json(cfg, "splits", produced_by="02_dataset_splits") == obj
    table = pd.DataFrame({"predictor": ["always_C"], "score": [3.8]})
    store.save_table(cfg, "trivial_scores", table, chapter="02_dataset_splits")
    pd.testing.assert_frame_equal(
        store.require_table(cfg, "trivial_scores", produced_by="02_dataset_splits"),
        table,
    )
    manifest = store.read_manifest(cfg)
    assert manifest["name"].tolist() == ["splits", "trivial_scores"]
    assert manifest["params"].iloc[0]["n_subjects"] == 2
    assert json.loads((cfg.results_path / "splits.json").read_text()) == obj


def test_store_missing_names_the_chapter(tmp_path):
    cfg = RunConfig(results_dir=str(tmp_path))
    with pytest.raises(
        StoreMissing, match=r"notebooks/02_dataset_splits\.ipynb"
    ) as err:
        store.require_json(cfg, "splits", produced_by="02_dataset_splits")
    assert "'splits'" in str(err.value) and "inventory=ipip" in str(err.value)
    with pytest.raises(PalignError):  # StoreMissing is a PalignError
        store.require_table(cfg, "trivial_scores", produced_by="02_dataset_splits")


# --- bad input ------------------------------------------------------------------------------------


def test_inventory_typo_suggests():
    with pytest.raises(PalignError, match="Did you mean 'ipip'"):
        inv.get_inventory("ipp")
    with pytest.raises(PalignError, match="Did you mean 'sd3'"):
        RunConfig(inventory="sd")
    with pytest.raises(PalignError, match="Did you mean 'literal'"):
        RunConfig(keying="litteral")


def test_answer_out_of_range_names_subject_and_item(sd3):
    answers = pd.DataFrame(
        [[3] * 27, [3] * 27], columns=sd3.items.index, index=[11, 12]
    )
    answers.loc[12, "P4"] = 7
    with pytest.raises(PalignError, match=r"subject 12, item 'P4'.*outside 0-5"):
        inv.check_answers(answers, sd3)
    answers = answers.astype(float)
    answers.loc[12, "P4"] = 2.5  # not a whole Likert value
    with pytest.raises(PalignError, match="Answer 2.5 for subject 12"):
        inv.score_respondents(answers, sd3)


def _clear_caches() -> None:
    for fn in (
        inv._ipip,
        inv._sd3,
        data.load_papi_test,
        data.load_sd3,
        data.paper_item_split,
        data.load_p2_personas,
        data.sd3_paper_subjects,
        data.sd3_paper_item_split,
    ):
        fn.cache_clear()


def test_missing_data_file_is_clear(tmp_path, monkeypatch):
    monkeypatch.setenv("PALIGN_DATA", str(tmp_path))
    _clear_caches()
    try:
        with pytest.raises(
            PalignError,
            match=r"Missing data file .*IPIP-NEO-ItemKey\.csv.*git checkout -- data/",
        ):
            inv.get_inventory("ipip")
        with pytest.raises(PalignError, match=r"Missing data file .*data\.csv"):
            data.load_sd3()
        with pytest.raises(PalignError, match="mpi_300_split.json"):
            data.paper_item_split()
    finally:
        monkeypatch.undo()
        _clear_caches()
    assert len(inv.get_inventory("ipip").items) == 300  # the real data is back


def test_load_papi_full_bad_path(tmp_path):
    with pytest.raises(PalignError, match="PAPI-300K"):
        data.load_papi_full(tmp_path / "nope.parquet")


# --- charts and exercise checks -----------------------------------------------------------------


def test_charts_build_valid_specs(papi, ipip):
    scores = inv.score_respondents(papi.iloc[:40], ipip)
    table = pd.DataFrame(
        {
            "predictor": ["always_C", "always_C", "trait_mean", "trait_mean"],
            "keying": ["papi", "literal"] * 2,
            "variant": ["faithful"] * 4,
            "score": [3.8, 3.8, 2.87, 2.87],
        }
    )
    made = [
        charts.heatmap(
            pd.DataFrame(
                {
                    "x": ["a", "a", "b", "b"],
                    "y": ["a", "b", "a", "b"],
                    "r": [1, 0.5, 0.5, 1],
                }
            ),
            x="x",
            y="y",
            value="r",
        ),
        charts.bar_scores(
            table,
            "predictor",
            "score",
            color="keying",
            column="variant",
            reference={"paper": 4.41},
        ),
        charts.bar_scores(
            table[table["keying"] == "papi"], "predictor", "score", color="keying"
        ),
        data_charts.option_distribution(
            papi, {"i45": "keep", "i195": "break"}, inv.IPIP_LABELS, share=True
        ),
        data_charts.score_histograms(scores, names=ipip.traits),
        data_charts.score_histograms(
            scores.assign(group=["a", "b"] * 20),
            group="group",
            bins=np.linspace(1, 5, 9),
        ),
        data_charts.coverage_map(scores, {"first": scores.iloc[:10]}, x="A", y="C"),
        charts.interval_chart(
            pd.DataFrame({"p": ["x"], "m": [1.0], "lo": [0.5], "hi": [1.5]}),
            "p",
            "m",
            "lo",
            "hi",
            reference={"ref": 1.2},
        ),
    ]
    for chart in made:
        assert isinstance(chart, alt.TopLevelMixin)
        spec = chart.to_dict()  # validates against the Vega-Lite schema
        assert "$schema" in spec


def test_charts_refuse_raw_tables():
    big = pd.DataFrame({"x": np.arange(6000), "y": np.arange(6000), "v": 0.0})
    with pytest.raises(PalignError, match="aggregate first"):
        charts.heatmap(big, "x", "y", "v")


def test_check_cronbach_alpha_accepts_reference_and_rejects_wrong(capsys):
    def alpha(scores):
        scores = np.asarray(scores, dtype=float)
        k = scores.shape[1]
        return (
            k
            / (k - 1)
            * (1 - scores.var(axis=0, ddof=1).sum() / scores.sum(axis=1).var(ddof=1))
        )

    checks.check_cronbach_alpha(alpha)
    assert "✓" in capsys.readouterr().out

    def no_correction(scores):
        scores = np.asarray(scores, dtype=float)
        return 1 - scores.var(axis=0, ddof=1).sum() / scores.sum(axis=1).var(ddof=1)

    with pytest.raises(AssertionError, match="alpha"):
        checks.check_cronbach_alpha(no_correction)


def test_check_trait_mae_accepts_reference_and_rejects_wrong(capsys):
    def reference(pred, target, variant):
        keep = ~np.isnan(pred) & ((target > 0) if variant == "corrected" else True)
        return float(np.abs(pred[keep] - target[keep]).mean())

    checks.check_trait_mae(reference)
    assert "✓" in capsys.readouterr().out

    def always_drops_missing(pred, target, variant):
        keep = ~np.isnan(pred) & (target > 0)
        return float(np.abs(pred[keep] - target[keep]).mean())

    with pytest.raises(AssertionError, match="faithful"):
        checks.check_trait_mae(always_drops_missing)

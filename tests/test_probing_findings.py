"""Chapter 04's bookkeeping (palign_nb.probing_findings) on hand-made cases."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from palign_nb import activations, probing, probing_findings as pf
from palign_nb.findings import Sentence
from palign_nb.inventories import get_inventory

IPIP = get_inventory("ipip")


def test_head_counts():
    assert pf.head_counts(30, 9, 64) == {
        "c04_n_layers": 30,
        "c04_n_heads": 9,
        "c04_n_probes": 270,
        "c04_d_head": 64,
    }


def test_activations_are_captured_once_then_read_from_the_cache(tmp_path, monkeypatch):
    calls = []
    acts = np.arange(3 * 2 * 1 * 2 * 2, dtype=np.float32).reshape(3, 2, 1, 2, 2)

    def capture(lm, items, inventory, batch_size):
        calls.append((items, batch_size))
        return acts

    monkeypatch.setattr(activations, "contrast_activations", capture)
    path = tmp_path / "activations" / "contrast-k.npz"
    first, seconds = pf.capture_or_load(None, ["a", "b", "c"], IPIP, path, "k", 4)
    assert calls == [(["a", "b", "c"], 4)] and path.exists()
    assert seconds is not None and seconds >= 0
    again, none = pf.capture_or_load(None, ["a", "b", "c"], IPIP, path, "k", 4)
    assert none is None and len(calls) == 1  # read, not captured again
    np.testing.assert_array_equal(first, again)
    index = pf.activations_index(path, tmp_path, "k", ["a"], seconds)
    assert index == {
        "path": "activations/contrast-k.npz",
        "key": "k",
        "items": ["a"],
        "capture_s": seconds,
    }


def test_capture_findings_say_where_the_activations_came_from():
    read = pf.capture_findings(30, None)
    assert read["c04_n_act_items"] == 30
    assert read["c04_capture_finding"] == (
        "the contrast activations came from the cache of an earlier run with this model"
    )
    taken = pf.capture_findings(30, 3.6)["c04_capture_finding"]
    assert isinstance(taken, Sentence)
    assert taken == (
        "capturing the contrast activations took 4 s of it (once per model: later runs "
        "read the cache)"
    )


def test_score_grid_lists_heads_layer_by_layer():
    grid = pf.score_grid(np.array([[0.5, 0.6], [0.7, 0.8], [0.9, 1.0]]))
    assert list(zip(grid["layer"], grid["head"], grid["score"])) == [
        (0, 0, 0.5),
        (0, 1, 0.6),
        (1, 0, 0.7),
        (1, 1, 0.8),
        (2, 0, 0.9),
        (2, 1, 1.0),
    ]
    spec = pf.score_heatmap(grid).to_dict()
    assert spec["layer"][0]["encoding"]["y"]["sort"] == [
        2,
        1,
        0,
    ]  # first layer at the bottom


def _contrast_case() -> tuple[np.ndarray, list[str], pd.DataFrame]:
    """Ten items; head 0 of the one layer reads letter x item sign, head 1 noise.
    Subject 1 agrees exactly with the items' signs, subject 2 agrees with everything."""
    rng = np.random.default_rng(0)
    items = list(IPIP.items.index[:10])
    sign = np.array([1, -1] * 5)
    acts = rng.normal(0, 0.1, size=(10, 2, 1, 2, 2))
    acts[:, 0, 0, 0, 0] += sign  # the "A" completion
    acts[:, 1, 0, 0, 0] -= sign  # the "E" completion
    answers = pd.DataFrame(
        [np.where(sign > 0, 5, 1), [5] * 10], index=[1, 2], columns=items
    )
    return acts, items, answers


def test_probe_subjects_fit_every_head_for_every_subject():
    acts, items, answers = _contrast_case()
    table, best = pf.probe_subjects(acts, answers, [1, 2], items, IPIP, "papi", seed=0)
    assert len(table) == 2 * 1 * 2
    assert list(best["subject"]) == [1, 2] and list(best["usable"]) == [10, 10]
    assert list(best["agree_share"]) == [0.5, 1.0]
    # head 0 tells subject 1's matches from mismatches perfectly
    first = table[(table["subject"] == 1) & (table["head"] == 0)].iloc[0]
    assert first["train_acc"] == 1.0 and first["val_acc"] == 1.0
    assert best["best_score"].iloc[0] == 1.0
    # the same numbers as fitting subject 2's probes directly
    X, y, groups = probing.probe_dataset(acts, answers.loc[2, items].to_numpy())
    direct = probing.fit_head_probes(X, y, groups, seed=0)
    rows = table[table.subject == 2]
    np.testing.assert_array_equal(rows["score"], direct.score.ravel())
    assert best["best_score"].iloc[1] == direct.score.max()


def test_one_sidedness():
    shares = pd.Series([0.5, 1.0, 0.0, 0.75])
    assert list(pf.one_sidedness(shares)) == [0.0, 1.0, 1.0, 0.5]


@pytest.mark.parametrize(
    "shares, says",
    [
        (
            [0.5],
            "about half of them), and this run's one subject does not lean to one side",
        ),
        ([0.9], "almost all of them), and this run's one subject leans to one side"),
        ([0.3, 0.5, 0.9], "and 2 of the 3 subjects lean to one side"),
        ([0.3, 0.5, 0.5], "and 1 of the 3 subjects leans to one side"),
    ],
)
def test_lean_sentence(shares, says):
    text = pf.lean_sentence(pd.Series(shares))
    assert says in text
    assert text.startswith(f"On average {np.mean(shares):.0%} of the usable answers")
    assert text.endswith('(under 40 % or over 60 % of their usable answers "accurate")')


def _best(agree: list[float], score: list[float]) -> pd.DataFrame:
    return pd.DataFrame(
        {"subject": range(len(agree)), "best_score": score, "agree_share": agree}
    )


def test_onesided_findings_correlate_from_three_subjects():
    probes = pd.DataFrame({"score": [0.5, 0.7, 0.9, 1.0]})
    best = _best([0.5, 1.0, 0.75], [0.6, 1.0, 0.8])  # one-sidedness 0, 1, 0.5
    glue = pf.onesided_findings(probes, best)
    assert glue["c04_best_score_mean"] == pytest.approx(0.8)
    assert glue["c04_mean_score"] == pytest.approx(0.775)
    assert glue["c04_agree_share_mean"] == pytest.approx(0.75)
    assert glue["c04_n_subjects"] == 3
    assert glue["c04_r_onesided"] == pytest.approx(1.0)
    assert glue["c04_onesided_finding"].startswith(
        "across the 3 subjects the correlation between one-sidedness and the best "
        "probe score is 1.00"
    )
    chart = pf.onesided_chart(best)
    assert list(chart.data["one_sided"]) == [0.0, 1.0, 0.5]


def test_onesided_findings_without_a_correlation():
    glue = pf.onesided_findings(
        pd.DataFrame({"score": [0.5]}), _best([0.5, 1.0], [0.6, 1.0])
    )
    assert "c04_r_onesided" not in glue
    assert glue["c04_onesided_finding"] == (
        "with 2 subject(s) a correlation is not defined: rerun with "
        "`n_subjects` of 3 or more"
    )


@pytest.mark.parametrize("score", [[1.0, 1.0, 1.0], [0.8, 0.8, 0.8]])
def test_onesided_findings_with_equal_scores_have_no_correlation(score):
    """0.8 three times has a pandas std of rounding noise (1e-16), not 0: still no r."""
    glue = pf.onesided_findings(
        pd.DataFrame({"score": [0.5]}), _best([0.5, 1.0, 0.75], score)
    )
    assert "c04_r_onesided" not in glue
    assert glue["c04_onesided_finding"] == (
        "across the 3 subjects a correlation is not defined: every subject has the "
        "same one-sidedness or the same best probe score"
    )

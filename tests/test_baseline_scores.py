"""palign_nb.baseline_scores on small in-memory tables whose answers are known."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from palign_nb import baseline_scores
from palign_nb.errors import PalignError, StoreMissing


def _rows(
    subjects: list[int], items: list[str], predicted: list[float]
) -> pd.DataFrame:
    pairs = [(s, i) for s in subjects for i in items]
    return pd.DataFrame(
        {
            "subject": [s for s, _ in pairs],
            "item": [i for _, i in pairs],
            "predicted": predicted,
            **{f"p_{x}": 0.2 for x in "ABCDE"},
        }
    )


def test_with_references_puts_covering_references_in_front_in_the_tables_order(capsys):
    ours = {"dpo": _rows([1, 2], ["a", "b"], [5, 4, 3, 2])}
    # a reference with more rows, in another order: cut to ours and reordered
    unaligned = _rows([2, 1, 3], ["b", "a"], [10, 11, 12, 13, 14, 15])
    few_shot = _rows([1], ["a", "b"], [1, 1])  # lacks subject 2: left out
    out = baseline_scores.with_references(
        ours, {"no alignment": unaligned, "icl_papi": few_shot}
    )
    assert list(out) == ["no alignment", "dpo"]
    kept = out["no alignment"]
    assert list(zip(kept.subject, kept.item)) == [
        (1, "a"),
        (1, "b"),
        (2, "a"),
        (2, "b"),
    ]
    assert kept["predicted"].tolist() == [13, 12, 11, 10]
    assert "icl_papi: the store's predictions do not cover" in capsys.readouterr().out
    both = baseline_scores.with_references(
        ours, {"no alignment": unaligned, "icl_papi": unaligned}
    )
    assert list(both) == ["icl_papi", "no alignment", "dpo"]  # the last reference first


def test_stored_references_reads_few_shot_only_when_asked_and_present(
    monkeypatch, capsys
):
    asked = []

    def load(cfg, key, keying="papi"):
        asked.append((key, keying))
        if key == "icl":
            raise StoreMissing("no icl")
        return pd.DataFrame({"key": [key]})

    monkeypatch.setattr(baseline_scores, "load_predictions", load)
    assert list(baseline_scores.stored_references(None)) == ["no alignment"]
    assert list(baseline_scores.stored_references(None, few_shot="literal")) == [
        "no alignment"
    ]
    assert asked == [
        ("no_alignment", "papi"),
        ("no_alignment", "papi"),
        ("icl", "literal"),
    ]
    assert "run chapter 06" in capsys.readouterr().out


def _scores() -> pd.DataFrame:
    rows = []
    for method, papi, literal in [("dpo", 4.0, 5.0), ("always C", 3.0, 3.5)]:
        for keying, value in [("papi", papi), ("literal", literal)]:
            for variant, extra in [("faithful", 0.0), ("inclusive", 1.0)]:
                rows.append(
                    {
                        "method": method,
                        "keying": keying,
                        "variant": variant,
                        "N": value / 5,
                        "composite": value + extra,
                    }
                )
    return pd.DataFrame(rows)


def test_composite_and_the_faithful_table_read_the_right_row():
    scores = _scores()
    assert baseline_scores.composite(scores, "dpo", "literal") == 5.0
    assert baseline_scores.composite(scores, "dpo", "papi", "inclusive") == 5.0
    assert np.isnan(baseline_scores.composite(scores, "no alignment", "papi"))
    with pytest.raises(PalignError, match="'dpx'"):  # a misspelt method is not NaN
        baseline_scores.composite(scores, "dpx", "papi")
    table = baseline_scores.faithful_table(scores, "literal")
    assert list(table.index) == ["dpo", "always C"]
    assert list(table.columns) == ["N", "composite"]
    assert table.loc["always C", "composite"] == 3.5


def test_changed_share_counts_the_answers_that_differ():
    a = _rows([1], ["a", "b", "c", "d"], [5, 4, 3, 2])
    b = _rows([1], ["a", "b", "c", "d"], [5, 1, 3, 1])
    assert baseline_scores.changed_share(a, b) == 0.5
    assert np.isnan(baseline_scores.changed_share(a, None))


def _datasets(chart) -> list[dict]:
    return [row for rows in chart.to_dict()["datasets"].values() for row in rows]


def test_the_bars_show_the_faithful_composites_under_both_keyings_in_order():
    chart = baseline_scores.composite_bars(_scores(), {"paper": 4.2})
    bars = {
        (r["method"], r["targets"]): r["composite"]
        for r in _datasets(chart)
        if "targets" in r
    }
    assert bars == {
        ("dpo", "papi"): 4.0,
        ("dpo", "literal"): 5.0,
        ("always C", "papi"): 3.0,
        ("always C", "literal"): 3.5,
    }
    text = str(chart.to_dict())
    assert "['dpo', 'always C']" in text and "paper" in text


def test_the_option_profile_averages_each_tables_probabilities():
    sure = _rows([1, 2], ["a"], [5, 5]).assign(p_A=[1.0, 0.6], p_E=[0.0, 0.4])
    chart = baseline_scores.option_profile({"b": sure, "a": _rows([1], ["a"], [3])})
    means = {
        (r["method"], r["option"]): r["probability"]
        for r in _datasets(chart)
        if "option" in r
    }
    assert means[("b", "A")] == 0.8 and means[("b", "E")] == 0.2
    assert means[("a", "C")] == 0.2

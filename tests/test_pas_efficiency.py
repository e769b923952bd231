"""Chapter 05's data-efficiency curve (palign_nb.pas_efficiency): which points are computed
and which reuse section 5.5, their glue and records."""

from __future__ import annotations

import pandas as pd
import pytest
import test_palign_pas
from test_palign_pas import tiny
from test_pas_runs import KNOWN, TEST, VALIDATION, chapter_for

from palign_nb import (
    activations,
    methods,
    metrics,
    pas_efficiency,
    pas_runs,
)
from palign_nb import store
from palign_nb.inventories import get_inventory

INV = get_inventory("ipip")
tokenizer = test_palign_pas.tokenizer  # the fixture: the embedded model's tokenizer


def rows(subject: int, method: str, alpha: float) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "subject": subject,
            "item": TEST[:2],
            "predicted": [1, 5],
            "alpha": alpha,
            "fallback": False,
            "method_was": method,
        }
    )


def test_the_point_with_every_known_answer_is_section_5_5s_run():
    variants = pas_runs.Variants()
    variants.preds["pas_icl", "papi"] = pd.concat(
        [rows(7, "pas_icl", 4.0), rows(8, "pas_icl", 0.0)]
    )
    variants.preds["icl_known", "papi"] = pd.concat(
        [rows(7, "icl", 0.0), rows(8, "icl", 0.0)]
    )
    variants.timing_parts.append(
        pd.DataFrame(
            {
                "subject": [7, 7, 7, 7, 8],
                "keying": "papi",
                "method": ["pas_icl", "pas_icl", "icl_known", "icl_known", "icl_known"],
                "stage": ["probe_fit", "test_pass", "prompt", "score", "score"],
                "seconds": [2.0, 3.0, 0.5, 7.0, 11.0],
            }
        )
    )
    run = pas_runs.PASRun(
        settings=None,
        acts=None,
        act_items=[],
        known=KNOWN,
        validation=VALIDATION,
        paper_known=KNOWN,
        test_items=TEST,
        keyings=["papi"],
        oracle=False,
        variant_subjects=[7],
        unaligned=pd.DataFrame(),
        eff_keying="papi",
        eff_subsets={},
        eff_subjects=[7],
    )
    tag = {"n_known": 20, "keying": "papi"}
    got, times = pas_efficiency.efficiency_point(None, run, variants, 7, KNOWN, tag)
    assert [t["method_was"].iloc[0] for t in got] == ["icl", "pas_icl"]
    assert [t["method"].iloc[0] for t in got] == ["icl", "pas_icl"]
    assert [t["alpha"].iloc[0] for t in got] == [0.0, 4.0]  # the alpha 5.5 chose for 7
    assert all((t["subject"] == 7).all() and (t["n_known"] == 20).all() for t in got)
    assert times == [
        {
            "subject": 7,
            **tag,
            "method": "pas_icl",
            "stage": "probe_fit",
            "seconds": 2.0,
            "reused": True,
        },
        {
            "subject": 7,
            **tag,
            "method": "pas_icl",
            "stage": "test_pass",
            "seconds": 3.0,
            "reused": True,
        },
        {
            "subject": 7,
            **tag,
            "method": "icl",
            "stage": "score",
            "seconds": 7.0,
            "reused": True,
        },
    ]


def test_the_curve_runs_each_count_reuses_the_largest_and_is_saved(tokenizer, tmp_path):
    lm = tiny(tokenizer)
    items = KNOWN + VALIDATION
    acts = activations.contrast_activations(lm, items, INV, batch_size=8)
    ch = chapter_for(tmp_path, lm, acts, items, oracle=False, efficiency_counts=[5, 20])
    run = pas_runs.setup(ch)
    variants = pas_runs.Variants()
    pas_runs.align_every_subject(ch, run, "papi", variants)
    eff = pas_efficiency.efficiency_run(ch, run, variants)
    table, timings = eff.table, eff.timings
    assert sorted(set(zip(table["n_known"], table["method"]))) == [
        (5, "icl"),
        (5, "pas_icl"),
        (20, "icl"),
        (20, "pas_icl"),
    ]
    assert (table["subject"] == 7).all() and (table["keying"] == "papi").all()
    assert len(table) == 4 * len(TEST)
    # 20 known answers: all of them, so section 5.5's rows; 5: computed here
    assert timings.groupby("n_known")["reused"].all().to_dict() == {5: False, 20: True}
    reused = table[(table.n_known == 20) & (table.method == "pas_icl")]
    five_five = variants.preds["pas_icl", "papi"]
    assert (
        reused["predicted"].tolist()
        == five_five[five_five.subject == 7]["predicted"].tolist()
    )
    assert eff.seconds >= timings.loc[~timings.reused, "seconds"].sum()
    graded = metrics.add_targets(table, INV, "papi")
    curve = pas_efficiency.efficiency_curve(graded)
    changes = pas_efficiency.item_noise(graded, TEST, INV, 5, 20, n_boot=20)
    glue = pas_efficiency.efficiency_glue(run, eff, curve, changes, graded)
    assert (glue["c05_eff_n_subjects"], glue["c05_eff_n_counts"]) == (1, 2)
    assert (glue["c05_eff_n_available"], glue["c05_eff_n_validation"]) == (20, 5)
    assert glue["c05_eff_n_reused"] == 1 and glue["c05_eff_seconds"] == eff.seconds
    spec = pas_efficiency.efficiency_chart(curve).to_dict()
    assert len(next(iter(spec["datasets"].values()))) == 4  # 2 methods x 2 counts
    pas_efficiency.save_efficiency(ch, run, eff)
    back = store.require_table(
        ch.cfg, methods.DATA_EFFICIENCY_TABLE, produced_by="05_pas"
    )
    assert back["predicted"].tolist() == table["predicted"].tolist()
    spent = store.require_table(
        ch.cfg, methods.DATA_EFFICIENCY_TIMINGS, produced_by="05_pas"
    )
    assert spent["seconds"].sum() == pytest.approx(timings["seconds"].sum())


def test_a_keying_section_5_5_did_not_run_is_computed(tokenizer, tmp_path):
    lm = tiny(tokenizer)
    items = KNOWN + VALIDATION
    acts = activations.contrast_activations(lm, items, INV, batch_size=8)
    ch = chapter_for(
        tmp_path, lm, acts, items, efficiency_counts=[20], efficiency_keying="literal"
    )
    run = pas_runs.setup(ch)
    eff = pas_efficiency.efficiency_run(ch, run, pas_runs.Variants())
    assert not eff.timings["reused"].any() and (eff.table["keying"] == "literal").all()

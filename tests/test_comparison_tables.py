"""Chapter 09's tables and charts (palign_nb.comparison_tables) on stores and tables built here.

The store tests write small tables into a temporary store; the comparison tests reuse the in-memory
predictions of tests/test_comparison_findings.py (PAS exactly right, every other method as wrong as
the scale allows), so every expected value is known by construction.
"""

from __future__ import annotations

import pandas as pd
import pytest

from palign_nb import comparison, methods, paper_numbers, results, store
from palign_nb import comparison_tables as tables09
from palign_nb.config import RunConfig
from palign_nb.errors import PalignError
from test_comparison_findings import IPIP, _predictions, setting  # noqa: F401

KEYS = ("icl", "pas_icl", "dpo")


@pytest.fixture
def cfg(tmp_path) -> RunConfig:
    return RunConfig(results_dir=str(tmp_path), keying="literal")


@pytest.fixture
def comp(setting):  # noqa: F811
    population, known, validation, items = setting
    run = population.iloc[:4]
    tables = {k: _predictions(run, items, "papi", right=k == "pas_icl") for k in KEYS}
    return comparison.compare(tables, IPIP, "papi", population, known, validation)


def test_another_inventory_is_refused_naming_the_dark_triad_parameter():
    tables09.require_big_five("ipip")
    with pytest.raises(PalignError, match="include_sd3=True"):
        tables09.require_big_five("sd3")


def test_the_trivial_rows_are_the_runs_keying_and_the_paper_bar_is_papi(cfg):
    rows = [
        (p, keying, variant, trait, score)
        for p in ("always_C", "trait_mean", "loo_prior")
        for keying, k_off in (("papi", 0.0), ("literal", 10.0))
        for variant, v_off in (("faithful", 0.0), ("corrected", 100.0))
        for trait, t in (("Openness", 1.0), ("composite", 5.0))
        for score in [t + k_off + v_off + (0.5 if p == "trait_mean" else 0.0)]
    ]
    table = pd.DataFrame(
        rows, columns=["predictor", "keying", "variant", "trait", "score"]
    )
    store.save_table(
        cfg, "trivial_scores", table.assign(n_subjects=37), "02_dataset_splits"
    )
    shown, n_all, paper_c = tables09.trivial_on_all_subjects(cfg)
    assert n_all == 37
    assert paper_c == 5.0  # always C, papi, faithful: not the run's literal keying
    assert list(shown.index) == [
        "always C (all 37 test subjects)",
        "trait mean (all 37 test subjects)",
    ]
    assert shown.loc["trait mean (all 37 test subjects)", "composite"] == 15.5


def test_the_overview_names_each_methods_table_writer_and_size(cfg, comp):
    for key in KEYS:
        table = comp.tables[key].iloc[: 10 if key == "dpo" else None]
        chapter = "07_preference_baselines" if key == "dpo" else "05_pas"
        store.save_table(cfg, methods.method(key).table(cfg.keying), table, chapter)
    overview = tables09.store_overview(cfg, {k: comp.tables[k] for k in KEYS})
    assert list(overview["method"]) == [comparison.label(k) for k in KEYS]
    assert list(overview["chapter"]) == ["05_pas", "05_pas", "07_preference_baselines"]
    assert list(overview["subjects"]) == [4, 4, 4]
    assert list(overview["rows"]) == [len(comp.tables[k]) for k in KEYS]


def test_side_by_side_holds_this_run_and_the_papers_numbers(comp):
    columns = IPIP.trait_order + ["composite"]
    all_test = pd.DataFrame(
        1.0, index=["always C (all 9 test subjects)"], columns=columns
    )
    table = tables09.side_by_side(comp, all_test, columns, "tiny")
    ours = table.loc["this run (tiny, 4 subjects)"]
    assert ours.loc[comparison.label("pas_icl"), "composite"] == 0.0
    assert ours.loc[comparison.label("dpo"), "composite"] == comp.composite("dpo") > 4
    paper = table.loc[f"paper, {paper_numbers.PAPER_MODEL}"]
    pas = paper.loc[f"PAS (paper, {paper_numbers.PAPER_MODEL})", "composite"]
    assert pas == paper_numbers.paper_composite("PAS")


def test_the_intervals_put_the_exact_method_first_at_zero(comp):
    cis = tables09.composite_intervals(comp, IPIP, "papi", n_boot=200, seed=0)
    first = cis.iloc[0]
    assert first["method"] == comparison.label("pas_icl")
    assert (first["composite"], first["low"], first["high"]) == (0.0, 0.0, 0.0)
    assert (cis["low"] <= cis["composite"]).all() and (
        cis["composite"] <= cis["high"]
    ).all()
    dpo = cis.set_index("method").loc[comparison.label("dpo"), "composite"]
    assert dpo == pytest.approx(comp.composite("dpo"))


def test_the_dark_triad_fractions_are_pas_over_each_baseline():
    fractions = tables09.sd3_fractions(
        pd.Series({"pas_icl": 2.0, "dpo": 8.0, "grpo": 10.0})
    )
    assert fractions == {"c09_sd3_frac_dpo": 0.25, "c09_sd3_frac_grpo": 0.2}


def test_the_efficiency_chart_labels_each_inventorys_seconds():
    big_five = pd.Series({"pas_icl": 3.0, "dpo": 40.0})
    data = tables09.efficiency_chart(big_five, pd.Series({"pas_icl": 5.0})).data
    assert list(data["inventory"]) == ["Big Five", "Big Five", "Dark Triad"]
    assert list(data["method"]) == [
        comparison.label(k) for k in ("pas_icl", "dpo", "pas_icl")
    ]
    assert list(data["seconds"]) == [3.0, 40.0, 5.0]
    assert len(tables09.efficiency_chart(big_five).data) == 2


def test_no_oracle_means_no_like_for_like_comparison(cfg, comp):
    assert tables09.oracle_like_for_like(cfg, comp, IPIP) is None


def test_the_oracle_is_compared_on_its_own_subjects(setting, tmp_path):  # noqa: F811
    population, known, validation, items = setting
    keys = ("pas_icl", "icl_known")
    run = population.iloc[:4]
    tables = {k: _predictions(run, items, "papi", right=k == "pas_icl") for k in keys}
    comp = comparison.compare(tables, IPIP, "papi")
    cfg = RunConfig(results_dir=str(tmp_path), keying="papi")
    # chapter 05 ran the oracle and its prompt at alpha 0 on the first 2 subjects only
    first = population.iloc[:2]
    for key, right in (("pas_oracle", True), ("icl_paper", False)):
        table = _predictions(first, items, "papi", right)
        store.save_predictions(cfg, key, table, "05_pas", keying="papi")
    like = tables09.oracle_like_for_like(cfg, comp, IPIP)
    assert like.n_subjects == 2 and comp.n_subjects == 4
    assert like.composite("pas_oracle") == like.composite("pas_icl") == 0.0
    # both as wrong as the scale allows, on the same 2 subjects
    assert like.composite("icl_paper") == like.composite("icl_known") > 0


def test_both_keyings_rank_the_same_subjects(setting, tmp_path):  # noqa: F811
    population, known, validation, items = setting
    cfg = RunConfig(results_dir=str(tmp_path), keying="papi")
    for m in results.IPIP_METHODS:
        table = _predictions(population.iloc[:4], items, "papi", right=False)
        store.save_predictions(cfg, m.key, table, m.writer("ipip"), keying="papi")
    # chapter 05 ran the literal keying for its first 2 subjects only
    for key in ("pas_icl", "pas_alone", "icl_known"):
        table = _predictions(population.iloc[:2], items, "literal", right=True)
        store.save_predictions(cfg, key, table, "05_pas", keying="literal")
    comps, shown = tables09.keying_comparisons(cfg, IPIP, population, known, validation)
    assert comps["papi"].n_subjects == comps["literal"].n_subjects == 2
    assert (
        shown["literal"]["pas_icl"] == "literal" and shown["literal"]["dpo"] == "papi"
    )
    assert comps["literal"].composite("pas_icl") == 0.0

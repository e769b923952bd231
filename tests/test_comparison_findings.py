"""Chapter 09's findings functions (palign_nb.comparison, palign_nb.claims) on outcomes known by construction.

Every method's predictions are built in memory on real PAPI subjects and items: PAS + prompt answers
every item right and every other method as wrong as the scale allows, or the reverse. The functions
chapter 09 glues are then run on them, and the independent checker of
``tests/test_outcome_sentences.py`` (its own parsing of the words, not the functions' choosers)
must find no sentence that contradicts its numbers; the verdicts must follow the construction.
Fast: no model, no store, no papermill (the smoke run keeps the end-to-end check).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from palign_nb import alignment_cost, claims, comparison, controls, keying_ranking
from palign_nb import readout_comparison, results
from palign_nb.data import load_answers, paper_item_split
from palign_nb.findings import Sentence
from palign_nb.inventories import get_inventory
from palign_nb.metrics import add_targets, long_table
from palign_nb.paper_numbers import PAPER_MODEL, paper_composite
from palign_nb.preference import PAPER
from palign_nb.readouts import PROB_COLUMNS
from palign_nb.splits import carve_validation
from test_outcome_sentences import _answer, contradictions

IPIP = get_inventory("ipip")
MODEL_ID = "smollm2-135m-instruct"
METHODS = (
    "no_alignment",
    "icl",
    "icl_known",
    "p2",
    "pas_icl",
    "pas_alone",
    "dpo",
    "grpo",
)
TRAINING = {"dpo_steps": 10, "grpo_steps": 8, "dpo_batch_size": 4}


def _predictions(
    answers: pd.DataFrame, items: list[str], keying: str, right: bool
) -> pd.DataFrame:
    """A predictions table: exactly right (a missing target gets 3) or as far off as the scale allows, with a
    peaked option distribution on the answer given."""
    table = long_table(answers, items, IPIP, keying).drop(columns="target")
    table["predicted"] = _answer(table, keying, right).to_numpy()
    probs = np.full((len(table), 5), 0.05)
    probs[np.arange(len(table)), (5 - table["predicted"].to_numpy()).astype(int)] = (
        0.8  # columns A (5) .. E (1)
    )
    return table.assign(**dict(zip(PROB_COLUMNS, probs.T)))


@pytest.fixture(scope="module")
def setting():
    answers = load_answers("ipip")
    known_all, test = paper_item_split()
    split = carve_validation(known_all, IPIP, per_trait=2, seed=0)
    population = answers.iloc[:40]
    return population, split.known, split.validation, test[:20]


def run_findings(
    setting, pas_best: bool, n_subjects: int = 6
) -> tuple[dict, pd.DataFrame]:
    """Every glue chapter 09 computes, from the package's findings functions, and the claims table."""
    population, known, validation, items = setting
    run = population.iloc[:n_subjects]

    def tables_for(keying: str) -> dict[str, pd.DataFrame]:
        return {
            key: _predictions(run, items, keying, right=(key == "pas_icl") == pas_best)
            for key in METHODS
        }

    comp = comparison.compare(
        tables_for("papi"), IPIP, "papi", population, known, validation
    )
    g: dict = {
        "c09_model": MODEL_ID,
        "c09_n_subjects": comp.n_subjects,
        "c09_n_items": comp.n_items,
    }
    overview = pd.DataFrame(
        {
            "method": [comparison.label(k) for k in METHODS],
            "chapter": "05_pas",
            "subjects": n_subjects,
            "rows": n_subjects * len(items),
        }
    )
    g |= comparison.coverage_findings(overview)
    paper_c = 3.9
    g |= comparison.table_findings(
        comp, paper_composite("PAS"), paper_c, 300, 180, MODEL_ID, PAPER_MODEL
    )
    read, no_probs = readout_comparison.read_tables(comp)
    summary = readout_comparison.readout_summary(read)
    g |= readout_comparison.readout_findings(comp, summary, no_probs)
    paired = results.paired_comparison("pas_icl", comp.tables, IPIP, "papi", n_boot=200)
    intervals = results.readout_intervals(read, n_boot=200)
    g |= readout_comparison.interval_findings(
        comp,
        paired,
        intervals,
        readout_comparison.interval_cells(intervals, list(read)),
    )
    timings = pd.DataFrame(
        [
            {"subject": s, "method": m, "stage": st, "seconds": sec, "keying": "papi"}
            for s in run.index
            for m, st, sec in [
                ("pas_icl", "probe_fit", 1.0),
                ("pas_icl", "alpha_search", 3.0),
                ("dpo", "train", 40.0),
                ("grpo", "train", 50.0),
            ]
        ]
    )
    cost = alignment_cost.cost_table(timings, timings, "papi")
    g |= alignment_cost.cost_findings(cost, timings, "papi", 2.0, TRAINING, PAPER)
    winner = "pas_icl" if pas_best else "icl"
    eff = pd.concat(
        [
            _predictions(run, items, "papi", right=(m == winner) == (n == 40)).assign(
                method=m, n_known=n, keying="papi"
            )
            for m in ("pas_icl", "icl")
            for n in (10, 40)
        ],
        ignore_index=True,
    )
    g |= alignment_cost.efficiency_findings(*alignment_cost.efficiency_curve(eff, comp))
    comps = {
        "papi": comp,
        "literal": comparison.compare(
            tables_for("literal"), IPIP, "literal", population, known, validation
        ),
    }
    shown = {keying: {key: keying for key in METHODS} for keying in comps}
    g |= keying_ranking.ranking_findings(comps, keying_ranking.ranking(comps, shown))
    # the oracle and its prompt at alpha 0 on the first subjects only (chapter 05's
    # variant_subjects), compared like for like with PAS + prompt and its prompt there
    first = population.iloc[:2]
    at_zero = _predictions(first, items, "papi", right=not pas_best)
    oracle = _predictions(first, items, "papi", right=pas_best)
    like = comparison.compare(
        {k: comp.tables[k] for k in ("pas_icl", "icl_known")}
        | {"pas_oracle": oracle, "icl_paper": at_zero},
        IPIP,
        "papi",
    )
    assert like.n_subjects == 2
    leak, *row = claims.oracle_findings(like)
    g |= leak
    table, verdicts = claims.claims_findings(
        comp,
        paired,
        summary,
        tuple(row),
        cost,
        TRAINING,
        PAPER,
        g["c09_n_rank_changes"],
        g["c09_rank_methods"],
        paper_c,
        300,
        MODEL_ID,
        PAPER_MODEL,
    )
    return g | verdicts, table


@pytest.mark.parametrize("pas_best", [True, False])
def test_every_sentence_agrees_with_its_numbers(setting, pas_best):
    glue, _ = run_findings(setting, pas_best)
    assert contradictions(glue) == []
    assert all(
        isinstance(v, Sentence) for k, v in glue.items() if k.endswith("_finding")
    )


def test_the_verdicts_follow_the_construction(setting):
    glue, table = run_findings(setting, pas_best=True)
    # six subjects: the exact sign-flip test reaches 2 / 2^6 < 0.05, so a PAS that wins everywhere reproduces
    assert glue["c09_min_p_subjects"] == pytest.approx(2 / 2**6)
    assert {
        glue[f"c09_verdict_{k}"] for k in ("icl", "dpo", "grpo", "control", "steering")
    } == {"reproduces"}
    assert glue["c09_best_method"] == "PAS + prompt" and glue["c09_best_score"] == 0.0
    assert glue["c09_n_beat_bar"] == 1 and glue["c09_n_reproduce"] == 6
    assert list(table["verdict"][:6]) == ["reproduces"] * 6
    losing, _ = run_findings(setting, pas_best=False)
    assert {losing[f"c09_verdict_{k}"] for k in ("icl", "dpo", "grpo", "steering")} == {
        "does not reproduce"
    }
    assert (
        losing["c09_n_reproduce"] == 0 and losing["c09_best_method"] != "PAS + prompt"
    )


def test_two_subjects_cannot_decide(setting):
    glue, _ = run_findings(setting, pas_best=True, n_subjects=2)
    assert glue["c09_min_p_subjects"] == 0.5
    assert glue["c09_significance_finding"].startswith(
        "no difference can be significant"
    )
    assert (
        glue["c09_verdict_dpo"] == "same direction, not significant"
        and glue["c09_n_reproduce"] == 0
    )


def test_the_comparison_is_keyed_by_registry_key(setting):
    population, known, validation, items = setting
    tables = {"pas_icl": _predictions(population.iloc[:3], items, "papi", right=True)}
    comp = comparison.compare(tables, IPIP, "papi", population, known, validation)
    assert list(comp.scores.index) == ["pas_icl", *controls.PREDICTORS]
    assert comp.model_methods == ["pas_icl"] and comp.no_model == list(
        controls.PREDICTORS
    )
    assert comp.composite("pas_icl") == 0.0 and np.isnan(comp.composite("dpo"))
    assert list(comparison.labelled(comp.scores).index) == [
        "PAS + prompt",
        *controls.PREDICTORS.values(),
    ]
    # the trivial predictors only, without a validation split (the Dark Triad section)
    trivial = comparison.compare(tables, IPIP, "papi", population, known)
    assert list(trivial.scores.index) == ["pas_icl", *controls.TRIVIAL]
    graded = add_targets(comp.tables["always_C"], IPIP, "papi")
    assert (graded["predicted"] == 3).all() and len(graded) == 3 * len(items)

"""Chapter 05's analyses (palign_nb.pas_findings) on hand-made cases whose answers are known."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from palign_nb import pas_efficiency, pas_findings, pas_letters
from palign_nb.inventories import get_inventory
from palign_nb.readouts import PROB_COLUMNS

IPIP = get_inventory("ipip")


def _options(values: list[int]) -> pd.DataFrame:
    """An option table that puts 0.8 on each given value (A = 5 .. E = 1) and 0.05 elsewhere."""
    probs = np.full((len(values), 5), 0.05)
    probs[np.arange(len(values)), [5 - v for v in values]] = 0.8
    return pd.DataFrame(probs, columns=PROB_COLUMNS).assign(
        predicted=[float(v) for v in values]
    )


def test_every_criterion_picks_the_alpha_that_answers_right_on_every_redraw():
    targets = np.array([5, 4, 2, 1, 5, 3])
    traits = np.array(["N", "N", "E", "E", "O", "O"])
    tables = {
        0.0: _options([1, 2, 4, 5, 1, 1]),
        4.0: _options(list(targets)),
    }  # alpha 4 is exactly right
    choices = pas_findings.alpha_choices(tables, targets, traits, (0.0, 4.0))
    full = choices(np.arange(len(targets)))
    assert full == {"argmax": 4.0, "expected": 4.0, "rps": 4.0}
    redraws = pas_findings.stratified_redraws(
        choices, traits, IPIP.trait_order, n_boot=20, seed=0
    )
    assert len(redraws) == 20 and (redraws == 4.0).all().all()
    stability, glue = pas_findings.stability_findings(full, redraws, len(targets), 2)
    assert list(stability["share_same"]) == [1.0, 1.0, 1.0]
    assert (
        glue["c05_stab_alpha_rps"] == 4.0
        and glue["c05_stab_n_items"] == 6
        and glue["c05_stab_b"] == 20
    )
    assert glue["c05_stab_finding"] == (
        "the three criteria are equally stable: each picks the full set's alpha in "
        "100% of the redraws (every redraw agrees)"
    )


@pytest.mark.parametrize(
    "shares, n_alphas, says",
    [
        (
            {"argmax": 0.9, "expected": 0.5, "rps": 0.6},
            6,
            "the paper's criterion is the steadiest here",
        ),
        (
            {"argmax": 0.9, "expected": 0.9, "rps": 0.6},
            6,
            "the paper's criterion shares the top",
        ),
        (
            {"argmax": 0.3, "expected": 0.9, "rps": 0.6},
            6,
            "the paper's criterion is the least stable of the three here",
        ),
        (
            {"argmax": 0.6, "expected": 0.9, "rps": 0.3},
            6,
            "the paper's criterion sits between the other two",
        ),
        (
            {"argmax": 0.3, "expected": 0.9, "rps": 0.6},
            1,
            "with a single alpha in the grid there is nothing to choose",
        ),
    ],
)
def test_the_stability_reading_follows_the_shares(shares, n_alphas, says):
    assert says in pas_findings.stability_reading(shares, n_alphas)


def test_method_findings_reads_the_scores_it_is_given():
    scores = pd.DataFrame(
        [
            {"method": m, "keying": "papi", "variant": "faithful", "composite": c}
            for m, c in [
                ("pas_icl", 4.0),
                ("icl_known", 5.0),
                ("pas_alone", 6.0),
                ("no_alignment", 6.5),
                ("always_C", 4.5),
            ]
        ]
    )
    chosen = pd.DataFrame(
        {
            "subject": [1, 2, 1],
            "method": ["pas_icl", "pas_icl", "pas_alone"],
            "keying": "papi",
            "alpha": [0.0, 4.0, 0.0],
            "fallback": [False, False, True],
        }
    )
    timings = pd.DataFrame(
        {
            "subject": [1, 1, 2],
            "method": "pas_icl",
            "keying": "papi",
            "stage": "x",
            "seconds": [1.0, 2.0, 5.0],
        }
    )
    rows = pd.DataFrame(
        {
            "subject": [1, 1, 2, 2],
            "item": ["i1", "i2", "i1", "i2"],
            "trait": "N",
            "stored": [5, 1, 5, 1],
            "predicted": [5.0, 1.0, 1.0, 5.0],
        }
    )
    glue = pas_findings.method_findings(scores, chosen, timings, rows, "papi", IPIP)
    assert (
        glue["c05_pas_vs_prompt"] == -1.0
        and glue["c05_always_c"] == 4.5
        and np.isnan(glue["c05_pas_oracle"])
        and np.isnan(glue["c05_pas_icl_oracle_subjects"])
        and glue["c05_n_oracle_subjects"] == 0
    )
    assert (
        glue["c05_n_fallback"] == 1 and glue["c05_share_alpha_zero"] == 0.5
    )  # of the 2 fits that were probed
    assert glue["c05_pas_seconds"] == 4.0  # (1 + 2) and 5 s per subject
    assert glue["c05_methods_finding"].startswith(
        "PAS + prompt (4.00) is better than its prompt alone (5.00)"
    )
    # per-subject errors 0 and 4 (sd 2.83): the largest difference between the methods (2.5) is smaller
    assert (
        "(2.50) is smaller than the subject-to-subject spread"
        in glue["c05_spread_finding"]
    )
    one = pas_findings.method_findings(
        scores, chosen, timings, rows[rows.subject == 1], "papi", IPIP
    )
    assert one["c05_spread_finding"].startswith(
        "with one subject there is no subject-to-subject spread"
    )


@pytest.mark.parametrize(
    "cosines, says",
    [
        ([0.9, 0.85, 0.95], "mostly the letter vector"),
        ([0.1, 0.2, 0.25], "mostly something other than the letter vector"),
        ([0.5, 0.6, 0.4], "partly the letter vector"),
    ],
)
def test_the_letter_reading_follows_the_cosines(cosines, says):
    table = pd.DataFrame(
        {
            "subject": [1, 2, 3],
            "share_agree": [0.9, 0.6, 0.5],
            "one_sidedness": [0.8, 0.2, 0.0],
            "abs_letter_cosine": cosines,
            "abs_steered_cosine": cosines,
            "n_decided": 20,
        }
    )
    text = pas_letters.letter_reading(table, "mass_mean")
    assert says in text and "Spearman r" in text
    glue = pas_letters.letter_findings(table, n_subjects=4, direction="mass_mean")
    assert glue["c05_letter_n_fallback"] == 1 and glue[
        "c05_letter_cos_mean"
    ] == pytest.approx(np.mean(cosines))
    assert "two points always lie on a line" in pas_letters.letter_reading(
        table.iloc[:2], "mass_mean"
    )


def test_the_efficiency_findings_read_both_ends_and_the_item_noise():
    rows = []
    for method, right_at in [("pas_icl", 40), ("icl", 10)]:
        for k in (10, 40):
            right = k == right_at
            rows += [
                {
                    "subject": 1,
                    "item": f"i{j}",
                    "trait": "N",
                    "target": 4,
                    "n_known": k,
                    "method": method,
                    "predicted": 4.0 if right else 1.0,
                    "alpha": 0.0,
                    "fallback": False,
                }
                for j in range(5)
            ]
    scored = pd.DataFrame(rows)
    curve = pas_efficiency.efficiency_curve(scored)
    changes = {"pas_icl": [-3.0] * 10, "icl": [3.0] * 10}
    timings = pd.DataFrame({"subject": [1], "n_known": [40], "reused": [True]})
    glue = pas_efficiency.efficiency_findings(curve, changes, scored, timings)
    assert (
        glue["c05_eff_pas_min"],
        glue["c05_eff_pas_max"],
        glue["c05_eff_icl_change"],
    ) == (3.0, 0.0, 3.0)
    assert (
        glue["c05_eff_n_reused"] == 1
        and glue["c05_eff_always_a"] == 1.0
        and glue["c05_eff_always_e"] == 3.0
    )
    assert glue["c05_eff_finding"] == (
        "for PAS + prompt it lies below 0 (more known answers lowered the error by more "
        "than item noise explains); for its prompt alone it lies above 0 (more known "
        "answers raised the error by more than item noise explains)"
    )

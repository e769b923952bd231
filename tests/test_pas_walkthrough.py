"""Chapter 05's first-subject helpers (palign_nb.pas_walkthrough): the direction's glue, the
explorer, the alpha search's chart and the stability of the choice of alpha."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import test_palign_pas
from test_palign_pas import tiny
from test_pas_runs import KNOWN, TEST, VALIDATION, chapter_for, subject_answers

from palign_nb import activations, pas, pas_runs, pas_subject, pas_walkthrough, prompts
from palign_nb.prompt_baselines import score_items
from palign_nb.errors import PalignError
from palign_nb.inventories import get_inventory

INV = get_inventory("ipip")
tokenizer = test_palign_pas.tokenizer  # the fixture: the embedded model's tokenizer


def option_table(rows: list[list[float]], predicted: list[int]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=[f"p_{x}" for x in "ABCDE"]).assign(
        predicted=predicted
    )


# alpha 0: sure answers, right on 2 items of 4; alpha 1: every argmax 3 off, yet 45 % of the
# mass on each target (tests/test_palign_pas.py's case); a fifth item, unanswered, is wrong
# at alpha 0 and right at alpha 1: it must not count
TABLES = {
    0.0: option_table(
        [
            [1, 0, 0, 0, 0],
            [0, 0, 0, 0, 1],
            [0, 0, 0, 0, 1],
            [1, 0, 0, 0, 0],
            [0, 0, 0, 0, 1],
        ],
        [5, 1, 1, 5, 1],
    ),
    1.0: option_table(
        [
            [0.45, 0, 0, 0.55, 0],
            [0.45, 0, 0, 0.55, 0],
            [0, 0.55, 0, 0, 0.45],
            [0, 0.55, 0, 0, 0.45],
            [1, 0, 0, 0, 0],
        ],
        [2, 2, 4, 4, 5],
    ),
}
VALUES = np.array([5, 5, 1, 1, 0])
TRAITS = np.array(["O", "O", "C", "C", "O"])


def test_direction_glue_counts_the_numbers_of_a_persona():
    thetas = np.zeros((2, 8))
    glue = pas_walkthrough.direction_glue(0.5, 1.25, [(0, 1), (2, 3)], thetas)
    # two heads of 8 dimensions: 2 * (8 + 1) direction and sigma numbers, plus alpha
    assert glue == {
        "c05_cosine": 0.5,
        "c05_persona_numbers": 19,
        "c05_top_k": 2,
        "c05_sigma_best": 1.25,
    }


def test_stability_drops_missing_answers_and_counts_agreeing_redraws():
    stab = pas_walkthrough.stability_of(
        TABLES, VALUES, TRAITS, ["O", "C"], seed=0, n_boot=50
    )
    assert stab.full_choice == {"argmax": 0.0, "expected": 1.0, "rps": 1.0}
    assert stab.glue["c05_stab_n_items"] == 4 and stab.glue["c05_stab_b"] == 50
    assert len(stab.redraws) == 50
    for criterion in ("argmax", "expected", "rps"):
        share = float((stab.redraws[criterion] == stab.full_choice[criterion]).mean())
        row = stab.table.set_index("criterion").loc[criterion]
        assert row["share_same"] == share == stab.glue[f"c05_stab_{criterion}"]
    picks = stab.picks((0.0, 1.0, 2.0))
    assert picks.index.tolist() == [0.0, 1.0, 2.0] and (picks.loc[2.0] == 0).all()
    assert np.allclose(picks.sum(), 1.0, atol=0.01)
    # the same seed gives the same redraws
    again = pas_walkthrough.stability_of(
        TABLES, VALUES, TRAITS, ["O", "C"], seed=0, n_boot=50
    )
    pd.testing.assert_frame_equal(stab.redraws, again.redraws)


def test_stability_on_the_model_agrees_with_the_alpha_search(tokenizer, tmp_path):
    lm = tiny(tokenizer)
    items = KNOWN + VALIDATION
    acts = activations.contrast_activations(lm, items, INV, batch_size=8)
    answers = subject_answers()
    ch = chapter_for(tmp_path, lm, acts, items, answers)
    run = pas_runs.setup(ch)
    settings = pas_subject.PASSettings(top_k=3, alphas=(0.0, 4.0, 16.0), batch_size=4)
    run.settings = settings
    first = pas_subject.align_subject(
        lm,
        acts,
        items,
        answers.loc[7],
        KNOWN,
        VALIDATION,
        INV,
        "papi",
        prompts.DEFAULT_SYSTEM,
        settings,
    )
    stab = pas_walkthrough.alpha_stability(first, answers.loc[7], run, INV, "papi")
    # the full validation set picks what align_subject's search picked
    assert stab.full_choice["argmax"] == first.persona.alpha
    # the kept tables are what scoring the validation items again gives
    again = pas_subject.score_steered(
        lm, first.persona, 4.0, prompts.DEFAULT_SYSTEM, VALIDATION, INV, 4
    )
    pd.testing.assert_frame_equal(first.tables[4.0], again)
    # a grid the search did not score is refused
    run.settings = pas_subject.PASSettings(top_k=3, alphas=(0.0, 2.0), batch_size=4)
    with pytest.raises(PalignError, match=r"\[2.0\] were not scored"):
        pas_walkthrough.alpha_stability(first, answers.loc[7], run, INV, "papi")
    assert stab.glue["c05_stab_n_alphas"] == 3 and stab.glue["c05_stab_n_items"] == 5


def test_the_charts_name_each_criterion():
    trials = pd.DataFrame(
        {
            "alpha": [0.0, 4.0],
            "composite": [2.0, 1.0],
            "expected": [1.5, 1.2],
            "rps": [0.4, 0.3],
        }
    )
    spec = pas_walkthrough.alpha_search_chart(trials).to_dict()
    rows = next(iter(spec["datasets"].values()))
    assert len(rows) == 6
    assert {r["criterion"] for r in rows} == set(pas_walkthrough.SEARCH_LABELS.values())
    table = pd.DataFrame(
        {
            "criterion": ["argmax", "expected", "rps"],
            "alpha_full": 0.0,
            "share_same": [0.5, 0.9, 1.0],
        }
    )
    spec = pas_walkthrough.stability_chart(table).to_dict()
    rows = [r for d in spec["datasets"].values() for r in d if "criterion" in r]
    assert {r["criterion"] for r in rows} == {"argmax (paper)", "expected error", "RPS"}


def test_the_explorer_outside_jupyterlab_prints_a_note(tokenizer, monkeypatch, capsys):
    monkeypatch.delenv("JPY_SESSION_NAME", raising=False)
    persona = pas.Persona([(0, 0)], np.ones((1, 8)) / np.sqrt(8), np.ones(1))
    pas_walkthrough.explore_alpha(tiny(tokenizer), persona, INV, TEST)
    assert "runs in JupyterLab" in capsys.readouterr().out


def test_the_explorer_in_jupyterlab_binds_the_sliders(tokenizer, monkeypatch):
    widgets = pytest.importorskip("ipywidgets")
    monkeypatch.setenv("JPY_SESSION_NAME", "test")
    seen = {}
    monkeypatch.setattr(
        widgets, "interact", lambda f, **sliders: seen.update(f=f, **sliders)
    )
    lm = tiny(tokenizer)
    persona = pas.Persona([(0, 0)], np.ones((1, 8)) / np.sqrt(8), np.ones(1))
    pas_walkthrough.explore_alpha(lm, persona, INV, TEST)
    assert seen["item_index"].max == len(TEST) - 1 and seen["alpha"].max == 10.0
    # the explorer's table at alpha 0 is the unsteered option distribution of that item
    table = seen["f"](item_index=1, alpha=0.0)
    plain = score_items(lm, prompts.DEFAULT_SYSTEM, [TEST[1]], INV, 1)
    np.testing.assert_allclose(
        table.to_numpy(), plain[table.columns].round(3).to_numpy()
    )

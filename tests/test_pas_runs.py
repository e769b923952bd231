"""Chapter 05's runs (palign_nb.pas_runs): its items and settings, every subject through every
variant, their glue and records, on a tiny random model and a temporary results store."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import test_palign_pas
from test_palign_pas import tiny

from palign_nb import activations, context, methods, pas_every_subject, pas_findings
from palign_nb import pas_runs, pas_subject, store
from palign_nb.errors import PalignError
from palign_nb.inventories import get_inventory
from palign_nb.metrics import add_targets, alignment_score

INV = get_inventory("ipip")
tokenizer = test_palign_pas.tokenizer  # the fixture: the embedded model's tokenizer
ITEMS = INV.items.index.tolist()
# per trait of the 5: known items 0-3, validation item 4, test items 5-6 (of that trait)
BY_TRAIT = [INV.items_of(t) for t in INV.trait_order]
KNOWN = [c for items in BY_TRAIT for c in items[:4]]
VALIDATION = [c for items in BY_TRAIT for c in items[4:5]]
TEST = [c for items in BY_TRAIT for c in items[5:7]]
SPLITS = {
    "known": KNOWN,
    "validation": VALIDATION,
    "paper_known": KNOWN + VALIDATION,
    "test": TEST,
    "subjects": [7, 8, 9],
}


def subject_answers(seed: int = 0) -> pd.DataFrame:
    """Answers 1, 2, 4 or 5 to every item for subjects 7, 8 and 9."""
    rng = np.random.default_rng(seed)
    values = rng.choice([1, 2, 4, 5], size=(3, len(ITEMS)))
    return pd.DataFrame(values, index=[7, 8, 9], columns=ITEMS)


#: Chapter 05's parameters for these tests: its defaults, with a small grid and few heads.
PARAMS = {
    "keying": "papi",
    "n_subjects": 2,
    "seed": 0,
    "top_k": 3,
    "probe_solver": "sklearn",
    "alphas": [0.0, 4.0],
    "refine_alpha": False,
    "direction": "mass_mean",
    "alpha_criterion": "argmax",
    "n_items": 10,
    "both_keyings": False,
    "oracle": True,
    "variant_subjects": None,
    "batch_size": 4,
    "efficiency_counts": [5, 10],
    "efficiency_subjects": 1,
    "efficiency_keying": None,
}


def chapter_for(tmp_path, lm=None, acts=None, act_items=None, answers=None, **params):
    """Chapter 05's context on a temporary store, with the splits, answers, activations and
    model given here instead of the store's and the shipped ones."""
    ch = context.Chapter("05_pas", PARAMS | {"results_dir": str(tmp_path)} | params)
    answers = answers if answers is not None else subject_answers()
    ch.__dict__.update(splits=SPLITS, answers=answers, model=lm)
    items = act_items if act_items is not None else KNOWN + VALIDATION[:2]
    ch.activations = lambda: (acts, items)
    table = pd.DataFrame(
        [
            {
                "subject": s,
                "item": c,
                "predicted": 3,
                "stored": 3,
                "trait": INV.items.loc[c, "trait"],
            }
            for s in (7, 8, 9)
            for c in TEST + KNOWN[:1]
        ]
    )
    writer = methods.method("no_alignment").writer("ipip")
    store.save_predictions(ch.cfg, "no_alignment", table, chapter=writer)
    return ch


def test_setup_chooses_the_items_and_keyings_and_checks_every_value(tmp_path, capsys):
    ch = chapter_for(
        tmp_path, efficiency_subjects=5, both_keyings=True, keying="literal"
    )
    run = pas_runs.setup(ch)
    # only the items with activations; the test items: the first n_items // 5 per trait
    assert run.known == KNOWN and run.paper_known == KNOWN + VALIDATION[:2]
    assert run.validation == VALIDATION and run.test_items == TEST
    assert run.keyings == ["literal", "papi"] and run.eff_keying == "literal"
    assert run.settings.alphas == (0.0, 4.0) and run.settings.top_k == 3
    assert sorted(run.eff_subsets) == [5, 10] and run.eff_subjects == [7, 8]
    assert "all of them get the curve" in capsys.readouterr().out
    assert run.variant_subjects == [7, 8]  # None: every subject
    first = pas_runs.setup(chapter_for(tmp_path, variant_subjects=1))
    assert first.variant_subjects == [7]
    # chapter 03's rows of this run's subjects and test items only
    assert set(run.unaligned["subject"]) == {7, 8}
    assert set(run.unaligned["item"]) == set(TEST)
    one = pas_runs.setup(chapter_for(tmp_path, efficiency_keying="papi", oracle=False))
    assert one.keyings == ["papi"] and one.eff_keying == "papi" and not one.oracle
    for bad, match in [
        ({"efficiency_subjects": 0}, "give at least 1"),
        ({"variant_subjects": 0}, "variant_subjects=0: give at least 1"),
        ({"direction": "mass"}, "Did you mean 'mass_mean'"),
        ({"alpha_criterion": "argmin"}, "Unknown alpha_criterion"),
        ({"efficiency_keying": "paper"}, "Unknown efficiency_keying"),
        ({"efficiency_counts": [5, 25]}, "25"),  # more than the 20 known items
    ]:
        with pytest.raises(PalignError, match=match):
            pas_runs.setup(chapter_for(tmp_path, **bad))


def test_chosen_and_timings_of_the_variants():
    def rows(subjects, alpha, fallback):
        return pd.DataFrame(
            {"subject": subjects, "item": "i", "alpha": alpha, "fallback": fallback}
        )

    variants = pas_runs.Variants()
    variants.preds["pas_icl", "papi"] = rows([7, 7, 8, 8], [4.0, 4.0, 0.0, 0.0], False)
    variants.preds["icl_known", "papi"] = pd.DataFrame({"subject": [7], "item": ["i"]})
    variants.preds["pas_alone", "literal"] = rows([7, 8], [0.0, 0.0], [False, True])
    chosen = variants.chosen
    assert chosen.to_dict("records") == [
        {
            "subject": 7,
            "alpha": 4.0,
            "fallback": False,
            "method": "pas_icl",
            "keying": "papi",
        },
        {
            "subject": 8,
            "alpha": 0.0,
            "fallback": False,
            "method": "pas_icl",
            "keying": "papi",
        },
        {
            "subject": 7,
            "alpha": 0.0,
            "fallback": False,
            "method": "pas_alone",
            "keying": "literal",
        },
        {
            "subject": 8,
            "alpha": 0.0,
            "fallback": True,
            "method": "pas_alone",
            "keying": "literal",
        },
    ]
    variants.timing_parts += [
        pd.DataFrame({"seconds": [1.0]}),
        pd.DataFrame({"seconds": [2.0]}),
    ]
    assert variants.timings["seconds"].tolist() == [1.0, 2.0]


def test_every_variant_for_every_subject_and_keying_is_run_glued_and_saved(
    tokenizer, tmp_path
):
    lm = tiny(tokenizer)
    items = KNOWN + VALIDATION
    acts = activations.contrast_activations(lm, items, INV, batch_size=8)
    ch = chapter_for(tmp_path, lm, acts, items, both_keyings=True)
    run = pas_runs.setup(ch)
    variants = pas_runs.Variants()
    for key in run.keyings:
        pas_runs.align_every_subject(ch, run, key, variants)
    methods_run = ["pas_icl", "pas_alone", "icl_known", "pas_oracle", "icl_paper"]
    assert list(variants.preds) == [
        (m, k) for k in ("papi", "literal") for m in methods_run
    ]
    for table in variants.preds.values():
        assert table["subject"].tolist() == [7] * len(TEST) + [8] * len(TEST)
    # the PAS + prompt personas of the chapter's keying; every persona is kept in the store
    assert sorted(variants.personas) == [7, 8]
    back = ch.load_persona("pas_alone", "literal", 8, lm)
    assert back.heads and back.meta["method"] == "pas_alone"
    # the oracle keeps the alpha with the lowest test error; its alpha 0 is the paper's ICL
    oracle, paper = (
        variants.preds["pas_oracle", "papi"],
        variants.preds["icl_paper", "papi"],
    )
    assert set(oracle["alpha"]) <= {0.0, 4.0} and len(paper) == len(oracle)
    assert set(variants.timings["keying"]) == {"papi", "literal"}
    assert len(variants.chosen) == 3 * 2 * 2  # 3 PAS variants, 2 subjects, 2 keyings
    scores = pd.DataFrame(
        [
            {
                "method": m,
                "keying": k,
                "variant": "faithful",
                "composite": float(
                    alignment_score(add_targets(t, INV, k))["composite"]
                ),
            }
            for (m, k), t in variants.preds.items()
        ]
        + [
            {"method": m, "keying": "papi", "variant": "faithful", "composite": 1.0}
            for m in ("no_alignment", "always_C")
        ]
    )
    glue = pas_runs.methods_glue(ch, run, variants, scores)
    assert glue["c05_keyings_run"] == "both keyings" and glue["c05_n_subjects"] == 2
    assert (glue["c05_n_known"], glue["c05_n_paper_known"]) == (20, 25)
    assert glue["c05_n_test_items"] == len(TEST) and glue["c05_keying"] == "papi"
    own = scores.set_index(["method", "keying"])["composite"]
    assert glue["c05_pas_vs_prompt"] == pytest.approx(
        own["pas_icl", "papi"] - own["icl_known", "papi"]
    )
    pas_runs.save_variants(ch, run, variants)
    stored = store.load_predictions(ch.cfg, "pas_alone", "literal")
    assert (
        stored["predicted"].tolist()
        == variants.preds["pas_alone", "literal"]["predicted"].tolist()
    )
    alphas = store.require_table(ch.cfg, "pas_alphas", produced_by="05_pas")
    assert alphas["alpha"].tolist() == variants.chosen["alpha"].tolist()
    assert store.load_timings(ch.cfg, "05_pas")["seconds"].sum() == pytest.approx(
        variants.timings["seconds"].sum()
    )


def test_the_charts_show_each_method_and_subject():
    scores = pd.DataFrame(
        {
            "method": ["pas_icl", "pas_icl", "icl_known"],
            "keying": "papi",
            "variant": ["faithful", "raw", "faithful"],
            "composite": [1.0, 9.0, 2.0],
        }
    )
    layers = pas_runs.methods_chart(scores).to_dict()
    data = [d for d in layers["datasets"].values() if d and "method" in d[0]]
    assert sorted(r["composite"] for r in data[0]) == [1.0, 2.0]  # faithful rows only
    table = pd.DataFrame(
        {
            "subject": [7, 8],
            "share_agree": [0.5, 0.9],
            "one_sidedness": [0.0, 0.8],
            "abs_letter_cosine": [0.2, 0.9],
        }
    )
    spec = pas_runs.letter_chart(table).to_dict()
    assert spec["encoding"]["x"]["field"] == "one_sidedness"
    assert len(next(iter(spec["datasets"].values()))) == 2


def test_the_oracle_and_the_other_keying_run_the_variant_subjects_only(
    tokenizer, tmp_path
):
    lm = tiny(tokenizer)
    items = KNOWN + VALIDATION
    acts = activations.contrast_activations(lm, items, INV, batch_size=8)
    ch = chapter_for(tmp_path, lm, acts, items, both_keyings=True, variant_subjects=1)
    run = pas_runs.setup(ch)
    variants = pas_runs.Variants()
    # the chapter's keying in two parts, as the chapter's cells run it
    pas_runs.align_every_subject(ch, run, "papi", variants, parts=("pas_icl",))
    pas_runs.align_every_subject(
        ch, run, "papi", variants, parts=("pas_alone", "icl_known", "pas_oracle")
    )
    pas_runs.align_every_subject(ch, run, "literal", variants)
    subjects = {k: sorted(set(t["subject"])) for k, t in variants.preds.items()}
    for m in ("pas_icl", "pas_alone", "icl_known"):
        assert subjects[m, "papi"] == [7, 8] and subjects[m, "literal"] == [7]
    for m in ("pas_oracle", "icl_paper"):
        assert subjects[m, "papi"] == [7] and subjects[m, "literal"] == [7]
    with pytest.raises(PalignError, match="choose from"):
        pas_runs.align_every_subject(ch, run, "papi", variants, parts=("oracle",))
    assert pas_runs.keyings_run("papi", run, 2) == (
        "the papi keying (the other keying for the first 1 subjects)"
    )
    # the other keying's no-model rows and methods on its own subjects; the oracle's
    # comparison with PAS + prompt like for like, on the oracle's subject
    scores = pas_findings.method_scores(variants.preds, run.unaligned, run.keyings, INV)
    n = scores.drop_duplicates(["method", "keying"]).set_index(["method", "keying"])
    assert n.loc[("no_alignment", "papi"), "n_subjects"] == 2
    assert n.loc[("no_alignment", "literal"), "n_subjects"] == 1
    assert n.loc[("pas_oracle", "papi"), "n_subjects"] == 1
    glue = pas_findings.method_findings(
        scores,
        variants.chosen,
        variants.timings,
        variants.preds["pas_icl", "papi"],
        "papi",
        INV,
    )
    pas_first = variants.preds["pas_icl", "papi"]
    alone = alignment_score(add_targets(pas_first[pas_first.subject == 7], INV, "papi"))
    assert glue["c05_n_oracle_subjects"] == 1
    assert glue["c05_pas_icl_oracle_subjects"] == pytest.approx(alone["composite"])
    assert "on the oracle's 1 subject(s)" in str(glue["c05_methods_finding"])


def test_a_fit_already_made_is_reused_not_fitted_again(
    tokenizer, tmp_path, monkeypatch
):
    lm = tiny(tokenizer)
    items = KNOWN + VALIDATION
    acts = activations.contrast_activations(lm, items, INV, batch_size=8)
    ch = chapter_for(tmp_path / "reused", lm, acts, items)
    run = pas_runs.setup(ch)
    system = pas_runs.icl_prompts(ch.answers, run.known, INV, "papi")(7)
    first = pas_subject.align_subject(
        lm,
        acts,
        items,
        ch.answers.loc[7],
        run.known,
        run.validation,
        INV,
        "papi",
        system,
        run.settings,
    )
    fitted, real = [], pas_every_subject.align_subject

    def counted(*args, **kwargs):
        fitted.append(args[3].name)  # the subject's answers
        return real(*args, **kwargs)

    monkeypatch.setattr(pas_every_subject, "align_subject", counted)
    variants = pas_runs.Variants()
    parts = ("pas_icl",)
    pas_runs.align_every_subject(ch, run, "papi", variants, parts, fits={7: first})
    assert fitted == [8]
    # the same predictions, alphas and personas as fitting every subject
    again = chapter_for(tmp_path / "again", lm, acts, items)
    fresh = pas_runs.Variants()
    pas_runs.align_every_subject(again, pas_runs.setup(again), "papi", fresh, parts)
    assert fitted == [8, 7, 8]
    pd.testing.assert_frame_equal(
        variants.preds["pas_icl", "papi"], fresh.preds["pas_icl", "papi"]
    )
    assert variants.personas[7].alpha == fresh.personas[7].alpha == first.persona.alpha

"""Smoke run of every chapter: papermill with params/smoke.yaml, in _toc order, sharing one results store.

Each chapter is one test id (`test_chapter[01_inventories]`, ...). They run in _toc order and write to
ONE temporary results directory, so a later chapter reads what an earlier one stored, exactly as in
the book. After each run, the scalars the chapter glued (`myst_nb.glue`) are read back from the
executed notebook and checked: there is at least one, every numeric one is finite, every one
listed in CHECKS lies in its range, and the chapter's cross-check (CROSS_CHECKS) recomputes what it can of
them from the smoke store's tables, the shipped data and the other glued numbers. Executed copies are kept in
test-artifacts/ for inspection.

After the chapters, chapter 09's outcome sentences are checked against the numbers they judge, on the
smoke run and on two copies of its store rewritten to opposite outcomes (tests/test_outcome_sentences.py).
"""

from __future__ import annotations

import ast
import math
import numbers
import re
from pathlib import Path

import nbformat
import numpy as np
import pandas as pd
import pytest
import yaml

from test_hygiene import ROOT, toc_notebooks
from test_outcome_sentences import (
    best_named,
    contradictions,
    glued_bundles,
    parse_count,
    read_scraps,
    synthetic_store,
)

SMOKE = ROOT / "params" / "smoke.yaml"
ARTIFACTS = ROOT / "test-artifacts"
CHAPTERS = [nb for nb in toc_notebooks() if nb.exists()]
#: The chapters this session ran without failing, by stem: their executed copies (read by the tests after the run).
EXECUTED: dict[str, Path] = {}

# Chapter-specific checks on glued scalars, for notebook authors to extend:
#   "NN_chapter": {"glue_key": (low, high), ...}   bounds inclusive, for the SMOKE parameters.
# A key listed here must be glued by that chapter. Chapters not listed get the generic checks only.
# A range belongs here only when it can fail for a real defect (a fact of the data, a count the parameters fix, a
# claim of the prose). A number computed from the store's tables, the data or other glued numbers is recomputed
# instead, by the chapter's cross-check (CROSS_CHECKS, below test_chapter): a range like (0, 20) for a composite
# error holds for nearly every defect.
CHECKS: dict[str, dict[str, tuple[float, float]]] = {
    "01_inventories": {
        # facts of the shipped data, whatever the parameters
        "c01_ipip_items": (300, 300),
        "c01_n_known": (120, 120),
        "c01_n_test": (180, 180),
        "c01_papi_n": (300, 300),
        "c01_sd3_n": (18192, 18192),
        # the reverse-keying finding: stored opposite-key items correlate positively, and the
        # domains are consistent only as stored (reversing the minus-keyed items again breaks them)
        "c01_r_opp_min": (0.0, 1.0),
        "c01_alpha_stored_min": (0.9, 1.0),
        "c01_alpha_reversed_max": (0.0, 0.8),
    },
    "02_dataset_splits": {},
    "03_asking_the_model": {
        # the cached-prefix shortcut must reproduce a plain forward pass
        "c03_max_abs_diff": (
            0.0,
            0.05,
        ),  # the chapter itself asserts its precision's tolerance (1e-3 in float32)
        # float32 against bfloat16 on the same items: different (> 0: the other copy really is in the other
        # precision) but close (a few hundredths), and most answers agree
        "c03_precision_max_abs_dp": (1e-6, 0.1),
        "c03_precision_agreement": (0.5, 1.0),
        "c03_precision_items": (10, 10),
        "c03_prefix_tokens": (1000, 2000),  # the 120-answer system prompt
        "c03_speedup": (
            1.5,
            1e4,
        ),  # option scoring must beat generation even on 12 items
        "c03_n_subjects": (1, 1),
        "c03_item_rho_items": (
            10,
            10,
        ),  # n_items 12 = 2 per trait: every one has answers from the other subjects
    },
    "04_head_probing": {
        "c04_n_layers": (30, 30),  # the embedded model: 30 layers x 9 query heads
        "c04_n_heads": (9, 9),
        "c04_n_act_items": (30, 30),
        "c04_best_score_first": (0.5, 1.0),  # the best of 270 probes beats chance
        "c04_n_subjects": (1, 1),
    },
    "05_pas": {
        # "the centre-of-mass direction and the probe's weight vector agreed": both point from mismatch to match, so
        # their cosine is positive (a label or sign flipped in either one makes it negative)
        "c05_cosine": (1e-6, 1.0 + 1e-6),
        "c05_top_k": (24, 24),
        "c05_persona_numbers": (24 * 65 + 1, 24 * 65 + 1),
        "c05_n_subjects": (1, 1),
        "c05_letter_n_subjects": (1, 1),
        # 5.7 data efficiency: smoke counts [5, 10], one subject
        "c05_eff_n_min": (5, 5),
        "c05_eff_n_max": (10, 10),
        "c05_eff_n_counts": (2, 2),
        "c05_eff_n_subjects": (1, 1),
        "c05_eff_n_fits": (2, 2),
    },
    "06_prompting_baselines": {
        "c06_n_subjects": (1, 1),
        "c06_n_known": (120, 120),  # ICL and P2 read the paper's 120 known answers
        "c06_icl_tokens": (1000, 2000),  # the 120-answer system prompt
        "c06_n_flipped": (
            1,
            120,
        ),  # papi and literal labels differ on some minus-keyed items
    },
    "07_preference_baselines": {
        "c07_n_subjects": (1, 1),
        "c07_lora_share": (0.0, 0.05),  # the adapter is a small fraction of the model
        "c07_grpo_reward_last": (-6.0, 0.0),  # the paper's reward range
        "c07_roundtrip_diff": (
            0.0,
            1e-4,
        ),  # a reloaded adapter answers like the trained one
    },
    "08_dark_triad": {
        "c08_n_items": (
            27,
            27,
        ),  # the SD3: 27 statements, 5 reversed, 18,192 respondents
        "c08_n_reversed": (5, 5),
        "c08_n_respondents": (18192, 18192),
        "c08_keying_cells_differ": (
            0,
            0,
        ),  # SD3 stores literal answers: the keyings agree
        # the paper's setting (the default): its 300 released subjects, items 1-6 of each trait known,
        # 7-9 tested; 1 validation item per trait carved from the known ones to choose alpha
        "c08_n_test_subjects": (300, 300),
        "c08_n_known": (18, 18),
        "c08_n_test": (9, 9),
        "c08_n_val": (3, 3),
        "c08_n_probe": (15, 15),
        "c08_n_subjects": (1, 1),
    },
    "09_results": {
        "c09_n_subjects": (
            1,
            1,
        ),  # the smoke runs' one subject, on the items every method answered
        "c09_n_items": (
            10,
            10,
        ),  # n_items 12: the first 2 test items of each of the 5 traits
        "c09_paper_pas": (4.41, 4.41),  # the paper's Table 1, Llama-3-8B-Instruct
        "c09_paper_always_c": (
            3.79,
            3.81,
        ),  # always C on all 300 PAPI test subjects (chapter 02)
        "c09_min_p_subjects": (
            1.0,
            1.0,
        ),  # one subject: no paired test can reject anything
        "c09_n_sig_subjects": (0, 0),
        "c09_sd3_n_subjects": (1, 1),
        "c09_eff_subjects": (1, 1),
    },
    "10_open_ended": {
        "c10_n_statements": (2, 2),  # smoke: two statements, three answers each
        "c10_n_check_items": (40, 40),
        "c10_check_n": (160, 160),  # four labelled answers per check statement
        # the offline judge must read plain affirmations and denials far better than a coin flip
        "c10_check_accuracy": (0.7, 1.0),
        "c10_check_acc_affirm": (0.8, 1.0),
        "c10_check_pairwise": (0.6, 1.0),
        "c10_judge_ran": (
            1,
            1,
        ),  # smoke: the paper's judge prompt goes to the embedded model
        "c10_judge_n": (6, 6),
    },
}

# Composites that must lie on the grid their item counts allow (smoke: 2 test items per Big Five trait, so
# every trait error is a multiple of 1/2; 3 per Dark Triad trait, multiples of 1/3): a composite off the grid
# was computed from something other than whole-letter answers on those items.
ON_GRID: dict[str, dict[str, float]] = {
    "03_asking_the_model": {
        "c03_noalign_composite": 1 / 2,
        "c03_always_c_composite": 1 / 2,
    },
    "05_pas": {
        k: 1 / 2
        for k in (
            "c05_pas_icl",
            "c05_pas_oracle",
            "c05_always_c",
            "c05_eff_pas_min",
            "c05_eff_pas_max",
            "c05_eff_icl_min",
            "c05_eff_icl_max",
        )
    },
    "06_prompting_baselines": {
        k: 1 / 2
        for k in (
            "c06_icl_papi_composite",
            "c06_icl_literal_composite",
            "c06_p2_composite",
            "c06_p2_generated_composite",
        )
    },
    "07_preference_baselines": {
        "c07_dpo_composite": 1 / 2,
        "c07_grpo_composite": 1 / 2,
    },
    "08_dark_triad": {
        k: 1 / 3
        for k in ("c08_always_c", "c08_pas_icl", "c08_dpo", "c08_grpo", "c08_p2")
    },
    "09_results": {"c09_pas": 1 / 2, "c09_always_c": 1 / 2},
}

# Glued text that must read exactly so (its text/plain repr), for the SMOKE parameters.
TEXT_CHECKS: dict[str, dict[str, str]] = {
    "08_dark_triad": {
        "c08_setting": "paper"
    },  # the faithful Dark Triad setting is the default
    "09_results": {"c09_sd3_setting": "paper"},  # read back from chapter 08's store
}

# What IPython shows for a NumPy scalar (numpy >= 2). {glue:text}`key:.2f` cannot format it:
# glue float(x) / int(x) instead.
NUMPY_REPR = re.compile(r"^np\.\w+\(.*\)$", re.S)
# A glue key quoted in markdown: {glue:text}`key:.2f`, {glue:}`key`, {glue:figure} key, ...
GLUE_REF = re.compile(r"\{glue(?::\w+)?\}(?:`|\s+)([A-Za-z0-9_]+)")


def read_glued(path: Path) -> dict[str, str]:
    """{name: text/plain} of every glued output (:func:`test_outcome_sentences.glued_bundles`)."""
    return {
        name: data.get("text/plain", "") for name, data in glued_bundles(path).items()
    }


def as_number(text: str) -> float | None:
    """The glued value as a number, or None when it is not a number (text, tables, charts)."""
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return float(text) if text.strip() in {"nan", "inf", "-inf"} else None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Path:
    """One results store shared by all chapters of this run."""
    return tmp_path_factory.mktemp("smoke") / "results"


@pytest.fixture(scope="module")
def smoke_params(store) -> dict:
    return yaml.safe_load(SMOKE.read_text()) | {"results_dir": str(store)}


def test_toc_has_chapters():
    assert CHAPTERS, "_toc.yml lists no existing notebook: nothing to smoke-test"


@pytest.mark.parametrize("nb", CHAPTERS, ids=[nb.stem for nb in CHAPTERS])
def test_chapter(nb: Path, smoke_params: dict):
    import papermill as pm

    ARTIFACTS.mkdir(exist_ok=True)
    out = ARTIFACTS / nb.name
    pm.execute_notebook(
        str(nb),
        str(out),
        parameters=smoke_params,
        kernel_name="python3",
        cwd=str(nb.parent),
        execution_timeout=900,
        progress_bar=False,
    )

    scraps = read_glued(out)
    assert scraps, (
        f"{nb.stem} glued nothing: record the numbers its prose quotes with glue(...)"
    )
    number = nb.stem[:2]
    for name, text in scraps.items():
        assert name.startswith(f"c{number}_"), (
            f"glue key {name!r}: prefix it with 'c{number}_' (style guide)"
        )
        assert not NUMPY_REPR.match(text.strip()), (
            f"glue key {name!r} holds {text!r}: glue float(x) or int(x)"
        )
        value = as_number(text)
        if value is not None:
            assert math.isfinite(value), f"glue key {name!r} is not finite: {text!r}"

    quoted = set(
        GLUE_REF.findall(
            "\n".join(
                c.source
                for c in nbformat.read(nb, as_version=4).cells
                if c.cell_type == "markdown"
            )
        )
    )
    unglued = sorted(quoted - set(scraps))
    assert not unglued, (
        f"{nb.stem}'s prose quotes glue keys the run did not glue: {unglued}"
    )

    for name, (low, high) in CHECKS.get(nb.stem, {}).items():
        assert name in scraps, f"{nb.stem} did not glue {name!r} (listed in CHECKS)"
        value = as_number(scraps[name])
        assert value is not None and low <= value <= high, (
            f"{name} = {scraps[name]!r}, expected in [{low}, {high}]"
        )

    # the longest cell the chapter timed lies between 0 and the whole chapter (papermill's own cell durations)
    durations = [
        c.metadata.get("papermill", {}).get("duration") or 0.0
        for c in nbformat.read(out, as_version=4).cells
        if c.cell_type == "code"
    ]
    longest = as_number(scraps[f"c{number}_longest_cell_s"])
    assert 0 < longest <= 60 * as_number(scraps[f"c{number}_runtime_min"]) + 1e-6
    assert longest <= max(durations) + 1.0, (
        f"longest cell {longest:.1f} s, papermill's longest {max(durations):.1f} s"
    )

    for name, step in ON_GRID.get(nb.stem, {}).items():
        value = as_number(scraps[name])
        assert abs(value / step - round(value / step)) < 1e-6, (
            f"{name} = {value!r} is not a multiple of {step:.4g}"
        )

    for name, expected in TEXT_CHECKS.get(nb.stem, {}).items():
        assert name in scraps, (
            f"{nb.stem} did not glue {name!r} (listed in TEXT_CHECKS)"
        )
        assert ast.literal_eval(scraps[name]) == expected, (
            f"{name} = {scraps[name]!r}, expected {expected!r}"
        )

    glued = read_scraps(out)
    GLUED.update(glued)
    problems = cross_check(nb.stem, glued, smoke_params)
    assert not problems, (
        f"{nb.stem}'s glued numbers disagree with what they are computed from:\n  "
        + "\n  ".join(problems)
    )
    EXECUTED[nb.stem] = out


# --- cross-checks: each glued number against what it is computed from -------------------------------------------
#
# A range such as "a composite error lies in [0, 20]" holds for nearly every defect. The checks below recompute a
# glued number from the smoke store's tables with the formulas written out here (not the package's), from the shipped
# data, or from other glued numbers (of this chapter, or of an earlier one in this session), so a chapter that glues
# the wrong table, keying, variant, rows, sign, count or alpha fails. Each chapter's failures are reported together.

#: Every value the chapters of this session glued (test_outcome_sentences.read_scraps), by key: a chapter's checks read
#: the values of the chapters before it.
GLUED: dict[str, object] = {}
OPTIONS = "ABCDE"  # the option letters: A is the Likert value 5, ..., E is 1
PROBS = [f"p_{x}" for x in OPTIONS]


def target_of(table, inventory, keying: str):
    """The answer each row is graded against, written out: ``papi`` grades against the stored answer; ``literal``
    against what the person answered, which for IPIP (stored with the minus-keyed answers reversed) is 6 - v on a
    minus-keyed item (a missing 0 stays 0) and for SD3 (stored as answered) the stored answer."""
    stored = table["stored"].to_numpy(dtype=float)
    if keying == "papi" or inventory.name != "ipip":
        return stored
    minus = inventory.items.loc[table["item"], "sign"].to_numpy() < 0
    return np.where(minus & (stored > 0), 6 - stored, stored)


def composite_of(
    table, inventory, keying: str, variant: str = "faithful", predicted=None
) -> float:
    """The paper's composite error written out: per subject and trait the mean |predicted - target| over the rows
    with an answer (``faithful``: a missing target counts as 0; ``corrected``: its rows are dropped), averaged over
    the subjects, summed over the traits. ``predicted`` replaces the table's answers (a constant predictor)."""
    answer = (
        table["predicted"]
        if predicted is None
        else np.broadcast_to(float(predicted), len(table))
    )
    rows = pd.DataFrame(
        {
            "subject": table["subject"].to_numpy(),
            "trait": table["trait"].to_numpy(),
            "predicted": np.asarray(answer, dtype=float),
            "target": target_of(table, inventory, keying),
        }
    )
    rows = rows[rows["predicted"].notna()]
    if variant == "corrected":
        rows = rows[rows["target"] > 0]
    per_cell = (
        (rows["predicted"] - rows["target"])
        .abs()
        .groupby([rows["subject"], rows["trait"]])
        .mean()
    )
    return float(per_cell.groupby(level=1).mean().sum())


def likeliest_value(table):
    """The Likert value of each row's likeliest option (A = 5 ... E = 1; the first of tied options), from p_A .. p_E."""
    return 5 - table[PROBS].to_numpy(dtype=float).argmax(axis=1)


def modal_share(values) -> float:
    """How often the most common value occurs, as a share."""
    return float(values.value_counts(normalize=True).max())


def _close(a, b, tol: float) -> bool:
    """Numbers within ``tol`` (two NaNs agree); anything else (text, lists, dicts) equal."""
    if not all(isinstance(x, numbers.Real) and not isinstance(x, bool) for x in (a, b)):
        return a == b
    a, b = float(a), float(b)
    return (math.isnan(a) and math.isnan(b)) or math.isclose(
        a, b, rel_tol=tol, abs_tol=tol
    )


class Expect:
    """One chapter's cross-checks on the smoke run: each one that fails is kept, with the numbers it compared."""

    def __init__(self, chapter: str, glued: dict, params: dict):
        from palign_nb.config import RunConfig

        self.chapter, self.glued, self.params = chapter, glued, params
        self.problems: list[str] = []
        model = {"model_id": params["model_id"]} if "model_id" in params else {}
        self.cfg = {
            inv: RunConfig(**model, inventory=inv, results_dir=params["results_dir"])
            for inv in ("ipip", "sd3")
        }

    def __getitem__(self, key: str):
        assert key in self.glued, (
            f"{self.chapter} did not glue {key!r} (a cross-check in tests/test_chapters_smoke.py reads it)"
        )
        return self.glued[key]

    @staticmethod
    def earlier(key: str):
        """A value an earlier chapter of this session glued, or None when that chapter did not run."""
        return GLUED.get(key)

    def equal(self, key: str, expected, how: str, tol: float = 1e-9) -> None:
        if not _close(self[key], expected, tol):
            self.problems.append(f"{key} = {self[key]!r}, but {how} gives {expected!r}")

    def share_of(self, key: str, n: int, what: str) -> None:
        """``key`` is a share of ``n`` things: a multiple of 1/n in [0, 1]."""
        value = float(self[key])
        if not (0 <= value <= 1 and abs(value * n - round(value * n)) < 1e-6):
            self.problems.append(f"{key} = {value!r} is not a share of {n} {what}")

    def true(self, ok: bool, message: str) -> None:
        if not ok:
            self.problems.append(message)

    # the smoke store
    def table(self, name: str, produced_by: str, inventory: str = "ipip"):
        from palign_nb import store as results_store

        return results_store.require_table(
            self.cfg[inventory], name, produced_by=produced_by
        )

    def json(self, name: str, produced_by: str, inventory: str = "ipip"):
        from palign_nb import store as results_store

        return results_store.require_json(
            self.cfg[inventory], name, produced_by=produced_by
        )

    def predictions(self, key: str, keying: str = "papi", inventory: str = "ipip"):
        from palign_nb import store as results_store

        return results_store.load_predictions(self.cfg[inventory], key, keying)

    def timings(self, chapter: str, inventory: str = "ipip"):
        from palign_nb import store as results_store

        return results_store.load_timings(self.cfg[inventory], chapter)


def rows_like(table, like):
    """``table``'s rows for the (subject, item) pairs of ``like``, in ``like``'s order."""
    return (
        table.set_index(["subject", "item"])
        .loc[list(zip(like["subject"], like["item"]))]
        .reset_index()
    )


def check_02(e: Expect) -> None:
    """Chapter 02's trivial predictors on all PAPI test subjects, recomputed from the shipped answers."""
    from palign_nb.data import load_answers
    from palign_nb.inventories import get_inventory

    inv, answers, splits = (
        get_inventory("ipip"),
        load_answers("ipip"),
        e.json("splits", "02_dataset_splits"),
    )
    test = splits["test"]
    e.equal("c02_n_test", len(test), "the splits' test items")
    e.equal("c02_n_known", len(splits["paper_known"]), "the splits' known items")
    long = pd.DataFrame(
        {
            "subject": answers.index.repeat(len(test)),
            "item": test * len(answers),
            "stored": answers[test].to_numpy().reshape(-1),
        }
    )
    long["trait"] = inv.items.loc[long["item"], "trait"].to_numpy()
    e.equal("c02_n_papi", long["subject"].nunique(), "the shipped PAPI test subjects")
    for name, value in [("alwaysA", 5.0), ("alwaysC", 3.0)]:
        for keying in ("papi", "literal"):
            for variant in ("faithful", "corrected"):
                e.equal(
                    f"c02_{name}_{keying}_{variant}",
                    composite_of(long, inv, keying, variant, predicted=value),
                    f"answering {value:.0f} to the {len(test)} test items of all {len(answers)} PAPI subjects",
                )
    # |3 - v| = |3 - (6 - v)|: always C cannot tell the keyings apart
    e.equal(
        "c02_alwaysC_literal_faithful",
        e["c02_alwaysC_papi_faithful"],
        "always C under papi (the keyings mirror the scale)",
    )


def check_03(e: Expect) -> None:
    from palign_nb.inventories import get_inventory

    inv, keying, n_generate = (
        get_inventory("ipip"),
        e.params.get("keying", "papi"),
        int(e.params["n_generate"]),
    )
    base = e.predictions("no_alignment")
    first = base[base["subject"] == base["subject"].iloc[0]]
    # the chapter rounds its score table to 4 decimals
    e.equal(
        "c03_noalign_composite",
        composite_of(base, inv, keying),
        "the store's no_alignment table",
        tol=1e-4,
    )
    e.equal(
        "c03_noalign_composite_corrected",
        composite_of(base, inv, keying, "corrected"),
        "the store's no_alignment table, missing targets dropped",
        tol=1e-4,
    )
    e.equal(
        "c03_always_c_composite",
        composite_of(base, inv, keying, predicted=3.0),
        "answering C on its rows",
        tol=1e-4,
    )
    e.equal(
        "c03_n_subjects", base["subject"].nunique(), "the store's no_alignment table"
    )
    e.equal(
        "c03_share_top",
        modal_share(first["predicted"]),
        "the most common answer of the stored rows",
    )
    counts = first["predicted"].value_counts().reindex([5, 4, 3, 2, 1], fill_value=0)
    e.equal(
        "c03_top_option",
        OPTIONS[5 - int(counts.idxmax())],
        "the most common answer of the stored rows",
    )
    e.true(
        bool((first["predicted"].to_numpy() == likeliest_value(first)).all()),
        "the stored no_alignment answers are not the likeliest options of their stored probabilities",
    )
    e.equal(
        "c03_prompt_tokens",
        e["c03_prefix_tokens"] + e["c03_suffix_tokens"],
        "prefix + suffix tokens",
    )
    e.equal(
        "c03_speedup",
        e["c03_gen_s_per_item"] / e["c03_fast_s_per_item"],
        "generation s / option-scoring s per item",
    )
    e.equal(
        "c03_gen_min",
        e["c03_gen_s_per_item"] * n_generate / 60,
        f"{n_generate} generated items",
    )
    e.share_of("c03_parse_fail", n_generate, "generated answers")
    parsed = round(n_generate * (1 - e["c03_parse_fail"]))
    if parsed:
        e.share_of("c03_agreement", parsed, "parsed answers")
    e.share_of(
        "c03_precision_agreement",
        int(e["c03_precision_items"]),
        "items scored in both precisions",
    )
    e.equal(
        "c03_precision_composite_difference",
        e["c03_precision_composite_half"] - e["c03_precision_composite_full"],
        "half - full",
    )
    e.true(
        e["c03_precision_mean_abs_dp"] <= e["c03_precision_max_abs_dp"],
        "mean |dp| exceeds max |dp|",
    )


def check_04(e: Expect) -> None:
    probes = e.table("probe_accuracy", "04_head_probing")
    first = probes[probes["subject"] == probes["subject"].iloc[0]]
    e.equal("c04_n_probes", e["c04_n_layers"] * e["c04_n_heads"], "layers x heads")
    e.equal(
        "c04_n_probes",
        len(first),
        "the store's probe_accuracy rows of the first subject",
    )
    e.equal(
        "c04_best_score_first",
        float(first["score"].max()),
        "the first subject's best stored probe score",
    )
    e.equal(
        "c04_best_score_mean",
        float(probes.groupby("subject")["score"].max().mean()),
        "the stored probe scores",
    )
    e.equal("c04_mean_score", float(probes["score"].mean()), "the stored probe scores")
    e.equal(
        "c04_n_subjects",
        probes["subject"].nunique(),
        "the store's probe_accuracy table",
    )


def check_05(e: Expect) -> None:
    from palign_nb import methods
    from palign_nb.inventories import get_inventory

    inv, keying, p = get_inventory("ipip"), e["c05_keying"], e.params
    grid = [
        float(a) for a in p["alphas"]
    ]  # refine_alpha is off in the smoke run: every alpha comes from the grid
    tables = {
        m: e.predictions(m, keying)
        for m in ("pas_icl", "icl_known", "pas_alone", "pas_oracle")
    }
    pas = tables["pas_icl"]
    base = rows_like(e.predictions("no_alignment"), pas)
    for m in tables:
        e.equal(
            f"c05_{m}", composite_of(tables[m], inv, keying), f"the store's {m} table"
        )
    e.equal(
        "c05_no_alignment",
        composite_of(base, inv, keying),
        "the store's no_alignment rows of the PAS items",
    )
    e.equal(
        "c05_always_c",
        composite_of(base, inv, keying, predicted=3.0),
        "answering C on the PAS rows",
    )
    e.equal(
        "c05_pas_vs_prompt",
        e["c05_pas_icl"] - e["c05_icl_known"],
        "pas_icl - icl_known",
    )
    e.equal("c05_n_subjects", pas["subject"].nunique(), "the store's pas_icl table")
    oracle_subjects = tables["pas_oracle"]["subject"].unique()
    e.equal(
        "c05_n_oracle_subjects", len(oracle_subjects), "the store's pas_oracle table"
    )
    e.equal(
        "c05_pas_icl_oracle_subjects",
        composite_of(pas[pas["subject"].isin(oracle_subjects)], inv, keying),
        "the store's pas_icl rows of the oracle's subjects",
    )
    e.equal(
        "c05_n_test_items",
        len(pas) // pas["subject"].nunique(),
        "the store's pas_icl table",
    )
    # the alphas: what pas_alphas records is what each table was scored with, and lies on the grid
    chosen = e.table("pas_alphas", "05_pas")
    e.true(
        set(chosen["alpha"].astype(float)) <= set(grid),
        f"pas_alphas holds alphas off the grid {grid}: {sorted(set(chosen['alpha']))}",
    )
    for m in ("pas_icl", "pas_alone", "pas_oracle"):
        kept = (
            chosen[(chosen["method"] == m) & (chosen["keying"] == keying)]
            .set_index("subject")["alpha"]
            .astype(float)
        )
        used = tables[m].groupby("subject")["alpha"].first().astype(float)
        e.true(
            kept.sort_index().to_dict() == used.sort_index().to_dict(),
            f"{m}: pas_alphas says {kept.to_dict()}, its table was scored with {used.to_dict()}",
        )
    clean = chosen[chosen["method"] != "pas_oracle"]
    fits = clean[~clean["fallback"].astype(bool)]
    e.equal(
        "c05_n_fallback",
        int(clean["fallback"].astype(bool).sum()),
        "the store's pas_alphas",
    )
    e.equal(
        "c05_share_alpha_zero",
        float((fits["alpha"] == 0).mean()) if len(fits) else float("nan"),
        "the store's pas_alphas",
    )
    # 5.3 / 5.4: the first subject's alpha is on the grid, is the one its PAS + prompt table was scored with, and is what
    # the stability section's full validation set picks by the run's criterion
    first = chosen[
        (chosen["method"] == "pas_icl")
        & (chosen["keying"] == keying)
        & (chosen["subject"] == pas["subject"].iloc[0])
    ]
    e.equal(
        "c05_alpha_first",
        float(first["alpha"].iloc[0]),
        "pas_alphas for the first subject's PAS + prompt",
    )
    e.equal(
        "c05_alpha_first",
        e[f"c05_stab_alpha_{e['c05_alpha_criterion']}"],
        "the stability section's full-set choice",
    )
    e.equal("c05_stab_n_alphas", len(grid), "the smoke alpha grid")
    for criterion in ("argmax", "expected", "rps"):
        e.share_of(f"c05_stab_{criterion}", int(e["c05_stab_b"]), "redraws")
        e.true(
            float(e[f"c05_stab_alpha_{criterion}"]) in grid,
            f"c05_stab_alpha_{criterion} is off the grid {grid}",
        )
    # 5.6: with the mass-mean direction (the smoke default) the persona steers along the directions whose letter cosine is measured
    if p.get("direction", "mass_mean") == "mass_mean":
        e.equal(
            "c05_letter_steered_mean",
            e["c05_letter_cos_mean"],
            "the letter cosine of the mass-mean directions",
            tol=1e-6,
        )
    probed = chosen[
        (chosen["method"] == "pas_icl")
        & (chosen["keying"] == keying)
        & ~chosen["fallback"].astype(bool)
    ]
    e.equal(
        "c05_letter_n_subjects",
        len(probed),
        "the PAS + prompt fits with a persona (pas_alphas)",
    )
    e.equal(
        "c05_letter_n_fallback",
        e["c05_n_subjects"] - e["c05_letter_n_subjects"],
        "subjects - those with a persona",
    )
    # 5.7: the data-efficiency curve, from its stored predictions
    eff = e.table(methods.DATA_EFFICIENCY_TABLE, "05_pas")
    eff_keying = str(eff["keying"].iloc[0])
    counts = sorted(int(k) for k in eff["n_known"].unique())
    e.true(
        counts == sorted(int(k) for k in p["efficiency_counts"]),
        f"the stored curve has counts {counts}, the run asked for {p['efficiency_counts']}",
    )
    e.equal("c05_eff_n_counts", len(counts), "the stored curve")
    e.equal("c05_eff_n_min", counts[0], "the stored curve")
    e.equal("c05_eff_n_max", counts[-1], "the stored curve")
    e.equal("c05_eff_n_subjects", eff["subject"].nunique(), "the stored curve")
    e.equal("c05_eff_n_available", e["c05_n_known"], "the known items of section 5.5")
    for m, name in [("pas_icl", "pas"), ("icl", "icl")]:
        at = {
            k: composite_of(
                eff[(eff["method"] == m) & (eff["n_known"] == k)], inv, eff_keying
            )
            for k in (counts[0], counts[-1])
        }
        e.equal(
            f"c05_eff_{name}_min",
            at[counts[0]],
            f"the stored {m} rows with {counts[0]} known answers",
        )
        e.equal(
            f"c05_eff_{name}_max",
            at[counts[-1]],
            f"the stored {m} rows with {counts[-1]} known answers",
        )
        e.equal(f"c05_eff_{name}_change", at[counts[-1]] - at[counts[0]], "max - min")
        e.true(
            e[f"c05_eff_{name}_change_lo"] <= e[f"c05_eff_{name}_change_hi"],
            f"c05_eff_{name}'s interval is reversed",
        )
        e.equal(
            f"c05_eff_top_share_{name}",
            modal_share(eff.loc[eff["method"] == m, "predicted"]),
            f"the stored {m} rows",
        )
    fits = eff[eff["method"] == "pas_icl"].drop_duplicates(["subject", "n_known"])
    fell = fits["fallback"].astype(bool)
    e.equal("c05_eff_n_fits", len(fits), "the stored curve's PAS fits")
    e.equal("c05_eff_n_fallback", int(fell.sum()), "the stored curve's PAS fits")
    e.equal(
        "c05_eff_n_alpha_zero",
        int(((fits["alpha"] == 0) & ~fell).sum()),
        "the stored curve's PAS fits",
    )
    icl_low = eff[(eff["method"] == "icl") & (eff["n_known"] == counts[0])]
    e.equal(
        "c05_eff_always_a",
        composite_of(icl_low, inv, eff_keying, predicted=5.0),
        "answering A on the curve's rows",
    )
    e.equal(
        "c05_eff_always_e",
        composite_of(icl_low, inv, eff_keying, predicted=1.0),
        "answering E on the curve's rows",
    )
    spent = e.table(methods.DATA_EFFICIENCY_TIMINGS, "05_pas")
    measured = float(spent.loc[~spent["reused"].astype(bool), "seconds"].sum())
    e.true(
        measured <= e["c05_eff_seconds"] + 1e-6 <= 60 * e["c05_runtime_min"] + 1e-6,
        f"section 5.7 took {e['c05_eff_seconds']} s by its clock, its stages {measured} s, the chapter {60 * e['c05_runtime_min']} s",
    )


def check_06(e: Expect) -> None:

    from palign_nb.data import load_answers
    from palign_nb.inventories import get_inventory

    inv, keying = get_inventory("ipip"), e["c06_keying"]
    icl = {k: e.predictions("icl", k) for k in ("papi", "literal")}
    p2 = e.predictions("p2")
    base = rows_like(e.predictions("no_alignment"), icl["papi"])
    for name, table in [
        ("icl_papi", icl["papi"]),
        ("icl_literal", icl["literal"]),
        ("p2", p2),
    ]:
        e.equal(
            f"c06_{name}_composite",
            composite_of(table, inv, keying),
            f"the store's {name} table",
        )
    for shown in ("papi", "literal"):
        for graded in ("papi", "literal"):
            e.equal(
                f"c06_icl_{shown}_on_{graded}",
                composite_of(icl[shown], inv, graded),
                f"the store's icl_{shown} graded {graded}",
            )
    if "c06_p2_generated_composite" in e.glued:
        e.equal(
            "c06_p2_generated_composite",
            composite_of(e.predictions("p2_generated"), inv, keying),
            "the store's p2_generated table",
        )
    e.equal(
        "c06_noalign_composite",
        composite_of(base, inv, keying),
        "the store's no_alignment rows of the same items",
    )
    e.equal(
        "c06_always_C_composite",
        composite_of(base, inv, keying, predicted=3.0),
        "answering C on the same rows",
    )
    e.equal(
        "c06_icl_changed",
        float(
            (icl["papi"]["predicted"].to_numpy() != base["predicted"].to_numpy()).mean()
        ),
        "the stored few-shot answers against the unaligned ones",
    )
    e.equal(
        "c06_icl_rows_changed",
        float(
            (
                icl["papi"]["predicted"].to_numpy()
                != icl["literal"]["predicted"].to_numpy()
            ).mean()
        ),
        "the stored papi against the literal few-shot answers",
    )
    e.equal("c06_n_subjects", icl["papi"]["subject"].nunique(), "the store's icl table")
    e.equal(
        "c06_n_items",
        len(icl["papi"]) // icl["papi"]["subject"].nunique(),
        "the store's icl table",
    )
    for name, table in [
        ("noalign", base),
        ("icl", icl["papi"]),
        ("p2", p2),
    ]:  # the probability on the subject's own option
        target = target_of(table, inv, keying).astype(int)
        answered = target > 0
        own = table[PROBS].to_numpy(dtype=float)[
            np.flatnonzero(answered), 5 - target[answered]
        ]
        e.equal(
            f"c06_p_answer_{name}",
            float(own.mean()),
            f"the stored {name} probabilities (shown to 4 decimals)",
            tol=5.1e-5,
        )
    # from the shipped answers: papi and literal labels differ exactly on the minus-keyed known items answered 1, 2, 4 or 5
    known = e.json("splits", "02_dataset_splits")["paper_known"]
    stored = (
        load_answers("ipip").loc[int(icl["papi"]["subject"].iloc[0]), known].to_numpy()
    )
    minus = inv.items.loc[known, "sign"].to_numpy() < 0
    e.equal("c06_n_known", len(known), "the splits' known items")
    e.equal(
        "c06_n_flipped",
        int((minus & np.isin(stored, [1, 2, 4, 5])).sum()),
        "the first subject's minus-keyed known answers",
    )
    e.equal(
        "c06_minus_shown_accurate",
        int((minus & (stored >= 4)).sum()),
        "the first subject's minus-keyed known answers",
    )
    score = e.timings("06_prompting_baselines")
    e.equal(
        "c06_icl_score_s",
        float(
            score.loc[
                (score["method"] == "icl_papi") & (score["stage"] == "score"), "seconds"
            ].mean()
        ),
        "the store's timings (shown to 2 decimals)",
        tol=0.0051,
    )


def check_07(e: Expect) -> None:

    from palign_nb.data import load_answers
    from palign_nb.inventories import get_inventory

    inv, keying, p = get_inventory("ipip"), e["c07_keying"], e.params
    tables = {m: e.predictions(m, keying) for m in ("dpo", "grpo")}
    base = rows_like(e.predictions("no_alignment"), tables["dpo"])
    for m, table in tables.items():
        e.equal(
            f"c07_{m}_composite",
            composite_of(table, inv, keying),
            f"the store's {m} table",
        )
        e.equal(
            f"c07_{m}_changed",
            float(
                (table["predicted"].to_numpy() != base["predicted"].to_numpy()).mean()
            ),
            f"the stored {m} answers against the unaligned ones",
        )
        e.equal(
            f"c07_{m}_share_c",
            float((table["predicted"] == 3).mean()),
            f"the stored {m} answers",
        )
        e.equal(
            f"c07_{m}_top_share",
            modal_share(table["predicted"]),
            f"the stored {m} answers",
        )
    e.equal(
        "c07_noalign_composite",
        composite_of(base, inv, keying),
        "the store's no_alignment rows of the same items",
    )
    e.equal(
        "c07_always_C_composite",
        composite_of(base, inv, keying, predicted=3.0),
        "answering C on the same rows",
    )
    # the DPO pairs, from the shipped answers: one per answered known item, a second for each middle answer (both far ends)
    known = e.json("splits", "02_dataset_splits")["paper_known"]
    answers = load_answers("ipip")
    first = answers.loc[
        int(tables["dpo"]["subject"].iloc[0]), known
    ].to_numpy()  # 0 and 3 read the same under both keyings
    e.equal("c07_n_known", len(known), "the splits' known items")
    e.equal(
        "c07_n_missing", int((first == 0).sum()), "the first subject's known answers"
    )
    e.equal(
        "c07_n_middle", int((first == 3).sum()), "the first subject's known answers"
    )
    e.equal(
        "c07_n_pairs",
        len(known) - e["c07_n_missing"] + e["c07_n_middle"],
        "answered known items + middle answers",
    )
    e.equal("c07_paper_epochs", 250 * 16 / e["c07_n_pairs"], "250 steps of 16 pairs")
    e.equal(
        "c07_our_epochs",
        int(p["dpo_steps"]) * int(p["dpo_batch_size"]) / e["c07_n_pairs"],
        "the smoke DPO steps",
    )
    everyone = (
        answers.loc[sorted(tables["dpo"]["subject"].unique()), known].to_numpy().ravel()
    )
    e.equal(
        "c07_share_middle_known",
        float((everyone[everyone > 0] == 3).mean()),
        "the subjects' answered known items",
    )
    # the LoRA adapter: a share of the whole model; LoRA's default targets in every layer (q_proj, v_proj), r x (in + out) each
    e.equal(
        "c07_lora_share",
        e["c07_lora_params"] / e["c07_model_params"],
        "lora_params / model_params",
    )
    if e.earlier("c03_n_params") is not None:
        e.equal(
            "c07_model_params",
            e.earlier("c03_n_params"),
            "chapter 03's parameter count of the same model",
        )
        per_layer = e["c07_lora_params"] / (e["c07_lora_r"] * e.earlier("c03_n_layers"))
        hidden = e.earlier("c03_hidden")
        e.true(
            per_layer == int(per_layer) and 2 * hidden < per_layer <= 4 * hidden,
            f"c07_lora_params = {e['c07_lora_params']} is not r x layers x (q_proj + v_proj widths) for hidden size {hidden}",
        )
    e.share_of(
        "c07_sample_named",
        3 * int(p["grpo_generations"]),
        "sampled answers (3 prompts)",
    )
    spent = e.timings("07_preference_baselines")
    for m, steps in [("dpo", p["dpo_steps"]), ("grpo", p["grpo_steps"])]:
        train = float(
            spent.loc[
                (spent["method"] == m) & (spent["stage"] == "train"), "seconds"
            ].mean()
        )
        e.equal(f"c07_{m}_train_s", train, "the store's timings")
        e.equal(f"c07_{m}_step_s", train / int(steps), "train s / steps")


def check_08(e: Expect) -> None:

    from palign_nb.inventories import get_inventory

    inv, keying = get_inventory("sd3"), e.params.get("keying", "papi")
    models = ("no_alignment", "icl", "p2", "pas_icl", "pas_alone", "dpo", "grpo")
    tables = {m: e.predictions(m, keying, "sd3") for m in models}
    base = tables["no_alignment"]
    for m in models:
        e.equal(
            f"c08_{m}",
            composite_of(tables[m], inv, keying),
            f"the sd3 store's {m} table",
        )
    e.equal(
        "c08_always_c",
        composite_of(base, inv, keying, predicted=3.0),
        "answering C on the sd3 rows",
    )
    scores = {m: e[f"c08_{m}"] for m in models}
    e.equal("c08_n_methods", len(models), "the model-based methods chapter 08 runs")
    e.equal("c08_best_method_score", min(scores.values()), "the lowest glued composite")
    e.equal(
        "c08_n_beat_always_c",
        sum(v < e["c08_always_c"] for v in scores.values()),
        "the glued composites",
    )
    e.equal("c08_pas_vs_icl", e["c08_pas_icl"] - e["c08_icl"], "pas_icl - icl")
    e.equal("c08_n_subjects", base["subject"].nunique(), "the sd3 store's tables")
    e.equal(
        "c08_n_test", len(base) // base["subject"].nunique(), "the sd3 store's tables"
    )
    e.equal(
        "c08_test_per_trait",
        e["c08_n_test"] // len(inv.trait_order),
        "test items / traits",
    )
    e.equal("c08_one_answer", 1 / e["c08_test_per_trait"], "1 / test items per trait")
    chosen = pd.concat(
        [
            tables[m].groupby("subject")[["alpha", "fallback"]].first()
            for m in ("pas_icl", "pas_alone")
        ]
    )
    fits = chosen[~chosen["fallback"].astype(bool)]
    e.equal(
        "c08_n_fallback",
        int(chosen["fallback"].astype(bool).sum()),
        "the sd3 PAS tables",
    )
    e.equal(
        "c08_share_alpha_zero",
        float((fits["alpha"] == 0).mean()) if len(fits) else float("nan"),
        "the sd3 PAS tables",
    )
    e.true(
        set(chosen["alpha"].astype(float)) <= {float(a) for a in e.params["alphas"]},
        "an sd3 alpha is off the grid",
    )
    letters = pd.Series([OPTIONS[5 - v] for v in likeliest_value(base)])
    e.equal(
        "c08_no_alignment_top_share",
        modal_share(letters),
        "the stored unaligned probabilities",
    )


def check_09(e: Expect) -> None:
    from palign_nb import methods
    from palign_nb.inventories import get_inventory

    inv, keying = get_inventory("ipip"), e.params.get("keying", "papi")
    tables = {}
    for m in methods.methods_for("ipip"):
        tables[m.label] = e.predictions(m.key, keying)
    common = None
    for table in tables.values():
        pairs = list(zip(table["subject"], table["item"]))
        common = (
            pairs if common is None else [pair for pair in common if pair in set(pairs)]
        )
    n_subjects = len({s for s, _ in common})
    e.equal(
        "c09_n_subjects",
        n_subjects,
        "the (subject, item) pairs every stored table holds",
    )
    e.equal(
        "c09_n_items",
        len(common) // n_subjects,
        "the (subject, item) pairs every stored table holds",
    )
    e.equal("c09_n_methods", len(tables), "the stored tables of the compared methods")
    e.equal(
        "c09_table_sizes",
        {label: [t["subject"].nunique(), len(t)] for label, t in tables.items()},
        "the stored tables",
    )
    cut = {
        label: table.set_index(["subject", "item"]).loc[common].reset_index()
        for label, table in tables.items()
    }
    composites = e["c09_composites"]
    for label, table in cut.items():
        e.true(
            _close(composites.get(label), composite_of(table, inv, keying), 1e-9),
            f"c09_composites[{label!r}] = {composites.get(label)!r}, the store's table on the common rows gives "
            f"{composite_of(table, inv, keying)!r}",
        )
    for key, m in [
        ("pas", "pas_icl"),
        ("icl", "icl"),
        ("dpo", "dpo"),
        ("grpo", "grpo"),
        ("no_alignment", "no_alignment"),
    ]:
        e.equal(
            f"c09_{key}",
            composite_of(cut[methods.method(m).label], inv, keying),
            f"the store's {m} table on the common rows",
        )
    e.equal(
        "c09_always_c",
        composite_of(
            cut[methods.method("no_alignment").label], inv, keying, predicted=3.0
        ),
        "answering C on the common rows",
    )
    e.equal(
        "c09_frac_dpo",
        e["c09_pas_align_s"] / e["c09_dpo_train_s"],
        "PAS's alignment s / DPO's",
    )
    e.equal(
        "c09_frac_grpo",
        e["c09_pas_align_s"] / e["c09_grpo_train_s"],
        "PAS's alignment s / RL's",
    )
    for key, earlier in [
        ("c09_dpo_train_s", "c07_dpo_train_s"),
        ("c09_grpo_train_s", "c07_grpo_train_s"),
        ("c09_paper_always_c", "c02_alwaysC_papi_faithful"),
        ("c09_paper_pas", "c02_paper_pas8b"),
        ("c09_sd3_n_subjects", "c08_n_subjects"),
        ("c09_sd3_pas", "c08_pas_icl"),
        ("c09_sd3_icl", "c08_icl"),
        ("c09_sd3_always_c", "c08_always_c"),
        ("c09_eff_min_known", "c05_eff_n_min"),
        ("c09_eff_max_known", "c05_eff_n_max"),
        ("c09_eff_subjects", "c05_eff_n_subjects"),
        ("c09_eff_pas_first", "c05_eff_pas_min"),
        ("c09_eff_pas_last", "c05_eff_pas_max"),
        ("c09_eff_icl_first", "c05_eff_icl_min"),
        ("c09_eff_icl_last", "c05_eff_icl_max"),
    ]:
        if e.earlier(earlier) is not None:
            e.equal(key, e.earlier(earlier), f"chapter {earlier[1:3]}'s {earlier}")


def check_10(e: Expect) -> None:

    answers = e.table("generations_10", "10_open_ended")
    for method, rows in answers.groupby(
        "method"
    ):  # the stance towards the subject's side: + when it agrees with their answer
        e.equal(
            f"c10_sides_{method.lower()}",
            float((rows["stance"] * np.sign(rows["target"] - 3)).mean()),
            f"the stored stances of {method}'s answers",
        )
    e.equal(
        "c10_share_affirming",
        float((answers["stance"] > 0).mean()),
        "the stored stances",
    )
    statements = answers.drop_duplicates("item")
    e.equal("c10_n_statements", len(statements), "the stored answers")
    e.equal("c10_n_affirm", int((statements["target"] > 3).sum()), "the stored targets")
    e.equal(
        "c10_share_target_affirm",
        e["c10_n_affirm"] / e["c10_n_statements"],
        "n_affirm / n_statements",
    )
    by_method = answers.set_index(["method", "item"])["response"]
    e.equal(
        "c10_pas_same_as_icl",
        float(
            (
                by_method["PAS"] == by_method["ICL"].reindex(by_method["PAS"].index)
            ).mean()
        ),
        "the stored PAS and ICL answers",
    )
    if e["c10_judge_ran"]:
        e.equal("c10_judge_n", len(answers), "the stored answers (every one judged)")
        e.equal(
            "c10_judge_parse_fail",
            float(answers["judge_choice"].isna().mean()),
            "the stored verdicts",
        )
    e.equal("c10_judge_n", 3 * e["c10_n_statements"], "three methods x statements")
    if (
        float(e.params.get("pas_alpha", -1.0)) < 0
    ):  # the alpha chapter 05 chose for this subject's PAS + prompt
        chosen = e.table("pas_alphas", "05_pas")
        keying = e.params.get("keying", "papi")
        pick = chosen[
            (chosen["subject"] == int(answers["subject"].iloc[0]))
            & (chosen["method"] == "pas_icl")
            & (chosen["keying"] == keying)
        ]
        e.equal("c10_alpha", float(pick["alpha"].iloc[0]), "chapter 05's pas_alphas")
        e.equal(
            "c10_alpha",
            float(answers.loc[answers["method"] == "PAS", "alpha"].iloc[0]),
            "the stored PAS answers",
        )
    e.equal(
        "c10_check_n",
        4 * e["c10_n_check_items"],
        "two affirming and two denying answers per check statement",
    )
    e.share_of("c10_check_accuracy", int(e["c10_check_n"]), "check answers")
    e.share_of(
        "c10_check_acc_affirm", int(e["c10_check_n"]) // 2, "affirming check answers"
    )
    e.share_of(
        "c10_check_pairwise",
        4 * int(e["c10_n_check_items"]),
        "(affirming, denying) pairs",
    )


#: The cross-checks of each chapter (chapter 01 has CHECKS alone: facts of the shipped data).
CROSS_CHECKS = {
    "02_dataset_splits": check_02,
    "03_asking_the_model": check_03,
    "04_head_probing": check_04,
    "05_pas": check_05,
    "06_prompting_baselines": check_06,
    "07_preference_baselines": check_07,
    "08_dark_triad": check_08,
    "09_results": check_09,
    "10_open_ended": check_10,
}


def cross_check(chapter: str, glued: dict, params: dict) -> list[str]:
    """The cross-checks of ``chapter`` that fail on its glued values, the smoke store and the earlier chapters' values."""
    expect = Expect(chapter, glued, params)
    if chapter in CROSS_CHECKS:
        CROSS_CHECKS[chapter](expect)
    return expect.problems


# --- chapter 09's outcome sentences, on the smoke run and on opposite outcomes (issue 15) -------------

VERDICTS = ("c09_verdict_icl", "c09_verdict_dpo", "c09_verdict_grpo")


def _executed_09() -> Path:
    if "09_results" not in EXECUTED:
        pytest.skip(
            "chapter 09 did not run in this session: run the chapter smoke tests (all of them, in order) first"
        )
    return EXECUTED["09_results"]


def test_chapter_09_sentences_agree_with_the_smoke_numbers():
    """Every sentence chapter 09 glued as an outcome of the smoke run agrees with the numbers it judges."""
    problems = contradictions(read_scraps(_executed_09()))
    assert not problems, "chapter 09 says what its numbers do not:\n  " + "\n  ".join(
        problems
    )


@pytest.mark.parametrize("pas_best", [True, False], ids=["pas-best", "pas-worst"])
def test_chapter_09_sentences_follow_opposite_outcomes(
    pas_best: bool, store: Path, smoke_params: dict, tmp_path: Path
):
    """Chapter 09 on a copy of the smoke store rewritten so that PAS is best (or worst) on six subjects.

    Its sentences must agree with its numbers and flip with the outcome: the best method, the three
    "PAS beats ..." verdicts, how many methods beat always C, the data-efficiency curves, and whether a
    difference can be significant (six subjects: yes).
    """
    import papermill as pm

    _executed_09()
    synthetic = synthetic_store(store, tmp_path / "results", pas_best=pas_best)
    nb, out = ROOT / "notebooks" / "09_results.ipynb", tmp_path / "09_results.ipynb"
    pm.execute_notebook(
        str(nb),
        str(out),
        parameters=smoke_params | {"results_dir": str(synthetic)},
        kernel_name="python3",
        cwd=str(nb.parent),
        execution_timeout=600,
        progress_bar=False,
    )
    glued = read_scraps(out)
    problems = contradictions(glued)
    assert not problems, "chapter 09 says what its numbers do not:\n  " + "\n  ".join(
        problems
    )

    named, _ = best_named(glued["c09_best_finding"])
    k, n = parse_count(glued["c09_beat_c_finding"])
    assert glued["c09_n_subjects"] == 6 and glued[
        "c09_significance_finding"
    ].startswith("a difference can reach")
    if pas_best:
        assert named == ["PAS + prompt"]
        assert all(glued[key] == "reproduces" for key in VERDICTS), {
            key: glued[key] for key in VERDICTS
        }
        assert k == 1, glued["c09_beat_c_finding"]
        assert (
            "PAS with the prompt improves" in glued["c09_eff_finding"]
            and "few-shot worsens" in glued["c09_eff_finding"]
        )
    else:
        assert "PAS + prompt" not in named and len(named) == n - 1
        assert all(glued[key] == "does not reproduce" for key in VERDICTS), {
            key: glued[key] for key in VERDICTS
        }
        assert k == n - 1, glued["c09_beat_c_finding"]
        assert (
            "PAS with the prompt worsens" in glued["c09_eff_finding"]
            and "few-shot improves" in glued["c09_eff_finding"]
        )


def _smoke_done(chapters: list[str]) -> None:
    missing = [c for c in chapters if c not in EXECUTED]
    if missing:
        pytest.skip(
            f"chapters {missing} did not run in this session (run the whole file)"
        )


def test_every_registered_method_was_written_by_its_chapter(
    store: Path, smoke_params: dict
):
    """The smoke store's manifest holds every registered predictions table, written by its registered chapter."""
    from palign_nb import methods
    from palign_nb.config import RunConfig

    _smoke_done([nb.stem for nb in CHAPTERS])
    for inventory in ("ipip", "sd3"):
        cfg = RunConfig(
            model_id=smoke_params.get("model_id", "smollm2-135m-instruct"),
            inventory=inventory,
            results_dir=str(store),
        )
        written = read_manifest_names(cfg)
        for m in methods.methods_for(inventory, compared=False):
            if m.key == "p2_generated":  # for the Big Five's first subject only
                continue
            name = m.table("papi")
            assert name in written, (
                f"{name} ({inventory}) is registered but no chapter wrote it"
            )
            assert written[name] == m.writer(inventory), (
                f"{name} was written by {written[name]}, registered to {m.writer(inventory)}"
            )
        predictions = {n for n in written if n.startswith("predictions_")}
        registered = {
            m.table(k) for m in methods.METHODS for k in ("papi", "literal")
        } | {methods.DATA_EFFICIENCY_TABLE}
        assert predictions <= registered, (
            f"unregistered predictions tables in the {inventory} store: {predictions - registered}"
        )


def read_manifest_names(cfg) -> dict[str, str]:
    """Table name -> the chapter that last wrote it, from a store's manifest."""
    from palign_nb import store as results_store

    manifest = results_store.read_manifest(cfg)
    return dict(zip(manifest["name"], manifest["chapter"]))


#: How far the stored option probabilities may lie from a forward pass of the same prompts in the same precision done
#: in another order (one prompt at a time, not the package's shared prefix, batches and padding): (largest, mean)
#: absolute difference. float32: chapter 03's tolerance. bfloat16 keeps 8 bits of mantissa: on the smoke subject's
#: few-shot rows the right prompts gave (0.037, 0.006), the same rows shifted by one item (0.065, 0.016), the other
#: keying's prompt (0.023, 0.008), the default system prompt (0.126, 0.029): in bfloat16 the tiny model's answers cannot
#: tell a wrong label list apart, but rows of the wrong items or a prompt without the list show.
REFERENCE_TOLERANCE = {
    "float32": (1e-3, 1e-4),
    "bfloat16": (0.1, 0.012),
    "float16": (0.1, 0.012),
}


def test_the_few_shot_rows_are_the_models_answers_recomputed_here(
    store: Path, smoke_params: dict
):
    """Chapter 06's stored few-shot rows against computations written out here, not the package's scoring loop:

    - the rows are the chapter's items (the first n_items // 5 test items of each trait) for the run's subjects, each
      holding its subject's shipped answer and its item's trait;
    - each row's ``predicted`` is the value of its likeliest stored option (A = 5 ... E = 1), and the composite error
      of the stored answers, written out here, is the one the chapter glued and the one palign_nb.metrics gives;
    - for the first subject, a forward pass per item in the chapter's precision (the paper's few-shot prompt built here
      from the shipped answers; the model's own chat template and key-value cache, not the package's shared prefix,
      batching or padding; the softmax over the five option tokens at the last position) gives the stored option
      probabilities within that precision's tolerance (REFERENCE_TOLERANCE); where that pass prefers one option by
      more than twice the tolerance, the stored answer is that option.

    So a chapter that scores other items or another subject's rows, mixes up the rows of its items, maps the letters to
    the wrong values, glues another table's composite, drops the few-shot list or reads the logits at the wrong
    position fails.
    """
    import copy

    import torch

    from palign_nb import metrics, prompts, store as results_store
    from palign_nb.config import RunConfig
    from palign_nb.data import load_answers
    from palign_nb.inventories import get_inventory
    from palign_nb.models import load_model

    _smoke_done(["06_prompting_baselines"])
    cfg = RunConfig(results_dir=str(store))
    inv, answers = get_inventory("ipip"), load_answers("ipip")
    splits = results_store.require_json(cfg, "splits", produced_by="02_dataset_splits")
    stored = results_store.load_predictions(cfg, "icl", "papi")

    per_trait = int(smoke_params["n_items"]) // len(inv.trait_order)
    items = [
        c
        for t in inv.trait_order
        for c in [i for i in splits["test"] if inv.items.loc[i, "trait"] == t][
            :per_trait
        ]
    ]
    subjects = list(dict.fromkeys(stored["subject"]))
    assert sorted(zip(stored["subject"], stored["item"])) == sorted(
        (s, c) for s in subjects for c in items
    ), "the few-shot rows are not the chapter's test items for each of its subjects"
    shipped = [answers.loc[s, c] for s, c in zip(stored["subject"], stored["item"])]
    assert stored["stored"].tolist() == shipped, (
        "a row does not hold its subject's shipped answer to its item"
    )
    assert (
        stored["trait"].tolist() == inv.items.loc[stored["item"], "trait"].tolist()
    ), "a row holds another item's trait"

    probs = stored[PROBS].to_numpy(dtype=float)
    assert abs(probs.sum(axis=1) - 1).max() < 1e-6, (
        "the stored option probabilities do not sum to 1"
    )
    assert (stored["predicted"].to_numpy() == likeliest_value(stored)).all(), (
        "a stored answer is not the likeliest option of its stored probabilities"
    )
    glued = read_scraps(EXECUTED["06_prompting_baselines"])
    keying = glued["c06_keying"]
    by_hand = composite_of(stored, inv, keying)
    by_package = float(
        metrics.alignment_score(metrics.add_targets(stored, inv, keying), "faithful")[
            "composite"
        ]
    )
    assert math.isclose(glued["c06_icl_papi_composite"], by_hand, abs_tol=1e-9), (
        glued["c06_icl_papi_composite"],
        by_hand,
    )
    assert math.isclose(by_package, by_hand, abs_tol=1e-9), (by_package, by_hand)

    subject = subjects[0]
    rows = stored[stored["subject"] == subject]
    # the paper's few-shot prompt: "text:label" of each known item, the label of the stored answer (the papi keying)
    system = (
        "Here are some of your behaviors and your level of recognition towards them;"
        + ";".join(
            f"{inv.items.loc[c, 'text']}:{inv.labels[int(answers.loc[subject, c])]}"
            for c in splits["paper_known"]
        )
    )
    manifest = results_store.read_manifest(cfg)
    precision = str(
        manifest[manifest["name"] == "predictions_icl_papi"]["precision"].iloc[-1]
    ).split()[0]
    tolerance, mean_tolerance = REFERENCE_TOLERANCE[precision]
    lm = load_model(cfg.model_id, dtype=precision)
    tok = lm.tokenizer
    prefill = tok("Option", add_special_tokens=False)["input_ids"]
    option_ids = []
    for letter in OPTIONS:
        ids = tok(f"Option {letter}", add_special_tokens=False)["input_ids"]
        assert ids[:-1] == prefill, (
            f"'Option {letter}' does not end in one token of its own"
        )
        option_ids.append(ids[-1])
    full = []  # each item's whole prompt, tokenised as one text
    for item in rows["item"]:
        messages = [
            {"role": "system", "content": system},
            {
                "role": "user",
                "content": prompts.question(inv.items.loc[item, "text"], inv),
            },
        ]
        text = (
            tok.apply_chat_template(
                messages, tokenize=False, add_generation_prompt=True
            )
            + "Option"
        )
        full.append(tok(text, add_special_tokens=False)["input_ids"])
    shared = 0  # how many tokens every prompt starts with (the system turn), each keeping at least one of its own
    while (
        all(len(f) > shared + 1 for f in full) and len({f[shared] for f in full}) == 1
    ):
        shared += 1
    plain = []
    # the shared tokens once, through the model's own key-value cache (a whole pass per item is slow on a CPU), then
    # each item's remaining tokens on a copy of it: the same causal attention as one pass over the whole prompt
    with torch.inference_mode():
        prefix = lm.model(
            input_ids=torch.tensor([full[0][:shared]], device=lm.device),
            use_cache=True,
            logits_to_keep=1,
        ).cache
        for ids in full:
            rest = torch.tensor([ids[shared:]], device=lm.device)
            logits = (
                lm.model(
                    input_ids=rest,
                    cache=copy.deepcopy(prefix),
                    use_cache=True,
                    logits_to_keep=1,
                )
                .logits[0, -1]
                .float()
            )
            plain.append(torch.softmax(logits[option_ids], dim=-1).cpu().numpy())
    plain = np.array(plain)
    diff = np.abs(plain - rows[PROBS].to_numpy(dtype=float))
    worst = rows["item"].iloc[int(diff.max(axis=1).argmax())]
    assert diff.max() <= tolerance and diff.mean() <= mean_tolerance, (
        f"subject {subject}: the stored probabilities differ from a forward pass done here by up to {diff.max():.4f} "
        f"(item {worst}), {diff.mean():.4f} on average; the tolerance in {precision} is {tolerance}, {mean_tolerance} on average"
    )
    ranked = np.sort(plain, axis=1)
    clear = ranked[:, -1] - ranked[:, -2] > 2 * tolerance
    expected = 5 - plain.argmax(axis=1)
    assert (rows["predicted"].to_numpy()[clear] == expected[clear]).all(), (
        rows.loc[clear, ["item", "predicted"]].to_dict("records"),
        expected[clear].tolist(),
    )


# --- a chapter killed mid-run resumes where it stopped (issue 22) -------------------------------------------


def test_a_killed_chapter_resumes_without_recomputing_and_gives_the_same_tables(
    store: Path, smoke_params: dict, tmp_path: Path
):
    """Chapter 06 for 3 subjects on copies of the smoke store: once uninterrupted, once SIGKILLed (papermill and its
    kernel) right after the first few-shot subject's checkpoint and then rerun. The rerun skips what was finished
    (its checkpoint file untouched) and writes predictions tables identical, byte for byte, to the uninterrupted run's."""
    import json
    import os
    import shutil
    import signal
    import subprocess
    import sys
    import time

    import psutil

    _smoke_done(["06_prompting_baselines"])
    nb = ROOT / "notebooks" / "06_prompting_baselines.ipynb"

    def copy(name: str) -> Path:
        results = tmp_path / name / "results"
        shutil.copytree(
            store,
            results,
            ignore=shutil.ignore_patterns("checkpoints", "adapters", "personas"),
        )
        return results

    splits = json.loads(next(store.glob("*/ipip/splits.json")).read_text())
    three = [
        int(s) for s in splits["test_subjects"][:3]
    ]  # the smoke run chose one subject: name three

    def papermill(results: Path, out: Path) -> subprocess.Popen:
        params = smoke_params | {
            "results_dir": str(results),
            "n_subjects": 3,
            "subjects": three,
        }
        (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
        return subprocess.Popen(
            [
                sys.executable,
                "-m",
                "papermill",
                str(nb),
                str(out),
                "-f",
                str(tmp_path / "params.yaml"),
                "--cwd",
                str(nb.parent),
                "--no-progress-bar",
            ],
            start_new_session=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=os.environ | {"TQDM_DISABLE": "1"},
        )

    whole, killed = copy("whole"), copy("killed")
    start = time.perf_counter()
    assert papermill(whole, tmp_path / "whole.ipynb").wait(timeout=900) == 0
    seconds = {"uninterrupted": time.perf_counter() - start}

    start = time.perf_counter()
    run = papermill(killed, tmp_path / "killed.ipynb")
    chapter_points = (
        next(killed.glob("*/ipip")) / "checkpoints" / "06_prompting_baselines"
    )
    deadline = time.monotonic() + 900
    while not list(chapter_points.glob("icl_papi/*.pkl")):
        assert run.poll() is None and time.monotonic() < deadline, (
            "chapter 06 ended before its first checkpoint"
        )
        time.sleep(0.1)
    for process in [
        *psutil.Process(run.pid).children(recursive=True),
        psutil.Process(run.pid),
    ]:
        process.send_signal(signal.SIGKILL)
    run.wait(timeout=60)
    seconds["until_killed"] = time.perf_counter() - start
    first = sorted(chapter_points.glob("icl_papi/*.pkl"))[0]
    stamp = first.stat().st_mtime_ns
    done_before = {
        p.relative_to(chapter_points) for p in chapter_points.glob("*/*.pkl")
    }
    assert len(list(chapter_points.glob("*/*.pkl"))) < 10, (
        "the kill came after the chapter's last subject"
    )

    start = time.perf_counter()
    assert papermill(killed, tmp_path / "resumed.ipynb").wait(timeout=900) == 0
    seconds["resumed"] = time.perf_counter() - start
    ARTIFACTS.mkdir(
        exist_ok=True
    )  # the times, for the record (not asserted: a shared machine's speed drifts)
    (ARTIFACTS / "resume_seconds.json").write_text(
        json.dumps(seconds | {"skipped": len(done_before)}, indent=1)
    )
    printed = "".join(
        o.get("text", "")
        for c in nbformat.read(tmp_path / "resumed.ipynb", as_version=4).cells
        if c.cell_type == "code"
        for o in c.get("outputs", [])
    )
    skipped = {
        line.split(" subject ")[0]
        + "/"
        + line.split(" subject ")[1].split(":")[0]
        + ".pkl"
        for line in printed.splitlines()
        if line.endswith(": done, skipped")
    }
    assert {str(p) for p in done_before} <= skipped, (done_before, printed)
    assert first.stat().st_mtime_ns == stamp, "a finished subject was computed again"
    tables = sorted(
        p.name
        for p in next(whole.glob("*/ipip")).glob("predictions_*.csv")
        if "06_prompting_baselines" in read_manifest_names(_cfg(whole)).get(p.stem, "")
    )
    assert tables, "chapter 06 wrote no predictions table"
    for name in tables:
        a, b = (next(r.glob("*/ipip")) / name for r in (whole, killed))
        assert a.read_bytes() == b.read_bytes(), (
            f"{name} differs between the uninterrupted and the resumed run"
        )


def _cfg(results: Path):
    from palign_nb.config import RunConfig

    return RunConfig(results_dir=str(results))

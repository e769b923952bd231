"""Smoke run of every chapter: papermill with params/smoke.yaml, in _toc order, sharing one results store.

Each chapter is one test id (`test_chapter[01_inventories]`, ...). They run in _toc order and write to
ONE temporary results directory, so a later chapter reads what an earlier one stored, exactly as in
the book. After each run, the scalars the chapter glued (`myst_nb.glue`) are read back from the
executed notebook and checked: there is at least one, every numeric one is finite, and every one
listed in CHECKS lies in its range. Executed copies are kept in test-artifacts/ for inspection.

After the chapters, chapter 09's outcome sentences are checked against the numbers they judge, on the
smoke run and on two copies of its store rewritten to opposite outcomes (tests/test_outcome_sentences.py).
"""

from __future__ import annotations

import ast
import math
import re
from pathlib import Path

import nbformat
import pytest
import yaml

from test_hygiene import ROOT, toc_notebooks
from test_outcome_sentences import best_named, contradictions, glued_bundles, parse_count, read_scraps, synthetic_store

SMOKE = ROOT / "params" / "smoke.yaml"
ARTIFACTS = ROOT / "test-artifacts"
CHAPTERS = [nb for nb in toc_notebooks() if nb.exists()]
#: The chapters this session ran without failing, by stem: their executed copies (read by the tests after the run).
EXECUTED: dict[str, Path] = {}

# Chapter-specific checks on glued scalars, for notebook authors to extend:
#   "NN_chapter": {"glue_key": (low, high), ...}   bounds inclusive, for the SMOKE parameters.
# A key listed here must be glued by that chapter. Chapters not listed get the generic checks only.
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
        "c03_max_abs_diff": (0.0, 0.05),  # the chapter itself asserts its precision's tolerance (1e-3 in float32)
        # float32 against bfloat16 on the same items: different (> 0: the other copy really is in the other
        # precision) but close (a few hundredths), and most answers agree
        "c03_precision_max_abs_dp": (1e-6, 0.1),
        "c03_precision_agreement": (0.5, 1.0),
        "c03_precision_items": (10, 10),
        "c03_prefix_tokens": (1000, 2000),  # the 120-answer system prompt
        "c03_agreement": (0.0, 1.0),
        "c03_parse_fail": (0.0, 1.0),
        "c03_speedup": (1.5, 1e4),  # option scoring must beat generation even on 12 items
        "c03_share_top": (0.2, 1.0),
        "c03_n_subjects": (1, 1),
        "c03_item_rho_items": (10, 10),  # n_items 12 = 2 per trait: every one has answers from the other subjects
    },
    "04_head_probing": {
        "c04_n_layers": (30, 30),  # the embedded model: 30 layers x 9 query heads
        "c04_n_heads": (9, 9),
        "c04_n_act_items": (30, 30),
        "c04_best_score_first": (0.5, 1.0),  # the best of 270 probes beats chance
        "c04_n_subjects": (1, 1),
    },
    "05_pas": {
        "c05_cosine": (-1.0, 1.0),
        "c05_top_k": (24, 24),
        "c05_persona_numbers": (24 * 65 + 1, 24 * 65 + 1),
        "c05_pas_icl": (0.0, 20.0),
        "c05_pas_oracle": (0.0, 20.0),
        "c05_always_c": (0.0, 20.0),
        "c05_share_alpha_zero": (0.0, 1.0),
        "c05_n_subjects": (1, 1),
        # 5.4 how stable the choice of alpha is under resampled validation items; 5.5 the letter cosine
        "c05_stab_argmax": (0.0, 1.0),
        "c05_stab_expected": (0.0, 1.0),
        "c05_stab_rps": (0.0, 1.0),
        "c05_letter_cos_mean": (0.0, 1.0),
        "c05_letter_n_subjects": (1, 1),
        # 5.7 data efficiency: smoke counts [5, 10], one subject, every composite a real error
        "c05_eff_n_min": (5, 5),
        "c05_eff_n_max": (10, 10),
        "c05_eff_n_counts": (2, 2),
        "c05_eff_n_subjects": (1, 1),
        "c05_eff_n_fits": (2, 2),
        "c05_eff_n_fallback": (0, 2),
        "c05_eff_pas_min": (0.0, 20.0),
        "c05_eff_pas_max": (0.0, 20.0),
        "c05_eff_icl_min": (0.0, 20.0),
        "c05_eff_icl_max": (0.0, 20.0),
        "c05_eff_seconds": (0.0, 600.0),
    },
    "06_prompting_baselines": {
        "c06_n_subjects": (1, 1),
        "c06_n_known": (120, 120),  # ICL and P2 read the paper's 120 known answers
        "c06_icl_tokens": (1000, 2000),  # the 120-answer system prompt
        "c06_n_flipped": (1, 120),  # papi and literal labels differ on some minus-keyed items
        "c06_icl_papi_composite": (0.0, 20.0),
        "c06_icl_literal_composite": (0.0, 20.0),
        "c06_p2_composite": (0.0, 20.0),
        "c06_p2_generated_composite": (0.0, 20.0),
        "c06_icl_score_s": (0.0, 600.0),
    },
    "07_preference_baselines": {
        "c07_n_subjects": (1, 1),
        "c07_n_pairs": (120, 240),  # one pair per answered known item, two for a middle answer
        "c07_lora_params": (1, 10_000_000),
        "c07_lora_share": (0.0, 0.05),  # the adapter is a small fraction of the model
        "c07_dpo_composite": (0.0, 20.0),
        "c07_grpo_composite": (0.0, 20.0),
        "c07_sample_named": (0.0, 1.0),
        "c07_grpo_reward_last": (-6.0, 0.0),  # the paper's reward range
        "c07_dpo_train_s": (0.0, 600.0),
        "c07_grpo_train_s": (0.0, 600.0),
        "c07_roundtrip_diff": (0.0, 1e-4),  # a reloaded adapter answers like the trained one
    },
    "08_dark_triad": {
        "c08_n_items": (27, 27),  # the SD3: 27 statements, 5 reversed, 18,192 respondents
        "c08_n_reversed": (5, 5),
        "c08_n_respondents": (18192, 18192),
        "c08_keying_cells_differ": (0, 0),  # SD3 stores literal answers: the keyings agree
        # the paper's setting (the default): its 300 released subjects, items 1-6 of each trait known,
        # 7-9 tested; 1 validation item per trait carved from the known ones to choose alpha
        "c08_n_test_subjects": (300, 300),
        "c08_n_known": (18, 18),
        "c08_n_test": (9, 9),
        "c08_n_val": (3, 3),
        "c08_n_probe": (15, 15),
        "c08_n_subjects": (1, 1),
        "c08_always_c": (0.0, 12.0),  # composite of 3 traits, each in [0, 4]
        "c08_pas_icl": (0.0, 12.0),
        "c08_dpo": (0.0, 12.0),
        "c08_grpo": (0.0, 12.0),
        "c08_p2": (0.0, 12.0),
        "c08_share_alpha_zero": (0.0, 1.0),
    },
    "09_results": {
        "c09_n_subjects": (1, 1),  # the smoke runs' one subject, on the items every method answered
        "c09_n_items": (1, 12),
        "c09_paper_pas": (4.41, 4.41),  # the paper's Table 1, Llama-3-8B-Instruct
        "c09_paper_always_c": (3.79, 3.81),  # always C on all 300 PAPI test subjects (chapter 02)
        "c09_pas": (0.0, 20.0),
        "c09_always_c": (0.0, 20.0),
        "c09_min_p_subjects": (1.0, 1.0),  # one subject: no paired test can reject anything
        "c09_n_sig_subjects": (0, 0),
        "c09_frac_dpo": (0.0, 1e3),
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
        "c10_sides_base": (-1.0, 1.0),
        "c10_sides_icl": (-1.0, 1.0),
        "c10_sides_pas": (-1.0, 1.0),
        "c10_pas_same_as_icl": (0.0, 1.0),
        "c10_alpha": (0.0, 10.0),
        "c10_judge_ran": (1, 1),  # smoke: the paper's judge prompt goes to the embedded model
        "c10_judge_n": (6, 6),
        "c10_judge_parse_fail": (0.0, 1.0),
    },
}

# Composites that must lie on the grid their item counts allow (smoke: 2 test items per Big Five trait, so
# every trait error is a multiple of 1/2; 3 per Dark Triad trait, multiples of 1/3): a composite off the grid
# was computed from something other than whole-letter answers on those items.
ON_GRID: dict[str, dict[str, float]] = {
    "03_asking_the_model": {"c03_noalign_composite": 1 / 2, "c03_always_c_composite": 1 / 2},
    "05_pas": {k: 1 / 2 for k in ("c05_pas_icl", "c05_pas_oracle", "c05_always_c", "c05_eff_pas_min",
                                  "c05_eff_pas_max", "c05_eff_icl_min", "c05_eff_icl_max")},
    "06_prompting_baselines": {k: 1 / 2 for k in ("c06_icl_papi_composite", "c06_icl_literal_composite",
                                                  "c06_p2_composite", "c06_p2_generated_composite")},
    "07_preference_baselines": {"c07_dpo_composite": 1 / 2, "c07_grpo_composite": 1 / 2},
    "08_dark_triad": {k: 1 / 3 for k in ("c08_always_c", "c08_pas_icl", "c08_dpo", "c08_grpo", "c08_p2")},
    "09_results": {"c09_pas": 1 / 2, "c09_always_c": 1 / 2},
}

# Glued text that must read exactly so (its text/plain repr), for the SMOKE parameters.
TEXT_CHECKS: dict[str, dict[str, str]] = {
    "08_dark_triad": {"c08_setting": "paper"},  # the faithful Dark Triad setting is the default
    "09_results": {"c09_sd3_setting": "paper"},  # read back from chapter 08's store
}

# What IPython shows for a NumPy scalar (numpy >= 2). {glue:text}`key:.2f` cannot format it:
# glue float(x) / int(x) instead.
NUMPY_REPR = re.compile(r"^np\.\w+\(.*\)$", re.S)
# A glue key quoted in markdown: {glue:text}`key:.2f`, {glue:}`key`, {glue:figure} key, ...
GLUE_REF = re.compile(r"\{glue(?::\w+)?\}(?:`|\s+)([A-Za-z0-9_]+)")


def read_glued(path: Path) -> dict[str, str]:
    """{name: text/plain} of every glued output (:func:`test_outcome_sentences.glued_bundles`)."""
    return {name: data.get("text/plain", "") for name, data in glued_bundles(path).items()}


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
    pm.execute_notebook(str(nb), str(out), parameters=smoke_params, kernel_name="python3",
                        cwd=str(nb.parent), execution_timeout=900, progress_bar=False)

    scraps = read_glued(out)
    assert scraps, f"{nb.stem} glued nothing: record the numbers its prose quotes with glue(...)"
    number = nb.stem[:2]
    for name, text in scraps.items():
        assert name.startswith(f"c{number}_"), f"glue key {name!r}: prefix it with 'c{number}_' (style guide)"
        assert not NUMPY_REPR.match(text.strip()), f"glue key {name!r} holds {text!r}: glue float(x) or int(x)"
        value = as_number(text)
        if value is not None:
            assert math.isfinite(value), f"glue key {name!r} is not finite: {text!r}"

    quoted = set(GLUE_REF.findall("\n".join(c.source for c in nbformat.read(nb, as_version=4).cells if c.cell_type == "markdown")))
    unglued = sorted(quoted - set(scraps))
    assert not unglued, f"{nb.stem}'s prose quotes glue keys the run did not glue: {unglued}"

    for name, (low, high) in CHECKS.get(nb.stem, {}).items():
        assert name in scraps, f"{nb.stem} did not glue {name!r} (listed in CHECKS)"
        value = as_number(scraps[name])
        assert value is not None and low <= value <= high, f"{name} = {scraps[name]!r}, expected in [{low}, {high}]"

    # the longest cell the chapter timed lies between 0 and the whole chapter (papermill's own cell durations)
    durations = [c.metadata.get("papermill", {}).get("duration") or 0.0
                 for c in nbformat.read(out, as_version=4).cells if c.cell_type == "code"]
    longest = as_number(scraps[f"c{number}_longest_cell_s"])
    assert 0 < longest <= 60 * as_number(scraps[f"c{number}_runtime_min"]) + 1e-6
    assert longest <= max(durations) + 1.0, f"longest cell {longest:.1f} s, papermill's longest {max(durations):.1f} s"

    for name, step in ON_GRID.get(nb.stem, {}).items():
        value = as_number(scraps[name])
        assert abs(value / step - round(value / step)) < 1e-6, f"{name} = {value!r} is not a multiple of {step:.4g}"

    for name, expected in TEXT_CHECKS.get(nb.stem, {}).items():
        assert name in scraps, f"{nb.stem} did not glue {name!r} (listed in TEXT_CHECKS)"
        assert ast.literal_eval(scraps[name]) == expected, f"{name} = {scraps[name]!r}, expected {expected!r}"
    EXECUTED[nb.stem] = out


# --- chapter 09's outcome sentences, on the smoke run and on opposite outcomes (issue 15) -------------

VERDICTS = ("c09_verdict_icl", "c09_verdict_dpo", "c09_verdict_grpo")


def _executed_09() -> Path:
    if "09_results" not in EXECUTED:
        pytest.skip("chapter 09 did not run in this session: run the chapter smoke tests (all of them, in order) first")
    return EXECUTED["09_results"]


def test_chapter_09_sentences_agree_with_the_smoke_numbers():
    """Every sentence chapter 09 glued as an outcome of the smoke run agrees with the numbers it judges."""
    problems = contradictions(read_scraps(_executed_09()))
    assert not problems, "chapter 09 says what its numbers do not:\n  " + "\n  ".join(problems)


@pytest.mark.parametrize("pas_best", [True, False], ids=["pas-best", "pas-worst"])
def test_chapter_09_sentences_follow_opposite_outcomes(pas_best: bool, store: Path, smoke_params: dict, tmp_path: Path):
    """Chapter 09 on a copy of the smoke store rewritten so that PAS is best (or worst) on six subjects.

    Its sentences must agree with its numbers and flip with the outcome: the best method, the three
    "PAS beats ..." verdicts, how many methods beat always C, the data-efficiency curves, and whether a
    difference can be significant (six subjects: yes).
    """
    import papermill as pm

    _executed_09()
    synthetic = synthetic_store(store, tmp_path / "results", pas_best=pas_best)
    nb, out = ROOT / "notebooks" / "09_results.ipynb", tmp_path / "09_results.ipynb"
    pm.execute_notebook(str(nb), str(out), parameters=smoke_params | {"results_dir": str(synthetic)},
                        kernel_name="python3", cwd=str(nb.parent), execution_timeout=600, progress_bar=False)
    glued = read_scraps(out)
    problems = contradictions(glued)
    assert not problems, "chapter 09 says what its numbers do not:\n  " + "\n  ".join(problems)

    named, _ = best_named(glued["c09_best_finding"])
    k, n = parse_count(glued["c09_beat_c_finding"])
    assert glued["c09_n_subjects"] == 6 and glued["c09_significance_finding"].startswith("a difference can reach")
    if pas_best:
        assert named == ["PAS + prompt"]
        assert all(glued[key] == "reproduces" for key in VERDICTS), {key: glued[key] for key in VERDICTS}
        assert k == 1, glued["c09_beat_c_finding"]
        assert "PAS with the prompt improves" in glued["c09_eff_finding"] and "few-shot worsens" in glued["c09_eff_finding"]
    else:
        assert "PAS + prompt" not in named and len(named) == n - 1
        assert all(glued[key] == "does not reproduce" for key in VERDICTS), {key: glued[key] for key in VERDICTS}
        assert k == n - 1, glued["c09_beat_c_finding"]
        assert "PAS with the prompt worsens" in glued["c09_eff_finding"] and "few-shot improves" in glued["c09_eff_finding"]


def _smoke_done(chapters: list[str]) -> None:
    missing = [c for c in chapters if c not in EXECUTED]
    if missing:
        pytest.skip(f"chapters {missing} did not run in this session (run the whole file)")


def test_every_registered_method_was_written_by_its_chapter(store: Path, smoke_params: dict):
    """The smoke store's manifest holds every registered predictions table, written by its registered chapter."""
    from palign_nb import methods
    from palign_nb.config import RunConfig

    _smoke_done([nb.stem for nb in CHAPTERS])
    for inventory in ("ipip", "sd3"):
        cfg = RunConfig(model_id=smoke_params.get("model_id", "smollm2-135m-instruct"), inventory=inventory,
                        results_dir=str(store))
        written = read_manifest_names(cfg)
        for m in methods.methods_for(inventory, compared=False):
            if m.optional or (m.key == "p2_generated"):  # written only when asked / for the Big Five's first subject
                continue
            name = m.table("papi")
            assert name in written, f"{name} ({inventory}) is registered but no chapter wrote it"
            assert written[name] == m.writer(inventory), f"{name} was written by {written[name]}, registered to {m.writer(inventory)}"
        predictions = {n for n in written if n.startswith("predictions_")}
        registered = {m.table(k) for m in methods.METHODS for k in ("papi", "literal")} | {methods.DATA_EFFICIENCY_TABLE}
        assert predictions <= registered, f"unregistered predictions tables in the {inventory} store: {predictions - registered}"


def read_manifest_names(cfg) -> dict[str, str]:
    """Table name -> the chapter that last wrote it, from a store's manifest."""
    from palign_nb import store as results_store

    manifest = results_store.read_manifest(cfg)
    return dict(zip(manifest["name"], manifest["chapter"]))


def test_the_chapters_predictions_are_the_package_loops_rows(store: Path, smoke_params: dict):
    """Chapter 06's few-shot rows are what palign_nb.all_subjects.run_prompted gives for the same subjects and items:
    the chapter runs every subject through the package's loop, not a copy of it."""
    from palign_nb import all_subjects, prompt_baselines, store as results_store
    from palign_nb.config import RunConfig
    from palign_nb.data import load_answers
    from palign_nb.inventories import get_inventory
    from palign_nb.models import load_model

    _smoke_done(["06_prompting_baselines"])
    cfg = RunConfig(results_dir=str(store))
    stored = results_store.load_predictions(cfg, "icl", "papi")
    splits = results_store.require_json(cfg, "splits", produced_by="02_dataset_splits")
    inv, answers = get_inventory("ipip"), load_answers("ipip")
    subjects, items = list(dict.fromkeys(stored["subject"])), list(dict.fromkeys(stored["item"]))
    lm = load_model(cfg.model_id)
    rows, _ = all_subjects.run_prompted(
        lm, answers, subjects, "icl", lambda s: prompt_baselines.icl_system(answers, s, splits["paper_known"], inv, "papi"),
        items, inv, batch_size=int(smoke_params.get("batch_size", 16)))
    probs = [f"p_{x}" for x in "ABCDE"]
    assert rows[["subject", "item", "predicted"]].astype(str).equals(stored[["subject", "item", "predicted"]].astype(str))
    assert abs(rows[probs].to_numpy() - stored[probs].to_numpy()).max() < 1e-5


# --- a chapter killed mid-run resumes where it stopped (issue 22) -------------------------------------------


def test_a_killed_chapter_resumes_without_recomputing_and_gives_the_same_tables(store: Path, smoke_params: dict,
                                                                                 tmp_path: Path):
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
        shutil.copytree(store, results, ignore=shutil.ignore_patterns("checkpoints", "adapters", "personas"))
        return results

    splits = json.loads(next(store.glob("*/ipip/splits.json")).read_text())
    three = [int(s) for s in splits["test_subjects"][:3]]  # the smoke run chose one subject: name three

    def papermill(results: Path, out: Path) -> subprocess.Popen:
        params = smoke_params | {"results_dir": str(results), "n_subjects": 3, "subjects": three}
        (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
        return subprocess.Popen([sys.executable, "-m", "papermill", str(nb), str(out), "-f", str(tmp_path / "params.yaml"),
                                 "--cwd", str(nb.parent), "--no-progress-bar"], start_new_session=True,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=os.environ | {"TQDM_DISABLE": "1"})

    whole, killed = copy("whole"), copy("killed")
    start = time.perf_counter()
    assert papermill(whole, tmp_path / "whole.ipynb").wait(timeout=900) == 0
    seconds = {"uninterrupted": time.perf_counter() - start}

    start = time.perf_counter()
    run = papermill(killed, tmp_path / "killed.ipynb")
    chapter_points = next(killed.glob("*/ipip")) / "checkpoints" / "06_prompting_baselines"
    deadline = time.monotonic() + 900
    while not list(chapter_points.glob("icl_papi/*.pkl")):
        assert run.poll() is None and time.monotonic() < deadline, "chapter 06 ended before its first checkpoint"
        time.sleep(0.1)
    for process in [*psutil.Process(run.pid).children(recursive=True), psutil.Process(run.pid)]:
        process.send_signal(signal.SIGKILL)
    run.wait(timeout=60)
    seconds["until_killed"] = time.perf_counter() - start
    first = sorted(chapter_points.glob("icl_papi/*.pkl"))[0]
    stamp = first.stat().st_mtime_ns
    done_before = {p.relative_to(chapter_points) for p in chapter_points.glob("*/*.pkl")}
    assert len(list(chapter_points.glob("*/*.pkl"))) < 10, "the kill came after the chapter's last subject"

    start = time.perf_counter()
    assert papermill(killed, tmp_path / "resumed.ipynb").wait(timeout=900) == 0
    seconds["resumed"] = time.perf_counter() - start
    ARTIFACTS.mkdir(exist_ok=True)  # the times, for the record (not asserted: a shared machine's speed drifts)
    (ARTIFACTS / "resume_seconds.json").write_text(json.dumps(seconds | {"skipped": len(done_before)}, indent=1))
    printed = "".join(o.get("text", "") for c in nbformat.read(tmp_path / "resumed.ipynb", as_version=4).cells
                      if c.cell_type == "code" for o in c.get("outputs", []))
    skipped = {line.split(" subject ")[0] + "/" + line.split(" subject ")[1].split(":")[0] + ".pkl"
               for line in printed.splitlines() if line.endswith(": done, skipped")}
    assert {str(p) for p in done_before} <= skipped, (done_before, printed)
    assert first.stat().st_mtime_ns == stamp, "a finished subject was computed again"
    tables = sorted(p.name for p in next(whole.glob("*/ipip")).glob("predictions_*.csv")
                    if "06_prompting_baselines" in read_manifest_names(_cfg(whole)).get(p.stem, ""))
    assert tables, "chapter 06 wrote no predictions table"
    for name in tables:
        a, b = (next(r.glob("*/ipip")) / name for r in (whole, killed))
        assert a.read_bytes() == b.read_bytes(), f"{name} differs between the uninterrupted and the resumed run"


def _cfg(results: Path):
    from palign_nb.config import RunConfig

    return RunConfig(results_dir=str(results))

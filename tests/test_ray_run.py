"""palign-run on a local Ray cluster of 2 CPU workers: sharded == serial, resume, failures, bad input.

The real chapters 01-03 run with the smoke parameters (fewer items) for 4 subjects in 2 shards,
and the merged store is compared with a serial papermill run of the same chapters. Failure
handling runs on three tiny stand-in chapters, so that it costs seconds.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pandas as pd
import pytest
import yaml

from palign_nb import parameters_cell, run_plan

ROOT = Path(__file__).resolve().parent.parent
ENV = os.environ | {
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "TQDM_DISABLE": "1",
    "HF_HUB_DISABLE_PROGRESS_BARS": "1",
    "RAY_AUTH_MODE": "disabled",
}
SUBJECTS = 4


def palign_run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "palign_nb.ray_run", *args, "--num-cpus", "2"],
        capture_output=True,
        text=True,
        env=ENV,
        timeout=900,
    )


@pytest.fixture(scope="module")
def params_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("params") / "smoke-small.yaml"
    params = yaml.safe_load((ROOT / "params" / "smoke.yaml").read_text()) | {
        "n_items": 6,
        "n_generate": 2,
    }
    path.write_text(yaml.safe_dump(params))
    return path


@pytest.fixture(scope="module")
def sharded(tmp_path_factory, params_file) -> tuple[Path, str]:
    out = tmp_path_factory.mktemp("scale") / "run"
    done = palign_run(
        "-f",
        str(params_file),
        "--subjects",
        str(SUBJECTS),
        "--shards",
        "2",
        "--chapters",
        "01,02,03",
        "--out",
        str(out),
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return out, done.stdout


def test_sharded_run_matches_the_serial_run(
    sharded, params_file, tmp_path, monkeypatch
):
    import papermill as pm

    out, printed = sharded
    assert (
        "03 shard 0 done" in printed
        and "03 shard 1 done" in printed
        and "merged the shard stores" in printed
    )
    params = yaml.safe_load(params_file.read_text())
    serial = tmp_path / "serial"
    chapters = run_plan.chapter_notebooks(ROOT / "notebooks")
    for number in ("01", "02", "03"):
        declared = parameters_cell.declared_parameters(chapters[number])
        given = {
            k: v
            for k, v in (
                params | {"results_dir": str(serial), "n_subjects": SUBJECTS}
            ).items()
            if k in declared
        }
        for name in (
            "OMP_NUM_THREADS",
            "MKL_NUM_THREADS",
        ):  # the kernels' threads, as in palign-run's tasks
            monkeypatch.setenv(name, ENV[name])
        pm.execute_notebook(
            str(chapters[number]),
            str(tmp_path / chapters[number].name),
            parameters=given,
            kernel_name="python3",
            cwd=str(chapters[number].parent),
            progress_bar=False,
        )
    name = "predictions_no_alignment.csv"
    merged = pd.read_csv(run_plan.store_path(params, out / "results" / "merged") / name)
    alone = pd.read_csv(run_plan.store_path(params, serial) / name)
    key = ["subject", "item"]
    assert merged["subject"].nunique() == SUBJECTS
    pd.testing.assert_frame_equal(
        merged.sort_values(key).reset_index(drop=True),
        alone.sort_values(key).reset_index(drop=True),
    )
    book = sorted(p.name for p in (out / "book").glob("*.ipynb"))
    assert book == [chapters[n].name for n in ("01", "02", "03")]


def test_a_rerun_recomputes_only_the_deleted_shard(sharded, params_file):
    out, _ = sharded
    kept = out / "runs" / "shard-0" / "03_asking_the_model.ipynb"
    before = kept.stat().st_mtime_ns
    for run in (out / "runs" / "shard-1").glob("*.ipynb"):
        run.unlink()
    again = palign_run(
        "-f",
        str(params_file),
        "--subjects",
        str(SUBJECTS),
        "--shards",
        "2",
        "--chapters",
        "01,02,03",
        "--out",
        str(out),
    )
    assert again.returncode == 0, again.stdout + again.stderr
    assert (
        "03 shard 0: already done" in again.stdout
        and "01 (once): already done" in again.stdout
    )
    assert "03 shard 1 done in" in again.stdout
    assert kept.stat().st_mtime_ns == before


def stand_in(path: Path, body: str) -> None:
    """A tiny chapter: the usual parameters cell, then ``body``."""
    params = (
        'model_id: str = "smollm2-135m-instruct"\nresults_dir: str = "results"\nn_subjects: int = 4\n'
        "subjects: list | None = None\n"
    )
    cell = nbformat.v4.new_code_cell(params)
    cell.metadata["tags"] = ["parameters"]
    setup = (
        "import json\nfrom palign_nb.config import RunConfig\n"
        "store = RunConfig(model_id=model_id, inventory='ipip', results_dir=results_dir).results_path\n"
        "store.mkdir(parents=True, exist_ok=True)\n"
    )
    nb = nbformat.v4.new_notebook(cells=[cell, nbformat.v4.new_code_cell(setup + body)])
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nbformat.write(nb, path)


def test_a_failing_subject_is_retried_alone_named_and_the_other_shard_finishes(
    tmp_path,
):
    """Shard 1 holds subjects 13 and 14; 14 always fails. The retry skips 13 (checkpointed when it finished), tries 14
    again, and the report names subject 14 and its loop; shard 0 finishes."""
    chapters = tmp_path / "notebooks"
    chapters.mkdir()
    stand_in(chapters / "01_first.ipynb", "print('inventories')")
    stand_in(
        chapters / "02_splits.ipynb",
        "(store / 'splits.json').write_text(json.dumps({'subjects': [11, 12, 13, 14]}))",
    )
    loop = (
        "from palign_nb.checkpoints import Checkpoints\n"
        "def score(s):\n"
        "    with open(store / 'computed.txt', 'a') as f:\n"
        "        f.write(f'{s}\\n')\n"
        "    if s == 14:\n"
        "        raise ValueError('no answers for subject 14')\n"
        "    return s\n"
        "done = Checkpoints(store / 'checkpoints' / '03_scores' / 'scores', 'scores').each(subjects, score)\n"
        "(store / 'scores.csv').write_text('subject\\n' + '\\n'.join(map(str, done)))"
    )
    stand_in(chapters / "03_scores.ipynb", loop)
    params = tmp_path / "p.yaml"
    params.write_text("n_subjects: 4\n")
    out = tmp_path / "run"
    done = palign_run(
        "-f",
        str(params),
        "--shards",
        "2",
        "--retries",
        "1",
        "--out",
        str(out),
        "--notebooks",
        str(chapters),
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert "03 shard 0 done" in done.stdout
    assert (
        "03 shard 1 FAILED" in done.stdout
        and "no answers for subject 14" in done.stdout
    )
    assert (
        "(at subject 14 of loop scores)" in done.stdout
        and "failed for good" in done.stdout
    )
    shard0, shard1 = (
        run_plan.store_path({}, out / "results" / f"shard-{k}") for k in (0, 1)
    )
    assert (shard0 / "scores.csv").read_text() == "subject\n11\n12"
    assert (shard1 / "computed.txt").read_text().split() == [
        "13",
        "14",
        "14",
    ]  # the retry did not redo subject 13


def test_bad_input_is_refused_before_any_work(tmp_path, params_file):
    wrong = tmp_path / "wrong.yaml"
    wrong.write_text("n_subjects: 2\nalpahs: [0, 1]\n")
    done = palign_run("-f", str(wrong), "--out", str(tmp_path / "a"))
    assert (
        done.returncode == 2
        and "alpahs" in done.stderr
        and not (tmp_path / "a").exists()
    )
    done = palign_run(
        "-f",
        str(params_file),
        "--gpus-per-task",
        "1",
        "--chapters",
        "01",
        "--out",
        str(tmp_path / "b"),
    )
    assert done.returncode == 2 and "0 GPU" in done.stderr
    other = tmp_path / "c" / "results" / "base" / "some-other-model"
    other.mkdir(parents=True)
    done = palign_run(
        "-f", str(params_file), "--chapters", "01", "--out", str(tmp_path / "c")
    )
    assert done.returncode == 2 and "another model" in done.stderr


def test_shards_and_per_run_counts():
    assert run_plan.shard_subjects(list(range(7)), 3) == [[0, 1, 2], [3, 4], [5, 6]]
    with pytest.raises(Exception, match="between 1 and"):
        run_plan.shard_subjects([1, 2], 3)
    shards = run_plan.shard_subjects(list(range(8)), 4)
    # efficiency_subjects counts subjects of the run: 3 of 8 -> the first two shards hold them
    assert [
        c["efficiency_subjects"]
        for c in run_plan.shard_counts({"efficiency_subjects": 3}, shards, 8)
    ] == [2, 1, 1, 1]
    assert [
        c["efficiency_subjects"]
        for c in run_plan.shard_counts({"efficiency_subjects": 300}, shards, 8)
    ] == [2, 2, 2, 2]
    # variant_subjects likewise; None (every subject) is left to each shard
    counts = run_plan.shard_counts({"variant_subjects": 2}, shards, 8)
    assert [c["variant_subjects"] for c in counts] == [2, 1, 1, 1]
    assert run_plan.shard_counts({"variant_subjects": None}, shards, 8) == [{}] * 4


def test_the_stage_table_places_every_chapter_and_the_planner_follows_it(tmp_path):
    """Every chapter of the book has a stage; a chapter without one is refused by name; the shared folder of a
    stage is computed by shard 0 and copied by the others (and only that stage waits for shard 0)."""
    from palign_nb.paths import repo_root

    chapters = run_plan.chapter_notebooks(repo_root() / "notebooks")
    assert set(chapters) == set(run_plan.STAGES)
    stray = tmp_path / "nb"
    stray.mkdir()
    (stray / "11_extra.ipynb").write_text("{}")
    with pytest.raises(Exception, match="11_extra.ipynb: no place in the run"):
        run_plan.chapter_notebooks(stray)
    declared = {
        n: {"results_dir": "", "n_subjects": 1, "subjects": None} for n in chapters
    }
    tasks = run_plan.plan({}, declared, chapters, tmp_path, [1, 2, 3], 3)
    waits = {t.label: t.after for t in tasks if t.shard == 2}
    assert waits["04 shard 2"] == ["03 shard 2", "04 shard 0"] and waits[
        "05 shard 2"
    ] == ["04 shard 2"]
    copies = [t.copies for t in tasks if t.label == "04 shard 1"][0]
    assert [
        (a.name, a.parent.parent.parent.name, b.parent.parent.parent.name)
        for a, b in copies
    ] == [("activations", "shard-0", "shard-1")]

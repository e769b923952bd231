"""palign_nb.merging.merge_stores and tools/merge_stores.py: merging the stores of a run split by subjects."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from palign_nb import activations, merging, store
from palign_nb.config import RunConfig
from palign_nb.errors import PalignError

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tools"))
import merge_stores as cli  # noqa: E402

SPLITS = {
    "inventory": "ipip",
    "subjects": [11, 22, 33, 44],
    "test_subjects": [11, 22, 33, 44, 55],
    "known": ["i1", "i2"],
    "validation": ["i3"],
    "test": ["i4", "i5"],
    "seed": 0,
}
TRIVIAL = pd.DataFrame(
    {"predictor": ["always_A", "always_C"], "trait": ["A", "A"], "score": [1.25, 0.75]}
)
ACTS = np.arange(2 * 2 * 3 * 4 * 5, dtype=np.float32).reshape(2, 2, 3, 4, 5)


def predictions(subjects: list[int], shift: float = 0.0) -> pd.DataFrame:
    rows = [
        {
            "subject": s,
            "item": i,
            "p_A": 0.1 + shift + 0.01 * k,
            "predicted": 3,
            "trait": "A",
            "stored": 4,
        }
        for s in subjects
        for k, i in enumerate(["i4", "i5"])
    ]
    return pd.DataFrame(rows)


def make_part(
    root: Path,
    subjects: list[int],
    model_id: str = "smollm2-135m-instruct",
    top_k: int = 24,
    device: str = "cuda:0",
    speed: float | None = 0.5,
    shift: float = 0.0,
) -> RunConfig:
    """One part of a split run, written through the store as the chapters write it."""
    base = dict(
        model_id=model_id, device=device, subjects=subjects, results_dir=str(root)
    )
    ch02 = RunConfig(**base, extra={"kmeans_k": 300, "n_validation_per_trait": 4})
    store.save_json(ch02, "splits", SPLITS, chapter="02_dataset_splits", wall_s=1.0)
    store.save_table(ch02, "trivial_scores", TRIVIAL, chapter="02_dataset_splits")
    ch04 = RunConfig(**base, extra={"top_k": top_k, "n_act_items": 2, "batch_size": 16})
    activations.save_activations(
        ch04.results_path / "activations" / "contrast-k.npz", ACTS, ["i1", "i2"], "k"
    )
    store.save_json(
        ch04,
        "activations_index",
        {
            "path": "activations/contrast-k.npz",
            "key": "k",
            "items": ["i1", "i2"],
            "capture_s": speed,
        },
        chapter="04_head_probing",
    )
    ch05 = RunConfig(
        **base,
        extra={
            "top_k": top_k,
            "alphas": [0.0, 4.0],
            "batch_size": 8 if device == "cuda:1" else 16,
        },
    )
    store.save_table(
        ch05,
        "predictions_pas_icl_papi",
        predictions(subjects, shift),
        chapter="05_pas",
        extra={"model_revision": "rev1"},
    )
    store.save_table(
        ch05,
        "pas_alphas",
        pd.DataFrame({"subject": subjects, "method": "pas_icl", "alpha": 4.0}),
        chapter="05_pas",
    )
    for s in subjects:
        (ch05.results_path / "personas").mkdir(exist_ok=True)
        (ch05.results_path / "personas" / f"pas_icl_papi_{s}.json").write_text(
            json.dumps({"subject": s, "top_k": top_k})
        )
    ch03 = RunConfig(**base, extra={"n_items": 2})
    store.save_json(
        ch03,
        "scoring_speed",
        {"option_s_per_item": speed},
        chapter="03_asking_the_model",
    )
    ch07 = RunConfig(**base, extra={"dpo_steps": 250})
    store.save_json(
        ch07,
        "adapters_dpo",
        {
            "settings": {"steps": 250},
            "paths": {str(s): f"adapters/dpo/{s}" for s in subjects},
        },
        chapter="07_preference_baselines",
    )
    return ch02


def test_merge_two_parts(tmp_path):
    a, b = (
        make_part(tmp_path / "gpu0", [11, 22]),
        make_part(tmp_path / "gpu1", [33, 44], device="cuda:1", speed=0.7),
    )
    target = tmp_path / "all" / a.model_slug / a.inventory
    report = merging.merge_stores([a.results_path, b.results_path], target)
    merged = RunConfig(results_dir=str(tmp_path / "all"))
    preds = store.require_table(merged, "predictions_pas_icl_papi", "05_pas")
    expected = pd.concat(
        [predictions([11, 22]), predictions([33, 44])], ignore_index=True
    )
    pd.testing.assert_frame_equal(preds, expected)
    assert report.subjects == {"predictions_pas_icl_papi": 4, "pas_alphas": 4}
    pd.testing.assert_frame_equal(
        store.require_table(merged, "trivial_scores", "02_dataset_splits"), TRIVIAL
    )
    assert store.require_json(merged, "splits", "02_dataset_splits")["subjects"] == [
        11,
        22,
        33,
        44,
    ]
    assert store.require_json(merged, "adapters_dpo", "07")["paths"] == {
        str(s): f"adapters/dpo/{s}" for s in [11, 22, 33, 44]
    }
    assert (
        store.require_json(merged, "activations_index", "04")["capture_s"] == 0.5
    )  # the first part's wall time
    assert store.require_json(merged, "scoring_speed", "03") == {
        "option_s_per_item": 0.5
    }
    assert sorted(p.name for p in (target / "personas").iterdir()) == [
        f"pas_icl_papi_{s}.json" for s in [11, 22, 33, 44]
    ]
    acts, items = activations.load_activations(
        target / "activations" / "contrast-k.npz", "k"
    )
    assert np.array_equal(acts, ACTS) and items == ["i1", "i2"]
    assert any("scoring_speed" in n for n in report.notes)


def test_wall_times_keep_the_first_measured(tmp_path):
    a, b = (
        make_part(tmp_path / "gpu0", [11, 22], speed=None),
        make_part(tmp_path / "gpu1", [33, 44], speed=0.7),
    )
    merging.merge_stores(
        [a.results_path, b.results_path], tmp_path / "m"
    )  # gpu0 loaded the cache: no capture time
    assert (
        json.loads((tmp_path / "m" / "activations_index.json").read_text())["capture_s"]
        == 0.7
    )


def test_manifest_records_where_each_line_came_from(tmp_path):
    a, b = (
        make_part(tmp_path / "gpu0", [11, 22]),
        make_part(tmp_path / "gpu1", [33, 44], speed=0.7),
    )
    merging.merge_stores([a.results_path, b.results_path], tmp_path / "m")
    lines = [
        json.loads(l)
        for l in (tmp_path / "m" / "manifest.jsonl").read_text().splitlines()
    ]
    per_source = [
        len((c.results_path / "manifest.jsonl").read_text().splitlines())
        for c in (a, b)
    ]
    files = sorted(
        p.name
        for p in (tmp_path / "m").iterdir()
        if p.is_file() and p.name != "manifest.jsonl"
    )
    assert len(lines) == sum(per_source) + len(files) + 1
    n = sum(per_source)
    assert [l["merged_from"] for l in lines[:n]] == [
        [str(a.results_path)]
    ] * per_source[0] + [[str(b.results_path)]] * per_source[1]
    # then one line per merged file as it now is (what the store's readers check), then the merge itself
    assert sorted(l["file"] for l in lines[n:-1]) == files
    assert all(
        l["sha256"] == store._sha256(tmp_path / "m" / l["file"]) for l in lines[n:-1]
    )
    assert lines[-1]["name"] == "merge_stores" and lines[-1]["sources"] == [
        str(a.results_path),
        str(b.results_path),
    ]
    assert lines[-1]["per_run"]["scoring_speed"] == {
        str(a.results_path): {"option_s_per_item": 0.5},
        str(b.results_path): {"option_s_per_item": 0.7},
    }
    assert (
        store.read_manifest(RunConfig(results_dir=str(tmp_path / "gpu0")))[
            "name"
        ].tolist()[0]
        == "splits"
    )


def test_identical_copies_are_taken_once(tmp_path):
    a, b = (
        make_part(tmp_path / "gpu0", [11, 22]),
        make_part(tmp_path / "gpu1", [22, 33]),
    )  # subject 22 run twice, same rows
    report = merging.merge_stores([a.results_path, b.results_path], tmp_path / "m")
    preds = pd.read_csv(tmp_path / "m" / "predictions_pas_icl_papi.csv")
    assert (
        preds["subject"].tolist() == [11, 11, 22, 22, 33, 33]
        and report.subjects["predictions_pas_icl_papi"] == 3
    )
    lines = (tmp_path / "m" / "manifest.jsonl").read_text().splitlines()
    files = [
        p
        for p in (tmp_path / "m").iterdir()
        if p.is_file() and p.name != "manifest.jsonl"
    ]
    # every source line (results_dir differs), one line per merged file, the merge's line
    assert (
        len(lines)
        == len((a.results_path / "manifest.jsonl").read_text().splitlines()) * 2
        + len(files)
        + 1
    )


def test_a_truncated_part_is_refused_before_anything_is_merged(tmp_path):
    a, b = (
        make_part(tmp_path / "gpu0", [11, 22]),
        make_part(tmp_path / "gpu1", [33, 44]),
    )
    path = b.results_path / "predictions_pas_icl_papi.csv"
    path.write_bytes(path.read_bytes()[:40])
    with pytest.raises(
        PalignError,
        match="predictions_pas_icl_papi.csv is not the file chapter 05_pas wrote",
    ):
        merging.merge_stores([a.results_path, b.results_path], tmp_path / "m")
    assert not (tmp_path / "m").exists()


def test_conflicting_rows_name_both_stores(tmp_path):
    a, b = (
        make_part(tmp_path / "gpu0", [11, 22]),
        make_part(tmp_path / "gpu1", [22, 33], shift=0.2),
    )
    with pytest.raises(PalignError) as err:
        merging.merge_stores([a.results_path, b.results_path], tmp_path / "m")
    message = str(err.value)
    assert (
        "predictions_pas_icl_papi.csv: subject 22" in message and "item=i4" in message
    )
    assert (
        str(a.results_path) in message
        and str(b.results_path) in message
        and "disjoint `subjects`" in message
    )
    assert not (tmp_path / "m").exists() and not list(
        tmp_path.glob(".m.merging")
    )  # nothing half-written


def test_other_model_refused(tmp_path):
    a = make_part(tmp_path / "gpu0", [11, 22])
    b = make_part(
        tmp_path / "gpu1", [33, 44], model_id="meta-llama/Meta-Llama-3-8B-Instruct"
    )
    with pytest.raises(PalignError, match="different model_ids"):
        merging.merge_stores([a.results_path, b.results_path], tmp_path / "m")


def test_other_revision_refused(tmp_path):
    a, b = (
        make_part(tmp_path / "gpu0", [11, 22]),
        make_part(tmp_path / "gpu1", [33, 44]),
    )
    path = b.results_path / "manifest.jsonl"
    path.write_text(path.read_text().replace('"rev1"', '"rev2"'))
    with pytest.raises(PalignError, match="different revisions of the model"):
        merging.merge_stores([a.results_path, b.results_path], tmp_path / "m")


def test_other_commit_is_a_note(tmp_path):
    a, b = (
        make_part(tmp_path / "gpu0", [11, 22]),
        make_part(tmp_path / "gpu1", [33, 44]),
    )
    assert not any(
        "git commit" in n
        for n in merging.merge_stores(
            [a.results_path, b.results_path], tmp_path / "m1"
        ).notes
    )
    lines = [
        json.loads(l)
        for l in (b.results_path / "manifest.jsonl").read_text().splitlines()
    ]
    (b.results_path / "manifest.jsonl").write_text(
        "".join(json.dumps({**l, "git_commit": "0" * 40}) + "\n" for l in lines)
    )
    report = merging.merge_stores([a.results_path, b.results_path], tmp_path / "m2")
    assert any("different git commits" in n for n in report.notes)


def test_parameters_that_must_agree(tmp_path):
    a, b = (
        make_part(tmp_path / "gpu0", [11, 22]),
        make_part(tmp_path / "gpu1", [33, 44], top_k=16),
    )
    with pytest.raises(PalignError, match=r"top_k: 24 in .*gpu0.*, 16 in .*gpu1"):
        merging.merge_stores([a.results_path, b.results_path], tmp_path / "m")


def test_shared_artefacts_must_agree(tmp_path):
    a, b = (
        make_part(tmp_path / "gpu0", [11, 22]),
        make_part(tmp_path / "gpu1", [33, 44]),
    )
    np.savez(
        b.results_path / "activations" / "contrast-k.npz",
        acts=ACTS,
        items=np.array(["i1", "i2"]),
        key=np.array("k"),
    )
    merging.merge_stores(
        [a.results_path, b.results_path], tmp_path / "m1"
    )  # other bytes, same arrays: fine
    activations.save_activations(
        b.results_path / "activations" / "contrast-k.npz", ACTS + 1, ["i1", "i2"], "k"
    )
    with pytest.raises(
        PalignError, match="activations/contrast-k.npz differs .* capture once"
    ):
        merging.merge_stores([a.results_path, b.results_path], tmp_path / "m2")
    c = make_part(tmp_path / "gpu2", [55])
    store.save_table(
        c,
        "trivial_scores",
        TRIVIAL.assign(score=[1.0, 2.0]),
        chapter="02_dataset_splits",
    )
    with pytest.raises(PalignError, match="trivial_scores.csv differs"):
        merging.merge_stores([a.results_path, c.results_path], tmp_path / "m3")
    splits = {**SPLITS, "validation": ["i2"]}
    store.save_json(c, "splits", splits, chapter="02_dataset_splits")
    with pytest.raises(PalignError, match="splits.json: 'validation' differs"):
        merging.merge_stores([a.results_path, c.results_path], tmp_path / "m4")


def test_bad_input(tmp_path):
    a, b = (
        make_part(tmp_path / "gpu0", [11, 22]),
        make_part(tmp_path / "gpu1", [33, 44]),
    )
    with pytest.raises(PalignError, match="not a results store"):
        merging.merge_stores([a.results_path, tmp_path], tmp_path / "m")
    with pytest.raises(PalignError, match="at least two different stores"):
        merging.merge_stores([a.results_path, a.results_path], tmp_path / "m")
    (tmp_path / "m").mkdir()
    with pytest.raises(PalignError, match="merge into a new folder"):
        merging.merge_stores([a.results_path, b.results_path], tmp_path / "m")


def test_cli_merges_results_folders(tmp_path, capsys):
    make_part(tmp_path / "gpu0", [11, 22])
    make_part(tmp_path / "gpu1", [33, 44])
    assert (
        cli.main(
            [
                str(tmp_path / "gpu0"),
                str(tmp_path / "gpu1"),
                "--out",
                str(tmp_path / "all"),
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "predictions_pas_icl_papi: 4 subjects" in out
    merged = RunConfig(results_dir=str(tmp_path / "all"))
    assert store.require_table(merged, "pas_alphas", "05_pas")["subject"].tolist() == [
        11,
        22,
        33,
        44,
    ]
    make_part(
        tmp_path / "gpu1", [33, 44], model_id="other/model"
    )  # gpu1 now holds a second store
    assert (
        cli.main(
            [
                str(tmp_path / "gpu0"),
                str(tmp_path / "gpu1"),
                "--out",
                str(tmp_path / "all2"),
            ]
        )
        == 1
    )
    assert "hold different stores" in capsys.readouterr().err
    assert (
        cli.main(
            [
                str(tmp_path / "gpu0"),
                str(tmp_path / "nothing"),
                "--out",
                str(tmp_path / "all3"),
            ]
        )
        == 1
    )
    assert "No results store" in capsys.readouterr().err

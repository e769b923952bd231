"""The store never reads half a table, and per-subject loops survive being stopped (issue 22).

Fast: no model but a tiny random Llama; the kill-and-resume test of a whole chapter is in
tests/test_chapters_smoke.py (it needs the smoke run's store).
"""

from __future__ import annotations

import json
import random
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
import torch

from palign_nb import pas_every_subject, store
from palign_nb.checkpoints import Checkpoints, code_version, fingerprint, in_flight
from palign_nb.config import RunConfig
from palign_nb.errors import StoreCorrupt, StoreMissing
from palign_nb.pas_subject import PASSettings

TABLE = pd.DataFrame(
    {
        "subject": np.repeat([11, 22, 33], 100),
        "item": np.tile([f"i{k}" for k in range(100)], 3),
        "predicted": np.random.default_rng(0).integers(1, 6, 300),
    }
)


def written(tmp_path) -> tuple[RunConfig, object]:
    cfg = RunConfig(results_dir=str(tmp_path / "results"))
    path = store.save_table(
        cfg, "predictions_no_alignment", TABLE, chapter="03_asking_the_model"
    )
    return cfg, path


def test_the_manifest_records_rows_and_content_hash(tmp_path):
    cfg, path = written(tmp_path)
    entry = store.read_manifest(cfg).iloc[-1]
    assert entry["file"] == "predictions_no_alignment.csv" and entry["rows"] == 300
    assert len(entry["sha256"]) == 64
    pd.testing.assert_frame_equal(
        store.require_table(cfg, "predictions_no_alignment", "03_asking_the_model"),
        TABLE,
    )
    assert not list(path.parent.glob(".*.tmp")), "a temporary file was left behind"


def test_a_truncated_table_names_the_file_its_chapter_and_the_command(tmp_path):
    """What a chapter killed during to_csv used to leave: the file's first bytes, which read as a shorter table."""
    cfg, path = written(tmp_path)
    path.write_bytes(path.read_bytes()[:1500])
    assert len(pd.read_csv(path)) < 300  # pandas alone reads it without a word
    with pytest.raises(StoreCorrupt) as err:
        store.load_predictions(cfg, "no_alignment")
    message = str(err.value)
    assert (
        str(path) in message
        and "03_asking_the_model" in message
        and "300 rows" in message
    )
    assert (
        "papermill notebooks/03_asking_the_model.ipynb" in message
        and "truncated" in message
    )


def test_a_table_edited_by_hand_is_refused(tmp_path):
    cfg, path = written(tmp_path)
    text = path.read_text()
    path.write_text(
        text.replace("i0,", "i0 ,", 1)
    )  # one character: same rows, other content
    with pytest.raises(StoreCorrupt, match="edited by hand"):
        store.require_table(cfg, "predictions_no_alignment", "03_asking_the_model")


def test_a_table_without_its_manifest_line_is_refused(tmp_path):
    cfg, path = written(tmp_path)
    (cfg.results_path / "manifest.jsonl").write_text("")
    with pytest.raises(StoreCorrupt, match="not listed in the store's manifest"):
        store.require_table(cfg, "predictions_no_alignment", "03_asking_the_model")
    TABLE.to_csv(
        cfg.results_path / "extra.csv", index=False
    )  # a table nobody wrote through the store
    with pytest.raises(StoreCorrupt, match="03_asking_the_model"):
        store.require_table(cfg, "extra", "03_asking_the_model")
    with pytest.raises(StoreMissing):
        store.require_table(cfg, "absent", "03_asking_the_model")


def test_a_failed_write_keeps_the_earlier_table_whole(tmp_path, monkeypatch):
    cfg, path = written(tmp_path)
    before = path.read_bytes()

    def killed(*args, **kwargs):
        raise KeyboardInterrupt("killed while logging the write")

    monkeypatch.setattr(store, "_append_manifest", killed)
    with pytest.raises(KeyboardInterrupt):
        store.save_table(
            cfg,
            "predictions_no_alignment",
            TABLE.head(5),
            chapter="03_asking_the_model",
        )
    assert path.read_bytes() == before and not list(path.parent.glob(".*.tmp"))
    assert (
        len(store.require_table(cfg, "predictions_no_alignment", "03_asking_the_model"))
        == 300
    )


def test_an_unfinished_manifest_line_is_skipped_and_the_next_write_starts_a_new_line(
    tmp_path,
):
    cfg, _ = written(tmp_path)
    manifest = cfg.results_path / "manifest.jsonl"
    manifest.write_text(
        manifest.read_text() + '{"name": "half'
    )  # a write killed mid-line
    store.save_json(cfg, "splits", {"subjects": [11]}, chapter="02_dataset_splits")
    assert store.require_json(cfg, "splits", "02_dataset_splits") == {"subjects": [11]}
    assert (
        len(store.require_table(cfg, "predictions_no_alignment", "03_asking_the_model"))
        == 300
    )
    assert store.read_manifest(cfg)["name"].tolist() == [
        "predictions_no_alignment",
        "splits",
    ]


# --- checkpoints -----------------------------------------------------------------------------------


def draw(s) -> float:
    """A result that consumes every random generator, as training and sampling do."""
    return float(torch.rand(1)) + float(np.random.rand()) + random.random() + int(s)


def seeded() -> None:
    random.seed(0)
    np.random.seed(0)
    torch.manual_seed(0)


def test_a_resumed_loop_skips_finished_subjects_and_gives_the_uninterrupted_results(
    tmp_path, capsys
):
    seeded()
    full = Checkpoints(tmp_path / "full", "draw").each([1, 2, 3], draw)
    seeded()
    stopped = Checkpoints(tmp_path / "stopped", "draw")
    stopped.each([1], draw)  # stopped after the first subject
    seeded()  # a rerun starts from the seed again
    calls = []
    resumed = stopped.each([1, 2, 3], lambda s: calls.append(s) or draw(s))
    assert calls == [2, 3], "the finished subject was computed again"
    assert resumed == full, (
        "the resumed loop's random stream differs from the uninterrupted one"
    )
    assert "draw subject 1: done, skipped" in capsys.readouterr().out


def test_a_changed_input_or_setting_recomputes(tmp_path):
    loop = Checkpoints(tmp_path, "double")
    assert loop.keyed(scale=2).each([1, 2], lambda s: 2 * s) == {1: 2, 2: 4}
    assert loop.keyed(scale=3).each([1, 2], lambda s: 3 * s) == {
        1: 3,
        2: 6,
    }  # another setting: not the old results
    prompts = {1: "a", 2: "b"}
    assert loop.each([1], lambda s: prompts[s], inputs_of=prompts.get) == {1: "a"}
    prompts[1] = "c"  # the subject's own input changed
    assert loop.each([1], lambda s: prompts[s], inputs_of=prompts.get) == {1: "c"}
    assert fingerprint([np.arange(3), pd.Series([1, 2])]) != fingerprint(
        [np.arange(3), pd.Series([1, 3])]
    )
    table = pd.DataFrame({"item": ["a", "b"], "p_A": [0.1, 0.2]})
    assert (
        fingerprint(table)
        == fingerprint(table.copy())
        != fingerprint(table.assign(p_A=[0.1, 0.3]))
    )
    assert fingerprint(table) != fingerprint(table.rename(columns={"p_A": "p_B"}))
    assert len(code_version()) == 16


def test_a_failing_subject_is_named_in_flight_until_it_succeeds(tmp_path):
    folder = tmp_path / "checkpoints" / "05_pas" / "pas_icl_papi"

    def fails_on_two(s):
        if s == 2:
            raise RuntimeError("out of memory")
        return s

    with pytest.raises(RuntimeError):
        Checkpoints(folder, "pas_icl_papi").each([1, 2, 3], fails_on_two)
    marks = in_flight(tmp_path)
    assert [(m["chapter"], m["loop"], m["subject"]) for m in marks] == [
        ("05_pas", "pas_icl_papi", "2")
    ]
    assert Checkpoints(folder, "pas_icl_papi").each([1, 2, 3], lambda s: s) == {
        1: 1,
        2: 2,
        3: 3,
    }
    assert in_flight(tmp_path) == []
    assert json.loads(json.dumps(marks))  # plain JSON for the runner's report


def test_off_keeps_nothing(tmp_path):
    calls = []
    loop = Checkpoints.off("x")
    loop.each([1], calls.append)
    loop.each([1], calls.append)
    assert calls == [1, 1] and loop.path(1) is None


def test_the_package_loops_resume_bit_for_bit(tmp_path, monkeypatch):
    """run_pas with checkpoints: a rerun reads every subject back (no probe is fitted again) with identical rows."""
    from test_palign_pas import tiny

    from palign_nb import activations, prompts
    from palign_nb.inventories import get_inventory
    from palign_nb.models import embedded_model_dir
    from transformers import AutoTokenizer

    inv = get_inventory("ipip")
    lm = tiny(AutoTokenizer.from_pretrained(embedded_model_dir()[0]))
    known, validation, test = (
        inv.items.index[:12].tolist(),
        inv.items.index[12:17].tolist(),
        inv.items.index[17:21].tolist(),
    )
    acts = activations.contrast_activations(lm, known, inv, batch_size=8)
    answers = pd.DataFrame(
        np.random.default_rng(0).choice([1, 2, 4, 5], size=(2, len(inv.items))),
        index=[7, 8],
        columns=inv.items.index,
    )
    args = (
        lm,
        acts,
        known,
        answers,
        [7, 8],
        "pas_icl",
        lambda s: prompts.DEFAULT_SYSTEM,
        known,
        validation,
        test,
        inv,
        "papi",
    )
    settings = PASSettings(top_k=3, alphas=(0.0, 4.0), batch_size=4)
    kwargs = dict(settings=settings, checkpoints=Checkpoints(tmp_path, "pas_icl_papi"))
    first, first_t, first_p = pas_every_subject.run_pas(*args, **kwargs)

    def never(*a, **k):
        raise AssertionError("a finished subject was aligned again")

    monkeypatch.setattr(pas_every_subject, "align_subject", never)
    again, again_t, again_p = pas_every_subject.run_pas(*args, **kwargs)
    pd.testing.assert_frame_equal(first, again)
    pd.testing.assert_frame_equal(first_t, again_t)
    assert list(first_p) == list(again_p) == [7, 8]
    np.testing.assert_array_equal(first_p[7].directions, again_p[7].directions)
    with pytest.raises(
        AssertionError, match="aligned again"
    ):  # another alpha grid: recomputed, not read back
        pas_every_subject.run_pas(
            *args, **(kwargs | {"settings": replace(settings, alphas=(0.0, 2.0))})
        )

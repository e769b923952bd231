"""Chapter 08's method runs (palign_nb.sd3_methods): the checks, the split record and the bookkeeping around
palign_nb.all_subjects' loops, with the loops replaced by stand-ins (no model)."""

from __future__ import annotations

from types import SimpleNamespace

import pandas as pd
import pytest

from palign_nb import sd3_methods
from palign_nb.config import RunConfig
from palign_nb.errors import PalignError
from palign_nb.inventories import get_inventory
from palign_nb.splits import ItemSplit

SD3 = get_inventory("sd3")


def test_check_parameters_refuses_what_chapter_08_cannot_run():
    sd3_methods.check_parameters(RunConfig(inventory="sd3", n_subjects=5), "kmeans", 5)
    with pytest.raises(PalignError, match="Short Dark Triad only"):
        sd3_methods.check_parameters(RunConfig(inventory="ipip"), "paper", 300)
    with pytest.raises(PalignError, match="sd3_setting"):
        sd3_methods.check_parameters(RunConfig(inventory="sd3"), "clusters", 300)
    with pytest.raises(PalignError, match="raise kmeans_k"):
        sd3_methods.check_parameters(
            RunConfig(inventory="sd3", n_subjects=6), "kmeans", 5
        )
    # explicit subjects are not bounded by the clusters, nor is the paper's setting
    sd3_methods.check_parameters(
        RunConfig(inventory="sd3", n_subjects=6, subjects=[1]), "kmeans", 5
    )
    sd3_methods.check_parameters(RunConfig(inventory="sd3", n_subjects=600), "paper", 5)


def test_run_subjects_takes_the_first_test_subjects_or_the_given_ones():
    answers = pd.DataFrame({"M1": range(6)}, index=range(10, 16))
    assert sd3_methods.run_subjects(answers, [14, 11, 12], 2) == [14, 11]
    assert sd3_methods.run_subjects(answers, [14, 11, 12], 2, [12]) == [12]
    with pytest.raises(PalignError, match=r"Unknown subject ids \[15\]"):
        sd3_methods.run_subjects(
            answers, [14, 11, 12], 2, [11, 15]
        )  # not a test subject


def test_splits_record_describes_each_setting():
    split = ItemSplit(known=["M1"], validation=["M2"], test=["M3"])
    paper = sd3_methods.splits_record(
        "paper",
        [1],
        [1, 2],
        ["M1", "M2"],
        split,
        ["M3"],
        seed=0,
        kmeans_k=300,
        known_per_trait=4,
    )
    assert paper["selection"].startswith("the paper's released 300 SD3 test subjects")
    assert (
        paper["known"],
        paper["validation"],
        paper["test"],
        paper["paper_known"],
    ) == (["M1"], ["M2"], ["M3"], ["M1", "M2"])
    assert (
        paper["subjects"] == [1]
        and paper["test_subjects"] == [1, 2]
        and paper["inventory"] == "sd3"
    )
    kmeans = sd3_methods.splits_record(
        "kmeans",
        [1],
        [1],
        ["M1"],
        split,
        ["M3"],
        seed=3,
        kmeans_k=20,
        known_per_trait=5,
    )
    assert kmeans["selection"] == (
        "K-means representatives (k=20, random_state=42) of the complete SD3 "
        "respondents, seeded stratified split with 5 known items per trait"
    )
    assert kmeans["seed"] == 3 and kmeans["setting"] == "kmeans"


class FakeChapter:
    """What MethodRuns uses of a Chapter: its inventory, cfg, checkpoints and the store writes (recorded)."""

    def __init__(self) -> None:
        self.inventory = SD3
        self.cfg = SimpleNamespace(
            keying="papi", model_id="tiny", results_path="/nowhere"
        )
        self.saved: list[tuple] = []

    def checkpoints(self, loop: str) -> str:
        return f"checkpoints:{loop}"

    def save_personas(self, method, keying, personas):
        self.saved.append(("personas", method, keying, personas))

    def save_json(self, name, obj, extra=None):
        self.saved.append(("json", name, obj, extra))

    def save_table(self, name, table, wall_s=None, extra=None):
        self.saved.append(("table", name, len(table)))

    def save_predictions(self, key, table, keying="papi", extra=None):
        self.saved.append(("predictions", key, keying, extra))

    def save_timings(self, table, wall_s=None):
        self.saved.append(("timings", list(table.columns), len(table)))


def _table(method: str, subjects: list) -> pd.DataFrame:
    return pd.DataFrame({"subject": subjects, "item": "M7", "method": method})


def _timings(method: str, subjects: list, stage: str = "score") -> pd.DataFrame:
    return pd.DataFrame(
        {"subject": subjects, "method": method, "stage": stage, "seconds": 1.0}
    )


def test_method_runs_keep_each_method_and_time_p2_by_its_writing(monkeypatch, capsys):
    calls = []

    def run_prompted(
        lm,
        answers,
        subjects,
        method,
        system_of,
        items,
        inventory,
        batch_size,
        checkpoints,
    ):
        calls.append(
            (method, [system_of(s) for s in subjects], items, batch_size, checkpoints)
        )
        prompt = _timings(method, subjects, "prompt")
        return _table(method, subjects), pd.concat(
            [prompt, _timings(method, subjects)], ignore_index=True
        )

    def write_p2(
        lm,
        answers,
        subjects,
        known,
        inventory,
        keying,
        max_new_tokens,
        temperature,
        seed,
        checkpoints,
    ):
        assert (known, keying, max_new_tokens, temperature, seed) == (
            ["M1"],
            "papi",
            16,
            0.6,
            7,
        )
        return {s: f"I am {s}." for s in subjects}, {1: 2.5, 2: 4.0}

    monkeypatch.setattr(sd3_methods.all_subjects, "run_prompted", run_prompted)
    monkeypatch.setattr(sd3_methods.all_subjects, "write_p2", write_p2)
    monkeypatch.setattr(sd3_methods, "runtime_minutes", lambda: 2.0)
    ch = FakeChapter()
    runs = sd3_methods.MethodRuns(
        ch, lm=None, answers=pd.DataFrame(), subjects=[1, 2], items=["M7"], batch_size=4
    )
    runs.prompted("icl", lambda s: f"system {s}")
    texts = runs.p2(["M1"], 16, 0.6, 7)
    assert texts == {1: "I am 1.", 2: "I am 2."} and list(runs.predictions) == [
        "icl",
        "p2",
    ]
    assert calls[0] == ("icl", ["system 1", "system 2"], ["M7"], 4, "checkpoints:icl")
    assert (
        calls[1][:2] == ("p2", ["I am 1.", "I am 2."])
        and calls[1][-1] == "checkpoints:p2"
    )
    timings = runs.timings()
    p2_prompt = timings[(timings.method == "p2") & (timings.stage == "prompt")]
    assert p2_prompt["seconds"].tolist() == [
        2.5,
        4.0,
    ]  # the writing, not the stand-in's 1 s
    assert timings[timings.method == "icl"]["seconds"].tolist() == [1.0] * 4

    runs.histories.append(pd.DataFrame({"step": [1, 2], "loss": [0.5, 0.4]}))
    record = {"setting": "paper", "subjects": [1, 2]}
    glue = runs.save(
        record, pd.DataFrame({"score": [1.0]}), capture_s=3.0, select_s=0.5
    )
    assert glue == {"c08_wall_min": 2.0}
    assert ch.saved[0] == (
        "json",
        "splits",
        record,
        {"select_s": 0.5, "sd3_setting": "paper"},
    )
    assert (
        "predictions",
        "icl",
        "papi",
        {"test_items": 1, "sd3_setting": "paper"},
    ) in ch.saved
    assert (
        "timings",
        ["subject", "method", "stage", "seconds", "keying", "capture_s"],
        8,
    ) in ch.saved
    assert ch.saved[-1] == (
        "json",
        "p2_generated",
        {"writer": "tiny", "texts": {"1": "I am 1.", "2": "I am 2."}},
        None,
    )
    assert "2 prediction tables" in capsys.readouterr().out


def test_method_runs_save_personas_and_adapters_where_the_store_keeps_them(
    monkeypatch, tmp_path
):
    def run_pas(
        lm,
        acts,
        act_items,
        answers,
        subjects,
        method,
        system_of,
        known,
        validation,
        items,
        inventory,
        keying,
        settings,
        checkpoints,
    ):
        assert (
            act_items == known == ["M1"]
            and validation == ["M2"]
            and settings == "settings"
        )
        return (
            _table(method, subjects),
            _timings(method, subjects, "fit"),
            {1: "persona 1"},
        )

    def run_preference(
        lm,
        answers,
        subjects,
        settings,
        known,
        items,
        inventory,
        keying,
        batch_size,
        on_trained,
        checkpoints,
    ):
        kept = {s: on_trained(s, f"result {s}") for s in subjects}
        history = pd.DataFrame({"step": [1], "loss": [0.5]})
        return (
            _table(settings.method, subjects),
            _timings(settings.method, subjects, "train"),
            history,
            kept,
        )

    saved_adapters = []
    monkeypatch.setattr(sd3_methods.pas_every_subject, "run_pas", run_pas)
    monkeypatch.setattr(sd3_methods.all_subjects, "run_preference", run_preference)
    monkeypatch.setattr(
        sd3_methods, "adapter_dir", lambda cfg, m, s, k: tmp_path / f"{m}_{k}_{s}"
    )
    monkeypatch.setattr(
        sd3_methods,
        "save_adapter",
        lambda result, path: saved_adapters.append((result, path)) or path,
    )
    ch = FakeChapter()
    runs = sd3_methods.MethodRuns(
        ch, lm=None, answers=pd.DataFrame(), subjects=[1], items=["M7"]
    )
    runs.pas(
        "pas_icl",
        lambda s: "system",
        acts=None,
        known=["M1"],
        validation=["M2"],
        settings="settings",
    )
    history = runs.preference(SimpleNamespace(method="dpo"), ["M1"])
    assert ch.saved == [("personas", "pas_icl", "papi", {1: "persona 1"})]
    assert saved_adapters == [("result 1", tmp_path / "dpo_papi_1")]
    assert list(runs.predictions) == ["pas_icl", "dpo"] and history[
        "loss"
    ].tolist() == [0.5]
    assert len(runs.histories) == 1 and runs.timings()["stage"].tolist() == [
        "fit",
        "train",
    ]

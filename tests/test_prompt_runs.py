"""Chapter 06's runs (palign_nb.prompt_runs) around stand-in loops: what they run on,
the prompt times they charge, and what they record."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest

from palign_nb import prompt_runs
from palign_nb.errors import PalignError
from palign_nb.inventories import get_inventory


class FakeChapter(SimpleNamespace):
    """The parts of palign_nb.context.Chapter the runs use, recording every save."""

    def __init__(self, inventory: str = "ipip", subjects=(1, 2)) -> None:
        cfg = SimpleNamespace(
            keying="literal", seed=3, model_id="tiny", results_path=Path("/store")
        )
        params = {"batch_size": 4, "p2_temperature": 0.6, "p2_max_new_tokens": 16}
        super().__init__(
            cfg=cfg,
            model="lm",
            answers="answers",
            subjects=list(subjects),
            inventory=get_inventory(inventory),
            params=params,
            saved=[],
        )

    def checkpoints(self, loop: str) -> str:
        return f"checkpoints:{loop}"

    def save_predictions(self, key, table, keying="papi", wall_s=None, extra=None):
        self.saved.append(("predictions", key, keying, wall_s, extra))

    def save_timings(self, table, wall_s=None, extra=None):
        self.saved.append(("timings", len(table)))

    def save_json(self, name, obj, wall_s=None, extra=None):
        self.saved.append(("json", name, obj))


@pytest.mark.parametrize(
    "inventory, generate, writers",
    [("ipip", True, [1]), ("ipip", False, []), ("sd3", True, [1, 2])],
)
def test_p2_descriptions_writes_for_the_right_subjects(
    monkeypatch, inventory, generate, writers
):
    calls = []

    def write_p2(lm, answers, subjects, known, inv, keying, tokens, temp, seed, points):
        calls.append((subjects, keying, tokens, temp, seed, points))
        return {s: f"text {s}" for s in subjects}, {s: 1.0 for s in subjects}

    monkeypatch.setattr(prompt_runs, "write_p2", write_p2)
    written, _ = prompt_runs.p2_descriptions(
        FakeChapter(inventory), ["k"], generate, 16, 0.6
    )
    assert list(written) == writers
    assert calls == [(writers, "papi", 16, 0.6, 3, "checkpoints:p2_generated")]


def test_p2_descriptions_refuses_sd3_without_generation():
    with pytest.raises(PalignError, match="p2_generate=True"):
        prompt_runs.p2_descriptions(FakeChapter("sd3"), ["k"], False, 16, 0.6)


def _fake_run_prompted(calls: list):
    def run_prompted(
        lm, answers, subjects, method, system_of, items, inv, batch, checkpoints
    ):
        calls.append(
            (method, list(subjects), [system_of(s) for s in subjects], checkpoints)
        )
        preds = pd.DataFrame({"subject": subjects, "method": method})
        timings = pd.DataFrame(
            [
                {"subject": s, "method": method, "stage": stage, "seconds": seconds}
                for s in subjects
                for stage, seconds in [("prompt", 0.5), ("score", 2.0)]
            ]
        )
        return preds, timings

    return run_prompted


def test_score_prompts_on_ipip_scores_the_first_written_description_too(
    monkeypatch, capsys
):
    calls = []
    monkeypatch.setattr(prompt_runs, "run_prompted", _fake_run_prompted(calls))
    systems = {"icl_papi": lambda s: f"icl {s}", "p2": lambda s: f"shipped {s}"}
    predictions, timings = prompt_runs.score_prompts(
        FakeChapter("ipip"), systems, ["i"], {1: "written 1"}, {1: 30.0}
    )
    assert list(predictions) == ["icl_papi", "p2", "p2_generated"]
    assert calls[-1] == (
        "p2_generated",
        [1],
        ["written 1"],
        "checkpoints:p2_generated_scored",
    )
    prompt = timings[timings.stage == "prompt"].set_index(["method", "subject"])[
        "seconds"
    ]
    assert prompt[("p2", 2)] == 0.5  # a shipped description costs nothing to write
    assert prompt[("p2_generated", 1)] == 30.0  # the written one costs its writing time
    assert "p2: 2.0 s per subject to score" in capsys.readouterr().out


def test_score_prompts_on_sd3_charges_each_description_its_writing_time(monkeypatch):
    monkeypatch.setattr(prompt_runs, "run_prompted", _fake_run_prompted([]))
    written = {1: "written 1", 2: "written 2"}
    predictions, timings = prompt_runs.score_prompts(
        FakeChapter("sd3"), {"p2": written.get}, ["i"], written, {1: 10.0, 2: 20.0}
    )
    assert list(predictions) == ["p2"]
    prompt = timings[timings.stage == "prompt"].set_index("subject")["seconds"]
    assert prompt.to_dict() == {1: 10.5, 2: 20.5}


def test_save_prompted_records_each_method_under_its_registered_key(monkeypatch):
    monkeypatch.setattr(prompt_runs, "runtime_minutes", lambda: 2.0)
    ch = FakeChapter()
    predictions = {
        m: pd.DataFrame({"subject": [1]}) for m in ["icl_papi", "p2", "p2_generated"]
    }
    timings = pd.DataFrame(
        {"method": ["icl_papi", "icl_papi", "p2"], "seconds": [1.0, 2.0, 4.0]}
    )
    prompt_runs.save_prompted(ch, predictions, timings, {1: "text"}, 10, 120)
    note = {"items": 10, "known_items": "paper_known", "n_known": 120}
    assert ch.saved[:3] == [
        ("predictions", "icl", "papi", 3.0, note),
        ("predictions", "p2", "literal", 4.0, note),
        ("predictions", "p2_generated", "literal", 0.0, note),
    ]
    assert ch.saved[3] == ("timings", 3)
    assert ch.saved[4] == (
        "json",
        "p2_generated",
        {
            "writer": "tiny",
            "temperature": 0.6,
            "max_new_tokens": 16,
            "texts": {"1": "text"},
        },
    )

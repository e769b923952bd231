"""Chapter 07's runs (palign_nb.preference_runs) around stand-in models and loops: how
answers are sampled, what is kept of every subject's adapter, and what the chapter
records."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest
import torch

from palign_nb import preference_runs
from palign_nb.errors import PalignError
from palign_nb.inventories import get_inventory
from palign_nb.preference import NO_OPTION_REWARD, TrainSettings

IPIP = get_inventory("ipip")
WORDS = {7: " B", 8: ")", 9: " hm", 10: " Very Inaccurate"}


class FakeTokenizer:
    pad_token_id = 0

    def __call__(self, text: str, return_tensors: str = "pt") -> dict:
        return {"input_ids": torch.tensor([[1] * len(text.split())])}

    def decode(self, ids, skip_special_tokens: bool = True) -> str:
        return "".join(WORDS[int(i)] for i in ids)


class FakeModel:
    """Answers " B)" then " hm" then " Very Inaccurate" ..., recording what it was
    asked."""

    def __init__(self) -> None:
        self.asked: list[dict] = []

    def generate(self, input_ids, **kwargs):
        self.asked.append(kwargs)
        n = kwargs["num_return_sequences"]
        answers = torch.tensor([[7, 8], [9, 9], [10, 9], [9, 7]][:n])
        return torch.cat([input_ids.repeat(n, 1), answers], dim=1)


def test_sample_answers_decodes_only_the_answer_and_rewards_it():
    lm = SimpleNamespace(tokenizer=FakeTokenizer(), model=FakeModel(), device="cpu")
    item = IPIP.items.index[0]
    prompts = pd.DataFrame(
        {"item": [item, item], "prompt": ["a b c", "a b"], "target": [4, 1]}
    )
    grpo = TrainSettings(
        "grpo",
        steps=1,
        batch_size=4,
        num_generations=4,
        temperature=0.7,
        max_completion_length=3,
    )
    samples = preference_runs.sample_answers(lm, prompts, IPIP, grpo)
    assert len(samples) == 8 and set(samples["statement"]) == {
        IPIP.items.loc[item, "text"]
    }
    assert samples["answer"].tolist()[:4] == [
        " B)",
        " hm hm",
        " Very Inaccurate hm",
        " hm B",
    ]
    assert samples["reward"].tolist()[:4] == [
        0.0,
        NO_OPTION_REWARD,
        -3.0,
        NO_OPTION_REWARD,
    ]
    assert samples["reward"].tolist()[4:6] == [-3.0, NO_OPTION_REWARD]  # target 1
    asked = lm.model.asked[0]
    assert (asked["temperature"], asked["max_new_tokens"], asked["top_k"]) == (
        0.7,
        3,
        0,
    )
    assert asked["do_sample"] and asked["num_return_sequences"] == 4


def test_lora_weights_counts_only_the_adapters_numbers():
    model = torch.nn.Module()
    model.base = torch.nn.Linear(4, 4)
    model.lora_A = torch.nn.Linear(4, 2, bias=False)
    assert preference_runs.lora_weights(SimpleNamespace(model=model)) == 8


class FakeChapter(SimpleNamespace):
    def __init__(self, results: Path) -> None:
        super().__init__(
            cfg=SimpleNamespace(keying="papi", results_path=results),
            model="lm",
            answers="answers",
            subjects=[1, 2],
            inventory=IPIP,
            params={"batch_size": 4},
            saved=[],
        )

    def checkpoints(self, loop: str) -> str:
        return f"checkpoints:{loop}"

    def save_predictions(self, key, table, keying="papi", wall_s=None, extra=None):
        self.saved.append(("predictions", key, keying, wall_s, extra))

    def save_json(self, name, obj, wall_s=None, extra=None):
        self.saved.append(("json", name, obj))

    def save_timings(self, table, wall_s=None, extra=None):
        self.saved.append(("timings", table["keying"].tolist()))

    def save_table(self, name, table, wall_s=None, extra=None):
        self.saved.append(("table", name, len(table)))


def test_train_every_subject_saves_each_adapter_before_scoring(
    monkeypatch, tmp_path, capsys
):
    saved = []
    monkeypatch.setattr(
        preference_runs, "save_adapter", lambda result, path: saved.append(path) or path
    )

    def run_preference(
        lm,
        answers,
        subjects,
        settings,
        known,
        items,
        inv,
        keying,
        batch,
        on_trained,
        checkpoints,
    ):
        adapter = torch.nn.Module()
        adapter.lora_B = torch.nn.Linear(3, 2, bias=False)
        kept = {s: on_trained(s, SimpleNamespace(model=adapter)) for s in subjects}
        timings = pd.DataFrame(
            {
                "subject": subjects * 2,
                "method": settings.method,
                "stage": ["train"] * 2 + ["score"] * 2,
                "seconds": [10.0, 20.0, 1.0, 1.0],
            }
        )
        history = pd.DataFrame({"subject": subjects, "method": settings.method})
        return pd.DataFrame({"subject": subjects}), timings, history, kept

    monkeypatch.setattr(preference_runs, "run_preference", run_preference)
    settings = {
        "dpo": TrainSettings("dpo", 1, 2),
        "grpo": TrainSettings("grpo", 1, 4, num_generations=2),
    }
    run = preference_runs.train_every_subject(
        FakeChapter(tmp_path), settings, ["k"], ["i"]
    )
    assert saved == [
        tmp_path / "adapters" / f"{m}_papi" / str(s)
        for m in ("dpo", "grpo")
        for s in (1, 2)
    ]
    assert run.adapter_paths["grpo"] == {
        "1": "adapters/grpo_papi/1",
        "2": "adapters/grpo_papi/2",
    }
    assert run.lora_params == 6 and list(run.predictions) == ["dpo", "grpo"]
    assert run.timings["keying"].eq("papi").all() and len(run.history) == 4
    assert "dpo: trained 15 s, scored 1 s per subject" in capsys.readouterr().out
    # each method in a cell of its own, then one run: the same as both at once
    parts = [
        preference_runs.train_every_subject(
            FakeChapter(tmp_path), {m: settings[m]}, ["k"], ["i"]
        )
        for m in ("dpo", "grpo")
    ]
    both = preference_runs.combined(*parts)
    assert list(both.predictions) == ["dpo", "grpo"] and both.lora_params == 6
    assert both.adapter_paths == run.adapter_paths
    assert both.timings.equals(run.timings) and both.history.equals(run.history)
    parts[1].lora_params = 7
    with pytest.raises(PalignError, match="adapters of different sizes"):
        preference_runs.combined(*parts)


def test_save_preference_records_each_method_with_its_settings(monkeypatch, tmp_path):
    monkeypatch.setattr(preference_runs, "runtime_minutes", lambda: 1.0)
    ch = FakeChapter(tmp_path)
    settings = {"dpo": TrainSettings("dpo", 1, 2)}
    run = preference_runs.PreferenceRun(
        predictions={"dpo": pd.DataFrame({"subject": [1]})},
        timings=pd.DataFrame(
            {"method": ["dpo", "dpo"], "keying": "papi", "seconds": [2.0, 3.0]}
        ),
        history=pd.DataFrame({"step": [1, 2, 3]}),
        adapter_paths={"dpo": {"1": "adapters/dpo_papi/1"}},
        lora_params=6,
    )
    preference_runs.save_preference(ch, run, settings, 12)
    kind, key, keying, wall_s, note = ch.saved[0]
    assert (kind, key, keying, wall_s) == ("predictions", "dpo", "papi", 5.0)
    assert note["items"] == 12 and note["settings"]["steps"] == 1
    assert note["adapters"] == {"1": "adapters/dpo_papi/1"}
    assert ch.saved[1] == (
        "json",
        "adapters_dpo_papi",
        {"settings": vars(settings["dpo"]), "paths": {"1": "adapters/dpo_papi/1"}},
    )
    assert ch.saved[2:] == [
        ("timings", ["papi", "papi"]),
        ("table", "training_history_07", 3),
    ]

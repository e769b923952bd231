"""Chapter 10's run (palign_nb.open_ended) on hand-made answers, with generation and the judge replaced by
stand-ins (no model)."""

from __future__ import annotations

import contextlib
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from palign_nb import open_ended
from palign_nb.checkpoints import Checkpoints
from palign_nb.errors import PalignError
from palign_nb.inventories import get_inventory

IPIP = get_inventory("ipip")
# i99 is minus-keyed (the keyings disagree), i4 is answered 3 and i5 not at all: none of them is clear
TEST = ["i99", "i4", "i74", "i5", "i40", "i45", "i2", "i1"]
STORED = pd.Series([5, 3, 2, 0, 4, 5, 5, 1], index=TEST, name=7)


def test_check_sizes_refuses_what_is_not_a_positive_integer():
    open_ended.check_sizes(1, 80, 300)
    for bad in [(0, 80, 300), (2, 8.0, 300), (2, 80, -1)]:
        with pytest.raises(PalignError, match="must be a positive integer"):
            open_ended.check_sizes(*bad)


@pytest.mark.parametrize("keying", ["papi", "literal"])
def test_clear_statements_take_the_traits_in_turn(keying):
    statements, glue = open_ended.clear_statements(STORED, TEST, IPIP, keying, 5)
    assert statements["item"].tolist() == [
        "i74",
        "i40",
        "i2",
        "i1",
        "i45",
    ]  # A, C, E, N, then C again
    assert statements["target"].tolist() == [2, 4, 5, 1, 5]
    assert statements["target_label"].iloc[0] == "Moderately Inaccurate"
    assert (
        statements.loc[3, "statement"] == "Worry about things."
        and statements.loc[3, "trait"] == "N"
    )
    assert glue == {"c10_n_statements": 5, "c10_n_clear": 5, "c10_n_affirm": 3}
    fewer, glue = open_ended.clear_statements(STORED, TEST, IPIP, keying, 2)
    assert (
        fewer["item"].tolist() == ["i74", "i40"]
        and glue["c10_n_affirm"] == 1
        and glue["c10_n_clear"] == 5
    )


def test_clear_statements_refuse_a_subject_without_one():
    with pytest.raises(
        PalignError, match="Subject 7 has no test statement with a clear answer"
    ):
        open_ended.clear_statements(
            pd.Series(3, index=TEST, name=7), TEST, IPIP, "papi", 5
        )


class FakePersona:
    heads, directions, sigmas = [(0, 1)], [[1.0]], [1.0]

    def __init__(self) -> None:
        self.active: float | None = None

    @contextlib.contextmanager
    def applied(self, lm, alpha):
        self.active = alpha
        yield
        self.active = None


def test_generate_answers_steer_pas_only_and_skip_what_a_rerun_finds(
    monkeypatch, tmp_path
):
    persona, calls = FakePersona(), []

    def generate_texts(lm, system, users, max_new_tokens, batch_size):
        calls.append(system)
        return [f"{system}|{u}|{persona.active}|{max_new_tokens}" for u in users]

    monkeypatch.setattr(open_ended.judging, "generate_texts", generate_texts)
    lm = SimpleNamespace(model_id="m", revision="r", device="cpu", dtype="float32")
    systems = {"base": "plain", "ICL": "few-shot", "PAS": "few-shot"}
    loop = Checkpoints(tmp_path, "generations", key="k")
    settings = dict(max_new_tokens=24, batch_size=8, checkpoints=loop)
    texts, seconds = open_ended.generate_answers(
        lm, systems, ["q1", "q2"], persona, 4.0, **settings
    )
    assert texts == {
        "base": ["plain|q1|None|24", "plain|q2|None|24"],
        "ICL": ["few-shot|q1|None|24", "few-shot|q2|None|24"],
        "PAS": ["few-shot|q1|4.0|24", "few-shot|q2|4.0|24"],
    }
    assert list(seconds) == ["base", "ICL", "PAS"] and persona.active is None
    again, _ = open_ended.generate_answers(
        lm, systems, ["q1", "q2"], persona, 4.0, **settings
    )
    assert (
        again == texts and len(calls) == 3
    )  # every method was kept: nothing generated twice
    open_ended.generate_answers(lm, systems, ["q1", "q2"], persona, 2.0, **settings)
    assert len(calls) == 6  # another alpha is another loop


def _statements() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "item": ["i1", "i2"],
            "trait": ["N", "E"],
            "statement": ["Worry.", "Talk."],
            "target": [5, 1],
            "target_label": ["Very Accurate", "Very Inaccurate"],
        }
    )


def test_answers_long_has_one_row_per_statement_and_method():
    long = open_ended.answers_long(
        _statements(), {"base": ["b1", "b2"], "PAS": ["p1", "p2"]}
    )
    assert list(long.columns) == [
        "item",
        "trait",
        "statement",
        "target",
        "target_label",
        "method",
        "response",
    ]
    assert long["method"].tolist() == ["base", "base", "PAS", "PAS"]
    assert long["response"].tolist() == ["b1", "b2", "p1", "p2"] and long[
        "target"
    ].tolist() == [5, 1, 5, 1]


def _cfg(**extra) -> SimpleNamespace:
    params = {
        "judge_model": "",
        "judge_url": "",
        "judge_api_model": "gpt-4o",
        "judge_max_new_tokens": 32,
        "batch_size": 8,
    } | extra
    return SimpleNamespace(extra=params, model_id="tiny", device="cpu", dtype="float32")


def test_judge_answers_skip_without_a_judge_or_with_a_bad_url():
    table = open_ended.answers_long(_statements(), {"base": ["b1", "b2"]})
    none = open_ended.judge_answers(table, None, _cfg())
    assert (
        none.judged is None
        and none.name is None
        and none.status.startswith("skipped: no judge given")
    )
    bad = open_ended.judge_answers(table, None, _cfg(judge_url="localhost:8000"))
    assert bad.judged is None and bad.name == "gpt-4o at localhost:8000"
    assert bad.status.startswith(
        "skipped: judge_url='localhost:8000' is not an http(s) URL"
    )


def test_judge_answers_send_every_answer_to_the_run_model(monkeypatch):
    sent = []

    def local_judge(lm, prompts, max_new_tokens, batch_size):
        sent.append((lm, len(prompts), max_new_tokens, batch_size))
        return ["Reasoning.\n5", "I pick\n2", "no verdict here", "**6**"]

    monkeypatch.setattr(open_ended.judging, "local_judge", local_judge)
    table = open_ended.answers_long(
        _statements(), {"base": ["b1", "b2"], "PAS": ["p1", "p2"]}
    )
    run = open_ended.judge_answers(table, "the run's model", _cfg(judge_model="tiny"))
    assert sent == [
        ("the run's model", 4, 32, 8)
    ]  # the run's own model, not a second load
    assert run.judged["judge_choice"].tolist()[:2] == [5.0, 2.0] and np.isnan(
        run.judged["judge_choice"].iloc[2]
    )
    assert run.status.startswith("judged by tiny in ")
    assert run.status.endswith(
        "s: mean verdict (1-6) base 3.50, PAS 6.00; 1 of 4 verdicts unparseable"
    )


class FakeChapter:
    def __init__(self) -> None:
        self.cfg = SimpleNamespace(keying="papi", results_path="/nowhere")
        self.inventory = IPIP
        self.saved = []

    def save_table(self, name, table, wall_s=None, extra=None):
        self.saved.append((name, table, extra))


def test_save_answers_store_alpha_for_pas_and_the_judge_when_it_ran(
    monkeypatch, capsys
):
    monkeypatch.setattr(open_ended, "runtime_minutes", lambda: 0.5)
    long = open_ended.answers_long(
        _statements(), {"base": ["b1", "b2"], "PAS": ["p1", "p2"]}
    )
    ch = FakeChapter()
    skipped = open_ended.JudgeRun(None, None, "skipped: no judge given")
    assert open_ended.save_answers(ch, long, 7, 4.0, skipped) == {"c10_wall_s": 30.0}
    name, table, extra = ch.saved[0]
    assert name == "generations_10" and "judge" not in table
    assert table["alpha"].tolist() == [0.0, 0.0, 4.0, 4.0] and set(
        table["subject"]
    ) == {7}
    assert extra["judge_status"] == "skipped: no judge given" and extra[
        "question"
    ].startswith("Given a statement")
    judged = open_ended.JudgeRun(
        long.assign(judge_raw="5", judge_choice=5.0), "tiny", "judged by tiny"
    )
    open_ended.save_answers(ch, long, 7, 4.0, judged)
    assert (
        ch.saved[1][1]["judge"].tolist() == ["tiny"] * 4
        and ch.saved[1][2]["judge"] == "tiny"
    )
    assert "wrote 4 answers (generations_10)" in capsys.readouterr().out

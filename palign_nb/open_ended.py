"""Chapter 10's run around its free-text answers: the statements, the answers, the paper's judge, the store.

:mod:`palign_nb.judging` holds the method (the question, generation, the paper's judge prompt and
parser, the offline stance judge and its check set); this module holds what chapter 10 does with
it: the statements with a clear target (10.1), every method's answers kept as they are written
(10.2), one row per answer for the judges (10.4), the paper's judge chosen by the chapter's
parameters (10.5) and the table the chapter stores (10.7). What the chapter finds in them is
computed by :mod:`palign_nb.open_ended_findings`.

Introduced in :doc:`/notebooks/10_open_ended`.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from . import judging
from .all_subjects import model_key
from .checkpoints import Checkpoints
from .config import RunConfig, runtime_minutes
from .context import Chapter
from .errors import PalignError
from .inventories import Inventory, targets
from .models import LoadedModel, load_model
from .pas import Persona


def check_sizes(n_statements: int, max_new_tokens: int, n_check: int) -> None:
    """Refuse a size parameter that is not a positive integer."""
    for name, value in [
        ("n_statements", n_statements),
        ("max_new_tokens", max_new_tokens),
        ("n_check", n_check),
    ]:
        if not isinstance(value, int) or value < 1:
            raise PalignError(f"{name} must be a positive integer, got {value!r}.")


def clear_statements(
    stored: pd.Series, test: list[str], inventory: Inventory, keying: str, n: int
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The first ``n`` of one subject's ``test`` statements with a clear target, traits taken in turn.

    Clear: the target is not the middle of the scale (nor missing) and both keyings agree on it.
    ``stored``: the subject's stored answers (its ``name`` is the subject). Returns the statements
    (``item``, ``trait``, ``statement``, ``target``, ``target_label``) and the glue of section 10.1.
    """
    values = stored[test].to_numpy(dtype=int)
    signs = inventory.items.loc[test, "sign"].to_numpy()
    target_values = targets(values, signs, inventory, keying)
    other = targets(values, signs, inventory, "literal" if keying == "papi" else "papi")
    clear = [
        c for c, v, w in zip(test, target_values, other) if v in (1, 2, 4, 5) and v == w
    ]
    by_trait = [
        [c for c in clear if inventory.items.loc[c, "trait"] == t]
        for t in inventory.trait_order
    ]
    items = [
        c for group in itertools.zip_longest(*by_trait) for c in group if c is not None
    ][:n]
    if not items:
        raise PalignError(
            f"Subject {stored.name} has no test statement with a clear answer (not 3, same under both "
            "keyings): choose another subject with `subjects=[...]`."
        )
    target_of = dict(zip(test, target_values.tolist()))
    statements = pd.DataFrame(
        {
            "item": items,
            "trait": inventory.items.loc[items, "trait"].to_numpy(),
            "statement": inventory.items.loc[items, "text"].to_numpy(),
            "target": [int(target_of[c]) for c in items],
        }
    )
    statements["target_label"] = [inventory.labels[v] for v in statements["target"]]
    return statements, {
        "c10_n_statements": len(items),
        "c10_n_clear": len(clear),
        "c10_n_affirm": int((statements["target"] > 3).sum()),
    }


def generate_answers(
    lm: LoadedModel,
    systems: dict[str, str],
    users: list[str],
    persona: Persona,
    alpha: float,
    *,
    max_new_tokens: int,
    batch_size: int,
    checkpoints: Checkpoints,
) -> tuple[dict[str, list[str]], dict[str, float]]:
    """Every user prompt answered greedily under each method's system prompt (``systems``; the method ``PAS``
    also steered by ``persona`` at ``alpha``), and each method's seconds. Each method is kept in
    ``checkpoints`` as it finishes, so a rerun skips the finished ones."""

    def answer_all(method: str) -> tuple[list[str], float]:
        start = time.perf_counter()
        with (
            persona.applied(lm, alpha) if method == "PAS" else contextlib.nullcontext()
        ):
            text = judging.generate_texts(
                lm,
                systems[method],
                users,
                max_new_tokens=max_new_tokens,
                batch_size=batch_size,
            )
        return text, time.perf_counter() - start

    loop = checkpoints.keyed(
        model=model_key(lm),
        users=users,
        systems=systems,
        persona=[persona.heads, persona.directions, persona.sigmas],
        alpha=alpha,
        max_new_tokens=max_new_tokens,
        batch_size=batch_size,
    )
    written = loop.each(list(systems), answer_all, noun="method")
    return {m: text for m, (text, _) in written.items()}, {
        m: seconds for m, (_, seconds) in written.items()
    }


def answers_long(statements: pd.DataFrame, texts: dict[str, list[str]]) -> pd.DataFrame:
    """One row per statement and method: the statement, its target and the method's ``response``."""
    side = statements[["statement", "target_label"]].assign(**texts)
    return side.assign(
        item=statements["item"], trait=statements["trait"], target=statements["target"]
    ).melt(
        id_vars=["item", "trait", "statement", "target", "target_label"],
        value_vars=list(texts),
        var_name="method",
        value_name="response",
    )


@dataclass
class JudgeRun:
    """The paper's judge on the answers: the table with its verdicts (None when it did not run), its name
    (when one was given) and one line saying what happened."""

    judged: pd.DataFrame | None
    name: str | None
    status: str


def judge_answers(table: pd.DataFrame, lm: LoadedModel, cfg: RunConfig) -> JudgeRun:
    """The paper's judge (:func:`palign_nb.judging.run_paper_judge`) on every row of ``table``, chosen by the
    chapter's parameters in ``cfg.extra``: ``judge_model`` (a local chat model; the run's model ``lm`` when it
    names it), else ``judge_url`` with ``judge_api_model`` (the key from ``OPENAI_API_KEY``), each answering
    in at most ``judge_max_new_tokens``. No judge, or one that fails, is skipped with the reason."""
    p, name = cfg.extra, None

    def local(batch: list[str]) -> list[str]:
        return judging.local_judge(
            judge_lm, batch, p["judge_max_new_tokens"], batch_size=p["batch_size"]
        )

    def endpoint(batch: list[str]) -> list[str]:
        return judging.endpoint_judge(
            p["judge_url"],
            p["judge_api_model"],
            batch,
            os.environ.get("OPENAI_API_KEY"),
            max_tokens=p["judge_max_new_tokens"],
        )

    try:
        if p["judge_model"]:
            name = p["judge_model"]
            judge_lm = (
                lm if name == cfg.model_id else load_model(name, cfg.device, cfg.dtype)
            )
            ask = local
        elif p["judge_url"]:
            name, ask = f"{p['judge_api_model']} at {p['judge_url']}", endpoint
        else:
            raise judging.JudgeUnavailable(
                "skipped: no judge given (set judge_model to a local chat model, or "
                "judge_url and judge_api_model for an OpenAI-compatible endpoint)."
            )
        start = time.perf_counter()
        judged = judging.run_paper_judge(table, ask)
        seconds = time.perf_counter() - start
    except PalignError as err:
        return JudgeRun(
            None,
            name,
            str(err) if str(err).startswith("skipped:") else f"skipped: {err}",
        )
    means = judged.groupby("method", sort=False)["judge_choice"].mean()
    n_fail = int(judged["judge_choice"].isna().sum())
    return JudgeRun(
        judged,
        name,
        f"judged by {name} in {seconds:.0f} s: mean verdict (1-6) "
        + ", ".join(f"{m} {v:.2f}" for m, v in means.items())
        + f"; {n_fail} of {len(judged)} verdicts unparseable",
    )


def save_answers(
    ch: Chapter, long: pd.DataFrame, subject: Any, alpha: float, run: JudgeRun
) -> dict[str, Any]:
    """Store the answers, their stances and (when the judge ran) its verdicts as ``generations_10``; returns
    the chapter's seconds so far to glue."""
    table = run.judged if run.judged is not None else long
    table = table.assign(
        subject=subject,
        alpha=np.where(table["method"] == "PAS", alpha, 0.0),
        keying=ch.cfg.keying,
    )
    if "judge_choice" in table:
        table["judge"] = run.name
    wall_s = runtime_minutes() * 60
    ch.save_table(
        "generations_10",
        table,
        wall_s=wall_s,
        extra={
            "judge": run.name,
            "judge_status": run.status,
            "offline_judge": judging.EMBEDDING_PACKAGE,
            "question": judging.OPEN_TEMPLATES[ch.inventory.name],
        },
    )
    print(
        f"wrote {len(table)} answers (generations_10) to {ch.cfg.results_path} ({wall_s:.0f} s for the chapter)"
    )
    return {"c10_wall_s": wall_s}

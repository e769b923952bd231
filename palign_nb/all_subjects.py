"""Every subject through one method: the per-subject loops of the prompts (few-shot, P2) and of
DPO and RL, and the conventions every loop follows (PAS's own loops, on the same conventions, are
:mod:`palign_nb.pas_every_subject`).

Chapters 05 to 07 build each method up step by step for one subject, then run all subjects through
these loops; chapter 08 runs the same loops on the Short Dark Triad. Each returns ``predictions``,
one row per subject and item in the format of :func:`palign_nb.metrics.subject_predictions`, and
``timings``, one row per subject, method and stage (``subject``, ``method``, ``stage``, ``seconds``;
the chapter adds ``keying``), so chapter 09 reads every chapter's timings the same way. Given
``checkpoints`` (a chapter's :meth:`~palign_nb.context.Chapter.checkpoints`), each loop keeps every
subject as it finishes and a rerun skips the finished ones (:mod:`palign_nb.checkpoints`); each prints
one line per subject (the loop, the subject and its seconds).

Introduced in :doc:`/notebooks/05_pas`.
"""

from __future__ import annotations

import time
from typing import Callable

import pandas as pd

from .checkpoints import Checkpoints
from .inventories import Inventory
from .metrics import subject_predictions
from .models import LoadedModel
from .preference import TrainResult, TrainSettings, preference_pairs, reward_prompts
from .preference_training import merged, train_dpo, train_grpo
from .prompt_baselines import generate_p2_persona, known_answers, score_items
from .prompts import DEFAULT_SYSTEM


def timing_row(subject, method: str, stage: str, seconds: float) -> dict:
    return {
        "subject": subject,
        "method": method,
        "stage": stage,
        "seconds": float(seconds),
    }


def model_key(lm: LoadedModel) -> list[str]:
    """What identifies the model a checkpoint was computed with: id, revision, device and dtype."""
    return [lm.model_id, str(lm.revision), str(lm.device), str(lm.dtype)]


def subject_loop(checkpoints: Checkpoints | None, label: str, **inputs) -> Checkpoints:
    """The loop's checkpoints (none kept when not given), keyed by its inputs."""
    return (checkpoints or Checkpoints.off(label)).keyed(**inputs)


def run_prompted(
    lm: LoadedModel,
    answers: pd.DataFrame,
    subjects: list,
    method: str,
    system_of: Callable[[object], str],
    items: list[str],
    inventory: Inventory,
    batch_size: int = 16,
    checkpoints: Checkpoints | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A prompting method (no alignment, ICL, P2): ``system_of(subject)`` is its system prompt.

    With ``checkpoints`` (:meth:`palign_nb.context.Chapter.checkpoints`), each subject is kept when it finishes
    and skipped when a rerun finds it done (:mod:`palign_nb.checkpoints`); so in every loop below.
    """

    def one(s) -> tuple[pd.DataFrame, list[dict]]:
        start = time.perf_counter()
        system = system_of(s)
        prompt_s = time.perf_counter() - start
        start = time.perf_counter()
        scored = score_items(lm, system, items, inventory, batch_size)
        timings = [
            timing_row(s, method, "prompt", prompt_s),
            timing_row(s, method, "score", time.perf_counter() - start),
        ]
        return subject_predictions(s, scored, answers, inventory), timings

    loop = subject_loop(
        checkpoints,
        method,
        model=model_key(lm),
        method=method,
        items=items,
        inventory=inventory.name,
        batch_size=batch_size,
    )
    done = loop.each(subjects, one, inputs_of=lambda s: [system_of(s), answers.loc[s]])
    return (
        pd.concat([t for t, _ in done.values()], ignore_index=True),
        pd.DataFrame([row for _, rows in done.values() for row in rows]),
    )


def run_preference(
    lm: LoadedModel,
    answers: pd.DataFrame,
    subjects: list,
    settings: TrainSettings,
    known: list[str],
    items: list[str],
    inventory: Inventory,
    keying: str,
    batch_size: int = 16,
    on_trained: Callable[[object, TrainResult], dict] | None = None,
    checkpoints: Checkpoints | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, dict[object, dict]]:
    """DPO or the RL baseline (``settings.method``): one LoRA adapter per subject on its known answers.

    ``on_trained(subject, result)`` runs before the adapter is merged (e.g. to save it) and returns a dict
    (e.g. where it saved it), kept with the subject's checkpoint and returned per subject. Also returns
    the training history (loss or reward per step) of every subject.
    """

    def one(s) -> tuple[pd.DataFrame, list[dict], pd.DataFrame, dict]:
        if settings.method == "dpo":
            result = train_dpo(
                lm, preference_pairs(lm, answers, s, known, inventory, keying), settings
            )
        else:
            result = train_grpo(
                lm,
                reward_prompts(lm, answers, s, known, inventory, keying),
                settings,
                inventory,
            )
        kept = on_trained(s, result) if on_trained is not None else {}
        start = time.perf_counter()
        scored = score_items(
            merged(lm, result.model, settings.method),
            DEFAULT_SYSTEM,
            items,
            inventory,
            batch_size,
        )
        timings = [
            timing_row(s, settings.method, "train", result.seconds),
            timing_row(s, settings.method, "score", time.perf_counter() - start),
        ]
        history = result.history.assign(subject=s, method=settings.method)
        del result
        return (
            subject_predictions(s, scored, answers, inventory),
            timings,
            history,
            kept or {},
        )

    loop = subject_loop(
        checkpoints,
        settings.method,
        model=model_key(lm),
        settings=vars(settings),
        known=known,
        items=items,
        inventory=inventory.name,
        keying=keying,
        batch_size=batch_size,
    )
    done = loop.each(subjects, one, inputs_of=lambda s: answers.loc[s])
    return (
        pd.concat([t for t, _, _, _ in done.values()], ignore_index=True),
        pd.DataFrame([row for _, rows, _, _ in done.values() for row in rows]),
        pd.concat([h for _, _, h, _ in done.values()], ignore_index=True),
        {s: kept for s, (_, _, _, kept) in done.items()},
    )


def write_p2(
    lm: LoadedModel,
    answers: pd.DataFrame,
    subjects: list,
    known: list[str],
    inventory: Inventory,
    keying: str,
    max_new_tokens: int,
    temperature: float,
    seed: int = 0,
    checkpoints: Checkpoints | None = None,
) -> tuple[dict[object, str], dict[object, float]]:
    """P2 descriptions the model writes itself from each subject's known answers (chapters 06 and 08), and the
    seconds each took to write."""

    def one(s) -> tuple[str, float]:
        texts, values = known_answers(answers, s, known, inventory, keying)
        start = time.perf_counter()
        text = generate_p2_persona(
            lm,
            texts,
            values.tolist(),
            inventory,
            max_new_tokens=max_new_tokens,
            temperature=temperature,
            seed=seed,
        )
        return text, time.perf_counter() - start

    loop = subject_loop(
        checkpoints,
        "p2_generated",
        model=model_key(lm),
        known=known,
        inventory=inventory.name,
        keying=keying,
        max_new_tokens=max_new_tokens,
        temperature=temperature,
        seed=seed,
    )
    done = loop.each(subjects, one, inputs_of=lambda s: answers.loc[s])
    return {s: text for s, (text, _) in done.items()}, {
        s: seconds for s, (_, seconds) in done.items()
    }

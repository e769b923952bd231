"""Every subject through one method: the one implementation of each method's per-subject loop.

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

import numpy as np
import pandas as pd

from .checkpoints import Checkpoints
from .pas_subject import PASSettings, align_subject, oracle_subject, score_steered
from .inventories import Inventory, shown_values
from .metrics import subject_predictions
from .models import LoadedModel
from .pas import Persona
from .probing import MIN_USABLE, contrast_labels
from .preference import TrainResult, TrainSettings, merged, preference_pairs, reward_prompts, train_dpo, train_grpo
from .prompt_baselines import generate_p2_persona, known_answers, score_items
from .prompts import DEFAULT_SYSTEM


def _timing(subject, method: str, stage: str, seconds: float) -> dict:
    return {"subject": subject, "method": method, "stage": stage, "seconds": float(seconds)}


def model_key(lm: LoadedModel) -> list[str]:
    """What identifies the model a checkpoint was computed with: id, revision, device and dtype."""
    return [lm.model_id, str(lm.revision), str(lm.device), str(lm.dtype)]


def _loop(checkpoints: Checkpoints | None, label: str, **inputs) -> Checkpoints:
    """The loop's checkpoints (none kept when not given), keyed by its inputs."""
    return (checkpoints or Checkpoints.off(label)).keyed(**inputs)


def run_prompted(
    lm: LoadedModel, answers: pd.DataFrame, subjects: list, method: str, system_of: Callable[[object], str],
    items: list[str], inventory: Inventory, batch_size: int = 16, checkpoints: Checkpoints | None = None,
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
        timings = [_timing(s, method, "prompt", prompt_s), _timing(s, method, "score", time.perf_counter() - start)]
        return subject_predictions(s, scored, answers, inventory), timings

    loop = _loop(checkpoints, method, model=model_key(lm), method=method, items=items, inventory=inventory.name,
                 batch_size=batch_size)
    done = loop.each(subjects, one, inputs_of=lambda s: [system_of(s), answers.loc[s]])
    return (pd.concat([t for t, _ in done.values()], ignore_index=True),
            pd.DataFrame([row for _, rows in done.values() for row in rows]))


def run_pas(
    lm: LoadedModel, acts: np.ndarray, act_items: list[str], answers: pd.DataFrame, subjects: list, method: str,
    system_of: Callable[[object], str], known: list[str], validation: list[str], items: list[str],
    inventory: Inventory, keying: str, settings: PASSettings = PASSettings(), unsteered: pd.DataFrame | None = None,
    checkpoints: Checkpoints | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame, dict[object, Persona]]:
    """PAS per subject: probes on ``known``, alpha on ``validation``, then one pass over ``items``.

    Also returns each subject's persona (alpha set), e.g. to save with :func:`palign_nb.pas.save_persona`.
    A subject with fewer than ``MIN_USABLE`` decided known answers (not 3, not missing) cannot be
    probed: it gets the prompt alone (alpha 0), marked ``fallback=True`` in its rows, and no persona.
    ``settings``: :class:`palign_nb.pas_subject.PASSettings`, as :func:`palign_nb.pas_subject.align_subject` uses them.
    ``unsteered``: the same prompts' predictions without steering (:func:`run_prompted` on ``items``), reused
    where a subject's test pass would be unsteered (alpha 0, or the fallback) instead of scoring it again; such a
    test pass is timed as 0 s here, since its cost is in the unsteered method's timings.
    """
    def unsteered_rows(s) -> pd.DataFrame | None:
        if unsteered is None or not (unsteered["subject"] == s).any():
            return None
        return unsteered[unsteered["subject"] == s].reset_index(drop=True)

    def one(s) -> tuple[pd.DataFrame, list[dict], Persona | None]:
        system, timings = system_of(s), []

        def test_pass(persona: Persona | None, alpha: float) -> pd.DataFrame:
            start = time.perf_counter()
            reused = unsteered_rows(s) if alpha == 0.0 else None
            if reused is not None:
                timings.append(_timing(s, method, "test_pass", 0.0))
                return reused
            scored = (score_items(lm, system, items, inventory, settings.batch_size) if persona is None
                      else score_steered(lm, persona, alpha, system, items, inventory, settings.batch_size))
            timings.append(_timing(s, method, "test_pass", time.perf_counter() - start))
            return subject_predictions(s, scored, answers, inventory)

        usable = int(contrast_labels(shown_values(answers.loc[s], known, inventory, keying))[0].sum())
        if usable < MIN_USABLE:  # too few decided answers to probe: no steering, the prompt alone
            return test_pass(None, 0.0).assign(alpha=0.0, fallback=True), timings, None
        fit = align_subject(lm, acts, act_items, answers.loc[s], known, validation, inventory, keying, system, settings)
        timings += [_timing(s, method, stage, sec) for stage, sec in fit.seconds.items()]
        fit.persona.meta.update({"model_id": lm.model_id, "model_revision": lm.revision, "subject": s, "method": method,
                                 "inventory": inventory.name})  # with align_subject's: what load_persona checks
        table = test_pass(fit.persona, fit.persona.alpha).assign(alpha=fit.persona.alpha, fallback=False)
        return table, timings, fit.persona

    loop = _loop(checkpoints, method, model=model_key(lm), method=method, acts=acts, act_items=act_items, known=known,
                 validation=validation, items=items, inventory=inventory.name, keying=keying, **settings.as_key())
    done = loop.each(subjects, one, inputs_of=lambda s: [system_of(s), answers.loc[s], unsteered_rows(s)])
    return (pd.concat([t for t, _, _ in done.values()], ignore_index=True),
            pd.DataFrame([row for _, rows, _ in done.values() for row in rows]),
            {s: persona for s, (_, _, persona) in done.items() if persona is not None})


def run_pas_oracle(
    lm: LoadedModel, acts: np.ndarray, act_items: list[str], answers: pd.DataFrame, subjects: list,
    system_of: Callable[[object], str], known: list[str], items: list[str], inventory: Inventory, keying: str,
    settings: PASSettings = PASSettings(), checkpoints: Checkpoints | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """The paper's released procedure, labelled oracle: probes on all ``known`` items, every alpha scored on
    the **test** ``items``, and the best one kept (:ref:`paper-pitfalls`).

    Returns the oracle's predictions, the predictions at alpha = 0 (the same prompt unsteered: the
    paper's few-shot baseline) and the timings. Shown only to measure how much choosing alpha on the
    test items flatters PAS; never a held-out estimate.
    """
    def one(s) -> tuple[pd.DataFrame, pd.DataFrame | None, dict]:
        start = time.perf_counter()
        run = oracle_subject(lm, acts, act_items, answers.loc[s], known, items, inventory, keying, system_of(s), settings)
        table = subject_predictions(s, run.tables[run.persona.alpha], answers, inventory).assign(
            alpha=run.persona.alpha, fallback=False)
        baseline = subject_predictions(s, run.tables[0.0], answers, inventory) if 0.0 in run.tables else None
        return table, baseline, _timing(s, "pas_oracle", "total", time.perf_counter() - start)

    loop = _loop(checkpoints, "pas_oracle", model=model_key(lm), acts=acts, act_items=act_items, known=known,
                 items=items, inventory=inventory.name, keying=keying,
                 **(settings.as_key() | {"refine": None, "alpha_criterion": None}))  # the oracle uses neither
    done = loop.each(subjects, one, inputs_of=lambda s: [system_of(s), answers.loc[s]])
    baseline = [b for _, b, _ in done.values() if b is not None]
    return (pd.concat([t for t, _, _ in done.values()], ignore_index=True),
            pd.concat(baseline, ignore_index=True) if baseline else pd.DataFrame(),
            pd.DataFrame([timing for _, _, timing in done.values()]))


def run_preference(
    lm: LoadedModel, answers: pd.DataFrame, subjects: list, settings: TrainSettings, known: list[str],
    items: list[str], inventory: Inventory, keying: str, batch_size: int = 16,
    on_trained: Callable[[object, TrainResult], dict] | None = None, checkpoints: Checkpoints | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, dict[object, dict]]:
    """DPO or the RL baseline (``settings.method``): one LoRA adapter per subject on its known answers.

    ``on_trained(subject, result)`` runs before the adapter is merged (e.g. to save it) and returns a dict
    (e.g. where it saved it), kept with the subject's checkpoint and returned per subject. Also returns
    the training history (loss or reward per step) of every subject.
    """
    def one(s) -> tuple[pd.DataFrame, list[dict], pd.DataFrame, dict]:
        if settings.method == "dpo":
            result = train_dpo(lm, preference_pairs(lm, answers, s, known, inventory, keying), settings)
        else:
            result = train_grpo(lm, reward_prompts(lm, answers, s, known, inventory, keying), settings, inventory)
        kept = on_trained(s, result) if on_trained is not None else {}
        start = time.perf_counter()
        scored = score_items(merged(lm, result.model, settings.method), DEFAULT_SYSTEM, items, inventory, batch_size)
        timings = [_timing(s, settings.method, "train", result.seconds),
                   _timing(s, settings.method, "score", time.perf_counter() - start)]
        history = result.history.assign(subject=s, method=settings.method)
        del result
        return subject_predictions(s, scored, answers, inventory), timings, history, kept or {}

    loop = _loop(checkpoints, settings.method, model=model_key(lm), settings=vars(settings), known=known, items=items,
                 inventory=inventory.name, keying=keying, batch_size=batch_size)
    done = loop.each(subjects, one, inputs_of=lambda s: answers.loc[s])
    return (pd.concat([t for t, _, _, _ in done.values()], ignore_index=True),
            pd.DataFrame([row for _, rows, _, _ in done.values() for row in rows]),
            pd.concat([h for _, _, h, _ in done.values()], ignore_index=True),
            {s: kept for s, (_, _, _, kept) in done.items()})


def write_p2(
    lm: LoadedModel, answers: pd.DataFrame, subjects: list, known: list[str], inventory: Inventory, keying: str,
    max_new_tokens: int, temperature: float, seed: int = 0, checkpoints: Checkpoints | None = None,
) -> tuple[dict[object, str], dict[object, float]]:
    """P2 descriptions the model writes itself from each subject's known answers (chapters 06 and 08), and the
    seconds each took to write."""
    def one(s) -> tuple[str, float]:
        texts, values = known_answers(answers, s, known, inventory, keying)
        start = time.perf_counter()
        text = generate_p2_persona(lm, texts, values.tolist(), inventory, max_new_tokens=max_new_tokens,
                                   temperature=temperature, seed=seed)
        return text, time.perf_counter() - start

    loop = _loop(checkpoints, "p2_generated", model=model_key(lm), known=known, inventory=inventory.name, keying=keying,
                 max_new_tokens=max_new_tokens, temperature=temperature, seed=seed)
    done = loop.each(subjects, one, inputs_of=lambda s: answers.loc[s])
    return {s: text for s, (text, _) in done.items()}, {s: seconds for s, (_, seconds) in done.items()}

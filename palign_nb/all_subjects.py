"""Every subject through one method: the one implementation of each method's per-subject loop.

Chapters 05 to 07 build each method up step by step for one subject, then run all subjects through
these loops; chapter 08 runs the same loops on the Short Dark Triad. Each returns ``predictions``,
one row per subject and item in the format of :func:`palign_nb.metrics.subject_predictions`, and
``timings``, one row per subject, method and stage (``subject``, ``method``, ``stage``, ``seconds``;
the chapter adds ``keying``), so chapter 09 reads every chapter's timings the same way.

Introduced in :doc:`/notebooks/05_pas`.
"""

from __future__ import annotations

import time
from typing import Callable

import numpy as np
import pandas as pd

from .pas_subject import align_subject, oracle_subject, score_steered
from .inventories import Inventory, shown_values
from .metrics import subject_predictions
from .models import LoadedModel
from .pas import PAPER_ALPHAS, Persona
from .probing import MIN_USABLE, contrast_labels
from .preference import TrainResult, TrainSettings, merged, preference_pairs, reward_prompts, train_dpo, train_grpo
from .prompt_baselines import score_items
from .prompts import DEFAULT_SYSTEM


def _timing(subject, method: str, stage: str, seconds: float) -> dict:
    return {"subject": subject, "method": method, "stage": stage, "seconds": float(seconds)}


def run_prompted(
    lm: LoadedModel, answers: pd.DataFrame, subjects: list, method: str, system_of: Callable[[object], str],
    items: list[str], inventory: Inventory, batch_size: int = 16,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A prompting method (no alignment, ICL, P2): ``system_of(subject)`` is its system prompt."""
    tables, timings = [], []
    for s in subjects:
        start = time.perf_counter()
        system = system_of(s)
        prompt_s = time.perf_counter() - start
        start = time.perf_counter()
        scored = score_items(lm, system, items, inventory, batch_size)
        timings += [_timing(s, method, "prompt", prompt_s), _timing(s, method, "score", time.perf_counter() - start)]
        tables.append(subject_predictions(s, scored, answers, inventory))
    return pd.concat(tables, ignore_index=True), pd.DataFrame(timings)


def run_pas(
    lm: LoadedModel, acts: np.ndarray, act_items: list[str], answers: pd.DataFrame, subjects: list, method: str,
    system_of: Callable[[object], str], known: list[str], validation: list[str], items: list[str],
    inventory: Inventory, keying: str, top_k: int = 24, alphas: tuple[float, ...] = PAPER_ALPHAS,
    seed: int = 0, batch_size: int = 16, probe_solver: str = "sklearn", direction: str = "mass_mean",
    refine: bool = False, alpha_criterion: str = "argmax", unsteered: pd.DataFrame | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame, dict[object, Persona]]:
    """PAS per subject: probes on ``known``, alpha on ``validation``, then one pass over ``items``.

    Also returns each subject's persona (alpha set), e.g. to save with :func:`palign_nb.pas.save_persona`.
    A subject with fewer than ``MIN_USABLE`` decided known answers (not 3, not missing) cannot be
    probed: it gets the prompt alone (alpha 0), marked ``fallback=True`` in its rows, and no persona.
    ``direction``, ``refine`` and ``alpha_criterion`` are those of :func:`palign_nb.pas_subject.align_subject`.
    ``unsteered``: the same prompts' predictions without steering (:func:`run_prompted` on ``items``), reused
    where a subject's test pass would be unsteered (alpha 0, or the fallback) instead of scoring it again; such a
    test pass is timed as 0 s here, since its cost is in the unsteered method's timings.
    """
    tables, timings, personas = [], [], {}

    def test_pass(s, persona: Persona | None, alpha: float) -> pd.DataFrame:
        start = time.perf_counter()
        if alpha == 0.0 and unsteered is not None and (unsteered["subject"] == s).any():
            table = unsteered[unsteered["subject"] == s].reset_index(drop=True)
            timings.append(_timing(s, method, "test_pass", 0.0))
            return table
        scored = (score_items(lm, system, items, inventory, batch_size) if persona is None
                  else score_steered(lm, persona, alpha, system, items, inventory, batch_size))
        timings.append(_timing(s, method, "test_pass", time.perf_counter() - start))
        return subject_predictions(s, scored, answers, inventory)

    for s in subjects:
        system = system_of(s)
        usable = int(contrast_labels(shown_values(answers.loc[s], known, inventory, keying))[0].sum())
        if usable < MIN_USABLE:  # too few decided answers to probe: no steering, the prompt alone
            tables.append(test_pass(s, None, 0.0).assign(alpha=0.0, fallback=True))
            continue
        fit = align_subject(lm, acts, act_items, answers.loc[s], known, validation, inventory, keying, system,
                            top_k=top_k, alphas=alphas, refine=refine, seed=seed, direction=direction,
                            batch_size=batch_size, probe_solver=probe_solver, alpha_criterion=alpha_criterion)
        timings += [_timing(s, method, stage, sec) for stage, sec in fit.seconds.items()]
        tables.append(test_pass(s, fit.persona, fit.persona.alpha).assign(alpha=fit.persona.alpha, fallback=False))
        personas[s] = fit.persona
    return pd.concat(tables, ignore_index=True), pd.DataFrame(timings), personas


def run_pas_oracle(
    lm: LoadedModel, acts: np.ndarray, act_items: list[str], answers: pd.DataFrame, subjects: list,
    system_of: Callable[[object], str], known: list[str], items: list[str], inventory: Inventory, keying: str,
    top_k: int = 24, alphas: tuple[float, ...] = PAPER_ALPHAS, seed: int = 0, batch_size: int = 16,
    probe_solver: str = "sklearn", direction: str = "mass_mean",
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """The paper's released procedure, labelled oracle: probes on all ``known`` items, every alpha scored on
    the **test** ``items``, and the best one kept (:ref:`paper-pitfalls`).

    Returns the oracle's predictions, the predictions at alpha = 0 (the same prompt unsteered: the
    paper's few-shot baseline) and the timings. Shown only to measure how much choosing alpha on the
    test items flatters PAS; never a held-out estimate.
    """
    tables, baseline, timings = [], [], []
    for s in subjects:
        start = time.perf_counter()
        run = oracle_subject(lm, acts, act_items, answers.loc[s], known, items, inventory, keying, system_of(s), top_k,
                             alphas, seed, batch_size, probe_solver, direction)
        tables.append(subject_predictions(s, run.tables[run.persona.alpha], answers, inventory)
                      .assign(alpha=run.persona.alpha, fallback=False))
        if 0.0 in run.tables:
            baseline.append(subject_predictions(s, run.tables[0.0], answers, inventory))
        timings.append(_timing(s, "pas_oracle", "total", time.perf_counter() - start))
    return (pd.concat(tables, ignore_index=True), pd.concat(baseline, ignore_index=True) if baseline else pd.DataFrame(),
            pd.DataFrame(timings))


def run_preference(
    lm: LoadedModel, answers: pd.DataFrame, subjects: list, settings: TrainSettings, known: list[str],
    items: list[str], inventory: Inventory, keying: str, batch_size: int = 16,
    on_trained: Callable[[object, TrainResult], None] | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """DPO or the RL baseline (``settings.method``): one LoRA adapter per subject on its known answers.

    ``on_trained(subject, result)`` runs before the adapter is merged (e.g. to save it). Also returns
    the training history (loss or reward per step) of every subject.
    """
    tables, timings, histories = [], [], []
    for s in subjects:
        if settings.method == "dpo":
            result = train_dpo(lm, preference_pairs(lm, answers, s, known, inventory, keying), settings)
        else:
            result = train_grpo(lm, reward_prompts(lm, answers, s, known, inventory, keying), settings, inventory)
        if on_trained is not None:
            on_trained(s, result)
        start = time.perf_counter()
        scored = score_items(merged(lm, result.model, settings.method), DEFAULT_SYSTEM, items, inventory, batch_size)
        timings += [_timing(s, settings.method, "train", result.seconds),
                    _timing(s, settings.method, "score", time.perf_counter() - start)]
        tables.append(subject_predictions(s, scored, answers, inventory))
        histories.append(result.history.assign(subject=s, method=settings.method))
        del result
    return pd.concat(tables, ignore_index=True), pd.DataFrame(timings), pd.concat(histories, ignore_index=True)

"""PAS through every subject: its per-subject loop and the paper's choose-alpha-on-test oracle.

The loops follow :mod:`palign_nb.all_subjects`'s contract (predictions, timings, checkpoints, one
progress line per subject).

Introduced in :doc:`/notebooks/05_pas`.
"""

from __future__ import annotations

import time
from typing import Callable

import numpy as np
import pandas as pd

from .all_subjects import model_key, subject_loop, timing_row
from .checkpoints import Checkpoints
from .inventories import Inventory, shown_values
from .metrics import subject_predictions
from .models import LoadedModel
from .pas import Persona
from .pas_subject import (
    PASSettings,
    SubjectPAS,
    align_subject,
    oracle_subject,
    score_steered,
)
from .probing import MIN_USABLE, contrast_labels
from .prompt_baselines import score_items


def run_pas(
    lm: LoadedModel,
    acts: np.ndarray,
    act_items: list[str],
    answers: pd.DataFrame,
    subjects: list,
    method: str,
    system_of: Callable[[object], str],
    known: list[str],
    validation: list[str],
    items: list[str],
    inventory: Inventory,
    keying: str,
    settings: PASSettings = PASSettings(),
    unsteered: pd.DataFrame | None = None,
    checkpoints: Checkpoints | None = None,
    fits: dict[object, SubjectPAS] | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame, dict[object, Persona]]:
    """PAS per subject: probes on ``known``, alpha on ``validation``, then one pass over ``items``.

    Also returns each subject's persona (alpha set), e.g. to save with :func:`palign_nb.pas.save_persona`.
    A subject with fewer than ``MIN_USABLE`` decided known answers (not 3, not missing) cannot be
    probed: it gets the prompt alone (alpha 0), marked ``fallback=True`` in its rows, and no persona.
    ``settings``: :class:`palign_nb.pas_subject.PASSettings`, as :func:`palign_nb.pas_subject.align_subject` uses them.
    ``unsteered``: the same prompts' predictions without steering (:func:`palign_nb.all_subjects.run_prompted` on ``items``), reused
    where a subject's test pass would be unsteered (alpha 0, or the fallback) instead of scoring it again; such a
    test pass is timed as 0 s here, since its cost is in the unsteered method's timings.
    ``fits``: subjects already aligned with these same inputs (:func:`palign_nb.pas_subject.align_subject`,
    e.g. chapter 05's walkthrough of its first subject), reused instead of fitted again; their timings
    are the reused fit's.
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
                timings.append(timing_row(s, method, "test_pass", 0.0))
                return reused
            scored = (
                score_items(lm, system, items, inventory, settings.batch_size)
                if persona is None
                else score_steered(
                    lm, persona, alpha, system, items, inventory, settings.batch_size
                )
            )
            timings.append(
                timing_row(s, method, "test_pass", time.perf_counter() - start)
            )
            return subject_predictions(s, scored, answers, inventory)

        usable = int(
            contrast_labels(shown_values(answers.loc[s], known, inventory, keying))[
                0
            ].sum()
        )
        if (
            usable < MIN_USABLE
        ):  # too few decided answers to probe: no steering, the prompt alone
            return test_pass(None, 0.0).assign(alpha=0.0, fallback=True), timings, None
        fit = (fits or {}).get(s) or align_subject(
            lm,
            acts,
            act_items,
            answers.loc[s],
            known,
            validation,
            inventory,
            keying,
            system,
            settings,
        )
        timings += [
            timing_row(s, method, stage, sec) for stage, sec in fit.seconds.items()
        ]
        fit.persona.meta.update(
            {
                "model_id": lm.model_id,
                "model_revision": lm.revision,
                "subject": s,
                "method": method,
                "inventory": inventory.name,
            }
        )  # with align_subject's: what load_persona checks
        table = test_pass(fit.persona, fit.persona.alpha).assign(
            alpha=fit.persona.alpha, fallback=False
        )
        return table, timings, fit.persona

    loop = subject_loop(
        checkpoints,
        method,
        model=model_key(lm),
        method=method,
        acts=acts,
        act_items=act_items,
        known=known,
        validation=validation,
        items=items,
        inventory=inventory.name,
        keying=keying,
        **settings.as_key(),
    )
    done = loop.each(
        subjects,
        one,
        inputs_of=lambda s: [system_of(s), answers.loc[s], unsteered_rows(s)],
    )
    return (
        pd.concat([t for t, _, _ in done.values()], ignore_index=True),
        pd.DataFrame([row for _, rows, _ in done.values() for row in rows]),
        {s: persona for s, (_, _, persona) in done.items() if persona is not None},
    )


def run_pas_oracle(
    lm: LoadedModel,
    acts: np.ndarray,
    act_items: list[str],
    answers: pd.DataFrame,
    subjects: list,
    system_of: Callable[[object], str],
    known: list[str],
    items: list[str],
    inventory: Inventory,
    keying: str,
    settings: PASSettings = PASSettings(),
    checkpoints: Checkpoints | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """The paper's released procedure, labelled oracle: probes on all ``known`` items, every alpha scored on
    the **test** ``items``, and the best one kept (:ref:`paper-pitfalls`).

    Returns the oracle's predictions, the predictions at alpha = 0 (the same prompt unsteered: the
    paper's few-shot baseline) and the timings. Shown only to measure how much choosing alpha on the
    test items flatters PAS; never a held-out estimate.
    """

    def one(s) -> tuple[pd.DataFrame, pd.DataFrame | None, dict]:
        start = time.perf_counter()
        run = oracle_subject(
            lm,
            acts,
            act_items,
            answers.loc[s],
            known,
            items,
            inventory,
            keying,
            system_of(s),
            settings,
        )
        table = subject_predictions(
            s, run.tables[run.persona.alpha], answers, inventory
        ).assign(alpha=run.persona.alpha, fallback=False)
        baseline = (
            subject_predictions(s, run.tables[0.0], answers, inventory)
            if 0.0 in run.tables
            else None
        )
        return (
            table,
            baseline,
            timing_row(s, "pas_oracle", "total", time.perf_counter() - start),
        )

    loop = subject_loop(
        checkpoints,
        "pas_oracle",
        model=model_key(lm),
        acts=acts,
        act_items=act_items,
        known=known,
        items=items,
        inventory=inventory.name,
        keying=keying,
        **(settings.as_key() | {"refine": None, "alpha_criterion": None}),
    )  # the oracle uses neither
    done = loop.each(subjects, one, inputs_of=lambda s: [system_of(s), answers.loc[s]])
    baseline = [b for _, b, _ in done.values() if b is not None]
    return (
        pd.concat([t for t, _, _ in done.values()], ignore_index=True),
        pd.concat(baseline, ignore_index=True) if baseline else pd.DataFrame(),
        pd.DataFrame([timing for _, _, timing in done.values()]),
    )

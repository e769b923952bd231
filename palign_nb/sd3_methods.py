"""Every method on the Short Dark Triad (chapter 08): the loops of :mod:`palign_nb.all_subjects`
with the chapter's saves, and what it writes to the results store.

:class:`~palign_nb.sd3_methods.MethodRuns` holds what every method shares (the model, the
answers, the run's subjects and test items) and collects each method's predictions, timings and
training histories as it runs. Each method is one call:
:meth:`~palign_nb.sd3_methods.MethodRuns.prompted` (no alignment, few-shot),
:meth:`~palign_nb.sd3_methods.MethodRuns.p2`, :meth:`~palign_nb.sd3_methods.MethodRuns.pas` (its
personas saved) and :meth:`~palign_nb.sd3_methods.MethodRuns.preference` (DPO or RL, its adapters
saved); :meth:`~palign_nb.sd3_methods.MethodRuns.save` writes the chapter's tables (section 8.9).

Introduced in :doc:`/notebooks/08_dark_triad`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import pandas as pd

from . import all_subjects, pas_every_subject
from .adapters import adapter_dir, save_adapter
from .config import RunConfig, runtime_minutes
from .context import Chapter
from .errors import PalignError
from .inventories import Inventory, check_name
from .models import LoadedModel
from .pas_subject import PASSettings
from .preference import TrainResult, TrainSettings
from .splits import SD3_SETTINGS, ItemSplit, select_subjects


def check_parameters(cfg: RunConfig, setting: str, kmeans_k: int) -> None:
    """Refuse what chapter 08 cannot run: an inventory other than the SD3, an unknown Dark Triad ``setting``, or
    more run subjects than the K-means setting's ``kmeans_k`` test subjects."""
    if cfg.inventory != "sd3":
        raise PalignError(
            f"inventory={cfg.inventory!r}: chapter 08 runs the Short Dark Triad only. "
            "Leave inventory='sd3' (the Big Five chapters are 02 to 07)."
        )
    check_name(setting, tuple(SD3_SETTINGS), "Dark Triad setting (sd3_setting)")
    if setting == "kmeans" and cfg.subjects is None and cfg.n_subjects > kmeans_k:
        raise PalignError(
            f"n_subjects={cfg.n_subjects} but kmeans_k={kmeans_k} test subjects: raise kmeans_k."
        )


def run_subjects(
    answers: pd.DataFrame,
    test_subjects: list[int],
    n_subjects: int,
    subjects: list | None = None,
) -> list[int]:
    """The run's subjects: ``subjects`` if given (each must be a test subject), else the first ``n_subjects``
    test subjects (``answers``: the SD3 table)."""
    return [
        int(s)
        for s in select_subjects(answers.loc[test_subjects], n_subjects, subjects)
    ]


def splits_record(
    setting: str,
    run: list[int],
    test_subjects: list[int],
    known_all: list[str],
    split: ItemSplit,
    test: list[str],
    *,
    seed: int,
    kmeans_k: int,
    known_per_trait: int,
) -> dict[str, Any]:
    """The split the chapter stores as ``splits`` in the SD3 store (chapter 09 reads it back)."""
    selection = (
        "the paper's released 300 SD3 test subjects (data/sd3/paper/dark_triad_Test_set.json) and item "
        "split"
        if setting == "paper"
        else f"K-means representatives (k={kmeans_k}, random_state=42) of the complete SD3 respondents, "
        f"seeded stratified split with {known_per_trait} known items per trait"
    )
    return {
        "inventory": "sd3",
        "setting": setting,
        "subjects": run,
        "test_subjects": [int(s) for s in test_subjects],
        "known": split.known,
        "validation": split.validation,
        "test": test,
        "paper_known": known_all,
        "selection": selection,
        "seed": seed,
    }


@dataclass
class MethodRuns:
    """Every method's run on the same subjects and test ``items``: predictions by method, in the order run."""

    ch: Chapter
    lm: LoadedModel
    answers: pd.DataFrame
    subjects: list
    items: list[str]
    batch_size: int = 16
    predictions: dict[str, pd.DataFrame] = field(default_factory=dict)
    timing_parts: list[pd.DataFrame] = field(default_factory=list)
    histories: list[pd.DataFrame] = field(default_factory=list)
    p2_texts: dict[Any, str] = field(default_factory=dict)

    @property
    def inventory(self) -> Inventory:
        return self.ch.inventory

    @property
    def keying(self) -> str:
        return self.ch.cfg.keying

    def _keep(
        self, method: str, table: pd.DataFrame, timings: pd.DataFrame
    ) -> pd.DataFrame:
        self.predictions[method] = table
        self.timing_parts.append(timings)
        return table

    def prompted(self, method: str, system_of: Callable[[Any], str]) -> pd.DataFrame:
        """A prompting method (:func:`palign_nb.all_subjects.run_prompted`): ``system_of(subject)`` is its
        system prompt."""
        table, timings = all_subjects.run_prompted(
            self.lm,
            self.answers,
            self.subjects,
            method,
            system_of,
            self.items,
            self.inventory,
            self.batch_size,
            checkpoints=self.ch.checkpoints(method),
        )
        return self._keep(method, table, timings)

    def p2(
        self, known: list[str], max_new_tokens: int, temperature: float, seed: int
    ) -> dict[Any, str]:
        """P2: the model writes each subject's description from the ``known`` answers
        (:func:`palign_nb.all_subjects.write_p2`), then answers under it; the writing is timed as its prompt."""
        self.p2_texts, seconds = all_subjects.write_p2(
            self.lm,
            self.answers,
            self.subjects,
            known,
            self.inventory,
            self.keying,
            max_new_tokens,
            temperature,
            seed,
            self.ch.checkpoints("p2_generated"),
        )
        table, timings = all_subjects.run_prompted(
            self.lm,
            self.answers,
            self.subjects,
            "p2",
            self.p2_texts.get,
            self.items,
            self.inventory,
            self.batch_size,
            checkpoints=self.ch.checkpoints("p2"),
        )
        prompt = timings.stage == "prompt"
        timings.loc[prompt, "seconds"] = timings.loc[prompt, "subject"].map(seconds)
        self._keep("p2", table, timings)
        return self.p2_texts

    def pas(
        self,
        method: str,
        system_of: Callable[[Any], str],
        acts: np.ndarray,
        known: list[str],
        validation: list[str],
        settings: PASSettings,
    ) -> pd.DataFrame:
        """PAS per subject (:func:`palign_nb.pas_every_subject.run_pas`): probes on the ``known`` items whose
        activations ``acts`` holds, alpha on ``validation``; each persona saved in the store."""
        table, timings, personas = pas_every_subject.run_pas(
            self.lm,
            acts,
            known,
            self.answers,
            self.subjects,
            method,
            system_of,
            known,
            validation,
            self.items,
            self.inventory,
            self.keying,
            settings,
            checkpoints=self.ch.checkpoints(method),
        )
        self.ch.save_personas(method, self.keying, personas)
        return self._keep(method, table, timings)

    def preference(self, settings: TrainSettings, known: list[str]) -> pd.DataFrame:
        """DPO or RL (``settings.method``; :func:`palign_nb.all_subjects.run_preference`) on the ``known``
        answers, each adapter saved in the store; returns the training history."""
        method = settings.method

        def save(subject: Any, result: TrainResult) -> dict[str, str]:
            path = adapter_dir(self.ch.cfg, method, subject, self.keying)
            return {"path": str(save_adapter(result, path))}

        table, timings, history, _ = all_subjects.run_preference(
            self.lm,
            self.answers,
            self.subjects,
            settings,
            known,
            self.items,
            self.inventory,
            self.keying,
            self.batch_size,
            on_trained=save,
            checkpoints=self.ch.checkpoints(method),
        )
        self.histories.append(history)
        self._keep(method, table, timings)
        return history

    def timings(self) -> pd.DataFrame:
        """Every method's timings so far: one row per subject, method and stage."""
        return pd.concat(self.timing_parts, ignore_index=True)

    def save(
        self,
        record: dict[str, Any],
        trivial: pd.DataFrame,
        capture_s: float,
        select_s: float,
    ) -> dict[str, Any]:
        """Write the split ``record`` (:func:`~palign_nb.sd3_methods.splits_record`), the ``trivial`` scores, every method's predictions,
        the timings (with the activation capture's ``capture_s``), the training histories and the P2 texts;
        returns the chapter's wall time in minutes to glue."""
        ch, setting = self.ch, record["setting"]
        ch.save_json(
            "splits", record, extra={"select_s": select_s, "sd3_setting": setting}
        )
        ch.save_table("trivial_scores", trivial)
        for method, table in self.predictions.items():
            ch.save_predictions(
                method,
                table,
                keying=self.keying,
                extra={"test_items": len(self.items), "sd3_setting": setting},
            )
        ch.save_timings(
            self.timings().assign(keying=self.keying, capture_s=capture_s),
            wall_s=runtime_minutes() * 60,
        )
        ch.save_table(
            "training_history_08", pd.concat(self.histories, ignore_index=True)
        )
        ch.save_json(
            "p2_generated",
            {
                "writer": ch.cfg.model_id,
                "texts": {str(s): t for s, t in self.p2_texts.items()},
            },
        )
        print(
            f"wrote the SD3 splits (setting {setting}), trivial scores and {len(self.predictions)} prediction "
            f"tables to {ch.cfg.results_path}"
        )
        return {"c08_wall_min": runtime_minutes()}

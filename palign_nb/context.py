"""The chapter context: one object per executed chapter that holds its run and records what it found.

Every chapter's first code cell after ``parameters`` is::

    ch = palign_nb.chapter("05_pas", globals())

It reads the parameters the chapter declares (the names in its ``parameters`` cell, with the values
papermill injected), builds and checks the :class:`~palign_nb.config.RunConfig`, seeds every
generator and starts the chapter's clock. It then gives the chapter, in one place:

* ``ch.cfg`` and ``ch.params`` (every declared parameter by name);
* ``ch.splits`` and ``ch.subjects``: chapter 02's split and the run's subjects, resolved once, and
  ``ch.inventory``, ``ch.answers``, ``ch.test_items(n)``, ``ch.activations()`` (chapter 04's cache);
* ``ch.model``: the model, loaded on first use;
* ``ch.record(key, value)`` / ``ch.finding(key, text)``: a number or a sentence glued for the prose, and
  ``ch.glue_all(values)`` for all that a findings function returns;
* ``ch.path(kind, name)``: where personas, activations and adapters live in the results store;
* ``ch.checkpoints(loop)``: per-subject checkpoints of a loop, so a killed chapter resumes where it stopped;
* ``ch.done()``: the chapter's measured runtime and machine, glued for its intro.
"""

from __future__ import annotations

import json
from functools import cached_property
from pathlib import Path
from typing import Any

from .config import (
    RunConfig,
    longest_cell_seconds,
    machine_description,
    runtime_minutes,
    setup,
)
from .errors import PalignError, StoreMissing
from .parameters_cell import declared_parameter_names
from .paths import repo_root

#: The RunConfig fields a chapter may declare; every other parameter goes to ``cfg.extra``.
CONFIG_FIELDS = (
    "model_id",
    "device",
    "dtype",
    "inventory",
    "keying",
    "n_subjects",
    "subjects",
    "seed",
    "results_dir",
)
#: The kinds of files a chapter keeps in the results store besides its tables: folder per kind.
STORE_FOLDERS = {
    "persona": "personas",
    "activations": "activations",
    "adapter": "adapters",
}


class Chapter:
    """One chapter's run: its parameters, config, data choices, model and records."""

    def __init__(self, name: str, params: dict[str, Any]) -> None:
        self.name = name
        self.number = name[:2]
        self.params = dict(params)
        fields = {k: v for k, v in params.items() if k in CONFIG_FIELDS}
        extra = {k: v for k, v in params.items() if k not in CONFIG_FIELDS}
        self.cfg = RunConfig(**fields, extra=extra)
        setup(self.cfg)

    # --- data choices made once -------------------------------------------------------------
    @cached_property
    def splits(self) -> dict:
        """Chapter 02's splits (known, validation and test items; test subjects) from the store."""
        from .store import require_json

        return require_json(self.cfg, "splits", produced_by="02_dataset_splits")

    @cached_property
    def subjects(self) -> list:
        """The subjects this run aligns: ``subjects`` if given, else the first ``n_subjects`` of the split."""
        from .splits import run_subjects

        return run_subjects(self.splits, self.cfg.n_subjects, self.cfg.subjects)

    @cached_property
    def inventory(self):
        """The run's inventory (:class:`~palign_nb.inventories.Inventory`)."""
        from .inventories import get_inventory

        return get_inventory(self.cfg.inventory)

    @cached_property
    def answers(self):
        """The shipped answers of the run's inventory (:func:`palign_nb.data.load_answers`)."""
        from .data import load_answers

        return load_answers(self.cfg.inventory)

    def test_items(self, n_items: int) -> list[str]:
        """The chapter's test items: the first ``n_items // 5`` of every trait (:func:`palign_nb.splits.chapter_items`)."""
        from .splits import chapter_items

        return chapter_items(self.splits, self.inventory, n_items)

    def activations(self):
        """Chapter 04's contrast activations of the known items from the store: ``(acts, items)``."""
        from .activations import load_activations
        from .store import require_json

        index = require_json(
            self.cfg, "activations_index", produced_by="04_head_probing"
        )
        return load_activations(self.path("activations", index["path"].split("/")[-1]))

    @cached_property
    def model(self):
        """The model and tokenizer (:class:`~palign_nb.models.LoadedModel`), loaded on first use."""
        from .models import load_model

        return load_model(self.cfg.model_id, self.cfg.device, self.cfg.dtype)

    # --- records for the prose --------------------------------------------------------------
    def _key(self, key: str) -> str:
        if not key.startswith(f"c{self.number}_"):
            raise PalignError(
                f"glue key {key!r}: chapter {self.name} records keys that start with 'c{self.number}_'."
            )
        return key

    def record(self, key: str, value: Any) -> Any:
        """Glue a plain number or string for ``{glue:text}`` in the prose; returns the value."""
        from myst_nb import glue

        plain = value.item() if hasattr(value, "item") else value
        glue(self._key(key), plain, display=False)
        return plain

    def finding(self, key: str, text: str) -> str:
        """Glue a sentence chosen by the run's numbers (see :mod:`palign_nb.findings`) for ``{glue:md}``."""
        from IPython.display import Markdown
        from myst_nb import glue

        glue(self._key(key), Markdown(text), display=False)
        return text

    def glue_all(self, values: dict[str, Any]) -> dict[str, Any]:
        """Glue every value of a findings function (:mod:`palign_nb.comparison`, :mod:`palign_nb.claims`): each
        :class:`~palign_nb.findings.Sentence` with :meth:`finding`, everything else with :meth:`record`."""
        from .findings import Sentence

        for key, value in values.items():
            self.finding(key, value) if isinstance(value, Sentence) else self.record(
                key, value
            )
        return values

    def done(self) -> float:
        """Glue the chapter's measured runtime (minutes) and machine (with the model's precision), quoted in its
        intro; returns the minutes."""
        minutes = runtime_minutes()
        self.record(f"c{self.number}_runtime_min", minutes)
        machine = machine_description(self.cfg.device)
        if (
            "model" in self.__dict__
        ):  # the precision it computed in, where this chapter ran the model
            from .precision import dtype_name

            machine += f" in {dtype_name(self.model.dtype)}"
        self.record(f"c{self.number}_machine", machine)
        self.record(f"c{self.number}_longest_cell_s", longest_cell_seconds())
        return minutes

    # --- the results store ------------------------------------------------------------------
    def checkpoints(self, loop: str):
        """The per-subject checkpoints of this chapter's loop ``loop`` (:mod:`palign_nb.checkpoints`), kept in
        ``<store>/checkpoints/<chapter>/<loop>``: pass them to a loop of :mod:`palign_nb.all_subjects`, or call
        ``.each(subjects, compute)`` for a loop of the chapter's own."""
        from .checkpoints import Checkpoints, code_version, fingerprint

        if not loop or "/" in loop:
            raise PalignError(
                f"checkpoints({loop!r}): name the loop with a plain word, e.g. 'pas_icl_papi'."
            )
        cells = json.loads(
            (repo_root() / "notebooks" / f"{self.name}.ipynb").read_text()
        )["cells"]
        code = [
            "".join(c["source"]) for c in cells if c["cell_type"] == "code"
        ]  # an edited chapter recomputes
        return Checkpoints(
            self.cfg.results_path / "checkpoints" / self.name / loop,
            label=loop,
            key=fingerprint([code_version(), code]),
        )

    def path(self, kind: str, name: str) -> Path:
        """Where a ``persona``, ``activations`` file or ``adapter`` folder called ``name`` lives in the store."""
        if kind not in STORE_FOLDERS:
            raise PalignError(
                f"kind={kind!r}: the store keeps {', '.join(STORE_FOLDERS)}."
            )
        folder = self.cfg.results_path / STORE_FOLDERS[kind]
        folder.mkdir(parents=True, exist_ok=True)
        return folder / name

    def persona_path(self, method: str, keying: str, subject) -> Path:
        """Where the persona of ``method`` (``pas_icl``, ``pas_alone``) for ``subject`` under ``keying`` is kept."""
        return self.path("persona", f"{method}_{keying}_{subject}")

    def save_personas(self, method: str, keying: str, personas: dict) -> None:
        """Keep every subject's persona of :func:`palign_nb.pas_every_subject.run_pas` (their provenance is set there)."""
        from .pas import save_persona

        for subject, persona in personas.items():
            save_persona(persona, self.persona_path(method, keying, subject))

    def load_persona(self, method: str, keying: str, subject, lm):
        """A persona :meth:`save_personas` kept, checked against ``lm``; a missing one names the chapter to run."""
        from .pas import load_persona

        path = self.persona_path(method, keying, subject)
        if not path.with_suffix(".safetensors").exists():
            chapter = "08_dark_triad" if self.cfg.inventory == "sd3" else "05_pas"
            raise StoreMissing(
                f"No {method} persona for subject {subject} under keying={keying} in the results store "
                f"(looked for {path}.safetensors). Run notebooks/{chapter}.ipynb with the same model_id, "
                f"inventory, keying and results_dir first."
            )
        return load_persona(path, lm)

    def entry(self, extra: dict[str, Any] | None = None) -> dict[str, Any]:
        """The manifest entry's own fields for a write of this chapter: the model's revision once the model is
        loaded, then ``extra`` (the chapter, the run's parameters and the time are added by the store)."""
        loaded = (
            {"model_revision": self.model.revision, "precision": self.model.precision}
            if "model" in self.__dict__
            else {}
        )
        return {**loaded, **(extra or {})}

    def save_table(
        self,
        name: str,
        table,
        wall_s: float | None = None,
        extra: dict[str, Any] | None = None,
    ) -> Path:
        """:func:`palign_nb.store.save_table` as this chapter, with :meth:`entry` in the manifest."""
        from .store import save_table

        return save_table(
            self.cfg,
            name,
            table,
            chapter=self.name,
            wall_s=wall_s,
            extra=self.entry(extra),
        )

    def save_json(
        self,
        name: str,
        obj: Any,
        wall_s: float | None = None,
        extra: dict[str, Any] | None = None,
    ) -> Path:
        """:func:`palign_nb.store.save_json` as this chapter, with :meth:`entry` in the manifest."""
        from .store import save_json

        return save_json(
            self.cfg,
            name,
            obj,
            chapter=self.name,
            wall_s=wall_s,
            extra=self.entry(extra),
        )

    def save_timings(
        self, table, wall_s: float | None = None, extra: dict[str, Any] | None = None
    ) -> Path:
        """This chapter's timings under their registered name (:func:`palign_nb.methods.timings_table`)."""
        from .methods import timings_table

        return self.save_table(
            timings_table(self.name), table, wall_s=wall_s, extra=extra
        )

    def save_predictions(
        self,
        key: str,
        table,
        keying: str = "papi",
        wall_s: float | None = None,
        extra: dict[str, Any] | None = None,
    ) -> str:
        """:func:`palign_nb.store.save_predictions` as this chapter (its registered writer); returns the table's name."""
        from .store import save_predictions

        return save_predictions(
            self.cfg,
            key,
            table,
            chapter=self.name,
            keying=keying,
            wall_s=wall_s,
            extra=self.entry(extra),
        )


def chapter(name: str, namespace: dict[str, Any]) -> Chapter:
    """The context of chapter ``name`` (e.g. ``"05_pas"``), from the parameters it declares in ``namespace``."""
    notebook = repo_root() / "notebooks" / f"{name}.ipynb"
    if not notebook.exists():
        raise PalignError(
            f"chapter({name!r}): no notebooks/{name}.ipynb; give the notebook's file name without .ipynb."
        )
    names = declared_parameter_names(notebook)
    missing = [n for n in names if n not in namespace]
    if missing:
        raise PalignError(
            f"chapter({name!r}): run the parameters cell first (not defined: {', '.join(missing)})."
        )
    return Chapter(name, {n: namespace[n] for n in names})

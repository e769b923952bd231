"""``RunConfig``: a chapter's parameters, validated once, with clear errors; and ``setup``.

Every chapter's first code cell holds literal parameters (papermill overrides them); the next
cell builds a :class:`RunConfig` from them, which checks every value and derives the rest.

Introduced in :doc:`/notebooks/01_inventories`.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from .errors import PalignError
from .inventories import KEYINGS, check_name, get_inventory
from .models import EMBEDDED_ID
from .paths import resolve_results_dir


@dataclass
class RunConfig:
    """The shared parameters of every chapter (chapter-specific ones go in ``extra``)."""

    model_id: str = EMBEDDED_ID
    device: str = "auto"
    dtype: str = "auto"
    inventory: str = "ipip"
    keying: str = "papi"
    n_subjects: int = 8
    subjects: list | None = None
    seed: int = 0
    results_dir: str = "results"
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        get_inventory(self.inventory)
        check_name(self.keying, KEYINGS, "keying")
        check_name(self.device.split(":")[0], ("auto", "cpu", "cuda", "mps"), "device")
        check_name(self.dtype, ("auto", "float32", "bfloat16", "float16"), "dtype")
        if not isinstance(self.n_subjects, int) or self.n_subjects < 1:
            raise PalignError(
                f"n_subjects must be a positive integer, got {self.n_subjects!r}."
            )
        if isinstance(
            self.subjects, str
        ):  # papermill's `-p subjects "[1, 2]"` passes the list as text
            try:
                self.subjects = yaml.safe_load(self.subjects)
            except yaml.YAMLError:
                pass  # reported just below
        if self.subjects is not None and (
            not isinstance(self.subjects, (list, tuple)) or not self.subjects
        ):
            raise PalignError(
                f"subjects must be a non-empty list of subject ids or None, got {self.subjects!r}."
            )

    @property
    def model_slug(self) -> str:
        """The model id as a folder name."""
        return self.model_id.strip("/").replace("/", "--").replace(" ", "_")

    @property
    def results_path(self) -> Path:
        """``<results_dir>/<model>/<inventory>``: where this run's results live."""
        return resolve_results_dir(self.results_dir) / self.model_slug / self.inventory

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def hash(self) -> str:
        """A short hash of every parameter (for file names and caches)."""
        return hashlib.sha256(
            json.dumps(self.as_dict(), sort_keys=True, default=str).encode()
        ).hexdigest()[:12]


_STARTED: list[float] = []
_CELL_STARTED: list[float] = []  # when the cell running now started
_CELL_SECONDS: list[
    float
] = []  # every finished cell's seconds since setup, in this kernel


def _cell_started(*_: Any) -> None:
    _CELL_STARTED[:] = [time.perf_counter()]


def _cell_finished(*_: Any) -> None:
    if _CELL_STARTED:
        _CELL_SECONDS.append(time.perf_counter() - _CELL_STARTED[0])


def _time_cells() -> None:
    """Time every cell from now on (IPython's pre/post_run_cell events), once per kernel; nothing outside IPython."""
    try:
        from IPython import get_ipython
    except ImportError:
        return
    shell = get_ipython()
    if shell is None:
        return
    for event, callback in (
        ("pre_run_cell", _cell_started),
        ("post_run_cell", _cell_finished),
    ):
        if callback not in shell.events.callbacks[event]:
            shell.events.register(event, callback)


def setup(cfg: RunConfig, threads: int | None = None) -> None:
    """Seed every generator, cap CPU threads, start the chapter's clock, and print one line describing the run."""
    import torch

    _STARTED[:] = [time.perf_counter()]
    _CELL_SECONDS.clear()
    _CELL_STARTED.clear()
    _time_cells()
    random.seed(cfg.seed)
    np.random.seed(cfg.seed)
    torch.manual_seed(cfg.seed)
    n = threads or int(os.environ.get("OMP_NUM_THREADS", os.cpu_count() or 1))
    torch.set_num_threads(n)
    print(
        f"model={cfg.model_id} device={cfg.device} inventory={cfg.inventory} keying={cfg.keying} "
        f"seed={cfg.seed} results={cfg.results_path}"
    )


def runtime_minutes() -> float:
    """Minutes since :func:`setup` ran in this kernel: the chapter's measured runtime, glued in its intro."""
    if not _STARTED:
        raise PalignError(
            "runtime_minutes() before setup(cfg): run the chapter's setup cell first."
        )
    return (time.perf_counter() - _STARTED[0]) / 60


def longest_cell_seconds() -> float:
    """The longest cell since :func:`setup` (the one running now counts with its time so far); 0 outside IPython."""
    running = [time.perf_counter() - _CELL_STARTED[0]] if _CELL_STARTED else []
    return max(_CELL_SECONDS + running, default=0.0)


def machine_description(device: str = "auto") -> str:
    """What the chapter ran on, for the runtime line: the GPU's name, or the CPU threads torch uses."""
    import torch

    if device != "cpu" and torch.cuda.is_available():
        return f"one {torch.cuda.get_device_name(0)} GPU"
    return f"{torch.get_num_threads()} CPU thread{'s' if torch.get_num_threads() != 1 else ''}"

"""The results store: how chapters hand results to each other, on disk.

Layout: ``<results_dir>/<model>/<inventory>/<name>.csv`` (tables) or ``<name>.json`` (small
objects), and ``manifest.jsonl`` with one line per write: what was written, the run's parameters,
model revision, data hashes, package versions, git commit, and wall time. :func:`save_predictions` / :func:`load_predictions` write and read a registered method's predictions
(:mod:`palign_nb.methods`) in one shape; :func:`palign_nb.merging.merge_stores` joins the stores of a run
split by subjects over several GPUs or machines (:doc:`/book/full_scale`).

Introduced in :doc:`/notebooks/02_dataset_splits`.
"""

from __future__ import annotations

import json
import subprocess
import time
from importlib import metadata
from pathlib import Path
from typing import Any

import pandas as pd

from .config import RunConfig
from .errors import PalignError, StoreMissing
from .inventories import get_inventory
from .methods import method as registered_method, timings_table
from .paths import repo_root

PACKAGES = ("torch", "transformers", "peft", "trl", "scikit-learn", "pandas", "numpy", "altair")


def _git_commit() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo_root(), capture_output=True, text=True, timeout=10)
        return out.stdout.strip() or "unknown"
    except OSError:
        return "unknown"


def package_versions() -> dict[str, str]:
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "absent"
    return versions


def _manifest(cfg: RunConfig, name: str, chapter: str, wall_s: float | None, extra: dict[str, Any] | None) -> None:
    entry = {
        "name": name,
        "chapter": chapter,
        "written_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "wall_s": wall_s,
        "params": cfg.as_dict(),
        "git_commit": _git_commit(),
        "packages": package_versions(),
        **(extra or {}),
    }
    with open(cfg.results_path / "manifest.jsonl", "a") as f:
        f.write(json.dumps(entry, default=str) + "\n")


def save_table(cfg: RunConfig, name: str, table: pd.DataFrame, chapter: str,
               wall_s: float | None = None, extra: dict[str, Any] | None = None) -> Path:
    """Write a table to the store (replacing any earlier one of that name) and log it in the manifest."""
    cfg.results_path.mkdir(parents=True, exist_ok=True)
    path = cfg.results_path / f"{name}.csv"
    table.to_csv(path, index=False)
    _manifest(cfg, name, chapter, wall_s, extra)
    return path


def save_json(cfg: RunConfig, name: str, obj: Any, chapter: str,
              wall_s: float | None = None, extra: dict[str, Any] | None = None) -> Path:
    """Write a small JSON object to the store and log it in the manifest."""
    cfg.results_path.mkdir(parents=True, exist_ok=True)
    path = cfg.results_path / f"{name}.json"
    path.write_text(json.dumps(obj, indent=1, default=str))
    _manifest(cfg, name, chapter, wall_s, extra)
    return path


def _missing(cfg: RunConfig, name: str, produced_by: str) -> StoreMissing:
    return StoreMissing(
        f"No '{name}' in the results store for model={cfg.model_id}, inventory={cfg.inventory} "
        f"(looked in {cfg.results_path}). Run notebooks/{produced_by}.ipynb with the same model_id, "
        f"inventory and results_dir first."
    )


def require_table(cfg: RunConfig, name: str, produced_by: str) -> pd.DataFrame:
    """Read a table an earlier chapter wrote, or raise :class:`.StoreMissing` naming that chapter."""
    path = cfg.results_path / f"{name}.csv"
    if not path.exists():
        raise _missing(cfg, name, produced_by)
    return pd.read_csv(path)


def require_json(cfg: RunConfig, name: str, produced_by: str) -> Any:
    """Read a JSON object an earlier chapter wrote, or raise :class:`.StoreMissing` naming that chapter."""
    path = cfg.results_path / f"{name}.json"
    if not path.exists():
        raise _missing(cfg, name, produced_by)
    return json.loads(path.read_text())


def read_manifest(cfg: RunConfig) -> pd.DataFrame:
    """Every manifest line of this model and inventory, oldest first."""
    path = cfg.results_path / "manifest.jsonl"
    if not path.exists():
        return pd.DataFrame()
    return pd.DataFrame([json.loads(line) for line in path.read_text().splitlines() if line.strip()])


#: The columns every predictions table has: who, which item, the literal answer read out, its trait,
#: and the stored answer the target is computed from (option probabilities ``p_A``..``p_E`` follow when scored).
PREDICTION_COLUMNS = ("subject", "item", "predicted", "trait", "stored")


def save_predictions(cfg: RunConfig, key: str, table: pd.DataFrame, chapter: str, keying: str = "papi",
                     wall_s: float | None = None, extra: dict[str, Any] | None = None) -> str:
    """Write method ``key``'s predictions under its registered name (:mod:`palign_nb.methods`); returns the name.

    The chapter must be the method's registered writer for this inventory, and the table must hold
    :data:`PREDICTION_COLUMNS`; subject ids are stored as integers.
    """
    m = registered_method(key)
    if chapter != m.writer(cfg.inventory):
        raise PalignError(f"{chapter} wrote predictions of {key!r}, whose registered writer for {cfg.inventory} is "
                          f"{m.writer(cfg.inventory)}: change palign_nb.methods.METHODS or write it from that chapter.")
    missing = [c for c in PREDICTION_COLUMNS if c not in table]
    if missing:
        raise PalignError(f"predictions of {key!r} lack the columns {missing}: build them with metrics.subject_predictions.")
    name = m.table(keying)
    save_table(cfg, name, table.astype({"subject": int}), chapter=chapter, wall_s=wall_s, extra=extra)
    return name


def load_predictions(cfg: RunConfig, key: str, keying: str = "papi", graded_as: str | None = None) -> pd.DataFrame:
    """Method ``key``'s predictions as shown ``keying`` answers, with integer subject ids.

    With ``graded_as`` (a keying), a ``target`` column under that convention is added; without it the
    table has only the stored answers, for a reader that grades it under several conventions. A missing
    table names the chapter that writes it.
    """
    from .metrics import add_targets

    m = registered_method(key)
    table = require_table(cfg, m.table(keying), produced_by=m.writer(cfg.inventory)).astype({"subject": int})
    return add_targets(table, get_inventory(cfg.inventory), graded_as) if graded_as else table


def load_timings(cfg: RunConfig, chapter: str) -> pd.DataFrame:
    """A chapter's timings (:meth:`palign_nb.context.Chapter.save_timings`), or :class:`.StoreMissing` naming it."""
    return require_table(cfg, timings_table(chapter), produced_by=chapter)


"""The results store: how chapters hand results to each other, on disk.

Layout: ``<results_dir>/<model>/<inventory>/<name>.csv`` (tables) or ``<name>.json`` (small
objects), and ``manifest.jsonl`` with one line per write: what was written (file, rows, content hash), the
run's parameters, model revision, package versions, git commit, and wall time. Every write goes to a
temporary file that is renamed into place, and every read checks the file against its manifest line,
so a killed chapter can never leave a table that reads half. :func:`save_predictions` / :func:`load_predictions` write and read a registered method's predictions
(:mod:`palign_nb.methods`) in one shape; :func:`palign_nb.merging.merge_stores` joins the stores of a run
split by subjects over several GPUs or machines (:doc:`/book/full_scale`).

Introduced in :doc:`/notebooks/02_dataset_splits`.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import time
from importlib import metadata
from pathlib import Path
from typing import Any, Callable

import pandas as pd

from .config import RunConfig
from .errors import PalignError, StoreCorrupt, StoreMissing
from .inventories import get_inventory
from .methods import method as registered_method, timings_table
from .paths import repo_root

PACKAGES = (
    "torch",
    "transformers",
    "peft",
    "trl",
    "scikit-learn",
    "pandas",
    "numpy",
    "altair",
)


def _git_commit() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=repo_root(),
            capture_output=True,
            text=True,
            timeout=10,
        )
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


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _append_manifest(cfg: RunConfig, entry: dict[str, Any]) -> None:
    """Append one line to the manifest (starting a new line if a killed write left the last one unfinished)."""
    path = cfg.results_path / "manifest.jsonl"
    with open(path, "a+b") as f:
        f.seek(0, os.SEEK_END)
        if f.tell():
            f.seek(-1, os.SEEK_END)
            if f.read(1) != b"\n":
                f.write(b"\n")
        f.write((json.dumps(entry, default=str) + "\n").encode())
        f.flush()
        os.fsync(f.fileno())


def _write(
    cfg: RunConfig,
    name: str,
    suffix: str,
    write: Callable[[Path], None],
    rows: int | None,
    chapter: str,
    wall_s: float | None,
    extra: dict[str, Any] | None,
) -> Path:
    """Write through a temporary file in the store's folder, log it in the manifest (rows, content hash), then
    rename it into place: a killed write leaves the earlier file whole, and a file the manifest does not
    describe is refused by the readers."""
    cfg.results_path.mkdir(parents=True, exist_ok=True)
    path = cfg.results_path / f"{name}{suffix}"
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        write(tmp)
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        entry = {
            "name": name,
            "file": path.name,
            "rows": rows,
            "sha256": _sha256(tmp),
            "chapter": chapter,
            "written_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "wall_s": wall_s,
            "params": cfg.as_dict(),
            "git_commit": _git_commit(),
            "packages": package_versions(),
            **(extra or {}),
        }
        _append_manifest(cfg, entry)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def save_table(
    cfg: RunConfig,
    name: str,
    table: pd.DataFrame,
    chapter: str,
    wall_s: float | None = None,
    extra: dict[str, Any] | None = None,
) -> Path:
    """Write a table to the store (replacing any earlier one of that name), atomically, and log it in the manifest."""
    return _write(
        cfg,
        name,
        ".csv",
        lambda p: table.to_csv(p, index=False),
        len(table),
        chapter,
        wall_s,
        extra,
    )


def save_json(
    cfg: RunConfig,
    name: str,
    obj: Any,
    chapter: str,
    wall_s: float | None = None,
    extra: dict[str, Any] | None = None,
) -> Path:
    """Write a small JSON object to the store, atomically, and log it in the manifest."""
    text = json.dumps(obj, indent=1, default=str)
    return _write(
        cfg, name, ".json", lambda p: p.write_text(text), None, chapter, wall_s, extra
    )


def _missing(cfg: RunConfig, name: str, produced_by: str) -> StoreMissing:
    return StoreMissing(
        f"No '{name}' in the results store for model={cfg.model_id}, inventory={cfg.inventory} "
        f"(looked in {cfg.results_path}). Run notebooks/{produced_by}.ipynb with the same model_id, "
        f"inventory and results_dir first."
    )


def rewrite_command(cfg: RunConfig, chapter: str) -> str:
    """The command that rewrites a chapter's results in this store."""
    return (
        f".venv/bin/papermill notebooks/{chapter}.ipynb runs/{chapter}.ipynb -p model_id {cfg.model_id} "
        f"-p inventory {cfg.inventory} -p results_dir {cfg.results_dir}"
    )


def checked_path(cfg: RunConfig, name: str, suffix: str, produced_by: str) -> Path:
    """The store file ``name`` once it is checked against its manifest entry (content hash): a missing file
    raises :class:`.StoreMissing`, a truncated, edited or unlisted one :class:`.StoreCorrupt`, each naming the
    chapter that writes it and the command that rewrites it."""
    path = cfg.results_path / f"{name}{suffix}"
    if not path.exists():
        raise _missing(cfg, name, produced_by)
    check_file(
        path,
        _manifest_entries(cfg),
        produced_by,
        lambda chapter: f"`{rewrite_command(cfg, chapter)}`",
    )
    return path


def check_file(
    path: Path,
    entries: list[dict[str, Any]],
    produced_by: str,
    command: Callable[[str], str],
) -> None:
    """Raise :class:`.StoreCorrupt` unless ``path`` is the file its latest manifest entry describes."""
    listed = [
        e
        for e in entries
        if e.get("name") == path.stem and e.get("file", path.name) == path.name
    ]
    chapter = listed[-1].get("chapter", produced_by) if listed else produced_by
    fix = f"Rewrite it with chapter {chapter}: {command(chapter)} (or `make book`)."
    if not listed or "sha256" not in listed[-1]:
        raise StoreCorrupt(
            f"{path} is not listed in the store's manifest (written by hand, by an older version of "
            f"the book, or its manifest line was lost), so it cannot be trusted. {fix}"
        )
    entry = listed[-1]
    if _sha256(path) != entry["sha256"]:
        rows = (
            f"; the manifest records {entry['rows']} rows"
            if entry.get("rows") is not None
            else ""
        )
        raise StoreCorrupt(
            f"{path} is not the file chapter {chapter} wrote at {entry.get('written_at')} (its content "
            f"hash differs{rows}): it was truncated by a killed write or edited by hand. {fix}"
        )


def require_table(cfg: RunConfig, name: str, produced_by: str) -> pd.DataFrame:
    """Read a table an earlier chapter wrote, checked against the manifest (:func:`checked_path`)."""
    return pd.read_csv(checked_path(cfg, name, ".csv", produced_by))


def require_json(cfg: RunConfig, name: str, produced_by: str) -> Any:
    """Read a JSON object an earlier chapter wrote, checked against the manifest (:func:`checked_path`)."""
    return json.loads(checked_path(cfg, name, ".json", produced_by).read_text())


def _manifest_entries(cfg: RunConfig) -> list[dict[str, Any]]:
    """Every readable manifest line, oldest first (a line a killed write left unfinished is skipped)."""
    path = cfg.results_path / "manifest.jsonl"
    if not path.exists():
        return []
    entries = []
    for line in path.read_text().splitlines():
        try:
            entries.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return entries


def read_manifest(cfg: RunConfig) -> pd.DataFrame:
    """Every manifest line of this model and inventory, oldest first."""
    return pd.DataFrame(_manifest_entries(cfg))


#: The columns every predictions table has: who, which item, the literal answer read out, its trait,
#: and the stored answer the target is computed from (option probabilities ``p_A``..``p_E`` follow when scored).
PREDICTION_COLUMNS = ("subject", "item", "predicted", "trait", "stored")


def save_predictions(
    cfg: RunConfig,
    key: str,
    table: pd.DataFrame,
    chapter: str,
    keying: str = "papi",
    wall_s: float | None = None,
    extra: dict[str, Any] | None = None,
) -> str:
    """Write method ``key``'s predictions under its registered name (:mod:`palign_nb.methods`); returns the name.

    The chapter must be the method's registered writer for this inventory, and the table must hold
    :data:`PREDICTION_COLUMNS`; subject ids are stored as integers.
    """
    m = registered_method(key)
    if chapter != m.writer(cfg.inventory):
        raise PalignError(
            f"{chapter} wrote predictions of {key!r}, whose registered writer for {cfg.inventory} is "
            f"{m.writer(cfg.inventory)}: change palign_nb.methods.METHODS or write it from that chapter."
        )
    missing = [c for c in PREDICTION_COLUMNS if c not in table]
    if missing:
        raise PalignError(
            f"predictions of {key!r} lack the columns {missing}: build them with metrics.subject_predictions."
        )
    name = m.table(keying)
    save_table(
        cfg,
        name,
        table.astype({"subject": int}),
        chapter=chapter,
        wall_s=wall_s,
        extra=extra,
    )
    return name


def load_predictions(
    cfg: RunConfig, key: str, keying: str = "papi", graded_as: str | None = None
) -> pd.DataFrame:
    """Method ``key``'s predictions as shown ``keying`` answers, with integer subject ids.

    With ``graded_as`` (a keying), a ``target`` column under that convention is added; without it the
    table has only the stored answers, for a reader that grades it under several conventions. A missing
    table names the chapter that writes it.
    """
    from .metrics import add_targets

    m = registered_method(key)
    table = require_table(
        cfg, m.table(keying), produced_by=m.writer(cfg.inventory)
    ).astype({"subject": int})
    return (
        add_targets(table, get_inventory(cfg.inventory), graded_as)
        if graded_as
        else table
    )


def load_timings(cfg: RunConfig, chapter: str) -> pd.DataFrame:
    """A chapter's timings (:meth:`palign_nb.context.Chapter.save_timings`), or :class:`.StoreMissing` naming it."""
    return require_table(cfg, timings_table(chapter), produced_by=chapter)

"""``palign-run``'s plan: which chapter runs where, on which shard of the subjects, after what.

:data:`STAGES` is the one table the planner reads: each chapter's place in the run's graph and the
store folder its first shard computes for every other. :func:`plan` turns a parameter file, the
run's subjects and a number of shards into :class:`Task` s (one papermill execution each) that
:mod:`palign_nb.ray_run` hands to Ray. Pure apart from reading the notebooks' parameters cells.

Introduced in :doc:`/book/full_scale`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nbformat

from .config import RunConfig
from .parameters_cell import declared_parameters
from .errors import PalignError
from .models import EMBEDDED_ID


@dataclass(frozen=True)
class Stage:
    """How palign-run runs one chapter: where in the graph (``scope``) and what its shards share."""

    scope: str  # "once": into the base store, before any shard; "shard": per Big Five shard, in order;
    #             "dark_triad": per Dark Triad shard; "merged": once, on the merged stores
    shares: str | None = (
        None  # a store folder shard 0 computes and every other shard copies (computed once)
    )


#: Every chapter's place in the run, the one table the planner reads.
STAGES: dict[str, Stage] = {
    "01": Stage("once"),
    "02": Stage("once"),
    "03": Stage("shard"),
    "04": Stage("shard", shares="activations"),
    "05": Stage("shard"),
    "06": Stage("shard"),
    "07": Stage("shard"),
    "08": Stage("dark_triad"),
    "09": Stage("merged"),
    "10": Stage("merged"),
}
SHARED, PER_SHARD, DARK_TRIAD, AFTER = (
    tuple(n for n, s in STAGES.items() if s.scope == scope)
    for scope in ("once", "shard", "dark_triad", "merged")
)
#: Chapter parameters that count subjects of the whole run; a shard gets its share (at least 1).
PER_RUN_COUNTS = ("efficiency_subjects", "variant_subjects")


def chapter_notebooks(folder: Path) -> dict[str, Path]:
    """The chapters by number, ``{"01": .../01_inventories.ipynb, ...}``; each must have a place in :data:`STAGES`."""
    chapters = {p.name[:2]: p for p in sorted(folder.glob("[0-9][0-9]_*.ipynb"))}
    unplaced = [p.name for n, p in chapters.items() if n not in STAGES]
    if unplaced:
        raise PalignError(
            f"{', '.join(unplaced)}: no place in the run (palign_nb.run_plan.STAGES lists chapters "
            f"{', '.join(STAGES)}). Add the chapter's stage there."
        )
    return chapters


def finished(run: Path) -> bool:
    """Whether ``run`` is an executed chapter that stopped on no error."""
    if not run.exists():
        return False
    nb = nbformat.read(run, as_version=4)
    if nb.metadata.get("papermill", {}).get("exception"):
        return False
    return not any(
        o.get("output_type") == "error"
        for c in nb.cells
        if c.cell_type == "code"
        for o in c.get("outputs", [])
    )


def store_path(
    params: dict[str, Any], results_dir: Path, inventory: str = "ipip"
) -> Path:
    """The store folder the chapters use for these parameters (results/<model>/<inventory>)."""
    return RunConfig(
        model_id=params.get("model_id", EMBEDDED_ID),
        inventory=inventory,
        results_dir=str(results_dir),
    ).results_path


def shard_subjects(subjects: list, n_shards: int) -> list[list]:
    """Contiguous, near-equal slices of the run's subjects (order kept)."""
    if not 1 <= n_shards <= len(subjects):
        raise PalignError(
            f"--shards {n_shards} must lie between 1 and the number of subjects ({len(subjects)})."
        )
    size, extra = divmod(len(subjects), n_shards)
    bounds = [0]
    for k in range(n_shards):
        bounds.append(bounds[-1] + size + (k < extra))
    return [subjects[bounds[k] : bounds[k + 1]] for k in range(n_shards)]


def shard_counts(
    params: dict[str, Any], shards: list[list], n_run: int
) -> list[dict[str, int]]:
    """Per-run counts split over the shards: shard k gets the subjects it holds among the run's first ``count``."""
    out = [{} for _ in shards]
    start = 0
    for k, part in enumerate(shards):
        for name in PER_RUN_COUNTS:
            if params.get(name) is not None:  # None: every subject of each shard
                count = min(int(params[name]), n_run)
                out[k][name] = max(1, min(len(part), count - start))
        start += len(part)
    return out


@dataclass
class Task:
    """One papermill execution: chapter, where it writes, what it waits for and what it copies first."""

    label: str
    chapter: str
    output: Path
    parameters: dict[str, Any]
    shard: int | None = None
    after: list[str] = field(default_factory=list)
    copies: list[tuple[Path, Path]] = field(
        default_factory=list
    )  # (from, to), done only if `to` is missing
    error: str = ""


def check_parameters(
    params: dict[str, Any], chapters: dict[str, Path]
) -> dict[str, dict[str, Any]]:
    """Each chapter's declared parameters; refuses a parameter file naming one no chapter declares."""
    declared = {number: declared_parameters(path) for number, path in chapters.items()}
    known = set().union(*declared.values())
    unknown = sorted(set(params) - known)
    if unknown:
        raise PalignError(
            f"The parameter file names {unknown}, which no chapter declares. Check the spelling against "
            "the chapters' parameters cells (`papermill --help-notebook notebooks/NN_x.ipynb`)."
        )
    return declared


def check_store_model(params: dict[str, Any], results: Path) -> None:
    """Refuse to resume into a results folder that holds another model's stores."""
    model = store_path(params, results / "base").parent.name
    for part in sorted(results.glob("*")):
        if part.is_dir():
            others = sorted(
                p.name for p in part.iterdir() if p.is_dir() and p.name != model
            )
            if others:
                raise PalignError(
                    f"{part} holds results of another model ({', '.join(others)}), not {model}. "
                    "Give palign-run another --out folder, or delete that one."
                )


def sd3_subjects(
    params: dict[str, Any], declared: dict[str, Any], n_run: int
) -> list[int]:
    """The Dark Triad subjects chapter 08 runs on for these parameters (its setting's first ``n_run``)."""
    from .data import load_sd3
    from .splits import sd3_design

    p = declared | params
    subjects = sd3_design(
        p["sd3_setting"],
        load_sd3(),
        kmeans_k=p["kmeans_k"],
        known_per_trait=p["sd3_known_per_trait"],
        seed=p["seed"],
    )[0]
    return [int(s) for s in subjects[:n_run]]


def given(
    params: dict[str, Any], declared: dict[str, Any], extra: dict[str, Any]
) -> dict[str, Any]:
    """The run's parameters plus ``extra``, restricted to those a chapter declares."""
    return {k: v for k, v in (params | extra).items() if k in declared}


def shared_tasks(
    params: dict[str, Any],
    declared: dict[str, dict],
    chapters: dict[str, Path],
    out: Path,
) -> list[Task]:
    """Chapters 01 and 02, once, into the base store (run in order before any shard starts)."""
    base = {"results_dir": str(out / "results" / "base")}
    return [
        Task(
            f"{number} (once)",
            number,
            out / "runs" / "base" / chapters[number].name,
            given(params, declared[number], base),
        )
        for number in SHARED
        if number in chapters
    ]


def plan(
    params: dict[str, Any],
    declared: dict[str, dict],
    chapters: dict[str, Path],
    out: Path,
    subjects: list,
    n_shards: int,
    dark_triad: list | None = None,
) -> list[Task]:
    """The shards' tasks, each after what it waits for (the shared chapters have run by then)."""
    runs, results = out / "runs", out / "results"
    tasks = []
    shards = shard_subjects(subjects, n_shards)
    counts = shard_counts(params, shards, len(subjects))
    base_store = store_path(params, results / "base")
    first_of = {}  # shared folder -> shard 0's task that computes it
    for k, part in enumerate(shards):
        shard_dir = results / f"shard-{k}"
        extra = {
            "results_dir": str(shard_dir),
            "n_subjects": len(part),
            "subjects": part,
            **counts[k],
        }
        previous = None
        for number in PER_SHARD:
            if number not in chapters:
                continue
            task = Task(
                f"{number} shard {k}",
                number,
                runs / f"shard-{k}" / chapters[number].name,
                given(params, declared[number], extra),
                shard=k,
                after=[previous] if previous else [],
            )
            if previous is None:  # the shard's first chapter forks the base store
                task.copies.append((base_store, store_path(params, shard_dir)))
            shared = STAGES[number].shares
            if shared and k == 0:
                first_of[shared] = task.label
            elif shared and shared in first_of:
                task.after.append(first_of[shared])
                task.copies.append(
                    (
                        store_path(params, results / "shard-0") / shared,
                        store_path(params, shard_dir) / shared,
                    )
                )
            tasks.append(task)
            previous = task.label
    for number in (n for n in DARK_TRIAD if n in chapters and dark_triad):
        for k, part in enumerate(shard_subjects(dark_triad, n_shards)):
            extra = {
                "results_dir": str(results / f"shard-{k}"),
                "n_subjects": len(part),
                "subjects": part,
            }
            tasks.append(
                Task(
                    f"{number} shard {k}",
                    number,
                    runs / f"shard-{k}" / chapters[number].name,
                    given(params, declared[number], extra),
                    shard=k,
                )
            )
    return tasks

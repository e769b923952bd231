"""Merging split runs: a study split by subjects over several GPUs or machines leaves one results
store per part, and :func:`merge_stores` makes them one store.

Used by ``tools/merge_stores.py`` and :mod:`palign_nb.ray_run`; the rules (what must agree, what is
concatenated) are described in :doc:`/book/full_scale`.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from .errors import PalignError
from .merge_files import merge_json, merge_table, same_file
from .store import _git_commit, _sha256, check_file, package_versions

#: Parameters that may differ between the parts of a split run: where each ran and on whom.
RUN_LOCAL = frozenset(
    {
        "device",
        "n_subjects",
        "subjects",
        "results_dir",
        "batch_size",
        "efficiency_subjects",
        "variant_subjects",
    }
)
#: JSON objects that measure one run (e.g. chapter 03's speed test on its first subject): the
#: merged store keeps the first store's; every store's value is kept in the merge's manifest line.
PER_RUN_JSON = frozenset({"scoring_speed"})


@dataclass
class MergeReport:
    """What :func:`merge_stores` did: per-subject table -> number of subjects, and notes to read."""

    target: Path
    subjects: dict[str, int]
    notes: list[str]


def _kept(rel: Path) -> bool:
    """Whether a store file belongs in the merge: not a run's own checkpoints, not a temporary file of a killed write."""
    return rel.parts[0] != "checkpoints" and not any(
        part.startswith(".") for part in rel.parts
    )


def _manifest_lines(store: Path) -> list[dict[str, Any]]:
    path = store / "manifest.jsonl"
    if not path.is_file():
        raise PalignError(
            f"{store} is not a results store (no manifest.jsonl). Pass the store folders the chapters "
            "wrote, <results_dir>/<model>/<inventory>."
        )
    lines = []
    for line in path.read_text().splitlines():
        try:
            lines.append(json.loads(line))
        except json.JSONDecodeError:  # a line a killed write left unfinished
            continue
    return lines


def _check_agree(
    sources: list[Path], manifests: list[list[dict[str, Any]]]
) -> list[str]:
    """Refuse stores of other models, revisions, inventories or parameters; return notes on softer differences."""
    latest = [
        {e["name"]: e for e in lines} for lines in manifests
    ]  # the entry of each file as it is now
    for field in ("model_id", "inventory"):
        seen = {
            str(src): sorted({str(e["params"][field]) for e in lines if "params" in e})
            for src, lines in zip(sources, manifests)
        }
        if len({tuple(v) for v in seen.values()}) > 1 or any(
            len(v) > 1 for v in seen.values()
        ):
            raise PalignError(
                f"The stores hold different {field}s ({seen}). Merge only the parts of one run: "
                f"the same {field} everywhere."
            )
    revisions = {
        str(src): sorted(
            {
                str(e["model_revision"])
                for e in entries.values()
                if "model_revision" in e
            }
        )
        for src, entries in zip(sources, latest)
    }
    if len({r for v in revisions.values() for r in v}) > 1:
        raise PalignError(
            f"The stores were made with different revisions of the model ({revisions}). Rerun the parts "
            "with one revision (pin it, or give every machine the same local copy as model_id)."
        )
    notes = []
    for name in sorted(set().union(*latest)):
        holders = [
            (src, entries[name])
            for src, entries in zip(sources, latest)
            if name in entries
        ]
        if len(holders) < len(sources):
            notes.append(f"{name}: only in {', '.join(str(s) for s, _ in holders)}")
        (src0, first), rest = holders[0], holders[1:]
        for src, entry in rest:
            a, b = (
                _agreeing(first.get("params", {})),
                _agreeing(entry.get("params", {})),
            )
            diff = {
                k: (a.get(k), b.get(k))
                for k in sorted(a.keys() | b.keys())
                if a.get(k) != b.get(k)
            }
            if diff:
                shown = "; ".join(
                    f"{k}: {x!r} in {src0}, {y!r} in {src}"
                    for k, (x, y) in diff.items()
                )
                raise PalignError(
                    f"{name} was made with other parameters in {src0} and {src} ({shown}). Only "
                    f"{', '.join(sorted(RUN_LOCAL))} may differ between parts: rerun one part with the others' values."
                )
    for field in ("git_commit", "packages"):
        per_store = {
            tuple(
                sorted(
                    {json.dumps(e.get(field), sort_keys=True) for e in entries.values()}
                )
            )
            for entries in latest
        }
        if len(per_store) > 1:
            notes.append(
                f"the stores were written with different {field.replace('_', ' ')}s; see the manifest"
            )
    return notes


def _agreeing(params: dict[str, Any]) -> dict[str, Any]:
    """A run's parameters without the run-local ones (flattened: chapter parameters sit in ``extra``)."""
    flat = {k: v for k, v in params.items() if k != "extra"} | dict(
        params.get("extra") or {}
    )
    return {k: v for k, v in flat.items() if k not in RUN_LOCAL}


def merge_stores(sources: list[str | Path], target: str | Path) -> MergeReport:
    """Merge the stores of one run split by subjects (one per GPU or machine) into the new store ``target``.

    Refuses stores of other models, revisions, inventories or parameters (only :data:`RUN_LOCAL`
    ones may differ). Tables with a ``subject`` column are concatenated, each subject's rows taken
    once: a subject in two stores must have identical rows there, else it is an error naming both.
    Everything else (other tables, JSON objects, the activation cache) must agree, except the
    subject lists and per-subject entries of JSON objects (merged as unions), wall times in seconds
    and :data:`PER_RUN_JSON` objects (the first store's kept). Persona and adapter files are
    copied; one file in two stores must be identical. The manifests are concatenated, each line
    with ``merged_from`` (the stores it came from), plus one line for the merge itself. ``target``
    must not exist yet; it appears only when the whole merge has succeeded.
    """
    import shutil

    sources, target = [Path(s).resolve() for s in sources], Path(target).resolve()
    if len(sources) < 2 or len(set(sources)) < len(sources):
        raise PalignError(
            f"Give at least two different stores to merge, got {[str(s) for s in sources]}."
        )
    start = time.perf_counter()
    manifests = [_manifest_lines(s) for s in sources]
    if target.exists() or any(target.is_relative_to(s) for s in sources):
        raise PalignError(
            f"{target} exists or lies inside a source store: merge into a new folder."
        )
    notes = _check_agree(sources, manifests)
    files: dict[str, list[tuple[Path, Path]]] = {}
    for src in sources:
        for path in sorted(
            p
            for p in src.rglob("*")
            if p.is_file() and p.name != "manifest.jsonl" and _kept(p.relative_to(src))
        ):
            if (
                path.parent == src
            ):  # a table or object: read only once it matches its manifest line
                check_file(
                    path,
                    manifests[sources.index(src)],
                    "the chapter that writes it",
                    lambda chapter: (
                        f"rerun notebooks/{chapter}.ipynb into {src.parent.parent}"
                    ),
                )
            files.setdefault(path.relative_to(src).as_posix(), []).append((src, path))
    work = target.with_name(f".{target.name}.merging")
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    subjects, per_run = {}, {}
    try:
        for rel, parts in files.items():
            out = work / rel
            out.parent.mkdir(parents=True, exist_ok=True)
            stem = Path(rel).stem
            if "/" not in rel and rel.endswith(".csv"):
                table, n = merge_table(stem, parts)
                table.to_csv(out, index=False)
                if n is not None:
                    subjects[stem] = n
            elif "/" not in rel and rel.endswith(".json") and stem in PER_RUN_JSON:
                objects = {
                    str(src): json.loads(path.read_text()) for src, path in parts
                }
                per_run[stem] = objects
                out.write_text(
                    json.dumps(next(iter(objects.values())), indent=1, default=str)
                )
                if len({json.dumps(o, sort_keys=True) for o in objects.values()}) > 1:
                    notes.append(
                        f"{stem}: measured in each part; kept {parts[0][0]}'s (all are in the manifest)"
                    )
            elif "/" not in rel and rel.endswith(".json"):
                out.write_text(
                    json.dumps(merge_json(stem, parts), indent=1, default=str)
                )
            else:
                odd = next(
                    (
                        src
                        for src, path in parts[1:]
                        if not same_file(parts[0][1], path)
                    ),
                    None,
                )
                if odd is not None:
                    hint = (
                        " The parts captured the activations separately and got different numbers (e.g. on other "
                        "GPU kinds): capture once and copy the store to every part before it runs (chapter 04 reuses "
                        "the cache it finds), or run the parts on one GPU kind."
                        if rel.startswith("activations/")
                        else " Each subject must be run in one part only (disjoint `subjects` lists)."
                    )
                    raise PalignError(
                        f"{rel} differs between {parts[0][0]} and {odd}.{hint}"
                    )
                shutil.copy2(parts[0][1], out)
        lines: dict[str, dict[str, Any]] = {}
        for src, entries in zip(sources, manifests):
            for entry in entries:
                key = json.dumps(
                    {k: v for k, v in entry.items() if k != "merged_from"},
                    sort_keys=True,
                    default=str,
                )
                line = lines.setdefault(
                    key, {**entry, "merged_from": list(entry.get("merged_from", []))}
                )
                line["merged_from"].append(str(src))
        for rel in (
            r for r in files if "/" not in r
        ):  # the merged files as they now are: what readers check
            chapter = next(
                (
                    e["chapter"]
                    for m in reversed(manifests)
                    for e in reversed(m)
                    if e.get("name") == Path(rel).stem
                ),
                "merge_stores",
            )
            rows = len(pd.read_csv(work / rel)) if rel.endswith(".csv") else None
            lines[f"file:{rel}"] = {
                "name": Path(rel).stem,
                "file": rel,
                "rows": rows,
                "sha256": _sha256(work / rel),
                "chapter": chapter,
                "merged_from": [str(s) for s in sources],
            }
        lines["merge"] = {
            "name": "merge_stores",
            "chapter": "merge_stores",
            "written_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "wall_s": time.perf_counter() - start,
            "sources": [str(s) for s in sources],
            "per_run": per_run,
            "notes": notes,
            "git_commit": _git_commit(),
            "packages": package_versions(),
        }
        (work / "manifest.jsonl").write_text(
            "".join(json.dumps(e, default=str) + "\n" for e in lines.values())
        )
        target.parent.mkdir(parents=True, exist_ok=True)
        work.rename(target)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return MergeReport(target, subjects, notes)

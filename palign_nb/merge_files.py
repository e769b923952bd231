"""How each file of a split run's parts becomes one file of the merged store.

Tables with a ``subject`` column are concatenated, each subject's rows taken once
(:func:`merge_table`); JSON objects are joined where they may differ and must agree elsewhere
(:func:`merge_json`); any other file must be the same in every part (:func:`same_file`).
:func:`palign_nb.merging.merge_stores` applies them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

from .errors import PalignError

#: JSON keys that hold one entry per subject (``{subject: ...}``): merged as a union.
PER_SUBJECT_KEYS = frozenset({"texts", "paths"})
#: Columns that say where two conflicting rows sit (quoted in the error).
_WHERE = (
    "subject",
    "item",
    "method",
    "keying",
    "stage",
    "n_known",
    "layer",
    "head",
    "step",
)


class _Clash(Exception):
    """Two JSON values that may not differ do (internal: turned into a PalignError naming both stores)."""


def _rows(frame: pd.DataFrame, columns: list[str]) -> list[tuple]:
    return sorted(
        map(tuple, frame.reindex(columns=columns, fill_value="").to_numpy().tolist())
    )


def merge_table(
    name: str, parts: list[tuple[Path, Path]]
) -> tuple[pd.DataFrame, int | None]:
    """Per-subject tables: concatenated, a subject's rows taken once; other tables must be identical."""
    frames = [
        (src, pd.read_csv(path, dtype=str, keep_default_na=False))
        for src, path in parts
    ]
    src0, first = frames[0]
    if "subject" not in first.columns:
        for src, frame in frames[1:]:
            if not frame.equals(first):
                raise PalignError(
                    f"{name}.csv differs between {src0} and {src}, and it does not depend on the subjects: "
                    "the parts were not run with the same settings. Run its chapter once and copy that "
                    "store to every part before running them, or rerun the odd part."
                )
        return first, None
    owner: dict[str, tuple[Path, pd.DataFrame]] = {}
    keep = []
    for src, frame in frames:
        if "subject" not in frame.columns:
            raise PalignError(
                f"{name}.csv has a subject column in {src0} but not in {src}: the stores come from different versions of the chapters."
            )
        for subject, rows in frame.groupby("subject", sort=False):
            if subject not in owner:
                owner[subject] = (src, rows)
                keep.append(rows)
                continue
            other_src, other = owner[subject]
            columns = list(dict.fromkeys([*other.columns, *rows.columns]))
            mine, theirs = _rows(rows, columns), _rows(other, columns)
            if mine != theirs:
                odd = next((r for r in mine if r not in theirs), None) or next(
                    (r for r in theirs if r not in mine), mine[0]
                )
                where = ", ".join(
                    f"{c}={v}" for c, v in zip(columns, odd) if c in _WHERE
                )
                raise PalignError(
                    f"{name}.csv: subject {subject} is in both {other_src} and {src} with different rows "
                    f"(e.g. {where}). Each subject must be run in one part only: give the parts disjoint "
                    "`subjects` lists, or leave the store that ran it twice out of the merge."
                )
    return pd.concat(keep, ignore_index=True), len(owner)


def _join(a: Any, b: Any, key: str = "") -> Any:
    """Merge two JSON values of the same file (:class:`_Clash` where they may not differ)."""
    if a == b or key.endswith(
        "_s"
    ):  # equal, or a wall time in seconds (machines differ): the first measured
        return a if a is not None else b
    if key == "subjects" and isinstance(a, list) and isinstance(b, list):
        return a + [s for s in b if s not in a]
    if isinstance(a, dict) and isinstance(b, dict):
        if key in PER_SUBJECT_KEYS:
            if any(a[k] != b[k] for k in a.keys() & b.keys()):
                raise _Clash(key)
            return {**a, **b}
        if a.keys() == b.keys():
            return {k: _join(a[k], b[k], k) for k in a}
    raise _Clash(key or "the whole object")


def merge_json(name: str, parts: list[tuple[Path, Path]]) -> Any:
    """One JSON object from the parts' copies; an error names two stores whose values clash."""
    objects = [(src, json.loads(path.read_text())) for src, path in parts]
    merged = objects[0][1]
    for i, (src, obj) in enumerate(objects[1:], start=1):
        try:
            merged = _join(merged, obj)
        except _Clash as clash:
            other = next((s for s, o in objects[:i] if _clashes(o, obj)), objects[0][0])
            raise PalignError(
                f"{name}.json: '{clash}' differs between {other} and {src}. It must agree across the parts "
                "of one run: run its chapter once and copy that store to every part, or give the parts "
                "disjoint `subjects` lists."
            ) from None
    return merged


def _clashes(a: Any, b: Any) -> bool:
    try:
        _join(a, b)
        return False
    except _Clash:
        return True


def same_file(a: Path, b: Path) -> bool:
    """Whether two parts' copies of a file are the same (``.npz``: the same arrays)."""
    if a.read_bytes() == b.read_bytes():
        return True
    if a.suffix == ".npz":  # numpy's zip files carry a write time: compare the arrays
        import numpy as np

        with np.load(a) as x, np.load(b) as y:
            return x.files == y.files and all(
                np.array_equal(x[k], y[k]) for k in x.files
            )
    return False

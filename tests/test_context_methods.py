"""The chapter context (palign_nb.context), the methods registry (palign_nb.methods) and the predictions API of the store."""

from __future__ import annotations

import pandas as pd
import pytest

from palign_nb import context, methods, parameters_cell, store
from palign_nb.config import RunConfig
from palign_nb.errors import PalignError, StoreMissing
import nbformat
from test_hygiene import toc_notebooks


def declared(name: str) -> dict:
    return parameters_cell.declared_parameters(
        context.repo_root() / "notebooks" / f"{name}.ipynb"
    )


def parameters_notebook(
    path,
    *sources: str,
    tags: tuple[str, ...] = ("parameters",),
    before: tuple[str, ...] = (),
):
    """A notebook whose cells tagged ``tags`` hold ``sources``, after untagged cells holding ``before`` and before one
    untagged cell."""
    cells = [nbformat.v4.new_code_cell(src) for src in before]
    cells += [
        nbformat.v4.new_code_cell(src, metadata={"tags": list(tags)}) for src in sources
    ]
    nbformat.write(
        nbformat.v4.new_notebook(cells=[*cells, nbformat.v4.new_code_cell("x = 1")]),
        path,
    )
    return path


def test_the_parameters_parser_returns_each_literal_default_in_order(tmp_path):
    """The one parser of a parameters cell (the chapter context, palign-run and the hygiene tests read it): the values
    are the literals as written, whatever their type, in the order of the cell; comments, blank lines and annotations
    change nothing, a chained assignment sets every name, and a name assigned twice keeps the last value (what running
    the cell leaves)."""
    source = (
        "# Parameters: override with papermill\n"
        "\n"
        'model_id: str = "smollm2-135m-instruct"  # a comment\n'
        "n_subjects: int = 8\n"
        "seed = -3\n"
        "lr: float = 5e-05\n"
        "alphas: list = [0.0, 1.0,\n"
        "                4.0]  # a value over two lines\n"
        "subjects: list | None = None\n"
        "both_keyings: bool = False\n"
        "shape: tuple = (2, 3)\n"
        'extra: dict = {"a": [1, None], "b": {"c": "d"}}\n'
        "low = high = 0.5\n"
        'label: str = "it" "s"\n'
        "n_subjects: int = 2\n"
    )
    good = parameters_notebook(tmp_path / "good.ipynb", source)
    expected = {
        "model_id": "smollm2-135m-instruct",
        "n_subjects": 2,
        "seed": -3,
        "lr": 5e-05,
        "alphas": [0.0, 1.0, 4.0],
        "subjects": None,
        "both_keyings": False,
        "shape": (2, 3),
        "extra": {"a": [1, None], "b": {"c": "d"}},
        "low": 0.5,
        "high": 0.5,
        "label": "its",
    }
    declared_values = parameters_cell.declared_parameters(good)
    assert declared_values == expected
    assert [type(v) for v in declared_values.values()] == [
        type(v) for v in expected.values()
    ]  # 2 stays int, False bool
    assert parameters_cell.declared_parameter_names(good) == list(expected)
    # the cell tagged `parameters` is read, wherever it stands; papermill's injected cell (its own tag) is not
    assert parameters_cell.declared_parameters(
        parameters_notebook(
            tmp_path / "later.ipynb", "a: int = 1\n", before=("import os\n", "a = 5\n")
        )
    ) == {"a": 1}
    injected = nbformat.read(
        parameters_notebook(tmp_path / "run.ipynb", "a: int = 1\n"), as_version=4
    )
    injected.cells.insert(
        1,
        nbformat.v4.new_code_cell(
            "a = 7\n", metadata={"tags": ["injected-parameters"]}
        ),
    )
    nbformat.write(injected, tmp_path / "run.ipynb")
    assert parameters_cell.declared_parameters(tmp_path / "run.ipynb") == {"a": 1}
    # a cell with more tags than `parameters` is still the parameters cell
    assert parameters_cell.declared_parameters(
        parameters_notebook(
            tmp_path / "tags.ipynb", "a: int = 1\n", tags=("hide-input", "parameters")
        )
    ) == {"a": 1}


@pytest.mark.parametrize(
    "source, line, value",
    [
        ("n: int = 2\nm: int = n + 1\n", 2, "n \\+ 1"),
        ("# a comment\n\nseed: int = 0\npath: str = os.sep\n", 4, "os.sep"),
        ("alphas: list = list(range(3))\n", 1, "list\\(range\\(3\\)\\)"),
        ("a: int = 1\nb = a\n", 2, "a"),
        ('name: str = f"run-{1}"\n', 1, "f'run-\\{1\\}'"),
        ("items: list = [i for i in (1, 2)]\n", 1, "\\[i for i in \\(1, 2\\)\\]"),
        ("a: int = 1\nb: int = 1 if a else 2\n", 2, "1 if a else 2"),
        ("a: int = 1\n\nalphas: list = [0.0,\n    x]\n", 3, "\\[0.0, x\\]"),
    ],
    ids=[
        "arithmetic",
        "attribute",
        "call",
        "name",
        "f-string",
        "comprehension",
        "conditional",
        "multi-line",
    ],
)
def test_the_parameters_parser_refuses_a_computed_value_naming_its_line(
    tmp_path, source, line, value
):
    """A value that is not a literal (papermill could not override it as written) is refused with the notebook, the
    line of the cell it starts on and the expression."""
    with pytest.raises(
        PalignError,
        match=f"^bad.ipynb, parameters cell line {line}: `{value}` is not a literal",
    ):
        parameters_cell.declared_parameters(
            parameters_notebook(tmp_path / "bad.ipynb", source)
        )


@pytest.mark.parametrize(
    "source, line",
    [
        ("cfg.seed = 3\n", 1),
        ("a: int = 1\nd['k'] = 2\n", 2),
        ("a, b = 1, 2\n", 1),
        ("[a] = [1]\n", 1),
        ("a: int = 1\nb = cfg.c = 2\n", 2),
        ("a: int = 1\nself.x: int = 2\n", 2),
    ],
    ids=[
        "attribute",
        "subscript",
        "tuple",
        "list",
        "chained-attribute",
        "annotated-attribute",
    ],
)
def test_the_parameters_parser_refuses_a_target_that_is_not_a_name(
    tmp_path, source, line
):
    with pytest.raises(
        PalignError,
        match=f"^bad.ipynb, parameters cell line {line}: assign to plain names",
    ):
        parameters_cell.declared_parameters(
            parameters_notebook(tmp_path / "bad.ipynb", source)
        )


@pytest.mark.parametrize(
    "source, line",
    [
        ("import os\n", 1),
        ("a: int = 1\nb: int\n", 2),
        ("a: int = 1\na += 1\n", 2),
        ("a: int = 1\n\nprint(a)\n", 3),
        ("if True:\n    a = 1\n", 1),
        ("a: int = 1\ndef f():\n    return 2\n", 2),
        ("a: int = 1\nfrom os import sep\n", 2),
    ],
    ids=["import", "annotation-only", "augmented", "call", "if", "def", "from-import"],
)
def test_the_parameters_parser_refuses_a_statement_that_is_not_an_assignment(
    tmp_path, source, line
):
    with pytest.raises(
        PalignError,
        match=f"^bad.ipynb, parameters cell line {line}: only `name: type = literal` assignments",
    ):
        parameters_cell.declared_parameters(
            parameters_notebook(tmp_path / "bad.ipynb", source)
        )


def test_the_parameters_parser_needs_exactly_one_parameters_cell(tmp_path):
    """No cell tagged `parameters` (papermill would inject the overrides at the top, before the defaults that
    overwrite them), or two of them (which one holds the defaults?), is refused, naming the notebook and the count."""
    with pytest.raises(
        PalignError,
        match=r"^none.ipynb needs exactly one cell tagged `parameters`, found 0",
    ):
        parameters_cell.declared_parameters(
            parameters_notebook(tmp_path / "none.ipynb", "a: int = 1\n", tags=())
        )
    with pytest.raises(
        PalignError,
        match=r"^injected.ipynb needs exactly one cell tagged `parameters`, found 0",
    ):
        parameters_cell.declared_parameters(
            parameters_notebook(
                tmp_path / "injected.ipynb",
                "a: int = 1\n",
                tags=("injected-parameters",),
            )
        )
    with pytest.raises(
        PalignError,
        match=r"^two.ipynb needs exactly one cell tagged `parameters`, found 2",
    ):
        parameters_cell.declared_parameters(
            parameters_notebook(tmp_path / "two.ipynb", "a: int = 1\n", "b: int = 2\n")
        )


def test_chapter_splits_config_and_extra_and_checks_keys(tmp_path):
    params = declared("05_pas") | {"results_dir": str(tmp_path), "top_k": 7}
    ch = context.chapter("05_pas", {**params, "unrelated": 1})
    assert (
        ch.cfg.results_dir == str(tmp_path)
        and ch.cfg.extra["top_k"] == 7
        and "unrelated" not in ch.params
    )
    assert "model_id" not in ch.cfg.extra
    with pytest.raises(PalignError, match="start with 'c05_'"):
        ch.record("c06_x", 1)
    assert (
        ch.path("persona", "pas_icl_papi_1")
        == ch.cfg.results_path / "personas" / "pas_icl_papi_1"
    )
    with pytest.raises(PalignError, match="the store keeps"):
        ch.path("weights", "x")
    with pytest.raises(StoreMissing, match="02_dataset_splits"):
        ch.splits
    assert ch.done() >= 0
    # writes go through the context: the manifest entry names the chapter; no model loaded, so no revision
    ch.save_table(
        "pas_alphas", pd.DataFrame({"alpha": [1.0]}), wall_s=2.0, extra={"note": "x"}
    )
    entry = store.read_manifest(ch.cfg).iloc[-1]
    assert (entry["name"], entry["chapter"], entry["note"]) == (
        "pas_alphas",
        "05_pas",
        "x",
    )
    assert "model_revision" not in ch.entry() and ch.entry({"a": 1}) == {"a": 1}
    ch.save_timings(
        pd.DataFrame(
            {
                "subject": [1],
                "method": ["pas_icl"],
                "stage": ["test_pass"],
                "seconds": [1.5],
            }
        )
    )
    assert store.load_timings(ch.cfg, "05_pas")["seconds"].tolist() == [1.5]
    with pytest.raises(StoreMissing, match="07_preference_baselines"):
        store.load_timings(ch.cfg, "07_preference_baselines")


def test_chapter_refuses_a_missing_parameter_and_an_unknown_chapter():
    with pytest.raises(PalignError, match="run the parameters cell first"):
        context.chapter("05_pas", {"model_id": "x"})
    with pytest.raises(PalignError, match="no notebooks/05_pass.ipynb"):
        context.chapter("05_pass", {})


def test_registry_names_every_table_once():
    names = [m.table(k) for m in methods.METHODS for k in ("papi", "literal")]
    assert methods.table_name("dpo", "literal") == "predictions_dpo_literal"
    assert methods.table_name("no_alignment", "literal") == "predictions_no_alignment"
    assert len(set(names)) == len(
        {
            (m.key, k if m.keyed else "")
            for m in methods.METHODS
            for k in ("papi", "literal")
        }
    )
    assert methods.method("pas_icl").writer("sd3") == "08_dark_triad"
    assert all(m.sd3 for m in methods.methods_for("sd3"))
    with pytest.raises(PalignError, match="registered: no_alignment"):
        methods.method("ppo")


def test_predictions_round_trip_in_one_shape(tmp_path):
    cfg = RunConfig(results_dir=str(tmp_path))
    table = pd.DataFrame(
        {
            "subject": ["3", "3"],
            "item": ["i1", "i99"],
            "predicted": [5, 1],
            "trait": ["N", "A"],
            "stored": [5, 5],
        }
    )
    with pytest.raises(
        PalignError, match="registered writer for ipip is 07_preference_baselines"
    ):
        store.save_predictions(cfg, "dpo", table, chapter="05_pas")
    with pytest.raises(PalignError, match="lack the columns"):
        store.save_predictions(
            cfg, "dpo", table.drop(columns="stored"), chapter="07_preference_baselines"
        )
    assert (
        store.save_predictions(
            cfg, "dpo", table, chapter="07_preference_baselines", keying="literal"
        )
        == "predictions_dpo_literal"
    )
    assert "target" not in store.load_predictions(cfg, "dpo", "literal")
    back = store.load_predictions(cfg, "dpo", "literal", graded_as="literal")
    assert back["subject"].tolist() == [3, 3]
    assert back["target"].tolist() == [
        5,
        1,
    ]  # literal targets: the minus-keyed i99's stored 5 was a literal 1
    with pytest.raises(StoreMissing, match="07_preference_baselines"):
        store.load_predictions(cfg, "dpo", "papi")


def code_of(notebook) -> str:
    return "\n".join(
        c.source
        for c in nbformat.read(notebook, as_version=4).cells
        if c.cell_type == "code"
    )


@pytest.mark.parametrize("notebook", toc_notebooks(), ids=lambda p: p.stem)
def test_chapters_leave_plumbing_to_the_package(notebook):
    """No chapter defines its own glue helper, spells out a store path or names a predictions table by hand."""
    import re

    code = code_of(notebook)
    assert "def record(" not in code, "use ch.record (palign_nb.context)"
    assert "results_path /" not in code, (
        "use ch.path(kind, name) or a palign_nb function for store paths"
    )
    assert "store.save_" not in code, (
        "write through ch.save_table / ch.save_json / ch.save_predictions (the manifest entry)"
    )
    assert not re.search(r"""["']predictions_""", code), (
        "name predictions tables through palign_nb.methods"
    )
    assert not re.search(r"""["']timings_""", code), (
        "write timings with ch.save_timings, read them with store.load_timings"
    )
    assert f'palign_nb.chapter("{notebook.stem}", globals())' in code, (
        "start with ch = palign_nb.chapter(name, globals())"
    )
    assert "ch.done()" in code, (
        "end with ch.done() (the measured runtime the intro quotes)"
    )


def test_cells_are_timed_from_setup_on(monkeypatch):
    """setup() registers IPython's cell events once; the longest cell counts the one running now."""
    import time

    from palign_nb import config

    class Events:
        def __init__(self):
            self.callbacks = {"pre_run_cell": [], "post_run_cell": []}

        def register(self, event, callback):
            self.callbacks[event].append(callback)

    shell = type("Shell", (), {"events": Events()})()
    monkeypatch.setattr("IPython.get_ipython", lambda: shell)
    config.setup(config.RunConfig())
    config.setup(
        config.RunConfig()
    )  # a rerun of the setup cell registers nothing twice
    assert [len(v) for v in shell.events.callbacks.values()] == [1, 1]
    assert config.longest_cell_seconds() == 0.0
    start, finish = (
        shell.events.callbacks["pre_run_cell"][0],
        shell.events.callbacks["post_run_cell"][0],
    )
    start(None)
    time.sleep(0.05)
    finish(None)
    start(None)  # a cell running now, shorter so far
    assert 0.05 <= config.longest_cell_seconds() < 1.0
    time.sleep(0.1)
    assert (
        config.longest_cell_seconds() >= 0.1
    )  # ... until it outlasts the finished one


def test_personas_are_kept_and_read_back_by_the_chapter(tmp_path):
    """save_personas / load_persona: the store path is the chapter's, the provenance is checked against the model,
    and a missing persona names the chapter that writes it."""
    import numpy as np
    import torch

    from palign_nb.models import LoadedModel
    from palign_nb.pas import Persona

    ch = context.Chapter(
        "10_open_ended", {"results_dir": str(tmp_path), "n_subjects": 1}
    )
    lm = LoadedModel(None, None, "tiny", "r1", torch.device("cpu"))
    persona = Persona(
        [(0, 1)],
        np.eye(1, 4, dtype=np.float32),
        np.array([0.5], np.float32),
        2.0,
        {"model_id": "tiny", "model_revision": "r1", "subject": 7},
    )
    ch.save_personas("pas_icl", "papi", {7: persona})
    assert ch.persona_path("pas_icl", "papi", 7).with_suffix(".safetensors").exists()
    back = ch.load_persona("pas_icl", "papi", 7, lm)
    assert back.heads == [(0, 1)] and back.alpha == 2.0 and back.meta["subject"] == 7
    with pytest.raises(PalignError, match="made for model 'tiny'"):
        ch.load_persona(
            "pas_icl",
            "papi",
            7,
            LoadedModel(None, None, "tiny", "r2", torch.device("cpu")),
        )
    with pytest.raises(StoreMissing, match="notebooks/05_pas.ipynb"):
        ch.load_persona("pas_icl", "literal", 7, lm)

"""The chapter context (palign_nb.context), the methods registry (palign_nb.methods) and the predictions API of the store."""

from __future__ import annotations

import pandas as pd
import pytest

from palign_nb import context, methods, store
from palign_nb.config import RunConfig
from palign_nb.errors import PalignError, StoreMissing
import nbformat
from test_hygiene import toc_notebooks


def declared(name: str) -> dict:
    return context.declared_parameters(context.repo_root() / "notebooks" / f"{name}.ipynb")


def parameters_notebook(path, *sources: str):
    """A notebook whose cells tagged `parameters` hold ``sources``."""
    cells = [nbformat.v4.new_code_cell(src, metadata={"tags": ["parameters"]}) for src in sources]
    nbformat.write(nbformat.v4.new_notebook(cells=[*cells, nbformat.v4.new_code_cell("x = 1")]), path)
    return path


def test_the_one_parameters_parser_reads_literals_in_order_and_refuses_the_rest(tmp_path):
    """The parser the context, palign-run and the hygiene tests share: literal defaults in order; a computed value,
    an attribute target or a second parameters cell is refused with the line to fix."""
    good = parameters_notebook(tmp_path / "good.ipynb", 'model_id: str = "m"\nalphas: list = [0.0, 4.0]\nsubjects = None\n')
    assert context.declared_parameters(good) == {"model_id": "m", "alphas": [0.0, 4.0], "subjects": None}
    assert context.declared_parameter_names(good) == ["model_id", "alphas", "subjects"]
    for source, message in [("n: int = 2\nm: int = n + 1\n", "line 2: `n \\+ 1` is not a literal"),
                            ("import os\n", "line 1: only `name: type = literal`"),
                            ("cfg.seed = 3\n", "line 1: assign to plain names")]:
        with pytest.raises(PalignError, match=message):
            context.declared_parameters(parameters_notebook(tmp_path / "bad.ipynb", source))
    with pytest.raises(PalignError, match="exactly one cell tagged `parameters`, found 2"):
        context.declared_parameters(parameters_notebook(tmp_path / "two.ipynb", "a: int = 1\n", "b: int = 2\n"))


def test_chapter_splits_config_and_extra_and_checks_keys(tmp_path):
    params = declared("05_pas") | {"results_dir": str(tmp_path), "top_k": 7}
    ch = context.chapter("05_pas", {**params, "unrelated": 1})
    assert ch.cfg.results_dir == str(tmp_path) and ch.cfg.extra["top_k"] == 7 and "unrelated" not in ch.params
    assert "model_id" not in ch.cfg.extra
    with pytest.raises(PalignError, match="start with 'c05_'"):
        ch.record("c06_x", 1)
    assert ch.path("persona", "pas_icl_papi_1") == ch.cfg.results_path / "personas" / "pas_icl_papi_1"
    with pytest.raises(PalignError, match="the store keeps"):
        ch.path("weights", "x")
    with pytest.raises(StoreMissing, match="02_dataset_splits"):
        ch.splits
    assert ch.done() >= 0
    # writes go through the context: the manifest entry names the chapter; no model loaded, so no revision
    ch.save_table("pas_alphas", pd.DataFrame({"alpha": [1.0]}), wall_s=2.0, extra={"note": "x"})
    entry = store.read_manifest(ch.cfg).iloc[-1]
    assert (entry["name"], entry["chapter"], entry["note"]) == ("pas_alphas", "05_pas", "x")
    assert "model_revision" not in ch.entry() and ch.entry({"a": 1}) == {"a": 1}
    ch.save_timings(pd.DataFrame({"subject": [1], "method": ["pas_icl"], "stage": ["test_pass"], "seconds": [1.5]}))
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
    assert len(set(names)) == len({(m.key, k if m.keyed else "") for m in methods.METHODS for k in ("papi", "literal")})
    assert methods.method("pas_icl").writer("sd3") == "08_dark_triad"
    assert all(m.sd3 for m in methods.methods_for("sd3"))
    with pytest.raises(PalignError, match="registered: no_alignment"):
        methods.method("ppo")


def test_predictions_round_trip_in_one_shape(tmp_path):
    cfg = RunConfig(results_dir=str(tmp_path))
    table = pd.DataFrame({"subject": ["3", "3"], "item": ["i1", "i99"], "predicted": [5, 1],
                          "trait": ["N", "A"], "stored": [5, 5]})
    with pytest.raises(PalignError, match="registered writer for ipip is 07_preference_baselines"):
        store.save_predictions(cfg, "dpo", table, chapter="05_pas")
    with pytest.raises(PalignError, match="lack the columns"):
        store.save_predictions(cfg, "dpo", table.drop(columns="stored"), chapter="07_preference_baselines")
    assert store.save_predictions(cfg, "dpo", table, chapter="07_preference_baselines", keying="literal") == "predictions_dpo_literal"
    assert "target" not in store.load_predictions(cfg, "dpo", "literal")
    back = store.load_predictions(cfg, "dpo", "literal", graded_as="literal")
    assert back["subject"].tolist() == [3, 3]
    assert back["target"].tolist() == [5, 1]  # literal targets: the minus-keyed i99's stored 5 was a literal 1
    with pytest.raises(StoreMissing, match="07_preference_baselines"):
        store.load_predictions(cfg, "dpo", "papi")


def code_of(notebook) -> str:
    return "\n".join(c.source for c in nbformat.read(notebook, as_version=4).cells if c.cell_type == "code")


@pytest.mark.parametrize("notebook", toc_notebooks(), ids=lambda p: p.stem)
def test_chapters_leave_plumbing_to_the_package(notebook):
    """No chapter defines its own glue helper, spells out a store path or names a predictions table by hand."""
    import re

    code = code_of(notebook)
    assert "def record(" not in code, "use ch.record (palign_nb.context)"
    assert "results_path /" not in code, "use ch.path(kind, name) or a palign_nb function for store paths"
    assert "store.save_" not in code, "write through ch.save_table / ch.save_json / ch.save_predictions (the manifest entry)"
    assert not re.search(r"""["']predictions_""", code), "name predictions tables through palign_nb.methods"
    assert not re.search(r"""["']timings_""", code), "write timings with ch.save_timings, read them with store.load_timings"
    assert f'palign_nb.chapter("{notebook.stem}", globals())' in code, "start with ch = palign_nb.chapter(name, globals())"
    assert "ch.done()" in code, "end with ch.done() (the measured runtime the intro quotes)"


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
    config.setup(config.RunConfig())  # a rerun of the setup cell registers nothing twice
    assert [len(v) for v in shell.events.callbacks.values()] == [1, 1]
    assert config.longest_cell_seconds() == 0.0
    start, finish = shell.events.callbacks["pre_run_cell"][0], shell.events.callbacks["post_run_cell"][0]
    start(None)
    time.sleep(0.05)
    finish(None)
    start(None)  # a cell running now, shorter so far
    assert 0.05 <= config.longest_cell_seconds() < 1.0
    time.sleep(0.1)
    assert config.longest_cell_seconds() >= 0.1  # ... until it outlasts the finished one


def test_personas_are_kept_and_read_back_by_the_chapter(tmp_path):
    """save_personas / load_persona: the store path is the chapter's, the provenance is checked against the model,
    and a missing persona names the chapter that writes it."""
    import numpy as np
    import torch

    from palign_nb.models import LoadedModel
    from palign_nb.pas import Persona

    ch = context.Chapter("10_open_ended", {"results_dir": str(tmp_path), "n_subjects": 1})
    lm = LoadedModel(None, None, "tiny", "r1", torch.device("cpu"))
    persona = Persona([(0, 1)], np.eye(1, 4, dtype=np.float32), np.array([0.5], np.float32), 2.0,
                      {"model_id": "tiny", "model_revision": "r1", "subject": 7})
    ch.save_personas("pas_icl", "papi", {7: persona})
    assert ch.persona_path("pas_icl", "papi", 7).with_suffix(".safetensors").exists()
    back = ch.load_persona("pas_icl", "papi", 7, lm)
    assert back.heads == [(0, 1)] and back.alpha == 2.0 and back.meta["subject"] == 7
    with pytest.raises(PalignError, match="made for model 'tiny'"):
        ch.load_persona("pas_icl", "papi", 7, LoadedModel(None, None, "tiny", "r2", torch.device("cpu")))
    with pytest.raises(StoreMissing, match="notebooks/05_pas.ipynb"):
        ch.load_persona("pas_icl", "literal", 7, lm)

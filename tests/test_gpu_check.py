"""The prepared GPU check (benchmarks/gpu_check.py) on the CPU with --small, so that it cannot rot."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import torch

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "benchmarks" / "gpu_check.py"


def load_script():
    spec = importlib.util.spec_from_file_location("gpu_check", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules["gpu_check"] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_small_check_passes_and_prints_the_table(tmp_path):
    out = tmp_path / "check.json"
    run = subprocess.run(
        [sys.executable, str(SCRIPT), "--small", "--items", "40", "--json", str(out)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "gpu-check: all checks passed" in run.stdout
    rows = {r["check"]: r for r in json.loads(out.read_text())}
    assert (
        rows["the exact 8B config on the meta device: parameters"]["value"]
        == "8,030,261,248"
    )
    checked = [r for r in rows.values() if r["ok"] is not None]
    assert len(checked) >= 9 and all(r["ok"] for r in checked)
    for label in ("shared/cpu_flash", "shared/flex", "shared/matmul", "model/auto"):
        assert any(label in check for check in rows), label
    assert any(check.startswith("one 40-item pass") for check in rows)


def test_a_wrong_scorer_makes_the_check_fail(monkeypatch, capsys):
    check = load_script()
    real = check.scoring.score_options

    def skewed(*args, **kwargs):  # a scorer that is off by 1e-3 in one probability
        table: pd.DataFrame = real(*args, **kwargs)
        table.iloc[0, 0] += 1e-3
        return table

    monkeypatch.setattr(check.scoring, "score_options", skewed)
    assert check.main(["--small", "--items", "12", "--generate-items", "2"]) == 1
    printed = capsys.readouterr().out
    assert "MISMATCH" in printed and "gpu-check: FAILED" in printed


def test_the_full_check_refuses_a_cpu_with_the_fix(capsys):
    if torch.cuda.is_available():
        return
    assert load_script().main([]) == 2
    assert "--small" in capsys.readouterr().err


def test_small_check_in_bfloat16_exercises_every_backend_in_half_precision(capsys):
    assert (
        load_script().main(
            ["--small", "--dtype", "bfloat16", "--items", "12", "--generate-items", "2"]
        )
        == 0
    )
    printed = capsys.readouterr().out
    assert (
        "torch.bfloat16" in printed
        and "shared/flex" in printed
        and "MISMATCH" not in printed
    )

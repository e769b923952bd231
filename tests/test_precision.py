"""dtype="auto" follows the CPU's bfloat16 units; bfloat16 against float32 on the embedded model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from palign_nb import models, precision, prompts, scoring
from palign_nb.errors import PalignError
from palign_nb.inventories import get_inventory
from palign_nb.models import EMBEDDED_ID, choose_dtype, cpu_bfloat16_units, load_model

INV = get_inventory("ipip")


def no_torch_probes(monkeypatch):
    for probe in ("_is_amx_tile_supported", "_is_avx512_bf16_supported"):
        monkeypatch.setattr(torch.cpu, probe, lambda: False, raising=False)


@pytest.mark.parametrize(
    "flags,units",
    [
        ("fpu avx512f avx512_bf16 amx_tile amx_bf16", "AMX"),
        ("fpu avx512f avx512_bf16", "AVX512-BF16"),
        ("fpu avx2 avx512f", None),
    ],
)
def test_bfloat16_units_are_read_from_the_cpu_flags(
    monkeypatch, tmp_path: Path, flags: str, units: str | None
):
    no_torch_probes(monkeypatch)
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(f"processor\t: 0\nflags\t\t: {flags}\n")
    assert cpu_bfloat16_units(cpuinfo) == units


def test_torch_probe_is_asked_first(monkeypatch, tmp_path: Path):
    no_torch_probes(monkeypatch)
    monkeypatch.setattr(
        torch.cpu, "_is_avx512_bf16_supported", lambda: True, raising=False
    )
    assert cpu_bfloat16_units(tmp_path / "absent") == "AVX512-BF16"


def test_auto_is_bfloat16_only_where_the_cpu_multiplies_it(monkeypatch):
    monkeypatch.setattr(models, "cpu_bfloat16_units", lambda: "AMX")
    dtype, why = choose_dtype("auto", torch.device("cpu"))
    assert dtype == torch.bfloat16 and "AMX" in why and "auto" in why
    monkeypatch.setattr(models, "cpu_bfloat16_units", lambda: None)
    dtype, why = choose_dtype("auto", torch.device("cpu"))
    assert dtype == torch.float32 and "neither" in why
    assert choose_dtype("float32", torch.device("cpu")) == (
        torch.float32,
        "float32 (chosen by the dtype parameter)",
    )
    with pytest.raises(PalignError, match="Choose auto"):
        choose_dtype("float8", torch.device("cpu"))


def table(probs: list[list[float]], items: list[str]) -> pd.DataFrame:
    p = np.array(probs, dtype=float)
    frame = pd.DataFrame(p, columns=precision.PROB_COLUMNS, index=items)
    frame["predicted"] = 5 - p.argmax(axis=1)  # A is 5 ... E is 1
    return frame


def test_compare_precisions_by_hand():
    from palign_nb.data import load_answers

    answers = load_answers("ipip")
    subject = answers.index[0]
    items = [
        c for c in INV.items.index if INV.items.loc[c, "trait"] == INV.trait_order[0]
    ][:2]
    full = table([[0.1, 0.2, 0.4, 0.2, 0.1], [0.5, 0.2, 0.1, 0.1, 0.1]], items)
    half = table([[0.1, 0.2, 0.35, 0.25, 0.1], [0.2, 0.5, 0.1, 0.1, 0.1]], items)
    got = precision.compare_precisions(full, half, subject, answers, INV, "papi")
    assert got["items"] == 2 and got["agreement"] == 0.5
    assert got["max_abs_dp"] == pytest.approx(0.3) and got[
        "mean_abs_dp"
    ] == pytest.approx((0.05 * 2 + 0.3 * 2) / 10)
    stored = answers.loc[subject, items].to_numpy(
        dtype=float
    )  # papi keying: the stored answers are the targets
    assert got["composite_full"] == pytest.approx(abs(np.array([3, 5]) - stored).mean())
    assert got["composite_half"] == pytest.approx(abs(np.array([3, 4]) - stored).mean())
    assert got["composite_difference"] == pytest.approx(
        got["composite_half"] - got["composite_full"]
    )
    assert "50%" in precision.precision_finding(
        got
    ) and "0.300" in precision.precision_finding(got)
    with pytest.raises(PalignError, match="same items"):
        precision.compare_precisions(
            full, half.iloc[::-1], subject, answers, INV, "papi"
        )


def test_embedded_model_in_bfloat16_stays_close_to_float32():
    """The embedded model's option probabilities move by at most 0.1 in bfloat16, and most answers stay."""
    system = prompts.known_answers_system(
        ["Worry about things.", "Make friends easily."], [4, 2], INV
    )
    texts = INV.items["text"].iloc[:12].tolist()
    users = [prompts.question(t, INV) for t in texts]
    full = scoring.score_options(
        load_model(EMBEDDED_ID, "cpu", "float32"), system, users
    )
    half = scoring.score_options(
        load_model(EMBEDDED_ID, "cpu", "bfloat16"), system, users
    )
    delta = np.abs(
        full[precision.PROB_COLUMNS].to_numpy()
        - half[precision.PROB_COLUMNS].to_numpy()
    )
    assert (
        0 < delta.max() < 0.1
    )  # bfloat16 is not float32 (> 0), and not a different model (< 0.1)
    assert (full["predicted"] == half["predicted"]).mean() >= 0.75

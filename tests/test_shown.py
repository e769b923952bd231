"""Tables for the page: an empty cell is a dash with a reason, never NaN."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from palign_nb import shown
from palign_nb.errors import PalignError


def test_shown_table_writes_empty_cells_as_a_dash_and_says_why():
    frame = pd.DataFrame(
        {"score": [1.23456, np.nan], "n": [3, 4]}, index=["PAS", "DPO"]
    )
    html = shown.table(frame, "not reported by the paper", digits=2).to_html()
    assert (
        ">1.23<" in html
        and ">–<" in html
        and not re.search(r">\s*nan\s*<", html, flags=re.I)
    )
    assert "–: not reported by the paper" in html
    full = shown.table(frame.fillna(0.5), "never shown").to_html()
    assert "never shown" not in full and ">0.500<" in full  # no empty cell: no caption
    assert (
        shown.table(frame, "x").to_html() == shown.table(frame, "x").to_html()
    )  # same table, same HTML
    with pytest.raises(PalignError, match="say why"):
        shown.table(frame, " ")

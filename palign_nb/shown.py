"""Tables for the page: an empty cell reads "–" and the table says why, never "NaN".

A NaN in a results table means different things (the paper did not report it, a method has no such
stage, a number is undefined for a one-letter method). :func:`table` renders every empty cell as an
en dash and captions the table with the reason the chapter gives, so the reader sees why.

Introduced in :doc:`/notebooks/06_prompting_baselines`.
"""

from __future__ import annotations

import hashlib

import pandas as pd
from pandas.io.formats.style import Styler

from .errors import PalignError

EMPTY = "–"


def table(frame: pd.DataFrame | pd.Series, why: str, digits: int = 3) -> Styler:
    """``frame`` for display: numbers to ``digits`` decimals, empty cells as "–", captioned "–: ``why``"
    when any cell is empty. ``why`` says what an empty cell means here (e.g. "not reported by the paper")."""
    if not why.strip():
        raise PalignError(
            "shown.table(frame, why): say why a cell can be empty, e.g. 'not reported by the paper'."
        )
    frame = frame.to_frame() if isinstance(frame, pd.Series) else frame
    uuid = hashlib.sha1(frame.to_csv().encode()).hexdigest()[
        :10
    ]  # the same table renders the same HTML
    styler = frame.style.format(precision=digits, na_rep=EMPTY).set_uuid(uuid)
    if frame.isna().to_numpy().any():
        styler = styler.set_caption(f"{EMPTY}: {why}")
    return styler

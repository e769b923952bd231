"""The numbers the paper reports (:ref:`paper-results`), always labelled as the paper's, never computed here.

Introduced in :doc:`/notebooks/02_dataset_splits`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .errors import PalignError

#: The paper's Table 1 (Big Five, composite = sum of the five trait errors; NaN = not recoverable).
PAPER_TABLE1 = pd.DataFrame(
    [
        ("Llama-3-8B-Instruct", "PAS", 0.94, 0.91, 0.86, 0.98, 0.72, 4.41),
        (
            "Llama-3-8B-Instruct",
            "Few-Shot",
            np.nan,
            np.nan,
            np.nan,
            np.nan,
            np.nan,
            5.96,
        ),
        ("Llama-3-8B-Instruct", "DPO", np.nan, np.nan, np.nan, np.nan, np.nan, 7.45),
        ("Llama-3-8B-Instruct", "PPO", np.nan, np.nan, np.nan, np.nan, np.nan, 7.62),
        ("GPT-4o", "prompting", np.nan, np.nan, np.nan, np.nan, np.nan, 4.42),
        ("Llama-3-70B-Instruct", "PAS", np.nan, np.nan, np.nan, np.nan, np.nan, 4.74),
        (
            "Llama-3-70B-Instruct",
            "Few-Shot",
            np.nan,
            np.nan,
            np.nan,
            np.nan,
            np.nan,
            5.21,
        ),
    ],
    columns=["model", "method", "A", "C", "E", "N", "O", "composite"],
)

#: The paper's main model: the rows of its Table 1 that the book sets beside its own runs.
PAPER_MODEL = "Llama-3-8B-Instruct"


def paper_composite(method: str, model: str = PAPER_MODEL) -> float:
    """The composite error the paper reports for ``method`` (``PAS``, ``Few-Shot``, ``DPO``, ``PPO``) on ``model``."""
    row = PAPER_TABLE1[(PAPER_TABLE1.model == model) & (PAPER_TABLE1.method == method)]
    if row.empty:
        raise PalignError(
            f"The paper's Table 1 has no {method!r} row for {model!r} "
            f"(it has: {', '.join(PAPER_TABLE1.model + ' ' + PAPER_TABLE1.method)})."
        )
    return float(row["composite"].iloc[0])


#: The paper's efficiency claims: PAS needs about this fraction of each method's optimisation time.
PAPER_TIME_FRACTION = {"dpo": 1 / 5, "grpo": 1 / 6}

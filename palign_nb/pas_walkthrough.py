"""Chapter 05's first subject, step by step: the glue of its direction, the alpha
explorer, the alpha search's chart, and how stable the choice of alpha is (section 5.4).

The steps themselves are :mod:`palign_nb.pas`' and :mod:`palign_nb.pas_subject`'s, shown
inline in the chapter; the redraws and their sentences are
:mod:`palign_nb.pas_findings`'.

Introduced in :doc:`/notebooks/05_pas`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import altair as alt
import numpy as np
import pandas as pd

from . import charts, pas_findings
from .inventories import OPTION_LETTERS, Inventory, shown_values
from .models import LoadedModel
from .pas import Persona
from .pas_runs import PASRun
from .errors import PalignError
from .pas_subject import SubjectPAS, score_steered
from .prompts import DEFAULT_SYSTEM

#: How the alpha-search chart names each measure of the trials of
#: :func:`palign_nb.pas.search_alpha`.
SEARCH_LABELS = {
    "composite": "argmax (composite, paper)",
    "expected": "expected error",
    "rps": "RPS",
}
#: How the stability chart names each criterion of :data:`palign_nb.pas.ALPHA_CRITERIA`.
STABILITY_LABELS = {
    "argmax": "argmax (paper)",
    "expected": "expected error",
    "rps": "RPS",
}


def direction_glue(
    cosine: float, sigma: float, heads: list[tuple[int, int]], thetas: np.ndarray
) -> dict[str, Any]:
    """Section 5.1's glue: the best head's cosine and sigma, the heads kept, and how
    many numbers a persona holds (a direction and a sigma per head, plus one alpha)."""
    return {
        "c05_cosine": float(cosine),
        "c05_persona_numbers": int(len(heads) * (thetas.shape[1] + 1) + 1),
        "c05_top_k": len(heads),
        "c05_sigma_best": float(sigma),
    }


def explore_alpha(
    lm: LoadedModel, persona: Persona, inventory: Inventory, items: list[str]
) -> None:
    """In JupyterLab, sliders for a test item and alpha that show the item's option
    distribution under ``persona`` (default system prompt); elsewhere a note."""

    def explore(item_index: int = 0, alpha: float = 2.0) -> pd.DataFrame:
        item = items[item_index]
        table = score_steered(lm, persona, alpha, DEFAULT_SYSTEM, [item], inventory, 1)
        print(inventory.items.loc[item, "text"])
        return table[[f"p_{x}" for x in OPTION_LETTERS]].round(3)

    if "JPY_SESSION_NAME" not in os.environ:  # set by JupyterLab; not by papermill
        print("(the interactive explorer runs in JupyterLab: open this notebook there)")
        return
    import ipywidgets as widgets

    widgets.interact(
        explore,
        item_index=widgets.IntSlider(0, 0, len(items) - 1),
        alpha=widgets.FloatSlider(value=2.0, min=0.0, max=10.0, step=0.5),
    )


def alpha_search_chart(trials: pd.DataFrame) -> alt.Chart:
    """Each measure of the alpha search (the trials of
    :func:`palign_nb.pas.search_alpha`) against alpha."""
    long = trials.melt(
        id_vars="alpha",
        value_vars=list(SEARCH_LABELS),
        var_name="criterion",
        value_name="error",
    ).replace({"criterion": SEARCH_LABELS})
    return charts.line(
        long,
        x="alpha",
        y="error",
        color="criterion",
        x_title="alpha",
        y_title="error on validation items",
    )


@dataclass
class AlphaStability:
    """Section 5.4's redraws: each criterion's alpha on the full validation set and on
    every redraw, the share of redraws that agree (``table``) and the glue of the
    prose."""

    full_choice: dict[str, float]
    redraws: pd.DataFrame
    table: pd.DataFrame
    glue: dict[str, Any]

    def picks(self, alphas: tuple[float, ...]) -> pd.DataFrame:
        """How often each criterion picked each alpha of the grid over the redraws."""
        shares = self.redraws.apply(lambda col: col.value_counts(normalize=True))
        return shares.reindex(list(alphas)).fillna(0.0).round(2)


def stability_of(
    tables: dict[float, pd.DataFrame],
    values: np.ndarray,
    traits: np.ndarray,
    trait_order: list[str],
    seed: int,
    n_boot: int = 200,
) -> AlphaStability:
    """The alpha each criterion picks on the items of ``tables`` (each alpha's option
    table, one row per item) and on ``n_boot`` redraws within traits; missing answers
    (``values`` of 0) are dropped, as :func:`palign_nb.pas.search_alpha` does."""
    answered = values > 0
    alphas = tuple(tables)
    choices = pas_findings.alpha_choices(
        {a: t[answered] for a, t in tables.items()},
        values[answered],
        traits[answered],
        alphas,
    )
    full = choices(np.arange(int(answered.sum())))
    redraws = pas_findings.stratified_redraws(
        choices, traits[answered], trait_order, n_boot=n_boot, seed=seed
    )
    table, glue = pas_findings.stability_findings(
        full, redraws, int(answered.sum()), len(alphas)
    )
    return AlphaStability(full, redraws, table, glue)


def alpha_stability(
    first: SubjectPAS,
    answers: pd.Series,
    run: PASRun,
    inventory: Inventory,
    keying: str,
) -> AlphaStability:
    """:func:`stability_of` one subject's validation items, from the option table of
    each alpha of the grid that :func:`palign_nb.pas_subject.align_subject` scored for
    ``first`` (no model pass here)."""
    s = run.settings
    missing = [a for a in s.alphas if a not in first.tables]
    if missing:
        raise PalignError(
            f"alpha_stability needs the validation tables of every grid alpha; "
            f"{missing} were not scored: pass align_subject's result for run.settings."
        )
    tables = {a: first.tables[a] for a in s.alphas}
    values = shown_values(answers, run.validation, inventory, keying)
    traits = inventory.items.loc[run.validation, "trait"].to_numpy()
    return stability_of(tables, values, traits, inventory.trait_order, s.seed)


def stability_chart(table: pd.DataFrame) -> alt.LayerChart:
    """The share of redraws on which each criterion picks the full set's alpha."""
    return charts.bar_scores(
        table.assign(criterion=table["criterion"].map(STABILITY_LABELS)),
        category="criterion",
        value="share_same",
        value_title="share of redraws picking the full set's alpha",
        fmt=".0%",
    )

"""The methods ranked under the two keyings' targets, and whether the ranking changes (chapter 09)."""

from __future__ import annotations

from typing import Any

import pandas as pd

from .comparison import (
    Comparison,
    best_of,
    label,
)
from .controls import PREDICTORS
from .findings import (
    Sentence,
    count_of,
    listed,
)


def ranking(
    comps: dict[str, Comparison], shown: dict[str, dict[str, str]]
) -> pd.DataFrame:
    """Every method's composite and rank under each keying's targets (``comps`` by keying), with the answers its
    prompt or training data showed (``shown`` by keying and key; a predictor that needs no model shows none)."""
    rows = [
        {
            "method": label(key),
            "targets": keying,
            "answers shown": shown[keying].get(key, "none"),
            "composite": float(value),
        }
        for keying, comp in comps.items()
        for key, value in comp.scores["composite"].items()
    ]
    out = pd.DataFrame(rows)
    out["rank"] = out.groupby("targets")["composite"].rank(method="min").astype(int)
    return out


def ranking_findings(
    comps: dict[str, Comparison], ranked: pd.DataFrame
) -> dict[str, Any]:
    """Section 9.7: how many ranks the keying changes, the best method under each and which methods still show
    the paper's labels under literal targets."""
    wide = ranked.pivot(index="method", columns="targets", values=["composite", "rank"])
    n_changes = int((wide["rank"]["papi"] != wide["rank"]["literal"]).sum())
    best = {
        keying: sorted(
            best_of(comp.scores["composite"], comp.model_methods)[0], key=label
        )  # ties: by label
        for keying, comp in comps.items()
    }
    named = {
        keying: listed([f"**{label(k)}**" for k in keys])
        for keying, keys in best.items()
    }
    verb = {keying: "are" if len(keys) > 1 else "is" for keying, keys in best.items()}
    models = ranked[
        (ranked.targets == "literal") & ~ranked.method.isin(list(PREDICTORS.values()))
    ]
    n_papi_only = int((models["answers shown"] == "papi").sum())
    composites = wide["composite"].stack()
    return {
        "c09_n_rank_changes": n_changes,
        "c09_keying_n_subjects": comps["papi"].n_subjects,
        "c09_rank_methods": len(wide),
        "c09_rank_finding": Sentence(
            "Switching the convention changes the rank of "
            f"{count_of(n_changes, len(wide), 'rows')} (the predictors that need no model "
            "included)."
        ),
        "c09_best_papi": label(best["papi"][0]),
        "c09_best_literal": label(best["literal"][0]),
        "c09_keying_composites": {
            f"{m}|{k}": float(v) for (m, k), v in composites.items()
        },
        "c09_best_keying_finding": Sentence(
            f"The best model-based method{'s' if len(best['papi']) > 1 else ''} {verb['papi']} {named['papi']} "
            + (
                "under both conventions."
                if best["papi"] == best["literal"]
                else f"under the paper's convention and {named['literal']} under the literal one."
            )
        ),
        "c09_n_papi_only": n_papi_only,
        "c09_papi_only_finding": Sentence(
            "Under literal targets every method shows literal answers in its prompt or training data, or none "
            "(`answers shown` column)."
            if n_papi_only == 0
            else f"Under literal targets {count_of(n_papi_only, len(models), 'model-based methods')} still "
            f"{'shows' if n_papi_only == 1 else 'show'} the paper's labels in the prompt or training data, because "
            "the chapter ran only one convention (`answers shown` column)."
        ),
    }

"""Chapter 04's bookkeeping around the head probes, and the sentences it glues.

The chapter reads one head's output and fits one head's probe for one subject step by
step; around them it caches the contrast activations (4.2), fits every head's probe for
every subject (4.5), draws the probe scores per head, and asks how much a subject's best
probe score owes to how one-sided their answers are (4.6). Each ``*_findings`` function
returns the glue keys of the prose, numbers and :class:`~palign_nb.findings.Sentence` s
chosen by them, for :meth:`palign_nb.context.Chapter.glue_all`.

Introduced in :doc:`/notebooks/04_head_probing`.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import altair as alt
import numpy as np
import pandas as pd

from . import activations, charts, probing
from .findings import Sentence, count_of, share_word
from .inventories import Inventory, shown_values
from .models import LoadedModel

#: A subject leans to one side when the share of their usable answers that are
#: "accurate" lies outside this range.
BALANCED = (0.4, 0.6)


# --- 4.1 and 4.2 the heads and their activations --------------------------------------


def head_counts(n_layers: int, n_heads: int, d_head: int) -> dict[str, Any]:
    """Glue of 4.1: layers, query heads per layer, candidate heads in all, and the
    width of one head's output."""
    return {
        "c04_n_layers": n_layers,
        "c04_n_heads": n_heads,
        "c04_n_probes": n_layers * n_heads,
        "c04_d_head": d_head,
    }


def capture_or_load(
    lm: LoadedModel,
    items: list[str],
    inventory: Inventory,
    path: Path,
    key: str,
    batch_size: int,
) -> tuple[np.ndarray, float | None]:
    """The contrast activations of ``items``
    (:func:`palign_nb.activations.contrast_activations`), read from ``path`` when an
    earlier run kept them under ``key``, else captured and kept there; with the seconds
    the capture took (``None`` when read)."""
    if path.exists():
        acts, _ = activations.load_activations(path, key)
        return acts, None
    start = time.perf_counter()
    acts = activations.contrast_activations(lm, items, inventory, batch_size=batch_size)
    capture_s = time.perf_counter() - start
    activations.save_activations(path, acts, items, key)
    return acts, capture_s


def capture_findings(n_items: int, capture_s: float | None) -> dict[str, Any]:
    """Glue of 4.2: the items captured and where their activations came from."""
    if capture_s is None:
        where = (
            "the contrast activations came from the cache of an earlier run with "
            "this model"
        )
    else:
        where = (
            f"capturing the contrast activations took {capture_s:.0f} s of it (once "
            "per model: later runs read the cache)"
        )
    return {"c04_n_act_items": n_items, "c04_capture_finding": Sentence(where)}


def activations_index(
    path: Path, results_path: Path, key: str, items: list[str], capture_s: float | None
) -> dict[str, Any]:
    """The store's ``activations_index``: where chapter 05 finds the activations."""
    return {
        "path": str(path.relative_to(results_path)),
        "key": key,
        "items": items,
        "capture_s": capture_s,
    }


# --- 4.4 and 4.5 every head, every subject --------------------------------------------


def score_grid(score: np.ndarray) -> pd.DataFrame:
    """A (n_layers, n_heads) score matrix as one row per head: ``layer``, ``head``,
    ``score``, layer by layer."""
    return pd.DataFrame(
        [
            {"layer": layer, "head": head, "score": float(score[layer, head])}
            for layer in range(score.shape[0])
            for head in range(score.shape[1])
        ]
    )


def score_heatmap(grid: pd.DataFrame) -> alt.Chart:
    """One cell per head coloured by its probe score (the first layer at the bottom),
    from a table with ``layer``, ``head`` and ``score``."""
    n_layers = int(grid["layer"].max()) + 1
    return charts.heatmap(
        grid,
        x="head",
        y="layer",
        value="score",
        domain=(0.4, 1.0),
        scheme="viridis",
        text=False,
        cell=16,
        sort_y=list(range(n_layers))[::-1],
    )


def probe_subjects(
    acts: np.ndarray,
    answers: pd.DataFrame,
    subjects: list,
    items: list[str],
    inventory: Inventory,
    keying: str,
    seed: int,
    solver: str = "sklearn",
    device=None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Every head's probe fitted for every subject on the contrast activations of
    ``items``, labelled by the subject's answers under ``keying``.

    Returns one row per (subject, layer, head) with the train and validation accuracy
    and the score, and one row per subject with the best score, the usable answers and
    the share of them that are "accurate" (``agree_share``)."""
    rows, best = [], []
    for s in subjects:
        values = shown_values(answers.loc[s], items, inventory, keying)
        X, y, groups = probing.probe_dataset(acts, values)
        res = probing.fit_head_probes(
            X, y, groups, seed=seed, solver=solver, device=device
        )
        used, agree = probing.contrast_labels(values)
        best.append(
            {
                "subject": s,
                "best_score": float(res.score.max()),
                "usable": int(used.sum()),
                "agree_share": float(agree[used].mean()),
            }
        )
        for layer in range(res.score.shape[0]):
            for head in range(res.score.shape[1]):
                rows.append(
                    {
                        "subject": s,
                        "layer": layer,
                        "head": head,
                        "train_acc": res.train_acc[layer, head],
                        "val_acc": res.val_acc[layer, head],
                        "score": res.score[layer, head],
                    }
                )
    return pd.DataFrame(rows), pd.DataFrame(best)


# --- 4.6 what a good probe means here -------------------------------------------------


def one_sidedness(agree_share: pd.Series) -> pd.Series:
    """How one-sided each subject's usable answers are: 0 balanced, 1 all "accurate"
    or all "inaccurate"."""
    return (agree_share - 0.5).abs() * 2


def lean_sentence(agree_share: pd.Series) -> str:
    """How many subjects lean to one side (:data:`BALANCED`), and the mean share."""
    low, high = BALANCED
    n_leaning = int(((agree_share < low) | (agree_share > high)).sum())
    if len(agree_share) == 1:
        verb = "leans" if n_leaning else "does not lean"
        lean = f"this run's one subject {verb} to one side"
    else:
        verb = "leans" if n_leaning == 1 else "lean"
        lean = f"{count_of(n_leaning, len(agree_share), 'subjects')} {verb} to one side"
    mean = float(agree_share.mean())
    return (
        f'On average {mean:.0%} of the usable answers were "accurate" '
        f"({share_word(mean)} of them), and {lean} "
        f"(under {100 * low:.0f} % or over {100 * high:.0f} % of their usable answers "
        '"accurate")'
    )


def onesided_findings(probe_table: pd.DataFrame, best: pd.DataFrame) -> dict[str, Any]:
    """Glue of 4.5 and 4.6 from :func:`probe_subjects`' tables: the mean best and mean
    probe score, the share of "accurate" answers, and the correlation between a
    subject's one-sidedness and best probe score where three subjects or more define
    it."""
    one_sided = one_sidedness(best["agree_share"])
    glue: dict[str, Any] = {
        "c04_best_score_mean": float(best["best_score"].mean()),
        "c04_mean_score": float(probe_table["score"].mean()),
        "c04_agree_share_mean": float(best["agree_share"].mean()),
        "c04_n_subjects": len(best),
        "c04_lean_finding": Sentence(lean_sentence(best["agree_share"])),
    }
    # nunique, not std: equal floats can leave a std of rounding noise (1e-16)
    if len(best) >= 3 and one_sided.nunique() > 1 and best["best_score"].nunique() > 1:
        r = float(np.corrcoef(one_sided, best["best_score"])[0, 1])
        glue["c04_r_onesided"] = r
        finding = (
            f"across the {len(best)} subjects the correlation between one-sidedness "
            f"and the best probe score is {r:.2f} (with few subjects this number is "
            "noisy; rerun with more)"
        )
    elif len(best) >= 3:
        finding = (
            f"across the {len(best)} subjects a correlation is not defined: every "
            "subject has the same one-sidedness or the same best probe score"
        )
    else:
        finding = (
            f"with {len(best)} subject(s) a correlation is not defined: rerun with "
            "`n_subjects` of 3 or more"
        )
    glue["c04_onesided_finding"] = Sentence(finding)
    return glue


def onesided_chart(best: pd.DataFrame) -> alt.Chart:
    """Each subject's best probe score against how one-sided their answers are."""
    return charts.scatter(
        best.assign(one_sided=one_sidedness(best["agree_share"])),
        x="one_sided",
        y="best_score",
        x_title="one-sidedness of the known answers (0 balanced, 1 all agree or all "
        "disagree)",
        y_title="best probe score",
    )

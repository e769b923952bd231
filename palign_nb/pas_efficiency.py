"""Chapter 05's data-efficiency curve (section 5.7): PAS + prompt and its prompt alone
shown nested subsets of the known answers, and the section's glue, chart and records.

Each point runs the loops of :mod:`palign_nb.all_subjects` and
:mod:`palign_nb.pas_every_subject` with the subset as the known answers; the point that
shows all of them reuses section 5.5's run (:mod:`palign_nb.pas_runs`). The curve, the
item noise and the section's sentences are computed here too (:func:`efficiency_curve`,
:func:`item_noise`, :func:`efficiency_findings`).

Introduced in :doc:`/notebooks/05_pas`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import altair as alt
import numpy as np
import pandas as pd

from . import charts, methods
from .all_subjects import run_prompted
from .pas_every_subject import run_pas
from .context import Chapter
from .findings import Sentence
from .inventories import Inventory
from .metrics import alignment_score
from .pas_runs import PASRun, Variants, icl_prompts


@dataclass
class Efficiency:
    """Section 5.7's predictions (one row per subject, count, method and item), the
    seconds of every stage, and the seconds the section added (a reused point was paid
    for in 5.5)."""

    table: pd.DataFrame
    timings: pd.DataFrame
    seconds: float


def reused_point(
    run: PASRun, variants: Variants, subject: Any, tag: dict[str, Any]
) -> tuple[list[pd.DataFrame], list[dict[str, Any]]]:
    """Section 5.5's PAS + prompt (all known answers) and its prompt alone
    ``icl_known`` for ``subject``, as a point of the curve: (prediction rows, timing
    rows)."""
    key, chosen, timings = run.eff_keying, variants.chosen, variants.timings
    mine = (timings.subject == subject) & (timings.keying == key)
    pick = (chosen.subject == subject) & (chosen.keying == key)
    alpha = float(chosen.loc[pick & (chosen.method == "pas_icl"), "alpha"].iloc[0])
    rows = []
    for method, name, a in [("icl", "icl_known", 0.0), ("pas_icl", "pas_icl", alpha)]:
        table = variants.preds[name, key]
        rows.append(
            table[table.subject == subject].assign(
                method=method, **tag, alpha=a, fallback=False
            )
        )
    done = timings[mine & (timings.method == "pas_icl")]
    icl_s = timings.loc[
        mine & (timings.method == "icl_known") & (timings.stage == "score"), "seconds"
    ].sum()

    def timing(method: str, stage: str, seconds: float) -> dict[str, Any]:
        return {
            "subject": subject,
            **tag,
            "method": method,
            "stage": stage,
            "seconds": seconds,
            "reused": True,
        }

    times = [timing("pas_icl", st, v) for st, v in zip(done.stage, done.seconds)]
    times.append(timing("icl", "score", float(icl_s)))
    return rows, times


def efficiency_point(
    ch: Chapter,
    run: PASRun,
    variants: Variants,
    subject: Any,
    items: list[str],
    tag: dict[str, Any],
) -> tuple[list[pd.DataFrame], list[dict[str, Any]]]:
    """PAS + prompt and the prompt alone for ``subject`` shown the answers to ``items``:
    (prediction rows, timing rows). The loops of section 5.5 with ``items`` as the known
    answers; all of them, under a keying 5.5 ran, is 5.5's run (:func:`reused_point`).
    Where PAS keeps alpha = 0 (or falls back), its test pass is the prompt alone's."""
    key = run.eff_keying
    if items == run.known and key in run.keyings:
        return reused_point(run, variants, subject, tag)
    lm, answers, inv = ch.model, ch.answers, ch.inventory
    system_of = icl_prompts(answers, items, inv, key)
    loop = f"efficiency_{key}_{len(items)}"
    icl, icl_t = run_prompted(
        lm,
        answers,
        [subject],
        "icl",
        system_of,
        run.test_items,
        inv,
        run.settings.batch_size,
        checkpoints=ch.checkpoints(f"{loop}_icl"),
    )
    steered, pas_t, _ = run_pas(
        lm,
        run.acts,
        run.act_items,
        answers,
        [subject],
        "pas_icl",
        system_of,
        items,
        run.validation,
        run.test_items,
        inv,
        key,
        run.settings,
        unsteered=icl,
        checkpoints=ch.checkpoints(f"{loop}_pas_icl"),
    )
    rows = [
        icl.assign(method="icl", **tag, alpha=0.0, fallback=False),
        steered.assign(method="pas_icl", **tag),
    ]
    timings = [*icl_t.to_dict("records"), *pas_t.to_dict("records")]
    return rows, [{**t, **tag, "reused": False} for t in timings]


def efficiency_run(ch: Chapter, run: PASRun, variants: Variants) -> Efficiency:
    """Every point of the data-efficiency curve: each of ``run.eff_subjects`` at each
    count of ``run.eff_subsets`` (:func:`efficiency_point`)."""
    rows, times = [], []
    start = time.perf_counter()
    for s in run.eff_subjects:
        for k, items in run.eff_subsets.items():
            tag = {"n_known": int(k), "keying": run.eff_keying}
            point_rows, point_times = efficiency_point(ch, run, variants, s, items, tag)
            rows, times = rows + point_rows, times + point_times
    seconds = time.perf_counter() - start
    return Efficiency(pd.concat(rows, ignore_index=True), pd.DataFrame(times), seconds)


def efficiency_glue(
    run: PASRun,
    eff: Efficiency,
    curve: pd.DataFrame,
    changes: dict[str, list[float]],
    scored: pd.DataFrame,
) -> dict[str, Any]:
    """Section 5.7's glue: :func:`efficiency_findings` and the
    section's counts and seconds."""
    return {
        **efficiency_findings(curve, changes, scored, eff.timings),
        "c05_eff_n_subjects": len(run.eff_subjects),
        "c05_eff_n_counts": len(run.eff_subsets),
        "c05_eff_n_available": len(run.known),
        "c05_eff_n_validation": len(run.validation),
        "c05_eff_seconds": float(eff.seconds),
    }


def efficiency_chart(curve: pd.DataFrame) -> alt.Chart:
    """Composite error against the number of known answers shown, one line per
    method."""
    return charts.line(
        curve,
        x="n_known",
        y="composite",
        color="method",
        x_title="known answers shown",
        y_title="composite error (faithful)",
    )


def save_efficiency(ch: Chapter, run: PASRun, eff: Efficiency) -> None:
    """Section 5.7's predictions and timings, into the results store."""
    extra = {
        "test_items": len(run.test_items),
        "counts": sorted(run.eff_subsets),
        "keying": run.eff_keying,
        "validation_items": len(run.validation),
    }
    wall_s = float(eff.seconds)
    ch.save_table(methods.DATA_EFFICIENCY_TABLE, eff.table, wall_s=wall_s, extra=extra)
    ch.save_table(methods.DATA_EFFICIENCY_TIMINGS, eff.timings, wall_s=wall_s)
    print(
        f"wrote {methods.DATA_EFFICIENCY_TABLE} ({len(eff.table)} rows) and "
        f"{methods.DATA_EFFICIENCY_TIMINGS} to {ch.cfg.results_path}"
    )


def _composite(rows: pd.DataFrame) -> float:
    return float(alignment_score(rows, "faithful")["composite"])


def efficiency_curve(scored: pd.DataFrame) -> pd.DataFrame:
    """The composite (faithful) of each method at each number of known answers, from graded rows."""
    return pd.DataFrame(
        [
            {"method": m, "n_known": int(k), "composite": _composite(g)}
            for (m, k), g in scored.groupby(["method", "n_known"])
        ]
    )


def item_noise(
    scored: pd.DataFrame,
    items: list[str],
    inventory: Inventory,
    n_lo: int,
    n_hi: int,
    n_boot: int = 500,
    seed: int = 0,
) -> dict[str, list[float]]:
    """How much of each method's change from ``n_lo`` to ``n_hi`` known answers could be the luck of the test
    items: the change recomputed on ``n_boot`` redraws of the items within each trait (one draw for both counts)."""
    rng = np.random.default_rng(seed)
    item_traits = inventory.items.loc[items, "trait"]
    by_item = scored.set_index("item")
    changes: dict[str, list[float]] = {m: [] for m in ("pas_icl", "icl")}
    for _ in range(n_boot):
        picks = np.concatenate(
            [
                rng.choice(
                    item_traits.index[item_traits == t],
                    size=int((item_traits == t).sum()),
                )
                for t in inventory.trait_order
            ]
        )
        rows = by_item.loc[picks].reset_index()
        for m in changes:
            mine = rows[rows["method"] == m]
            changes[m].append(
                _composite(mine[mine["n_known"] == n_hi])
                - _composite(mine[mine["n_known"] == n_lo])
            )
    return changes


def _interval_reading(name: str, lo: float, hi: float) -> str:
    """What a 95 % interval of the change from the fewest to the most known answers says."""
    if lo > 0:
        return f"for {name} it lies above 0 (more known answers raised the error by more than item noise explains)"
    if hi < 0:
        return f"for {name} it lies below 0 (more known answers lowered the error by more than item noise explains)"
    return f"for {name} it straddles 0 (the extra known answers made no difference we can tell apart from item noise)"


def efficiency_findings(
    curve: pd.DataFrame,
    changes: dict[str, list[float]],
    scored: pd.DataFrame,
    timings: pd.DataFrame,
) -> dict[str, Any]:
    """Section 5.7: the ends of both curves with their item-noise intervals, the fits that fell back or kept
    alpha 0, and for scale how often each method gave its most common answer and two constant answers."""
    n_lo, n_hi = int(curve["n_known"].min()), int(curve["n_known"].max())

    def at(method: str, k: int) -> float:
        return float(
            curve.loc[
                (curve.method == method) & (curve.n_known == k), "composite"
            ].iloc[0]
        )

    fits = scored[scored.method == "pas_icl"].drop_duplicates(["subject", "n_known"])
    top_share = {
        m: float(g["predicted"].value_counts(normalize=True).iloc[0])
        for m, g in scored.groupby("method")
    }
    icl_lo = scored[(scored.method == "icl") & (scored.n_known == n_lo)]
    glue: dict[str, Any] = {"c05_eff_n_min": n_lo, "c05_eff_n_max": n_hi}
    for m, name in [("pas_icl", "pas"), ("icl", "icl")]:
        lo, hi = (
            float(np.percentile(changes[m], 2.5)),
            float(np.percentile(changes[m], 97.5)),
        )
        glue |= {
            f"c05_eff_{name}_min": at(m, n_lo),
            f"c05_eff_{name}_max": at(m, n_hi),
            f"c05_eff_{name}_change": at(m, n_hi) - at(m, n_lo),
            f"c05_eff_{name}_change_lo": lo,
            f"c05_eff_{name}_change_hi": hi,
        }
    return glue | {
        "c05_eff_n_fits": len(fits),
        "c05_eff_n_fallback": int(fits["fallback"].sum()),
        "c05_eff_n_alpha_zero": int(((fits["alpha"] == 0) & ~fits["fallback"]).sum()),
        "c05_eff_n_reused": int(
            timings.loc[timings.reused, ["subject", "n_known"]]
            .drop_duplicates()
            .shape[0]
        ),
        "c05_eff_top_share_pas": top_share["pas_icl"],
        "c05_eff_top_share_icl": top_share["icl"],
        "c05_eff_always_a": _composite(icl_lo.assign(predicted=5.0)),
        "c05_eff_always_e": _composite(icl_lo.assign(predicted=1.0)),
        "c05_eff_finding": Sentence(
            "; ".join(
                _interval_reading(
                    name,
                    float(np.percentile(changes[m], 2.5)),
                    float(np.percentile(changes[m], 97.5)),
                )
                for m, name in [
                    ("pas_icl", "PAS + prompt"),
                    ("icl", "its prompt alone"),
                ]
            )
        ),
    }

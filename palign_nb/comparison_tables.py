"""The tables and charts of the comparison chapter (09), read from the results store.

:mod:`palign_nb.comparison` and :mod:`palign_nb.claims` compute the findings; this module
assembles what the chapter shows beside them: the store's overview, the table beside the
paper's, the bootstrap intervals, the seconds per subject and the keying ranking, each as a
frame and, where the chapter draws one, its chart.
"""

from __future__ import annotations

from typing import Any

import altair as alt
import pandas as pd

from . import charts, methods, paper_numbers, results, store
from .comparison import Comparison, compare, label, labelled
from .config import RunConfig
from .errors import PalignError, StoreMissing
from .inventories import KEYINGS, Inventory

#: The Dark Triad methods with an alignment stage in chapter 08's timings (PAS, DPO, RL).
SD3_TIMED = ("pas_icl", "dpo", "grpo")


def require_big_five(inventory: str) -> None:
    """Refuse another inventory for the main tables, naming the parameter that reads SD3."""
    if inventory != "ipip":
        raise PalignError(
            f"inventory={inventory!r}: chapter 09's main tables are the Big Five "
            "(ipip); the Dark Triad section reads the sd3 store by itself "
            "(include_sd3=True)."
        )


def store_overview(cfg: RunConfig, tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """One row per method: its table, the chapter and time that wrote it, subjects, rows."""
    manifest = store.read_manifest(cfg)
    latest = manifest.drop_duplicates("name", keep="last").set_index("name")
    names = [methods.method(key).table(cfg.keying) for key in tables]
    return pd.DataFrame(
        {
            "method": [label(key) for key in tables],
            "table": names,
            "chapter": latest.loc[names, "chapter"].to_numpy(),
            "written": latest.loc[names, "written_at"].to_numpy(),
            "subjects": [t["subject"].nunique() for t in tables.values()],
            "rows": [len(t) for t in tables.values()],
        }
    )


def trivial_on_all_subjects(
    cfg: RunConfig,
) -> tuple[pd.DataFrame, int, float]:
    """Chapter 02's always-C and trait-mean rows on every test subject.

    Returns the per-trait table (``cfg.keying``, faithful variant), the number of test
    subjects, and always C's composite under the paper's keying (the paper's own bar).
    """
    trivial = store.require_table(
        cfg, "trivial_scores", produced_by="02_dataset_splits"
    )
    n_all = int(trivial["n_subjects"].iloc[0])
    faithful = trivial[trivial.variant == "faithful"]
    sel = faithful[faithful.keying == cfg.keying]
    rows = sel[sel.predictor.isin(["always_C", "trait_mean"])].pivot(
        index="predictor", columns="trait", values="score"
    )
    rows.index = [
        f"{p.replace('_', ' ')} (all {n_all} test subjects)" for p in rows.index
    ]
    is_c = (faithful.predictor == "always_C") & (faithful.keying == "papi")
    paper_c = float(faithful[is_c & (faithful.trait == "composite")]["score"].iloc[0])
    return rows, n_all, paper_c


def side_by_side(
    comp: Comparison, all_test: pd.DataFrame, columns: list[str], model_id: str
) -> pd.DataFrame:
    """This run's per-trait table, the no-model rows on all test subjects, the paper's."""
    model = paper_numbers.PAPER_MODEL
    table1 = paper_numbers.PAPER_TABLE1
    paper = table1[table1.model == model].set_index("method")
    paper.index = [f"{m} (paper, {model})" for m in paper.index]
    return pd.concat(
        {
            f"this run ({model_id}, {comp.n_subjects} subjects)": labelled(comp.scores)[
                columns
            ],
            "trivial, all test subjects": all_test[columns],
            f"paper, {model}": paper[columns],
        },
        names=["source", "method"],
    )


def table1_chart(comp: Comparison) -> alt.Chart:
    """Composite error of every row of this run beside the paper's Table 1 values."""
    paper_rows = [m for m in results.IPIP_METHODS if m.paper]
    ours = labelled(comp.scores["composite"]).rename_axis("method").reset_index()
    paper = pd.DataFrame(
        {
            "method": [m.label for m in paper_rows],
            "composite": [paper_numbers.paper_composite(m.paper) for m in paper_rows],
        }
    )
    bars = pd.concat(
        [
            ours.assign(source="this run"),
            paper.assign(source=f"paper, {paper_numbers.PAPER_MODEL}"),
        ],
        ignore_index=True,
    )
    return charts.bar_scores(
        bars,
        category="method",
        value="composite",
        color="source",
        sort=list(dict.fromkeys(bars["method"])),
        title="Big Five composite error: this run and the paper",
        value_title="composite error (lower is better)",
    )


def composite_intervals(
    comp: Comparison, inv: Inventory, keying: str, n_boot: int, seed: int
) -> pd.DataFrame:
    """Each method's mean composite over subjects with its 95 % bootstrap interval
    (:func:`palign_nb.results.composite_intervals`), by label."""
    per_subject = {
        label(key): results.per_subject_composite(table, inv, keying)
        for key, table in comp.tables.items()
    }
    return results.composite_intervals(per_subject, n_boot, seed)


def interval_chart(cis: pd.DataFrame, n_subjects: int) -> alt.Chart:
    """The composite intervals of :func:`composite_intervals` as a chart."""
    return charts.interval_chart(
        cis,
        category="method",
        estimate="composite",
        low="low",
        high="high",
        title=f"Composite error, 95% bootstrap CI over {n_subjects} subjects",
        value_title="composite error (lower is better)",
    )


def with_labels(paired: pd.DataFrame) -> pd.DataFrame:
    """A paired comparison with its methods named by label, rounded for display."""
    return paired.assign(method=paired["method"].map(label)).round(3)


def sd3_config(cfg: RunConfig) -> RunConfig:
    """The store of chapter 08's Dark Triad run beside ``cfg``'s (papi keying)."""
    return RunConfig(
        model_id=cfg.model_id,
        inventory="sd3",
        keying="papi",
        seed=cfg.seed,
        results_dir=cfg.results_dir,
    )


def sd3_alignment_seconds(sd3_cfg: RunConfig) -> pd.Series:
    """Seconds per subject chapter 08 spent aligning PAS, DPO and RL, by method key."""
    timings = store.load_timings(sd3_cfg, "08_dark_triad")
    return pd.Series(
        {k: results.alignment_seconds(timings, k, "papi") for k in SD3_TIMED}
    )


def sd3_fractions(sd3_align: pd.Series) -> dict[str, float]:
    """PAS's Dark Triad alignment seconds as a fraction of DPO's and of RL's."""
    return {
        "c09_sd3_frac_dpo": float(sd3_align["pas_icl"] / sd3_align["dpo"]),
        "c09_sd3_frac_grpo": float(sd3_align["pas_icl"] / sd3_align["grpo"]),
    }


def efficiency_chart(
    align_s: pd.Series, sd3_align: pd.Series | None = None
) -> alt.Chart:
    """Seconds to align one subject by method (keys), Big Five and Dark Triad."""
    parts = {"Big Five": align_s} | (
        {} if sd3_align is None else {"Dark Triad": sd3_align}
    )
    bars = pd.concat(
        [
            pd.DataFrame(
                {
                    "method": [label(k) for k in seconds.index],
                    "seconds": seconds.to_numpy(dtype=float),
                    "inventory": name,
                }
            )
            for name, seconds in parts.items()
        ],
        ignore_index=True,
    )
    return charts.bar_scores(
        bars,
        category="method",
        value="seconds",
        color="inventory",
        title="Seconds to align one subject (as the chapters timed it)",
        value_title="seconds per subject",
        fmt=".1f",
    )


def keying_comparisons(
    cfg: RunConfig,
    inv: Inventory,
    population: pd.DataFrame,
    known: list[str],
    validation: list[str],
) -> tuple[dict[str, Comparison], dict[str, Any]]:
    """Every method graded against each keying's targets, on the rows common to every
    table of both keyings (chapter 05 may run the other keying for fewer subjects:
    ``variant_subjects``), so the two rankings rank the same subjects.

    Returns the comparisons and, per keying, which answers each method was shown.
    """
    loaded, answers_shown = {}, {}
    for key in KEYINGS:
        loaded[key], answers_shown[key] = results.load_for_targets(
            cfg, results.IPIP_METHODS, key
        )
    subjects = set.intersection(
        *(set(t["subject"]) for tables in loaded.values() for t in tables.values())
    )
    comps = {
        key: compare(
            {m: t[t["subject"].isin(subjects)] for m, t in tables.items()},
            inv,
            key,
            population,
            known,
            validation,
        )
        for key, tables in loaded.items()
    }
    return comps, answers_shown


def keying_chart(ranking: pd.DataFrame) -> alt.Chart:
    """Composite error per method under the two keyings' targets."""
    return charts.bar_scores(
        ranking,
        category="method",
        value="composite",
        color="targets",
        title="Composite error under the two keying conventions",
        value_title="composite error (lower is better)",
    )


def oracle_like_for_like(
    cfg: RunConfig, comp: Comparison, inv: Inventory
) -> Comparison | None:
    """The oracle beside its own prompt at alpha 0 and PAS + prompt beside its own
    (chapter 05), on their common rows: the oracle's subjects (chapter 05's
    ``variant_subjects``).

    None when the run has no oracle, or chapter 05's alpha-0 table is missing or was
    written for other subjects or items.
    """
    try:
        kept = {
            key: store.load_predictions(cfg, key, cfg.keying)
            for key in ("pas_oracle", "icl_paper")
        }
        return compare(
            {k: comp.tables[k] for k in ("pas_icl", "icl_known")} | kept,
            inv,
            cfg.keying,
        )
    except (StoreMissing, PalignError):
        return None

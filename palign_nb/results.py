"""Reading the chapters' results back: which method wrote what, common rows, controls, paired tests.

Chapter 09 reads only the results store. This module knows which chapter writes which
predictions table (:data:`IPIP_METHODS`, :data:`SD3_METHODS`, from :mod:`palign_nb.methods`), reads them onto a common set of subjects and items, and
compares methods subject by subject. The paper's reported numbers are in :mod:`palign_nb.paper_numbers`.

Introduced in :doc:`/notebooks/09_results`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from .config import RunConfig
from .controls import PREDICTORS, TRIVIAL, trivial_predictions
from .errors import PalignError, StoreMissing
from .inventories import KEYINGS, Inventory
from .methods import Method, methods_for
from .metrics import (
    VARIANTS,
    add_targets,
    alignment_score,
    bootstrap_ci,
    subject_trait_errors,
)
from .significance import sign_flip_test
from .store import require_table

#: The Big Five methods chapter 09 compares (the registry: :mod:`palign_nb.methods`).
IPIP_METHODS: tuple[Method, ...] = methods_for("ipip")
#: The Dark Triad methods chapter 09 compares: those chapter 08 runs.
SD3_METHODS: tuple[Method, ...] = methods_for("sd3")


#: The timed stages that count as aligning one subject, by method (the rest is answering the test items).
ALIGN_STAGES = {
    "pas_icl": ("probe_fit", "alpha_search"),
    "pas_alone": ("probe_fit", "alpha_search"),
    "dpo": ("train",),
    "grpo": ("train",),
}


def alignment_seconds(
    timings: pd.DataFrame, method: str, keying: str = "papi"
) -> float:
    """Mean seconds per subject that ``method`` spent aligning (:data:`ALIGN_STAGES`), read from any chapter's
    timings table (columns ``subject``, ``method``, ``keying``, ``stage``, ``seconds``: :mod:`palign_nb.all_subjects`)."""
    rows = timings[
        (timings.method == method)
        & (timings.keying == keying)
        & timings.stage.isin(ALIGN_STAGES[method])
    ]
    if rows.empty:
        raise PalignError(
            f"No {method!r} alignment timings under keying={keying!r}: rerun the chapter that writes them."
        )
    return float(rows.groupby("subject")["seconds"].sum().mean())


def sd3_setting(splits: dict) -> tuple[str, str]:
    """The Dark Triad setting chapter 08 ran, read from its ``splits`` record: (name, description).

    ``paper`` (faithful: the paper's released subjects and split) or ``kmeans`` (the book's
    alternative). A record without it was written before the setting existed: rerun chapter 08.
    """
    from .splits import SD3_SETTINGS

    setting = splits.get("setting")
    if setting not in SD3_SETTINGS:
        raise PalignError(
            "The Dark Triad splits in the store do not say which setting chapter 08 ran (paper or kmeans): "
            "rerun notebooks/08_dark_triad.ipynb with the same model_id and results_dir."
        )
    return setting, SD3_SETTINGS[setting]


def load_methods(
    cfg: RunConfig, methods: tuple[Method, ...], keying: str
) -> dict[str, pd.DataFrame]:
    """Every method's predictions under ``keying``, by registry key; a missing table
    raises :class:`.StoreMissing` naming the chapter to run."""
    return {
        m.key: require_table(cfg, m.table(keying), produced_by=m.writer(cfg.inventory))
        for m in methods
    }


def load_for_targets(
    cfg: RunConfig, methods: tuple[Method, ...], keying: str
) -> tuple[dict[str, pd.DataFrame], dict[str, str]]:
    """Every method's predictions to grade against ``keying``'s targets, by key: the table its chapter made under
    ``keying``, else its ``papi`` one (a chapter that ran one convention); and which answers each was shown
    (``keying``, ``papi``, or ``none`` for the unaligned model). A method with neither table is left out."""
    tables, shown = {}, {}
    for m in methods:
        for name, answers in [
            (m.table(keying), keying if m.keyed else "papi"),
            (m.table("papi"), "papi"),
        ]:
            try:
                tables[m.key] = require_table(
                    cfg, name, produced_by=m.writer(cfg.inventory)
                )
            except StoreMissing:
                continue
            shown[m.key] = "none" if m.key == "no_alignment" else answers
            break
    return tables, shown


def run_parameters(manifest: pd.DataFrame, table: str) -> dict[str, Any]:
    """The chapter parameters of the latest write of ``table`` in a :func:`palign_nb.store.read_manifest`."""
    latest = manifest.drop_duplicates("name", keep="last").set_index("name")
    if table not in latest.index:
        raise StoreMissing(
            f"The results store lists no {table}: run the chapter that writes it first."
        )
    return dict(latest.loc[table, "params"]["extra"])


def common_rows(tables: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """The tables cut to the (subject, item) pairs that every one of them holds, in the same order."""
    if not tables:
        raise PalignError("No predictions to compare.")
    keys = None
    for table in tables.values():
        index = pd.MultiIndex.from_frame(
            table[["subject", "item"]].astype({"subject": int})
        )
        keys = index if keys is None else keys.intersection(index, sort=False)
    if keys is None or len(keys) == 0:
        raise PalignError(
            "The chapters' predictions share no (subject, item) pair: rerun them with the same subjects "
            "(n_subjects / subjects) and results_dir."
        )
    out = {}
    for label, table in tables.items():
        indexed = table.assign(subject=table["subject"].astype(int)).set_index(
            ["subject", "item"]
        )
        out[label] = indexed.loc[keys].reset_index()
    return out


def scores_by_keying(
    tables: dict[str, pd.DataFrame],
    answers: pd.DataFrame,
    inventory: Inventory,
    known: list[str],
    items: list[str],
    keyings: tuple[str, ...] = KEYINGS,
) -> pd.DataFrame:
    """Each table and the :data:`palign_nb.controls.TRIVIAL` predictors (on ``answers``' subjects and ``items``), graded under every
    keying and variant: one row per (method, keying, variant) with each trait's error and the composite (the
    trivial predictors under their labels)."""
    rows = []
    for key in keyings:
        trivial = {
            PREDICTORS[kind]: trivial_predictions(
                answers, inventory, known, items, kind, key
            )
            for kind in TRIVIAL
        }
        for variant in VARIANTS:
            for method, table in [*tables.items(), *trivial.items()]:
                rows.append(
                    {
                        "method": method,
                        "keying": key,
                        "variant": variant,
                        **alignment_score(
                            add_targets(table, inventory, key), variant
                        ).to_dict(),
                    }
                )
    return pd.DataFrame(rows)


def per_subject_composite(
    table: pd.DataFrame, inventory: Inventory, keying: str, variant: str = "faithful"
) -> pd.Series:
    """Each subject's composite error (sum of its trait errors), indexed by the integer subject id."""
    per_subject = subject_trait_errors(
        add_targets(table, inventory, keying), variant
    ).sum(axis=1)
    return per_subject.set_axis(per_subject.index.astype(int))


def stage_seconds(timings: pd.DataFrame) -> pd.DataFrame:
    """Mean seconds per subject of each method (rows) in each stage (columns), from a
    chapter's timings (one row per subject, method and stage)."""
    return timings.groupby(["method", "stage"])["seconds"].mean().unstack("stage")


def composite_intervals(
    per_subject: dict[str, pd.Series], n_boot: int, seed: int
) -> pd.DataFrame:
    """Each method's mean composite with its 95 % bootstrap interval over subjects
    (``per_subject``: method -> :func:`per_subject_composite`), best first."""
    rows = []
    for method, values in per_subject.items():
        mean, low, high = bootstrap_ci(values, n_boot=n_boot, seed=seed)
        rows.append({"method": method, "composite": mean, "low": low, "high": high})
    return pd.DataFrame(rows).sort_values("composite")


def paired_comparison(
    reference: str,
    tables: dict[str, pd.DataFrame],
    inventory: Inventory,
    keying: str,
    n_boot: int = 2000,
    seed: int = 0,
) -> pd.DataFrame:
    """``reference`` against every other method, paired by subject and by item.

    Per other method: the mean per-subject composite difference (other - reference; positive:
    the reference is better) with a bootstrap CI and a sign-flip p over subjects, and the same
    test over (subject, item) pairs of absolute errors, which treats the items as independent (they
    are not: it is the optimistic reading).
    """
    ref = tables[reference]
    ref_subject = per_subject_composite(ref, inventory, keying)
    ref_err = _item_errors(ref, inventory, keying)
    rows = []
    for label, table in tables.items():
        if label == reference:
            continue
        diff = (per_subject_composite(table, inventory, keying) - ref_subject).dropna()
        mean, low, high = bootstrap_ci(diff, n_boot=n_boot, seed=seed)
        item_diff = (
            (_item_errors(table, inventory, keying) - ref_err).dropna().to_numpy()
        )
        rows.append(
            {
                "method": label,
                "subjects": len(diff),
                "mean difference": mean,
                "low": low,
                "high": high,
                "p (subjects)": sign_flip_test(diff.to_numpy(), seed=seed),
                "items": len(item_diff),
                "p (items, optimistic)": sign_flip_test(item_diff, seed=seed),
            }
        )
    return pd.DataFrame(rows)


def _item_errors(table: pd.DataFrame, inventory: Inventory, keying: str) -> pd.Series:
    rows = add_targets(table, inventory, keying)
    return (
        (rows["predicted"] - rows["target"])
        .abs()
        .set_axis(
            pd.MultiIndex.from_arrays([rows["subject"].astype(int), rows["item"]])
        )
    )


# --- readouts per subject (chapter 09) --------------------------------------------------------


def per_subject_readouts(
    table: pd.DataFrame, variant: str = "faithful"
) -> pd.DataFrame:
    """Per subject (index: the integer subject id), the values whose means :func:`palign_nb.readout_tables.summarise_methods` reports.

    ``table``: graded rows (``target``), after :func:`palign_nb.readout_tables.add_readouts` when it has option
    probabilities. Columns: ``argmax (paper's protocol)`` and ``calibrated median`` (the paper's composite,
    ``variant``, of ``predicted`` and of ``calibrated_median``), ``RPS`` (the sum over traits of the mean
    ranked probability score per trait) and ``profile r (argmax)`` (Spearman r of the argmax answers and the
    targets). A readout the table lacks, or a subject whose r is undefined (a constant side), gives NaN.
    """
    from .readouts import profile_spearman

    def composite_of(readout: str) -> pd.Series:
        if readout not in table or table[readout].isna().all():
            return pd.Series(np.nan, index=subjects)
        per_subject = subject_trait_errors(
            table.assign(predicted=table[readout]), variant
        ).sum(axis=1, min_count=1)
        return per_subject.set_axis(per_subject.index.astype(int))

    subjects = pd.Index(table["subject"].astype(int).unique())
    if "rps" in table and table["rps"].notna().any():
        scored = table[(table["target"] > 0) & table["rps"].notna()]
        rps = (
            scored.groupby([scored["subject"].astype(int), "trait"])["rps"]
            .mean()
            .unstack("trait")
            .sum(axis=1, min_count=1)
        )
    else:
        rps = pd.Series(np.nan, index=subjects)
    r = profile_spearman(table, "predicted")["r"]
    out = pd.DataFrame(
        {
            "argmax (paper's protocol)": composite_of("predicted"),
            "calibrated median": composite_of("calibrated_median"),
            "RPS": rps,
            "profile r (argmax)": r.set_axis(r.index.astype(int)),
        }
    )
    return out.reindex(subjects).rename_axis("subject")


def readout_intervals(
    tables: dict[str, pd.DataFrame],
    n_boot: int = 2000,
    seed: int = 0,
    variant: str = "faithful",
) -> pd.DataFrame:
    """Per method and readout of :func:`per_subject_readouts`: the mean over subjects with a percentile bootstrap CI.

    One row per (method, readout) with ``mean``, ``low``, ``high`` and ``subjects`` (how many have a value);
    all NaN where no subject has one. Subjects are resampled, as for the paper's composite in
    :func:`palign_nb.metrics.bootstrap_ci`, so the intervals of all readouts are on the same footing.
    """
    rows = []
    for label, table in tables.items():
        for readout, values in per_subject_readouts(table, variant).items():
            values = values.dropna()
            mean, low, high = (
                bootstrap_ci(values, n_boot=n_boot, seed=seed)
                if len(values)
                else (np.nan,) * 3
            )
            rows.append(
                {
                    "method": label,
                    "readout": readout,
                    "mean": mean,
                    "low": low,
                    "high": high,
                    "subjects": len(values),
                }
            )
    return pd.DataFrame(rows)

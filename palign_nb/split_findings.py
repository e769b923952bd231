"""Who chapter 02 tests and on which items: the bookkeeping around its splits.

The chapter runs the paper's K-means selection and carves the validation items in its
own cells; what it measures around them lives here: how well a pick of subjects covers
the population (2.1), how the paper's released Dark Triad test set compares (2.1), the
item counts and the cost of choosing a setting on the test items (2.2, 2.3), the Dark
Triad item splits (2.3) and the ``splits`` record later chapters read (2.7). The
``*_findings`` functions return the glue keys of the prose, numbers and
:class:`~palign_nb.findings.Sentence` s chosen by them, for
:meth:`palign_nb.context.Chapter.glue_all`.

Introduced in :doc:`/notebooks/02_dataset_splits`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.cluster import KMeans
from sklearn.neighbors import NearestNeighbors

from .config import RunConfig
from .errors import PalignError
from .findings import Sentence
from .inventories import Inventory, targets
from .splits import ItemSplit, carve_validation, select_subjects, stratified_item_split

#: A section's glue: key -> number, string or :class:`~palign_nb.findings.Sentence`.
Glue = dict[str, Any]


# --- 2.1 who is chosen ----------------------------------------------------------------


def mean_distance_to_chosen(features: np.ndarray, ids: pd.Index, chosen: list) -> float:
    """Mean over all rows of ``features`` of the Euclidean distance to the nearest
    chosen row.

    ``ids``: the id of each row of ``features``; ``chosen``: ids among them."""
    rows = pd.Series(np.arange(len(ids)), index=ids)[chosen].to_numpy()
    nn = NearestNeighbors(n_neighbors=1).fit(features[rows])
    return float(nn.kneighbors(features)[0].mean())


def coverage_findings(
    features: np.ndarray, scores: pd.DataFrame, representatives: list, random_pick: list
) -> tuple[pd.DataFrame, Glue]:
    """How the K-means ``representatives`` and a ``random_pick`` cover the respondents.

    ``features``: the respondents' standardised answers, one row per row of ``scores``
    (their trait scores, indexed by id). Returns the trait means of the population and
    of both picks, and everyone's mean distance to the nearest chosen respondent with
    the sentences it picks (the largest trait-mean shift in population standard
    deviations)."""
    cover_kmeans = mean_distance_to_chosen(features, scores.index, representatives)
    cover_random = mean_distance_to_chosen(features, scores.index, random_pick)
    trait_means = pd.DataFrame(
        {
            "population": scores.mean(),
            "K-means": scores.loc[representatives].mean(),
            "random": scores.loc[random_pick].mean(),
        }
    )
    shift = (
        trait_means[["K-means", "random"]]
        .sub(trait_means["population"], axis=0)
        .abs()
        .div(scores.std(), axis=0)
        .max()
    )
    closer = (
        "K-means leaves fewer people without a close match"
        if cover_kmeans < cover_random
        else "in this run K-means does not leave fewer people without a close match "
        "than chance"
    )
    return trait_means, {
        "c02_cover_kmeans": cover_kmeans,
        "c02_cover_random": cover_random,
        "c02_cover_finding": Sentence(
            f"{closer}. The representatives' trait means (table) differ from the "
            f"population's by at most {shift['K-means']:.2f} population standard "
            f"deviations (random pick: {shift['random']:.2f})."
        ),
        "c02_cover_summary": Sentence(
            "they sit closer to everyone than a random pick"
            if cover_kmeans < cover_random
            else "they sit no closer to everyone than a random pick"
        ),
    }


def incomplete_findings(answers: pd.DataFrame, cols: list[str], chosen: list) -> Glue:
    """How many of the ``chosen`` respondents skipped an item (0) of ``cols``, their
    share, and the share of all respondents that did."""
    n_chosen = int((answers.loc[chosen, cols] == 0).any(axis=1).sum())
    return {
        "c02_incomplete_chosen": n_chosen,
        "c02_incomplete_chosen_share": n_chosen / len(chosen),
        "c02_incomplete_share": float((answers[cols] == 0).any(axis=1).mean()),
    }


def overlap_findings(
    paper: list, representatives: list, with_incomplete: list, k: int
) -> Glue:
    """How many of the paper's Dark Triad test subjects our ``k`` K-means
    representatives (of the complete respondents, and of everyone) give back, and the
    sentence for it."""
    n_overlap = len(set(paper) & set(representatives))
    if n_overlap == len(paper):
        text = "our rerun of the recipe gives back every one of the paper's people."
    else:
        why = (
            "the `n_init` caveat above applies"
            if k == len(paper)
            else f"this run asks for `kmeans_k` = {k} clusters, not the paper's "
            f"{len(paper)}"
        )
        text = (
            "our rerun of the recipe does not give back the paper's people one for one "
            f"({why})."
        )
    return {
        "c02_sd3_paper_n": len(paper),
        "c02_sd3_paper_overlap": n_overlap,
        "c02_sd3_paper_overlap_all": len(set(paper) & set(with_incomplete)),
        "c02_overlap_finding": Sentence(text),
    }


def closeness_findings(
    km: KMeans,
    features: np.ndarray,
    ids: pd.Index,
    representatives: list,
    paper: list,
    random_pick: list,
) -> tuple[pd.DataFrame, Glue]:
    """Per pick (our representatives, the paper's complete test subjects, the random
    pick): its size, the median distance of its people to the nearest K-means centre
    of ``km``, and everyone's mean distance to its nearest person
    (:func:`mean_distance_to_chosen`).

    ``features``: the standardised answers ``km`` was fitted on, one row per id of
    ``ids``."""
    rows = pd.Series(np.arange(len(ids)), index=ids)
    picks = {
        "K-means representatives": representatives,
        "paper's test set": paper,
        "random pick": random_pick,
    }
    table = pd.DataFrame(
        {
            "subjects": {name: len(s) for name, s in picks.items()},
            "median distance to the nearest centre": {
                name: float(
                    np.median(km.transform(features[rows[s].to_numpy()]).min(axis=1))
                )
                for name, s in picks.items()
            },
            "everyone's mean distance to the nearest chosen": {
                name: mean_distance_to_chosen(features, ids, s)
                for name, s in picks.items()
            },
        }
    )
    return table, {
        "c02_centre_dist_kmeans": table.iloc[0, 1],
        "c02_centre_dist_paper": table.iloc[1, 1],
        "c02_centre_dist_random": table.iloc[2, 1],
        "c02_cover_paper": table.iloc[1, 2],
    }


# --- 2.2 and 2.3 which items ----------------------------------------------------------


def item_counts(
    inventory: Inventory, known: list[str], test: list[str]
) -> tuple[pd.DataFrame, Glue]:
    """Known and test items per trait (a two-row table) and their counts."""
    trait = inventory.items["trait"]
    table = pd.DataFrame(
        {
            "known": trait.loc[known].value_counts(),
            "test": trait.loc[test].value_counts(),
        }
    ).T
    return table, {
        "c02_n_known": len(known),
        "c02_n_test": len(test),
        "c02_known_per_trait": len(known) // len(inventory.traits),
        "c02_test_per_trait": len(test) // len(inventory.traits),
    }


def constant_errors(
    answers: pd.DataFrame, items: list[str], inventory: Inventory, keying: str
) -> np.ndarray:
    """Per subject, the mean ``|c - target|`` over ``items`` for each constant answer
    ``c`` = 5..1 (A..E), missing answers left out: (n_subjects, 5)."""
    signs = inventory.items.loc[items, "sign"].to_numpy()
    t = targets(answers[items].to_numpy(), signs, inventory, keying).astype(float)
    t[t == 0] = np.nan  # missing answers left out
    return np.stack(
        [np.nanmean(np.abs(c - t), axis=1) for c in (5, 4, 3, 2, 1)], axis=1
    )


def sd3_item_splits(
    inventory: Inventory, paper_known: list[str], n_validation_per_trait: int, seed: int
) -> dict[str, ItemSplit]:
    """The Dark Triad item splits by setting: the paper's (its ``paper_known`` items)
    and the book's stratified alternative with the Big Five's share of known items
    (24 of 60 per trait, so 4 of 9). Both hold back the Big Five's share of
    validation items (``n_validation_per_trait`` of 24, at least one per trait),
    carved from the known items."""
    per_trait = round(9 * 24 / 60)
    known = {
        "paper": paper_known,
        "kmeans": stratified_item_split(inventory, per_trait, seed=seed)[0],
    }
    out = {}
    for name, items in known.items():
        n_val = max(
            1, round(n_validation_per_trait * len(items) / len(inventory.traits) / 24)
        )
        out[name] = carve_validation(items, inventory, per_trait=n_val, seed=seed)
    return out


def split_listing(item_splits: dict[str, ItemSplit]) -> pd.DataFrame:
    """The known, validation and test items of each split, one column per split."""
    return pd.DataFrame(
        {
            name: {
                "known": ", ".join(s.known),
                "validation": ", ".join(s.validation),
                "test": ", ".join(s.test),
            }
            for name, s in item_splits.items()
        }
    )


# --- 2.7 the record -------------------------------------------------------------------


def splits_record(
    cfg: RunConfig,
    sd3_setting: str,
    kmeans_k: int,
    test_answers: pd.DataFrame,
    item_split: ItemSplit,
    paper_known: list[str],
) -> dict[str, Any]:
    """The ``splits`` record of the run's inventory: its setting, the run's subjects
    (:func:`palign_nb.splits.select_subjects` of ``test_answers``), all test
    subjects, the items of ``item_split``, the paper's known items (``paper_known``),
    how the subjects were selected and the seed. More subjects than the ``kmeans_k``
    of the Dark Triad's K-means setting are refused with the fix."""
    kmeans = cfg.inventory == "sd3" and sd3_setting == "kmeans"
    if kmeans and cfg.subjects is None and cfg.n_subjects > kmeans_k:
        raise PalignError(
            f"n_subjects={cfg.n_subjects} but kmeans_k={kmeans_k} SD3 test subjects: "
            "raise kmeans_k."
        )
    subjects = select_subjects(test_answers, cfg.n_subjects, cfg.subjects)
    setting = "paper" if cfg.inventory == "ipip" else sd3_setting
    if cfg.inventory == "ipip":
        note = "the paper's 300 PAPI test subjects (data/papi/Test-set.json)"
    elif setting == "paper":
        note = "the paper's released 300 SD3 test subjects and item split "
        note += "(data/sd3/paper/)"
    else:
        note = (
            f"K-means representatives (k={kmeans_k}, random_state=42) of the complete "
            "SD3 respondents"
        )
    return {
        "inventory": cfg.inventory,
        "setting": setting,
        "subjects": [int(s) for s in subjects],
        "test_subjects": [int(s) for s in test_answers.index],
        "known": item_split.known,
        "validation": item_split.validation,
        "test": item_split.test,
        "paper_known": paper_known,
        "selection": note,
        "seed": cfg.seed,
    }

"""Who is tested and on which items: K-means test subjects, the known/test item split, validation items.

Introduced in :doc:`/notebooks/02_dataset_splits`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.cluster import KMeans
from sklearn.preprocessing import StandardScaler

from .errors import PalignError
from .inventories import Inventory, check_name, get_inventory


def kmeans_representatives(
    answers: pd.DataFrame, item_columns: list[str], k: int, seed: int = 42
) -> pd.Index:
    """The paper's test-subject selection: one real respondent per K-means centre.

    Standardise the item answers, fit ``KMeans(k, random_state=seed)`` (the paper: 42), and for each
    centre in turn take the nearest respondent not yet taken (Euclidean, in standardised space).
    Returns the ``k`` chosen subject ids in centre order.
    """
    if k < 1 or k > len(answers):
        raise PalignError(
            f"k={k} must lie between 1 and the number of respondents ({len(answers)})."
        )
    features = StandardScaler().fit_transform(
        answers[item_columns].to_numpy(dtype=float)
    )
    km = KMeans(n_clusters=k, random_state=seed, n_init="auto").fit(features)
    taken: set[int] = set()
    chosen = []
    for centre in km.cluster_centers_:
        order = np.argsort(((features - centre) ** 2).sum(axis=1))
        pick = next(int(i) for i in order if int(i) not in taken)
        taken.add(pick)
        chosen.append(answers.index[pick])
    return pd.Index(chosen, name=answers.index.name)


@dataclass(frozen=True)
class ItemSplit:
    """A subject-independent item split.

    ``known``: items whose answers the method may see (prompt, probes); ``validation``: known answers
    held back to choose hyper-parameters (alpha, K); ``test``: items only ever scored.
    The paper uses known = its 120 items and has no validation items (it chose alpha on test).
    """

    known: list[str]
    validation: list[str]
    test: list[str]

    @property
    def all_known(self) -> list[str]:
        """The known and validation items together: every answer the subject gave us."""
        return self.known + self.validation


def first_per_trait(items: list[str], inventory: Inventory, n: int) -> list[str]:
    """The first ``n // n_traits`` of ``items`` in every trait (at least one each), trait by trait: the items
    a chapter asks when its ``n_items`` parameter is below all of them."""
    if n < 1:
        raise PalignError(f"n_items must be at least 1, got {n}.")
    per_trait = max(1, n // len(inventory.traits))
    return [
        c
        for t in inventory.trait_order
        for c in [i for i in items if inventory.items.loc[i, "trait"] == t][:per_trait]
    ]


def chapter_items(splits: dict, inventory: Inventory, n_items: int) -> list[str]:
    """The test items a chapter asks: :func:`first_per_trait` of the split's test items (chapters 03 to 07)."""
    return first_per_trait(splits["test"], inventory, n_items)


def carve_validation(
    known: list[str], inventory: Inventory, per_trait: int, seed: int = 0
) -> ItemSplit:
    """Hold back ``per_trait`` known items of each trait as validation items (seeded, stratified).

    The test items are every inventory item outside ``known``. Order within each list follows ``known``.
    """
    traits = inventory.items.loc[known, "trait"]
    rng = np.random.default_rng(seed)
    held: set[str] = set()
    for trait in inventory.trait_order:
        pool = traits.index[traits == trait].tolist()
        if per_trait >= len(pool):
            raise PalignError(
                f"Cannot hold back {per_trait} validation items of trait {trait}: only {len(pool)} known. Lower `n_validation_per_trait`."
            )
        held.update(rng.choice(pool, size=per_trait, replace=False).tolist())
    test = [c for c in inventory.items.index if c not in set(known)]
    return ItemSplit(
        [c for c in known if c not in held], [c for c in known if c in held], test
    )


def stratified_item_split(
    inventory: Inventory, n_known_per_trait: int, seed: int = 0
) -> tuple[list[str], list[str]]:
    """A seeded known/test item split with ``n_known_per_trait`` known items in every trait.

    For inventories without a published split (SD3). Returns (known, test), each in inventory order.
    """
    rng = np.random.default_rng(seed)
    known: set[str] = set()
    for trait in inventory.trait_order:
        pool = inventory.items_of(trait)
        if not 0 < n_known_per_trait < len(pool):
            raise PalignError(
                f"n_known_per_trait={n_known_per_trait} must lie between 1 and {len(pool) - 1} for trait {trait}."
            )
        known.update(rng.choice(pool, size=n_known_per_trait, replace=False).tolist())
    order = inventory.items.index
    return [c for c in order if c in known], [c for c in order if c not in known]


#: The two Dark Triad settings (chapter 08's ``sd3_setting``): ``paper`` is the faithful one.
SD3_SETTINGS: dict[str, str] = {
    "paper": "the paper's released 300 test subjects and its item split (items 1-6 of each trait known, 7-9 tested)",
    "kmeans": "the book's alternative: K-means representatives of the complete respondents and a seeded stratified split",
}


def sd3_design(
    setting: str,
    answers: pd.DataFrame,
    kmeans_k: int = 300,
    known_per_trait: int = 4,
    seed: int = 0,
) -> tuple[list[int], list[str], list[str]]:
    """The test subjects and the (known, test) items of a Dark Triad setting: ``(subjects, known, test)``.

    ``paper``: the paper's released 300 subjects (:func:`palign_nb.data.sd3_paper_subjects`) and its
    18 known / 9 test split (:func:`palign_nb.data.sd3_paper_item_split`); the other arguments are
    unused. ``kmeans``: :func:`kmeans_representatives` (``kmeans_k`` centres, random_state 42) of the
    respondents in ``answers`` who answered all 27 items, and :func:`stratified_item_split` with
    ``known_per_trait`` known items per trait, seeded with ``seed``. ``answers``: the SD3 table
    (:func:`palign_nb.data.load_sd3`). Validation items are carved afterwards (:func:`carve_validation`).

    Introduced in :doc:`/notebooks/02_dataset_splits`.
    """
    from . import data

    check_name(setting, tuple(SD3_SETTINGS), "Dark Triad setting (sd3_setting)")
    if setting == "paper":
        known, test = data.sd3_paper_item_split()
        return data.sd3_paper_subjects(), known, test
    inventory = get_inventory("sd3")
    cols = inventory.items.index.tolist()
    complete = answers[(answers[cols] > 0).all(axis=1)]
    representatives = kmeans_representatives(complete, cols, kmeans_k)
    known, test = stratified_item_split(inventory, known_per_trait, seed=seed)
    return [int(s) for s in representatives], known, test


def select_subjects(
    answers: pd.DataFrame, n_subjects: int, subjects: list | None = None
) -> list:
    """The subjects a run uses: ``subjects`` if given (checked to exist), else the first ``n_subjects``."""
    if subjects is not None:
        unknown = [s for s in subjects if s not in answers.index]
        if unknown:
            raise PalignError(
                f"Unknown subject ids {unknown[:5]}: pick ids from the data's index (e.g. {list(answers.index[:3])})."
            )
        return list(subjects)
    if n_subjects > len(answers):
        raise PalignError(
            f"n_subjects={n_subjects} but only {len(answers)} subjects are available."
        )
    return answers.index[:n_subjects].tolist()


def run_subjects(splits: dict, n_subjects: int, subjects: list | None = None) -> list:
    """The subjects a chapter runs on: ``subjects`` if given, else the first ``n_subjects`` of the splits' subjects.

    Explicit ``subjects`` must be among the splits' test subjects (``test_subjects``, else ``subjects``).
    """
    pool = splits.get("test_subjects") or splits["subjects"]
    if subjects is not None:
        unknown = [s for s in subjects if s not in pool]
        if unknown:
            raise PalignError(
                f"Subjects {unknown[:5]} are not test subjects of chapter 02's splits; pick from e.g. {pool[:3]}."
            )
        return list(subjects)
    if n_subjects > len(splits["subjects"]):
        raise PalignError(
            f"n_subjects={n_subjects} but chapter 02 chose {len(splits['subjects'])} subjects: rerun it with n_subjects >= {n_subjects}."
        )
    return list(splits["subjects"][:n_subjects])


def nested_known_subsets(
    known: list[str], inventory: Inventory, counts: list[int], seed: int = 0
) -> dict[int, list[str]]:
    """Nested, trait-stratified subsets of the known items, one per count (the data-efficiency curve).

    Each trait's known items are shuffled once (seeded); a subset of ``k`` items takes the first
    ``k // T`` of every trait's order (``T`` traits), and one more from each of the first ``k % T``
    traits in inventory order. So every subset contains all smaller ones, and the traits stay
    balanced. Returns ``{k: items}`` by increasing ``k``, each list in ``known``'s order. Counts
    that need more items than ``known`` (or than a trait of it) holds raise one error naming them.

    Introduced in :doc:`/notebooks/05_pas`.
    """
    if not counts or any(
        isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1
        for k in counts
    ):
        raise PalignError(
            f"Counts of known items must be positive whole numbers; got {list(counts)}."
        )
    asked = sorted({int(k) for k in counts})
    traits = inventory.items.loc[known, "trait"]
    order = inventory.trait_order
    rng = np.random.default_rng(seed)
    shuffled = {
        t: rng.permutation(traits.index[traits == t].to_numpy()).tolist() for t in order
    }

    def quota(k: int, i: int) -> int:
        return k // len(order) + (1 if i < k % len(order) else 0)

    bad = [
        k
        for k in asked
        if k > len(known)
        or any(quota(k, i) > len(shuffled[t]) for i, t in enumerate(order))
    ]
    if bad:
        per_trait = ", ".join(f"{t}: {len(shuffled[t])}" for t in order)
        raise PalignError(
            f"Cannot show {bad} known items: only {len(known)} known items are available ({per_trait} per trait; "
            "the validation items are held back), and each count is spread evenly over the traits. "
            "Lower the counts (chapter 05's `efficiency_counts`)."
        )
    subsets = {}
    for k in asked:
        chosen = {c for i, t in enumerate(order) for c in shuffled[t][: quota(k, i)]}
        subsets[k] = [c for c in known if c in chosen]
    return subsets

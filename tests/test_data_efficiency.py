"""Chapter 05's data-efficiency section: nested known-item subsets and the probes' fallback rule."""

from __future__ import annotations

import numpy as np
import pytest

from palign_nb import data, probing, splits
from palign_nb import inventories as inv
from palign_nb.errors import PalignError


@pytest.fixture(scope="module")
def ipip() -> inv.Inventory:
    return inv.get_inventory("ipip")


@pytest.fixture(scope="module")
def known(ipip) -> list[str]:
    """Chapter 05's known items: the paper's 120 minus 4 validation items per trait (100 left)."""
    paper_known, _ = data.paper_item_split()
    return splits.carve_validation(paper_known, ipip, per_trait=4, seed=0).known


def test_nested_and_stratified(ipip, known):
    subsets = splits.nested_known_subsets(known, ipip, [40, 10, 100, 20, 80], seed=0)
    assert list(subsets) == [10, 20, 40, 80, 100]
    for k, items in subsets.items():
        assert len(items) == len(set(items)) == k and set(items) <= set(known)
        assert ipip.items.loc[items, "trait"].value_counts().to_dict() == {
            t: k // 5 for t in "ACENO"
        }
        assert items == [
            c for c in known if c in set(items)
        ]  # in the known items' order
    sizes = sorted(subsets)
    for small, large in zip(sizes, sizes[1:]):
        assert set(subsets[small]) < set(subsets[large])
    assert set(subsets[100]) == set(known)


def test_uneven_counts_stay_balanced_and_nested(ipip, known):
    subsets = splits.nested_known_subsets(known, ipip, list(range(1, 31)), seed=3)
    for k in range(1, 31):
        per_trait = (
            ipip.items.loc[subsets[k], "trait"]
            .value_counts()
            .reindex(list("ACENO"), fill_value=0)
        )
        assert per_trait.sum() == k and per_trait.max() - per_trait.min() <= 1
        if k > 1:
            assert set(subsets[k - 1]) < set(subsets[k])


def test_seeded(ipip, known):
    a = splits.nested_known_subsets(known, ipip, [10, 20], seed=0)
    assert splits.nested_known_subsets(known, ipip, [20, 10], seed=0) == a
    others = [
        splits.nested_known_subsets(known, ipip, [10, 20], seed=s)[10]
        for s in (1, 2, 3)
    ]
    assert any(o != a[10] for o in others)


@pytest.mark.parametrize("counts", [[10, 120], [101], [10, 105]])
def test_more_than_available_is_one_clear_error(ipip, known, counts):
    with pytest.raises(
        PalignError, match=r"only 100 known items are available.*efficiency_counts"
    ):
        splits.nested_known_subsets(known, ipip, counts, seed=0)


def test_trait_too_small_is_an_error(ipip, known):
    lopsided = [c for c in known if ipip.items.loc[c, "trait"] != "O"] + [
        c for c in known if ipip.items.loc[c, "trait"] == "O"
    ][:3]
    assert len(lopsided) == 83
    with pytest.raises(PalignError, match="O: 3"):
        splits.nested_known_subsets(
            lopsided, ipip, [20], seed=0
        )  # 4 openness items needed, 3 known


@pytest.mark.parametrize("counts", [[], [0, 10], [10.0], [True], [-5]])
def test_bad_counts(ipip, known, counts):
    with pytest.raises(PalignError, match="positive whole numbers"):
        splits.nested_known_subsets(known, ipip, counts, seed=0)


def test_fallback_rule_of_the_probes():
    """Chapter 05 falls back to alpha 0 exactly when probe_dataset refuses (< 4 decided answers)."""
    acts = np.random.default_rng(0).normal(size=(6, 2, 2, 3, 4))
    with pytest.raises(PalignError, match="usable"):
        probing.probe_dataset(acts, np.array([3, 3, 0, 5, 1, 3]))
    # One-sided answers still give both labels: the "A" and "E" completions of each item.
    X, y, groups = probing.probe_dataset(acts, np.array([5, 4, 5, 4, 5, 5]))
    assert y.tolist() == [1, 0] * 6 and len(X) == 12

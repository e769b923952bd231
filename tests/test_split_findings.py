"""Chapter 02's subjects and items (palign_nb.split_findings) on hand-made cases."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.cluster import KMeans

from palign_nb import split_findings as found
from palign_nb.config import RunConfig
from palign_nb.errors import PalignError
from palign_nb.inventories import IPIP_LABELS, Inventory, get_inventory
from palign_nb.splits import ItemSplit

# two traits of three items; q2 is minus-keyed; stored answers already keyed (like PAPI)
SIX = Inventory(
    "tiny",
    pd.DataFrame(
        {"trait": list("AAABBB"), "sign": [1, -1, 1, 1, 1, -1], "text": list("abcdef")},
        index=[f"q{i}" for i in range(1, 7)],
    ),
    {"A": "A-trait", "B": "B-trait"},
    IPIP_LABELS,
    stored_is_recoded=True,
)
# five respondents on a line; ids 1..5
POINTS = np.array([[0.0], [1.0], [3.0], [10.0], [12.0]])
IDS = pd.Index([1, 2, 3, 4, 5])


def test_mean_distance_to_chosen():
    assert found.mean_distance_to_chosen(POINTS, IDS, [1, 4]) == pytest.approx(6 / 5)
    assert found.mean_distance_to_chosen(POINTS, IDS, [5]) == pytest.approx(
        34 / 5
    )  # 12, 11, 9, 2, 0


def test_coverage_findings_judge_the_picks_by_their_numbers():
    points, ids = np.array([[0.0], [1.0], [5.0], [6.0]]), pd.Index([10, 11, 12, 13])
    scores = pd.DataFrame(
        {"M": [1.0, 2.0, 3.0, 4.0], "P": [2.0, 2.0, 4.0, 4.0]}, index=ids
    )
    means, glue = found.coverage_findings(points, scores, [10, 12], [10, 11])
    assert means.loc["M"].tolist() == [2.5, 2.0, 1.5]  # population, K-means, random
    assert glue["c02_cover_kmeans"] == pytest.approx(0.5)  # 0, 1, 0, 1
    assert glue["c02_cover_random"] == pytest.approx(2.25)  # 0, 0, 4, 5
    # largest shifts: K-means 0.5 / std(M) = 0.39; random 1 / std(P) = 0.87
    assert glue["c02_cover_finding"] == (
        "K-means leaves fewer people without a close match. The representatives' "
        "trait means (table) differ from the population's by at most 0.39 population "
        "standard deviations (random pick: 0.87)."
    )
    assert glue["c02_cover_summary"] == "they sit closer to everyone than a random pick"
    _, swapped = found.coverage_findings(points, scores, [10, 11], [10, 12])
    assert swapped["c02_cover_finding"].startswith("in this run K-means does not leave")
    assert (
        swapped["c02_cover_summary"]
        == "they sit no closer to everyone than a random pick"
    )


def test_incomplete_findings():
    answers = pd.DataFrame({"a": [1, 0, 3, 4], "b": [2, 2, 0, 5]}, index=[1, 2, 3, 4])
    assert found.incomplete_findings(answers, ["a", "b"], [1, 2]) == {
        "c02_incomplete_chosen": 1,
        "c02_incomplete_chosen_share": 0.5,
        "c02_incomplete_share": 0.5,
    }


def test_overlap_findings_explain_a_partial_overlap():
    glue = found.overlap_findings([1, 2, 3], [2, 3, 4], [3], k=3)
    assert glue["c02_sd3_paper_n"] == 3 and glue["c02_sd3_paper_overlap"] == 2
    assert glue["c02_sd3_paper_overlap_all"] == 1
    assert "(the `n_init` caveat above applies)" in glue["c02_overlap_finding"]
    other_k = found.overlap_findings([1, 2, 3], [2, 3, 4, 5, 6], [3], k=5)
    assert (
        "`kmeans_k` = 5 clusters, not the paper's 3" in other_k["c02_overlap_finding"]
    )
    full = found.overlap_findings([1, 2], [2, 1], [], k=2)["c02_overlap_finding"]
    assert full == "our rerun of the recipe gives back every one of the paper's people."


def test_closeness_findings():
    km = KMeans(n_clusters=2, n_init=1, random_state=0).fit(
        [[0.0], [0.0], [10.0], [10.0]]
    )
    table, glue = found.closeness_findings(km, POINTS, IDS, [1, 4], [2, 3], [3, 5])
    # to the nearest centre (0 or 10): 0, 1, 3, 0, 2
    assert table["subjects"].tolist() == [2, 2, 2]
    assert glue["c02_centre_dist_kmeans"] == pytest.approx(0.0)
    assert glue["c02_centre_dist_paper"] == pytest.approx(2.0)
    assert glue["c02_centre_dist_random"] == pytest.approx(2.5)
    # everyone to the nearest paper subject (1 or 3): 1, 0, 0, 7, 9
    assert glue["c02_cover_paper"] == pytest.approx(3.4)


def test_item_counts():
    table, glue = found.item_counts(SIX, ["q1", "q2", "q4", "q5"], ["q3", "q6"])
    assert table.loc["known"].tolist() == [2, 2] and table.loc["test"].tolist() == [
        1,
        1,
    ]
    assert glue == {
        "c02_n_known": 4,
        "c02_n_test": 2,
        "c02_known_per_trait": 2,
        "c02_test_per_trait": 1,
    }


def test_constant_errors_per_keying_without_missing_answers():
    answers = pd.DataFrame([[5, 2, 0]], columns=["q1", "q2", "q3"])  # q3 skipped
    papi = found.constant_errors(answers, ["q1", "q2", "q3"], SIX, "papi")
    assert papi.tolist() == [[1.5, 1.5, 1.5, 1.5, 2.5]]  # targets 5 and 2, for c = 5..1
    literal = found.constant_errors(answers, ["q1", "q2", "q3"], SIX, "literal")
    assert literal.tolist() == [[0.5, 0.5, 1.5, 2.5, 3.5]]  # q2 mirrored to 4


def test_sd3_item_splits_carve_validation_from_the_known_items():
    sd3 = get_inventory("sd3")
    paper_known = [c for t in sd3.trait_order for c in sd3.items_of(t)[:6]]
    item_splits = found.sd3_item_splits(sd3, paper_known, 4, seed=0)
    paper, kmeans = item_splits["paper"], item_splits["kmeans"]
    # 4 of 24 known IPIP items per trait -> one of six (paper) and one of four (kmeans)
    assert (len(paper.known), len(paper.validation), len(paper.test)) == (15, 3, 9)
    assert (len(kmeans.known), len(kmeans.validation), len(kmeans.test)) == (9, 3, 15)
    assert set(paper.all_known) == set(paper_known)
    for s in (paper, kmeans):
        assert not set(s.all_known) & set(s.test)
        assert sorted(s.all_known + s.test) == sorted(sd3.items.index)
    assert found.sd3_item_splits(sd3, paper_known, 4, seed=0)["kmeans"] == kmeans
    listing = found.split_listing(item_splits)
    assert list(listing.columns) == ["paper", "kmeans"]
    assert listing.loc["test", "paper"] == ", ".join(paper.test)


def test_splits_record_per_inventory_and_setting():
    answers = pd.DataFrame({"q1": [1, 2, 3]}, index=[7, 8, 9])
    split = ItemSplit(["q1"], ["q2"], ["q3"])
    ipip = found.splits_record(
        RunConfig(n_subjects=2), "kmeans", 3, answers, split, ["q1"]
    )
    assert ipip["setting"] == "paper" and ipip["subjects"] == [7, 8]
    assert ipip["test_subjects"] == [7, 8, 9] and ipip["validation"] == ["q2"]
    assert ipip["selection"].startswith("the paper's 300 PAPI") and ipip["seed"] == 0
    sd3 = RunConfig(inventory="sd3", n_subjects=1, subjects=[9], seed=3)
    record = found.splits_record(sd3, "kmeans", 3, answers, split, ["q1", "q2"])
    assert record["subjects"] == [9] and record["seed"] == 3
    assert record["selection"].startswith("K-means representatives (k=3,")
    paper = found.splits_record(sd3, "paper", 3, answers, split, ["q1"])["selection"]
    assert "data/sd3/paper/" in paper
    with pytest.raises(PalignError, match="raise kmeans_k"):
        found.splits_record(
            RunConfig(inventory="sd3", n_subjects=4), "kmeans", 3, answers, split, []
        )

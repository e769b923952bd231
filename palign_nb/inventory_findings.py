"""What chapter 01 counts in the inventories and the shipped answers, and its glue.

The chapter looks at one subject and at the key idea of each section in its own cells;
the bookkeeping around them lives here: the counts per domain and per split, the
demographics and missing answers, and the checks behind the reverse-keying finding (item
pairs by key sign, Cronbach's alpha before and after reversing, item-rest correlations).
Each function is pure and returns a table a reader sees and/or the glue keys of the
prose, for :meth:`palign_nb.context.Chapter.glue_all`.

Introduced in :doc:`/notebooks/01_inventories`.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np
import pandas as pd

from .inventories import Inventory, keyed_values, targets

#: The glue of a section: key -> number or string.
Glue = dict[str, Any]


def domain_counts(inventory: Inventory) -> tuple[pd.DataFrame, Glue]:
    """Per domain: its facets, items, minus-keyed items and items of the IPIP-NEO-120;
    and the item counts of section 1.1."""
    items = inventory.items
    table = items.groupby("trait").agg(
        facets=("facet_code", "nunique"),
        items=("text", "size"),
        minus_keyed=("sign", lambda s: int((s < 0).sum())),
        in_ipip_120=("short", lambda s: int((s > 0).sum())),
    )
    table.index = [f"{t} {inventory.traits[t]}" for t in table.index]
    return table, {
        "c01_ipip_items": len(items),
        "c01_ipip_facets": items["facet_code"].nunique(),
        "c01_items_per_facet": int(items.groupby("facet_code").size().max()),
        "c01_ipip_minus": int((items["sign"] < 0).sum()),
    }


def item_split_counts(
    items: pd.DataFrame, known: list[str], test: list[str]
) -> tuple[pd.DataFrame, Glue]:
    """Items per domain by role (known or test) and key sign; and the split's counts."""
    role = pd.Series("test", index=items.index).where(~items.index.isin(known), "known")
    key = pd.Series(
        np.where(items["sign"] > 0, "+", "−"), index=items.index, name="key"
    )
    table = pd.crosstab(items["trait"], [role.rename("role"), key])
    return table, {
        "c01_n_known_per_trait": int(
            (role == "known").groupby(items["trait"]).sum().iloc[0]
        ),
        "c01_n_test_per_trait": int(
            (role == "test").groupby(items["trait"]).sum().iloc[0]
        ),
        "c01_n_known": len(known),
        "c01_n_test": len(test),
        "c01_known_minus": int((items.loc[known, "sign"] < 0).sum()),
        "c01_test_minus": int((items.loc[test, "sign"] < 0).sum()),
    }


def demographics(answers: pd.DataFrame) -> tuple[pd.DataFrame, Glue]:
    """Who the PAPI test subjects are (sex, age, country): a table and its glue."""
    sex, age, country = answers["sex"], answers["age"], answers["country"]
    table = pd.Series(
        {
            "subjects": len(answers),
            "women (sex = 2)": (sex == 2).sum(),
            "men (sex = 1)": (sex == 1).sum(),
            "mean age": round(age.mean(), 1),
            "age range": f"{age.min()}-{age.max()}",
            "countries": country.nunique(),
            "from the USA": (country == "USA").sum(),
        },
        name="PAPI test set",
    ).to_frame()
    return table, {
        "c01_papi_n": len(answers),
        "c01_papi_female": int((sex == 2).sum()),
        "c01_papi_age_mean": float(age.mean()),
        "c01_papi_age_median": float(age.median()),
        "c01_papi_usa": int((country == "USA").sum()),
    }


def missing_counts(stored: np.ndarray) -> Glue:
    """The PAPI cells, the missing ones (stored 0) and the subjects with one: (subjects,
    items)."""
    return {
        "c01_papi_cells": int(stored.size),
        "c01_papi_missing_cells": int((stored == 0).sum()),
        "c01_papi_missing_subjects": int((stored == 0).any(axis=1).sum()),
    }


def sd3_missing(
    answers: pd.DataFrame, inventory: Inventory, scores: pd.DataFrame, n_paper: int
) -> Glue:
    """The SD3 file's size, its missing answers, the trait means (``scores``: missing
    left out) and how far a naive mean that counts each 0 as an answer falls below
    them, averaged over the (respondent, trait) pairs with a skipped item.
    ``n_paper``: the paper's test set."""
    cols = inventory.items.index.tolist()
    zero = answers[cols].to_numpy() == 0
    signs = inventory.items["sign"].to_numpy()
    keyed = keyed_values(answers[cols].to_numpy(), signs, inventory).astype(float)
    by_trait = inventory.items["trait"].to_numpy()
    naive = pd.DataFrame(keyed, columns=cols).T.groupby(by_trait).mean().T
    skipped = pd.DataFrame(zero, columns=cols).T.groupby(by_trait).any().T.to_numpy()
    incomplete = zero.any(axis=1)
    shift = np.nanmean((scores.to_numpy() - naive.to_numpy())[skipped])
    return {
        "c01_sd3_n": len(answers),
        "c01_sd3_paper_n": n_paper,
        "c01_sd3_missing_cells": int(zero.sum()),
        "c01_sd3_missing_rows": int(incomplete.sum()),
        "c01_sd3_complete": int((~incomplete).sum()),
        "c01_sd3_naive_shift": float(shift),
    } | {f"c01_sd3_mean_{t}": float(scores[t].mean()) for t in inventory.trait_order}


def signed_names(items: pd.DataFrame, cols: list[str]) -> dict[str, str]:
    """Each item's text after its key sign ("+ Keep my promises."), by column."""
    return {
        c: ("+ " if items.loc[c, "sign"] > 0 else "− ") + items.loc[c, "text"]
        for c in cols
    }


def key_pair_correlations(
    stored: pd.DataFrame, inventory: Inventory
) -> tuple[pd.DataFrame, Glue]:
    """Per domain, the mean correlation (over subjects) of its item pairs with the same
    and with opposite key signs, each pair once; and their ranges over the domains.

    ``stored``: (subjects, items), missing answers NaN."""
    rows = []
    for trait in inventory.trait_order:
        cols = inventory.items_of(trait)
        r = stored[cols].corr().to_numpy()
        s = inventory.items.loc[cols, "sign"].to_numpy()
        upper = np.triu(np.ones_like(r, dtype=bool), k=1)  # each pair once
        same = np.equal.outer(s, s)
        rows.append(
            {
                "trait": f"{trait} {inventory.traits[trait]}",
                "same-key pairs": r[upper & same].mean(),
                "opposite-key pairs": r[upper & ~same].mean(),
            }
        )
    table = pd.DataFrame(rows).set_index("trait")
    return table, {
        "c01_r_same_min": table["same-key pairs"].min(),
        "c01_r_same_max": table["same-key pairs"].max(),
        "c01_r_opp_min": table["opposite-key pairs"].min(),
        "c01_r_opp_max": table["opposite-key pairs"].max(),
    }


def domain_alphas(
    stored: pd.DataFrame, inventory: Inventory, alpha: Callable[[np.ndarray], float]
) -> tuple[pd.DataFrame, Glue]:
    """``alpha`` (Cronbach's, the reader's function) of each domain over its complete
    respondents, on the stored values and with the minus-keyed items reversed
    (``6 - v``): one row per (trait, values); and the ranges of both.

    ``stored``: (subjects, items), missing answers NaN."""
    rows = []
    for trait in inventory.trait_order:
        cols = inventory.items_of(trait)
        block = stored[cols].dropna()  # complete respondents for this domain
        minus = inventory.items.loc[cols, "sign"].to_numpy() < 0
        reversed_block = block.to_numpy().copy()
        reversed_block[:, minus] = 6 - reversed_block[:, minus]
        name = f"{trait} {inventory.traits[trait]}"
        for values, scores in (
            ("stored", block.to_numpy()),
            ("minus-keyed reversed", reversed_block),
        ):
            rows.append(
                {
                    "trait": name,
                    "values": values,
                    "alpha": alpha(scores),
                    "n": len(block),
                }
            )
    table = pd.DataFrame(rows)
    by = table.groupby("values")["alpha"]
    return table, {
        "c01_alpha_stored_min": by.min()["stored"],
        "c01_alpha_stored_max": by.max()["stored"],
        "c01_alpha_reversed_min": by.min()["minus-keyed reversed"],
        "c01_alpha_reversed_max": by.max()["minus-keyed reversed"],
    }


def item_rest(values: pd.DataFrame, inventory: Inventory) -> pd.Series:
    """Each item's correlation with the mean of the other items of its trait, by column.

    ``values``: (respondents, items), missing answers NaN (left out of means and
    pairs)."""
    out = {}
    for col in inventory.items.index:
        peers = [
            c for c in inventory.items_of(inventory.items.loc[col, "trait"]) if c != col
        ]
        out[col] = values[col].corr(values[peers].mean(axis=1))
    return pd.Series(out)


def sd3_item_rest(raw: pd.DataFrame, inventory: Inventory) -> tuple[pd.DataFrame, Glue]:
    """:func:`item_rest` of the SD3's raw answers, one row per item with its text and
    key; and the range of the reverse-keyed items and the lowest plus-keyed one."""
    r = item_rest(raw, inventory)
    items = inventory.items
    table = pd.DataFrame(
        {
            "item": [f"{c} {items.loc[c, 'text']}" for c in items.index],
            "r": r.to_numpy(),
            "key": np.where(items["sign"] < 0, "reverse-keyed", "plus-keyed"),
        }
    )
    rev = table["key"] == "reverse-keyed"
    return table, {
        "c01_sd3_rest_rev_min": table.loc[rev, "r"].min(),
        "c01_sd3_rest_rev_max": table.loc[rev, "r"].max(),
        "c01_sd3_rest_plus_min": table.loc[~rev, "r"].min(),
    }


def papi_item_rest(rest: pd.Series, items: pd.DataFrame) -> tuple[pd.DataFrame, Glue]:
    """:func:`item_rest` of PAPI's stored values (``rest``) summarised by key sign; and
    the medians of both keys, the count below zero and the lowest."""
    minus = (items["sign"] < 0).to_numpy()
    table = rest.groupby(np.where(minus, "minus-keyed", "plus-keyed")).describe()
    return table[["count", "min", "50%", "max"]], {
        "c01_papi_rest_minus_median": rest[minus].median(),
        "c01_papi_rest_plus_median": rest[~minus].median(),
        "c01_papi_rest_negative": int((rest < 0).sum()),
        "c01_papi_rest_min": rest.min(),
    }


def keyings_differ(stored: np.ndarray, inventory: Inventory) -> list[str]:
    """The items on which the ``papi`` and ``literal`` targets of some respondent
    differ.

    ``stored``: (respondents, items) in the inventory's item order."""
    signs = inventory.items["sign"].to_numpy()
    differs = targets(stored, signs, inventory, "papi") != targets(
        stored, signs, inventory, "literal"
    )
    return inventory.items.index[differs.any(axis=0)].tolist()

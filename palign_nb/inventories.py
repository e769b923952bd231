"""The two inventories: IPIP-NEO-300 (Big Five) and the Short Dark Triad (SD3).

An :class:`Inventory` is a table of items (column name, text, trait, facet, key sign) plus the
Likert labels its respondents saw. It also knows whether its *stored* answers to minus-keyed items
were already reversed by the data's publisher (IPIP-NEO: yes, Johnson's convention; SD3: no), which
is what the two keying conventions are about.

Introduced in :doc:`/notebooks/01_inventories`.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import pandas as pd

from .errors import PalignError
from .paths import data_dir

#: The option letters the model chooses from, and the Likert value each stands for.
OPTION_LETTERS: tuple[str, ...] = ("A", "B", "C", "D", "E")
LETTER_TO_VALUE: dict[str, int] = {"A": 5, "B": 4, "C": 3, "D": 2, "E": 1}
VALUE_TO_LETTER: dict[int, str] = {v: k for k, v in LETTER_TO_VALUE.items()}

#: Labels of the IPIP-NEO answer scale, exactly as in the paper's code (0 = missing).
IPIP_LABELS: dict[int, str] = {
    5: "Very Accurate",
    4: "Moderately Accurate",
    3: "Neither Accurate Nor Inaccurate",
    2: "Moderately Inaccurate",
    1: "Very Inaccurate",
    0: "Unknown",
}
#: Labels of the SD3 answer scale (the data's codebook: 1 = disagree, 3 = neutral, 5 = agree).
SD3_LABELS: dict[int, str] = {
    5: "Agree",
    4: "Somewhat Agree",
    3: "Neither Agree Nor Disagree",
    2: "Somewhat Disagree",
    1: "Disagree",
    0: "Unknown",
}

KEYINGS: tuple[str, ...] = ("papi", "literal")
BIG_FIVE: dict[str, str] = {
    "A": "Agreeableness",
    "C": "Conscientiousness",
    "E": "Extraversion",
    "N": "Neuroticism",
    "O": "Openness",
}
DARK_TRIAD: dict[str, str] = {
    "M": "Machiavellianism",
    "N": "Narcissism",
    "P": "Psychopathy",
}
SD3_REVERSED: tuple[str, ...] = ("N2", "N6", "N8", "P2", "P7")


@dataclass(frozen=True)
class Inventory:
    """An inventory's items and conventions.

    ``items`` has one row per item, indexed by the data column (``i1``.. or ``M1``..), with
    columns ``text``, ``trait`` (one letter), ``facet``, ``sign`` (+1 / -1) and, for IPIP,
    ``short`` (the IPIP-NEO-120 position, 0 when not in the 120).
    """

    name: str
    items: pd.DataFrame
    traits: dict[str, str]
    labels: dict[int, str]
    stored_is_recoded: bool

    @property
    def trait_order(self) -> list[str]:
        return list(self.traits)

    def items_of(self, trait: str) -> list[str]:
        """The item columns of one trait, in inventory order."""
        return self.items.index[self.items["trait"] == trait].tolist()


def check_name(value: str, allowed: tuple[str, ...] | list[str], what: str) -> str:
    """Return ``value`` if allowed, else raise one clear error that suggests the closest name."""
    if value in allowed:
        return value
    close = difflib.get_close_matches(str(value), list(allowed), n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    raise PalignError(
        f"Unknown {what} {value!r}.{hint} Choose one of: {', '.join(map(str, allowed))}."
    )


@lru_cache(maxsize=None)
def _ipip() -> Inventory:
    path = data_dir() / "papi" / "IPIP-NEO-ItemKey.csv"
    if not path.exists():
        raise PalignError(
            f"Missing data file {path}. Restore it with `git checkout -- data/` (it ships with the book)."
        )
    key = pd.read_csv(path)
    items = pd.DataFrame(
        {
            "text": key["Item"].str.strip(),
            "trait": key["Key"].str[0],
            "facet_code": key["Key"],
            "facet": key["Facet"],
            "sign": np.where(key["Sign"].str[0] == "-", -1, 1),
            "short": key["Short#"].fillna(0).astype(int),
        }
    )
    items.index = [f"i{n}" for n in key["Full#"]]
    items.index.name = "item"
    return Inventory("ipip", items, BIG_FIVE, IPIP_LABELS, stored_is_recoded=True)


@lru_cache(maxsize=None)
def _sd3() -> Inventory:
    path = data_dir() / "sd3" / "codebook.txt"
    if not path.exists():
        raise PalignError(
            f"Missing data file {path}. Restore it with `git checkout -- data/` (it ships with the book)."
        )
    rows = []
    for line in path.read_text(encoding="cp1252").splitlines():
        parts = line.split("\t")
        if (
            len(parts) == 2
            and len(parts[0]) == 2
            and parts[0][0] in DARK_TRIAD
            and parts[0][1].isdigit()
        ):
            col, text = parts[0], parts[1].strip()
            rows.append(
                (
                    col,
                    text,
                    col[0],
                    DARK_TRIAD[col[0]],
                    -1 if col in SD3_REVERSED else 1,
                )
            )
    items = pd.DataFrame(
        rows, columns=["item", "text", "trait", "facet", "sign"]
    ).set_index("item")
    items["facet_code"] = items["trait"]
    items["short"] = 0
    if len(items) != 27:
        raise PalignError(
            f"{path} should list 27 SD3 items, found {len(items)}. Restore it with `git checkout -- data/`."
        )
    return Inventory("sd3", items, DARK_TRIAD, SD3_LABELS, stored_is_recoded=False)


def get_inventory(name: str) -> Inventory:
    """``"ipip"`` (IPIP-NEO-300) or ``"sd3"`` (Short Dark Triad)."""
    check_name(name, ("ipip", "sd3"), "inventory")
    return _ipip() if name == "ipip" else _sd3()


def check_answers(answers: pd.DataFrame, inventory: Inventory) -> None:
    """Raise if any answer is not an integer in 0..5 (0 = missing), naming the first bad cell."""
    cols = [c for c in inventory.items.index if c in answers.columns]
    values = answers[cols]
    numeric = values.apply(pd.to_numeric, errors="coerce")
    bad = numeric.isna() | (numeric < 0) | (numeric > 5) | (numeric % 1 != 0)
    if bad.to_numpy().any():
        row, col = np.argwhere(bad.to_numpy())[0]
        value, subject = (
            x.item() if isinstance(x, np.generic) else x
            for x in (values.iat[row, col], answers.index[row])
        )
        raise PalignError(
            f"Answer {value!r} for subject {subject!r}, item {cols[col]!r} is outside 0-5. "
            "Answers are Likert values 1-5, with 0 for missing; fix or drop that row."
        )


def reverse_keyed(values: np.ndarray, signs: np.ndarray) -> np.ndarray:
    """``6 - v`` on the minus-keyed items (``signs < 0``), missing 0 kept: the one place the scale is flipped."""
    values = np.asarray(values)
    return np.where((np.asarray(signs) < 0) & (values > 0), 6 - values, values)


def literal_answers(
    stored: np.ndarray, signs: np.ndarray, inventory: Inventory
) -> np.ndarray:
    """What the person actually answered to each statement (missing 0 stays 0).

    IPIP stores minus-keyed answers already reversed, so the literal answer is ``6 - v`` there;
    SD3 stores the literal answers.
    """
    stored = np.asarray(stored)
    return (
        reverse_keyed(stored, signs) if inventory.stored_is_recoded else stored.copy()
    )


def targets(
    stored: np.ndarray, signs: np.ndarray, inventory: Inventory, keying: str
) -> np.ndarray:
    """The answers a model's literal answer is compared with, under a keying convention.

    ``papi``: the stored value, read as the literal answer (what the paper does).
    ``literal``: what the person actually answered (:func:`literal_answers`).
    Shapes: ``stored`` and ``signs`` broadcast, e.g. (n_subjects, n_items) and (n_items,).
    """
    check_name(keying, KEYINGS, "keying")
    stored = np.asarray(stored)
    return (
        stored.copy() if keying == "papi" else literal_answers(stored, signs, inventory)
    )


def target_direction(inventory: Inventory, keying: str) -> pd.Series:
    """Per item, +1 when its target rises with the trait and -1 when it falls (reverse-keyed, literal).

    IPIP under the ``papi`` keying stores answers already turned in the trait's direction, so every
    item is +1; a literal target (IPIP ``literal``, SD3 either way) runs against the trait on a
    minus-keyed item. The one statement of that rule: :func:`palign_nb.controls.trivial_predictions` and the
    population controls (:mod:`palign_nb.controls`) use it.
    """
    check_name(keying, KEYINGS, "keying")
    signs = inventory.items["sign"].astype(int)
    if keying == "papi" and inventory.stored_is_recoded:
        return pd.Series(1, index=inventory.items.index, name="direction")
    return signs.rename("direction")


def shown_values(
    answers: pd.Series, items: list[str], inventory: Inventory, keying: str
) -> np.ndarray:
    """One subject's answers to ``items`` as a method sees them under ``keying`` (0 = missing): what its
    prompt lists, its probes are labelled with and its alpha is judged on (:func:`targets` of one row)."""
    signs = inventory.items.loc[items, "sign"].to_numpy()
    return targets(answers[items].to_numpy(), signs, inventory, keying)


def keyed_values(
    stored: np.ndarray, signs: np.ndarray, inventory: Inventory
) -> np.ndarray:
    """Answers turned in the trait's direction (high = more of the trait); 0 stays 0 (missing)."""
    stored = np.asarray(stored)
    return (
        stored.copy() if inventory.stored_is_recoded else reverse_keyed(stored, signs)
    )


def score_respondents(
    answers: pd.DataFrame, inventory: Inventory, by: str = "trait"
) -> pd.DataFrame:
    """Trait (or facet) scores: the mean keyed answer over non-missing items, per respondent.

    ``answers``: (n_respondents, items) stored values; ``by``: ``"trait"`` or ``"facet"``.
    Returns (n_respondents, n_groups) with NaN where a respondent answered none of a group.
    """
    check_name(by, ("trait", "facet"), "grouping")
    check_answers(answers, inventory)
    items = inventory.items
    keyed = keyed_values(
        answers[items.index].to_numpy(), items["sign"].to_numpy(), inventory
    ).astype(float)
    keyed[keyed == 0] = np.nan
    frame = pd.DataFrame(keyed, index=answers.index, columns=items.index)
    group = items["trait"] if by == "trait" else items["facet_code"]
    return frame.T.groupby(group.to_numpy()).mean().T

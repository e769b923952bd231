"""The sentences an answer is compared with by the offline stance judge.

A statement said in the first person (:func:`first_person`: IPIP "Worry about things." -> "I
worry about things.") and denied (:func:`negate`); :class:`palign_nb.judging.StanceJudge` reads
which of the two an answer is closer to.

Introduced in :doc:`/notebooks/10_open_ended`.
"""

from __future__ import annotations

import re

from .inventories import Inventory


def lower_first(text: str) -> str:
    """``text`` with its first letter lower-cased, unless it starts with the word "I"."""
    return text if re.match(r"I\b|I'", text) else text[:1].lower() + text[1:]


def first_person(text: str, inventory: Inventory) -> str:
    """The statement as the subject would say it: IPIP "Worry about things." -> "I worry about things."."""
    text = text.strip()
    return "I " + lower_first(text) if inventory.name == "ipip" else text


#: IPIP statements whose first word needs its own negation (the rest take "I do not ...").
_NEGATE_FIRST = {
    "am": "I am not",
    "can": "I cannot",
    "can't": "I can",
    "don't": "I",
    "would": "I would not",
    "never": "I sometimes",
    "seldom": "I often",
    "rarely": "I often",
    "often": "I seldom",
}


def negate(text: str, inventory: Inventory) -> str:
    """The statement denied in the first person: "Am always prepared." -> "I am not always prepared."."""
    text = text.strip()
    if inventory.name != "ipip":
        return "It is not true that " + lower_first(text)
    first, _, rest = text.partition(" ")
    if first.lower() in _NEGATE_FIRST:
        return f"{_NEGATE_FIRST[first.lower()]} {rest}"
    return "I do not " + lower_first(text)

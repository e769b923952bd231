"""The methods of the book: one registry naming each method, its chapter and its predictions table.

A method's predictions live in the results store as ``predictions_<key>_<keying>`` when what the
method is shown depends on the keying convention (a prompt or training data built from the known
answers), and as ``predictions_<key>`` when it does not (the unaligned model, the paper's shipped
P2 texts). Writers (:func:`palign_nb.store.save_predictions`) and readers
(:func:`palign_nb.store.load_predictions`, :mod:`palign_nb.results`) take the name from here, so a
table cannot be written under one name and read under another.
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import PalignError
from .inventories import KEYINGS, check_name


@dataclass(frozen=True)
class Method:
    """One method: ``key`` in table names, ``label`` in tables and charts, the ``chapter`` that writes it
    for the Big Five, whether it has one table per keying (``keyed``), its row in the paper's Table 1
    (``paper``), whether chapter 08 runs it on the Dark Triad (``sd3``), whether chapter 09 compares it
    (``compared``: False for tables a chapter keeps for itself)."""

    key: str
    label: str
    chapter: str
    keyed: bool = True
    paper: str | None = None
    sd3: bool = True
    compared: bool = True

    def table(self, keying: str = "papi") -> str:
        """The store name of this method's predictions under ``keying``."""
        check_name(keying, KEYINGS, "keying")
        return (
            f"predictions_{self.key}_{keying}"
            if self.keyed
            else f"predictions_{self.key}"
        )

    def writer(self, inventory: str) -> str:
        """The chapter that writes this method's table for ``inventory``."""
        return "08_dark_triad" if inventory == "sd3" else self.chapter


#: Every method with a predictions table, in the order of chapter 09's tables.
METHODS: tuple[Method, ...] = (
    Method("no_alignment", "no alignment", "03_asking_the_model", keyed=False),
    Method("icl", "few-shot (ICL)", "06_prompting_baselines", paper="Few-Shot"),
    Method("icl_known", "few-shot, validation held out", "05_pas", sd3=False),
    Method("p2", "P2", "06_prompting_baselines", keyed=False),
    Method("pas_icl", "PAS + prompt", "05_pas", paper="PAS"),
    Method("pas_alone", "PAS alone", "05_pas"),
    Method("dpo", "DPO", "07_preference_baselines", paper="DPO"),
    Method("grpo", "RL (GRPO)", "07_preference_baselines", paper="PPO"),
    # kept by their chapter, not in chapter 09's main tables (the oracle and its prompt
    # at alpha 0 run fewer subjects by default; 9.8 compares them like for like)
    Method(
        "pas_oracle",
        "PAS, alpha on test (oracle)",
        "05_pas",
        sd3=False,
        compared=False,
    ),
    Method(
        "icl_paper",
        "few-shot, all known answers (the oracle at alpha 0)",
        "05_pas",
        sd3=False,
        compared=False,
    ),
    Method(
        "p2_generated",
        "P2, the run's model's own description",
        "06_prompting_baselines",
        keyed=False,
        sd3=False,
        compared=False,
    ),
)

#: Chapter 05's data-efficiency predictions (PAS + prompt and its prompt alone per number of known answers).
DATA_EFFICIENCY_TABLE = "predictions_data_efficiency"
#: ... and their timings.
DATA_EFFICIENCY_TIMINGS = "timings_data_efficiency"


def timings_table(chapter: str) -> str:
    """The store name of a chapter's timings (one row per subject, method and stage; :mod:`palign_nb.all_subjects`)."""
    return f"timings_{chapter}"


def method(key: str) -> Method:
    """The registered method called ``key``; an unknown key names the registered ones."""
    for m in METHODS:
        if m.key == key:
            return m
    raise PalignError(
        f"method {key!r} is not registered in palign_nb.methods.METHODS "
        f"(registered: {', '.join(m.key for m in METHODS)}); register it there first."
    )


def methods_for(inventory: str, compared: bool = True) -> tuple[Method, ...]:
    """The methods run on ``inventory`` (``ipip``: all; ``sd3``: those chapter 08 runs); with ``compared``,
    only those chapter 09 compares."""
    return tuple(
        m
        for m in METHODS
        if (inventory == "ipip" or m.sd3) and (m.compared or not compared)
    )


def table_name(key: str, keying: str = "papi") -> str:
    """The store name of method ``key``'s predictions under ``keying``."""
    return method(key).table(keying)

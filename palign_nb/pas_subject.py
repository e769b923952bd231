"""PAS for one subject, end to end: probes on the known items, steering, alpha on validation items.

This is the plumbing chapter 05 calls per subject after showing each step inline. Only the
subject's *known* and *validation* answers enter; the test answers are never read here.

Introduced in :doc:`/notebooks/05_pas`.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

from .errors import PalignError
from .inventories import Inventory, shown_values
from .models import LoadedModel
from .pas import (
    ALPHA_CRITERIA,
    DIRECTION_KINDS,
    PAPER_ALPHAS,
    Persona,
    head_directions,
    search_alpha,
    steer,
)
from .probing import SOLVERS, ProbeResult, fit_head_probes, probe_dataset, top_k_heads
from .prompts import question
from .scoring import score_options


#: The chapter parameter behind each :class:`PASSettings` field (a chapter declares those it lets readers change).
PAS_PARAMETERS = {
    "top_k": "top_k",
    "alphas": "alphas",
    "batch_size": "batch_size",
    "probe_solver": "probe_solver",
    "direction": "direction",
    "refine": "refine_alpha",
    "alpha_criterion": "alpha_criterion",
}


@dataclass(frozen=True)
class PASSettings:
    """How PAS aligns a subject: heads steered, the alpha grid and how alpha is judged, the probes' solver and
    seed, the steering direction, and the scoring batch. One source for chapters 05 and 08 and palign-run
    (:func:`chapter_pas_settings`); the defaults are the paper's."""

    top_k: int = 24
    alphas: tuple[float, ...] = PAPER_ALPHAS
    seed: int = 0
    batch_size: int = 16
    probe_solver: str = "sklearn"
    direction: str = "mass_mean"
    refine: bool = False  # a golden-section search around the best grid alpha
    alpha_criterion: str = "argmax"  # :data:`palign_nb.pas.ALPHA_CRITERIA`

    def __post_init__(self) -> None:
        object.__setattr__(self, "alphas", tuple(float(a) for a in self.alphas))
        checks = [
            (self.top_k >= 1, "top_k must be at least 1"),
            (len(self.alphas) > 0, "alphas must not be empty"),
            (self.batch_size >= 1, "batch_size must be at least 1"),
            (
                self.probe_solver in SOLVERS,
                f"probe_solver must be one of {', '.join(SOLVERS)}",
            ),
            (
                self.direction in DIRECTION_KINDS,
                f"direction must be one of {', '.join(DIRECTION_KINDS)}",
            ),
            (
                self.alpha_criterion in ALPHA_CRITERIA,
                f"alpha_criterion must be one of {', '.join(ALPHA_CRITERIA)}",
            ),
        ]
        wrong = [message for ok, message in checks if not ok]
        if wrong:
            raise PalignError(f"PAS settings {self}: {'; '.join(wrong)}.")

    def at_most(self, n_heads: int) -> PASSettings:
        """The same settings steering at most ``n_heads`` heads (a small model may have fewer than ``top_k``)."""
        return replace(self, top_k=min(self.top_k, n_heads))

    def as_key(self) -> dict[str, Any]:
        """Every field, for checkpoint keys and manifests."""
        return asdict(self) | {"alphas": list(self.alphas)}


def chapter_pas_settings(params: dict[str, Any], seed: int) -> PASSettings:
    """:class:`PASSettings` from the :data:`PAS_PARAMETERS` a chapter declares (the others keep their defaults)."""
    return PASSettings(
        seed=seed,
        **{
            field: params[name]
            for field, name in PAS_PARAMETERS.items()
            if name in params
        },
    )


def fit_persona(
    acts: np.ndarray,
    act_items: list[str],
    values: np.ndarray,
    items: list[str],
    top_k: int,
    seed: int = 0,
    direction: str = "mass_mean",
    solver: str = "sklearn",
    device=None,
) -> tuple[Persona, ProbeResult]:
    """Probes, top-K heads and directions from the contrast activations of ``items`` only.

    ``acts``: (n_act_items, 2, n_layers, n_heads, d_head) for ``act_items``; ``values``: the
    subject's shown answers to ``items`` (alpha is still 0 in the returned persona). ``solver`` and
    ``device``: how the probes are fitted (:func:`palign_nb.probing.fit_head_probes`).
    """
    missing = [c for c in items if c not in act_items]
    if missing:
        raise PalignError(
            f"No cached activations for items {missing[:5]}. Rerun notebooks/04_head_probing.ipynb."
        )
    rows = [act_items.index(c) for c in items]
    X, y, groups = probe_dataset(acts[rows], values)
    probes = fit_head_probes(X, y, groups, seed=seed, solver=solver, device=device)
    heads = top_k_heads(probes.score, top_k)
    theta, sigma = head_directions(X, y, heads, kind=direction, coef=probes.coef)
    return Persona(
        heads, theta, sigma, 0.0, {"direction": direction, "top_k": top_k, "seed": seed}
    ), probes


def score_steered(
    lm: LoadedModel,
    persona: Persona,
    alpha: float,
    system: str,
    items: list[str],
    inventory: Inventory,
    batch_size: int = 16,
) -> pd.DataFrame:
    """Option table for ``items`` with the persona applied at strength ``alpha``."""
    users = [question(inventory.items.loc[c, "text"], inventory) for c in items]
    with steer(lm, persona, alpha):
        return score_options(lm, system, users, index=items, batch_size=batch_size)


@dataclass
class SubjectPAS:
    """What :func:`align_subject` returns: the fitted persona (alpha set), the alpha trials, timings, and
    the validation items' option table at each alpha the search scored (``tables``, for analyses that
    would otherwise score them again)."""

    persona: Persona
    probes: ProbeResult
    trials: pd.DataFrame
    seconds: dict[str, float]
    tables: dict[float, pd.DataFrame] = field(default_factory=dict)


def align_subject(
    lm: LoadedModel,
    acts: np.ndarray,
    act_items: list[str],
    answers: pd.Series,
    known: list[str],
    validation: list[str],
    inventory: Inventory,
    keying: str,
    system: str,
    settings: PASSettings = PASSettings(),
) -> SubjectPAS:
    """Fit a subject's persona on ``known`` and choose alpha on ``validation`` (never on test items), as ``settings``
    say (its ``alpha_criterion`` judges an alpha on the validation items; ``argmax`` is the paper's)."""
    if not validation:
        raise PalignError(
            "align_subject needs validation items to choose alpha; carve some with splits.carve_validation."
        )
    start = time.perf_counter()
    s = settings
    persona, probes = fit_persona(
        acts,
        act_items,
        shown_values(answers, known, inventory, keying),
        known,
        s.top_k,
        s.seed,
        s.direction,
        solver=s.probe_solver,
        device=lm.device,
    )
    probe_s = time.perf_counter() - start
    val_targets = shown_values(answers, validation, inventory, keying)
    traits = inventory.items.loc[validation, "trait"].to_numpy()
    start = time.perf_counter()
    tables: dict[float, pd.DataFrame] = {}

    def scored(alpha: float) -> pd.DataFrame:
        tables[alpha] = score_steered(
            lm, persona, alpha, system, validation, inventory, s.batch_size
        )
        return tables[alpha]

    alpha, trials = search_alpha(
        scored,
        val_targets,
        traits,
        s.alphas,
        refine=s.refine,
        criterion=s.alpha_criterion,
    )
    persona.alpha = alpha
    persona.meta.update(
        {
            "keying": keying,
            "known": known,
            "validation": validation,
            "alphas": list(s.alphas),
            "refine": s.refine,
            "alpha_criterion": s.alpha_criterion,
        }
    )
    return SubjectPAS(
        persona,
        probes,
        trials,
        {"probe_fit": probe_s, "alpha_search": time.perf_counter() - start},
        tables,
    )


@dataclass
class OracleRun:
    """What :func:`oracle_subject` returns: the persona (alpha set to the one the test items chose), the option
    table of every alpha's test pass and each pass's seconds."""

    persona: Persona
    tables: dict[float, pd.DataFrame]
    pass_seconds: dict[float, float]


def oracle_subject(
    lm: LoadedModel,
    acts: np.ndarray,
    act_items: list[str],
    answers: pd.Series,
    known: list[str],
    items: list[str],
    inventory: Inventory,
    keying: str,
    system: str,
    settings: PASSettings = PASSettings(),
) -> OracleRun:
    """The paper's released procedure for one subject, labelled oracle: probes on all ``known`` items, one pass
    over the **test** ``items`` per alpha, and the alpha that scores best on them (:ref:`paper-pitfalls`).

    Never a held-out estimate: it measures how much choosing alpha on the test items flatters PAS. Of
    ``settings``, ``refine`` and ``alpha_criterion`` do not apply (the paper's code: argmax on the grid).
    """
    s = settings
    persona, _ = fit_persona(
        acts,
        act_items,
        shown_values(answers, known, inventory, keying),
        known,
        s.top_k,
        s.seed,
        s.direction,
        solver=s.probe_solver,
        device=lm.device,
    )
    tables, seconds = {}, {}
    for alpha in s.alphas:
        start = time.perf_counter()
        tables[alpha] = score_steered(
            lm, persona, alpha, system, items, inventory, s.batch_size
        )
        seconds[alpha] = time.perf_counter() - start
    traits = inventory.items.loc[items, "trait"].to_numpy()
    persona.alpha, _ = search_alpha(
        tables.__getitem__,
        shown_values(answers, items, inventory, keying),
        traits,
        s.alphas,
    )
    persona.meta.update(
        {
            "keying": keying,
            "known": known,
            "alphas": list(s.alphas),
            "alpha_on": "test items",
        }
    )
    return OracleRun(persona, tables, seconds)

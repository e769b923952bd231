"""PAS: shift the chosen heads along the subject's direction by alpha * sigma, alpha chosen on validation items.

Steps (:ref:`paper-pas`): directions per head from the contrast activations (centre of mass, or the
probe weights), sigma = the spread of the activations along that direction, the top-K heads by
probe score, and an intervention that adds ``alpha * sigma * theta`` to each chosen head's output
at every position. Alpha is chosen on validation items carved from the known answers, never on
the test items.

Introduced in :doc:`/notebooks/05_pas`.
"""

from __future__ import annotations

import contextlib
import json
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from .activations import head_dim, out_projections
from .errors import PalignError
from .inventories import LETTER_TO_VALUE, OPTION_LETTERS
from .metrics import alignment_score
from .models import LoadedModel

PAPER_ALPHAS: tuple[float, ...] = (0.0, 1.0, 2.0, 4.0, 6.0, 8.0)


#: The directions :func:`head_directions` builds.
DIRECTION_KINDS = ("mass_mean", "probe", "letter_removed")


def letter_vectors(X: np.ndarray, heads: list[tuple[int, int]]) -> np.ndarray:
    """The mean "A minus E" completion vector of each head, (K, d_head).

    ``X`` holds the rows of :func:`palign_nb.probing.probe_dataset`: each item's "A" completion, then its
    "E" completion. This vector is what tells the two letters apart whatever the subject answered.
    """
    return np.stack(
        [(X[0::2, layer, head] - X[1::2, layer, head]).mean(0) for layer, head in heads]
    )


def _unit(vec: np.ndarray) -> np.ndarray:
    norm = np.linalg.norm(vec)
    return vec / norm if norm > 0 else vec


def head_directions(
    X: np.ndarray,
    y: np.ndarray,
    heads: list[tuple[int, int]],
    kind: str = "mass_mean",
    coef: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Unit direction and sigma for each chosen head.

    ``X``: (n_samples, n_layers, n_heads, d_head), ``y``: (n_samples,) 1 = matches the subject.
    ``kind``: ``mass_mean`` (the paper's code: mean of label-1 minus mean of label-0), ``probe``
    (the probe's weight vector, ``coef``: (n_layers, n_heads, d_head)) or ``letter_removed`` (the
    book's balanced variant: the mass-mean direction minus its component along the head's mean "A
    minus E" vector, :func:`letter_vectors`; for a subject who agrees with every known statement the
    mass mean *is* that letter vector, and nothing is left). Returns ``theta`` (K, d_head) and
    ``sigma`` (K,), the standard deviation of all samples projected on theta (0 for a zero direction).
    """
    if kind not in DIRECTION_KINDS:
        raise PalignError(
            f"Unknown direction kind {kind!r}: use one of {', '.join(DIRECTION_KINDS)}."
        )
    if kind == "probe" and coef is None:
        raise PalignError("kind='probe' needs the probes' `coef` (ProbeResult.coef).")
    letters = letter_vectors(X, heads) if kind == "letter_removed" else None
    thetas, sigmas = [], []
    for k, (layer, head) in enumerate(heads):
        acts = X[:, layer, head]
        vec = (
            acts[y == 1].mean(0) - acts[y == 0].mean(0)
            if kind != "probe"
            else coef[layer, head]
        )
        if letters is not None:
            letter = _unit(letters[k])
            rest = vec - (vec @ letter) * letter
            # nothing but the letter (a one-sided subject): what is left is rounding noise, not a direction
            vec = (
                rest
                if np.linalg.norm(rest) > 1e-4 * np.linalg.norm(vec)
                else np.zeros_like(vec)
            )
        theta = _unit(vec)
        thetas.append(theta)
        sigmas.append(float(np.std(acts @ theta)))
    return np.array(thetas, dtype=np.float32), np.array(sigmas, dtype=np.float32)


def letter_cosine(
    X: np.ndarray, y: np.ndarray, heads: list[tuple[int, int]]
) -> np.ndarray:
    """Cosine between each head's mass-mean direction and its mean "A minus E" vector, (K,): near 1 means
    the direction mostly says "answer A" (or E), not anything about the subject."""
    mass_mean, _ = head_directions(X, y, heads, "mass_mean")
    letters = np.stack([_unit(v) for v in letter_vectors(X, heads)])
    return (mass_mean * letters).sum(1)


@dataclass
class Persona:
    """One subject's steering: heads, unit directions (K, d_head), sigmas (K,), alpha, and provenance."""

    heads: list[tuple[int, int]]
    directions: np.ndarray
    sigmas: np.ndarray
    alpha: float = 0.0
    meta: dict[str, Any] = field(default_factory=dict)

    def displacement(self, alpha: float | None = None) -> np.ndarray:
        """alpha * sigma * theta per head: (K, d_head)."""
        a = self.alpha if alpha is None else alpha
        return a * self.sigmas[:, None] * self.directions

    @contextlib.contextmanager
    def applied(self, lm: LoadedModel, alpha: float | None = None) -> Iterator[None]:
        """``with persona.applied(lm):`` steers ``lm`` by this persona (at its own alpha unless ``alpha``): :func:`steer`."""
        with steer(lm, self, alpha):
            yield


@contextlib.contextmanager
def steer(
    lm: LoadedModel, persona: Persona, alpha: float | None = None
) -> Iterator[None]:
    """Inside the block, every chosen head's output is shifted by alpha * sigma * theta at every position.

    A forward pre-hook on each affected layer's ``o_proj`` adds the shift to that head's slice of the
    input (the paper adds the same thing as an o_proj bias). Weights are untouched; the hooks are
    removed on exit, so the model is restored exactly. Works with the KV cache and batched scoring.
    """
    projs = out_projections(lm.model)
    d = head_dim(lm.model)
    shift = persona.displacement(alpha)
    by_layer: dict[int, torch.Tensor] = {}
    for (layer, head), vec in zip(persona.heads, shift):
        if (
            not (0 <= layer < len(projs) and 0 <= head < lm.n_heads)
            or vec.shape[0] != d
        ):
            raise PalignError(
                f"Head ({layer}, {head}) with d_head={vec.shape[0]} does not fit this model "
                f"({len(projs)} layers x {lm.n_heads} heads of {d}). Was the persona made for another model?"
            )
        weight = projs[layer].weight
        delta = by_layer.setdefault(
            layer, torch.zeros(lm.n_heads * d, dtype=weight.dtype, device=weight.device)
        )
        delta[head * d : (head + 1) * d] += torch.as_tensor(
            vec, dtype=weight.dtype, device=weight.device
        )

    def adder(delta: torch.Tensor):
        def hook(module, args):
            return (args[0] + delta, *args[1:])

        return hook

    handles = [
        projs[layer].register_forward_pre_hook(adder(delta))
        for layer, delta in by_layer.items()
    ]
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()


def expected_error(option_probs: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """E|answer - target| under the option distribution: (n_items,) from (n_items, 5) probs A..E."""
    values = np.array([LETTER_TO_VALUE[x] for x in OPTION_LETTERS], dtype=float)
    return (
        option_probs
        * np.abs(values[None, :] - np.asarray(targets, dtype=float)[:, None])
    ).sum(1)


#: How :func:`search_alpha` judges an alpha on the validation items: the paper's composite error of the
#: argmax letters, the expected absolute error under the option distribution, or the ranked probability score.
ALPHA_CRITERIA = {
    "argmax": ["composite", "expected"],
    "expected": ["expected"],
    "rps": ["rps"],
}


def search_alpha(
    evaluate: Callable[[float], pd.DataFrame],
    targets: np.ndarray,
    traits: np.ndarray,
    alphas: tuple[float, ...] = PAPER_ALPHAS,
    refine: bool = False,
    bounds: tuple[float, float] = (0.0, 10.0),
    refine_steps: int = 8,
    criterion: str = "argmax",
) -> tuple[float, pd.DataFrame]:
    """Choose alpha on the items ``evaluate(alpha)`` scores (validation items!).

    ``evaluate(alpha)`` returns an option table (p_A..p_E, predicted) for those items. Every trial
    records the composite error of the argmax letters (the paper's), the expected error and the RPS
    (each a sum over traits of per-trait means); ``criterion`` (:data:`ALPHA_CRITERIA`) says which one
    chooses. The grid is scored first (ties go to the smaller alpha, so alpha = 0 wins unless steering
    helps); with ``refine``, a golden-section search on ``bounds`` minimises the criterion's smooth
    measure (expected error, or RPS) around the best grid point. Returns the chosen alpha and one row per
    alpha tried.
    """
    from .readouts import ranked_probability_score

    if criterion not in ALPHA_CRITERIA:
        raise PalignError(
            f"alpha criterion {criterion!r}: use one of {', '.join(ALPHA_CRITERIA)}."
        )
    order = ALPHA_CRITERIA[criterion] + ["alpha"]
    smooth = "rps" if criterion == "rps" else "expected"
    targets = np.asarray(targets)
    if np.any(targets <= 0):
        keep = targets > 0
        targets, traits = targets[keep], np.asarray(traits)[keep]
        inner = evaluate
        evaluate = lambda a: inner(a)[keep]  # noqa: E731  (missing validation answers are dropped)
    rows = []

    def run(alpha: float) -> dict[str, float]:
        table = evaluate(alpha)
        probs = table[[f"p_{x}" for x in "ABCDE"]].to_numpy()
        graded = pd.DataFrame(
            {
                "subject": 0,
                "trait": traits,
                "target": targets,
                "predicted": table["predicted"].to_numpy(),
            }
        )
        row = {
            "alpha": float(alpha),
            "composite": float(
                alignment_score(graded)["composite"]
            ),  # the paper's metric
            "expected": float(
                pd.Series(expected_error(probs, targets)).groupby(traits).mean().sum()
            ),
            "rps": float(
                pd.Series(ranked_probability_score(probs, targets))
                .groupby(traits)
                .mean()
                .sum()
            ),
        }
        rows.append(row)
        return row

    for alpha in alphas:
        run(alpha)
    if refine:
        best = min(rows, key=lambda r: tuple(r[c] for c in order))["alpha"]
        grid = sorted(set(alphas) | {bounds[0], bounds[1]})
        i = grid.index(best) if best in grid else 0
        lo, hi = grid[max(i - 1, 0)], grid[min(i + 1, len(grid) - 1)]
        golden = (math.sqrt(5) - 1) / 2
        a, b = lo + (1 - golden) * (hi - lo), lo + golden * (hi - lo)
        fa, fb = run(a)[smooth], run(b)[smooth]
        for _ in range(max(refine_steps - 2, 0)):
            if fa <= fb:
                hi, b, fb = b, a, fa
                a = lo + (1 - golden) * (hi - lo)
                fa = run(a)[smooth]
            else:
                lo, a, fa = a, b, fb
                b = lo + golden * (hi - lo)
                fb = run(b)[smooth]
    trials = pd.DataFrame(rows)
    best_row = trials.sort_values(order).iloc[0]
    return float(best_row["alpha"]), trials


def save_persona(persona: Persona, path: str | Path) -> Path:
    """Write ``<path>.safetensors`` (heads, directions, sigmas, alpha) and ``<path>.json`` (provenance), each
    through a temporary file renamed into place."""
    from safetensors.numpy import save

    from .checkpoints import write_atomically

    path = Path(path).with_suffix("")
    path.parent.mkdir(parents=True, exist_ok=True)
    tensors = save(
        {
            "heads": np.array(persona.heads, dtype=np.int64).reshape(-1, 2),
            "directions": persona.directions,
            "sigmas": persona.sigmas,
            "alpha": np.array([persona.alpha], dtype=np.float32),
        }
    )
    write_atomically(
        path.with_suffix(".json"),
        json.dumps(persona.meta, indent=1, default=str).encode(),
    )
    write_atomically(
        path.with_suffix(".safetensors"), tensors
    )  # last: a persona is complete once its tensors exist
    return path.with_suffix(".safetensors")


def load_persona(path: str | Path, lm: LoadedModel | None = None) -> Persona:
    """Read a persona back; with ``lm``, refuse it unless it was made for that model and revision."""
    from safetensors.numpy import load_file

    path = Path(path).with_suffix("")
    tensors_path, meta_path = (
        path.with_suffix(".safetensors"),
        path.with_suffix(".json"),
    )
    if not tensors_path.exists() or not meta_path.exists():
        raise PalignError(
            f"No persona at {path} (.safetensors + .json). Run notebooks/05_pas.ipynb to make one."
        )
    t = load_file(str(tensors_path))
    meta = json.loads(meta_path.read_text())
    if lm is not None and (meta.get("model_id"), meta.get("model_revision")) != (
        lm.model_id,
        lm.revision,
    ):
        raise PalignError(
            f"This persona was made for model {meta.get('model_id')!r} (revision {meta.get('model_revision')}), "
            f"not {lm.model_id!r} (revision {lm.revision}). Personas only transfer to the model they were probed on."
        )
    heads = [(int(a), int(b)) for a, b in t["heads"]]
    return Persona(heads, t["directions"], t["sigmas"], float(t["alpha"][0]), meta)

"""One logistic probe per attention head: which heads tell a subject's answers apart?

For each known item the subject answered (not 3, not missing), the contrast set has two
prompts, the item answered "A" and answered "E". The one that matches the subject's answer is
labelled 1, the other 0 (paper.md §7.2, step 3). A probe per (layer, head) learns to tell them
apart from that head's output; the paper scores a head by the mean of its train and validation
accuracy on a 60/40 split and keeps the top K.

Introduced in :doc:`/notebooks/04_head_probing`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.linear_model import LogisticRegression

from .errors import PalignError


#: The fewest decided known answers (not 3, not missing) the probes accept.
MIN_USABLE = 4


def contrast_labels(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Which items are usable and the label of their "A" completion.

    ``values``: (n_items,) answers as the method sees them (1..5, 0 missing). Returns ``used``
    (n_items,) bool (answer not 3 and not missing) and ``a_is_match`` (n_items,) bool
    (answer 4 or 5: "A" matches the subject).
    """
    values = np.asarray(values)
    return (values > 0) & (values != 3), values > 3


def probe_dataset(acts: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Samples for the probes from contrast activations and the subject's answers.

    ``acts``: (n_items, 2, n_layers, n_heads, d_head) ("A" then "E" completion). Returns
    ``X`` (n_samples, n_layers, n_heads, d_head), ``y`` (n_samples,) with 1 = matches the subject, and
    ``groups`` (n_samples,): the item each sample comes from (both completions of an item share it).
    """
    used, a_match = contrast_labels(values)
    if used.sum() < MIN_USABLE:
        raise PalignError(
            f"Only {int(used.sum())} known answers are usable (answers of 3 and missing ones tell no direction); "
            f"probes need at least {MIN_USABLE}. Pick a subject with more decided answers or give more known items."
        )
    idx = np.flatnonzero(used)
    X = acts[idx].reshape(len(idx) * 2, *acts.shape[2:])
    y = np.stack([a_match[idx], ~a_match[idx]], axis=1).reshape(-1).astype(int)
    return X, y, np.repeat(idx, 2)


@dataclass
class ProbeResult:
    """Per-head probe accuracies and weights: arrays of shape (n_layers, n_heads[, d_head])."""

    train_acc: np.ndarray
    val_acc: np.ndarray
    coef: np.ndarray

    @property
    def score(self) -> np.ndarray:
        """The paper's head score: mean of validation and train accuracy, (n_layers, n_heads)."""
        return (self.train_acc + self.val_acc) / 2


def split_groups(groups: np.ndarray, train_frac: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A seeded train/validation split of samples that keeps each item's two samples together."""
    items = np.unique(groups)
    rng = np.random.default_rng(seed)
    shuffled = rng.permutation(items)
    n_train = int(round(train_frac * len(items)))
    n_train = min(max(n_train, 1), len(items) - 1)
    train_items = set(shuffled[:n_train].tolist())
    is_train = np.array([g in train_items for g in groups])
    return np.flatnonzero(is_train), np.flatnonzero(~is_train)


def fit_head_probes(X: np.ndarray, y: np.ndarray, groups: np.ndarray, seed: int = 0, train_frac: float = 0.6) -> ProbeResult:
    """Fit ``LogisticRegression(random_state=seed, max_iter=1000)`` on every head's activations.

    ``X``: (n_samples, n_layers, n_heads, d_head). The split is by item (:func:`split_groups`), so the
    two completions of one statement never sit on both sides.
    """
    train, val = split_groups(groups, train_frac, seed)
    n_layers, n_heads, d = X.shape[1:]
    train_acc = np.zeros((n_layers, n_heads))
    val_acc = np.zeros((n_layers, n_heads))
    coef = np.zeros((n_layers, n_heads, d))
    for layer in range(n_layers):
        for head in range(n_heads):
            feats = X[:, layer, head]
            clf = LogisticRegression(random_state=seed, max_iter=1000).fit(feats[train], y[train])
            train_acc[layer, head] = clf.score(feats[train], y[train])
            val_acc[layer, head] = clf.score(feats[val], y[val])
            coef[layer, head] = clf.coef_[0]
    return ProbeResult(train_acc, val_acc, coef)


def top_k_heads(score: np.ndarray, k: int) -> list[tuple[int, int]]:
    """The ``k`` (layer, head) pairs with the highest score; ties go to the lower layer, then head.

    ``score``: (n_layers, n_heads).
    """
    if not 1 <= k <= score.size:
        raise PalignError(f"top_k={k} must lie between 1 and the number of heads ({score.size}).")
    flat = np.lexsort((np.arange(score.size), -score.reshape(-1)))[:k]
    return [(int(i // score.shape[1]), int(i % score.shape[1])) for i in flat]

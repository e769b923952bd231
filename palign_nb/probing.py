"""One logistic probe per attention head: which heads tell a subject's answers apart?

For each known item the subject answered (not 3, not missing), the contrast set has two
prompts, the item answered "A" and answered "E". The one that matches the subject's answer is
labelled 1, the other 0 (:ref:`paper-pas`, step 3). A probe per (layer, head) learns to tell them
apart from that head's output; the paper scores a head by the mean of its train and validation
accuracy on a 60/40 split and keeps the top K.

The reference fit is one scikit-learn ``LogisticRegression`` per head, a loop over n_layers x n_heads
small problems (1,024 on an 8B model). They all share the samples and the labels, so
:func:`fit_logistic_batched` can solve them as one batch in torch (Newton's method), on a GPU too.
It minimises the same objective to the optimum, where scikit-learn's lbfgs stops early (``tol=1e-4``):
the two differ by that early stop, up to ~3e-2 in a coefficient and now and then in an accuracy.

Introduced in :doc:`/notebooks/04_head_probing`.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression

from .errors import PalignError


#: The fewest decided known answers (not 3, not missing) the probes accept.
MIN_USABLE = 4

#: How :func:`fit_head_probes` can fit the probes.
SOLVERS = ("sklearn", "torch", "auto")


def contrast_labels(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Which items are usable and the label of their "A" completion.

    ``values``: (n_items,) answers as the method sees them (1..5, 0 missing). Returns ``used``
    (n_items,) bool (answer not 3 and not missing) and ``a_is_match`` (n_items,) bool
    (answer 4 or 5: "A" matches the subject).
    """
    values = np.asarray(values)
    return (values > 0) & (values != 3), values > 3


def probe_dataset(
    acts: np.ndarray, values: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
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
    intercept: np.ndarray | None = None

    @property
    def score(self) -> np.ndarray:
        """The paper's head score: mean of validation and train accuracy, (n_layers, n_heads)."""
        return (self.train_acc + self.val_acc) / 2


def split_groups(
    groups: np.ndarray, train_frac: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """A seeded train/validation split of samples that keeps each item's two samples together."""
    items = np.unique(groups)
    rng = np.random.default_rng(seed)
    shuffled = rng.permutation(items)
    n_train = int(round(train_frac * len(items)))
    n_train = min(max(n_train, 1), len(items) - 1)
    train_items = set(shuffled[:n_train].tolist())
    is_train = np.array([g in train_items for g in groups])
    return np.flatnonzero(is_train), np.flatnonzero(~is_train)


def probe_device(device: str | torch.device | None) -> torch.device:
    """The device for the torch solver (default CPU); a clear error if it is not usable here."""
    try:
        dev = torch.device("cpu" if device is None else device)
        torch.empty(0, device=dev)
    except (RuntimeError, AssertionError):
        raise PalignError(
            f"device={str(device)!r} is not available on this machine (CUDA visible: {torch.cuda.is_available()}). "
            "Use device='cpu' (or leave it unset), or solver='sklearn'."
        ) from None
    return dev


def logistic_objective(
    X: torch.Tensor, y: torch.Tensor, coef: torch.Tensor, intercept: torch.Tensor
) -> torch.Tensor:
    """scikit-learn's objective with C = 1, per head: sum of log losses + ||coef||^2 / 2.

    ``X``: (n_heads, n, d), ``y``: (n,) of 0/1, ``coef``: (n_heads, d), ``intercept``: (n_heads,).
    The intercept is not penalised. Returns (n_heads,).
    """
    z = torch.einsum("bnd,bd->bn", X, coef) + intercept[:, None]
    log_loss = (
        torch.logaddexp(torch.zeros_like(z), z) - y * z
    )  # log(1 + e^z) - y z; softplus rounds beyond z = 20
    return log_loss.sum(1) + 0.5 * (coef**2).sum(1)


def fit_logistic_batched(
    X: torch.Tensor, y: torch.Tensor, tol: float | None = None, max_iter: int = 100
) -> tuple[torch.Tensor, torch.Tensor]:
    """Minimise :func:`logistic_objective` for every head at once by damped Newton's method.

    ``X``: (n_heads, n, d) in the dtype and on the device to solve in; ``y``: (n,) of 0/1. Returns
    ``coef`` (n_heads, d) and ``intercept`` (n_heads,). The L2 penalty makes each head's problem
    strictly convex, so Newton's method converges to the one optimum, separable data included;
    a backtracking line search per head keeps the first steps from overshooting. It stops when every
    head's gradient norm is below ``tol`` (default 1e-6 in float64, 1e-3 in float32, where rounding
    of the sums allows no less), or warns after ``max_iter`` steps (5 to 10 are typical).
    """
    n_heads, n, d = X.shape
    y = y.to(X)
    if not torch.isfinite(X).all():
        raise PalignError(
            "The activations hold NaN or inf; recapture them (in float32 if the model overflowed)."
        )
    if not 0 < y.sum() < n:
        raise PalignError(
            "The probes need samples of both classes (labels 0 and 1) in the training split."
        )
    tol = (1e-6 if X.dtype == torch.float64 else 1e-3) if tol is None else tol
    Xb = torch.cat([X, X.new_ones(n_heads, n, 1)], dim=2)  # last column: the intercept
    penalty = X.new_ones(d + 1)
    penalty[-1] = 0.0
    theta = X.new_zeros(n_heads, d + 1)

    def objective(theta: torch.Tensor) -> torch.Tensor:
        return logistic_objective(X, y, theta[:, :d], theta[:, d])

    slack = (
        64 * torch.finfo(X.dtype).eps
    )  # accept a step whose gain is lost in rounding (at the optimum)
    for _ in range(max_iter):
        p = torch.sigmoid(torch.einsum("bnd,bd->bn", Xb, theta))
        grad = torch.einsum("bnd,bn->bd", Xb, p - y) + penalty * theta
        worst = grad.norm(dim=1).max().item()
        if worst < tol:
            return theta[:, :d], theta[:, d]
        hess = (Xb * (p * (1 - p))[..., None]).transpose(1, 2) @ Xb + torch.diag(
            penalty
        )
        step = -torch.linalg.solve(
            hess, grad
        )  # LU: on a busy CPU far steadier than torch's batched Cholesky
        f0, slope = objective(theta), (grad * step).sum(1)
        t = X.new_ones(n_heads)
        for _ in range(
            40
        ):  # halve the step of each head whose objective did not fall enough
            ok = (
                objective(theta + t[:, None] * step)
                <= f0 + 1e-4 * t * slope + slack * f0.abs()
            )
            if ok.all():
                break
            t = torch.where(ok, t, t / 2)
        theta = theta + t[:, None] * step
    warnings.warn(
        f"The probes stopped after max_iter={max_iter} Newton steps with a gradient norm of {worst:.1e} (tol {tol:g}).",
        RuntimeWarning,
        stacklevel=2,
    )
    return theta[:, :d], theta[:, d]


def fit_head_probes(
    X: np.ndarray,
    y: np.ndarray,
    groups: np.ndarray,
    seed: int = 0,
    train_frac: float = 0.6,
    solver: str = "sklearn",
    device: str | torch.device | None = None,
    dtype: torch.dtype = torch.float64,
) -> ProbeResult:
    """Fit ``LogisticRegression(random_state=seed, max_iter=1000)`` on every head's activations.

    ``X``: (n_samples, n_layers, n_heads, d_head). The split is by item (:func:`split_groups`), so the
    two completions of one statement never sit on both sides.

    ``solver="sklearn"`` (the default; it makes the book's numbers) loops over the heads. ``"torch"``
    minimises the same objective for all heads at once (:func:`fit_logistic_batched`) on ``device``
    (default CPU; pass the model's device to fit on its GPU) in ``dtype`` (float32 suits GPUs slow in
    float64; on the embedded model's heads it lands 1.2e-6 from float64). It reaches the optimum,
    which lbfgs stops short of: on the embedded model's 270 heads (120 known items, one subject) its
    coefficients lie up to 1.7e-2 from the default run's and 3e-6 from a run at ``tol=1e-10``, one
    head's accuracies differ and the top-16 heads are the same. ``"auto"`` is torch: in three runs of
    ``benchmarks/bench_probes.py`` on a shared 2-core CPU it took 0.17-0.21 of the loop's time on the
    embedded model's heads and 0.5-1.06 of it on a 32 x 32 x 128 layout of an 8B model (2.7 s against
    2.6 s on the quiet machine), so the loop was not clearly faster anywhere (no GPU was measured).
    A probe predicts 1 when ``coef . x + intercept > 0``, as scikit-learn's ``predict`` does.
    """
    if solver not in SOLVERS:
        raise PalignError(
            f"Unknown solver {solver!r}. Choose one of {', '.join(SOLVERS)}."
        )
    train, val = split_groups(groups, train_frac, seed)
    n_layers, n_heads, d = X.shape[1:]
    if solver != "sklearn":
        return _fit_torch(X, y, train, val, probe_device(device), dtype)
    train_acc = np.zeros((n_layers, n_heads))
    val_acc = np.zeros((n_layers, n_heads))
    coef = np.zeros((n_layers, n_heads, d))
    intercept = np.zeros((n_layers, n_heads))
    for layer in range(n_layers):
        for head in range(n_heads):
            feats = X[:, layer, head]
            clf = LogisticRegression(random_state=seed, max_iter=1000).fit(
                feats[train], y[train]
            )
            train_acc[layer, head] = clf.score(feats[train], y[train])
            val_acc[layer, head] = clf.score(feats[val], y[val])
            coef[layer, head] = clf.coef_[0]
            intercept[layer, head] = clf.intercept_[0]
    return ProbeResult(train_acc, val_acc, coef, intercept)


def _fit_torch(
    X: np.ndarray,
    y: np.ndarray,
    train: np.ndarray,
    val: np.ndarray,
    device: torch.device,
    dtype: torch.dtype,
) -> ProbeResult:
    """:func:`fit_head_probes` with the batched torch solver: heads become the batch dimension."""
    n_layers, n_heads, d = X.shape[1:]
    heads = (
        torch.from_numpy(np.ascontiguousarray(X))
        .to(device, dtype)
        .reshape(len(X), -1, d)
        .transpose(0, 1)
    )
    labels = torch.as_tensor(y, dtype=dtype, device=device)
    coef, intercept = fit_logistic_batched(heads[:, train], labels[train])

    def accuracy(rows: np.ndarray) -> np.ndarray:
        z = torch.einsum("bnd,bd->bn", heads[:, rows], coef) + intercept[:, None]
        return (
            ((z > 0).to(labels) == labels[rows])
            .double()
            .mean(1)
            .reshape(n_layers, n_heads)
            .cpu()
            .numpy()
        )

    return ProbeResult(
        accuracy(train),
        accuracy(val),
        coef.reshape(n_layers, n_heads, d).double().cpu().numpy(),
        intercept.reshape(n_layers, n_heads).double().cpu().numpy(),
    )


def top_k_heads(score: np.ndarray, k: int) -> list[tuple[int, int]]:
    """The ``k`` (layer, head) pairs with the highest score; ties go to the lower layer, then head.

    ``score``: (n_layers, n_heads).
    """
    if not 1 <= k <= score.size:
        raise PalignError(
            f"top_k={k} must lie between 1 and the number of heads ({score.size})."
        )
    flat = np.lexsort((np.arange(score.size), -score.reshape(-1)))[:k]
    return [(int(i // score.shape[1]), int(i % score.shape[1])) for i in flat]

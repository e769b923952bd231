"""The batched torch probes against scikit-learn's loop (probing.fit_head_probes, solver="torch").

scikit-learn's lbfgs stops once the gradient of its mean-scaled objective is below tol=1e-4, so its
coefficients are only near the optimum (up to ~3e-2 away on the embedded model's heads). The torch
solver is checked to reach the optimum (objective never above scikit-learn's, coefficients within
1e-5 of a scikit-learn run at tol=1e-10) and to agree with the default run where the book uses it:
head accuracies and the top-K heads.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from sklearn.linear_model import LogisticRegression

from test_palign_pas import planted_contrast

from palign_nb import activations, data, probing
from palign_nb.inventories import shown_values
from palign_nb.errors import PalignError
from palign_nb.inventories import get_inventory
from palign_nb.models import EMBEDDED_ID, load_model


def objectives(
    X: np.ndarray, y: np.ndarray, rows: np.ndarray, result: probing.ProbeResult
) -> np.ndarray:
    """scikit-learn's objective (C = 1) of each head's fitted probe on the training rows, float64."""
    d = X.shape[-1]
    heads = torch.from_numpy(X[rows]).double().reshape(len(rows), -1, d).transpose(0, 1)
    coef, intercept = (
        torch.from_numpy(result.coef.reshape(-1, d)),
        torch.from_numpy(result.intercept.reshape(-1)),
    )
    return probing.logistic_objective(
        heads, torch.from_numpy(y[rows]).double(), coef, intercept
    ).numpy()


def converged_sklearn(
    X: np.ndarray, y: np.ndarray, groups: np.ndarray
) -> probing.ProbeResult:
    """fit_head_probes' scikit-learn loop run to tol=1e-10 in float64: the optimum both solvers aim at."""
    train, val = probing.split_groups(groups, 0.6, 0)
    X = X.astype(np.float64)
    accs, coef = np.zeros((2, *X.shape[1:3])), np.zeros(X.shape[1:])
    for layer, head in np.ndindex(*X.shape[1:3]):
        clf = LogisticRegression(tol=1e-10, max_iter=100_000).fit(
            X[train, layer, head], y[train]
        )
        accs[:, layer, head] = (
            clf.score(X[train, layer, head], y[train]),
            clf.score(X[val, layer, head], y[val]),
        )
        coef[layer, head] = clf.coef_[0]
    return probing.ProbeResult(accs[0], accs[1], coef)


def equal_accuracies(a: probing.ProbeResult, b: probing.ProbeResult) -> float:
    """Share of heads with the same train and the same validation accuracy."""
    return float(((a.train_acc == b.train_acc) & (a.val_acc == b.val_acc)).mean())


def compare_solvers(
    X, y, groups, k: int
) -> tuple[probing.ProbeResult, probing.ProbeResult]:
    """The issue's checks against converged scikit-learn; returns the default scikit-learn and torch results."""
    with warnings.catch_warnings():
        warnings.simplefilter(
            "ignore"
        )  # lbfgs may warn about max_iter on separable heads
        ref = probing.fit_head_probes(X, y, groups, seed=0, solver="sklearn")
        exact = converged_sklearn(X, y, groups)
    fast = probing.fit_head_probes(X, y, groups, seed=0, solver="torch")
    train, _ = probing.split_groups(groups, 0.6, 0)
    assert np.all(
        objectives(X, y, train, fast) <= objectives(X, y, train, ref) + 1e-9
    )  # never worse than the default
    assert np.abs(fast.coef - exact.coef).max() <= 1e-5
    assert equal_accuracies(fast, exact) >= 0.99
    assert probing.top_k_heads(fast.score, k) == probing.top_k_heads(exact.score, k)
    return ref, fast


def test_synthetic_heads_agree_with_sklearn():
    heads = 4
    acts, values = planted_contrast(
        50, 3, heads, 8, planted=(1, 2), strength=3.0
    )  # head (1, 2) separates
    acts[:, :, 0, 3] = 0.0  # a silent head: no direction to learn, chance accuracy
    X, y, groups = probing.probe_dataset(acts, values)
    ref, fast = compare_solvers(X, y, groups, k=3)
    assert equal_accuracies(fast, ref) == 1.0
    assert probing.top_k_heads(fast.score, 3) == probing.top_k_heads(ref.score, 3)
    assert probing.top_k_heads(fast.score, 1) == [(1, 2)] and fast.val_acc[1, 2] == 1.0
    assert fast.train_acc[0, 3] == 0.5 and not fast.coef[0, 3].any()
    # the 1e-3 against the default run holds on the noise heads (9e-4 at most); on the separated
    # head lbfgs stops 3e-3 short of the optimum that the converged run and torch share
    gap = np.abs(ref.coef - fast.coef).max(-1)
    assert np.delete(gap.reshape(-1), 1 * heads + 2).max() <= 1e-3


def test_separable_data_converges():
    rng = np.random.default_rng(1)
    y = np.tile([1.0, 0.0], 20)
    X = rng.normal(size=(5, 40, 6))
    X[:, :, 0] += 8 * (2 * y - 1)  # every head separable with a wide margin
    X, labels = torch.from_numpy(X), torch.from_numpy(y)
    coef, intercept = probing.fit_logistic_batched(X, labels)
    assert torch.isfinite(coef).all() and torch.isfinite(intercept).all()
    theta = torch.cat([coef, intercept[:, None]], 1).requires_grad_()
    probing.logistic_objective(X, labels, theta[:, :6], theta[:, 6]).sum().backward()
    assert theta.grad.norm(dim=1).max() < 1e-6
    z = torch.einsum("bnd,bd->bn", X, coef) + intercept[:, None]
    assert ((z > 0).double() == labels).all()
    with pytest.warns(RuntimeWarning, match="max_iter=1"):
        probing.fit_logistic_batched(X, labels, max_iter=1)


def test_bad_solver_and_device_are_named():
    X, y, groups = (
        np.zeros((8, 1, 1, 2), np.float32),
        np.tile([1, 0], 4),
        np.repeat(np.arange(4), 2),
    )
    with pytest.raises(PalignError, match="sklearn, torch, auto"):
        probing.fit_head_probes(X, y, groups, solver="newton")
    with pytest.raises(PalignError, match="device='cpu'"):
        probing.fit_head_probes(X, y, groups, solver="torch", device="no-such-device")
    if not torch.cuda.is_available():
        with pytest.raises(PalignError, match="device='cpu'"):
            probing.fit_head_probes(X, y, groups, solver="torch", device="cuda")
    with pytest.raises(PalignError, match="both classes"):
        probing.fit_logistic_batched(
            torch.zeros(1, 4, 2, dtype=torch.float64),
            torch.ones(4, dtype=torch.float64),
        )


def test_embedded_model_heads_agree_with_sklearn():
    inv = get_inventory("ipip")
    known = data.paper_item_split()[0]
    rng = np.random.default_rng(0)
    items = [known[i] for i in sorted(rng.choice(len(known), 40, replace=False))]
    lm = load_model(EMBEDDED_ID, device="cpu", dtype="float32")
    acts = activations.contrast_activations(lm, items, inv)
    answers = data.load_papi_test()
    values = shown_values(
        answers.iloc[0], items, inv, "papi"
    )  # the subject's answers as chapter 04 keys them
    X, y, groups = probing.probe_dataset(
        acts, values
    )  # 24 usable answers: 28 training, 20 validation samples
    ref, fast = compare_solvers(X, y, groups, k=16)
    # Against the default tol=1e-4 run the 99 % and same top-16 hold on all 120 known items
    # (benchmarks/bench_probes.py) but not on these 40: lbfgs stops after 0-5 steps on 5 weak heads of 270,
    # and one of them, (3, 4), enters its top-16 on a validation accuracy the optimum does not have.
    assert equal_accuracies(fast, ref) >= 0.98
    assert (
        len(
            set(probing.top_k_heads(fast.score, 16))
            & set(probing.top_k_heads(ref.score, 16))
        )
        >= 15
    )

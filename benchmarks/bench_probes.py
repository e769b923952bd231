"""Benchmark: the head probes fitted by scikit-learn's loop and by the batched torch solver, side by side.

Times ``probing.fit_head_probes`` with ``solver="sklearn"`` (the book's default, one lbfgs fit per head)
and ``solver="torch"`` (all heads at once by Newton's method) on

* the embedded model's real contrast activations of the 120 known items, one PAPI subject;
* an 8B head layout (32 layers x 32 heads x d_head 128) of random activations with the same samples,
  labels and split, the activations' scale taken from the embedded model, and a signal of graded
  strength planted along a random direction in 16 heads (seeded).

For each it prints the seconds of both, the ratio torch / sklearn, and the agreement: the largest
coefficient difference (and on how many heads it exceeds the issue's 1e-3), the share of heads with
the same train and validation accuracy, the top-K overlap, and how much lower torch's objective is
(scikit-learn's minus torch's; never below 0 when torch reaches the optimum). ``--converged`` also
fits every head with scikit-learn at ``tol=1e-10`` (untimed) and prints the same agreement of torch
with that run: the default lbfgs stops at ``tol=1e-4``, up to ~1e-2 away from the optimum.

Run: ``.venv/bin/python benchmarks/bench_probes.py [--json PATH]``.
"""

from __future__ import annotations

import argparse
import os
import time
import warnings

import numpy as np
import torch
from machine import finish, matmul_gflops

from sklearn.linear_model import LogisticRegression

from palign_nb import activations, probing
from palign_nb.inventories import shown_values
from palign_nb.data import load_papi_test, paper_item_split
from palign_nb.inventories import get_inventory
from palign_nb.models import EMBEDDED_ID, load_model


def agreement(
    X: np.ndarray,
    y: np.ndarray,
    groups: np.ndarray,
    ref: probing.ProbeResult,
    fast: probing.ProbeResult,
    k: int,
) -> dict:
    """How close the torch probes are to scikit-learn's, in the issue's terms plus the objective gap."""
    train, _ = probing.split_groups(groups, 0.6, 0)
    d = X.shape[-1]
    heads = (
        torch.from_numpy(X[train]).double().reshape(len(train), -1, d).transpose(0, 1)
    )
    labels = torch.from_numpy(y[train]).double()

    def objective(r: probing.ProbeResult) -> np.ndarray:
        coef, intercept = (
            torch.from_numpy(r.coef.reshape(-1, d)),
            torch.from_numpy(r.intercept.reshape(-1)),
        )
        return probing.logistic_objective(heads, labels, coef, intercept).numpy()

    gap = np.abs(ref.coef - fast.coef).max(-1)
    lower = objective(ref) - objective(fast)
    top_ref, top_fast = (
        probing.top_k_heads(ref.score, k),
        probing.top_k_heads(fast.score, k),
    )
    return {
        "max_coef_diff": float(gap.max()),
        "heads_coef_diff_over_1e-3": int((gap > 1e-3).sum()),
        "n_heads": int(gap.size),
        "equal_accuracy_share": float(
            ((ref.train_acc == fast.train_acc) & (ref.val_acc == fast.val_acc)).mean()
        ),
        "top_k_overlap": len(set(top_ref) & set(top_fast)),
        "same_top_k": top_ref == top_fast,
        "objective_lower_by_min": float(lower.min()),
        "objective_lower_by_max": float(lower.max()),
    }


def converged_sklearn(
    X: np.ndarray, y: np.ndarray, groups: np.ndarray
) -> probing.ProbeResult:
    """fit_head_probes' scikit-learn loop, but run to tol=1e-10 in float64: the optimum itself."""
    train, val = probing.split_groups(groups, 0.6, 0)
    X = X.astype(np.float64)
    train_acc, val_acc = np.zeros(X.shape[1:3]), np.zeros(X.shape[1:3])
    coef, intercept = np.zeros(X.shape[1:]), np.zeros(X.shape[1:3])
    for layer, head in np.ndindex(*X.shape[1:3]):
        clf = LogisticRegression(tol=1e-10, max_iter=100_000).fit(
            X[train, layer, head], y[train]
        )
        train_acc[layer, head] = clf.score(X[train, layer, head], y[train])
        val_acc[layer, head] = clf.score(X[val, layer, head], y[val])
        coef[layer, head], intercept[layer, head] = clf.coef_[0], clf.intercept_[0]
    return probing.ProbeResult(train_acc, val_acc, coef, intercept)


def describe(row: dict, k: int) -> str:
    """One line of agreement numbers."""
    return (
        f"max |coef diff| {row['max_coef_diff']:.2e} "
        f"(over 1e-3 on {row['heads_coef_diff_over_1e-3']} of {row['n_heads']} heads), "
        f"equal accuracies on {row['equal_accuracy_share']:.1%} of heads, top-{k} overlap {row['top_k_overlap']}/{k} "
        f"(same order: {row['same_top_k']}), "
        f"torch objective lower by {row['objective_lower_by_min']:.1e} .. {row['objective_lower_by_max']:.1e}"
    )


def compare(
    name: str,
    X: np.ndarray,
    y: np.ndarray,
    groups: np.ndarray,
    k: int,
    device: str,
    converged: bool,
) -> dict:
    """Fit both solvers once (torch after an untimed warm-up off the CPU), print seconds and agreement."""
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # lbfgs's max_iter warnings on separable heads
        ref = probing.fit_head_probes(X, y, groups, solver="sklearn")
    sklearn_s = time.perf_counter() - start
    if device != "cpu":  # the first call on a GPU also starts its context
        probing.fit_head_probes(X, y, groups, solver="torch", device=device)
    start = time.perf_counter()
    fast = probing.fit_head_probes(X, y, groups, solver="torch", device=device)
    torch_s = time.perf_counter() - start
    row = {
        "layout": list(X.shape[1:]),
        "n_samples": len(y),
        "sklearn_s": sklearn_s,
        "torch_s": torch_s,
        "ratio_torch_sklearn": torch_s / sklearn_s,
        **agreement(X, y, groups, ref, fast, k),
    }
    print(
        f"{name} ({X.shape[1]} x {X.shape[2]} heads x d {X.shape[3]}, {len(y)} samples): sklearn {sklearn_s:.2f} s, "
        f"torch ({device}) {torch_s:.2f} s, torch/sklearn {row['ratio_torch_sklearn']:.3f}"
    )
    print(f"  against sklearn (tol=1e-4): {describe(row, k)}")
    if converged:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            row["converged"] = agreement(
                X, y, groups, converged_sklearn(X, y, groups), fast, k
            )
        print(
            f"  against sklearn converged (tol=1e-10, untimed): {describe(row['converged'], k)}"
        )
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-id", default=EMBEDDED_ID)
    parser.add_argument(
        "--subject",
        type=int,
        default=0,
        help="position of the subject in the PAPI test set",
    )
    parser.add_argument("--top-k", type=int, default=16)
    parser.add_argument("--device", default="cpu", help="device of the torch solver")
    parser.add_argument(
        "--seed",
        type=int,
        default=0,
        help="seeds the 8B-layout activations and planted signal",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=int(os.environ.get("OMP_NUM_THREADS", os.cpu_count() or 1)),
    )
    parser.add_argument(
        "--converged",
        action="store_true",
        help="also compare with scikit-learn run to tol=1e-10",
    )
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    speed_before = matmul_gflops()
    print(
        f"threads={args.threads} subject={args.subject}; machine speed now: {speed_before:.0f} GFLOP/s (float32 matmul)"
    )
    inv = get_inventory("ipip")
    known, _ = paper_item_split()
    lm = load_model(args.model_id, device="cpu", dtype="float32")
    start = time.perf_counter()
    acts = activations.contrast_activations(lm, known, inv)
    print(
        f"activation capture: {time.perf_counter() - start:.1f} s for {2 * len(known)} prompts (not timed below)"
    )
    values = shown_values(load_papi_test().iloc[args.subject], known, inv, "papi")
    X, y, groups = probing.probe_dataset(acts, values)
    result = {
        "threads": args.threads,
        "subject": args.subject,
        "device": args.device,
        "embedded": compare(
            "embedded model", X, y, groups, args.top_k, args.device, args.converged
        ),
    }

    rng = np.random.default_rng(args.seed)
    big = rng.normal(scale=float(X.std()), size=(len(y), 32, 32, 128)).astype(
        np.float32
    )
    planted = rng.choice(32 * 32, size=16, replace=False)
    for strength, flat in zip(np.linspace(0.1, 1.0, 16), planted):
        direction = rng.normal(size=128)
        direction *= (
            strength * float(X.std()) * np.sqrt(128) / np.linalg.norm(direction)
        )  # up to one noise norm
        big[:, flat // 32, flat % 32] += np.outer(2 * y - 1, direction).astype(
            np.float32
        )
    result["8b_layout"] = compare(
        "8B layout, random", big, y, groups, args.top_k, args.device, args.converged
    )

    finish(result, speed_before, args.json)


if __name__ == "__main__":
    main()

"""Checks for the chapters' exercises: each runs a reader's function on small cases and says ✓.

A check raises ``AssertionError`` with a hint when the function disagrees with the reference, so
a wrong answer stops the notebook right at the exercise.

Introduced in :doc:`/notebooks/01_inventories`.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


def _alpha_reference(scores: np.ndarray) -> float:
    scores = np.asarray(scores, dtype=float)
    k = scores.shape[1]
    return float(
        k
        / (k - 1)
        * (1 - scores.var(axis=0, ddof=1).sum() / scores.sum(axis=1).var(ddof=1))
    )


def check_cronbach_alpha(fn: Callable[[np.ndarray], float]) -> None:
    """Check ``fn(scores) -> alpha`` for ``scores``: (n_respondents, n_items), no missing values.

    Introduced in :doc:`/notebooks/01_inventories`.
    """
    rng = np.random.default_rng(0)
    latent = rng.normal(size=(200, 1))
    cases = {
        "six consistent items": np.clip(
            np.round(3 + latent + rng.normal(scale=0.8, size=(200, 6))), 1, 5
        ),
        "pure noise": rng.integers(1, 6, size=(150, 4)).astype(float),
        "two identical items": np.repeat(
            rng.integers(1, 6, size=(50, 1)), 2, axis=1
        ).astype(float),
    }
    for name, scores in cases.items():
        got, want = float(fn(scores)), _alpha_reference(scores)
        assert np.isclose(got, want, atol=1e-9), (
            f"{name}: got alpha={got:.4f}, expected {want:.4f}. Use sample variances (ddof=1) of each item "
            "and of the per-respondent total, and the factor k/(k-1)."
        )
    print("✓ check_cronbach_alpha passed")


def _trait_mae_reference(
    predicted: np.ndarray, target: np.ndarray, variant: str
) -> float:
    predicted, target = (
        np.asarray(predicted, dtype=float),
        np.asarray(target, dtype=float),
    )
    keep = ~np.isnan(predicted)
    if variant == "corrected":
        keep &= target > 0
    return (
        float(np.abs(predicted[keep] - target[keep]).mean())
        if keep.any()
        else float("nan")
    )


def check_trait_mae(fn: Callable[[np.ndarray, np.ndarray, str], float]) -> None:
    """Check ``fn(predicted, target, variant) -> Score_t(s)`` for one subject and one trait.

    ``predicted``: (n_items,) answers 1..5, NaN where unparsed; ``target``: (n_items,) stored
    answers 1..5, 0 where missing; ``variant``: ``"faithful"`` or ``"corrected"``.

    Introduced in :doc:`/notebooks/02_dataset_splits`.
    """
    rng = np.random.default_rng(1)
    cases = [(np.array([4.0, 3.0, np.nan, 4.0]), np.array([5, 0, 2, 4]))]
    for _ in range(20):
        pred = rng.integers(1, 6, size=12).astype(float)
        pred[rng.random(12) < 0.2] = np.nan
        target = rng.integers(1, 6, size=12)
        target[rng.random(12) < 0.2] = 0
        cases.append((pred, target))
    for pred, target in cases:
        for variant in ("faithful", "corrected"):
            got, want = (
                float(fn(pred.copy(), target.copy(), variant)),
                _trait_mae_reference(pred, target, variant),
            )
            assert np.isclose(got, want, equal_nan=True), (
                f"{variant}: predicted={pred.tolist()}, target={target.tolist()} -> got {got:.4f}, expected {want:.4f}. "
                "Drop unparsed predictions (NaN) in both variants; drop missing targets (0) only in 'corrected'."
            )
    print("✓ check_trait_mae passed")


def _cases_passed(name: str) -> None:
    print(f"✓ {name} passed")


def check_option_readout(
    fn: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]],
) -> None:
    """Check ``fn(logprobs) -> (probs, predicted)``: renormalise five option log-probs and read the argmax.

    ``logprobs``: (n_prompts, 5) full-vocabulary log-probabilities of the tokens A..E; ``probs``:
    (n_prompts, 5) summing to 1 per row; ``predicted``: (n_prompts,) the Likert value of the likeliest
    option (A = 5 .. E = 1).

    Introduced in :doc:`/notebooks/03_asking_the_model`.
    """
    from .scoring import option_table

    rng = np.random.default_rng(3)
    cases = {
        "random": np.log(rng.dirichlet(np.ones(6), size=8)[:, :5]),
        "tiny option mass": rng.normal(size=(4, 5)) - 30.0,
        "E likeliest everywhere": np.log(
            np.tile([0.01, 0.02, 0.03, 0.04, 0.5], (3, 1))
        ),
    }
    for name, logprobs in cases.items():
        want = option_table(logprobs, [str(i) for i in range(len(logprobs))])
        probs, predicted = fn(logprobs.copy())
        assert np.allclose(
            np.asarray(probs, float),
            want[[f"p_{x}" for x in "ABCDE"]].to_numpy(),
            atol=1e-9,
        ), (
            f"{name}: the probabilities differ. Exponentiate the five log-probs and divide by their sum per row "
            "(subtract the row's maximum first, or the tiny ones underflow to 0/0)."
        )
        assert np.array_equal(
            np.asarray(predicted, float), want["predicted"].to_numpy(float)
        ), (
            f"{name}: predicted {np.asarray(predicted).tolist()}, expected {want['predicted'].tolist()}. "
            "The first column is A = 5, the last E = 1."
        )
    _cases_passed("check_option_readout")


def check_top_k_heads(fn: Callable[[np.ndarray, int], list[tuple[int, int]]]) -> None:
    """Check ``fn(score, k) -> [(layer, head), ...]``: the k best heads, ties to the lower layer, then head.

    Introduced in :doc:`/notebooks/04_head_probing`.
    """
    from .probing import top_k_heads

    rng = np.random.default_rng(4)
    ties = np.full((3, 4), 0.5)
    ties[2, 1] = ties[0, 3] = 0.9
    cases = {
        "random": (rng.random((5, 6)), 7),
        "ties": (ties, 4),
        "all heads": (rng.random((2, 3)), 6),
    }
    for name, (score, k) in cases.items():
        got = [tuple(int(v) for v in pair) for pair in fn(score.copy(), k)]
        want = top_k_heads(score, k)
        assert got == want, (
            f"{name} (k={k}): got {got}, expected {want}. Sort by score, highest first; among equal "
            "scores the lower layer comes first, then the lower head."
        )
    _cases_passed("check_top_k_heads")


def check_direction_and_sigma(
    fn: Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, float]],
) -> None:
    """Check ``fn(acts, y) -> (theta, sigma)`` for one head: the mass-mean direction and the spread along it.

    ``acts``: (n_samples, d_head); ``y``: (n_samples,) 1 = the completion matches the subject. ``theta``
    is the unit vector from the mean of label 0 to the mean of label 1; ``sigma`` the standard
    deviation (``np.std``, ddof 0) of all samples projected on ``theta``.

    Introduced in :doc:`/notebooks/05_pas`.
    """
    from .pas import head_directions

    rng = np.random.default_rng(5)
    for n, d in [(20, 4), (60, 16)]:
        acts = rng.normal(size=(n, d)).astype(np.float32)
        y = np.tile([1, 0], n // 2)
        acts[y == 1, 0] += 2.0
        thetas, sigmas = head_directions(acts[:, None, None, :], y, [(0, 0)])
        theta, sigma = fn(acts.copy(), y.copy())
        assert np.allclose(np.asarray(theta, float), thetas[0], atol=1e-5), (
            f"n={n}, d={d}: theta differs. Take mean(acts[y == 1]) - mean(acts[y == 0]) and divide it by its norm."
        )
        assert np.isclose(float(sigma), sigmas[0], rtol=1e-4), (
            f"n={n}, d={d}: sigma={float(sigma):.4f}, expected {sigmas[0]:.4f}. Project every sample (both labels) "
            "on theta and take np.std of the projections."
        )
    _cases_passed("check_direction_and_sigma")


def check_few_shot_prompt(
    fn: Callable[[list[str], list[int], dict[int, str]], str],
) -> None:
    """Check ``fn(texts, values, labels) -> system prompt``: the paper's few-shot prompt for known answers.

    Introduced in :doc:`/notebooks/06_prompting_baselines`.
    """
    from .inventories import get_inventory
    from .prompts import known_answers_system

    inventory = get_inventory("ipip")
    texts = inventory.items["text"].iloc[:4].tolist()
    for values in ([5, 1, 3, 4], [2, 2, 4, 1]):
        got, want = (
            fn(list(texts), list(values), dict(inventory.labels)),
            known_answers_system(texts, values, inventory),
        )
        assert got == want, (
            f"values {values}: got\n  {got!r}\nexpected\n  {want!r}\nThe paper's prefix, then "
            "'statement:label' pairs joined by ';' with no spaces around the separators."
        )
    _cases_passed("check_few_shot_prompt")


def check_paper_reward(fn: Callable[[int | None, int], float]) -> None:
    """Check ``fn(named, target) -> reward``: minus the distance of the named option's value to the target,
    and the paper's penalty when no option was named (``named`` is None).

    Introduced in :doc:`/notebooks/07_preference_baselines`.
    """
    from .preference import NO_OPTION_REWARD

    for named in (None, 1, 2, 3, 4, 5):
        for target in (1, 3, 5):
            want = NO_OPTION_REWARD if named is None else -abs(named - target)
            got = float(fn(named, target))
            assert got == want, (
                f"named={named}, target={target}: got {got}, expected {want}. The reward is "
                f"-|named - target|, and {NO_OPTION_REWARD} when no option is named."
            )
    _cases_passed("check_paper_reward")


def check_last_line_choice(fn: Callable[[str], int | None]) -> None:
    """Check ``fn(text) -> 1..6 or None``: a judge's verdict, read from its last non-empty line only.

    Introduced in :doc:`/notebooks/10_open_ended`.
    """
    from .judging import parse_choice

    cases = [
        "Reasoning: the answer agrees.\n\n4",
        "The answer scores 5 on the scale, I think",
        "",
        "3.",
        "**2**",
        'Hmm\n"1"\n"1"',
        "6\nbecause it agrees strongly",
        "Verdict below\n 5 \n\n",
        "7",
        "2 or 3",
    ]
    for text in cases:
        got, want = fn(text), parse_choice(text)
        assert got == want, (
            f"{text!r}: got {got}, expected {want}. Read only the last non-empty line; strip spaces, "
            "'*' and a trailing '.'; it is a verdict only if a single digit 1-6 remains."
        )
    _cases_passed("check_last_line_choice")


def check_dpo_rejected(fn: Callable[[int], tuple[int, ...]]) -> None:
    """Check ``fn(value) -> rejected values``: the options a DPO pair rejects against the subject's answer.

    Introduced in :doc:`/notebooks/08_dark_triad`.
    """
    from .preference import rejected_values

    for value in range(1, 6):
        got, want = tuple(int(v) for v in fn(value)), rejected_values(value)
        assert sorted(got) == sorted(want), (
            f"answer {value}: got {got}, expected {want}. Reject the far end of the "
            "scale from the answer; the middle answer 3 has two far ends."
        )
    _cases_passed("check_dpo_rejected")


def check_sign_flip_test(fn: Callable[[np.ndarray], float]) -> None:
    """Check ``fn(differences) -> p``: the exact two-sided sign-flip test of a mean paired difference of 0.

    Introduced in :doc:`/notebooks/09_results`.
    """
    from .significance import sign_flip_test

    rng = np.random.default_rng(9)
    cases = {
        "two subjects": np.array([0.4, 1.2]),
        "all positive": np.array([0.5, 0.2, 0.9, 0.4, 0.3]),
        "mixed": rng.normal(0.3, 1.0, size=8),
        "a zero": np.array([0.0, 0.7, -0.2, 1.1]),
    }
    for name, d in cases.items():
        got, want = float(fn(d.copy())), sign_flip_test(d)
        assert np.isclose(got, want, atol=1e-9), (
            f"{name} {np.round(d, 3).tolist()}: got p={got:.4f}, expected {want:.4f}. Enumerate all 2^n sign patterns; "
            "p is the share whose |mean| is at least the observed |mean| (the observed pattern counts too)."
        )
    _cases_passed("check_sign_flip_test")

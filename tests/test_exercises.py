"""Every chapter's exercise: the solution hidden in the book passes its check, and a wrong answer fails it.

Solutions are read from the notebooks (the code cell between ``solution-start`` and
``solution-end``), so the test checks exactly what a reader sees in the dropdown.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from palign_nb import checks

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def exercises(path: Path) -> list[tuple[str, str]]:
    """(solution code, check call) for each exercise of a notebook."""
    cells = json.loads(path.read_text())["cells"]
    found = []
    for i, cell in enumerate(cells):
        if cell["cell_type"] == "markdown" and "".join(cell["source"]).startswith(
            "```{solution-start}"
        ):
            solution = "".join(cells[i + 1]["source"])
            check = next(
                "".join(c["source"]) for c in cells[i + 2 :] if c["cell_type"] == "code"
            )
            found.append((solution, check))
    return found


def test_every_chapter_from_03_has_an_exercise():
    missing = [p.name for p in NOTEBOOKS if int(p.name[:2]) >= 3 and not exercises(p)]
    assert not missing, f"chapters without an exercise: {missing}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_the_books_solution_passes_its_check(path, capsys):
    for solution, check in exercises(path):
        call = re.search(r"checks\.check_\w+\(\w+\)", check)
        assert call, f"{path.name}: no check call after the solution"
        scope = {"np": np, "checks": checks}
        exec(solution, scope)  # noqa: S102 - the notebook's own solution cell
        exec(call.group(0), scope)  # noqa: S102
        assert "✓" in capsys.readouterr().out


def wrong_readout(logprobs):
    probs = np.exp(logprobs)  # not renormalised, and underflows for tiny option mass
    return probs, 5 - probs.argmax(axis=1)


def wrong_top_k(score, k):
    flat = np.argsort(-score.reshape(-1))[:k]  # quicksort: ties in no defined order
    return [(int(i // score.shape[1]), int(i % score.shape[1])) for i in flat[::-1]]


def wrong_direction(acts, y):
    difference = acts[y == 1].mean(axis=0) - acts[y == 0].mean(axis=0)
    return difference, float(np.std(acts @ difference))  # not a unit vector


def wrong_prompt(texts, values, labels):
    return (
        "Here are some of your behaviors and your level of recognition towards them; "
        + "; ".join(f"{t}: {labels[int(v)]}" for t, v in zip(texts, values))
    )


def wrong_reward(named, target):
    return (
        0.0 if named is None else -abs(named - target)
    )  # no penalty for naming nothing


def wrong_rejected(value):
    return (6 - value,)  # the mirror answer: 3 rejects itself


def wrong_sign_flip(d):
    from scipy import stats

    return float(
        stats.ttest_1samp(d, 0.0).pvalue
    )  # a t-test, not the exact sign-flip test


def wrong_choice(text):
    digits = re.findall(r"[1-6]", text)  # any digit anywhere
    return int(digits[-1]) if digits else None


@pytest.mark.parametrize(
    "check,wrong,hint",
    [
        (checks.check_option_readout, wrong_readout, "probabilities"),
        (checks.check_top_k_heads, wrong_top_k, "lower layer"),
        (checks.check_direction_and_sigma, wrong_direction, "norm"),
        (checks.check_few_shot_prompt, wrong_prompt, "separators"),
        (checks.check_paper_reward, wrong_reward, "-6"),
        (checks.check_last_line_choice, wrong_choice, "last non-empty line"),
        (checks.check_dpo_rejected, wrong_rejected, "far end"),
        (checks.check_sign_flip_test, wrong_sign_flip, "2^n sign patterns"),
    ],
)
def test_a_wrong_answer_fails_with_a_hint(check, wrong, hint):
    with pytest.raises(AssertionError, match=re.escape(hint)):
        check(wrong)

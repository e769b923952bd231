"""Sentences chosen by the numbers of the run, so that the prose is true for whatever run built the page.

A chapter glues the result of these functions (``glue(key, Markdown(text), display=False)`` and
``{glue:md}`key``` in the prose) wherever a sentence states an outcome: which method is better,
whether a share is large, whether a curve goes up. The same page rendered from a GPU run then says
what that run measured. Every function is pure and states the numbers it judged, so a reader can
check the words against them.
"""

from __future__ import annotations

import math

#: Differences smaller than this (in the units of the numbers compared) are called a tie.
TIE = 1e-9


class Sentence(str):
    """A sentence chosen by the run's numbers: :meth:`palign_nb.context.Chapter.glue_all` glues it as Markdown
    (``{glue:md}``), where a plain value is glued as text."""


def _fmt(value: float, fmt: str) -> str:
    return (
        "n/a"
        if value is None or (isinstance(value, float) and math.isnan(value))
        else format(value, fmt)
    )


def compare(
    name_a: str,
    a: float,
    name_b: str,
    b: float,
    *,
    lower_is_better: bool = True,
    fmt: str = ".2f",
    tie: float = TIE,
) -> str:
    """'A (x) is better than B (y)', 'is worse than' or 'ties with', judged by the numbers given."""
    if any(math.isnan(v) for v in (a, b)):
        return f"{name_a} ({_fmt(a, fmt)}) and {name_b} ({_fmt(b, fmt)}) cannot be compared in this run"
    if abs(a - b) <= tie:
        verb = "ties with"
    elif (a < b) == lower_is_better:
        verb = "is better than"
    else:
        verb = "is worse than"
    return f"{name_a} ({_fmt(a, fmt)}) {verb} {name_b} ({_fmt(b, fmt)})"


def plural(n: int, noun: str) -> str:
    """'1 subject', '2 subjects'."""
    return f"{n} {noun}{'' if n == 1 else 's'}"


def count_of(k: int, n: int, noun: str) -> str:
    """'none of the 3 methods', 'all 3 methods', 'the only method', '2 of the 3 methods'."""
    if n == 0:
        return f"no {noun}"
    if n == 1:
        return (
            f"the only {noun.rstrip('s')}"
            if k == 1
            else f"not the only {noun.rstrip('s')}"
        )
    if k == 0:
        return f"none of the {n} {noun}"
    if k == n:
        return f"all {n} {noun}"
    return f"{k} of the {n} {noun}"


def share_word(share: float) -> str:
    """A word for a share in [0, 1]: 'none', 'a few', 'a minority', 'about half', 'most', 'almost all', 'all'."""
    if math.isnan(share):
        return "an unknown share"
    if share <= 0:
        return "none"
    if share >= 1:
        return "all"
    if share < 0.15:
        return "a few"
    if share < 0.4:
        return "a minority"
    if share <= 0.6:
        return "about half"
    if share < 0.9:
        return "most"
    return "almost all"


def trend(
    name: str,
    first: float,
    last: float,
    *,
    lower_is_better: bool = True,
    fmt: str = ".2f",
    tie: float = TIE,
) -> str:
    """'<name> improves from x to y', 'worsens from x to y' or 'stays at x'."""
    if any(math.isnan(v) for v in (first, last)):
        return f"{name} was not measured at both ends"
    if abs(last - first) <= tie:
        return f"{name} stays at {_fmt(first, fmt)}"
    improves = (last < first) == lower_is_better
    return f"{name} {'improves' if improves else 'worsens'} from {_fmt(first, fmt)} to {_fmt(last, fmt)}"


def significance_possible(smallest_p: float, level: float = 0.05) -> str:
    """Whether a paired test over these subjects can reach the level at all."""
    if smallest_p >= level:
        return (
            f"no difference can be significant at this scale (the smallest p-value possible is "
            f"{smallest_p:.3g}, not below {level:g})"
        )
    return f"a difference can reach p < {level:g} at this scale (the smallest p-value possible is {smallest_p:.3g})"


def same_answer_share(share: float, letter: str) -> str:
    """How degenerate a model's answers are: the share of items that got its most common letter."""
    return f"{share_word(share)} of the items ({share:.0%}) get its most common answer, {letter}"


def listed(names: list[str]) -> str:
    """'A', 'A and B', 'A, B and C'."""
    names = list(names)
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]

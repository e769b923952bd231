"""Charts of the data: how people answer the items, their trait scores, and whom the chosen subjects cover.

The same conventions as :mod:`palign_nb.charts` (each function takes a small, pre-aggregated
pandas frame and returns an Altair chart with its data embedded), for chapters 01 and 02.

Introduced in :doc:`/notebooks/01_inventories`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import altair as alt
import numpy as np
import pandas as pd

from .charts import check_frame


def option_distribution(
    answers: pd.DataFrame,
    items: Mapping[str, str],
    labels: Mapping[int, str],
    *,
    title: str = "",
    share: bool = False,
) -> alt.Chart:
    """How often each answer was given to a few items: grouped bars, one group per answer value.

    ``answers``: (respondents, item columns) stored values (0 = missing, shown as its label);
    ``items``: item column -> name shown in the legend; ``labels``: value -> Likert label.
    Aggregated here, so any number of respondents is fine. ``share`` plots fractions, not counts.

    Introduced in :doc:`/notebooks/01_inventories`.
    """
    rows = []
    for col, name in items.items():
        counts = answers[col].value_counts()
        total = counts.sum()
        for v in sorted(labels, reverse=True):
            n = int(counts.get(v, 0))
            if v == 0 and n == 0:
                continue
            rows.append(
                {
                    "item": name,
                    "value": v,
                    "answer": f"{v} {labels[v]}",
                    "count": n,
                    "share": n / total,
                }
            )
    data = pd.DataFrame(rows)
    measure = "share" if share else "count"
    order = [f"{v} {labels[v]}" for v in sorted(labels, reverse=True)]
    return (
        alt.Chart(data)
        .mark_bar()
        .encode(
            x=alt.X(
                "answer:N",
                sort=order,
                title="stored answer",
                axis=alt.Axis(labelAngle=-30, labelLimit=200),
            ),
            xOffset=alt.XOffset("item:N"),
            y=alt.Y(
                f"{measure}:Q",
                title=measure,
                axis=alt.Axis(format=".0%" if share else "d"),
            ),
            color=alt.Color(
                "item:N", title=None, legend=alt.Legend(orient="top", labelLimit=300)
            ),
            tooltip=[
                "item:N",
                "answer:N",
                "count:Q",
                alt.Tooltip("share:Q", format=".1%"),
            ],
        )
        .properties(title=title, width=380, height=200)
    )


def score_histograms(
    scores: pd.DataFrame,
    *,
    names: Mapping[str, str] | None = None,
    bins: int | Sequence[float] = 16,
    lo: float = 1.0,
    hi: float = 5.0,
    title: str = "",
    group: str | None = None,
) -> alt.FacetChart:
    """Distribution of trait scores, one small panel per trait (share of respondents per bin).

    ``scores``: (respondents, traits) in ``lo..hi`` (NaN ignored), e.g. from
    :func:`palign_nb.inventories.score_respondents`; ``names``: trait letter -> full name.
    With ``group`` (a column of ``scores`` holding a label per respondent) the groups are
    overlaid, e.g. population vs chosen subjects. ``bins``: a count of equal bins over ``lo..hi``,
    or explicit bin edges (e.g. centred on the values a 9-item mean can take, to avoid aliasing).
    Binned here: any number of rows is fine.

    Introduced in :doc:`/notebooks/01_inventories`.
    """
    edges = (
        np.linspace(lo, hi, bins + 1)
        if isinstance(bins, int)
        else np.asarray(bins, dtype=float)
    )
    lo, hi = float(edges[0]), float(edges[-1])
    groups = scores.groupby(group, sort=False) if group else [("all", scores)]
    rows = []
    for g, frame in groups:
        for trait in [c for c in frame.columns if c != group]:
            values = frame[trait].dropna().to_numpy(dtype=float)
            counts, _ = np.histogram(values, bins=edges)
            share = counts / max(len(values), 1)
            name = (names or {}).get(trait, trait)
            rows += [
                {
                    "trait": name,
                    "group": g,
                    "start": a,
                    "end": b,
                    "share": s,
                    "n": int(c),
                }
                for a, b, s, c in zip(edges[:-1], edges[1:], share, counts, strict=True)
            ]
    data = pd.DataFrame(rows)
    base = alt.Chart(data).encode(
        x=alt.X(
            "start:Q",
            bin="binned",
            title="score (mean keyed answer)",
            scale=alt.Scale(domain=[lo, hi]),
        ),
        x2="end:Q",
        y=alt.Y("share:Q", title="share of respondents", axis=alt.Axis(format=".0%")),
        tooltip=[
            "group:N",
            "trait:N",
            alt.Tooltip("start:Q", format=".2f"),
            "n:Q",
            alt.Tooltip("share:Q", format=".1%"),
        ],
    )
    if group:
        mark = base.mark_bar(opacity=0.45).encode(
            color=alt.Color("group:N", title=None, legend=alt.Legend(orient="top"))
        )
    else:
        mark = base.mark_bar()
    return (
        mark.properties(width=170, height=120)
        .facet(
            facet=alt.Facet(
                "trait:N",
                title=None,
                sort=[(names or {}).get(t, t) for t in scores.columns if t != group],
            ),
            columns=5,
        )
        .properties(title=title)
    )


def coverage_map(
    population: pd.DataFrame,
    panels: Mapping[str, pd.DataFrame],
    x: str,
    y: str,
    *,
    bins: int = 20,
    lo: float = 1.0,
    hi: float = 5.0,
    title: str = "",
    x_title: str | None = None,
    y_title: str | None = None,
) -> alt.HConcatChart:
    """Where chosen subjects sit in the population: a density map with the subjects as points.

    ``population``: (respondents, scores) with columns ``x`` and ``y`` (binned here into a
    ``bins`` x ``bins`` grid, so any size is fine); ``panels``: panel title -> (chosen, scores)
    frame with the same columns (a few hundred rows each), one panel per entry.

    Introduced in :doc:`/notebooks/02_dataset_splits`.
    """
    edges = np.linspace(lo, hi, bins + 1)
    pop = population[[x, y]].dropna().to_numpy(dtype=float)
    counts, _, _ = np.histogram2d(pop[:, 0], pop[:, 1], bins=[edges, edges])
    share = counts / max(len(pop), 1)
    ii, jj = np.nonzero(counts)
    grid = pd.DataFrame(
        {
            "x0": edges[ii],
            "x1": edges[ii + 1],
            "y0": edges[jj],
            "y1": edges[jj + 1],
            "share": share[ii, jj],
        }
    )
    xs = alt.Scale(domain=[lo, hi])
    charts = []
    for name, chosen in panels.items():
        pts = check_frame(chosen[[x, y]].dropna(), [x, y], "coverage_map")
        dens = (
            alt.Chart(grid)
            .mark_rect()
            .encode(
                x=alt.X("x0:Q", scale=xs, title=x_title or x),
                x2="x1:Q",
                y=alt.Y("y0:Q", scale=xs, title=y_title or y),
                y2="y1:Q",
                color=alt.Color(
                    "share:Q",
                    scale=alt.Scale(scheme="greys"),
                    title="population share",
                    legend=alt.Legend(format=".1%"),
                ),
            )
        )
        dots = (
            alt.Chart(pts)
            .mark_circle(size=18, color="#d62728", opacity=0.8)
            .encode(
                x=f"{x}:Q",
                y=f"{y}:Q",
                tooltip=[
                    alt.Tooltip(f"{x}:Q", format=".2f"),
                    alt.Tooltip(f"{y}:Q", format=".2f"),
                ],
            )
        )
        charts.append(
            alt.layer(dens, dots).properties(
                title=f"{name} (n = {len(pts)})", width=260, height=260
            )
        )
    return alt.hconcat(*charts).properties(title=title)

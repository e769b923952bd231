"""Altair charts for the chapters: each function takes a small pandas frame and returns a chart.

Every chart embeds its (pre-aggregated) data in the spec, so it draws without a server and
without Altair's row limit: callers pass counts, means or a few hundred points, never raw
respondent tables. Charts are plain Altair objects; style or combine them further as usual.
Importing this module enables the book's offline renderer (:mod:`palign_nb.vega_render`).

Introduced in :doc:`/notebooks/01_inventories`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import altair as alt
import pandas as pd

from . import vega_render  # noqa: F401  (importing the charts enables the book's offline renderer)
from .errors import PalignError

#: Any Altair top-level chart these functions return.
AnyChart = (
    alt.Chart | alt.LayerChart | alt.HConcatChart | alt.VConcatChart | alt.FacetChart
)

MAX_ROWS = 5000  # Altair's default embedding limit; we stay below it on purpose.


def check_frame(
    table: pd.DataFrame, columns: Sequence[str | None], what: str
) -> pd.DataFrame:
    """``table`` with a fresh index, after checking it has ``columns`` and no more rows than ``MAX_ROWS``."""
    missing = [c for c in columns if c is not None and c not in table.columns]
    if missing:
        raise PalignError(
            f"{what} needs columns {missing}; the table has {list(table.columns)}."
        )
    if len(table) > MAX_ROWS:
        raise PalignError(
            f"{what} got {len(table)} rows: aggregate first (counts, means) to stay under {MAX_ROWS}."
        )
    return table.reset_index(drop=True)


def heatmap(
    table: pd.DataFrame,
    x: str,
    y: str,
    value: str,
    *,
    title: str = "",
    domain: tuple[float, float] = (-1.0, 1.0),
    scheme: str = "redblue",
    fmt: str = ".2f",
    text: bool = True,
    sort_x: list | None = None,
    sort_y: list | None = None,
    cell: int = 34,
) -> alt.LayerChart:
    """A labelled heatmap of a long table with one row per (x, y) cell, e.g. a correlation matrix.

    ``table``: columns ``x``, ``y`` and ``value``; ``domain``: the colour scale's range (centred
    diverging scheme by default, so 0 is white). Cell labels are drawn when ``text``.

    Introduced in :doc:`/notebooks/01_inventories`.
    """
    data = check_frame(table, [x, y, value], "heatmap")
    nx, ny = data[x].nunique(), data[y].nunique()
    base = alt.Chart(data).encode(
        x=alt.X(
            f"{x}:N",
            sort=sort_x,
            title=None,
            axis=alt.Axis(labelAngle=-40, labelLimit=220),
        ),
        y=alt.Y(f"{y}:N", sort=sort_y, title=None, axis=alt.Axis(labelLimit=220)),
    )
    rect = base.mark_rect().encode(
        color=alt.Color(
            f"{value}:Q",
            scale=alt.Scale(
                scheme=scheme, domain=list(domain), reverse=scheme == "redblue"
            ),
            title=value,
        ),
        tooltip=[
            alt.Tooltip(f"{x}:N"),
            alt.Tooltip(f"{y}:N"),
            alt.Tooltip(f"{value}:Q", format=fmt),
        ],
    )
    layers = [rect]
    if text:
        layers.append(
            base.mark_text(fontSize=10).encode(text=alt.Text(f"{value}:Q", format=fmt))
        )
    return alt.layer(*layers).properties(title=title, width=cell * nx, height=cell * ny)


def bar_scores(
    table: pd.DataFrame,
    category: str,
    value: str,
    *,
    color: str | None = None,
    column: str | None = None,
    reference: Mapping[str, float] | None = None,
    title: str = "",
    value_title: str | None = None,
    sort: list | None = None,
    fmt: str = ".2f",
    width: int = 260,
) -> AnyChart:
    """Horizontal bars of ``value`` per ``category`` (grouped by ``color``, one panel per ``column``).

    ``reference`` draws labelled vertical rules, e.g. ``{"paper, Llama-3-8B-Instruct": 4.41}``,
    in every panel. ``table`` is small (one row per bar).

    Introduced in :doc:`/notebooks/01_inventories`.
    """
    data = check_frame(table, [category, value, color, column], "bar_scores")
    grouped = color is not None and bool(
        (data.groupby(category)[color].nunique() > 1).any()
    )

    def panel(frame: pd.DataFrame, panel_title: str) -> alt.LayerChart:
        enc = {
            "y": alt.Y(
                f"{category}:N", sort=sort, title=None, axis=alt.Axis(labelLimit=240)
            ),
            "x": alt.X(f"{value}:Q", title=value_title or value),
            "tooltip": [c for c in [category, color, column] if c]
            + [alt.Tooltip(f"{value}:Q", format=fmt)],
        }
        if color:
            enc["color"] = alt.Color(f"{color}:N", title=color)
        if grouped:
            enc["yOffset"] = alt.YOffset(f"{color}:N")
        layers: list = [alt.Chart(frame).mark_bar().encode(**enc)]
        if reference:
            ref = pd.DataFrame(
                {
                    "label": list(reference),
                    "ref": [float(v) for v in reference.values()],
                }
            )
            rule = alt.Chart(ref).encode(x="ref:Q")
            layers.append(rule.mark_rule(color="black", strokeDash=[4, 3]))
            layers.append(
                rule.mark_text(
                    align="left", dx=3, dy=-4, baseline="bottom", fontSize=10
                ).encode(text="label:N", y=alt.value(0))
            )
        size = {} if grouped else {"height": alt.Step(18)}
        return alt.layer(*layers).properties(title=panel_title, width=width, **size)

    if column is None:
        return panel(data, title)
    panels = [
        panel(frame, f"{column} = {key}")
        for key, frame in data.groupby(column, sort=False)
    ]
    return alt.hconcat(*panels).properties(title=title)


def interval_chart(
    table: pd.DataFrame,
    category: str,
    estimate: str,
    low: str,
    high: str,
    *,
    color: str | None = None,
    reference: Mapping[str, float] | None = None,
    title: str = "",
    value_title: str | None = None,
    fmt: str = ".3f",
) -> alt.LayerChart:
    """Point estimates with interval bars (e.g. bootstrap CIs), one row per ``category``.

    ``table``: one row per estimate with columns ``estimate``, ``low`` and ``high``;
    ``reference``: labelled vertical rules as in :func:`bar_scores`.

    Introduced in :doc:`/notebooks/02_dataset_splits`.
    """
    data = check_frame(table, [category, estimate, low, high, color], "interval_chart")
    y = alt.Y(f"{category}:N", title=None, axis=alt.Axis(labelLimit=240))
    yoff = (
        {"yOffset": alt.YOffset(f"{color}:N"), "color": alt.Color(f"{color}:N")}
        if color
        else {}
    )
    tips = (
        [category]
        + ([color] if color else [])
        + [alt.Tooltip(f"{c}:Q", format=fmt) for c in (estimate, low, high)]
    )
    bars = (
        alt.Chart(data)
        .mark_rule(strokeWidth=2)
        .encode(
            y=y,
            x=alt.X(
                f"{low}:Q", title=value_title or estimate, scale=alt.Scale(zero=False)
            ),
            x2=f"{high}:Q",
            tooltip=tips,
            **yoff,
        )
    )
    dots = (
        alt.Chart(data)
        .mark_point(filled=True, size=60)
        .encode(y=y, x=f"{estimate}:Q", tooltip=tips, **yoff)
    )
    layers: list = [bars, dots]
    if reference:
        ref = pd.DataFrame(
            {"label": list(reference), "ref": [float(v) for v in reference.values()]}
        )
        rule = alt.Chart(ref).encode(x="ref:Q")
        layers += [
            rule.mark_rule(color="black", strokeDash=[4, 3]),
            rule.mark_text(
                align="left", dx=3, dy=-4, baseline="bottom", fontSize=10
            ).encode(text="label:N", y=alt.value(0)),
        ]
    return alt.layer(*layers).properties(title=title, width=360)


def scatter(
    table: pd.DataFrame,
    x: str,
    y: str,
    *,
    x_title: str | None = None,
    y_title: str | None = None,
    tooltip: list[str] | None = None,
) -> alt.Chart:
    """Points of ``y`` against ``x``, one per row (a few hundred rows at most).

    Introduced in :doc:`/notebooks/04_head_probing`.
    """
    data = check_frame(table, [x, y], "scatter")
    return (
        alt.Chart(data)
        .mark_circle(size=70, opacity=0.8)
        .encode(
            x=alt.X(f"{x}:Q", title=x_title or x),
            y=alt.Y(f"{y}:Q", title=y_title or y, scale=alt.Scale(zero=False)),
            tooltip=tooltip or [x, y],
        )
        .properties(width=380, height=240)
    )


def line(
    table: pd.DataFrame,
    x: str,
    y: str,
    *,
    color: str | None = None,
    x_title: str | None = None,
    y_title: str | None = None,
) -> alt.Chart:
    """A line with points of ``y`` against ``x`` (one line per ``color`` group).

    Introduced in :doc:`/notebooks/05_pas`.
    """
    data = check_frame(table.sort_values(x), [x, y, color], "line")
    enc = {
        "x": alt.X(f"{x}:Q", title=x_title or x),
        "y": alt.Y(f"{y}:Q", title=y_title or y, scale=alt.Scale(zero=False)),
        "tooltip": [c for c in (x, y, color) if c],
    }
    if color:
        enc["color"] = alt.Color(f"{color}:N")
    return (
        alt.Chart(data)
        .mark_line(point=True)
        .encode(**enc)
        .properties(width=380, height=220)
    )

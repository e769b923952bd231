"""Charts of one method's behaviour: seconds per item, option profiles, the alpha slider and training curves.

Introduced in :doc:`/notebooks/03_asking_the_model`.
"""

from __future__ import annotations

import altair as alt
import numpy as np
import pandas as pd

from . import vega_render  # noqa: F401  (importing the charts enables the book's offline renderer)
from .charts import check_frame


def bar_seconds(timing: pd.DataFrame) -> alt.Chart:
    """Horizontal bars of seconds per item, one per scoring mode (columns ``mode``, ``seconds per item``).

    Introduced in :doc:`/notebooks/03_asking_the_model`.
    """
    return (
        alt.Chart(timing)
        .mark_bar()
        .encode(
            x=alt.X(
                "seconds per item:Q",
                title="seconds per item (log scale)",
                scale=alt.Scale(type="log"),
            ),
            y=alt.Y("mode:N", title=None),
            tooltip=["mode", alt.Tooltip("seconds per item:Q", format=".3f")],
        )
        .properties(width=420, height=90)
    )


def model_option_profile(scored: pd.DataFrame) -> alt.Chart:
    """Mean option probability per trait: ``scored`` has ``trait`` and ``p_A``..``p_E`` per item.

    Introduced in :doc:`/notebooks/03_asking_the_model`.
    """
    cols = [c for c in scored.columns if c.startswith("p_")]
    long = (
        scored.groupby("trait")[cols]
        .mean()
        .reset_index()
        .melt("trait", var_name="option", value_name="probability")
    )
    long["option"] = long["option"].str[2:]
    return (
        alt.Chart(long)
        .mark_bar()
        .encode(
            x=alt.X(
                "option:N", title="option (A = Very Accurate ... E = Very Inaccurate)"
            ),
            y=alt.Y("probability:Q", title="mean probability"),
            column=alt.Column("trait:N", title="trait"),
            tooltip=["trait", "option", alt.Tooltip("probability:Q", format=".3f")],
        )
        .properties(width=90, height=160)
    )


def alpha_slider(sweep: pd.DataFrame) -> alt.Chart:
    """Option distribution at one alpha, chosen with a slider that works in the static book too.

    ``sweep``: one row per alpha with ``alpha`` and ``p_A``..``p_E``.

    Introduced in :doc:`/notebooks/05_pas`.
    """
    data = check_frame(sweep, ["alpha", "p_A", "p_E"], "alpha_slider")
    long = data.melt(
        "alpha",
        value_vars=[f"p_{x}" for x in "ABCDE"],
        var_name="option",
        value_name="probability",
    )
    long["option"] = long["option"].str[2:]
    values = sorted(long["alpha"].unique().tolist())
    step = float(np.min(np.diff(values))) if len(values) > 1 else 1.0
    pick = alt.param(
        name="alpha_value",
        value=values[0],
        bind=alt.binding_range(min=values[0], max=values[-1], step=step, name="alpha "),
    )
    return (
        alt.Chart(long)
        .mark_bar()
        .encode(
            x=alt.X(
                "option:N", title="option (A = Very Accurate ... E = Very Inaccurate)"
            ),
            y=alt.Y("probability:Q", scale=alt.Scale(domain=[0, 1])),
            tooltip=["alpha", "option", alt.Tooltip("probability:Q", format=".3f")],
        )
        .add_params(pick)
        .transform_filter(f"abs(datum.alpha - alpha_value) < {step / 2}")
        .properties(width=320, height=200)
    )


def method_option_profile(
    table: pd.DataFrame, *, order: list[str] | None = None, title: str = ""
) -> alt.Chart:
    """How each method spreads its answers over the options: one 100 % stacked bar per method.

    ``table``: one row per (method, scored item) or already averaged, with columns ``method`` and
    ``p_A``..``p_E``; the mean option probabilities per method are drawn (A = Very Accurate left).

    Introduced in :doc:`/notebooks/06_prompting_baselines`.
    """
    cols = [f"p_{x}" for x in "ABCDE"]
    check_frame(table.head(0), ["method", *cols], "method_option_profile")
    mean = table.groupby("method", sort=False)[cols].mean().reset_index()
    long = mean.melt("method", var_name="option", value_name="probability")
    long["option"] = long["option"].str[2:]
    long["rank"] = long["option"].map({x: i for i, x in enumerate("ABCDE")})
    return (
        alt.Chart(long)
        .mark_bar()
        .encode(
            y=alt.Y(
                "method:N",
                sort=order or mean["method"].tolist(),
                title=None,
                axis=alt.Axis(labelLimit=240),
            ),
            x=alt.X(
                "probability:Q",
                stack="normalize",
                title="mean option probability",
                axis=alt.Axis(format=".0%"),
            ),
            color=alt.Color(
                "option:N",
                sort=list("ABCDE"),
                scale=alt.Scale(scheme="redyellowblue", reverse=True),
                title="option",
                legend=alt.Legend(orient="top"),
            ),
            order=alt.Order("rank:Q"),
            tooltip=["method", "option", alt.Tooltip("probability:Q", format=".3f")],
        )
        .properties(title=title, width=380, height=alt.Step(22))
    )


def training_curves(
    history: pd.DataFrame, *, title: str = "", width: int = 240
) -> alt.HConcatChart:
    """Per-step training curves, one panel per metric, one line per subject.

    ``history``: long table with columns ``step``, ``metric``, ``value`` and ``subject`` (e.g. a
    DPO loss and a GRPO mean reward per optimiser step). Each panel has its own y scale.

    Introduced in :doc:`/notebooks/07_preference_baselines`.
    """
    data = check_frame(
        history, ["step", "metric", "value", "subject"], "training_curves"
    )
    data = data.assign(subject=data["subject"].astype(str))
    panels = []
    for metric, frame in data.groupby("metric", sort=False):
        panels.append(
            alt.Chart(frame)
            .mark_line(point=True)
            .encode(
                x=alt.X("step:Q", title="optimiser step", axis=alt.Axis(tickMinStep=1)),
                y=alt.Y("value:Q", title=str(metric), scale=alt.Scale(zero=False)),
                color=alt.Color("subject:N", title="subject"),
                tooltip=["subject", "step", alt.Tooltip("value:Q", format=".3f")],
            )
            .properties(title=str(metric), width=width, height=180)
        )
    return alt.hconcat(*panels).properties(title=title)

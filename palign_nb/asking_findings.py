"""Chapter 03's bookkeeping around asking the model, and the numbers it glues.

The chapter shows one question, one next-token distribution, one generation and the
cached-prefix check step by step; around them it measures what a logit costs (3.3), how
the two ways of reading an answer compare in speed and agreement (3.4) and what bfloat16
changes against float32 (3.4). Each ``*_findings`` function returns the glue keys of the
prose, numbers and :class:`~palign_nb.findings.Sentence` s chosen by them, for
:meth:`palign_nb.context.Chapter.glue_all`. The unaligned model's findings are in
:mod:`palign_nb.unaligned_findings`.

Introduced in :doc:`/notebooks/03_asking_the_model`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import altair as alt
import numpy as np
import pandas as pd
import torch

from . import charts, precision
from .findings import Sentence
from .inventories import Inventory
from .models import LoadedModel
from .readouts import PROB_COLUMNS
from .shared_prefix import decoder_of


# --- 3.1 the few-shot prompt ----------------------------------------------------------


def few_shot_items(splits: dict, inventory: str) -> list[str]:
    """The known items whose answers the few-shot prompt lists: the paper's 120 for the
    Big Five (``ipip``), every known and validation item for the Dark Triad."""
    if inventory == "ipip":
        return list(splits["paper_known"])
    return list(splits["known"]) + list(splits["validation"])


# --- 3.3 what a logit costs -----------------------------------------------------------


def model_size(n_params: int) -> str:
    """``135M`` or ``8.0B``: a parameter count as the prose names a model."""
    return f"{n_params / 1e9:.1f}B" if n_params >= 1e9 else f"{n_params / 1e6:.0f}M"


def model_costs(lm: LoadedModel) -> dict[str, Any]:
    """The model's width, vocabulary, and the million multiply-adds per token of its
    language-model head against those of all its layers' linear maps (glue of 3.3)."""
    model = lm.model
    linear = [
        m for m in decoder_of(model).layers.modules() if isinstance(m, torch.nn.Linear)
    ]
    n_params = model.num_parameters()  # shared (tied) weights counted once
    return {
        "c03_hidden": model.config.hidden_size,
        "c03_vocab": model.config.vocab_size,
        "c03_head_mmacs": model.get_output_embeddings().weight.numel() / 1e6,
        "c03_layers_mmacs": sum(m.weight.numel() for m in linear) / 1e6,
        "c03_n_layers": lm.n_layers,
        "c03_n_params": n_params,
        "c03_model_size": model_size(n_params),
    }


def prompt_lengths(
    prefix: Sequence[int], rests: Sequence[Sequence[int]]
) -> dict[str, Any]:
    """Tokens of the shared prefix, of an item's own suffix on average (rounded down)
    and of one whole prompt, from :func:`palign_nb.prompts.split_shared_prefix`."""
    suffix = int(np.mean([len(r) for r in rests]))
    return {
        "c03_prefix_tokens": len(prefix),
        "c03_suffix_tokens": suffix,
        "c03_prompt_tokens": len(prefix) + suffix,
    }


# --- 3.4 the two modes, the two precisions --------------------------------------------


def join_modes(generated: pd.DataFrame, scored: pd.DataFrame) -> pd.DataFrame:
    """The generated items (``text``, ``predicted``: NaN where the regex failed) with
    option scoring's answer to each beside them (``option_scoring``)."""
    option = scored[["predicted"]].rename(columns={"predicted": "option_scoring"})
    return generated.join(option)


def mode_agreement(both: pd.DataFrame) -> float:
    """The share of parsed generations whose answer option scoring gives too (NaN when
    none parsed)."""
    parsed = both["predicted"].notna()
    if not parsed.any():
        return float("nan")
    return float(
        (both.loc[parsed, "predicted"] == both.loc[parsed, "option_scoring"]).mean()
    )


def speed_record(
    both: pd.DataFrame, option_s: float, generate_s: float
) -> dict[str, Any]:
    """The store's ``scoring_speed``: seconds per item of each mode, their agreement and
    the regex's failure rate on the ``both`` of :func:`join_modes`."""
    return {
        "option_s_per_item": option_s,
        "generate_s_per_item": generate_s,
        "agreement": mode_agreement(both),
        "parse_failure": float(1 - both["predicted"].notna().mean()),
        "items_generated": len(both),
    }


def mode_findings(
    both: pd.DataFrame, option_s: float, generate_s: float
) -> dict[str, Any]:
    """Glue of 3.4: the seconds per item of each mode, the speed-up, the minutes spent
    generating, the agreement and the regex's failure rate."""
    speed = speed_record(both, option_s, generate_s)
    return {
        "c03_fast_s_per_item": option_s,
        "c03_gen_s_per_item": generate_s,
        "c03_speedup": generate_s / option_s,
        "c03_gen_min": generate_s * len(both) / 60,
        "c03_agreement": speed["agreement"],
        "c03_parse_fail": speed["parse_failure"],
    }


def timing_table(option_s: float, generate_s: float) -> pd.DataFrame:
    """One row per mode with its seconds per item, for
    :func:`palign_nb.method_charts.bar_seconds`."""
    return pd.DataFrame(
        {
            "mode": ["generate + regex (paper)", "option log-likelihood (ours)"],
            "seconds per item": [generate_s, option_s],
        }
    )


def half_name(by_dtype: dict[str, pd.DataFrame]) -> str:
    """The half precision of a float32-against-half comparison (its key that is not
    ``float32``)."""
    return next(name for name in by_dtype if name != "float32")


def precision_findings(
    by_dtype: dict[str, pd.DataFrame],
    subject,
    answers: pd.DataFrame,
    inventory: Inventory,
    keying: str,
    run_precision: str,
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The same items scored in float32 and a half precision (tables by dtype name):
    :func:`palign_nb.precision.compare_precisions` as a table, and the glue of the
    precision section (``run_precision``: what the run computed in, and why)."""
    half = half_name(by_dtype)
    comparison = precision.compare_precisions(
        by_dtype["float32"], by_dtype[half], subject, answers, inventory, keying
    )
    table = pd.Series(comparison).round(4).to_frame(f"float32 vs {half}")
    return table, {
        **{f"c03_precision_{key}": value for key, value in comparison.items()},
        "c03_precision": run_precision,
        "c03_precision_finding": Sentence(
            precision.precision_finding(comparison, half)
        ),
    }


def precision_chart(by_dtype: dict[str, pd.DataFrame]) -> alt.Chart:
    """Every option probability of the comparison, float32 against half precision."""
    half = half_name(by_dtype)
    pairs = pd.DataFrame(
        {
            name: table[PROB_COLUMNS].to_numpy().ravel()
            for name, table in by_dtype.items()
        }
    )
    return charts.scatter(
        pairs,
        "float32",
        half,
        x_title="option probability, float32",
        y_title=f"option probability, {half}",
    )

"""What chapter 07 measures around DPO and the RL baseline, and the sentences it glues.

The chapter builds one subject's preference pairs and rewards and trains every subject
with :mod:`palign_nb.preference_runs`; what it reads from the run lives here: the run's
size (:func:`run_size`), the pairs (:func:`pair_findings`), the training curves
(:func:`curves`, :func:`curve_findings`), the scores and where the answers went
(:func:`result_findings`), the cost (:func:`cost_findings`) and the reloaded adapter
(:func:`roundtrip_findings`). Each ``*_findings`` function returns glue keys and values,
numbers and :class:`~palign_nb.findings.Sentence` s chosen by them, for
:meth:`palign_nb.context.Chapter.glue_all`.

Introduced in :doc:`/notebooks/07_preference_baselines`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .baseline_scores import changed_share, composite
from .findings import (
    Sentence,
    compare,
    plural,
    same_answer_share,
    share_word,
    trend,
)
from .inventories import VALUE_TO_LETTER, Inventory, targets
from .preference import PAPER, TrainSettings
from .results import stage_seconds

#: The chapter's methods (keys of :mod:`palign_nb.methods`) and how the prose names
#: them.
NAMES = {"dpo": "DPO", "grpo": "RL"}
#: The metrics of each method's training log the chapter draws, and their names on the
#: page.
CURVES = {
    "dpo": {"loss": "DPO loss", "rewards/margins": "reward margin"},
    "grpo": {
        "reward": "mean reward of the sampled answers",
        "reward_std": "reward spread in a step",
    },
}
#: The examples the paper's preference runs show (250 steps of 16).
PAPER_EXAMPLES = int(PAPER["steps"] * PAPER["batch_size"])


def run_size(
    settings: dict[str, TrainSettings],
    subjects: list,
    items: list[str],
    known: list[str],
    n_weights: int,
) -> dict[str, Any]:
    """The run's size as the prose quotes it: how many subjects, test items and known
    items, the training settings (from :func:`palign_nb.preference.chapter_settings`)
    and the model's ``n_weights``."""
    n_subjects = len(subjects)
    dpo, grpo = settings["dpo"], settings["grpo"]
    steps_both = f"{plural(dpo.steps, 'DPO step')} and {plural(grpo.steps, 'RL step')}"
    size = (
        f"{n_weights / 1e9:.1f} billion"
        if n_weights >= 1e9
        else f"{n_weights / 1e6:.0f} million"
    )
    return {
        "c07_n_subjects": n_subjects,
        "c07_n_items": len(items),
        "c07_n_known": len(known),
        "c07_dpo_steps": dpo.steps,
        "c07_dpo_batch": dpo.batch_size,
        "c07_grpo_steps": grpo.steps,
        "c07_grpo_batch": grpo.batch_size,
        "c07_grpo_generations": grpo.num_generations,
        "c07_lora_r": dpo.lora_r,
        "c07_lora_alpha": dpo.lora_alpha,
        "c07_grpo_iterations": grpo.num_iterations,
        "c07_warmup_steps": dpo.warmup_steps,
        "c07_model_params": n_weights,
        "c07_model_size": size,
        "c07_steps_both": Sentence(steps_both),
        "c07_run_size": Sentence(
            f"{plural(n_subjects, 'subject')}, {steps_both} per subject"
        ),
    }


def pair_findings(
    pairs: pd.DataFrame, known_answers: pd.Series, dpo: TrainSettings
) -> dict[str, Any]:
    """One subject's DPO pairs (:func:`palign_nb.preference.preference_pairs`) counted:
    the middle answers (two pairs each), the missing answers (none) among
    ``known_answers``, and how often the paper's run and this one (``dpo``) show each
    pair."""
    ours = dpo.steps * dpo.batch_size / len(pairs)
    epochs = (
        "DPO shows each of the first subject's pairs "
        f"{ours:{'.2f' if ours < 1 else '.1f'}} times on average"
        + (" (below one: some pairs are never seen)" if ours < 1 else "")
    )
    return {
        "c07_n_pairs": len(pairs),
        "c07_n_middle": int((pairs["chosen_value"] == 3).sum() // 2),
        "c07_n_missing": int((known_answers == 0).sum()),
        "c07_paper_epochs": PAPER_EXAMPLES / len(pairs),
        "c07_our_epochs": ours,
        "c07_epochs_finding": Sentence(epochs),
    }


def curves(history: pd.DataFrame, method: str) -> pd.DataFrame:
    """One method's logged metrics (:data:`CURVES`) as a long table: step, subject,
    metric, value, for :func:`palign_nb.method_charts.training_curves`."""
    rows = history[history["method"] == method]
    long = rows.melt(
        id_vars=["step", "subject"], value_vars=list(CURVES[method]), var_name="metric"
    )
    return long.assign(metric=long["metric"].map(CURVES[method]))


def _ends(frame: pd.DataFrame, metric: str) -> tuple[float, float]:
    """A metric's first and last logged value, each averaged over subjects."""
    per_subject = frame[frame.metric == metric].groupby("subject")["value"]
    return float(per_subject.first().mean()), float(per_subject.last().mean())


def curve_findings(
    dpo_curves: pd.DataFrame, grpo_curves: pd.DataFrame
) -> dict[str, Any]:
    """Section 7.5: where the DPO loss and margin and the mean RL reward start and
    end."""
    loss = _ends(dpo_curves, "DPO loss")
    reward = _ends(grpo_curves, CURVES["grpo"]["reward"])
    finding = (
        trend("the DPO loss", *loss, fmt=".3f")
        + " and "
        + trend("the mean RL reward", *reward, lower_is_better=False)
    )
    return {
        "c07_dpo_loss_last": loss[1],
        "c07_dpo_margin_last": _ends(dpo_curves, "reward margin")[1],
        "c07_grpo_reward_first": reward[0],
        "c07_grpo_reward_last": reward[1],
        "c07_curve_finding": Sentence(finding),
    }


def top_answer(table: pd.DataFrame) -> tuple[str, float]:
    """A table's most common answer (a letter) and its share of the answers."""
    counts = table["predicted"].map(VALUE_TO_LETTER).value_counts(normalize=True)
    return counts.idxmax(), float(counts.max())


def closest_options(answered: np.ndarray) -> list[str]:
    """The option letters nearest to all ``answered`` values on average: their median's
    (one, or the two around a median between two options)."""
    middle = np.median(answered)
    letters = [
        VALUE_TO_LETTER[int(np.ceil(middle))],
        VALUE_TO_LETTER[int(np.floor(middle))],
    ]
    return sorted(set(letters))


def learned_sentence(tops: dict[str, tuple[str, float]], closest: list[str]) -> str:
    """Whether each adapter's most common answer is one of the ``closest`` (least-wrong)
    ones."""
    hits = {m: tops[m][0] in closest for m in NAMES}
    if all(hits.values()):
        return (
            "Both adapters' most common answer is this least-wrong one: what they "
            "learned first is the answer closest to these people on average, not "
            "which statements describe them"
        )
    if any(hits.values()):
        yes, no = (next(m for m in NAMES if hits[m] == h) for h in (True, False))
        return (
            f"The {NAMES[yes]} adapters' most common answer is this least-wrong one; "
            f"the {NAMES[no]} adapters' is {tops[no][0]}"
        )
    return (
        "Neither adapter's most common answer is this least-wrong one (DPO: "
        f"{tops['dpo'][0]}, RL: {tops['grpo'][0]})"
    )


def result_findings(
    scores: pd.DataFrame,
    compared: dict[str, pd.DataFrame],
    known_answers: pd.DataFrame,
    inventory: Inventory,
    keying: str,
    paper: dict[str, float],
) -> dict[str, Any]:
    """Section 7.6: the adapters' composites beside the references and the paper's
    (``paper``: DPO and PPO), the answers they changed and where they went, and what the
    subjects' own known answers (``known_answers``: subjects by known items, stored
    values) make cheapest to learn."""

    def comp(method: str) -> float:
        return composite(scores, method, keying)

    unaligned = compared.get("no alignment")
    signs = inventory.items.loc[known_answers.columns, "sign"].to_numpy()
    values = targets(known_answers.to_numpy(), signs, inventory, keying)
    answered = values[
        values > 0
    ]  # the answers the adapters were trained on, under keying
    mid = float((answered == 3).mean())
    bcd = float(((answered >= 2) & (answered <= 4)).mean())
    tops = {m: top_answer(compared[m]) for m in NAMES}
    glued: dict[str, Any] = {
        "c07_dpo_composite": comp("dpo"),
        "c07_grpo_composite": comp("grpo"),
        "c07_always_C_composite": comp("always C"),
        "c07_trait_mean_composite": comp("trait mean"),
        "c07_noalign_composite": comp("no alignment"),
        "c07_paper_dpo": paper["DPO"],
        "c07_paper_ppo": paper["PPO"],
        **{f"c07_{m}_changed": changed_share(compared[m], unaligned) for m in NAMES},
        "c07_keying": keying,
        **{
            f"c07_{m}_share_c": float((compared[m]["predicted"] == 3).mean())
            for m in NAMES
        },
        "c07_share_middle_known": mid,
        "c07_share_bcd": bcd,
    }
    for m in NAMES:
        glued[f"c07_{m}_top"], glued[f"c07_{m}_top_share"] = tops[m]
    closest = closest_options(answered)
    median_text = (
        f"their median answer is {closest[0]}, the single option closest to all of "
        "them on average"
        if len(closest) == 1
        else f"their median lies between {closest[0]} and {closest[1]}, the two "
        "options closest to all of them on average"
    )
    versus = "; ".join(
        f"{compare(NAMES[m], comp(m), 'the unaligned model', comp('no alignment'))}, "
        f"and {compare(NAMES[m], comp(m), 'always C', comp('always C'))}"
        for m in NAMES
    )
    went = "; ".join(
        f"after {NAMES[m]}, {same_answer_share(tops[m][1], tops[m][0])}" for m in NAMES
    )
    known = (
        f"{share_word(mid).capitalize()} of these subjects' answered known items "
        f"({mid:.0%}) are C and {share_word(bcd)} ({bcd:.0%}) are B, C or D; "
        f"{median_text}"
    )
    top = (
        f"the most common answer is {tops['dpo'][0]} for DPO ({tops['dpo'][1]:.0%} of "
        f"the answers) and {tops['grpo'][0]} for RL ({tops['grpo'][1]:.0%})"
    )
    sentences = {
        "c07_versus_finding": versus,
        "c07_answers_finding": went,
        "c07_known_finding": known,
        "c07_closest": " or ".join(closest),
        "c07_learned_finding": learned_sentence(tops, closest),
        "c07_top_summary": top,
    }
    return glued | {key: Sentence(text) for key, text in sentences.items()}


def cost_findings(
    timings: pd.DataFrame, settings: dict[str, TrainSettings]
) -> tuple[pd.DataFrame, dict[str, float]]:
    """Seconds per subject of each method's training and scoring, per step and per
    example, and the paper's 250 steps of 16 extrapolated from them (minutes); and the
    glue of section 7.7."""
    per_subject = stage_seconds(timings)
    methods = per_subject.index
    steps = [settings[m].steps for m in methods]
    examples = [settings[m].steps * settings[m].batch_size for m in methods]
    per_subject["seconds per step"] = per_subject["train"] / steps
    per_subject["seconds per example"] = per_subject["train"] / examples
    paper = "paper's 250 x 16, min (extrapolated)"
    per_subject[paper] = per_subject["seconds per example"] * PAPER_EXAMPLES / 60
    glued = {}
    for m in NAMES:
        glued[f"c07_{m}_train_s"] = float(per_subject.loc[m, "train"])
        glued[f"c07_{m}_score_s"] = float(per_subject.loc[m, "score"])
        glued[f"c07_{m}_step_s"] = float(per_subject.loc[m, "seconds per step"])
        glued[f"c07_{m}_paper_min"] = float(per_subject.loc[m, paper])
    return per_subject, glued


def roundtrip_findings(
    rescored: pd.DataFrame, trained: pd.DataFrame, subject, path: Path
) -> dict[str, float]:
    """How far a reloaded adapter's option probabilities (``rescored``, indexed by item)
    lie from those the trained one gave ``subject`` (``trained``: the store's rows), and
    the size of the adapter's folder ``path`` in kB."""
    rows = trained[trained["subject"] == subject].set_index("item").loc[rescored.index]
    cols = [f"p_{x}" for x in "ABCDE"]
    diff = np.abs(rescored[cols].to_numpy() - rows[cols].to_numpy()).max()
    return {
        "c07_roundtrip_diff": float(diff),
        "c07_adapter_kb": float(sum(f.stat().st_size for f in path.iterdir()) / 1024),
    }

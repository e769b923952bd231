"""Chapter 07's runs: answers sampled from the untrained model, one adapter per subject
and method, and the chapter's record in the results store.

The training loop is :func:`palign_nb.all_subjects.run_preference` (kept per subject,
resumed after a kill); this module saves each adapter before it is merged
(:mod:`palign_nb.adapters`), gathers the methods' tables and progress lines, and writes
the record. What the chapter reads from the results is in
:mod:`palign_nb.preference_findings`.

Introduced in :doc:`/notebooks/07_preference_baselines`.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
import torch

from .adapters import adapter_dir, save_adapter
from .all_subjects import run_preference
from .config import runtime_minutes
from .context import Chapter
from .errors import PalignError
from .inventories import Inventory
from .models import LoadedModel
from .preference import TrainResult, TrainSettings, option_reward
from .prompts import DEFAULT_SYSTEM


@torch.inference_mode()
def sample_answers(
    lm: LoadedModel,
    prompts: pd.DataFrame,
    inventory: Inventory,
    settings: TrainSettings,
) -> pd.DataFrame:
    """``settings.num_generations`` answers sampled for each of ``prompts``
    (:func:`palign_nb.preference.reward_prompts`) as GRPO samples them (temperature, no
    top-k, ``max_completion_length`` tokens, seeded with ``settings.seed``), each with
    the paper's reward: columns ``statement``, ``target``, ``answer``, ``reward``."""
    tok = lm.tokenizer
    torch.manual_seed(settings.seed)
    samples = []
    for row in prompts.itertuples():
        ids = tok(row.prompt, return_tensors="pt")["input_ids"].to(lm.device)
        out = lm.model.generate(
            input_ids=ids,
            attention_mask=torch.ones_like(ids),
            do_sample=True,
            top_k=0,
            temperature=settings.temperature,
            max_new_tokens=settings.max_completion_length,
            num_return_sequences=settings.num_generations,
            pad_token_id=tok.pad_token_id,
        )
        for seq in out:
            text = tok.decode(seq[ids.shape[1] :], skip_special_tokens=True)
            samples.append(
                {
                    "statement": inventory.items.loc[row.item, "text"],
                    "target": row.target,
                    "answer": text,
                    "reward": option_reward(text, row.target, inventory),
                }
            )
    return pd.DataFrame(samples)


def lora_weights(result: TrainResult) -> int:
    """How many numbers a trained adapter holds (its ``lora_`` parameters)."""
    named = result.model.named_parameters()
    return sum(p.numel() for n, p in named if "lora_" in n)


@dataclass
class PreferenceRun:
    """Every subject trained and scored by each method: ``predictions`` by method, the
    ``timings`` (with ``keying``) and training ``history`` of all methods, each
    adapter's place in the store (``adapter_paths``: method -> subject -> path) and an
    adapter's size (``lora_params``: both methods train the same LoRA shape)."""

    predictions: dict[str, pd.DataFrame]
    timings: pd.DataFrame
    history: pd.DataFrame
    adapter_paths: dict[str, dict[str, str]]
    lora_params: int


def train_every_subject(
    ch: Chapter, settings: dict[str, TrainSettings], known: list[str], items: list[str]
) -> PreferenceRun:
    """Each method of ``settings`` (DPO, RL) on every subject of the chapter through
    :func:`palign_nb.all_subjects.run_preference` (the chapter's model, answers, keying,
    ``batch_size`` and the method's checkpoints), each adapter saved in the store
    (:func:`palign_nb.adapters.adapter_dir`) before it is merged; a line per method."""
    cfg, keying = ch.cfg, ch.cfg.keying
    predictions, timings, histories, paths, sizes = {}, [], [], {}, {}
    for method, method_settings in settings.items():

        def keep(s, result: TrainResult, method: str = method) -> dict:
            path = save_adapter(result, adapter_dir(cfg, method, s, keying))
            relative = str(path.relative_to(cfg.results_path))
            return {"path": relative, "lora_params": lora_weights(result)}

        predictions[method], t, h, kept = run_preference(
            ch.model,
            ch.answers,
            ch.subjects,
            method_settings,
            known,
            items,
            ch.inventory,
            keying,
            ch.params["batch_size"],
            on_trained=keep,
            checkpoints=ch.checkpoints(method),
        )
        paths[method] = {str(s): k["path"] for s, k in kept.items()}
        sizes[method] = next(iter(kept.values()))["lora_params"]
        timings.append(t.assign(keying=keying))
        histories.append(h)
        train_s = t.loc[t.stage == "train", "seconds"].mean()
        score_s = t.loc[t.stage == "score", "seconds"].mean()
        print(f"{method}: trained {train_s:.0f} s, scored {score_s:.0f} s per subject")
    return PreferenceRun(
        predictions,
        pd.concat(timings, ignore_index=True),
        pd.concat(histories, ignore_index=True),
        paths,
        int(next(iter(sizes.values()))),
    )


def combined(*runs: PreferenceRun) -> PreferenceRun:
    """One :class:`PreferenceRun` of the methods of ``runs`` (e.g. DPO and RL trained in
    cells of their own, so each cell stays a few minutes)."""
    sizes = {run.lora_params for run in runs}
    if len(sizes) != 1:
        raise PalignError(
            f"adapters of different sizes {sorted(sizes)}: combine runs trained with "
            "the same LoRA settings."
        )
    return PreferenceRun(
        {m: t for run in runs for m, t in run.predictions.items()},
        pd.concat([run.timings for run in runs], ignore_index=True),
        pd.concat([run.history for run in runs], ignore_index=True),
        {m: p for run in runs for m, p in run.adapter_paths.items()},
        sizes.pop(),
    )


def save_preference(
    ch: Chapter, run: PreferenceRun, settings: dict[str, TrainSettings], n_items: int
) -> None:
    """Chapter 07's record: each method's predictions (with its settings and adapters),
    the adapters' index, the timings and the training histories, in the results store.
    """
    keying = ch.cfg.keying
    for method, table in run.predictions.items():
        used = vars(settings[method])
        note = {
            "items": n_items,
            "known_items": "paper_known",
            "keying": keying,
            "system": DEFAULT_SYSTEM,
            "settings": used,
            "adapters": run.adapter_paths[method],
        }
        seconds = float(run.timings.loc[run.timings.method == method, "seconds"].sum())
        ch.save_predictions(method, table, keying=keying, wall_s=seconds, extra=note)
        index = {"settings": used, "paths": run.adapter_paths[method]}
        ch.save_json(f"adapters_{method}_{keying}", index)
    ch.save_timings(run.timings, wall_s=runtime_minutes() * 60)
    ch.save_table("training_history_07", run.history)
    print(
        "wrote predictions, adapters, training histories and timings of "
        f"{', '.join(run.predictions)} to {ch.cfg.results_path}"
    )

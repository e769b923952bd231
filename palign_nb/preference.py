"""Preference baselines: DPO and a PPO-style RL baseline (GRPO), with TRL and one LoRA adapter per subject.

Both put the subject into *weights*: a LoRA adapter (PEFT) trained on the subject's known answers,
asked with the paper's question and the default system prompt. DPO (TRL ``DPOTrainer``) learns from
pairs, the subject's option against the farthest one (:func:`preference_pairs`); RL (TRL
``GRPOTrainer``, PPO's clipped objective without a value network) samples answers and rewards them
with the paper's rule (:func:`option_reward`). The paper's DPO settings (:data:`PAPER`) are the
defaults except the step count and batch size. Scoring merges the adapter into a copy of the model
(:func:`palign_nb.preference_training.merged`), so the shared-prefix scorer runs on a plain
model. Training runs in :mod:`palign_nb.preference_training`.

Introduced in :doc:`/notebooks/07_preference_baselines`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pandas as pd

from .errors import PalignError
from .inventories import LETTER_TO_VALUE, VALUE_TO_LETTER, Inventory, check_name
from .models import LoadedModel
from .prompt_baselines import known_answers
from .prompts import DEFAULT_SYSTEM, question, render_chat

#: The paper's DPO hyper-parameters (lr, warm-up steps, weight decay, AdamW batch size, LoRA alpha, steps).
PAPER: dict[str, float] = {
    "learning_rate": 5e-4,
    "warmup_steps": 100,
    "weight_decay": 0.05,
    "batch_size": 16,
    "lora_alpha": 100,
    "steps": 250,
}
#: The paper's reward when the response names no option.
NO_OPTION_REWARD = -6.0


@dataclass(frozen=True)
class TrainSettings:
    """How one adapter is trained. ``method``: ``dpo`` or ``grpo`` (names the parameters in errors).

    ``batch_size``: preference pairs per step (DPO) or answers per step (GRPO, a multiple of
    ``num_generations``). ``beta``: DPO's strength of the pull towards the starting model; GRPO's
    KL coefficient (0: no reference model, TRL's default). The ``num_generations``,
    ``max_completion_length``, ``num_iterations`` (PPO epochs per batch) and ``temperature`` fields
    are GRPO's only.
    """

    method: str
    steps: int
    batch_size: int
    learning_rate: float = PAPER["learning_rate"]
    warmup_steps: int = 0
    weight_decay: float = PAPER["weight_decay"]
    lora_r: int = 8
    lora_alpha: int = int(PAPER["lora_alpha"])
    beta: float = 0.1
    num_generations: int = 4
    max_completion_length: int = 4
    num_iterations: int = 1
    temperature: float = 1.0
    seed: int = 0

    def __post_init__(self) -> None:
        check_name(self.method, ("dpo", "grpo"), "preference method")
        params = {
            "steps": f"{self.method}_steps",
            "batch_size": f"{self.method}_batch_size",
            "lora_r": "lora_r",
            "lora_alpha": "lora_alpha",
            "num_generations": "grpo_generations",
            "max_completion_length": "grpo_max_completion_length",
            "num_iterations": "grpo_iterations",
        }
        for name, param in params.items():
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise PalignError(
                    f"{param}={value!r}: it must be a positive integer (training needs at least one step and "
                    f"one example per step). Set {param} >= 1; the paper trains {PAPER['steps']:.0f} steps "
                    f"of {PAPER['batch_size']:.0f}."
                )
        if self.warmup_steps < 0 or self.learning_rate <= 0 or self.weight_decay < 0:
            raise PalignError(
                "warm-up steps and weight decay must be >= 0 and the learning rate > 0."
            )
        if self.method == "grpo" and (
            self.num_generations < 2 or self.batch_size % self.num_generations
        ):
            raise PalignError(
                f"grpo_batch_size={self.batch_size} must be a multiple of grpo_generations={self.num_generations} "
                "(>= 2): GRPO compares the answers to the same prompt. Change one of them."
            )


#: The chapter parameters that set DPO and RL training. Chapters 07 and 08 both declare all of them
#: (with the same defaults, a test checks) and build their settings with :func:`chapter_settings`.
TRAINING_PARAMETERS: tuple[str, ...] = (
    "lora_r",
    "lora_alpha",
    "weight_decay",
    "warmup_steps",
    "dpo_steps",
    "dpo_batch_size",
    "dpo_lr",
    "dpo_beta",
    "grpo_steps",
    "grpo_batch_size",
    "grpo_generations",
    "grpo_max_completion_length",
    "grpo_iterations",
    "grpo_lr",
    "grpo_beta",
    "grpo_temperature",
)


def chapter_settings(params: dict[str, Any], seed: int) -> dict[str, TrainSettings]:
    """DPO's and RL's :class:`TrainSettings` from a chapter's parameters (:data:`TRAINING_PARAMETERS`).

    One place, so that the Big Five (chapter 07) and the Dark Triad (chapter 08) train the same way.
    """
    missing = [name for name in TRAINING_PARAMETERS if name not in params]
    if missing:
        raise PalignError(
            f"The chapter does not declare the training parameters {missing}."
        )
    common = dict(
        warmup_steps=params["warmup_steps"],
        weight_decay=params["weight_decay"],
        lora_r=params["lora_r"],
        lora_alpha=params["lora_alpha"],
        seed=seed,
    )
    return {
        "dpo": TrainSettings(
            "dpo",
            steps=params["dpo_steps"],
            batch_size=params["dpo_batch_size"],
            learning_rate=params["dpo_lr"],
            beta=params["dpo_beta"],
            **common,
        ),
        "grpo": TrainSettings(
            "grpo",
            steps=params["grpo_steps"],
            batch_size=params["grpo_batch_size"],
            learning_rate=params["grpo_lr"],
            beta=params["grpo_beta"],
            num_generations=params["grpo_generations"],
            temperature=params["grpo_temperature"],
            max_completion_length=params["grpo_max_completion_length"],
            num_iterations=params["grpo_iterations"],
            **common,
        ),
    }


def training_prompt(tokenizer: Any, system: str, user: str) -> str:
    """The scoring prompt as text (chat template, answer prefilled with ``Option``) for TRL.

    TRL tokenises plain-text prompts with the tokenizer's special tokens; where that adds a BOS
    token the template already wrote, the written one is dropped, so training sees the tokens that
    scoring sees.
    """
    text = render_chat(tokenizer, system, user)
    bos = tokenizer.bos_token
    adds_bos = bos is not None and tokenizer("x")["input_ids"][:1] == [
        tokenizer.bos_token_id
    ]
    return text[len(bos) :] if adds_bos and text.startswith(bos) else text


def rejected_values(value: int) -> tuple[int, ...]:
    """The options paired against the subject's answer: the farthest end of the scale (both for 3)."""
    return (1,) if value >= 4 else (5,) if value <= 2 else (5, 1)


def _known_rows(
    lm: LoadedModel,
    answers: pd.DataFrame,
    subject,
    items: list[str],
    inventory: Inventory,
    keying: str,
    system: str,
) -> Iterator[tuple[str, str, int]]:
    texts, values = known_answers(answers, subject, items, inventory, keying)
    for item, text, value in zip(items, texts, values.tolist()):
        if value > 0:  # missing answers teach nothing
            yield (
                item,
                training_prompt(lm.tokenizer, system, question(text, inventory)),
                int(value),
            )


def preference_pairs(
    lm: LoadedModel,
    answers: pd.DataFrame,
    subject,
    items: list[str],
    inventory: Inventory,
    keying: str,
    system: str = DEFAULT_SYSTEM,
) -> pd.DataFrame:
    """DPO pairs of one subject: columns ``item, prompt, chosen, rejected, chosen_value, rejected_value``.

    ``chosen`` / ``rejected`` are the option tokens that follow the prompt (``" A"`` .. ``" E"``).
    """
    rows = [
        {
            "item": item,
            "prompt": prompt,
            "chosen": f" {VALUE_TO_LETTER[v]}",
            "rejected": f" {VALUE_TO_LETTER[r]}",
            "chosen_value": v,
            "rejected_value": r,
        }
        for item, prompt, v in _known_rows(
            lm, answers, subject, items, inventory, keying, system
        )
        for r in rejected_values(v)
    ]
    return pd.DataFrame(rows)


def reward_prompts(
    lm: LoadedModel,
    answers: pd.DataFrame,
    subject,
    items: list[str],
    inventory: Inventory,
    keying: str,
    system: str = DEFAULT_SYSTEM,
) -> pd.DataFrame:
    """RL prompts of one subject: columns ``item, prompt, target`` (the answer the reward aims at)."""
    rows = [
        {"item": item, "prompt": prompt, "target": v}
        for item, prompt, v in _known_rows(
            lm, answers, subject, items, inventory, keying, system
        )
    ]
    return pd.DataFrame(rows)


_LETTER = re.compile(r"^\W{0,3}([A-E])(?![A-Za-z])")


def named_option(text: str, inventory: Inventory) -> int | None:
    """The Likert value of the option a response names, or None.

    The response continues the prefilled ``Option``, so first an option letter at its start
    (``" B"``, ``" (B)."``); else, as in the paper's reward code, an answer label in the text
    (longest label first, so "Somewhat Agree" is not read as "Agree").
    """
    match = _LETTER.match(text)
    if match:
        return LETTER_TO_VALUE[match.group(1)]
    for value, label in sorted(
        ((v, l) for v, l in inventory.labels.items() if v > 0), key=lambda x: -len(x[1])
    ):
        if label in text:
            return value
    return None


def option_reward(text: str, target: int, inventory: Inventory) -> float:
    """The paper's reward (:ref:`paper-prompts`): ``-|named option - target|``, or -6 if no option is named."""
    value = named_option(text, inventory)
    return NO_OPTION_REWARD if value is None else float(-abs(value - int(target)))


def paper_reward(inventory: Inventory) -> Callable[..., list[float]]:
    """The reward as a TRL reward function: ``f(completions, target, **kwargs) -> list[float]``."""

    def option_distance(
        completions: list[str], target: list[int], **kwargs: Any
    ) -> list[float]:
        return [
            option_reward(c, t, inventory)
            for c, t in zip(completions, target, strict=True)
        ]

    return option_distance


@dataclass
class TrainResult:
    """A trained adapter: ``model`` (a PEFT model on a copy of the base model), the trainer's
    per-step log ``history`` (one row per step), the wall ``seconds`` and the ``examples`` seen."""

    model: Any
    history: pd.DataFrame
    seconds: float
    examples: int

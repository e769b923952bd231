"""Preference baselines: DPO and a PPO-style RL baseline (GRPO), with TRL and one LoRA adapter per subject.

Both put the subject into *weights*: a LoRA adapter (PEFT) trained on the subject's known answers,
asked with the paper's question and the default system prompt. DPO (TRL ``DPOTrainer``) learns from
pairs, the subject's option against the farthest one (:func:`preference_pairs`); RL (TRL
``GRPOTrainer``, PPO's clipped objective without a value network) samples answers and rewards them
with the paper's rule (:func:`option_reward`). The paper's DPO settings (:data:`PAPER`) are the
defaults except the step count and batch size. Scoring merges the adapter into a copy of the model
(:func:`merged`), so the shared-prefix scorer runs on a plain model.

Introduced in :doc:`/notebooks/07_preference_baselines`.
"""

from __future__ import annotations

import contextlib
import copy
import re
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pandas as pd
import torch

from .errors import PalignError
from .inventories import LETTER_TO_VALUE, VALUE_TO_LETTER, Inventory, check_name
from .models import LoadedModel
from .prompt_baselines import known_answers
from .prompts import DEFAULT_SYSTEM, question, render_chat

#: The paper's DPO hyper-parameters (lr, warm-up steps, weight decay, AdamW batch size, LoRA alpha, steps).
PAPER: dict[str, float] = {"learning_rate": 5e-4, "warmup_steps": 100, "weight_decay": 0.05, "batch_size": 16,
                           "lora_alpha": 100, "steps": 250}
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
        params = {"steps": f"{self.method}_steps", "batch_size": f"{self.method}_batch_size", "lora_r": "lora_r",
                  "lora_alpha": "lora_alpha", "num_generations": "grpo_generations",
                  "max_completion_length": "grpo_max_completion_length", "num_iterations": "grpo_iterations"}
        for name, param in params.items():
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise PalignError(f"{param}={value!r}: it must be a positive integer (training needs at least one step and "
                                  f"one example per step). Set {param} >= 1; the paper trains {PAPER['steps']:.0f} steps "
                                  f"of {PAPER['batch_size']:.0f}.")
        if self.warmup_steps < 0 or self.learning_rate <= 0 or self.weight_decay < 0:
            raise PalignError("warm-up steps and weight decay must be >= 0 and the learning rate > 0.")
        if self.method == "grpo" and (self.num_generations < 2 or self.batch_size % self.num_generations):
            raise PalignError(f"grpo_batch_size={self.batch_size} must be a multiple of grpo_generations={self.num_generations} "
                              "(>= 2): GRPO compares the answers to the same prompt. Change one of them.")


#: The chapter parameters that set DPO and RL training. Chapters 07 and 08 both declare all of them
#: (with the same defaults, a test checks) and build their settings with :func:`chapter_settings`.
TRAINING_PARAMETERS: tuple[str, ...] = (
    "lora_r", "lora_alpha", "weight_decay", "warmup_steps", "dpo_steps", "dpo_batch_size", "dpo_lr", "dpo_beta",
    "grpo_steps", "grpo_batch_size", "grpo_generations", "grpo_max_completion_length", "grpo_iterations", "grpo_lr",
    "grpo_beta", "grpo_temperature",
)


def chapter_settings(params: dict[str, Any], seed: int) -> dict[str, TrainSettings]:
    """DPO's and RL's :class:`TrainSettings` from a chapter's parameters (:data:`TRAINING_PARAMETERS`).

    One place, so that the Big Five (chapter 07) and the Dark Triad (chapter 08) train the same way.
    """
    missing = [name for name in TRAINING_PARAMETERS if name not in params]
    if missing:
        raise PalignError(f"The chapter does not declare the training parameters {missing}.")
    common = dict(warmup_steps=params["warmup_steps"], weight_decay=params["weight_decay"], lora_r=params["lora_r"],
                  lora_alpha=params["lora_alpha"], seed=seed)
    return {
        "dpo": TrainSettings("dpo", steps=params["dpo_steps"], batch_size=params["dpo_batch_size"],
                             learning_rate=params["dpo_lr"], beta=params["dpo_beta"], **common),
        "grpo": TrainSettings("grpo", steps=params["grpo_steps"], batch_size=params["grpo_batch_size"],
                              learning_rate=params["grpo_lr"], beta=params["grpo_beta"],
                              num_generations=params["grpo_generations"], temperature=params["grpo_temperature"],
                              max_completion_length=params["grpo_max_completion_length"],
                              num_iterations=params["grpo_iterations"], **common),
    }


def training_prompt(tokenizer: Any, system: str, user: str) -> str:
    """The scoring prompt as text (chat template, answer prefilled with ``Option``) for TRL.

    TRL tokenises plain-text prompts with the tokenizer's special tokens; where that adds a BOS
    token the template already wrote, the written one is dropped, so training sees the tokens that
    scoring sees.
    """
    text = render_chat(tokenizer, system, user)
    bos = tokenizer.bos_token
    adds_bos = bos is not None and tokenizer("x")["input_ids"][:1] == [tokenizer.bos_token_id]
    return text[len(bos):] if adds_bos and text.startswith(bos) else text


def rejected_values(value: int) -> tuple[int, ...]:
    """The options paired against the subject's answer: the farthest end of the scale (both for 3)."""
    return (1,) if value >= 4 else (5,) if value <= 2 else (5, 1)


def _known_rows(lm: LoadedModel, answers: pd.DataFrame, subject, items: list[str], inventory: Inventory,
                keying: str, system: str) -> Iterator[tuple[str, str, int]]:
    texts, values = known_answers(answers, subject, items, inventory, keying)
    for item, text, value in zip(items, texts, values.tolist()):
        if value > 0:  # missing answers teach nothing
            yield item, training_prompt(lm.tokenizer, system, question(text, inventory)), int(value)


def preference_pairs(lm: LoadedModel, answers: pd.DataFrame, subject, items: list[str], inventory: Inventory,
                     keying: str, system: str = DEFAULT_SYSTEM) -> pd.DataFrame:
    """DPO pairs of one subject: columns ``item, prompt, chosen, rejected, chosen_value, rejected_value``.

    ``chosen`` / ``rejected`` are the option tokens that follow the prompt (``" A"`` .. ``" E"``).
    """
    rows = [{"item": item, "prompt": prompt, "chosen": f" {VALUE_TO_LETTER[v]}", "rejected": f" {VALUE_TO_LETTER[r]}",
             "chosen_value": v, "rejected_value": r}
            for item, prompt, v in _known_rows(lm, answers, subject, items, inventory, keying, system)
            for r in rejected_values(v)]
    return pd.DataFrame(rows)


def reward_prompts(lm: LoadedModel, answers: pd.DataFrame, subject, items: list[str], inventory: Inventory,
                   keying: str, system: str = DEFAULT_SYSTEM) -> pd.DataFrame:
    """RL prompts of one subject: columns ``item, prompt, target`` (the answer the reward aims at)."""
    rows = [{"item": item, "prompt": prompt, "target": v}
            for item, prompt, v in _known_rows(lm, answers, subject, items, inventory, keying, system)]
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
    for value, label in sorted(((v, l) for v, l in inventory.labels.items() if v > 0), key=lambda x: -len(x[1])):
        if label in text:
            return value
    return None


def option_reward(text: str, target: int, inventory: Inventory) -> float:
    """The paper's reward (:ref:`paper-prompts`): ``-|named option - target|``, or -6 if no option is named."""
    value = named_option(text, inventory)
    return NO_OPTION_REWARD if value is None else float(-abs(value - int(target)))


def paper_reward(inventory: Inventory) -> Callable[..., list[float]]:
    """The reward as a TRL reward function: ``f(completions, target, **kwargs) -> list[float]``."""

    def option_distance(completions: list[str], target: list[int], **kwargs: Any) -> list[float]:
        return [option_reward(c, t, inventory) for c, t in zip(completions, target, strict=True)]

    return option_distance


@dataclass
class TrainResult:
    """A trained adapter: ``model`` (a PEFT model on a copy of the base model), the trainer's
    per-step log ``history`` (one row per step), the wall ``seconds`` and the ``examples`` seen."""

    model: Any
    history: pd.DataFrame
    seconds: float
    examples: int


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """No progress bars, info logs or library warnings inside a chapter's training cell."""
    import datasets
    import transformers

    datasets.disable_progress_bars()
    verbosity = transformers.logging.get_verbosity()
    transformers.logging.set_verbosity_error()
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", module=r"(trl|transformers|peft|accelerate|datasets|torch)\b")
            yield
    finally:
        transformers.logging.set_verbosity(verbosity)
        datasets.enable_progress_bars()


def _args(lm: LoadedModel, s: TrainSettings, output_dir: str) -> dict[str, Any]:
    dtype = lm.dtype
    return dict(output_dir=output_dir, max_steps=s.steps, per_device_train_batch_size=s.batch_size,
                learning_rate=s.learning_rate, warmup_steps=s.warmup_steps, weight_decay=s.weight_decay,
                lr_scheduler_type="linear", logging_steps=1, save_strategy="no", report_to="none", disable_tqdm=True,
                seed=s.seed, data_seed=s.seed, use_cpu=lm.device.type == "cpu", bf16=dtype == torch.bfloat16,
                fp16=dtype == torch.float16, gradient_checkpointing=False)


def _lora(s: TrainSettings):
    from peft import LoraConfig

    return LoraConfig(r=s.lora_r, lora_alpha=s.lora_alpha, lora_dropout=0.0, task_type="CAUSAL_LM")


@contextlib.contextmanager
def _head_on_answer_tokens() -> Iterator[None]:
    """TRL's fused LM head projects only the tokens a loss reads (the answers), on the CPU too.

    TRL computes log-probabilities with a fused LM head (``trl.trainer.utils.add_fused_lm_head``) that either
    projects only the positions whose label is not -100, or projects every position and masks the rest
    afterwards; it picks by device, through its private ``_use_triton``: the former on CUDA, the latter
    elsewhere (fixed shapes for Neuron). Our prompts are ~100 tokens and the answers 2 (DPO: the option and
    the end of turn) or up to 4 (GRPO), so on the CPU ~98% of that work (a product with the 49,152-token
    vocabulary and its soft-max in float32, forward and backward, in every pass: DPO's reference pass too)
    was masked away: 44% of a DPO and 37% of a GRPO subject's CPU time with the book's settings
    (``benchmarks/bench_training.py --compare``). This takes the compact branch on the CPU too, with TRL's own
    CPU kernel: the same log-probabilities and gradients, so the same losses and adapter, bit for bit (a test
    checks, and the benchmark on the embedded model). TRL has no option for it; where the name is gone
    (another TRL) nothing changes, and that test fails.
    """
    from trl.trainer import utils as trl_utils

    original = getattr(trl_utils, "_use_triton", None)
    if original is None:
        yield
        return
    trl_utils._use_triton = lambda device: device.type == "cpu" or original(device)
    try:
        yield
    finally:
        trl_utils._use_triton = original


def _train(make_trainer: Callable[[str], Any], examples: int) -> TrainResult:
    from transformers.trainer_callback import PrinterCallback

    with tempfile.TemporaryDirectory() as out, quiet(), _head_on_answer_tokens():
        start = time.perf_counter()
        trainer = make_trainer(out)
        trainer.remove_callback(PrinterCallback)  # the log goes to `history`, not to the notebook
        trainer.train()
        seconds = time.perf_counter() - start
    history = pd.DataFrame([row for row in trainer.state.log_history if "loss" in row])
    trainer.model.eval()
    return TrainResult(trainer.model, history, seconds, examples)


def train_dpo(lm: LoadedModel, pairs: pd.DataFrame, settings: TrainSettings) -> TrainResult:
    """Train a LoRA adapter with TRL's ``DPOTrainer`` on ``pairs`` (:func:`preference_pairs`).

    The base model ``lm`` is left untouched: the adapter is added to a copy.
    """
    from datasets import Dataset
    from trl import DPOConfig, DPOTrainer

    if settings.method != "dpo" or pairs.empty:
        raise PalignError("train_dpo needs TrainSettings(method='dpo', ...) and at least one preference pair.")
    data = Dataset.from_pandas(pairs[["prompt", "chosen", "rejected"]], preserve_index=False)
    return _train(lambda out: DPOTrainer(
        model=copy.deepcopy(lm.model), args=DPOConfig(**_args(lm, settings, out), beta=settings.beta, max_length=None),
        train_dataset=data, processing_class=lm.tokenizer, peft_config=_lora(settings)),
        settings.steps * settings.batch_size)


def train_grpo(lm: LoadedModel, prompts: pd.DataFrame, settings: TrainSettings, inventory: Inventory,
               reward: Callable[..., list[float]] | None = None) -> TrainResult:
    """Train a LoRA adapter with TRL's ``GRPOTrainer`` on ``prompts`` (:func:`reward_prompts`).

    ``reward`` defaults to the paper's (:func:`paper_reward`). Each step samples
    ``num_generations`` answers for ``batch_size / num_generations`` prompts.
    """
    from datasets import Dataset
    from trl import GRPOConfig, GRPOTrainer

    if settings.method != "grpo" or prompts.empty:
        raise PalignError("train_grpo needs TrainSettings(method='grpo', ...) and at least one prompt.")
    data = Dataset.from_pandas(prompts[["prompt", "target"]], preserve_index=False)
    config = dict(num_generations=settings.num_generations, max_completion_length=settings.max_completion_length,
                  num_iterations=settings.num_iterations, beta=settings.beta, temperature=settings.temperature,
                  epsilon=0.2, log_completions=False)
    return _train(lambda out: GRPOTrainer(
        model=copy.deepcopy(lm.model), reward_funcs=reward or paper_reward(inventory),
        args=GRPOConfig(**_args(lm, settings, out), **config), train_dataset=data, processing_class=lm.tokenizer,
        peft_config=_lora(settings)), settings.steps * settings.batch_size)


def merged(lm: LoadedModel, peft_model: Any, tag: str) -> LoadedModel:
    """The adapter merged into its copy of the model, as a plain model the scorer can run.

    Merging changes the copy's weights in place: save the adapter first (:func:`palign_nb.adapters.save_adapter`).
    """
    model = peft_model.merge_and_unload().eval()
    return LoadedModel(model, lm.tokenizer, f"{lm.model_id}+{tag}", lm.revision, lm.device)

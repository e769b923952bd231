"""Training one subject's LoRA adapter with TRL: DPO (``DPOTrainer``) or RL (``GRPOTrainer``).

:mod:`palign_nb.preference` builds what the trainers learn from (pairs, prompts, the paper's reward
and the settings); this module runs the trainers on a copy of the model, quietly, and merges the
trained adapter into that copy for scoring (:func:`merged`).

Introduced in :doc:`/notebooks/07_preference_baselines`.
"""

from __future__ import annotations

import contextlib
import copy
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator
from typing import Any

import pandas as pd
import torch

from .errors import PalignError
from .inventories import Inventory
from .models import LoadedModel
from .preference import TrainResult, TrainSettings, paper_reward


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
            warnings.filterwarnings(
                "ignore", module=r"(trl|transformers|peft|accelerate|datasets|torch)\b"
            )
            yield
    finally:
        transformers.logging.set_verbosity(verbosity)
        datasets.enable_progress_bars()


def _args(lm: LoadedModel, s: TrainSettings, output_dir: str) -> dict[str, Any]:
    dtype = lm.dtype
    return dict(
        output_dir=output_dir,
        max_steps=s.steps,
        per_device_train_batch_size=s.batch_size,
        learning_rate=s.learning_rate,
        warmup_steps=s.warmup_steps,
        weight_decay=s.weight_decay,
        lr_scheduler_type="linear",
        logging_steps=1,
        save_strategy="no",
        report_to="none",
        disable_tqdm=True,
        seed=s.seed,
        data_seed=s.seed,
        use_cpu=lm.device.type == "cpu",
        bf16=dtype == torch.bfloat16,
        fp16=dtype == torch.float16,
        gradient_checkpointing=False,
    )


def _lora(s: TrainSettings):
    from peft import LoraConfig

    return LoraConfig(
        r=s.lora_r, lora_alpha=s.lora_alpha, lora_dropout=0.0, task_type="CAUSAL_LM"
    )


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
        trainer.remove_callback(
            PrinterCallback
        )  # the log goes to `history`, not to the notebook
        trainer.train()
        seconds = time.perf_counter() - start
    history = pd.DataFrame([row for row in trainer.state.log_history if "loss" in row])
    trainer.model.eval()
    return TrainResult(trainer.model, history, seconds, examples)


def train_dpo(
    lm: LoadedModel, pairs: pd.DataFrame, settings: TrainSettings
) -> TrainResult:
    """Train a LoRA adapter with TRL's ``DPOTrainer`` on ``pairs`` (:func:`palign_nb.preference.preference_pairs`).

    The base model ``lm`` is left untouched: the adapter is added to a copy.
    """
    from datasets import Dataset
    from trl import DPOConfig, DPOTrainer

    if settings.method != "dpo" or pairs.empty:
        raise PalignError(
            "train_dpo needs TrainSettings(method='dpo', ...) and at least one preference pair."
        )
    data = Dataset.from_pandas(
        pairs[["prompt", "chosen", "rejected"]], preserve_index=False
    )
    return _train(
        lambda out: DPOTrainer(
            model=copy.deepcopy(lm.model),
            args=DPOConfig(
                **_args(lm, settings, out), beta=settings.beta, max_length=None
            ),
            train_dataset=data,
            processing_class=lm.tokenizer,
            peft_config=_lora(settings),
        ),
        settings.steps * settings.batch_size,
    )


def train_grpo(
    lm: LoadedModel,
    prompts: pd.DataFrame,
    settings: TrainSettings,
    inventory: Inventory,
    reward: Callable[..., list[float]] | None = None,
) -> TrainResult:
    """Train a LoRA adapter with TRL's ``GRPOTrainer`` on ``prompts`` (:func:`palign_nb.preference.reward_prompts`).

    ``reward`` defaults to the paper's (:func:`palign_nb.preference.paper_reward`). Each step samples
    ``num_generations`` answers for ``batch_size / num_generations`` prompts.
    """
    from datasets import Dataset
    from trl import GRPOConfig, GRPOTrainer

    if settings.method != "grpo" or prompts.empty:
        raise PalignError(
            "train_grpo needs TrainSettings(method='grpo', ...) and at least one prompt."
        )
    data = Dataset.from_pandas(prompts[["prompt", "target"]], preserve_index=False)
    config = dict(
        num_generations=settings.num_generations,
        max_completion_length=settings.max_completion_length,
        num_iterations=settings.num_iterations,
        beta=settings.beta,
        temperature=settings.temperature,
        epsilon=0.2,
        log_completions=False,
    )
    return _train(
        lambda out: GRPOTrainer(
            model=copy.deepcopy(lm.model),
            reward_funcs=reward or paper_reward(inventory),
            args=GRPOConfig(**_args(lm, settings, out), **config),
            train_dataset=data,
            processing_class=lm.tokenizer,
            peft_config=_lora(settings),
        ),
        settings.steps * settings.batch_size,
    )


def merged(lm: LoadedModel, peft_model: Any, tag: str) -> LoadedModel:
    """The adapter merged into its copy of the model, as a plain model the scorer can run.

    Merging changes the copy's weights in place: save the adapter first (:func:`palign_nb.adapters.save_adapter`).
    """
    model = peft_model.merge_and_unload().eval()
    return LoadedModel(
        model, lm.tokenizer, f"{lm.model_id}+{tag}", lm.revision, lm.device
    )

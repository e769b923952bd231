"""Prompting baselines: few-shot (ICL) and P2 persona system prompts, and the predictions table.

Both methods change nothing in the model: they only change its *system prompt*.

* **Few-shot / ICL** lists the subject's known answers (the paper's 120 items) in the system
  prompt (:func:`palign_nb.prompts.known_answers_system`), under a keying convention: ``papi``
  shows the stored value, ``literal`` shows what the person actually answered.
* **P2** (personality prompting, Jiang et al. 2023) replaces the list by a prose description of the person, written
  by a chat model from the same list through the paper's rewrite prompt (:ref:`paper-prompts`).
  The paper ships Llama-3-70B-Instruct's descriptions for the 300 PAPI test subjects;
  :func:`generate_p2_persona` writes one with any chat model, for everyone else.

Every method writes its answers in the store's long format (:func:`palign_nb.metrics.subject_predictions`).

Introduced in :doc:`/notebooks/06_prompting_baselines`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from .data import load_p2_personas
from .errors import PalignError
from .inventories import Inventory, shown_values
from .models import LoadedModel
from .prompts import chat_messages, known_answers_system, question
from .scoring import score_options

#: The paper's P2 rewrite request (``data_preprocess/get_personality_prompt.py``), before the pairs.
P2_HEAD = (
    'Please use "You" to organize and rewrite the following fragment into a smooth object description, '
    'without including any "{high}" and "{low}" elements, but rather a natural description:\n'
)
#: ... and after them.
P2_TAIL = "\n\nHere is a rewritten version of the text, organized into a smooth object description:"
#: The system prompt of the P2 rewrite.
P2_SYSTEM = "You are a helpful assistant."
#: The scale words the rewrite must avoid, per inventory.
P2_SCALE_WORDS = {"ipip": ("accurate", "inaccurate"), "sd3": ("agree", "disagree")}


def known_answers(
    answers: pd.DataFrame, subject, items: list[str], inventory: Inventory, keying: str
) -> tuple[list[str], np.ndarray]:
    """The statements of ``items`` and the subject's answers as a prompt shows them, under ``keying``.

    Returns ``(texts, values)`` with ``values`` (n_items,) in 0..5 (0 = missing, shown as
    "Unknown"). ``papi`` shows the stored values; ``literal`` shows 6 - v on minus-keyed IPIP
    items (:func:`palign_nb.inventories.literal_answers`). Raises if the subject has no usable
    (non-missing) answer among ``items``.
    """
    if subject not in answers.index:
        raise PalignError(
            f"Unknown subject {subject!r}: pick one of the splits' subjects (e.g. {list(answers.index[:3])})."
        )
    values = shown_values(answers.loc[subject], items, inventory, keying).astype(int)
    if not (values > 0).any():
        raise PalignError(
            f"Subject {subject!r} has no usable known answer: all {len(items)} known items are missing (0). "
            "Choose another subject (`subjects=[...]`) or a split with answered known items."
        )
    return inventory.items.loc[items, "text"].tolist(), values


def icl_system(
    answers: pd.DataFrame, subject, items: list[str], inventory: Inventory, keying: str
) -> str:
    """The paper's few-shot system prompt for one subject (:ref:`paper-prompts`), under ``keying``."""
    texts, values = known_answers(answers, subject, items, inventory, keying)
    return known_answers_system(texts, values.tolist(), inventory)


def p2_request(texts: list[str], values: list[int], inventory: Inventory) -> str:
    """The paper's P2 rewrite request: instruction, ``text:label`` pairs joined by ``;``, closing line.

    For IPIP this reproduces the shipped ``input`` of ``personality_prompt.json`` exactly (plus the
    closing line); for SD3 the words to avoid are "agree" and "disagree".
    """
    high, low = P2_SCALE_WORDS[inventory.name]
    pairs = ";".join(f"{t}:{inventory.labels[int(v)]}" for t, v in zip(texts, values))
    return P2_HEAD.format(high=high, low=low) + pairs + P2_TAIL


#: The model that wrote the paper's shipped P2 descriptions (:func:`shipped_p2`).
SHIPPED_P2_MODEL = "Llama-3-70B-Instruct"


def shipped_p2(subject) -> str:
    """The paper's P2 description of a PAPI test subject (written by Llama-3-70B-Instruct)."""
    personas = load_p2_personas()
    if subject not in personas.index:
        raise PalignError(
            f"No shipped P2 description for subject {subject!r}: the paper ships them for the 300 PAPI test subjects "
            "only. Write one with palign_nb.prompt_baselines.generate_p2_persona(lm, texts, values, inventory)."
        )
    return str(personas.loc[subject])


@torch.inference_mode()
def generate_p2_persona(
    lm: LoadedModel,
    texts: list[str],
    values: list[int],
    inventory: Inventory,
    max_new_tokens: int = 1024,
    temperature: float = 0.6,
    seed: int = 0,
) -> str:
    """Write a P2 persona description with any chat model through the paper's rewrite prompt.

    The paper: Llama-3-70B-Instruct, temperature 0.6, up to 1024 new tokens. ``temperature=0``
    decodes greedily. Returns the generated text, stripped.
    """
    if max_new_tokens < 1:
        raise PalignError(f"max_new_tokens must be at least 1, got {max_new_tokens}.")
    tok = lm.tokenizer
    messages = chat_messages(P2_SYSTEM, p2_request(texts, values, inventory))
    text = tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    ids = tok(text, add_special_tokens=False, return_tensors="pt")["input_ids"].to(
        lm.device
    )
    torch.manual_seed(seed)
    sampling = (
        {"do_sample": True, "temperature": temperature, "top_p": 1.0, "top_k": 0}
        if temperature > 0
        else {"do_sample": False}
    )
    out = lm.model.generate(
        input_ids=ids,
        attention_mask=torch.ones_like(ids),
        max_new_tokens=max_new_tokens,
        pad_token_id=tok.pad_token_id,
        **sampling,
    )
    return tok.decode(out[0, ids.shape[1] :], skip_special_tokens=True).strip()


def score_items(
    lm: LoadedModel,
    system: str,
    items: list[str],
    inventory: Inventory,
    batch_size: int = 16,
) -> pd.DataFrame:
    """Option scoring of the paper's question for each item under one system prompt (index: items)."""
    users = [question(inventory.items.loc[c, "text"], inventory) for c in items]
    return score_options(lm, system, users, index=list(items), batch_size=batch_size)

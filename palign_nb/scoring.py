"""Asking the model: option log-likelihoods (fast, default) and the paper's generate-and-regex mode.

**Option scoring.** Every prompt of a subject shares the same long system turn (for the paper's
few-shot / PAS prompt, ~1,400 tokens listing 120 answers). We encode that shared prefix once, keep
its keys and values, and then run only the short item suffixes, in batches, each suffix attending
to the one cached prefix (:mod:`palign_nb.shared_prefix`, exact for every decoder it accepts).
Logits are computed only at the answer position of each prompt: over all positions, the
language-model head (49k x 576 for SmolLM2) would cost about a quarter as much as the 30 layers.

**Generation.** The paper's recipe: greedy decoding of 15 new tokens from the full prompt
(batched, left-padded), then the regex ``[abcdeABCDE][^a-zA-Z]`` on the first 12 characters; an
answer that does not parse is dropped from the metric.

Introduced in :doc:`/notebooks/03_asking_the_model`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import numpy as np
import pandas as pd
import torch

from .errors import PalignError
from .inventories import LETTER_TO_VALUE, OPTION_LETTERS
from .models import LoadedModel
from .prompts import ANSWER_PREFILL, render_chat, split_shared_prefix
from .shared_prefix import decoder_of, shared_prefix


def option_token_ids(tokenizer, prefill: str = ANSWER_PREFILL) -> list[int]:
    """The token that follows the prefill for each option letter (``" A"`` .. ``" E"`` for most tokenizers)."""
    base = tokenizer(prefill, add_special_tokens=False)["input_ids"]
    ids = []
    for letter in OPTION_LETTERS:
        full = tokenizer(f"{prefill} {letter}", add_special_tokens=False)["input_ids"]
        if full[: len(base)] != base or len(full) != len(base) + 1:
            raise PalignError(
                f"The tokenizer does not encode option {letter!r} as one token after {prefill!r}; option scoring needs that."
            )
        ids.append(full[-1])
    return ids


def option_table(logprobs: np.ndarray, index: list[str]) -> pd.DataFrame:
    """Per prompt: full-vocabulary log-probs of A..E, their renormalised probabilities, and the argmax answer.

    ``logprobs``: (n_prompts, 5). ``predicted`` is the Likert value of the likeliest option (A = 5).
    """
    probs = np.exp(logprobs - logprobs.max(axis=1, keepdims=True))
    probs /= probs.sum(axis=1, keepdims=True)
    table = pd.DataFrame(probs, index=index, columns=[f"p_{x}" for x in OPTION_LETTERS])
    table["option_mass"] = np.exp(logprobs).sum(axis=1)
    table["predicted"] = [
        LETTER_TO_VALUE[OPTION_LETTERS[i]] for i in probs.argmax(axis=1)
    ]
    return table


def forward_suffixes(
    lm: LoadedModel,
    system: str,
    users: list[str],
    prefill: str = ANSWER_PREFILL,
    batch_size: int = 16,
    answer_logits: bool = False,
    path: str | None = None,
    backend: str | None = None,
) -> Iterator[tuple[np.ndarray, torch.Tensor, torch.Tensor]]:
    """Run every prompt (system + user + prefill) through the model, sharing the prefix.

    The common token prefix is encoded once (:func:`palign_nb.shared_prefix.shared_prefix`, whose
    ``path`` and ``backend`` are passed on); the rest of each prompt runs in batches of
    ``batch_size``, sorted by length and right-padded. Yields per batch ``(prompt indices (B,),
    output, index of each prompt's last token (B,))``. The output is the decoder's last hidden
    states (B, L, hidden), or with ``answer_logits`` the causal LM's logits at each prompt's last
    token (B, vocab), computed by the model's own head (so a final soft-cap or logit scale is
    applied) at those positions only. Hooks on the model see the batch during the forward pass
    (chapter 04 captures head outputs so).
    """
    if not users:
        raise PalignError("No prompts to run.")
    prefix, rests = split_shared_prefix(lm.tokenizer, system, users, prefill)
    order = np.argsort([len(r) for r in rests], kind="stable")
    pad = lm.tokenizer.pad_token_id if lm.tokenizer.pad_token_id is not None else 0
    with (
        torch.inference_mode(),
        shared_prefix(lm, prefix, path=path, backend=backend) as run,
    ):
        for lo in range(0, len(order), batch_size):
            chunk = order[lo : lo + batch_size]
            lengths = torch.tensor([len(rests[i]) for i in chunk])
            ids = torch.full((len(chunk), int(lengths.max())), pad, dtype=torch.long)
            for row, i in enumerate(chunk):
                ids[row, : lengths[row]] = torch.tensor(rests[i])
            last = (lengths - 1).to(lm.device)
            if answer_logits:
                keep = torch.unique(last)  # sorted; few distinct lengths per batch
                logits = run(
                    lm.model, ids.to(lm.device), logits_to_keep=keep
                ).logits  # (B, len(keep), vocab)
                rows = torch.arange(len(chunk), device=lm.device)
                yield chunk, logits[rows, torch.searchsorted(keep, last)], last
            else:
                yield (
                    chunk,
                    run(decoder_of(lm.model), ids.to(lm.device)).last_hidden_state,
                    last,
                )


def score_options(
    lm: LoadedModel,
    system: str,
    users: list[str],
    index: list[str] | None = None,
    batch_size: int = 16,
    path: str | None = None,
    backend: str | None = None,
) -> pd.DataFrame:
    """Option log-likelihood scoring of ``users`` (one user message each) under one system prompt.

    Runs :func:`forward_suffixes` with the model's head applied only at each prompt's answer
    position. Returns :func:`option_table`.
    """
    index = index if index is not None else [str(i) for i in range(len(users))]
    option_ids = torch.tensor(option_token_ids(lm.tokenizer), device=lm.device)
    result = np.zeros((len(users), len(OPTION_LETTERS)))
    for chunk, logits, _ in forward_suffixes(
        lm,
        system,
        users,
        batch_size=batch_size,
        answer_logits=True,
        path=path,
        backend=backend,
    ):
        result[chunk] = (
            torch.log_softmax(logits.float(), dim=-1)[:, option_ids].cpu().numpy()
        )
    return option_table(result, index)


@torch.inference_mode()
def score_options_plain(
    lm: LoadedModel, system: str, users: list[str], index: list[str] | None = None
) -> pd.DataFrame:
    """Reference implementation: one full forward pass per prompt, no cache, no tricks (for tests)."""
    option_ids = option_token_ids(lm.tokenizer)
    rows = []
    for user in users:
        ids = lm.tokenizer(
            render_chat(lm.tokenizer, system, user),
            add_special_tokens=False,
            return_tensors="pt",
        )["input_ids"]
        logits = lm.model(input_ids=ids.to(lm.device)).logits[0, -1].float()
        rows.append(torch.log_softmax(logits, -1)[option_ids].cpu().numpy())
    return option_table(
        np.array(rows),
        index if index is not None else [str(i) for i in range(len(users))],
    )


ANSWER_PATTERN = re.compile(r"[abcdeABCDE][^a-zA-Z]")


def parse_answer(text: str) -> int | None:
    """The paper's parser: the first option letter followed by a non-letter within 12 characters."""
    match = ANSWER_PATTERN.search(text[:12])
    return LETTER_TO_VALUE[match.group(0)[0].upper()] if match else None


@torch.inference_mode()
def generate_batched(
    lm: LoadedModel, texts: list[str], max_new_tokens: int, batch_size: int
) -> list[str]:
    """Greedy continuations of rendered prompts, left-padded in batches: the decoded new text of each.

    The one generation loop of the package (the paper's answer recipe here, the open-ended answers and
    the local judge in :mod:`palign_nb.judging`).
    """
    tok = lm.tokenizer
    old_side = tok.padding_side
    tok.padding_side = "left"
    outputs: list[str] = []
    try:
        for lo in range(0, len(texts), batch_size):
            enc = tok(
                texts[lo : lo + batch_size],
                return_tensors="pt",
                padding=True,
                add_special_tokens=False,
            ).to(lm.device)
            gen = lm.model.generate(
                **enc,
                max_new_tokens=max_new_tokens,
                do_sample=False,
                pad_token_id=tok.pad_token_id,
            )
            outputs += tok.batch_decode(
                gen[:, enc["input_ids"].shape[1] :], skip_special_tokens=True
            )
    finally:
        tok.padding_side = old_side
    return outputs


def generate_answers(
    lm: LoadedModel,
    system: str,
    users: list[str],
    index: list[str] | None = None,
    batch_size: int = 10,
    max_new_tokens: int = 15,
) -> pd.DataFrame:
    """The paper's recipe: greedy generation from the full prompt, then :func:`parse_answer`.

    Returns per prompt the generated ``text`` and ``predicted`` (NaN when it does not parse).
    """
    outputs = generate_batched(
        lm,
        [render_chat(lm.tokenizer, system, u) for u in users],
        max_new_tokens,
        batch_size,
    )
    parsed = [parse_answer(t) for t in outputs]
    return pd.DataFrame(
        {
            "text": outputs,
            "predicted": [np.nan if p is None else float(p) for p in parsed],
        },
        index=index if index is not None else [str(i) for i in range(len(users))],
    )

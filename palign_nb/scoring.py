"""Asking the model: option log-likelihoods (fast, default) and the paper's generate-and-regex mode.

**Option scoring.** Every prompt of a subject shares the same long system turn (for the paper's
few-shot / PAS prompt, ~1,400 tokens listing 120 answers). We encode that shared prefix once, keep
its keys and values, and then run only the short item suffixes, in batches. A custom attention
function lets every suffix token attend to the *one* cached prefix (no per-batch copy of it) and
causally to its own suffix. Logits are computed only at the answer position of each prompt: the
language-model head (49k x 576 for SmolLM2) would otherwise cost more than the whole network.

**Generation.** The paper's recipe: greedy decoding of 15 new tokens from the full prompt
(batched, left-padded), then the regex ``[abcdeABCDE][^a-zA-Z]`` on the first 12 characters; an
answer that does not parse is dropped from the metric.

Introduced in :doc:`/notebooks/03_asking_the_model`.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator

import numpy as np
import pandas as pd
import torch

from .errors import PalignError
from .inventories import LETTER_TO_VALUE, OPTION_LETTERS
from .models import LoadedModel
from .prompts import ANSWER_PREFILL, render_chat, split_shared_prefix

ATTENTION_NAME = "palign_shared_prefix"
_PREFIX_KV: list[tuple[torch.Tensor, torch.Tensor]] = []  # per layer: (keys, values), each (1, n_kv, P, d)


def _attend(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, scale: float, causal: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """Softmax attention returning (output, log-sum-exp of the scores); heads of q and k must match.

    q: (B, H, Lq, d), k and v: (B, H, Lk, d). On a CPU this is PyTorch's fused flash-attention kernel.
    """
    if q.device.type == "cpu" and q.dtype in (torch.float32, torch.bfloat16):
        out, lse = torch.ops.aten._scaled_dot_product_flash_attention_for_cpu(q, k, v, is_causal=causal, scale=scale)
        return out, lse.to(out.dtype)
    scores = torch.matmul(q, k.transpose(-1, -2)) * scale
    if causal:
        lq, lk = scores.shape[-2:]
        scores = scores.masked_fill(torch.ones(lq, lk, dtype=torch.bool, device=q.device).triu(1), float("-inf"))
    lse = torch.logsumexp(scores.float(), dim=-1)
    return torch.matmul(torch.softmax(scores.float(), dim=-1).to(v.dtype), v), lse.to(v.dtype)


def shared_prefix_attention(module, query, key, value, attention_mask, scaling=None, dropout=0.0, **kwargs):
    """Attention of suffix tokens over the one shared cached prefix plus their own causal suffix.

    query: (B, H, L, d); key, value: (B, H_kv, L, d) for the suffix tokens only. The prefix keys
    and values (1, H_kv, P, d) come from :func:`shared_prefix`. The two parts are attended
    separately and merged exactly through their log-sum-exps. For the prefix part the batch is
    folded into the query rows, (1, H_kv, B*g*L, d), so the prefix is never copied per batch.
    Query head h reads key/value head h // g with g = H / H_kv (grouped-query attention).
    Returns ((B, L, H, d), None) like transformers' own attention functions.
    """
    prefix_k, prefix_v = _PREFIX_KV[module.layer_idx]
    b, h, length, d = query.shape
    h_kv = key.shape[1]
    g = h // h_kv
    scale = scaling if scaling is not None else d**-0.5
    rows = query.reshape(b, h_kv, g * length, d).permute(1, 0, 2, 3).reshape(1, h_kv, b * g * length, d)
    out_pre, lse_pre = _attend(rows, prefix_k, prefix_v, scale, causal=False)
    out_pre = out_pre.reshape(h_kv, b, g * length, d).permute(1, 0, 2, 3).reshape(b, h, length, d)
    lse_pre = lse_pre.reshape(h_kv, b, g * length).permute(1, 0, 2).reshape(b, h, length)
    key, value = key.repeat_interleave(g, dim=1), value.repeat_interleave(g, dim=1)
    out_self, lse_self = _attend(query, key, value, scale, causal=True)
    lse = torch.logaddexp(lse_pre, lse_self)
    out = out_pre * torch.exp(lse_pre - lse)[..., None] + out_self * torch.exp(lse_self - lse)[..., None]
    return out.transpose(1, 2).contiguous(), None


def _register() -> None:
    from transformers import AttentionInterface

    AttentionInterface.register(ATTENTION_NAME, shared_prefix_attention)


@contextlib.contextmanager
def shared_prefix(lm: LoadedModel, prefix_ids: list[int]) -> Iterator[int]:
    """Encode ``prefix_ids`` once; inside the block the model attends every input to that prefix.

    Yields the prefix length P (suffix positions start there). Restores the attention
    implementation on exit.
    """
    global _PREFIX_KV
    model = lm.model
    ids = torch.tensor([prefix_ids], device=lm.device)
    out = model.model(input_ids=ids, use_cache=True)
    cache = getattr(out, "cache", None) or out.past_key_values
    _PREFIX_KV = [(layer.keys, layer.values) for layer in cache.layers]
    _register()
    previous = model.config._attn_implementation
    model.set_attn_implementation(ATTENTION_NAME)
    try:
        yield len(prefix_ids)
    finally:
        model.set_attn_implementation(previous)
        _PREFIX_KV = []


def option_token_ids(tokenizer, prefill: str = ANSWER_PREFILL) -> list[int]:
    """The token that follows the prefill for each option letter (``" A"`` .. ``" E"`` for most tokenizers)."""
    base = tokenizer(prefill, add_special_tokens=False)["input_ids"]
    ids = []
    for letter in OPTION_LETTERS:
        full = tokenizer(f"{prefill} {letter}", add_special_tokens=False)["input_ids"]
        if full[: len(base)] != base or len(full) != len(base) + 1:
            raise PalignError(f"The tokenizer does not encode option {letter!r} as one token after {prefill!r}; option scoring needs that.")
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
    table["predicted"] = [LETTER_TO_VALUE[OPTION_LETTERS[i]] for i in probs.argmax(axis=1)]
    return table


def forward_suffixes(
    lm: LoadedModel, system: str, users: list[str], prefill: str = ANSWER_PREFILL, batch_size: int = 16
) -> Iterator[tuple[np.ndarray, torch.Tensor, torch.Tensor]]:
    """Run every prompt (system + user + prefill) through the model's decoder, sharing the prefix.

    The common token prefix is encoded once (:func:`shared_prefix`); the rest of each prompt runs in
    batches of ``batch_size``, sorted by length and right-padded. Yields per batch
    ``(prompt indices (B,), last hidden states (B, L, hidden), index of each prompt's last token (B,))``.
    Hooks on the model see the batch during the forward pass (chapter 04 captures head outputs so).
    """
    if not users:
        raise PalignError("No prompts to run.")
    prefix, rests = split_shared_prefix(lm.tokenizer, system, users, prefill)
    order = np.argsort([len(r) for r in rests], kind="stable")
    pad = lm.tokenizer.pad_token_id
    with torch.inference_mode(), shared_prefix(lm, prefix) as start:
        for lo in range(0, len(order), batch_size):
            chunk = order[lo : lo + batch_size]
            lengths = torch.tensor([len(rests[i]) for i in chunk])
            ids = torch.full((len(chunk), int(lengths.max())), pad, dtype=torch.long)
            for row, i in enumerate(chunk):
                ids[row, : lengths[row]] = torch.tensor(rests[i])
            positions = (start + torch.arange(ids.shape[1])).expand_as(ids)
            out = lm.model.model(input_ids=ids.to(lm.device), position_ids=positions.to(lm.device), use_cache=False)
            yield chunk, out.last_hidden_state, (lengths - 1).to(lm.device)


def score_options(
    lm: LoadedModel, system: str, users: list[str], index: list[str] | None = None, batch_size: int = 16
) -> pd.DataFrame:
    """Option log-likelihood scoring of ``users`` (one user message each) under one system prompt.

    Runs :func:`forward_suffixes` and applies the language-model head only at each prompt's answer
    position. Returns :func:`option_table`.
    """
    index = index if index is not None else [str(i) for i in range(len(users))]
    option_ids = torch.tensor(option_token_ids(lm.tokenizer), device=lm.device)
    head = lm.model.get_output_embeddings().weight
    result = np.zeros((len(users), len(OPTION_LETTERS)))
    for chunk, hidden, last in forward_suffixes(lm, system, users, batch_size=batch_size):
        answer = hidden[torch.arange(len(chunk), device=hidden.device), last]  # (B, hidden)
        logits = (answer @ head.T).float()  # full vocabulary, but only at the answer position
        result[chunk] = torch.log_softmax(logits, dim=-1)[:, option_ids].cpu().numpy()
    return option_table(result, index)


@torch.inference_mode()
def score_options_plain(lm: LoadedModel, system: str, users: list[str], index: list[str] | None = None) -> pd.DataFrame:
    """Reference implementation: one full forward pass per prompt, no cache, no tricks (for tests)."""
    option_ids = option_token_ids(lm.tokenizer)
    rows = []
    for user in users:
        ids = lm.tokenizer(render_chat(lm.tokenizer, system, user), add_special_tokens=False, return_tensors="pt")["input_ids"]
        logits = lm.model(input_ids=ids.to(lm.device)).logits[0, -1].float()
        rows.append(torch.log_softmax(logits, -1)[option_ids].cpu().numpy())
    return option_table(np.array(rows), index if index is not None else [str(i) for i in range(len(users))])


ANSWER_PATTERN = re.compile(r"[abcdeABCDE][^a-zA-Z]")


def parse_answer(text: str) -> int | None:
    """The paper's parser: the first option letter followed by a non-letter within 12 characters."""
    match = ANSWER_PATTERN.search(text[:12])
    return LETTER_TO_VALUE[match.group(0)[0].upper()] if match else None


@torch.inference_mode()
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
    tok = lm.tokenizer
    texts = [render_chat(tok, system, u) for u in users]
    old_side = tok.padding_side
    tok.padding_side = "left"
    outputs: list[str] = []
    try:
        for lo in range(0, len(texts), batch_size):
            enc = tok(texts[lo : lo + batch_size], return_tensors="pt", padding=True, add_special_tokens=False).to(lm.device)
            gen = lm.model.generate(**enc, max_new_tokens=max_new_tokens, do_sample=False, pad_token_id=tok.pad_token_id)
            outputs += tok.batch_decode(gen[:, enc["input_ids"].shape[1] :], skip_special_tokens=True)
    finally:
        tok.padding_side = old_side
    parsed = [parse_answer(t) for t in outputs]
    return pd.DataFrame(
        {"text": outputs, "predicted": [np.nan if p is None else float(p) for p in parsed]},
        index=index if index is not None else [str(i) for i in range(len(users))],
    )

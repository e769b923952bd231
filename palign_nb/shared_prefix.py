"""Many prompts over one cached prefix, computed exactly as the model's own attention would.

Every prompt of a subject shares a long system turn (~1,400 tokens for the 120-answer prompt). We
encode that prefix once and keep each layer's keys and values (after the model's own q/k norms and
rotary embedding, whatever they are). Each batch of item suffixes then runs on one of two paths:

``shared`` (the default, fast)
    A custom attention function (registered with transformers' ``AttentionInterface``) lets every
    suffix token attend to the *one* cached prefix, never copied per batch, and causally to its own
    suffix. The two parts are attended separately and merged exactly through their log-sum-exps.
    It reproduces what the model's attention does beyond plain causal softmax: grouped-query
    heads, the layer's ``scaling`` (e.g. Gemma's ``query_pre_attn_scalar``), per-layer sliding
    windows (Mistral / Qwen2 style, or alternating as in Gemma 2/3 and gpt-oss), logit soft-capping
    (Gemma 2) and attention sinks (gpt-oss). Q/k norms, biases and rotary variants act before the
    attention function, so they are the model's own. What it cannot reproduce is refused *before*
    any number comes out (:func:`unsupported_features`, and a check that every layer went through
    this function and passed no argument it does not know).
``model`` (slower, for anything the shared path refuses)
    The model's own attention over a per-batch copy of the prefix cache. Exact by construction for
    every decoder that supports a KV cache; costs one copy of the prefix per batch. Chosen with
    ``path="model"`` or the environment variable ``PALIGN_PREFIX_PATH=model``.

The attention function of the shared path and its kernels are in :mod:`palign_nb.prefix_attention`.

Introduced in :doc:`/notebooks/03_asking_the_model`.
"""

from __future__ import annotations

import contextlib
import functools
import os
from collections.abc import Callable, Iterator
from typing import Any

import torch

from .errors import PalignError
from .prefix_attention import (
    FALLBACK,
    PATH_ENV,
    PrefixState,
    requested_backend,
    resolve_backend,
    shared_prefix_attention,
)

PATHS = ("shared", "model")


def resolve_path(path: str | None) -> str:
    """``path`` or ``$PALIGN_PREFIX_PATH`` or ``shared``."""
    chosen = path or os.environ.get(PATH_ENV) or "shared"
    if chosen not in PATHS:
        raise PalignError(
            f"Unknown prefix path {chosen!r} (argument or ${PATH_ENV}): use one of {', '.join(PATHS)}."
        )
    return chosen


def decoder_of(model: torch.nn.Module) -> torch.nn.Module:
    """The decoder stack of a causal LM (the module holding ``layers``)."""
    for candidate in (model.get_decoder(), getattr(model, "model", None)):
        if candidate is not None and hasattr(candidate, "layers"):
            return candidate
    raise PalignError(
        f"Cannot find the decoder layers of {type(model).__name__} (no `.model.layers`)."
    )


def unsupported_features(model: torch.nn.Module) -> list[str]:
    """Attention features of ``model`` that the shared path cannot reproduce (empty: supported)."""
    cfg = (
        model.config.get_text_config()
        if hasattr(model.config, "get_text_config")
        else model.config
    )
    found = []
    if getattr(cfg, "attention_chunk_size", None):
        found.append(
            f"chunked attention (attention_chunk_size={cfg.attention_chunk_size}, as in Llama 4)"
        )
    if getattr(cfg, "use_bidirectional_attention", False):
        found.append("bidirectional attention (use_bidirectional_attention=True)")
    if getattr(cfg, "num_kv_shared_layers", 0):
        found.append(
            f"key/value states shared across layers (num_kv_shared_layers={cfg.num_kv_shared_layers})"
        )
    if getattr(cfg, "kv_lora_rank", None):
        found.append("multi-head latent attention (kv_lora_rank, as in DeepSeek V2/V3)")
    layers = decoder_of(model).layers
    if not all(
        hasattr(getattr(layer, "self_attn", None), "layer_idx") for layer in layers
    ):
        found.append("decoder layers without `self_attn.layer_idx`")
    return found


def check_supported(model: torch.nn.Module) -> None:
    """Refuse, with one message naming the features and the fallback, a model the shared path would get wrong."""
    found = unsupported_features(model)
    if found:
        raise PalignError(
            f"The shared-prefix attention does not reproduce {type(model).__name__}'s "
            f"{'; '.join(found)}. {FALLBACK}"
        )


# --- attention kernels: each returns (output (.., Lq, d) in q's dtype, log-sum-exp (.., Lq) in float32) ---


def _register(state: PrefixState) -> None:
    from transformers import AttentionInterface

    AttentionInterface.register(
        state.attention_name, functools.partial(shared_prefix_attention, state)
    )


def _unregister(state: PrefixState) -> None:
    from transformers import AttentionInterface

    AttentionInterface._global_mapping.pop(
        state.attention_name, None
    )  # register() has no public inverse


def encode_prefix(
    decoder: torch.nn.Module, prefix_ids: list[int], device
) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Each layer's full keys and values for the prefix, from the model's own forward pass.

    A cache built without a config keeps every position of every layer (a sliding-window cache
    would keep only the last window).
    """
    from transformers import DynamicCache

    cache = DynamicCache()
    decoder(
        input_ids=torch.tensor([prefix_ids], device=device), use_cache=True, cache=cache
    )
    kv = [(layer.keys, layer.values) for layer in cache.layers]
    short = [
        i
        for i in range(len(decoder.layers))
        if i >= len(kv) or kv[i][0] is None or kv[i][0].shape[2] != len(prefix_ids)
    ]
    if short:
        raise PalignError(
            f"Layers {short} of {type(decoder).__name__} did not keep the prefix's keys and values in the "
            f"cache, so the shared prefix would be ignored there. {FALLBACK}"
        )
    return kv


@contextlib.contextmanager
def shared_prefix(
    lm, prefix_ids: list[int], path: str | None = None, backend: str | None = None
) -> Iterator[Callable[..., Any]]:
    """Encode ``prefix_ids`` once; yields ``run(module, ids, **kwargs)`` for batches of suffixes.

    ``run`` calls ``module`` (the causal LM, for logits, or its decoder, for hidden states and
    hooks) on suffix token ids (B, L) placed at positions P..P+L-1 after the prefix, on the chosen
    path. Hooks active during the block (steering) act on the prefix encoding too. The model's
    attention implementation is restored on exit, also on error.
    """
    model = lm.model
    path = resolve_path(path)
    if path == "shared":
        check_supported(model)
    kv = encode_prefix(decoder_of(model), prefix_ids, lm.device)
    start = len(prefix_ids)
    n_layers = len(kv)  # every decoder layer (encode_prefix checks)

    def run(module: torch.nn.Module, ids: torch.Tensor, **kwargs: Any) -> Any:
        positions = (start + torch.arange(ids.shape[1], device=ids.device)).expand_as(
            ids
        )
        if path == "model":
            from transformers import DynamicCache

            copies = [
                (k.expand(ids.shape[0], -1, -1, -1), v.expand(ids.shape[0], -1, -1, -1))
                for k, v in kv
            ]
            return module(
                input_ids=ids,
                position_ids=positions,
                cache=DynamicCache(ddp_cache_data=copies),
                use_cache=True,
                **kwargs,
            )
        state.layers_seen.clear()
        out = module(input_ids=ids, position_ids=positions, use_cache=False, **kwargs)
        missed = sorted(set(range(n_layers)) - state.layers_seen)
        if missed:
            raise PalignError(
                f"Layers {missed} of {type(model).__name__} did not attend through transformers' "
                f"attention interface, so the shared prefix would be ignored there. {FALLBACK}"
            )
        return out

    previous = model.config._attn_implementation
    state = PrefixState(
        kv,
        resolve_backend(backend, lm.device) if path == "shared" else "model",
        chosen_by_device=requested_backend(backend) == "auto",
    )
    if path == "shared":
        _register(state)
        model.set_attn_implementation(state.attention_name)
    try:
        yield run
    finally:
        if path == "shared":
            model.set_attn_implementation(previous)
            _unregister(state)

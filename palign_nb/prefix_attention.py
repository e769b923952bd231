"""The attention function of the shared-prefix path, and the kernels it runs on.

:func:`shared_prefix_attention` lets every suffix token attend to the *one* cached prefix of a
:class:`PrefixState`, never copied per batch, and causally to its own suffix; the two parts are
attended separately and merged exactly through their log-sum-exps
(:func:`palign_nb.shared_prefix.shared_prefix` registers it with transformers).

Attention kernels (``backend``, or ``PALIGN_ATTENTION_BACKEND``): ``cpu_flash`` (PyTorch's fused
CPU flash kernel, which returns the log-sum-exp; an additive mask where a window binds), ``flex``
(``flex_attention`` with ``return_aux=AuxRequest(lse=True)``: compiled and fused on CUDA, in
float32, bfloat16 and float16; eager, i.e. unfused, on a CPU, where the tests check it), and
``matmul`` (the plain reference, used for soft-capped layers on a CPU). ``auto`` picks
``cpu_flash`` on a CPU and ``flex`` on CUDA.

Introduced in :doc:`/notebooks/03_asking_the_model`.
"""

from __future__ import annotations

import functools
import os
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch

from .errors import PalignError

ATTENTION_NAME = "palign_shared_prefix"
PATH_ENV = "PALIGN_PREFIX_PATH"
BACKEND_ENV = "PALIGN_ATTENTION_BACKEND"
BACKENDS = ("auto", "cpu_flash", "flex", "matmul")

#: Keyword arguments transformers' attention layers pass that do not change what attention computes.
PASSIVE_KWARGS = frozenset(
    {
        "position_ids",
        "cache_position",
        "output_attentions",
        "use_cache",
        "position_embeddings",
        "past_key_values",
        "cache",
        "past_key_value",
        "layer_idx",
        "output_hidden_states",
        "return_dict",
        "output_router_logits",
    }
)

FALLBACK = f"Use the model's own attention over a copied prefix cache instead: path='model' or {PATH_ENV}=model (slower, exact)."


@dataclass
class PrefixState:
    """What the attention function needs while a shared prefix is active: one per ``shared_prefix`` block,
    bound into the attention function registered for that block (no module-level state), so blocks can be
    nested and run in several threads, each on its own model."""

    # per layer: keys, values (1, H_kv, P, d)
    kv: list[tuple[torch.Tensor, torch.Tensor]]
    backend: str
    # "auto": a compiled flex kernel that fails falls back to matmul
    chosen_by_device: bool = False
    layers_seen: set[int] = field(default_factory=set)

    @property
    def attention_name(self) -> str:
        """The name this block's attention function is registered under with transformers."""
        return f"{ATTENTION_NAME}_{id(self):x}"


def requested_backend(backend: str | None) -> str:
    """``backend`` or ``$PALIGN_ATTENTION_BACKEND`` or ``auto``, as asked for (before the device decides)."""
    return backend or os.environ.get(BACKEND_ENV) or "auto"


def resolve_backend(backend: str | None, device: torch.device) -> str:
    """:func:`requested_backend`, with ``auto`` made ``cpu_flash`` on a CPU and ``flex`` on CUDA."""
    chosen = requested_backend(backend)
    if chosen not in BACKENDS:
        raise PalignError(
            f"Unknown attention backend {chosen!r} (argument or ${BACKEND_ENV}): use one of {', '.join(BACKENDS)}."
        )
    if chosen == "auto":
        return (
            "flex"
            if device.type == "cuda"
            else "cpu_flash"
            if device.type == "cpu"
            else "matmul"
        )
    if chosen == "cpu_flash" and device.type != "cpu":
        raise PalignError(
            f"backend 'cpu_flash' runs on a CPU only; the model is on {device}. Use 'auto', 'flex' or 'matmul'."
        )
    return chosen


def attend_matmul(
    q, k, v, scale: float, mask: torch.Tensor | None, softcap: float | None
):
    """Reference: scores materialised in float32. ``mask``: bool (Lq, Lk), True = visible."""
    scores = torch.matmul(q.float(), k.float().transpose(-1, -2)) * scale
    if softcap:
        scores = torch.tanh(scores / softcap) * softcap
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    lse = torch.logsumexp(scores, dim=-1)
    probs = torch.exp(scores - lse[..., None]).nan_to_num(
        0.0
    )  # a row with no visible key has lse = -inf
    return torch.matmul(probs, v.float()).to(q.dtype), lse


def attend_cpu_flash(q, k, v, scale: float, mask: torch.Tensor | None, causal: bool):
    """PyTorch's fused CPU flash-attention kernel (it returns the log-sum-exp)."""
    bias = None
    if mask is not None:
        bias = torch.zeros(mask.shape, dtype=q.dtype, device=q.device).masked_fill(
            ~mask, float("-inf")
        )
        causal = False  # the mask carries causality
    out, lse = torch.ops.aten._scaled_dot_product_flash_attention_for_cpu(
        q, k, v, is_causal=causal, attn_mask=bias, scale=scale
    )
    lse = lse.float()
    if (
        mask is not None
    ):  # the kernel returns lse = 0 for a row that sees no key; it must weigh nothing
        lse = lse.masked_fill(~mask.any(-1), float("-inf"))
    return out, lse


@functools.cache
def _compiled_flex() -> Callable[..., Any]:
    from torch.nn.attention.flex_attention import flex_attention

    return torch.compile(flex_attention)


def attend_flex(
    q, k, v, scale: float, mask: torch.Tensor | None, softcap: float | None
):
    """``flex_attention`` returning the log-sum-exp: compiled (fused) on CUDA, eager on a CPU."""
    from torch.nn.attention.flex_attention import (
        AuxRequest,
        create_block_mask,
        flex_attention,
    )

    block_mask = None
    if mask is not None:
        visible = mask

        def mask_mod(b, h, q_idx, kv_idx):
            return visible[q_idx, kv_idx]

        block_mask = create_block_mask(
            mask_mod, None, None, q.shape[-2], k.shape[-2], device=q.device
        )
    score_mod = None
    if softcap:
        cap = float(softcap)

        def score_mod(score, b, h, q_idx, kv_idx):
            return torch.tanh(score / cap) * cap

    run = _compiled_flex() if q.device.type == "cuda" else flex_attention
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore", message="flex_attention called without torch.compile"
        )
        out, aux = run(
            q,
            k,
            v,
            score_mod=score_mod,
            block_mask=block_mask,
            scale=scale,
            return_aux=AuxRequest(lse=True),
        )
    return out, aux.lse.float()


def attend(
    q,
    k,
    v,
    scale: float,
    mask: torch.Tensor | None,
    causal: bool,
    softcap: float | None,
    backend: str,
    state: PrefixState | None = None,
):
    """Dispatch to a kernel; ``causal`` with ``mask=None`` means a plain causal mask (Lq == Lk). A ``state``
    whose flex backend was chosen by the device falls back to matmul for good when flex fails."""
    if (
        backend == "cpu_flash"
        and not softcap
        and q.dtype in (torch.float32, torch.bfloat16)
    ):
        return attend_cpu_flash(q, k, v, scale, mask, causal)
    if causal and mask is None:
        mask = torch.ones(
            q.shape[-2], k.shape[-2], dtype=torch.bool, device=q.device
        ).tril()
    if backend == "flex":
        try:
            return attend_flex(q, k, v, scale, mask, softcap)
        except Exception as err:  # e.g. no Triton for this GPU: same numbers from the reference kernel, slower
            if state is None or not state.chosen_by_device or q.device.type != "cuda":
                raise
            warnings.warn(
                f"Compiled flex_attention failed on this GPU ({type(err).__name__}: {err}); using the "
                f"matmul kernel from here on. {BACKEND_ENV}=matmul silences this.",
                stacklevel=2,
            )
            state.backend = "matmul"
    return attend_matmul(q, k, v, scale, mask, softcap)


def window_masks(
    prefix_len: int, suffix_len: int, window: int, device
) -> tuple[int, torch.Tensor, torch.Tensor]:
    """Sliding-window visibility for suffix queries at positions P..P+L-1 (a key is visible when q - k < window).

    Returns the first prefix key any query can see, the (L, P - first) prefix mask and the (L, L)
    causal suffix mask, True = visible (transformers' ``sliding_window_overlay``).
    """
    first = max(0, prefix_len - window + 1)
    t = torch.arange(suffix_len, device=device)[:, None]
    prefix_keys = torch.arange(first, prefix_len, device=device)[None, :]
    suffix_keys = torch.arange(suffix_len, device=device)[None, :]
    return (
        first,
        prefix_keys > prefix_len + t - window,
        (suffix_keys <= t) & (suffix_keys > t - window),
    )


def shared_prefix_attention(
    state: PrefixState,
    module,
    query,
    key,
    value,
    attention_mask,
    scaling=None,
    dropout=0.0,
    sliding_window=None,
    softcap=None,
    s_aux=None,
    sinks=None,
    is_causal=None,
    **kwargs,
):
    """Attention of suffix tokens over the one shared cached prefix plus their own causal suffix.

    query: (B, H, L, d); key, value: (B, H_kv, L, d) for the suffix tokens only (positions P..P+L-1).
    The prefix keys and values (1, H_kv, P, d) come from ``state`` (bound by
    :func:`palign_nb.shared_prefix.shared_prefix`). For the prefix part the batch is folded into
    the query rows, (1, H_kv, B*g*L, d), so the prefix is never copied.
    Query head h reads key/value head h // g with g = H / H_kv. The two parts (and a sink, if the
    layer has one) are merged through their log-sum-exps. Returns ((B, L, H, d), None) like
    transformers' own attention functions.
    """
    unknown = sorted(
        name
        for name, val in kwargs.items()
        if val is not None and name not in PASSIVE_KWARGS
    )
    if unknown:
        raise PalignError(
            f"{type(module).__name__} passes attention arguments the shared-prefix attention does not "
            f"reproduce: {', '.join(unknown)}. {FALLBACK}"
        )
    if is_causal is False or getattr(module, "is_causal", True) is False:
        raise PalignError(f"{type(module).__name__} is not causal. {FALLBACK}")
    if value.shape[-1] != query.shape[-1]:
        raise PalignError(
            f"{type(module).__name__} has value heads of another size than its query heads. {FALLBACK}"
        )
    if module.training and dropout:
        raise PalignError(
            "Attention dropout is active: put the model in eval mode (model.eval()) before scoring."
        )
    state.layers_seen.add(module.layer_idx)
    prefix_k, prefix_v = state.kv[module.layer_idx]
    b, h, length, d = query.shape
    h_kv = key.shape[1]
    g = h // h_kv
    scale = scaling if scaling is not None else d**-0.5
    prefix_len = prefix_k.shape[2]

    prefix_mask = self_mask = None
    if (
        sliding_window and prefix_len + length - 1 >= sliding_window
    ):  # the window binds somewhere
        first, prefix_mask, self_mask = window_masks(
            prefix_len, length, int(sliding_window), query.device
        )
        prefix_k, prefix_v = prefix_k[:, :, first:], prefix_v[:, :, first:]
        prefix_mask = prefix_mask.repeat(
            b * g, 1
        )  # folded rows are (batch, group, position)

    rows = (
        query.reshape(b, h_kv, g * length, d)
        .permute(1, 0, 2, 3)
        .reshape(1, h_kv, b * g * length, d)
    )
    out_pre, lse_pre = attend(
        rows,
        prefix_k,
        prefix_v,
        scale,
        prefix_mask,
        False,
        softcap,
        state.backend,
        state,
    )
    out_pre = (
        out_pre.reshape(h_kv, b, g * length, d)
        .permute(1, 0, 2, 3)
        .reshape(b, h, length, d)
    )
    lse_pre = (
        lse_pre.reshape(h_kv, b, g * length).permute(1, 0, 2).reshape(b, h, length)
    )
    key, value = key.repeat_interleave(g, dim=1), value.repeat_interleave(g, dim=1)
    out_self, lse_self = attend(
        query, key, value, scale, self_mask, True, softcap, state.backend, state
    )

    lse = torch.logaddexp(lse_pre, lse_self)
    sink = s_aux if s_aux is not None else sinks
    if (
        sink is not None
    ):  # a per-head logit that joins the softmax's denominator and contributes no value
        lse = torch.logaddexp(lse, sink.float().reshape(1, h, 1).expand_as(lse))
    # A part with no visible key has lse = -inf and an all-zero output, so its weight is 0.
    out = (
        out_pre.float() * torch.exp(lse_pre - lse)[..., None]
        + out_self.float() * torch.exp(lse_self - lse)[..., None]
    )
    return out.to(query.dtype).transpose(1, 2).contiguous(), None

"""Head-wise activations at the answer token.

Each attention layer ends with an output projection ``o_proj`` whose *input* is the concatenation
of the query heads' outputs, ``(n_heads * d_head)``. A forward pre-hook on ``o_proj`` therefore
sees every head's output separately; we keep it at the last token of each prompt (the answer
letter) and reshape it to ``(n_layers, n_heads, d_head)``. This works for every Hugging Face
decoder whose layers hold ``self_attn.o_proj`` (Llama, Mistral, Qwen2, Gemma families), with
grouped-query attention too: heads are counted on the query side.

Introduced in :doc:`/notebooks/04_head_probing`.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import torch

from .errors import PalignError
from .inventories import Inventory
from .models import LoadedModel
from .prompts import DEFAULT_SYSTEM, question, render_chat
from .scoring import forward_suffixes
from .shared_prefix import decoder_of

#: The paper's contrast completions: the statement answered "Very Accurate" (A) or "Very Inaccurate" (E).
CONTRAST = ("A", "E")


def out_projections(model: torch.nn.Module) -> list[torch.nn.Module]:
    """Each decoder layer's attention output projection, in layer order."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    layers = decoder_of(base).layers
    if not all(
        hasattr(layer, "self_attn") and hasattr(layer.self_attn, "o_proj")
        for layer in layers
    ):
        raise PalignError(
            f"{type(base).__name__} has no `layers[i].self_attn.o_proj`; head capture and steering support decoders "
            "built like Llama, Mistral, Qwen2 or Gemma."
        )
    return [layer.self_attn.o_proj for layer in layers]


def head_dim(model: torch.nn.Module) -> int:
    cfg = model.config
    return int(
        getattr(cfg, "head_dim", None) or cfg.hidden_size // cfg.num_attention_heads
    )


def capture_head_outputs(
    lm: LoadedModel,
    system: str,
    users: list[str],
    completion: str,
    batch_size: int = 16,
) -> np.ndarray:
    """Per-head outputs at the last token of ``system + user + completion`` for every user message.

    Returns ``acts``: (n_prompts, n_layers, n_heads, d_head), float32.
    """
    projs = out_projections(lm.model)
    n_heads, d = lm.n_heads, head_dim(lm.model)
    acts = np.zeros((len(users), len(projs), n_heads, d), dtype=np.float32)
    seen: list[torch.Tensor] = [torch.empty(0)] * len(projs)

    def keeper(layer: int):
        def hook(module, args):
            seen[layer] = args[0]

        return hook

    handles = [
        proj.register_forward_pre_hook(keeper(i)) for i, proj in enumerate(projs)
    ]
    try:
        for chunk, _, last in forward_suffixes(
            lm, system, users, prefill=completion, batch_size=batch_size
        ):
            rows = torch.arange(len(chunk), device=last.device)
            for layer in range(len(projs)):
                acts[chunk, layer] = (
                    seen[layer][rows, last]
                    .float()
                    .reshape(len(chunk), n_heads, d)
                    .cpu()
                    .numpy()
                )
    finally:
        for handle in handles:
            handle.remove()
    return acts


@torch.inference_mode()
def capture_head_outputs_plain(
    lm: LoadedModel, system: str, users: list[str], completion: str
) -> np.ndarray:
    """Reference for :func:`capture_head_outputs`: one full forward pass per prompt, no shared prefix (for tests)."""
    projs = out_projections(lm.model)
    seen: list[torch.Tensor] = [torch.empty(0)] * len(projs)
    handles = [
        proj.register_forward_pre_hook(
            lambda module, args, i=i: seen.__setitem__(i, args[0])
        )
        for i, proj in enumerate(projs)
    ]
    rows = []
    try:
        for user in users:
            text = render_chat(lm.tokenizer, system, user, completion)
            ids = lm.tokenizer(text, add_special_tokens=False, return_tensors="pt")[
                "input_ids"
            ].to(lm.device)
            lm.model(input_ids=ids, logits_to_keep=1)
            rows.append(
                np.stack(
                    [
                        s[0, -1].float().reshape(lm.n_heads, -1).cpu().numpy()
                        for s in seen
                    ]
                )
            )
    finally:
        for handle in handles:
            handle.remove()
    return np.stack(rows)


def contrast_prompts(items: list[str], inventory: Inventory) -> list[str]:
    """The user messages of the contrast set: one question per item (answered A and E by :func:`contrast_activations`)."""
    return [question(inventory.items.loc[c, "text"], inventory) for c in items]


def contrast_activations(
    lm: LoadedModel,
    items: list[str],
    inventory: Inventory,
    system: str = DEFAULT_SYSTEM,
    batch_size: int = 16,
) -> np.ndarray:
    """The paper's activation set: each item's question answered "A" and "E", default system prompt.

    Subject-independent, so computed once per model. Returns (n_items, 2, n_layers, n_heads, d_head):
    index 0 along axis 1 is the "A" completion, 1 the "E" completion.
    """
    users = contrast_prompts(items, inventory)
    return np.stack(
        [capture_head_outputs(lm, system, users, c, batch_size) for c in CONTRAST],
        axis=1,
    )


def cache_key(
    lm: LoadedModel,
    items: list[str],
    inventory: Inventory,
    system: str = DEFAULT_SYSTEM,
) -> str:
    """What the activations depend on: model and revision, prompts, completions."""
    payload = json.dumps(
        [lm.model_id, lm.revision, inventory.name, items, system, CONTRAST]
    )
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def save_activations(path: Path, acts: np.ndarray, items: list[str], key: str) -> None:
    """Write the activation cache through a temporary file renamed into place (a killed write leaves no half file)."""
    import io

    from .checkpoints import write_atomically

    path.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    np.savez_compressed(buffer, acts=acts, items=np.array(items), key=np.array(key))
    write_atomically(path, buffer.getvalue())


def load_activations(
    path: Path, key: str | None = None
) -> tuple[np.ndarray, list[str]]:
    """Load cached activations; with ``key``, refuse a cache made for other prompts or another model."""
    if not path.exists():
        raise PalignError(
            f"No cached activations at {path}. Run notebooks/04_head_probing.ipynb with the same parameters first."
        )
    with np.load(path) as f:
        if key is not None and str(f["key"]) != key:
            raise PalignError(
                f"{path} was computed for other prompts or another model. Rerun notebooks/04_head_probing.ipynb."
            )
        return f["acts"], [str(x) for x in f["items"]]

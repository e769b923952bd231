"""GPU readiness check: scoring, head capture and steering on a random model of Llama-3-8B-Instruct's shape.

Run this first on a new GPU machine (``make gpu-check``); it needs no download and takes a few
minutes. It builds a random-weight model with the exact Llama-3-8B-Instruct configuration (32
layers, 32 query / 8 key-value heads, hidden 4,096, MLP 14,336, vocabulary 128,256, RoPE theta 500,000) in
bfloat16 on the device, with the embedded model's tokenizer, and checks on one real PAPI subject:

* the shared-prefix scorer on every attention backend and on the model's own attention over a
  copied cache, against a plain forward pass of each full prompt (10 items, max |dp|);
* head capture: shapes, bytes, and agreement with a hooked plain forward;
* steering: the steered scores move, and the logits are bit-identical once the hooks are removed;
* one 180-item pass with the 120-answer prompt (seconds) against the paper's recipe, greedy
  generation of 15 tokens from the full prompt, on 20 items (seconds per item);
* peak GPU memory.

It prints one table and exits non-zero on any mismatch. ``--small`` runs the same checks on a tiny
configuration on the CPU in float32 (``make test`` does that, so the script cannot rot), and also
builds the 8B configuration on the meta device to check its parameter count.

Run: ``.venv/bin/python benchmarks/gpu_check.py`` (``make gpu-check``); ``--small`` on a CPU.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass

import numpy as np
import torch
import transformers as tf

from palign_nb import activations, data, pas, prompts, scoring
from palign_nb.inventories import get_inventory
from palign_nb.models import (
    LoadedModel,
    embedded_model_dir,
    resolve_device,
    resolve_dtype,
)

#: Meta-Llama-3-8B-Instruct's config.json, as transformers names its fields.
LLAMA3_8B = dict(
    vocab_size=128256,
    hidden_size=4096,
    intermediate_size=14336,
    num_hidden_layers=32,
    num_attention_heads=32,
    num_key_value_heads=8,
    head_dim=128,
    max_position_embeddings=8192,
    rms_norm_eps=1e-5,
    tie_word_embeddings=False,
    bos_token_id=128000,
    eos_token_id=128009,
    initializer_range=0.02,
    rope_parameters={"rope_type": "default", "rope_theta": 500000.0},
)
LLAMA3_8B_PARAMETERS = 8_030_261_248
#: A tiny Llama for the CPU; weights scaled up so that its option distributions are far from uniform.
SMALL = dict(
    hidden_size=64,
    intermediate_size=128,
    num_hidden_layers=2,
    num_attention_heads=4,
    num_key_value_heads=2,
    head_dim=16,
    max_position_embeddings=8192,
    initializer_range=0.2,
    rope_parameters={"rope_type": "default", "rope_theta": 500000.0},
)
P_COLS = [f"p_{x}" for x in "ABCDE"]


@dataclass
class Row:
    check: str
    value: str
    ok: bool | None = None  # None: information only


def build_model(small: bool, device: torch.device, dtype: torch.dtype) -> LoadedModel:
    tokenizer = tf.AutoTokenizer.from_pretrained(embedded_model_dir()[0])
    options = dict(SMALL, vocab_size=len(tokenizer)) if small else dict(LLAMA3_8B)
    config = tf.LlamaConfig(**options, attn_implementation="sdpa")
    torch.manual_seed(0)
    with torch.device(device):
        model = tf.LlamaForCausalLM._from_config(config, dtype=dtype).eval()
    name = "tiny-llama" if small else "random-llama-3-8b-shape"
    return LoadedModel(model, tokenizer, name, "random", device)


def subject_prompts(n_items: int) -> tuple[str, list[str]]:
    """The first PAPI subject's 120-answer system prompt and the questions of its first ``n_items`` test items."""
    inventory = get_inventory("ipip")
    answers = data.load_papi_test()
    known, test = data.paper_item_split()
    subject = answers.iloc[0]
    system = prompts.known_answers_system(
        inventory.items.loc[known, "text"].tolist(), subject[known].tolist(), inventory
    )
    return system, [
        prompts.question(inventory.items.loc[c, "text"], inventory)
        for c in test[:n_items]
    ]


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def max_dp(a, b) -> float:
    return float(np.abs(a[P_COLS].to_numpy() - b[P_COLS].to_numpy()).max())


def check_scoring(
    lm: LoadedModel, system: str, users: list[str], tol: float
) -> list[Row]:
    plain = scoring.score_options_plain(lm, system, users)
    probs = plain[P_COLS].to_numpy()
    rows = [
        Row(
            "option distribution spread (plain, max p - min p, mean)",
            f"{float((probs.max(1) - probs.min(1)).mean()):.3f}",
        )
    ]
    variants = (
        [("shared", None)]
        + [("shared", b) for b in ("flex", "matmul")]
        + [("model", None)]
    )
    if lm.device.type == "cpu":
        variants.insert(1, ("shared", "cpu_flash"))
    for path, backend in variants:
        label = f"scorer {path}/{backend or 'auto'} vs plain forward, {len(users)} items: max |dp|"
        try:
            fast = scoring.score_options(
                lm, system, users, batch_size=4, path=path, backend=backend
            )
            diff = max_dp(fast, plain)
            agree = float(
                (fast["predicted"].to_numpy() == plain["predicted"].to_numpy()).mean()
            )
            rows.append(
                Row(label, f"{diff:.2e} (argmax agrees {agree:.0%})", diff <= tol)
            )
        except (
            Exception
        ) as err:  # a failing backend is a finding of the check, reported in the table
            rows.append(
                Row(label, f"failed: {type(err).__name__}: {str(err)[:160]}", False)
            )
    return rows


def check_capture(
    lm: LoadedModel, system: str, users: list[str], tol: float
) -> list[Row]:
    device = lm.device
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
        before = torch.cuda.memory_allocated()
    acts = activations.capture_head_outputs(lm, system, users, "Option A", batch_size=4)
    expected = (len(users), lm.n_layers, lm.n_heads, activations.head_dim(lm.model))
    rows = [
        Row(
            "head capture shape (prompts, layers, heads, d_head)",
            str(acts.shape),
            acts.shape == expected,
        ),
        Row(
            "head capture bytes per prompt (float32, on the host)",
            f"{acts[0].nbytes:,}",
        ),
    ]
    if device.type == "cuda":
        rows.append(
            Row(
                "head capture extra GPU memory at peak (GiB)",
                f"{(torch.cuda.max_memory_allocated() - before) / 2**30:.2f}",
            )
        )
    plain = activations.capture_head_outputs_plain(lm, system, users, "Option A")
    scale = float(np.abs(plain).max())
    diff = float(np.abs(acts - plain).max()) / scale
    rows.append(
        Row(
            "head capture vs hooked plain forward: max |diff| / max |act|",
            f"{diff:.2e}",
            diff <= tol,
        )
    )
    return rows


def check_steering(lm: LoadedModel, system: str, users: list[str]) -> list[Row]:
    d = activations.head_dim(lm.model)
    rng = np.random.default_rng(0)
    heads = [
        (int(layer), int(head))
        for layer, head in zip(
            rng.integers(0, lm.n_layers, 8), rng.integers(0, lm.n_heads, 8)
        )
    ]
    directions = rng.normal(size=(len(heads), d)).astype(np.float32)
    directions /= np.linalg.norm(directions, axis=1, keepdims=True)
    persona = pas.Persona(
        heads, directions, np.full(len(heads), 4.0, np.float32), alpha=8.0
    )
    ids = lm.tokenizer(
        prompts.render_chat(lm.tokenizer, system, users[0]),
        add_special_tokens=False,
        return_tensors="pt",
    )["input_ids"].to(lm.device)
    with torch.inference_mode():
        before = lm.model(input_ids=ids, logits_to_keep=1).logits
        with pas.steer(lm, persona):
            steered = lm.model(input_ids=ids, logits_to_keep=1).logits
            scored = scoring.score_options(lm, system, users[:4], batch_size=4)
        after = lm.model(input_ids=ids, logits_to_keep=1).logits
    unsteered = scoring.score_options(lm, system, users[:4], batch_size=4)
    moved = float((steered - before).abs().max())
    return [
        Row("steering moves the logits (max |d logit|)", f"{moved:.3g}", moved > 0),
        Row(
            "steering moves the option scores (max |dp|)",
            f"{max_dp(scored, unsteered):.2e}",
        ),
        Row(
            "logits bit-identical after the steering hooks are removed",
            str(torch.equal(before, after)),
            torch.equal(before, after),
        ),
    ]


def check_speed(
    lm: LoadedModel, system: str, users: list[str], n_generate: int
) -> list[Row]:
    scoring.score_options(
        lm, system, users[:8], batch_size=8
    )  # warm-up: kernels, compilation, allocator
    synchronize(lm.device)
    start = time.perf_counter()
    scoring.score_options(lm, system, users, batch_size=16)
    synchronize(lm.device)
    ours = time.perf_counter() - start
    start = time.perf_counter()
    generated = scoring.generate_answers(
        lm, system, users[:n_generate], batch_size=10, max_new_tokens=15
    )
    synchronize(lm.device)
    paper = (time.perf_counter() - start) / n_generate
    n_tokens = len(prompts.split_shared_prefix(lm.tokenizer, system, users[:2])[0])
    return [
        Row(
            f"one {len(users)}-item pass, 120-answer prompt ({n_tokens}-token prefix), seconds",
            f"{ours:.2f}",
        ),
        Row(
            f"paper's recipe (15 generated tokens, batch 10) on {n_generate} items, seconds per item",
            f"{paper:.3f} (parsed {generated['predicted'].notna().mean():.0%})",
        ),
        Row(
            "paper's recipe time for the same items / ours",
            f"{paper * len(users) / ours:.1f}x",
        ),
    ]


def meta_parameter_count() -> int:
    """Parameters of the exact 8B configuration, built on the meta device (no memory)."""
    with torch.device("meta"):
        model = tf.LlamaForCausalLM(tf.LlamaConfig(**LLAMA3_8B))
    return sum(p.numel() for p in model.parameters())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--small", action="store_true", help="tiny Llama on the CPU in float32 (CI)"
    )
    parser.add_argument("--device", default="auto")
    parser.add_argument(
        "--dtype",
        default="auto",
        help="auto: bfloat16 on a GPU, float32 for --small on a CPU",
    )
    parser.add_argument(
        "--items", type=int, default=180, help="items in the timed pass"
    )
    parser.add_argument(
        "--exact-items",
        type=int,
        default=10,
        help="items compared with the plain forward",
    )
    parser.add_argument(
        "--generate-items",
        type=int,
        default=20,
        help="items of the paper's recipe timed",
    )
    parser.add_argument(
        "--json", default=None, help="also write the table to this file"
    )
    args = parser.parse_args(argv)
    device = resolve_device(args.device)
    if not args.small and device.type != "cuda":
        print(
            "The full check builds an 8B model and needs a CUDA GPU; on a CPU run it with --small.",
            file=sys.stderr,
        )
        return 2
    dtype = (
        torch.float32
        if args.dtype == "auto" and device.type == "cpu"
        else resolve_dtype(args.dtype, device)
    )
    # Tolerances: float32 must match to rounding; half precision differs by kernel rounding only.
    tol = 1e-5 if dtype == torch.float32 else 2e-2
    capture_tol = 1e-4 if dtype == torch.float32 else 5e-2
    torch.manual_seed(0)
    system, users = subject_prompts(args.items)
    start = time.perf_counter()
    lm = build_model(args.small, device, dtype)
    synchronize(device)
    n_params = sum(p.numel() for p in lm.model.parameters())
    rows = [
        Row(
            "device, dtype",
            f"{torch.cuda.get_device_name(device) if device.type == 'cuda' else 'cpu'}, {dtype}",
        ),
        Row(
            "model",
            f"{lm.model_id}: {lm.n_layers} layers, {lm.n_heads} q / {lm.model.config.num_key_value_heads} kv heads, "
            f"hidden {lm.model.config.hidden_size}, {n_params:,} parameters, built in {time.perf_counter() - start:.1f} s",
        ),
    ]
    if args.small:
        count = meta_parameter_count()
        rows.append(
            Row(
                "the exact 8B config on the meta device: parameters",
                f"{count:,}",
                count == LLAMA3_8B_PARAMETERS,
            )
        )
    else:
        rows[-1].ok = n_params == LLAMA3_8B_PARAMETERS
    exact = users[: args.exact_items]
    rows += check_scoring(lm, system, exact, tol)
    rows += check_capture(lm, system, exact[:4], capture_tol)
    rows += check_steering(lm, system, exact)
    rows += check_speed(lm, system, users, min(args.generate_items, len(users)))
    if device.type == "cuda":
        rows.append(
            Row(
                "peak GPU memory (GiB)",
                f"{torch.cuda.max_memory_allocated() / 2**30:.1f}",
            )
        )
    rows.append(Row("total seconds", f"{time.perf_counter() - start:.0f}"))

    width = max(len(r.check) for r in rows)
    for r in rows:
        mark = "" if r.ok is None else ("  ok" if r.ok else "  MISMATCH")
        print(f"{r.check:<{width}}  {r.value}{mark}")
    failed = [r.check for r in rows if r.ok is False]
    print(
        f"gpu-check: {'FAILED: ' + '; '.join(failed) if failed else 'all checks passed'}"
    )
    if args.json:
        with open(args.json, "w") as f:
            json.dump([r.__dict__ for r in rows], f, indent=1)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

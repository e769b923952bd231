"""Benchmark: one subject's DPO and RL (GRPO) training, as chapter 07 (IPIP) and chapter 08 (SD3) run it.

Per inventory and method, in seconds for one subject (the chapters' own defaults: their ``parameters`` cells,
:func:`palign_nb.preference.chapter_settings`; the paper's known items):

* setup: the subject's pairs (DPO) or prompts (RL), :func:`preference_pairs` / :func:`reward_prompts`;
* train: :func:`train_dpo` / :func:`train_grpo`, the whole call (copying the model, building the trainer,
  tokenising, the steps), beside ``TrainResult.seconds`` (what ``run_preference`` records as ``train``)
  and the trainer's own split: its construction, and the steps;
* score (``--score``): merging the adapter and scoring the test items, ``run_preference``'s ``score`` stage.

Wall seconds and the process's CPU seconds (all threads); on a shared host the CPU seconds drift less.

``--compare`` also trains with TRL's fused LM head over every position of the prompt (the code before
``preference_training._head_on_answer_tokens``), alternating with the current code ``--repeats`` times, checks that
both give the same loss and the same adapter (bit for bit), and prints the ratio per method.

Run: ``.venv/bin/python benchmarks/bench_training.py [--compare] [--score] [--json runs/bench_training.json]``.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import time

import torch

from machine import finish, matmul_gflops
from palign_nb import data, preference, preference_training
from palign_nb.parameters_cell import declared_parameters
from palign_nb.inventories import get_inventory
from palign_nb.models import EMBEDDED_ID, load_model
from palign_nb.paths import repo_root
from palign_nb.prompt_baselines import score_items
from palign_nb.prompts import DEFAULT_SYSTEM

CHAPTERS = {"ipip": "07_preference_baselines", "sd3": "08_dark_triad"}


def design(inventory: str) -> tuple[object, list[str], list[str]]:
    """The first test subject, the paper's known items and its test items of an inventory."""
    if inventory == "ipip":
        known, test = data.paper_item_split()
        return int(data.load_papi_test().index[0]), known, test
    known, test = data.sd3_paper_item_split()
    return data.sd3_paper_subjects()[0], known, test


@contextlib.contextmanager
def timed(into: dict, key: str):
    wall, cpu = time.perf_counter(), time.process_time()
    yield
    into[f"{key}_s"] = time.perf_counter() - wall
    into[f"{key}_cpu_s"] = time.process_time() - cpu


@contextlib.contextmanager
def trainer_split(into: dict):
    """Time the trainer's construction and its ``train()`` separately (wrapping TRL's classes for the call)."""
    import trl

    originals = {name: getattr(trl, name) for name in ("DPOTrainer", "GRPOTrainer")}

    def wrap(cls):
        class Timed(cls):
            def __init__(self, *args, **kwargs):
                with timed(into, "construct"):
                    super().__init__(*args, **kwargs)

            def train(self, *args, **kwargs):
                with timed(into, "steps"):
                    return super().train(*args, **kwargs)

        return Timed

    for name, cls in originals.items():
        setattr(trl, name, wrap(cls))
    try:
        yield
    finally:
        for name, cls in originals.items():
            setattr(trl, name, cls)


def train_once(
    lm, method: str, examples, settings, inventory, all_positions: bool
) -> tuple[dict, object]:
    row: dict = {
        "method": method,
        "head": "every position" if all_positions else "answer tokens",
    }
    head = (
        contextlib.nullcontext()
        if not all_positions
        else _patched(
            preference_training, "_head_on_answer_tokens", contextlib.nullcontext
        )
    )
    with head, trainer_split(row), timed(row, "train_call"):
        if method == "dpo":
            result = preference_training.train_dpo(lm, examples, settings)
        else:
            result = preference_training.train_grpo(lm, examples, settings, inventory)
    row["train_s"] = result.seconds
    row["steps_per_s"] = settings.steps / row["steps_s"]
    return row, result


@contextlib.contextmanager
def _patched(module, name: str, value):
    original = getattr(module, name)
    setattr(module, name, value)
    try:
        yield
    finally:
        setattr(module, name, original)


def same_training(a, b) -> bool:
    lora = lambda r: {
        n: p.detach() for n, p in r.model.named_parameters() if "lora_" in n
    }  # noqa: E731
    la, lb = lora(a), lora(b)
    cols = [c for c in ("loss", "reward", "grad_norm") if c in a.history]
    return (
        la.keys() == lb.keys()
        and all(torch.equal(la[k], lb[k]) for k in la)
        and a.history[cols].equals(b.history[cols])
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-id", default=EMBEDDED_ID)
    parser.add_argument(
        "--dtype",
        default="auto",
        help="auto | float32 | bfloat16 (as the chapters' `dtype`)",
    )
    parser.add_argument("--inventories", default="ipip,sd3")
    parser.add_argument("--methods", default="dpo,grpo")
    parser.add_argument(
        "--compare",
        action="store_true",
        help="also time the LM head over every position, alternating",
    )
    parser.add_argument(
        "--repeats", type=int, default=1, help="timings per variant with --compare"
    )
    parser.add_argument(
        "--score",
        action="store_true",
        help="also time merging and scoring the test items",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=int(os.environ.get("OMP_NUM_THREADS", os.cpu_count() or 1)),
    )
    parser.add_argument(
        "--json", default=None, help="also write the numbers to this file"
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    lm = load_model(args.model_id, "cpu", args.dtype)
    probe_dtype = (
        lm.dtype if lm.dtype in (torch.float32, torch.bfloat16) else torch.float32
    )
    speed_start = matmul_gflops(probe_dtype)
    print(f"model={args.model_id} dtype={lm.dtype} threads={args.threads}")
    print(
        f"machine speed: {speed_start:.0f} GFLOP/s ({probe_dtype} matmul probe; compare timings only alongside it)"
    )
    rows = []
    for inv_name in args.inventories.split(","):
        inventory = get_inventory(inv_name)
        answers = data.load_answers(inv_name)
        params = declared_parameters(
            repo_root() / "notebooks" / f"{CHAPTERS[inv_name]}.ipynb"
        )
        settings = preference.chapter_settings(params, params["seed"])
        subject, known, test = design(inv_name)
        for method in args.methods.split(","):
            setup: dict = {}
            with timed(setup, "setup"):
                make = (
                    preference.preference_pairs
                    if method == "dpo"
                    else preference.reward_prompts
                )
                examples = make(
                    lm, answers, subject, known, inventory, params["keying"]
                )
            variants = [False, True] if args.compare else [False]
            results = {}
            for repeat in range(args.repeats if args.compare else 1):
                for all_positions in variants if repeat % 2 == 0 else variants[::-1]:
                    probe = matmul_gflops(probe_dtype, repeats=30)
                    row, result = train_once(
                        lm, method, examples, settings[method], inventory, all_positions
                    )
                    row.update(
                        inventory=inv_name,
                        subject=subject,
                        examples=len(examples),
                        repeat=repeat,
                        probe_gflops=probe,
                        **setup,
                    )
                    if args.score and not all_positions and repeat == 0:
                        with timed(row, "score"):
                            score_items(
                                preference_training.merged(lm, result.model, method),
                                DEFAULT_SYSTEM,
                                test,
                                inventory,
                                params["batch_size"],
                            )
                    results.setdefault(all_positions, result)
                    rows.append(row)
                    print(
                        f"{inv_name} {method:4} {row['head']:<14} setup {row['setup_s']:5.2f} s | train {row['train_s']:6.1f} s "
                        f"(call {row['train_call_s']:6.1f} s, {row['train_call_cpu_s']:6.1f} CPU s; trainer built in "
                        f"{row['construct_s']:.2f} s, steps {row['steps_s']:6.1f} s)"
                        + (
                            f" | score {row['score_s']:5.1f} s"
                            if "score_s" in row
                            else ""
                        )
                        + f" | probe {probe:.0f} GFLOP/s",
                        flush=True,
                    )
            if args.compare:
                same = same_training(results[False], results[True])
                new = [
                    r
                    for r in rows
                    if r["inventory"] == inv_name
                    and r["method"] == method
                    and r["head"] == "answer tokens"
                ]
                old = [
                    r
                    for r in rows
                    if r["inventory"] == inv_name
                    and r["method"] == method
                    and r["head"] != "answer tokens"
                ]
                mean = lambda rs, k: sum(r[k] for r in rs) / len(rs)  # noqa: E731
                print(
                    f"{inv_name} {method}: answer tokens / every position: wall {mean(new, 'train_call_s') / mean(old, 'train_call_s'):.2f}, "
                    f"CPU {mean(new, 'train_call_cpu_s') / mean(old, 'train_call_cpu_s'):.2f}; same losses and adapter: {same}",
                    flush=True,
                )
                rows.append(
                    {"inventory": inv_name, "method": method, "same_training": same}
                )
    finish(
        {"rows": rows, "threads": args.threads, "dtype": str(lm.dtype)},
        speed_start,
        args.json,
        probe_dtype,
    )


if __name__ == "__main__":
    main()

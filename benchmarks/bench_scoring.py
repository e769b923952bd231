"""Benchmark: one subject's 180 test items with the 120-answer system prompt, scored two ways.

* ours: option log-likelihoods, shared prefix encoded once, logits only at the answer position
  (``palign_nb.scoring.score_options``);
* the paper's recipe: greedy generation of 15 new tokens from the full prompt, batch 10, regex
  parse (``palign_nb.scoring.generate_answers``). It takes minutes per batch on a CPU, so by
  default it is timed on a sample of its batches and scaled to 180 items (said in the output);
  ``--paper-batches 18`` times all of it.

Then, per dtype (``--dtypes``, default float32 and bfloat16), the same pass of ours in that precision
beside its compute floor: the pass's FLOPs (from the model's config and the token counts) divided by
the matmul probe's speed in that dtype, and the ratio of the two. A ratio near 1 means the pass runs
at the speed of the machine's matrix products; above it, time goes elsewhere (attention over the
prefix, copies, element-wise work).

Run: ``.venv/bin/python benchmarks/bench_scoring.py`` (``make bench``). Prints seconds per pass and
the ratios, and writes them as JSON with ``--json PATH``.
"""

from __future__ import annotations

import argparse
import os
import time

import torch

from machine import finish, matmul_gflops, pass_flops
from palign_nb import data, prompts, scoring
from palign_nb.inventories import get_inventory
from palign_nb.models import EMBEDDED_ID, load_model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-id", default=EMBEDDED_ID)
    parser.add_argument(
        "--subject",
        type=int,
        default=0,
        help="position of the subject in the PAPI test set",
    )
    parser.add_argument(
        "--batch-size", type=int, default=16, help="our suffix batch size"
    )
    parser.add_argument(
        "--paper-batches",
        type=int,
        default=2,
        help="batches of 10 of the paper's recipe to time (18 = all)",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=int(os.environ.get("OMP_NUM_THREADS", os.cpu_count() or 1)),
    )
    parser.add_argument(
        "--dtypes",
        default="float32,bfloat16",
        help="precisions of the floor table ('' skips it)",
    )
    parser.add_argument(
        "--json", default=None, help="also write the numbers to this file"
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    inventory = get_inventory("ipip")
    answers = data.load_papi_test()
    known, test = data.paper_item_split()
    subject = answers.iloc[args.subject]
    system = prompts.known_answers_system(
        inventory.items.loc[known, "text"].tolist(), subject[known].tolist(), inventory
    )
    users = [prompts.question(inventory.items.loc[c, "text"], inventory) for c in test]
    lm = load_model(args.model_id, device="auto")
    prefix, rests = prompts.split_shared_prefix(lm.tokenizer, system, users)
    speed_start = matmul_gflops()
    print(
        f"model={args.model_id} device={lm.device} threads={args.threads} subject={answers.index[args.subject]}"
    )
    print(
        f"machine speed: {speed_start:.0f} GFLOP/s (float32 matmul probe; compare timings only alongside it)"
    )
    print(
        f"shared prefix {len(prefix)} tokens; {len(users)} items, {sum(map(len, rests))} suffix tokens"
    )

    scoring.score_options(
        lm, system, users[:2], batch_size=2
    )  # warm-up (first-call overheads)
    start = time.perf_counter()
    ours = scoring.score_options(lm, system, users, batch_size=args.batch_size)
    ours_s = time.perf_counter() - start
    print(f"ours: {ours_s:.1f} s per 180-item pass ({ours_s / len(users):.2f} s/item)")

    n_paper = min(len(users), 10 * args.paper_batches)
    start = time.perf_counter()
    paper = scoring.generate_answers(
        lm, system, users[:n_paper], batch_size=10, max_new_tokens=15
    )
    sample_s = time.perf_counter() - start
    paper_s = sample_s / n_paper * len(users)
    scaled = (
        ""
        if n_paper == len(users)
        else f" (timed on {n_paper} items in {sample_s:.1f} s, scaled to {len(users)})"
    )
    print(
        f"paper's recipe: {paper_s:.1f} s per 180-item pass ({paper_s / len(users):.2f} s/item){scaled}"
    )
    agree = float(
        (paper["predicted"].to_numpy() == ours["predicted"].to_numpy()[:n_paper]).mean()
    )
    print(
        f"speed-up: {paper_s / ours_s:.1f}x; answers agree on {agree:.0%} of the {n_paper} timed items; "
        f"paper parse failures {paper['predicted'].isna().mean():.0%}"
    )
    floors = floor_table(args, system, users, [d for d in args.dtypes.split(",") if d])
    finish(
        {
            "ours_s": ours_s,
            "paper_s": paper_s,
            "paper_items_timed": n_paper,
            "speedup": paper_s / ours_s,
            "agreement": agree,
            "threads": args.threads,
            "floors": floors,
        },
        speed_start,
        args.json,
    )


def floor_table(args, system: str, users: list[str], dtypes: list[str]) -> list[dict]:
    """Our 180-item pass in each dtype against its compute floor at the probe's speed in that dtype."""
    rows = []
    for name in dtypes:
        lm = load_model(args.model_id, device="auto", dtype=name)
        prefix, rests = prompts.split_shared_prefix(lm.tokenizer, system, users)
        flops = pass_flops(lm.model.config, len(prefix), [len(r) for r in rests])
        scoring.score_options(lm, system, users[:2], batch_size=2)  # warm-up
        start = time.perf_counter()
        scoring.score_options(lm, system, users, batch_size=args.batch_size)
        seconds = time.perf_counter() - start
        probe = matmul_gflops(getattr(torch, name))
        floor = flops["total"] / (probe * 1e9)
        rows.append(
            {
                "dtype": name,
                "pass_s": seconds,
                "tflop": flops["total"] / 1e12,
                "linear_tflop": flops["linear"] / 1e12,
                "attention_tflop": flops["attention"] / 1e12,
                "probe_gflops": probe,
                "floor_s": floor,
                "ratio": seconds / floor,
            }
        )
        del lm
    if rows:
        print(
            f"{'dtype':<9} {'pass s':>7} {'TFLOP':>6} {'(linear':>8} {'attn)':>6} {'probe GFLOP/s':>14} {'floor s':>8} {'ratio':>6}"
        )
        for r in rows:
            print(
                f"{r['dtype']:<9} {r['pass_s']:7.1f} {r['tflop']:6.2f} {r['linear_tflop']:8.2f} {r['attention_tflop']:6.2f} "
                f"{r['probe_gflops']:14.0f} {r['floor_s']:8.1f} {r['ratio']:6.2f}"
            )
    return rows


if __name__ == "__main__":
    main()

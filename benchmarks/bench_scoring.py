"""Benchmark: one subject's 180 test items with the 120-answer system prompt, scored two ways.

* ours: option log-likelihoods, shared prefix encoded once, logits only at the answer position
  (``palign_nb.scoring.score_options``);
* the paper's recipe: greedy generation of 15 new tokens from the full prompt, batch 10, regex
  parse (``palign_nb.scoring.generate_answers``). It takes minutes per batch on a CPU, so by
  default it is timed on a sample of its batches and scaled to 180 items (said in the output);
  ``--paper-batches 18`` times all of it.

Run: ``.venv/bin/python benchmarks/bench_scoring.py`` (``make bench``). Prints seconds per pass and
the ratio, and writes them as JSON with ``--json PATH``.
"""

from __future__ import annotations

import argparse
import os
import time

import torch

from machine import finish, matmul_gflops
from palign_nb import data, prompts, scoring
from palign_nb.inventories import get_inventory
from palign_nb.models import EMBEDDED_ID, load_model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-id", default=EMBEDDED_ID)
    parser.add_argument("--subject", type=int, default=0, help="position of the subject in the PAPI test set")
    parser.add_argument("--batch-size", type=int, default=16, help="our suffix batch size")
    parser.add_argument("--paper-batches", type=int, default=2, help="batches of 10 of the paper's recipe to time (18 = all)")
    parser.add_argument("--threads", type=int, default=int(os.environ.get("OMP_NUM_THREADS", os.cpu_count() or 1)))
    parser.add_argument("--json", default=None, help="also write the numbers to this file")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    inventory = get_inventory("ipip")
    answers = data.load_papi_test()
    known, test = data.paper_item_split()
    subject = answers.iloc[args.subject]
    system = prompts.known_answers_system(inventory.items.loc[known, "text"].tolist(), subject[known].tolist(), inventory)
    users = [prompts.question(inventory.items.loc[c, "text"], inventory) for c in test]
    lm = load_model(args.model_id, device="auto")
    prefix, rests = prompts.split_shared_prefix(lm.tokenizer, system, users)
    speed_start = matmul_gflops()
    print(f"model={args.model_id} device={lm.device} threads={args.threads} subject={answers.index[args.subject]}")
    print(f"machine speed: {speed_start:.0f} GFLOP/s (float32 matmul probe; compare timings only alongside it)")
    print(f"shared prefix {len(prefix)} tokens; {len(users)} items, {sum(map(len, rests))} suffix tokens")

    scoring.score_options(lm, system, users[:2], batch_size=2)  # warm-up (first-call overheads)
    start = time.perf_counter()
    ours = scoring.score_options(lm, system, users, batch_size=args.batch_size)
    ours_s = time.perf_counter() - start
    print(f"ours: {ours_s:.1f} s per 180-item pass ({ours_s / len(users):.2f} s/item)")

    n_paper = min(len(users), 10 * args.paper_batches)
    start = time.perf_counter()
    paper = scoring.generate_answers(lm, system, users[:n_paper], batch_size=10, max_new_tokens=15)
    sample_s = time.perf_counter() - start
    paper_s = sample_s / n_paper * len(users)
    scaled = "" if n_paper == len(users) else f" (timed on {n_paper} items in {sample_s:.1f} s, scaled to {len(users)})"
    print(f"paper's recipe: {paper_s:.1f} s per 180-item pass ({paper_s / len(users):.2f} s/item){scaled}")
    agree = float((paper["predicted"].to_numpy() == ours["predicted"].to_numpy()[:n_paper]).mean())
    print(f"speed-up: {paper_s / ours_s:.1f}x; answers agree on {agree:.0%} of the {n_paper} timed items; "
          f"paper parse failures {paper['predicted'].isna().mean():.0%}")
    finish({"ours_s": ours_s, "paper_s": paper_s, "paper_items_timed": n_paper, "speedup": paper_s / ours_s,
            "agreement": agree, "threads": args.threads}, speed_start, args.json)


if __name__ == "__main__":
    main()

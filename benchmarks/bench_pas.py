"""Benchmark: seconds per subject for PAS on the embedded model, all 180 test items.

Times, for one PAPI subject, after the shared (subject-independent) activation capture:

* faithful: the paper's procedure with option scoring instead of generation: probes on the 120
  known items, the 120-answer system prompt, one full 180-item test pass per alpha of the paper's
  grid {0, 1, 2, 4, 6, 8} (the paper's code picks alpha on these test passes);
* clean: probes on the known items minus 4 validation items per trait, alpha chosen on those
  validation items over the same grid, then one 180-item test pass.

The paper's code needs 6 generation passes of 180 items per subject for its alpha grid; at the
per-item time of ``bench_scoring.py``'s paper recipe that is about 6 x 180 x 5 s here.

Run: ``.venv/bin/python benchmarks/bench_pas.py`` (``make bench``).
"""

from __future__ import annotations

import argparse
import json
import os
import time

import torch

from palign_nb import activations, alignment, pas, prompts
from palign_nb.data import load_papi_test, paper_item_split
from palign_nb.inventories import get_inventory
from palign_nb.models import EMBEDDED_ID, load_model
from palign_nb.splits import carve_validation


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-id", default=EMBEDDED_ID)
    parser.add_argument("--subject", type=int, default=0, help="position of the subject in the PAPI test set")
    parser.add_argument("--top-k", type=int, default=24)
    parser.add_argument("--threads", type=int, default=int(os.environ.get("OMP_NUM_THREADS", os.cpu_count() or 1)))
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    inv = get_inventory("ipip")
    answers = load_papi_test()
    known, test = paper_item_split()
    subject = answers.index[args.subject]
    lm = load_model(args.model_id)
    start = time.perf_counter()
    acts = activations.contrast_activations(lm, known, inv)
    capture_s = time.perf_counter() - start
    print(f"model={args.model_id} threads={args.threads} subject={subject}")
    print(f"shared activation capture (once per model, not per subject): {capture_s:.1f} s for {2 * len(known)} prompts")

    def system(items: list[str]) -> str:
        shown = alignment.shown_values(answers.loc[subject], items, inv, "papi")
        return prompts.known_answers_system(inv.items.loc[items, "text"].tolist(), shown.tolist(), inv)

    start = time.perf_counter()
    persona, _ = alignment.fit_persona(acts, known, alignment.shown_values(answers.loc[subject], known, inv, "papi"), known, args.top_k)
    for alpha in pas.PAPER_ALPHAS:
        alignment.score_steered(lm, persona, alpha, system(known), test, inv)
    faithful_s = time.perf_counter() - start
    print(f"faithful (120-answer prompt, paper's grid, 6 test passes): {faithful_s:.1f} s per subject")

    split = carve_validation(known, inv, per_trait=4, seed=0)
    start = time.perf_counter()
    fit = alignment.align_subject(lm, acts, known, answers.loc[subject], split.known, split.validation, inv, "papi",
                                  system(split.known), top_k=args.top_k)
    alignment.score_steered(lm, fit.persona, fit.persona.alpha, system(split.known), test, inv)
    clean_s = time.perf_counter() - start
    print(f"clean (alpha on {len(split.validation)} validation items, then 1 test pass): {clean_s:.1f} s per subject "
          f"(alpha = {fit.persona.alpha})")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"capture_s": capture_s, "faithful_s": faithful_s, "clean_s": clean_s, "threads": args.threads}, f, indent=1)


if __name__ == "__main__":
    main()

"""Benchmark: seconds per subject for PAS on the embedded model, all 180 test items.

Times, for one PAPI subject, after the shared (subject-independent) activation capture:

* faithful: the paper's procedure with option scoring instead of generation: probes on the 120
  known items, the 120-answer system prompt, one full 180-item test pass per alpha of the paper's
  grid {0, 1, 2, 4, 6, 8} (the paper's code picks alpha on these test passes);
* clean: probes on the known items minus 4 validation items per trait, alpha chosen on those
  validation items over the same grid, then one 180-item test pass.

``--dtype`` picks the precision (default ``auto``, as the book runs: bfloat16 on a GPU and on a CPU
with AMX or AVX-512 BF16, float32 elsewhere; ``make bench`` runs float32, then bfloat16). With ``--compare-float32`` a run in another precision also scores the
faithful passes in float32, once with the same persona and once with a persona probed in float32,
and reports per alpha how often the answers agree and the largest change of an option probability,
with the letters each run answered, so a speed-up in lower precision is shown with what it costs.

The paper's code needs 6 generation passes of 180 items per subject for its alpha grid; at the
per-item time of ``bench_scoring.py``'s paper recipe that is about 6 x 180 x 5 s here.

Run: ``.venv/bin/python benchmarks/bench_pas.py`` (``make bench``).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import numpy as np
import torch

from machine import finish, matmul_gflops
from palign_nb import activations, pas, pas_subject, prompts
from palign_nb.data import load_papi_test, paper_item_split
from palign_nb.inventories import (
    OPTION_LETTERS,
    VALUE_TO_LETTER,
    get_inventory,
    shown_values,
)
from palign_nb.models import EMBEDDED_ID, load_model
from palign_nb.splits import carve_validation

PROBS = [f"p_{x}" for x in OPTION_LETTERS]


def answer_counts(table) -> str:
    """The answers of an option table as letter counts, e.g. ``"A 130, C 50"``."""
    counts = table["predicted"].map(VALUE_TO_LETTER).value_counts()
    return ", ".join(f"{letter} {n}" for letter, n in counts.items())


def compare_with_float32(
    args, known, known_values, test, inv, system, persona, tables
) -> list[dict]:
    """Per alpha: the faithful run's answers against float32, with the same persona and with a float32 persona.

    "same persona" isolates the precision of the test passes; "float32 persona" redoes the capture and
    the probes in float32 too, so it also counts heads or directions that changed with the precision.
    """
    reference = load_model(args.model_id, dtype="float32")
    ref_acts = activations.contrast_activations(reference, known, inv)
    ref_persona, _ = pas_subject.fit_persona(
        ref_acts, known, known_values, known, args.top_k
    )
    shared = len(set(ref_persona.heads) & set(persona.heads))
    print(
        f"against float32: {shared} of {args.top_k} heads shared with the float32 persona"
    )
    rows = []
    for alpha, table in tables.items():
        row = {"alpha": alpha, "heads_shared": shared}
        for name, used in [("same_persona", persona), ("float32_persona", ref_persona)]:
            ref = pas_subject.score_steered(reference, used, alpha, system, test, inv)
            row[f"{name}_same_answer"] = float(
                (ref["predicted"] == table["predicted"]).mean()
            )
            row[f"{name}_max_prob_change"] = float(
                np.abs(ref[PROBS].to_numpy() - table[PROBS].to_numpy()).max()
            )
            row[f"{name}_float32_answers"] = answer_counts(ref)
        row["answers"] = answer_counts(table)
        rows.append(row)
        print(
            f"  alpha {alpha:g}: same answer {row['same_persona_same_answer']:.1%} with the same persona "
            f"(largest probability change {row['same_persona_max_prob_change']:.3f}), "
            f"{row['float32_persona_same_answer']:.1%} with the float32 persona ({row['float32_persona_max_prob_change']:.3f}); "
            f"answers {row['answers']} | float32, same persona: {row['same_persona_float32_answers']} "
            f"| float32 persona: {row['float32_persona_float32_answers']}"
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-id", default=EMBEDDED_ID)
    parser.add_argument(
        "--dtype", default="auto", choices=["auto", "float32", "bfloat16", "float16"]
    )
    parser.add_argument(
        "--subject",
        type=int,
        default=0,
        help="position of the subject in the PAPI test set",
    )
    parser.add_argument("--top-k", type=int, default=24)
    parser.add_argument(
        "--repeats",
        type=int,
        default=1,
        help="time the faithful variant this many times",
    )
    parser.add_argument(
        "--compare-float32",
        action="store_true",
        help="also score the faithful passes in float32 and compare",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=int(os.environ.get("OMP_NUM_THREADS", os.cpu_count() or 1)),
    )
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    inv = get_inventory("ipip")
    answers = load_papi_test()
    known, test = paper_item_split()
    subject = answers.index[args.subject]
    lm = load_model(args.model_id, dtype=args.dtype)
    dtype = str(lm.model.dtype).removeprefix("torch.")
    speed_before = matmul_gflops(lm.model.dtype)
    start = time.perf_counter()
    acts = activations.contrast_activations(lm, known, inv)
    capture_s = time.perf_counter() - start
    print(
        f"model={args.model_id} dtype={dtype} threads={args.threads} subject={subject}; "
        f"machine speed now: {speed_before:.0f} GFLOP/s ({dtype} matmul)"
    )
    print(
        f"shared activation capture (once per model, not per subject): {capture_s:.1f} s for {2 * len(known)} prompts"
    )

    def system(items: list[str]) -> str:
        shown = shown_values(answers.loc[subject], items, inv, "papi")
        return prompts.known_answers_system(
            inv.items.loc[items, "text"].tolist(), shown.tolist(), inv
        )

    known_system = system(known)
    faithful_runs, pass_s = [], []
    for _ in range(
        args.repeats
    ):  # the oracle procedure chapter 05 runs (pas_every_subject.run_pas_oracle), per subject
        start = time.perf_counter()
        oracle = pas_subject.oracle_subject(
            lm,
            acts,
            known,
            answers.loc[subject],
            known,
            test,
            inv,
            "papi",
            known_system,
            pas_subject.PASSettings(top_k=args.top_k),
        )
        faithful_runs.append(time.perf_counter() - start)
        pass_s += list(oracle.pass_seconds.values())
        print(
            f"faithful (120-answer prompt, paper's grid, {len(pas.PAPER_ALPHAS)} test passes, alpha {oracle.persona.alpha:g} "
            f"chosen on them): {faithful_runs[-1]:.1f} s per subject"
        )
    faithful_s = statistics.median(faithful_runs)
    result = {
        "dtype": dtype,
        "threads": args.threads,
        "capture_s": capture_s,
        "faithful_s": faithful_s,
        "faithful_runs_s": faithful_runs,
        "test_pass_s": pass_s,
    }

    if args.compare_float32 and dtype == "float32":
        print(
            "--compare-float32 skipped: this run is already in float32 (pass --dtype bfloat16 to compare)."
        )
    elif args.compare_float32:
        known_values = shown_values(answers.loc[subject], known, inv, "papi")
        result["against_float32"] = compare_with_float32(
            args,
            known,
            known_values,
            test,
            inv,
            known_system,
            oracle.persona,
            oracle.tables,
        )

    split = carve_validation(known, inv, per_trait=4, seed=0)
    start = time.perf_counter()
    fit = pas_subject.align_subject(
        lm,
        acts,
        known,
        answers.loc[subject],
        split.known,
        split.validation,
        inv,
        "papi",
        system(split.known),
        pas_subject.PASSettings(top_k=args.top_k),
    )
    pas_subject.score_steered(
        lm, fit.persona, fit.persona.alpha, system(split.known), test, inv
    )
    result["clean_s"] = time.perf_counter() - start
    print(
        f"clean (alpha on {len(split.validation)} validation items, then 1 test pass): {result['clean_s']:.1f} s per subject "
        f"(alpha = {fit.persona.alpha})"
    )
    finish(result, speed_before, args.json, lm.model.dtype)


if __name__ == "__main__":
    main()

"""Chapter 06's runs: the P2 descriptions the model writes, every subject under every
prompt, and the chapter's record in the results store.

The loops are :mod:`palign_nb.all_subjects`' (kept per subject, resumed after a kill);
this module chooses what they run on and adds the progress lines and the saves. What the
chapter reads from the results is in :mod:`palign_nb.prompt_findings`.

Introduced in :doc:`/notebooks/06_prompting_baselines`.
"""

from __future__ import annotations

from typing import Callable

import pandas as pd

from .all_subjects import run_prompted, write_p2
from .config import runtime_minutes
from .context import Chapter
from .errors import PalignError

#: This chapter's methods as keys of :mod:`palign_nb.methods` and the keying they are
#: saved under (``None``: the run's keying).
REGISTERED_AS = {
    "icl_papi": ("icl", "papi"),
    "icl_literal": ("icl", "literal"),
    "p2": ("p2", None),
    "p2_generated": ("p2_generated", None),
}


def p2_descriptions(
    ch: Chapter,
    known: list[str],
    generate: bool,
    max_new_tokens: int,
    temperature: float,
) -> tuple[dict, dict]:
    """The P2 descriptions the chapter's model writes from ``known`` answers
    (:func:`palign_nb.all_subjects.write_p2`, kept in the chapter's ``p2_generated``
    checkpoints) and their seconds, by subject: the first subject's on IPIP (the paper
    ships the others), every subject's on SD3 (it ships none, so ``generate`` must be
    on); none when ``generate`` is off."""
    inventory = ch.inventory
    if not generate and inventory.name != "ipip":
        raise PalignError(
            "SD3 subjects have no shipped P2 description: set p2_generate=True so the "
            "model writes them."
        )
    writers = ch.subjects if inventory.name != "ipip" else ch.subjects[:1]
    return write_p2(
        ch.model,
        ch.answers,
        writers if generate else [],
        known,
        inventory,
        "papi",
        max_new_tokens,
        temperature,
        ch.cfg.seed,
        ch.checkpoints("p2_generated"),
    )


def score_prompts(
    ch: Chapter,
    systems: dict[str, Callable[[object], str]],
    items: list[str],
    generated: dict,
    generate_s: dict,
) -> tuple[dict[str, pd.DataFrame], pd.DataFrame]:
    """Every subject of the chapter under each method's system prompt (``systems``, by
    method) through :func:`palign_nb.all_subjects.run_prompted` (with the chapter's
    ``batch_size`` and the method's checkpoints), a line per method; on IPIP the first
    subject's ``generated`` description too, as ``p2_generated``. A description the
    model wrote counts its writing seconds (``generate_s``) as its prompt time. Returns
    the predictions by method and the timings."""
    lm, answers, subjects, inventory = ch.model, ch.answers, ch.subjects, ch.inventory
    batch_size = ch.params["batch_size"]
    predictions, parts = {}, []
    for method, system_of in systems.items():
        predictions[method], t = run_prompted(
            lm,
            answers,
            subjects,
            method,
            system_of,
            items,
            inventory,
            batch_size,
            checkpoints=ch.checkpoints(method),
        )
        if method == "p2" and inventory.name != "ipip":
            prompt = t.stage == "prompt"
            t.loc[prompt, "seconds"] += t.loc[prompt, "subject"].map(generate_s)
        parts.append(t)
        score_s = t.loc[t.stage == "score", "seconds"].mean()
        print(f"{method}: {score_s:.1f} s per subject to score")
    first = subjects[0]
    if inventory.name == "ipip" and first in generated:
        predictions["p2_generated"], t = run_prompted(
            lm,
            answers,
            [first],
            "p2_generated",
            generated.get,
            items,
            inventory,
            batch_size,
            checkpoints=ch.checkpoints("p2_generated_scored"),
        )
        t.loc[t.stage == "prompt", "seconds"] = generate_s[first]
        parts.append(t)
    return predictions, pd.concat(parts, ignore_index=True)


def save_prompted(
    ch: Chapter,
    predictions: dict[str, pd.DataFrame],
    timings: pd.DataFrame,
    generated: dict,
    n_items: int,
    n_known: int,
) -> None:
    """Chapter 06's record: each method's predictions (under :data:`REGISTERED_AS`), the
    timings and the descriptions the model wrote (with the chapter's ``p2_temperature``
    and ``p2_max_new_tokens``), in the results store."""
    note = {"items": n_items, "known_items": "paper_known", "n_known": n_known}
    for method, table in predictions.items():
        seconds = float(timings.loc[timings.method == method, "seconds"].sum())
        key, keying = REGISTERED_AS[method]
        keying = keying or ch.cfg.keying
        ch.save_predictions(key, table, keying=keying, wall_s=seconds, extra=note)
    ch.save_timings(timings, wall_s=runtime_minutes() * 60)
    written = {
        "writer": ch.cfg.model_id,
        "temperature": ch.params["p2_temperature"],
        "max_new_tokens": ch.params["p2_max_new_tokens"],
        "texts": {str(s): t for s, t in generated.items()},
    }
    ch.save_json("p2_generated", written)
    print(
        f"wrote predictions for {', '.join(predictions)} and the timings to "
        f"{ch.cfg.results_path}"
    )

"""Chapter 05's runs: the items, keyings and settings every section uses, every subject
through every PAS variant of section 5.5, and their records in the results store.

The per-subject loops are :mod:`palign_nb.pas_every_subject`'s and
:mod:`palign_nb.all_subjects`' (kept per subject, resumed after a kill) and the analyses
and sentences :mod:`palign_nb.pas_findings`'; this
module chooses what the loops run on and adds the saves, the glue of the prose and the
section's charts. The first subject's steps are in :mod:`palign_nb.pas_walkthrough`,
the data-efficiency curve of section 5.7 in :mod:`palign_nb.pas_efficiency`.

Introduced in :doc:`/notebooks/05_pas`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import altair as alt
import numpy as np
import pandas as pd

from . import charts, pas_findings
from .all_subjects import run_prompted
from .pas_every_subject import run_pas, run_pas_oracle
from .context import Chapter
from .errors import PalignError
from .inventories import KEYINGS, Inventory, check_name
from .paper_numbers import PAPER_MODEL, paper_composite
from .pas import ALPHA_CRITERIA, DIRECTION_KINDS
from .pas_subject import PASSettings, chapter_pas_settings
from .prompt_baselines import icl_system
from .prompts import DEFAULT_SYSTEM
from .splits import nested_known_subsets
from .store import load_predictions


@dataclass
class PASRun:
    """What every section of chapter 05 runs on, checked by :func:`setup` before any
    scoring."""

    settings: PASSettings
    acts: np.ndarray  # chapter 04's contrast activations of act_items
    act_items: list[str]
    known: list[str]  # probes and prompt (the validation items held back)
    validation: list[str]  # alpha is chosen on these
    paper_known: list[str]  # all known items: the oracle's prompt and probes
    test_items: list[str]
    keyings: list[str]  # the chapter's keying first
    oracle: bool
    variant_subjects: list  # the subjects that also run the oracle and the other keying
    unaligned: pd.DataFrame  # chapter 03's rows of the run's subjects and test items
    eff_keying: str  # 5.7: the keying, known-item subsets and subjects of the curve
    eff_subsets: dict[int, list[str]]
    eff_subjects: list


def setup(ch: Chapter) -> PASRun:
    """The chapter's items, keyings and settings from its parameters, every value
    checked (a count of known answers that is too large fails here, before any
    scoring)."""
    p, cfg, inv, splits = ch.params, ch.cfg, ch.inventory, ch.splits
    no_alignment = load_predictions(cfg, "no_alignment")
    acts, act_items = ch.activations()
    subjects = ch.subjects
    check_name(p["direction"], DIRECTION_KINDS, "direction")
    check_name(p["alpha_criterion"], tuple(ALPHA_CRITERIA), "alpha_criterion")
    known = [c for c in splits["known"] if c in act_items]
    test_items = ch.test_items(p["n_items"])
    eff_keying = check_name(
        p["efficiency_keying"] or cfg.keying, KEYINGS, "efficiency_keying"
    )
    eff_subsets = nested_known_subsets(known, inv, p["efficiency_counts"], cfg.seed)
    n_eff = p["efficiency_subjects"]
    if n_eff < 1:
        raise PalignError(
            f"efficiency_subjects={n_eff}: give at least 1 (the subjects that get the "
            "curve)."
        )
    # a count meant for the whole run, given to one part of it
    if n_eff > len(subjects):
        print(
            f"efficiency_subjects={n_eff} > this run's {len(subjects)} subjects: all "
            "of them get the curve"
        )
    n_variant = p["variant_subjects"]
    if n_variant is not None and n_variant < 1:
        raise PalignError(
            f"variant_subjects={n_variant}: give at least 1, or None for all subjects "
            "(oracle=False and both_keyings=False run neither variant)."
        )
    others = [k for k in ("papi", "literal") if k != cfg.keying]
    run = PASRun(
        settings=chapter_pas_settings(p, cfg.seed),
        acts=acts,
        act_items=act_items,
        known=known,
        validation=splits["validation"],
        paper_known=[c for c in splits["paper_known"] if c in act_items],
        test_items=test_items,
        keyings=[cfg.keying] + (others if p["both_keyings"] else []),
        oracle=bool(p["oracle"]),
        variant_subjects=list(subjects if n_variant is None else subjects[:n_variant]),
        unaligned=no_alignment[
            no_alignment["subject"].isin(subjects)
            & no_alignment["item"].isin(test_items)
        ],
        eff_keying=eff_keying,
        eff_subsets=eff_subsets,
        eff_subjects=list(subjects[:n_eff]),
    )
    print(
        f"{len(known)} known items (probes, prompt), {len(run.validation)} validation "
        f"items (alpha), {len(test_items)} test items; {run.settings}"
    )
    print(
        f"{len(subjects)} subjects; the oracle and the other keying on "
        f"{len(run.variant_subjects)} of them: {run.variant_subjects}"
    )
    return run


@dataclass
class Variants:
    """Section 5.5's predictions by (method, keying), their timings, and the PAS +
    prompt personas of the chapter's keying."""

    preds: dict[tuple[str, str], pd.DataFrame] = field(default_factory=dict)
    timing_parts: list[pd.DataFrame] = field(default_factory=list)
    personas: dict = field(default_factory=dict)

    @property
    def timings(self) -> pd.DataFrame:
        """Every loop's timings, with their keying."""
        return pd.concat(self.timing_parts, ignore_index=True)

    @property
    def chosen(self) -> pd.DataFrame:
        """Per subject and PAS variant: the alpha it was scored with and whether it fell
        back."""
        return pd.concat(
            [
                pas_findings.subject_alphas(table).assign(method=m, keying=k)
                for (m, k), table in self.preds.items()
                if m.startswith("pas_")
            ]
        ).reset_index()


def icl_prompts(
    answers: pd.DataFrame, items: list[str], inventory: Inventory, keying: str
) -> Callable[[object], str]:
    """A subject's few-shot system prompt listing their answers to ``items``."""
    return lambda s: icl_system(answers, s, items, inventory, keying)


#: What :func:`align_every_subject` can run for a keying, in the chapter's order.
PARTS = ("pas_icl", "pas_alone", "icl_known", "pas_oracle")


def align_every_subject(
    ch: Chapter,
    run: PASRun,
    key: str,
    variants: Variants,
    parts: tuple[str, ...] = PARTS,
    fits: dict | None = None,
) -> None:
    """``parts`` of section 5.5 under keying ``key``, into ``variants``: PAS + prompt,
    PAS alone, the prompt alone and (``run.oracle``) the paper's oracle; the personas are
    saved. The chapter's keying runs every subject, except the oracle, which runs
    ``run.variant_subjects``; the other keying runs ``run.variant_subjects`` only.
    ``fits``: PAS + prompt alignments already made under ``key`` (the walkthrough's
    first subject), reused (:func:`palign_nb.pas_every_subject.run_pas`)."""
    unknown = [p for p in parts if p not in PARTS]
    if unknown:
        raise PalignError(f"parts {unknown}: choose from {', '.join(PARTS)}.")
    lm, answers, inv = ch.model, ch.answers, ch.inventory
    main = key == ch.cfg.keying
    subjects = ch.subjects if main else run.variant_subjects
    s = run.settings
    prompt_of = icl_prompts(answers, run.known, inv, key)
    pas_systems = {"pas_icl": prompt_of, "pas_alone": lambda _: DEFAULT_SYSTEM}
    for method in [p for p in parts if p in pas_systems]:
        variants.preds[method, key], t, personas = run_pas(
            lm,
            run.acts,
            run.act_items,
            answers,
            subjects,
            method,
            pas_systems[method],
            run.known,
            run.validation,
            run.test_items,
            inv,
            key,
            s,
            checkpoints=ch.checkpoints(f"{method}_{key}"),
            fits=fits if method == "pas_icl" else None,
        )
        if method == "pas_icl" and main:
            variants.personas.update(personas)
        variants.timing_parts.append(t.assign(keying=key))
        ch.save_personas(method, key, personas)  # chapter 10 reads them back
    if "icl_known" in parts:
        variants.preds["icl_known", key], t = run_prompted(
            lm,
            answers,
            subjects,
            "icl_known",
            prompt_of,
            run.test_items,
            inv,
            s.batch_size,
            checkpoints=ch.checkpoints(f"icl_known_{key}"),
        )
        variants.timing_parts.append(t.assign(keying=key))
    # the paper's code: all known answers in prompt and probes, alpha on the test items
    if run.oracle and "pas_oracle" in parts:
        oracle, paper_icl, t = run_pas_oracle(
            lm,
            run.acts,
            run.act_items,
            answers,
            run.variant_subjects,
            icl_prompts(answers, run.paper_known, inv, key),
            run.paper_known,
            run.test_items,
            inv,
            key,
            s,
            checkpoints=ch.checkpoints(f"pas_oracle_{key}"),
        )
        variants.preds["pas_oracle", key] = oracle
        variants.preds["icl_paper", key] = paper_icl
        variants.timing_parts.append(t.assign(keying=key))


def methods_glue(
    ch: Chapter, run: PASRun, variants: Variants, scores: pd.DataFrame
) -> dict[str, Any]:
    """Section 5.5's glue: :func:`palign_nb.pas_findings.method_findings` and the run's
    counts (``scores``: :func:`palign_nb.pas_findings.method_scores`)."""
    key = ch.cfg.keying
    return {
        **pas_findings.method_findings(
            scores,
            variants.chosen,
            variants.timings,
            variants.preds["pas_icl", key],
            key,
            ch.inventory,
        ),
        "c05_n_subjects": len(ch.subjects),
        "c05_n_test_items": len(run.test_items),
        "c05_keying": key,
        "c05_keyings_run": keyings_run(key, run, len(ch.subjects)),
        "c05_n_variant_subjects": len(run.variant_subjects),
        "c05_n_known": len(run.known),
        "c05_n_paper_known": len(run.paper_known),
    }


def keyings_run(key: str, run: PASRun, n_subjects: int) -> str:
    """Which keyings the run scored, for the prose: the other one may cover only the
    first subjects (``variant_subjects``)."""
    n_other = len(run.variant_subjects)
    if len(run.keyings) == 1:
        return f"the {key} keying only"
    if n_other == n_subjects:
        return "both keyings"
    return f"the {key} keying (the other keying for the first {n_other} subjects)"


def methods_chart(scores: pd.DataFrame) -> alt.LayerChart:
    """Every method's composite (faithful) by keying, with the paper's PAS result for
    scale."""
    return charts.bar_scores(
        scores[scores["variant"] == "faithful"][["method", "keying", "composite"]],
        category="method",
        value="composite",
        color="keying",
        reference={f"paper, {PAPER_MODEL} (PAS)": paper_composite("PAS")},
        value_title="composite error (faithful)",
    )


def letter_chart(table: pd.DataFrame) -> alt.Chart:
    """One point per subject: the letter cosine of its directions against its
    one-sidedness."""
    return charts.scatter(
        table,
        x="one_sidedness",
        y="abs_letter_cosine",
        x_title="one-sidedness of the known answers",
        y_title="|cosine| with the letter vector",
        tooltip=["subject", "share_agree", "one_sidedness", "abs_letter_cosine"],
    )


def save_variants(ch: Chapter, run: PASRun, variants: Variants) -> None:
    """Section 5.5's predictions, timings and chosen alphas, into the results store."""
    for (method, key), table in variants.preds.items():
        ch.save_predictions(
            method, table, keying=key, extra={"test_items": len(run.test_items)}
        )
    timings, chosen = variants.timings, variants.chosen
    ch.save_timings(timings, wall_s=float(timings["seconds"].sum()))
    ch.save_table("pas_alphas", chosen)
    print(
        f"wrote {len(variants.preds)} prediction tables and {len(chosen)} personas "
        f"under {ch.cfg.results_path}"
    )

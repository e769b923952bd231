"""Chapter 09's outcome sentences agree with the numbers they judge, for any run (issue 15).

Chapter 09 glues every sentence that states an outcome of the run (which method is best, how many
beat always C, whether a difference can be significant, which way a curve goes) as Markdown chosen
by the numbers. :func:`contradictions` reads an executed chapter 09's glue back and checks each such
sentence against the glued numbers it judges, with its own parsing of the words (it does not call
the chapter's choosers), so a sentence that says the opposite of its numbers is caught.

:func:`synthetic_store` rewrites a copy of a results store so that the outcomes are known by
construction (PAS perfect and every other method as wrong as possible, or the reverse), which lets
``tests/test_chapters_smoke.py`` run chapter 09 on opposite outcomes after the smoke run and check
that its sentences flip with them. The tests in this file check the checker itself: it passes
consistent sentences and flags each kind of contradiction.
"""

from __future__ import annotations

import ast
import math
import re
import shutil
from pathlib import Path

import nbformat
import pandas as pd
import pytest

from palign_nb.comparison import label
from palign_nb.controls import PREDICTORS
from palign_nb.findings import (
    TIE,
)  # the chapter's rule: differences up to this are ties
from palign_nb.significance import (
    DEGENERATE_VERDICT as DEGENERATE,
)  # a claim PAS wins while answering one letter

#: Chapter 09's predictors that need no model (not model-based methods), by label.
NO_MODEL = tuple(PREDICTORS.values())
#: The label of PAS + prompt, and of its own prompt without steering (chapter 05).
PAS, KNOWN_PROMPT = label("pas_icl"), label("icl_known")
#: The paper's main model and scale (its Table 1: Llama-3-8B-Instruct, 300 subjects, 180 test items).
PAPER_MODEL, PAPER_SUBJECTS, PAPER_ITEMS = "llama-3-8b-instruct", 300, 180


# --- reading an executed notebook's glue ----------------------------------------------------------


def glued_bundles(path: Path) -> dict[str, dict[str, str]]:
    """{name: {mime type: data}} of every output glued with myst_nb.glue (metadata ``scrapbook.name``), the mime
    types without glue's prefix (``application/papermill.record/`` for display=False). A name glued twice fails
    (the book warns, and -W fails)."""
    bundles: dict[str, dict[str, str]] = {}
    for cell in nbformat.read(path, as_version=4).cells:
        for output in cell.get("outputs", []) if cell.cell_type == "code" else []:
            meta = output.get("metadata", {}).get("scrapbook")
            if not meta:
                continue
            assert meta["name"] not in bundles, (
                f"glue key {meta['name']!r} is glued twice"
            )
            prefix = meta.get("mime_prefix", "")
            bundles[meta["name"]] = {
                k.removeprefix(prefix): v for k, v in output.get("data", {}).items()
            }
    return bundles


def read_scraps(path: Path) -> dict[str, object]:
    """{name: value} of every glued output: Markdown as its text, everything else literal-evaluated when possible."""
    scraps: dict[str, object] = {}
    for name, data in glued_bundles(path).items():
        if "text/markdown" in data:
            scraps[name] = data["text/markdown"]
            continue
        text = data.get("text/plain", "")
        try:
            scraps[name] = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            scraps[name] = (
                float(text) if text.strip() in {"nan", "inf", "-inf"} else text
            )
    return scraps


# --- parsing the words -----------------------------------------------------------------------------


def parse_count(text: str) -> tuple[int, int]:
    """(k, n) of a palign_nb.findings.count_of phrase found in ``text``."""
    for pattern, read in [
        (r"\bnone of the (\d+) ", lambda m: (0, int(m[1]))),
        (r"\ball (\d+) ", lambda m: (int(m[1]), int(m[1]))),
        (r"\b(\d+) of the (\d+) ", lambda m: (int(m[1]), int(m[2]))),
        (r"\bnot the only ", lambda m: (0, 1)),
        (r"\bthe only ", lambda m: (1, 1)),
    ]:
        match = re.search(pattern, text, flags=re.I)
        if match:
            return read(match)
    raise AssertionError(f"no count in {text!r}")


def parse_names(text: str) -> list[str]:
    """The method labels a sentence names in bold: '**A**, **B** and **C**' -> [A, B, C] (a label may hold a comma)."""
    return re.findall(r"\*\*(.+?)\*\*", text)


def best_named(sentence: str) -> tuple[list[str], str]:
    """The methods a 'best' sentence names, and the score it quotes."""
    one = re.search(
        r"the best model-based method is (\*\*.+?\*\*) \(([-\d.]+|nan)\)", sentence
    )
    tie = re.search(
        r"^(.+) tie as the best model-based methods \(([-\d.]+|nan)\)", sentence
    )
    if one or tie:
        return parse_names((one or tie)[1]), (one or tie)[2]
    raise AssertionError(f"no best method in {sentence!r}")


def lowest(scores: dict[str, float]) -> tuple[set[str], float]:
    low = min(scores.values())
    return {m for m, s in scores.items() if s - low <= TIE}, low


def model_scores(composites: dict[str, float]) -> dict[str, float]:
    return {m: s for m, s in composites.items() if m not in NO_MODEL}


def n_beating(composites: dict[str, float], bar: str = label("always_C")) -> int:
    return sum(s < composites[bar] - TIE for s in model_scores(composites).values())


def trend_of(sentence: str, name: str) -> tuple[str, str, str] | None:
    """(verb, first, last) of '<name> improves from a to b' / 'worsens from a to b' / 'stays at a'."""
    match = re.search(
        re.escape(name) + r" (improves|worsens) from ([-\d.]+) to ([-\d.]+)", sentence
    )
    if match:
        return match[1], match[2], match[3]
    match = re.search(re.escape(name) + r" stays at ([-\d.]+)", sentence)
    return ("stays", match[1], match[1]) if match else None


# --- the checks --------------------------------------------------------------------------------------


def contradictions(g: dict[str, object]) -> list[str]:
    """Every outcome sentence of chapter 09's glue ``g`` that disagrees with its numbers (empty: all agree)."""
    bad: list[str] = []

    def expect(ok: bool, key: str, why: str) -> None:
        if not ok:
            bad.append(f"{key}: {why}: {g.get(key)!r}")

    composites = g["c09_composites"]
    models = model_scores(composites)

    # 9.1 coverage: "the same number" exactly when every table has the same subjects and rows
    sizes = {tuple(v) for v in g["c09_table_sizes"].values()}
    expect(
        ("same number" in g["c09_coverage_finding"]) == (len(sizes) == 1),
        "c09_coverage_finding",
        f"table sizes {sorted(sizes)}",
    )

    # 9.2 what differs from the paper
    differ = g["c09_differ_finding"]
    expect(
        ("the model" in differ) == (PAPER_MODEL not in str(g["c09_model"]).lower()),
        "c09_differ_finding",
        f"model {g['c09_model']!r}",
    )
    expect(
        ("the scale" in differ)
        == ((g["c09_n_subjects"], g["c09_n_items"]) != (PAPER_SUBJECTS, PAPER_ITEMS)),
        "c09_differ_finding",
        f"{g['c09_n_subjects']} subjects x {g['c09_n_items']} items",
    )

    # 9.2 the best method(s), and how many beat always C
    named, score = best_named(g["c09_best_finding"])
    tied, low = lowest(models)
    expect(
        set(named) == tied and score == f"{low:.2f}",
        "c09_best_finding",
        f"lowest composites {sorted(tied)} at {low}",
    )
    expect(
        g["c09_best_method"] in tied,
        "c09_best_method",
        f"not among the lowest {sorted(tied)}",
    )
    k, n = parse_count(g["c09_beat_c_finding"])
    expect(
        (k, n) == (n_beating(composites), len(models)),
        "c09_beat_c_finding",
        f"{n_beating(composites)} of {len(models)} methods are below always C ({composites[label('always_C')]})",
    )
    expect(
        n == 1
        or g["c09_beat_c_finding"].endswith("beats the constant answer") == (k == 1),
        "c09_beat_c_finding",
        "verb agreement",
    )
    said_better = (
        "better than that" in g["c09_paper_c_finding"]
        and "no better than that" not in g["c09_paper_c_finding"]
    )
    expect(
        said_better == (g["c09_paper_always_c"] < g["c09_paper_pas"] - TIE)
        and f"{g['c09_paper_always_c']:.2f}" in g["c09_paper_c_finding"],
        "c09_paper_c_finding",
        f"always C {g['c09_paper_always_c']} vs paper PAS {g['c09_paper_pas']}",
    )

    # 9.2 the bar: the strongest predictor that needs no model, and how many model-based methods beat it
    no_model = {m: s for m, s in composites.items() if m in NO_MODEL}
    strongest, bar = lowest(no_model)
    controls = g["c09_controls_finding"]
    expect(
        set(parse_names(controls.split(";", 1)[0])) == strongest
        and f"({bar:.2f})" in controls,
        "c09_controls_finding",
        f"lowest no-model composites {sorted(strongest)} at {bar}",
    )
    expect(
        math.isclose(g["c09_strongest_score"], bar),
        "c09_strongest_score",
        f"the lowest no-model composite is {bar}",
    )
    n_bar = sum(s < bar - TIE for s in models.values())
    expect(
        parse_count(controls.split(";", 1)[-1]) == (n_bar, len(models)),
        "c09_controls_finding",
        f"{n_bar} of {len(models)} methods are below the bar {bar}",
    )

    # 9.2 readouts beyond the argmax: how many methods are degenerate, how many the calibrated median helps
    if "c09_readout_numbers" in g:
        numbers = g[
            "c09_readout_numbers"
        ]  # method: [argmax composite, calibrated-median composite, modal share]
        first, second = g["c09_readouts_finding"].split(";", 1)
        n_degenerate = sum(
            share > g["c09_degenerate_at"] for _, _, share in numbers.values()
        )
        expect(
            parse_count(first) == (n_degenerate, len(numbers)),
            "c09_readouts_finding",
            f"{n_degenerate} of {len(numbers)} modal shares above {g['c09_degenerate_at']}",
        )
        calibrated = [(a, c) for a, c, _ in numbers.values() if c is not None]
        n_better = sum(c < a - TIE for a, c in calibrated)
        expect(
            parse_count(second) == (n_better, len(calibrated)),
            "c09_readouts_finding",
            f"the calibrated median is better for {n_better} of {len(calibrated)}",
        )

    # ... and the bars of the readout table: the item prior's RPS, the best profile r of a no-model predictor
    more, bars = (
        g["c09_readout_more"],
        g["c09_readout_bars"],
    )  # method: [RPS, profile r]
    rps_part, r_part = g["c09_readout_bar_finding"].split(";", 1)
    n_rps = sum(
        bars["RPS"] is not None
        and more[m][0] is not None
        and more[m][0] < bars["RPS"] - TIE
        for m in bars["with_dist"]
    )
    expect(
        parse_count(rps_part) == (n_rps, len(bars["with_dist"])),
        "c09_readout_bar_finding",
        f"{n_rps} of {len(bars['with_dist'])} RPS below the item prior's {bars['RPS']}",
    )
    if bars["profile r"] is None:
        expect(
            "no predictor that needs no model has a profile r" in r_part,
            "c09_readout_bar_finding",
            "no r bar",
        )
    else:
        n_r = sum(
            v[1] is not None and v[1] > bars["profile r"] + TIE for v in more.values()
        )
        expect(
            parse_count(r_part) == (n_r, len(more))
            and f"({bars['profile r']:.2f})" in r_part,
            "c09_readout_bar_finding",
            f"{n_r} of {len(more)} profile r above {bars['profile r']}",
        )

    # 9.3 significance
    min_p = g["c09_min_p_subjects"]
    expect(
        math.isclose(min_p, 2.0 ** (1 - g["c09_n_subjects"])),
        "c09_min_p_subjects",
        f"2 / 2^n for n = {g['c09_n_subjects']}",
    )
    possible = not g["c09_significance_finding"].startswith(
        "no difference can be significant"
    )
    expect(
        possible == (min_p < 0.05),
        "c09_significance_finding",
        f"smallest possible p {min_p}",
    )
    k, n = parse_count(g["c09_n_sig_finding"])
    expect(
        (k, n) == (g["c09_n_sig_subjects"], g["c09_n_compared"]),
        "c09_n_sig_finding",
        f"{g['c09_n_sig_subjects']} of {g['c09_n_compared']}",
    )
    expect(
        possible or k == 0,
        "c09_n_sig_finding",
        "significant differences where none is possible",
    )

    # 9.3 PAS's interval on the paper's metric against the bar (one subject: nothing to resample)
    _, low_ci, high_ci = g["c09_pas_ci"]
    ci = g["c09_ci_finding"]
    if g["c09_n_subjects"] == 1:
        expect("nothing to resample" in ci, "c09_ci_finding", "one subject")
    else:
        where = (
            "entirely below"
            if high_ci < bar - TIE
            else "entirely above"
            if low_ci > bar + TIE
            else "contains"
        )
        expect(
            where in ci and f"({low_ci:.2f} to {high_ci:.2f})" in ci,
            "c09_ci_finding",
            f"PAS's interval [{low_ci}, {high_ci}] against the bar {bar}: {where}",
        )

    # 9.8 verdicts: "does not reproduce" exactly when the other method is not worse than PAS; a PAS that answers
    # (almost) one letter and scores better is judged degenerate instead of by its rank
    verdicts = g[
        "c09_verdicts"
    ]  # the other method's label -> verdict, one per claim with a paired test
    pas_degenerate = g["c09_readout_numbers"][PAS][2] > g["c09_degenerate_at"]
    for other, verdict in verdicts.items():
        diff = composites[other] - composites[PAS]
        key, against_label = "c09_verdicts", f"{other} ({verdict!r})"
        if diff > TIE:
            expect(
                verdict
                in (
                    {DEGENERATE}
                    if pas_degenerate
                    else {"reproduces", "same direction, not significant"}
                ),
                key,
                f"{against_label}: PAS is better by {diff:.3g}"
                + (" and answers one letter" if pas_degenerate else ""),
            )
        elif diff < -TIE:
            expect(
                verdict == "does not reproduce",
                key,
                f"{against_label}: PAS is worse by {-diff:.3g}",
            )
        expect(
            verdict != DEGENERATE or (pas_degenerate and diff > -TIE),
            key,
            f"{against_label}: degenerate although PAS does not answer one letter, or scores worse",
        )
        expect(
            verdict != "reproduces" or possible,
            key,
            f"{against_label}: 'reproduces' although the smallest possible p is {min_p}",
        )
    for key, method in [
        ("c09_verdict_icl", "icl"),
        ("c09_verdict_dpo", "dpo"),
        ("c09_verdict_grpo", "grpo"),
        ("c09_verdict_steering", "icl_known"),
    ]:
        name = label(method)
        expect(
            g[key] == verdicts.get(name),
            key,
            f"the claims table says {verdicts.get(name)!r} for {name}",
        )
    against = [other for other in verdicts if other in NO_MODEL]
    expect(
        len(against) == 1
        and against[0] in strongest
        and g["c09_verdict_control"] == verdicts[against[0]],
        "c09_verdict_control",
        f"the strongest no-model predictors are {sorted(strongest)}, the claims name {against}",
    )
    n_reproduce = sum(v == "reproduces" for v in verdicts.values())
    n_degenerate = sum(v == DEGENERATE for v in verdicts.values())
    first, *rest = g["c09_reproduce_finding"].split(";", 1)
    expect(
        parse_count(first) == (n_reproduce, len(verdicts))
        and g["c09_n_reproduce"] == n_reproduce,
        "c09_reproduce_finding",
        f"{n_reproduce} of {len(verdicts)} verdicts are 'reproduces'",
    )
    expect(
        (f"so the {n_degenerate} where it scores better" in "".join(rest))
        if n_degenerate
        else not rest,
        "c09_reproduce_finding",
        f"{n_degenerate} verdicts are degenerate",
    )

    # 9.8 the oracle: a leak only like for like (its gain over its own prompt at alpha 0 minus the clean gain)
    numbers, leak_text = g["c09_oracle_numbers"], g["c09_leak_finding"]
    if numbers["oracle"] is None:
        expect(
            "was not run" in leak_text and "leak is" not in leak_text,
            "c09_leak_finding",
            "the oracle was not run",
        )
    elif numbers["oracle at alpha 0"] is None:
        expect(
            "not called a leak" in leak_text and "flatters" not in leak_text,
            "c09_leak_finding",
            "the oracle's alpha-0 prompt is not stored",
        )
    else:
        oracle_gain = numbers["oracle at alpha 0"] - numbers["oracle"]
        clean_gain = numbers[KNOWN_PROMPT] - numbers[PAS]
        leak = oracle_gain - clean_gain
        expect(
            f"a gain of {clean_gain:.2f}" in leak_text
            and f"a gain of {oracle_gain:.2f}" in leak_text,
            "c09_leak_finding",
            f"gains {clean_gain} (alpha on validation) and {oracle_gain} (alpha on test)",
        )
        expect(
            (f"flatters PAS by {leak:.2f}" in leak_text)
            if leak > TIE
            else ("no leak" in leak_text and "flatters" not in leak_text),
            "c09_leak_finding",
            f"leak {leak}",
        )
    expect(
        (
            "better than" in g["c09_bar_finding"]
            and "no better than" not in g["c09_bar_finding"]
        )
        == (g["c09_paper_always_c"] < g["c09_paper_best"] - TIE),
        "c09_bar_finding",
        f"always C {g['c09_paper_always_c']} vs the paper's best {g['c09_paper_best']}",
    )
    share = g["c09_base_modal_share"]
    expect(
        f"({share:.0%})" in g["c09_limits_finding"],
        "c09_limits_finding",
        f"the no-alignment modal share {share}",
    )
    expect(
        (f"spread across {g['c09_n_subjects']} subject" in g["c09_limits_finding"]),
        "c09_limits_finding",
        f"{g['c09_n_subjects']} subjects",
    )

    # 9.4 the Dark Triad
    if "c09_sd3_composites" in g:
        sd3 = g["c09_sd3_composites"]
        named, score = best_named(g["c09_sd3_best_finding"])
        tied, low = lowest(model_scores(sd3))
        expect(
            set(named) == tied and score == f"{low:.2f}",
            "c09_sd3_best_finding",
            f"lowest {sorted(tied)} at {low}",
        )
        expect(
            parse_count(g["c09_sd3_beat_c_finding"])
            == (n_beating(sd3), len(model_scores(sd3))),
            "c09_sd3_beat_c_finding",
            f"{n_beating(sd3)} of {len(model_scores(sd3))} below always C",
        )

    # 9.5 efficiency
    expect(
        ("train for only" in g["c09_steps_finding"])
        == (g["c09_dpo_steps"] < g["c09_paper_dpo_steps"]),
        "c09_steps_finding",
        f"{g['c09_dpo_steps']} DPO steps vs the paper's {g['c09_paper_dpo_steps']}",
    )
    expect(
        f"({g['c09_alpha_share']:.0%})" in g["c09_alpha_share_finding"],
        "c09_alpha_share_finding",
        f"alpha share {g['c09_alpha_share']}",
    )

    # 9.6 data efficiency: the verb and its reading follow the two ends of each curve
    for name, first_key, last_key in [
        ("PAS with the prompt", "c09_eff_pas_first", "c09_eff_pas_last"),
        ("few-shot", "c09_eff_icl_first", "c09_eff_icl_last"),
    ]:
        first, last = g[first_key], g[last_key]
        found = trend_of(g["c09_eff_finding"], name)
        verb = (
            "stays"
            if abs(last - first) <= TIE
            else "improves"
            if last < first
            else "worsens"
        )
        expect(
            found is not None and found == (verb, f"{first:.2f}", f"{last:.2f}"),
            "c09_eff_finding",
            f"{name}: {first} -> {last} ({verb})",
        )
        clause = (
            g["c09_eff_finding"].split(name, 1)[1].split(")", 1)[0]
            if name in g["c09_eff_finding"]
            else ""
        )
        reading = {
            "stays": "flat curve",
            "improves": "gains from the extra answers",
            "worsens": "did not help",
        }[verb]
        expect(
            reading in clause,
            "c09_eff_finding",
            f"{name}'s reading should say {reading!r}",
        )

    # 9.7 keying
    expect(
        parse_count(g["c09_rank_finding"])
        == (g["c09_n_rank_changes"], g["c09_rank_methods"]),
        "c09_rank_finding",
        f"{g['c09_n_rank_changes']} of {g['c09_rank_methods']}",
    )
    by_key: dict[str, dict[str, float]] = {}
    for name, value in g["c09_keying_composites"].items():
        method, key = name.rsplit("|", 1)
        if method not in NO_MODEL:
            by_key.setdefault(key, {})[method] = value
    sentence = g["c09_best_keying_finding"]
    both = re.search(r"methods? (?:is|are) (.+) under both conventions", sentence)
    if both:
        said = {"papi": set(parse_names(both[1])), "literal": set(parse_names(both[1]))}
    else:
        split = re.search(
            r"methods? (?:is|are) (.+) under the paper's convention and (.+) under the literal one",
            sentence,
        )
        said = (
            {"papi": set(parse_names(split[1])), "literal": set(parse_names(split[2]))}
            if split
            else {}
        )
    expect(
        said == {key: lowest(scores)[0] for key, scores in by_key.items()},
        "c09_best_keying_finding",
        f"lowest per keying { ({k: sorted(lowest(v)[0]) for k, v in by_key.items()}) }",
    )
    papi_only = g["c09_papi_only_finding"]
    expect(
        (g["c09_n_papi_only"] == 0 and "every method" in papi_only)
        or (
            g["c09_n_papi_only"] > 0
            and parse_count(papi_only)[0] == g["c09_n_papi_only"]
        ),
        "c09_papi_only_finding",
        f"{g['c09_n_papi_only']} methods show papi labels",
    )
    return bad


# --- synthetic stores with known outcomes --------------------------------------------------------------

#: PAS's tables (the chapter's "PAS + prompt"); every other predictions table is "the others".
PAS_TABLES = ("predictions_pas_icl_papi", "predictions_pas_icl_literal")


def _targets(table: pd.DataFrame, keying: str) -> pd.Series:
    from palign_nb.inventories import get_inventory
    from palign_nb.metrics import add_targets

    return add_targets(table, get_inventory("ipip"), keying)["target"]


def _answer(table: pd.DataFrame, keying: str, right: bool) -> pd.Series:
    """Predictions that are exactly right (a missing target gets 3), or as far from the target as the scale allows."""
    target = _targets(table, keying)
    if right:
        return target.where(target > 0, 3).astype(float)
    return target.map(lambda t: 1.0 if t >= 3 else 5.0)


def synthetic_store(
    source: Path, dest: Path, pas_best: bool, n_subjects: int = 6
) -> Path:
    """A copy of the results store ``source`` in which the Big Five outcomes are known by construction.

    Every IPIP predictions table is widened to ``n_subjects`` of the store's test subjects (the run's
    rows copied, each with that subject's stored answers), so that a paired test can reach p < 0.05
    (2 / 2^6 < 0.05). With ``pas_best``, PAS + prompt answers every item right and every other method
    as wrong as the scale allows; otherwise the reverse. In the data-efficiency table the winner of
    that choice goes from wrong (fewest known answers) to right (most), the loser the other way.
    The Dark Triad tables and timings are kept as they are; each rewritten table gets its manifest line.
    """
    import json

    from palign_nb import store
    from palign_nb.config import RunConfig
    from palign_nb.data import load_answers

    shutil.copytree(
        source,
        dest,
        ignore=shutil.ignore_patterns(
            "activations", "adapters", "personas", "checkpoints"
        ),
    )
    ipip = next(dest.glob("*/ipip"))
    cfg = RunConfig(model_id=ipip.parent.name, results_dir=str(dest))
    writers = dict(zip(*store.read_manifest(cfg)[["name", "chapter"]].to_numpy().T))
    splits = json.loads((ipip / "splits.json").read_text())
    answers = load_answers("ipip")
    for path in sorted(ipip.glob("predictions_*.csv")):
        table = pd.read_csv(path)
        if not {"subject", "item", "predicted", "stored"} <= set(table.columns):
            continue
        ran = table["subject"].iloc[0]
        base = table[table["subject"] == ran]
        others = [s for s in splits["test_subjects"] if s != ran][: n_subjects - 1]
        wide = pd.concat(
            [base]
            + [
                base.assign(subject=s, stored=answers.loc[s, base["item"]].to_numpy())
                for s in others
            ],
            ignore_index=True,
        )
        if path.stem == "predictions_data_efficiency":
            wide["predicted"] = wide["predicted"].astype(float)
            for (method, n_known, keying), part in wide.groupby(
                ["method", "n_known", "keying"]
            ):
                wins = (method == "pas_icl") == pas_best
                right = wins == (
                    n_known == wide.loc[wide["method"] == method, "n_known"].max()
                )
                wide.loc[part.index, "predicted"] = _answer(
                    part, keying, right
                ).to_numpy()
        else:
            keying = "literal" if path.stem.endswith("_literal") else "papi"
            wide["predicted"] = _answer(
                wide, keying, right=(path.stem in PAS_TABLES) == pas_best
            ).to_numpy()
        store.save_table(
            cfg, path.stem, wide, chapter=writers[path.stem]
        )  # rewritten through the store: listed anew
    return dest


# --- the checker can fail ------------------------------------------------------------------------------


def consistent_glue() -> dict[str, object]:
    """A hand-made glue of chapter 09 whose sentences all agree with its numbers."""
    return {
        "c09_table_sizes": {"PAS + prompt": [1, 10], "DPO": [1, 12]},
        "c09_coverage_finding": "The chapters ran different numbers of subjects or items (the fewest rows: chapter 05).",
        "c09_model": "smollm2-135m-instruct",
        "c09_n_subjects": 1,
        "c09_n_items": 10,
        "c09_differ_finding": "the model, the scale and the α protocol (the paper chose α on the test items) differ",
        "c09_composites": {
            "no alignment": 6.0,
            "few-shot (ICL)": 5.5,
            "few-shot, validation held out": 5.2,
            "PAS + prompt": 5.0,
            "DPO": 4.0,
            "RL (GRPO)": 4.0,
            "always C": 4.5,
            "trait mean": 4.2,
            "item prior (leave one out)": 4.1,
            "trait offset": 4.3,
            "best constant": 4.5,
        },
        "c09_best_finding": "**DPO** and **RL (GRPO)** tie as the best model-based methods (4.00)",
        "c09_best_method": "DPO",
        "c09_beat_c_finding": "2 of the 6 model-based methods beat the constant answer",
        "c09_strongest_score": 4.1,
        "c09_controls_finding": "The strongest predictor that needs no model is **item prior (leave one out)** (4.10); "
        "2 of the 6 model-based methods beat it.",
        "c09_paper_always_c": 3.8,
        "c09_paper_pas": 4.41,
        "c09_paper_best": 4.41,
        "c09_paper_c_finding": "The paper's PAS reaches 4.41 with Llama-3-8B-Instruct; on the paper's own 300 test "
        "subjects the always-C predictor scores 3.80 (chapter 02), better than that.",
        "c09_degenerate_at": 0.9,
        "c09_readout_numbers": {
            "PAS + prompt": [5.0, 4.0, 0.5],
            "DPO": [4.0, 4.5, 1.0],
            "no alignment": [6.0, 5.0, 0.95],
        },
        "c09_readouts_finding": "2 of the 3 model-based methods are degenerate in this run (modal share above 90%); the "
        "calibrated median scores better than the argmax letter for 2 of the 3 model-based methods.",
        "c09_readout_more": {
            "PAS + prompt": [3.0, 0.3],
            "DPO": [2.0, None],
            "no alignment": [2.6, None],
        },
        "c09_readout_bars": {
            "RPS": 2.5,
            "profile r": 0.2,
            "r_from": "trait offset",
            "with_dist": ["PAS + prompt", "DPO", "no alignment"],
        },
        "c09_readout_bar_finding": "On the RPS, 1 of the 3 methods with a distribution beats the item prior's 2.50; on the "
        "profile r, 1 of the 3 model-based methods ranks the person's items better than the "
        "trait offset does (0.20).",
        "c09_pas_ci": [5.0, 5.0, 5.0],
        "c09_ci_finding": "With one subject the bootstrap has nothing to resample: every interval is a single point, so "
        "none of them says how sure a number is.",
        "c09_min_p_subjects": 1.0,
        "c09_significance_finding": "no difference can be significant at this scale (the smallest p-value possible is 1)",
        "c09_n_sig_subjects": 0,
        "c09_n_compared": 6,
        "c09_n_sig_finding": "none of the 6 paired comparisons are significant over subjects",
        "c09_verdict_icl": "same direction, not significant",
        "c09_verdict_dpo": "does not reproduce",
        "c09_verdict_grpo": "does not reproduce",
        "c09_n_reproduce": 0,
        "c09_verdict_control": "does not reproduce",
        "c09_verdict_steering": "same direction, not significant",
        "c09_verdicts": {
            "few-shot (ICL)": "same direction, not significant",
            "DPO": "does not reproduce",
            "RL (GRPO)": "does not reproduce",
            "no alignment": "same direction, not significant",
            "item prior (leave one out)": "does not reproduce",
            "few-shot, validation held out": "same direction, not significant",
        },
        "c09_reproduce_finding": "None of the 6 claims with a paired test reproduce with statistical support.",
        "c09_oracle_numbers": {
            "oracle": 4.6,
            "oracle at alpha 0": 5.5,
            "PAS + prompt": 5.0,
            "few-shot, validation held out": 5.2,
        },
        "c09_leak_finding": "Like for like, steering moves its own prompt from 5.20 to 5.00 with α chosen on validation "
        "items (a gain of 0.20) and from 5.50 to 4.60 with α chosen on the test items (a gain of "
        "0.90); choosing α on the test items flatters PAS by 0.70: that difference is the leak.",
        "c09_bar_finding": "On the paper's own data, answering \"C\" everywhere scores 3.80, better than the paper's best",
        "c09_base_modal_share": 0.9,
        "c09_limits_finding": "What this run cannot tell: anything about Llama-3-8B-Instruct (without alignment, almost "
        "all of the items (90%) get its most common answer, E), and any difference smaller than "
        "the spread across 1 subject.",
        "c09_sd3_composites": {
            "PAS + prompt": 7.0,
            "DPO": 6.0,
            "always C": 6.5,
            "trait mean": 6.6,
        },
        "c09_sd3_best_finding": "the best model-based method is **DPO** (6.00)",
        "c09_sd3_beat_c_finding": "1 of the 2 model-based methods beats always C",
        "c09_dpo_steps": 1,
        "c09_paper_dpo_steps": 250,
        "c09_steps_finding": "Our preference baselines train for only 1 (DPO) and 1 (RL) steps; ...",
        "c09_alpha_share": 0.95,
        "c09_alpha_share_finding": "In this run the α search took almost all of PAS's alignment time (95%); ...",
        "c09_eff_pas_first": 5.0,
        "c09_eff_pas_last": 4.0,
        "c09_eff_icl_first": 5.0,
        "c09_eff_icl_last": 5.0,
        "c09_eff_finding": "PAS with the prompt improves from 5.00 to 4.00 (it gains from the extra answers in this run); "
        "few-shot stays at 5.00 (a flat curve: it does not use the extra answers here)",
        "c09_n_rank_changes": 2,
        "c09_rank_methods": 7,
        "c09_rank_finding": "Switching the convention changes the rank of 2 of the 7 rows (trivial predictors included).",
        "c09_keying_composites": {
            "PAS + prompt|papi": 5.0,
            "DPO|papi": 4.0,
            "always C|papi": 3.0,
            "PAS + prompt|literal": 4.0,
            "DPO|literal": 4.5,
            "always C|literal": 3.0,
        },
        "c09_best_keying_finding": "The best model-based method is **DPO** under the paper's convention and "
        "**PAS + prompt** under the literal one.",
        "c09_n_papi_only": 2,
        "c09_papi_only_finding": "Under literal targets 2 of the 7 methods still show the paper's labels ...",
    }


def consistent_glue_verdicts() -> dict[str, str]:
    return dict(consistent_glue()["c09_verdicts"])


def test_the_checker_passes_consistent_sentences():
    assert contradictions(consistent_glue()) == []


def degenerate_glue() -> dict[str, object]:
    """The consistent glue with PAS answering one letter: every claim it wins reads degenerate."""
    glue = consistent_glue()
    glue["c09_readout_numbers"] = glue["c09_readout_numbers"] | {
        "PAS + prompt": [5.0, 4.0, 0.95]
    }
    glue["c09_readouts_finding"] = (
        "All 3 model-based methods are degenerate in this run (modal share above 90%); the "
        "calibrated median scores better than the argmax letter for 2 of the 3 model-based methods."
    )
    won = {"few-shot (ICL)", "no alignment", "few-shot, validation held out"}
    glue["c09_verdicts"] = {
        m: DEGENERATE if m in won else v for m, v in glue["c09_verdicts"].items()
    }
    glue["c09_verdict_icl"] = glue["c09_verdict_steering"] = DEGENERATE
    glue["c09_reproduce_finding"] = (
        "None of the 6 claims with a paired test reproduce with statistical support; PAS "
        "answers one letter, so the 3 where it scores better are marked degenerate instead."
    )
    return glue


def test_a_one_letter_pas_is_judged_degenerate_where_it_wins():
    assert contradictions(degenerate_glue()) == []
    rank_based = degenerate_glue()
    rank_based["c09_verdicts"] = rank_based["c09_verdicts"] | {
        "few-shot (ICL)": "same direction, not significant"
    }
    assert any(
        p.startswith("c09_verdicts: few-shot (ICL)") for p in contradictions(rank_based)
    )
    losing = (
        degenerate_glue()
    )  # PAS is worse than DPO: that does not reproduce, whatever its letters
    losing["c09_verdicts"] = losing["c09_verdicts"] | {"DPO": DEGENERATE}
    assert any(p.startswith("c09_verdicts: DPO") for p in contradictions(losing))


def test_the_leak_needs_the_oracles_own_prompt():
    glue = consistent_glue()
    glue["c09_oracle_numbers"] = glue["c09_oracle_numbers"] | {
        "oracle at alpha 0": None,
        "few-shot, validation held out": None,
    }
    glue["c09_leak_finding"] = (
        "The oracle (α chosen on the test items) scores 4.60 against 5.00 for PAS with α chosen on "
        "validation items, but its prompt at α = 0 is not in the store, so the two differ in the "
        "prompt as well as in the α protocol: the gap is not like for like and is not called a leak here."
    )
    assert contradictions(glue) == []
    glue["c09_leak_finding"] = (
        "Choosing α on the test items flatters PAS by 0.40: that is the leak."
    )
    assert any(p.startswith("c09_leak_finding") for p in contradictions(glue))


@pytest.mark.parametrize(
    "key, wrong",
    [
        (
            "c09_best_finding",
            "the best model-based method is **DPO** (4.00)",
        ),  # a tie reported as one winner
        ("c09_best_finding", "the best model-based method is **PAS + prompt** (5.00)"),
        (
            "c09_beat_c_finding",
            "none of the 5 model-based methods beat the constant answer",
        ),
        (
            "c09_paper_c_finding",
            "... the always-C predictor scores 3.80 (chapter 02), no better than that.",
        ),
        (
            "c09_significance_finding",
            "a difference can reach p < 0.05 at this scale (the smallest p-value possible is 1)",
        ),
        (
            "c09_n_sig_finding",
            "1 of the 6 paired comparisons is significant over subjects",
        ),
        ("c09_verdict_icl", "does not reproduce"),  # few-shot 5.5 is worse than PAS 5.0
        (
            "c09_verdict_dpo",
            "same direction, not significant",
        ),  # DPO 4.0 is better than PAS 5.0
        (
            "c09_verdict_icl",
            "reproduces",
        ),  # better, but p cannot be below 0.05 with one subject
        (
            "c09_bar_finding",
            "On the paper's own data, answering \"C\" everywhere scores 3.80, no better than the paper's best",
        ),
        (
            "c09_sd3_best_finding",
            "the best model-based method is **PAS + prompt** (7.00)",
        ),
        (
            "c09_steps_finding",
            "Our preference baselines train for 1 (DPO) and 1 (RL) steps, DPO at least the paper's 250",
        ),
        (
            "c09_eff_finding",
            "PAS with the prompt worsens from 5.00 to 4.00 (the extra answers did not help it in this run); "
            "few-shot stays at 5.00 (a flat curve: it does not use the extra answers here)",
        ),
        (
            "c09_eff_finding",
            "PAS with the prompt improves from 5.00 to 4.00 (a flat curve: ...); "
            "few-shot stays at 5.00 (a flat curve: it does not use the extra answers here)",
        ),
        (
            "c09_readouts_finding",
            "None of the 3 model-based methods are degenerate in this run (modal share above 90%); "
            "the calibrated median scores better than the argmax letter for 2 of the 3 model-based methods.",
        ),
        (
            "c09_readouts_finding",
            "2 of the 3 model-based methods are degenerate in this run (modal share above 90%); "
            "the calibrated median scores better than the argmax letter for all 3 model-based methods.",
        ),
        (
            "c09_rank_finding",
            "Switching the convention changes the rank of none of the 7 rows (trivial predictors included).",
        ),
        (
            "c09_best_keying_finding",
            "The best model-based method is **DPO** under both conventions.",
        ),
        (
            "c09_coverage_finding",
            "Here every table holds the same number of subjects and rows.",
        ),
        (
            "c09_differ_finding",
            "the scale and the α protocol differ",
        ),  # the run's model is not the paper's
        # the bar, the readout bars, the intervals
        (
            "c09_controls_finding",
            "The strongest predictor that needs no model is **trait mean** (4.20); 2 of the 6 "
            "model-based methods beat it.",
        ),
        (
            "c09_controls_finding",
            "The strongest predictor that needs no model is **item prior (leave one out)** (4.10); "
            "none of the 6 model-based methods beat it.",
        ),
        (
            "c09_readout_bar_finding",
            "On the RPS, none of the 3 methods with a distribution beat the item prior's 2.50; on "
            "the profile r, 1 of the 3 model-based methods ranks the person's items better (0.20).",
        ),
        (
            "c09_readout_bar_finding",
            "On the RPS, 1 of the 3 methods with a distribution beats the item prior's 2.50; on "
            "the profile r, none of the 3 model-based methods rank the person's items better (0.20).",
        ),
        (
            "c09_ci_finding",
            "PAS's interval on the paper's metric (5.00 to 5.00) lies entirely above the strongest predictor",
        ),
        # the verdicts: degenerate only for a PAS that answers one letter, the new claims, the count
        (
            "c09_verdicts",
            consistent_glue_verdicts()
            | {"few-shot (ICL)": "degenerate (answers one letter)"},
        ),
        (
            "c09_verdicts",
            consistent_glue_verdicts()
            | {"few-shot, validation held out": "does not reproduce"},
        ),
        (
            "c09_verdicts",
            consistent_glue_verdicts()
            | {"item prior (leave one out)": "same direction, not significant"},
        ),
        ("c09_verdict_steering", "does not reproduce"),
        ("c09_verdict_control", "reproduces"),
        (
            "c09_reproduce_finding",
            "None of the 4 claims with a paired test reproduce with statistical support.",
        ),
        (
            "c09_reproduce_finding",
            "None of the 6 claims with a paired test reproduce with statistical support; PAS answers "
            "one letter, so the 3 where it scores better are marked degenerate instead.",
        ),
        # the oracle: a leak only like for like
        (
            "c09_leak_finding",
            "Like for like, steering moves its own prompt from 5.20 to 5.00 with α chosen on validation "
            "items (a gain of 0.20) and from 5.50 to 4.60 with α chosen on the test items (a gain of 0.90); "
            "choosing α on the test items adds nothing in this run: no leak.",
        ),
        (
            "c09_leak_finding",
            "Choosing α on the test items flatters PAS by 0.60 (4.60 against 5.00): that is the leak.",
        ),
    ],
)
def test_the_checker_flags_a_sentence_that_contradicts_its_numbers(key, wrong):
    glue = consistent_glue() | {key: wrong}
    assert any(problem.startswith(f"{key}:") for problem in contradictions(glue)), (
        f"{key} = {wrong!r} was not flagged"
    )


def test_a_tie_names_labels_that_hold_a_comma():
    two = "**PAS + prompt** and **PAS, alpha on test (oracle)** tie as the best model-based methods (4.00)"
    assert best_named(two) == (["PAS + prompt", "PAS, alpha on test (oracle)"], "4.00")
    glue = consistent_glue()
    glue["c09_composites"] = glue["c09_composites"] | {
        "PAS, alpha on test (oracle)": 4.0
    }
    glue["c09_beat_c_finding"] = (
        "3 of the 7 model-based methods beat the constant answer"
    )
    glue["c09_controls_finding"] = (
        "The strongest predictor that needs no model is **item prior (leave one out)** (4.10); "
        "3 of the 7 model-based methods beat it."
    )
    three = "**DPO**, **RL (GRPO)** and **PAS, alpha on test (oracle)** tie as the best model-based methods (4.00)"
    assert contradictions(glue | {"c09_best_finding": three}) == []
    assert [
        p
        for p in contradictions(glue | {"c09_best_finding": two})
        if p.startswith("c09_best_finding:")
    ]

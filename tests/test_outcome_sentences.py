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

#: Differences up to this are ties, as in palign_nb.findings.TIE (the chapter's rule).
TIE = 1e-9
#: Chapter 09's trivial predictors (not model-based methods).
TRIVIAL = ("always C", "trait mean")
#: The paper's main model and scale (its Table 1: Llama-3-8B-Instruct, 300 subjects, 180 test items).
PAPER_MODEL, PAPER_SUBJECTS, PAPER_ITEMS = "llama-3-8b-instruct", 300, 180


# --- reading an executed notebook's glue ----------------------------------------------------------


def read_scraps(path: Path) -> dict[str, object]:
    """{name: value} of every glued output: Markdown as its text, everything else literal-evaluated when possible."""
    scraps: dict[str, object] = {}
    for cell in nbformat.read(path, as_version=4).cells:
        for output in cell.get("outputs", []) if cell.cell_type == "code" else []:
            meta = output.get("metadata", {}).get("scrapbook")
            if not meta:
                continue
            data, prefix = output.get("data", {}), meta.get("mime_prefix", "")
            if prefix + "text/markdown" in data:
                scraps[meta["name"]] = data[prefix + "text/markdown"]
                continue
            text = data.get(prefix + "text/plain", "")
            try:
                scraps[meta["name"]] = ast.literal_eval(text)
            except (ValueError, SyntaxError):
                scraps[meta["name"]] = float(text) if text.strip() in {"nan", "inf", "-inf"} else text
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
    one = re.search(r"the best model-based method is (\*\*.+?\*\*) \(([-\d.]+|nan)\)", sentence)
    tie = re.search(r"^(.+) tie as the best model-based methods \(([-\d.]+|nan)\)", sentence)
    if one or tie:
        return parse_names((one or tie)[1]), (one or tie)[2]
    raise AssertionError(f"no best method in {sentence!r}")


def lowest(scores: dict[str, float]) -> tuple[set[str], float]:
    low = min(scores.values())
    return {m for m, s in scores.items() if s - low <= TIE}, low


def model_scores(composites: dict[str, float]) -> dict[str, float]:
    return {m: s for m, s in composites.items() if m not in TRIVIAL}


def n_beating(composites: dict[str, float], bar: str = "always C") -> int:
    return sum(s < composites[bar] - TIE for s in model_scores(composites).values())


def trend_of(sentence: str, name: str) -> tuple[str, str, str] | None:
    """(verb, first, last) of '<name> improves from a to b' / 'worsens from a to b' / 'stays at a'."""
    match = re.search(re.escape(name) + r" (improves|worsens) from ([-\d.]+) to ([-\d.]+)", sentence)
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
    expect(("same number" in g["c09_coverage_finding"]) == (len(sizes) == 1), "c09_coverage_finding",
           f"table sizes {sorted(sizes)}")

    # 9.2 what differs from the paper
    differ = g["c09_differ_finding"]
    expect(("the model" in differ) == (PAPER_MODEL not in str(g["c09_model"]).lower()), "c09_differ_finding",
           f"model {g['c09_model']!r}")
    expect(("the scale" in differ) == ((g["c09_n_subjects"], g["c09_n_items"]) != (PAPER_SUBJECTS, PAPER_ITEMS)),
           "c09_differ_finding", f"{g['c09_n_subjects']} subjects x {g['c09_n_items']} items")

    # 9.2 the best method(s), and how many beat always C
    named, score = best_named(g["c09_best_finding"])
    tied, low = lowest(models)
    expect(set(named) == tied and score == f"{low:.2f}", "c09_best_finding", f"lowest composites {sorted(tied)} at {low}")
    expect(g["c09_best_method"] in tied, "c09_best_method", f"not among the lowest {sorted(tied)}")
    k, n = parse_count(g["c09_beat_c_finding"])
    expect((k, n) == (n_beating(composites), len(models)), "c09_beat_c_finding",
           f"{n_beating(composites)} of {len(models)} methods are below always C ({composites['always C']})")
    expect(n == 1 or g["c09_beat_c_finding"].endswith("beats the constant answer") == (k == 1), "c09_beat_c_finding",
           "verb agreement")
    said_better = "better than that" in g["c09_paper_c_finding"] and "no better than that" not in g["c09_paper_c_finding"]
    expect(said_better == (g["c09_paper_always_c"] < g["c09_paper_pas"] - TIE)
           and f"{g['c09_paper_always_c']:.2f}" in g["c09_paper_c_finding"], "c09_paper_c_finding",
           f"always C {g['c09_paper_always_c']} vs paper PAS {g['c09_paper_pas']}")

    # 9.2 readouts beyond the argmax: how many methods are degenerate, how many the calibrated median helps
    if "c09_readout_numbers" in g:
        numbers = g["c09_readout_numbers"]  # method: [argmax composite, calibrated-median composite, modal share]
        first, second = g["c09_readouts_finding"].split(";", 1)
        n_degenerate = sum(share > g["c09_degenerate_at"] for _, _, share in numbers.values())
        expect(parse_count(first) == (n_degenerate, len(numbers)), "c09_readouts_finding",
               f"{n_degenerate} of {len(numbers)} modal shares above {g['c09_degenerate_at']}")
        calibrated = [(a, c) for a, c, _ in numbers.values() if c is not None]
        n_better = sum(c < a - TIE for a, c in calibrated)
        expect(parse_count(second) == (n_better, len(calibrated)), "c09_readouts_finding",
               f"the calibrated median is better for {n_better} of {len(calibrated)}")

    # 9.3 significance
    min_p = g["c09_min_p_subjects"]
    expect(math.isclose(min_p, 2.0 ** (1 - g["c09_n_subjects"])), "c09_min_p_subjects",
           f"2 / 2^n for n = {g['c09_n_subjects']}")
    possible = not g["c09_significance_finding"].startswith("no difference can be significant")
    expect(possible == (min_p < 0.05), "c09_significance_finding", f"smallest possible p {min_p}")
    k, n = parse_count(g["c09_n_sig_finding"])
    expect((k, n) == (g["c09_n_sig_subjects"], g["c09_n_compared"]), "c09_n_sig_finding",
           f"{g['c09_n_sig_subjects']} of {g['c09_n_compared']}")
    expect(possible or k == 0, "c09_n_sig_finding", "significant differences where none is possible")

    # 9.8 verdicts: "does not reproduce" exactly when the other method is not worse than PAS
    n_reproduce = 0
    for key, label in [("c09_verdict_icl", "few-shot (ICL)"), ("c09_verdict_dpo", "DPO"), ("c09_verdict_grpo", "RL (GRPO)")]:
        diff = composites[label] - composites["PAS + prompt"]
        verdict = g[key]
        n_reproduce += verdict == "reproduces"
        if diff > TIE:
            expect(verdict in {"reproduces", "same direction, not significant"}, key, f"PAS is better by {diff:.3g}")
        elif diff < -TIE:
            expect(verdict == "does not reproduce", key, f"PAS is worse by {-diff:.3g}")
        expect(verdict != "reproduces" or possible, key, f"'reproduces' although the smallest possible p is {min_p}")
    k, n = parse_count(g["c09_reproduce_finding"])
    expect(k == g["c09_n_reproduce"] and k >= n_reproduce and (possible or k == 0), "c09_reproduce_finding",
           f"{g['c09_n_reproduce']} claims reproduce ({n_reproduce} of the glued verdicts)")
    expect(("better than" in g["c09_bar_finding"] and "no better than" not in g["c09_bar_finding"])
           == (g["c09_paper_always_c"] < g["c09_paper_best"] - TIE), "c09_bar_finding",
           f"always C {g['c09_paper_always_c']} vs the paper's best {g['c09_paper_best']}")
    share = g["c09_base_modal_share"]
    expect(f"({share:.0%})" in g["c09_limits_finding"], "c09_limits_finding", f"the no-alignment modal share {share}")
    expect((f"spread across {g['c09_n_subjects']} subject" in g["c09_limits_finding"]), "c09_limits_finding",
           f"{g['c09_n_subjects']} subjects")

    # 9.4 the Dark Triad
    if "c09_sd3_composites" in g:
        sd3 = g["c09_sd3_composites"]
        named, score = best_named(g["c09_sd3_best_finding"])
        tied, low = lowest(model_scores(sd3))
        expect(set(named) == tied and score == f"{low:.2f}", "c09_sd3_best_finding", f"lowest {sorted(tied)} at {low}")
        expect(parse_count(g["c09_sd3_beat_c_finding"]) == (n_beating(sd3), len(model_scores(sd3))),
               "c09_sd3_beat_c_finding", f"{n_beating(sd3)} of {len(model_scores(sd3))} below always C")

    # 9.5 efficiency
    expect(("train for only" in g["c09_steps_finding"]) == (g["c09_dpo_steps"] < g["c09_paper_dpo_steps"]),
           "c09_steps_finding", f"{g['c09_dpo_steps']} DPO steps vs the paper's {g['c09_paper_dpo_steps']}")
    expect(f"({g['c09_alpha_share']:.0%})" in g["c09_alpha_share_finding"], "c09_alpha_share_finding",
           f"alpha share {g['c09_alpha_share']}")

    # 9.6 data efficiency: the verb and its reading follow the two ends of each curve
    for name, first_key, last_key in [("PAS with the prompt", "c09_eff_pas_first", "c09_eff_pas_last"),
                                      ("few-shot", "c09_eff_icl_first", "c09_eff_icl_last")]:
        first, last = g[first_key], g[last_key]
        found = trend_of(g["c09_eff_finding"], name)
        verb = "stays" if abs(last - first) <= TIE else "improves" if last < first else "worsens"
        expect(found is not None and found == (verb, f"{first:.2f}", f"{last:.2f}"), "c09_eff_finding",
               f"{name}: {first} -> {last} ({verb})")
        clause = g["c09_eff_finding"].split(name, 1)[1].split(")", 1)[0] if name in g["c09_eff_finding"] else ""
        reading = {"stays": "flat curve", "improves": "gains from the extra answers", "worsens": "did not help"}[verb]
        expect(reading in clause, "c09_eff_finding", f"{name}'s reading should say {reading!r}")

    # 9.7 keying
    expect(parse_count(g["c09_rank_finding"]) == (g["c09_n_rank_changes"], g["c09_rank_methods"]), "c09_rank_finding",
           f"{g['c09_n_rank_changes']} of {g['c09_rank_methods']}")
    by_key: dict[str, dict[str, float]] = {}
    for name, value in g["c09_keying_composites"].items():
        method, key = name.rsplit("|", 1)
        if method not in TRIVIAL:
            by_key.setdefault(key, {})[method] = value
    sentence = g["c09_best_keying_finding"]
    both = re.search(r"methods? (?:is|are) (.+) under both conventions", sentence)
    if both:
        said = {"papi": set(parse_names(both[1])), "literal": set(parse_names(both[1]))}
    else:
        split = re.search(r"methods? (?:is|are) (.+) under the paper's convention and (.+) under the literal one", sentence)
        said = {"papi": set(parse_names(split[1])), "literal": set(parse_names(split[2]))} if split else {}
    expect(said == {key: lowest(scores)[0] for key, scores in by_key.items()}, "c09_best_keying_finding",
           f"lowest per keying {({k: sorted(lowest(v)[0]) for k, v in by_key.items()})}")
    papi_only = g["c09_papi_only_finding"]
    expect((g["c09_n_papi_only"] == 0 and "every method" in papi_only)
           or (g["c09_n_papi_only"] > 0 and parse_count(papi_only)[0] == g["c09_n_papi_only"]),
           "c09_papi_only_finding", f"{g['c09_n_papi_only']} methods show papi labels")
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


def synthetic_store(source: Path, dest: Path, pas_best: bool, n_subjects: int = 6) -> Path:
    """A copy of the results store ``source`` in which the Big Five outcomes are known by construction.

    Every IPIP predictions table is widened to ``n_subjects`` of the store's test subjects (the run's
    rows copied, each with that subject's stored answers), so that a paired test can reach p < 0.05
    (2 / 2^6 < 0.05). With ``pas_best``, PAS + prompt answers every item right and every other method
    as wrong as the scale allows; otherwise the reverse. In the data-efficiency table the winner of
    that choice goes from wrong (fewest known answers) to right (most), the loser the other way.
    The Dark Triad tables, timings and manifest are kept as they are.
    """
    import json

    from palign_nb.data import load_answers

    shutil.copytree(source, dest, ignore=shutil.ignore_patterns("activations", "adapters", "personas"))
    ipip = next(dest.glob("*/ipip"))
    splits = json.loads((ipip / "splits.json").read_text())
    answers = load_answers("ipip")
    for path in sorted(ipip.glob("predictions_*.csv")):
        table = pd.read_csv(path)
        if not {"subject", "item", "predicted", "stored"} <= set(table.columns):
            continue
        ran = table["subject"].iloc[0]
        base = table[table["subject"] == ran]
        others = [s for s in splits["test_subjects"] if s != ran][: n_subjects - 1]
        wide = pd.concat([base] + [base.assign(subject=s, stored=answers.loc[s, base["item"]].to_numpy()) for s in others],
                         ignore_index=True)
        if path.stem == "predictions_data_efficiency":
            wide["predicted"] = wide["predicted"].astype(float)
            for (method, n_known, keying), part in wide.groupby(["method", "n_known", "keying"]):
                wins = (method == "pas_icl") == pas_best
                right = wins == (n_known == wide.loc[wide["method"] == method, "n_known"].max())
                wide.loc[part.index, "predicted"] = _answer(part, keying, right).to_numpy()
        else:
            keying = "literal" if path.stem.endswith("_literal") else "papi"
            wide["predicted"] = _answer(wide, keying, right=(path.stem in PAS_TABLES) == pas_best).to_numpy()
        wide.to_csv(path, index=False)
    return dest


# --- the checker can fail ------------------------------------------------------------------------------


def consistent_glue() -> dict[str, object]:
    """A hand-made glue of chapter 09 whose sentences all agree with its numbers."""
    return {
        "c09_table_sizes": {"PAS + prompt": [1, 10], "DPO": [1, 12]},
        "c09_coverage_finding": "The chapters ran different numbers of subjects or items (the fewest rows: chapter 05).",
        "c09_model": "smollm2-135m-instruct", "c09_n_subjects": 1, "c09_n_items": 10,
        "c09_differ_finding": "the model, the scale and the α protocol (the paper chose α on the test items) differ",
        "c09_composites": {"no alignment": 6.0, "few-shot (ICL)": 5.5, "PAS + prompt": 5.0, "DPO": 4.0,
                           "RL (GRPO)": 4.0, "always C": 4.5, "trait mean": 4.2},
        "c09_best_finding": "**DPO** and **RL (GRPO)** tie as the best model-based methods (4.00)",
        "c09_best_method": "DPO",
        "c09_beat_c_finding": "2 of the 5 model-based methods beat the constant answer",
        "c09_paper_always_c": 3.8, "c09_paper_pas": 4.41, "c09_paper_best": 4.41,
        "c09_paper_c_finding": "The paper's PAS reaches 4.41 with Llama-3-8B-Instruct; on the paper's own 300 test "
                               "subjects the always-C predictor scores 3.80 (chapter 02), better than that.",
        "c09_degenerate_at": 0.9,
        "c09_readout_numbers": {"PAS + prompt": [5.0, 4.0, 0.5], "DPO": [4.0, 4.5, 1.0], "no alignment": [6.0, 5.0, 0.95]},
        "c09_readouts_finding": "2 of the 3 model-based methods are degenerate in this run (modal share above 90%); the "
                                "calibrated median scores better than the argmax letter for 2 of the 3 model-based methods.",
        "c09_min_p_subjects": 1.0,
        "c09_significance_finding": "no difference can be significant at this scale (the smallest p-value possible is 1)",
        "c09_n_sig_subjects": 0, "c09_n_compared": 6,
        "c09_n_sig_finding": "none of the 6 paired comparisons are significant over subjects",
        "c09_verdict_icl": "same direction, not significant", "c09_verdict_dpo": "does not reproduce",
        "c09_verdict_grpo": "does not reproduce", "c09_n_reproduce": 0,
        "c09_reproduce_finding": "None of the 4 claims with a paired test reproduce with statistical support.",
        "c09_bar_finding": "On the paper's own data, answering \"C\" everywhere scores 3.80, better than the paper's best",
        "c09_base_modal_share": 0.9,
        "c09_limits_finding": "What this run cannot tell: anything about Llama-3-8B-Instruct (without alignment, almost "
                              "all of the items (90%) get its most common answer, E), and any difference smaller than "
                              "the spread across 1 subject.",
        "c09_sd3_composites": {"PAS + prompt": 7.0, "DPO": 6.0, "always C": 6.5, "trait mean": 6.6},
        "c09_sd3_best_finding": "the best model-based method is **DPO** (6.00)",
        "c09_sd3_beat_c_finding": "1 of the 2 model-based methods beats always C",
        "c09_dpo_steps": 1, "c09_paper_dpo_steps": 250,
        "c09_steps_finding": "Our preference baselines train for only 1 (DPO) and 1 (RL) steps; ...",
        "c09_alpha_share": 0.95,
        "c09_alpha_share_finding": "In this run the α search took almost all of PAS's alignment time (95%); ...",
        "c09_eff_pas_first": 5.0, "c09_eff_pas_last": 4.0, "c09_eff_icl_first": 5.0, "c09_eff_icl_last": 5.0,
        "c09_eff_finding": "PAS with the prompt improves from 5.00 to 4.00 (it gains from the extra answers in this run); "
                           "few-shot stays at 5.00 (a flat curve: it does not use the extra answers here)",
        "c09_n_rank_changes": 2, "c09_rank_methods": 7,
        "c09_rank_finding": "Switching the convention changes the rank of 2 of the 7 rows (trivial predictors included).",
        "c09_keying_composites": {"PAS + prompt|papi": 5.0, "DPO|papi": 4.0, "always C|papi": 3.0,
                                  "PAS + prompt|literal": 4.0, "DPO|literal": 4.5, "always C|literal": 3.0},
        "c09_best_keying_finding": "The best model-based method is **DPO** under the paper's convention and "
                                   "**PAS + prompt** under the literal one.",
        "c09_n_papi_only": 2,
        "c09_papi_only_finding": "Under literal targets 2 of the 7 methods still show the paper's labels ...",
    }


def test_the_checker_passes_consistent_sentences():
    assert contradictions(consistent_glue()) == []


@pytest.mark.parametrize("key, wrong", [
    ("c09_best_finding", "the best model-based method is **DPO** (4.00)"),  # a tie reported as one winner
    ("c09_best_finding", "the best model-based method is **PAS + prompt** (5.00)"),
    ("c09_beat_c_finding", "none of the 5 model-based methods beat the constant answer"),
    ("c09_paper_c_finding", "... the always-C predictor scores 3.80 (chapter 02), no better than that."),
    ("c09_significance_finding", "a difference can reach p < 0.05 at this scale (the smallest p-value possible is 1)"),
    ("c09_n_sig_finding", "1 of the 6 paired comparisons is significant over subjects"),
    ("c09_verdict_icl", "does not reproduce"),  # few-shot 5.5 is worse than PAS 5.0
    ("c09_verdict_dpo", "same direction, not significant"),  # DPO 4.0 is better than PAS 5.0
    ("c09_verdict_icl", "reproduces"),  # better, but p cannot be below 0.05 with one subject
    ("c09_bar_finding", "On the paper's own data, answering \"C\" everywhere scores 3.80, no better than the paper's best"),
    ("c09_sd3_best_finding", "the best model-based method is **PAS + prompt** (7.00)"),
    ("c09_steps_finding", "Our preference baselines train for 1 (DPO) and 1 (RL) steps, DPO at least the paper's 250"),
    ("c09_eff_finding", "PAS with the prompt worsens from 5.00 to 4.00 (the extra answers did not help it in this run); "
                        "few-shot stays at 5.00 (a flat curve: it does not use the extra answers here)"),
    ("c09_eff_finding", "PAS with the prompt improves from 5.00 to 4.00 (a flat curve: ...); "
                        "few-shot stays at 5.00 (a flat curve: it does not use the extra answers here)"),
    ("c09_readouts_finding", "None of the 3 model-based methods are degenerate in this run (modal share above 90%); "
                             "the calibrated median scores better than the argmax letter for 2 of the 3 model-based methods."),
    ("c09_readouts_finding", "2 of the 3 model-based methods are degenerate in this run (modal share above 90%); "
                             "the calibrated median scores better than the argmax letter for all 3 model-based methods."),
    ("c09_rank_finding", "Switching the convention changes the rank of none of the 7 rows (trivial predictors included)."),
    ("c09_best_keying_finding", "The best model-based method is **DPO** under both conventions."),
    ("c09_coverage_finding", "Here every table holds the same number of subjects and rows."),
    ("c09_differ_finding", "the scale and the α protocol differ"),  # the run's model is not the paper's
])
def test_the_checker_flags_a_sentence_that_contradicts_its_numbers(key, wrong):
    glue = consistent_glue() | {key: wrong}
    assert any(problem.startswith(f"{key}:") for problem in contradictions(glue)), f"{key} = {wrong!r} was not flagged"


def test_a_tie_names_labels_that_hold_a_comma():
    two = "**PAS + prompt** and **PAS, alpha on test (oracle)** tie as the best model-based methods (4.00)"
    assert best_named(two) == (["PAS + prompt", "PAS, alpha on test (oracle)"], "4.00")
    glue = consistent_glue()
    glue["c09_composites"] = glue["c09_composites"] | {"PAS, alpha on test (oracle)": 4.0}
    glue["c09_beat_c_finding"] = "3 of the 6 model-based methods beat the constant answer"
    three = "**DPO**, **RL (GRPO)** and **PAS, alpha on test (oracle)** tie as the best model-based methods (4.00)"
    assert contradictions(glue | {"c09_best_finding": three}) == []
    assert [p for p in contradictions(glue | {"c09_best_finding": two}) if p.startswith("c09_best_finding:")]

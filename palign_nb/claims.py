"""Chapter 09's verdicts on the paper's claims, and the findings of its later sections.

Pure functions over what the chapter read and measured (a :class:`~palign_nb.comparison.Comparison`,
the paired tests, the timings, the data-efficiency curve): each returns the glue keys of the prose,
numbers and :class:`~palign_nb.findings.Sentence` s chosen by them, and where a section shows a
table, that table. Methods are named by registry key; labels appear only in what is returned.

Introduced in :doc:`/notebooks/09_results`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from .comparison import DEGENERATE_AT, Comparison, beats, best_of, label, strongest_control
from .controls import PREDICTORS
from .inventories import VALUE_TO_LETTER
from .findings import TIE, Sentence, count_of, listed, same_answer_share, share_word, trend
from .methods import methods_for
from .paper_numbers import PAPER_TABLE1, PAPER_TIME_FRACTION, paper_composite
from .results import DEGENERATE_VERDICT, alignment_seconds, claim_verdict, per_subject_composite


def sd3_findings(comp: Comparison, setting: str, setting_label: str) -> dict[str, Any]:
    """Section 9.4: the best method on the Dark Triad and how many beat always C."""
    models = comp.model_methods
    tied, best_score, best_text = best_of(comp.scores["composite"], models)
    n_beat_c = sum(beats(comp.composite(m), comp.composite("always_C")) for m in models)
    return {
        "c09_sd3_setting": setting, "c09_sd3_setting_label": setting_label,
        "c09_sd3_n_subjects": int(comp.tables["pas_icl"]["subject"].nunique()),
        "c09_sd3_best": label(tied[0]), "c09_sd3_best_score": best_score, "c09_sd3_best_finding": Sentence(best_text),
        "c09_sd3_composites": comp.composites(),
        **{f"c09_sd3_{name}": comp.composite(key) for name, key in
           [("pas", "pas_icl"), ("icl", "icl"), ("always_c", "always_C"), ("trait_mean", "trait_mean")]},
        "c09_sd3_n_beat_c": n_beat_c,
        "c09_sd3_beat_c_finding": Sentence(f"{count_of(n_beat_c, len(models), 'model-based methods')} "
                                           f"{'beats' if n_beat_c == 1 else 'beat'} always C"),
    }


# --- 9.5 cost ---------------------------------------------------------------------------------------


def cost_table(pas_timings: pd.DataFrame, preference_timings: pd.DataFrame, keying: str) -> pd.DataFrame:
    """Seconds per subject to align with PAS (chapter 05 under ``keying``), DPO and the RL baseline (chapter 07,
    trained under one keying), PAS's fraction of each and the paper's, by key."""
    trained = str(preference_timings["keying"].iloc[0])
    seconds = {"pas_icl": alignment_seconds(pas_timings, "pas_icl", keying),
               "dpo": alignment_seconds(preference_timings, "dpo", trained),
               "grpo": alignment_seconds(preference_timings, "grpo", trained)}
    cost = pd.DataFrame({"alignment s per subject": seconds})
    cost["PAS's fraction"] = cost.loc["pas_icl", "alignment s per subject"] / cost["alignment s per subject"]
    cost["paper's fraction"] = [np.nan, PAPER_TIME_FRACTION["dpo"], PAPER_TIME_FRACTION["grpo"]]
    return cost


def cost_findings(cost: pd.DataFrame, pas_timings: pd.DataFrame, keying: str, capture_s: float | None,
                  training: dict[str, Any], paper_training: dict[str, Any]) -> dict[str, Any]:
    """Section 9.5: PAS's time against the preference baselines', what its alignment time is made of, and
    what DPO would cost at the paper's steps and batch (``training``: chapter 07's ``dpo_steps``,
    ``grpo_steps`` and ``dpo_batch_size``; ``paper_training``: the paper's ``steps`` and ``batch_size``)."""
    align = cost["alignment s per subject"]
    dpo_steps, grpo_steps = int(training["dpo_steps"]), int(training["grpo_steps"])
    paper_steps, paper_batch = int(paper_training["steps"]), int(paper_training["batch_size"])
    dpo_paper_s = align["dpo"] / (dpo_steps * int(training["dpo_batch_size"])) * paper_steps * paper_batch
    pas_rows = pas_timings[(pas_timings.method == "pas_icl") & (pas_timings.keying == keying)]
    stages = pas_rows[pas_rows.stage.isin(["probe_fit", "alpha_search"])].groupby("stage")["seconds"].sum()
    alpha_share = float(stages.get("alpha_search", 0.0) / stages.sum())
    if dpo_steps < paper_steps:
        steps_text = (f"Our preference baselines train for only {dpo_steps} (DPO) and {grpo_steps} (RL) steps; at the "
                      f"paper's {paper_steps} steps of {paper_batch} pairs, DPO would take about "
                      f"{dpo_paper_s / 60:.0f} min per subject here (extrapolated from the measured time per pair, "
                      f"start-up costs included, so an upper bound), which puts PAS at "
                      f"{align['pas_icl'] / dpo_paper_s:.3f} of it")
    else:
        steps_text = (f"Our preference baselines train for {dpo_steps} (DPO) and {grpo_steps} (RL) steps, DPO at "
                      f"least the paper's {paper_steps}, so the fractions above are measured at the paper's scale")
    return {
        "c09_pas_align_s": float(align["pas_icl"]), "c09_dpo_train_s": float(align["dpo"]),
        "c09_grpo_train_s": float(align["grpo"]),
        "c09_frac_dpo": float(cost.loc["dpo", "PAS's fraction"]), "c09_frac_grpo": float(cost.loc["grpo", "PAS's fraction"]),
        "c09_capture_s": float(capture_s) if capture_s is not None else float("nan"),
        "c09_paper_dpo_steps": paper_steps, "c09_paper_dpo_batch": paper_batch,
        "c09_paper_frac_dpo": PAPER_TIME_FRACTION["dpo"], "c09_paper_frac_grpo": PAPER_TIME_FRACTION["grpo"],
        "c09_dpo_steps": dpo_steps, "c09_grpo_steps": grpo_steps,
        "c09_dpo_paper_min": float(dpo_paper_s / 60), "c09_frac_dpo_paper_scale": float(align["pas_icl"] / dpo_paper_s),
        "c09_alpha_share": alpha_share,
        "c09_alpha_share_finding": Sentence(
            f"In this run the α search took {share_word(alpha_share)} of PAS's alignment time ({alpha_share:.0%}); "
            "it is forward passes over the validation items for every α value, so it grows with their number, "
            "not with training steps"),
        "c09_steps_finding": Sentence(steps_text),
    }


# --- 9.6 data efficiency ----------------------------------------------------------------------------


def efficiency_curve(eff: pd.DataFrame, comp: Comparison) -> tuple[pd.DataFrame, str]:
    """Chapter 05's data-efficiency predictions as a curve (method label, known items, mean composite over its
    subjects, subjects), under the comparison's keying where chapter 05 ran it (else its own), and that keying."""
    keying = comp.keying if (eff["keying"] == comp.keying).any() else str(eff["keying"].iloc[0])
    rows = []
    for (method, n_known), part in eff[eff["keying"] == keying].groupby(["method", "n_known"]):
        per_subject = per_subject_composite(part, comp.inventory, keying)
        rows.append({"method": label(method), "known items": int(n_known), "composite": float(per_subject.mean()),
                     "subjects": len(per_subject)})
    return pd.DataFrame(rows), keying


def _curve_reading(name: str, first: float, last: float) -> str:
    """What the two ends of a curve say, judged by their numbers."""
    text = trend(name, first, last)
    if abs(last - first) <= TIE:
        return text + " (a flat curve: it does not use the extra answers here, which is not the same as needing few)"
    return text + (" (it gains from the extra answers in this run)" if last < first
                   else " (the extra answers did not help it in this run)")


def efficiency_findings(curve: pd.DataFrame, keying: str) -> dict[str, Any]:
    """Section 9.6: the ends of the curves of PAS with the prompt and of few-shot."""
    by_method = curve.pivot(index="known items", columns="method", values="composite")
    pas, icl = by_method[label("pas_icl")], by_method[label("icl")]
    return {
        "c09_eff_keying": keying, "c09_eff_min_known": int(by_method.index.min()),
        "c09_eff_max_known": int(by_method.index.max()), "c09_eff_subjects": int(curve["subjects"].max()),
        "c09_eff_pas_first": float(pas.iloc[0]), "c09_eff_pas_last": float(pas.iloc[-1]),
        "c09_eff_icl_first": float(icl.iloc[0]), "c09_eff_icl_last": float(icl.iloc[-1]),
        "c09_eff_finding": Sentence(_curve_reading("PAS with the prompt", pas.iloc[0], pas.iloc[-1]) + "; "
                                    + _curve_reading("few-shot", icl.iloc[0], icl.iloc[-1])),
    }


# --- 9.7 the keying convention ----------------------------------------------------------------------


def ranking(comps: dict[str, Comparison], shown: dict[str, dict[str, str]]) -> pd.DataFrame:
    """Every method's composite and rank under each keying's targets (``comps`` by keying), with the answers its
    prompt or training data showed (``shown`` by keying and key; a predictor that needs no model shows none)."""
    rows = [{"method": label(key), "targets": keying, "answers shown": shown[keying].get(key, "none"),
             "composite": float(value)}
            for keying, comp in comps.items() for key, value in comp.scores["composite"].items()]
    out = pd.DataFrame(rows)
    out["rank"] = out.groupby("targets")["composite"].rank(method="min").astype(int)
    return out


def ranking_findings(comps: dict[str, Comparison], ranked: pd.DataFrame) -> dict[str, Any]:
    """Section 9.7: how many ranks the keying changes, the best method under each and which methods still show
    the paper's labels under literal targets."""
    wide = ranked.pivot(index="method", columns="targets", values=["composite", "rank"])
    n_changes = int((wide["rank"]["papi"] != wide["rank"]["literal"]).sum())
    best = {keying: sorted(best_of(comp.scores["composite"], comp.model_methods)[0], key=label)  # ties: by label
            for keying, comp in comps.items()}
    named = {keying: listed([f"**{label(k)}**" for k in keys]) for keying, keys in best.items()}
    verb = {keying: "are" if len(keys) > 1 else "is" for keying, keys in best.items()}
    models = ranked[(ranked.targets == "literal") & ~ranked.method.isin(list(PREDICTORS.values()))]
    n_papi_only = int((models["answers shown"] == "papi").sum())
    composites = wide["composite"].stack()
    return {
        "c09_n_rank_changes": n_changes, "c09_rank_methods": len(wide),
        "c09_rank_finding": Sentence("Switching the convention changes the rank of "
                                     f"{count_of(n_changes, len(wide), 'rows')} (the predictors that need no model "
                                     "included)."),
        "c09_best_papi": label(best["papi"][0]), "c09_best_literal": label(best["literal"][0]),
        "c09_keying_composites": {f"{m}|{k}": float(v) for (m, k), v in composites.items()},
        "c09_best_keying_finding": Sentence(
            f"The best model-based method{'s' if len(best['papi']) > 1 else ''} {verb['papi']} {named['papi']} "
            + ("under both conventions." if best["papi"] == best["literal"] else
               f"under the paper's convention and {named['literal']} under the literal one.")),
        "c09_n_papi_only": n_papi_only,
        "c09_papi_only_finding": Sentence(
            "Under literal targets every method shows literal answers in its prompt or training data, or none "
            "(`answers shown` column)." if n_papi_only == 0 else
            f"Under literal targets {count_of(n_papi_only, len(models), 'model-based methods')} still "
            f"{'shows' if n_papi_only == 1 else 'show'} the paper's labels in the prompt or training data, because "
            "the chapter ran only one convention (`answers shown` column)."),
    }


# --- 9.8 the claims ---------------------------------------------------------------------------------


def oracle_findings(comp: Comparison, like: Comparison | None) -> tuple[dict[str, Any], str, str]:
    """The oracle (alpha chosen on the test items) like for like: its gain over its own prompt at alpha 0 minus
    PAS's gain over its own prompt (``like``: the four on common rows, keys ``pas_oracle``, ``icl_paper``,
    ``pas_icl``, ``icl_known``; None when the oracle's prompt is not in the store). Returns the glue, and the
    claims table's 'this run' and verdict."""
    names = {"pas_oracle": "oracle", "icl_paper": "oracle at alpha 0", "pas_icl": label("pas_icl"),
             "icl_known": label("icl_known")}
    numbers: dict[str, float | None] = dict.fromkeys(names.values())
    oracle, pas = comp.composite("pas_oracle"), comp.composite("pas_icl")
    if "pas_oracle" not in comp.tables:
        text, verdict, run = ("The oracle (α chosen on the test items) was not run, so what choosing α on the test "
                              "items is worth was not measured."), "not measured", "oracle not run"
    elif like is None:
        numbers.update({"oracle": oracle, names["pas_icl"]: pas})
        text = (f"The oracle (α chosen on the test items) scores {oracle:.2f} against {pas:.2f} for PAS with α chosen "
                "on validation items, but its prompt at α = 0 is not in the store, so the two differ in the prompt as "
                "well as in the α protocol: the gap is not like for like and is not called a leak here.")
        verdict, run = "not measured like for like", f"oracle {oracle:.2f} vs {pas:.2f} (different prompts)"
    else:
        score = {names[k]: like.composite(k) for k in names}
        numbers.update(score)
        oracle_gain = score["oracle at alpha 0"] - score["oracle"]
        clean_gain = score[names["icl_known"]] - score[names["pas_icl"]]
        leak = oracle_gain - clean_gain
        gains = (f"Like for like, steering moves its own prompt from {score[names['icl_known']]:.2f} to "
                 f"{score[names['pas_icl']]:.2f} with α chosen on validation items (a gain of {clean_gain:.2f}) and "
                 f"from {score['oracle at alpha 0']:.2f} to {score['oracle']:.2f} with α chosen on the test items "
                 f"(a gain of {oracle_gain:.2f}); ")
        if leak > TIE:
            text = gains + f"choosing α on the test items flatters PAS by {leak:.2f}: that difference is the leak."
            verdict = "the oracle flatters PAS"
        elif leak < -TIE:
            text = gains + f"choosing α on the test items gains {-leak:.2f} less in this run, so no leak shows."
            verdict = "no leak in this run"
        else:
            text = gains + "choosing α on the test items adds nothing in this run: no leak."
            verdict = "no leak in this run"
        run = f"gain {oracle_gain:.2f} (α on test) vs {clean_gain:.2f} (α on validation): leak {leak:.2f}"
    return {"c09_oracle_numbers": numbers, "c09_leak_finding": Sentence(text)}, run, verdict


#: The paired claims: the other side of "PAS beats X" by key (the strongest control is added by the run).
PAIRED = ("icl", "dpo", "grpo", "no_alignment")


def claims_findings(comp: Comparison, paired: pd.DataFrame, summary: pd.DataFrame, oracle: tuple[str, str],
                    cost: pd.DataFrame, training: dict[str, Any], paper_training: dict[str, Any],
                    n_rank_changes: int, n_ranked: int, paper_always_c: float, n_paper_subjects: int,
                    model_id: str, paper_model: str) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Section 9.8: each claim of the paper, what it reported, what this run measured and the verdict (a paired
    sign-flip test over subjects where one applies: :func:`palign_nb.results.claim_verdict`), and the sentences
    on how many reproduce, the bar set by the data and what this run cannot tell. ``paired``: PAS + prompt
    against every key (:func:`palign_nb.results.paired_comparison`); ``summary``: the readouts by key
    (:func:`palign_nb.comparison.readout_summary`); ``oracle``: the 'this run' and verdict of
    :func:`oracle_findings`."""
    n = comp.n_subjects
    paper_pas = paper_composite("PAS")
    pas_degenerate = bool(summary.loc["pas_icl", "modal share"] > DEGENERATE_AT)
    controls, bar = strongest_control(comp)
    strongest = controls[0]  # a tie has the same composite

    def one_letter(key: str) -> str:
        share = float(summary.loc[key, "modal share"])
        return f"; {label(key)} answers one letter (modal share {share:.0%})" if share > DEGENERATE_AT else ""

    paper_rows = {m.key: m.paper for m in methods_for("ipip")}
    sides = [(f"PAS beats {label(k)}", k, f"{paper_pas:.2f} vs {paper_composite(paper_rows[k]):.2f} ({paper_rows[k]})"
              if paper_rows[k] else "implied") for k in PAIRED]
    sides += [("PAS beats the strongest no-model control", strongest, "not examined"),
              ("steering adds to its own prompt", "icl_known", "not separated (its few-shot row shows all 120 answers)")]
    rows, verdicts = [], {}
    for claim, key, paper_text in sides:
        row = paired[paired["method"] == key]
        diff, p = ((float(row["mean difference"].iloc[0]), float(row["p (subjects)"].iloc[0])) if len(row)
                   else (np.nan, np.nan))
        verdicts[key] = claim_verdict(diff, p, pas_degenerate)
        rows.append({"claim": claim, "paper": paper_text,
                     "this run": (f"{comp.composite('pas_icl'):.2f} vs {comp.composite(key):.2f} ({label(key)}; "
                                  f"p = {p:.2g}, {n} subjects)" + one_letter("pas_icl") + one_letter(key)),
                     "verdict": verdicts[key], "paired test": True})
    rows.append({"claim": "the reported PAS numbers are honest held-out numbers", "paper": "alpha chosen on the test items",
                 "this run": oracle[0], "verdict": oracle[1], "paired test": False})
    n_beat_bar = sum(beats(comp.composite(m), bar) for m in comp.model_methods)
    rows.append({"claim": "aligned methods beat the predictors that need no model", "paper": "not examined",
                 "this run": f"{bar:.2f} for the strongest ({listed([label(k) for k in controls])}); "
                             f"{n_beat_bar} of {len(comp.model_methods)} methods beat it",
                 "verdict": f"always C ({paper_always_c:.2f} on all {n_paper_subjects} subjects) "
                            + ("beats" if beats(paper_always_c, paper_pas) else "does not beat")
                            + f" the paper's PAS ({paper_pas:.2f})", "paired test": False})
    frac_dpo, frac_grpo = cost.loc["dpo", "PAS's fraction"], cost.loc["grpo", "PAS's fraction"]
    paper_fd, paper_fg = PAPER_TIME_FRACTION["dpo"], PAPER_TIME_FRACTION["grpo"]
    rows.append({"claim": f"PAS needs ~1/{1 / paper_fd:.0f} of DPO's and ~1/{1 / paper_fg:.0f} of PPO's time",
                 "paper": f"{paper_fd:.2f} and {paper_fg:.2f}",
                 "this run": f"{frac_dpo:.2f} and {frac_grpo:.2f} ({training['dpo_steps']} DPO and "
                             f"{training['grpo_steps']} RL steps; the paper: {paper_training['steps']})",
                 "verdict": "PAS is cheaper than both" if max(frac_dpo, frac_grpo) < 1 else
                            "PAS is not cheaper than both at these settings", "paired test": False})
    rows.append({"claim": "the ranking does not depend on the keying", "paper": "one convention only",
                 "this run": f"{n_rank_changes} of {n_ranked} ranks change",
                 "verdict": "holds" if n_rank_changes == 0 else "the ranking moves", "paired test": False})
    claims = pd.DataFrame(rows)
    on_pairs = claims.loc[claims["paired test"], "verdict"]
    n_reproduce, n_degenerate = int((on_pairs == "reproduces").sum()), int((on_pairs == DEGENERATE_VERDICT).sum())
    reproduced = (f"{count_of(n_reproduce, len(on_pairs), 'claims with a paired test')} "
                  f"{'reproduces' if n_reproduce == 1 else 'reproduce'} with statistical support")
    if n_degenerate:
        reproduced += (f"; PAS answers one letter, so the {n_degenerate} where it scores better "
                       f"{'is' if n_degenerate == 1 else 'are'} marked degenerate instead")
    paper_best = PAPER_TABLE1.loc[PAPER_TABLE1["composite"].idxmin()]
    base = comp.tables["no_alignment"]["predicted"].value_counts(normalize=True)
    before = same_answer_share(float(base.iloc[0]), VALUE_TO_LETTER[int(base.index[0])])
    plural = "s" if n != 1 else ""
    limits = ((f"What this run cannot tell: anything about {paper_model}, the paper's model ({model_id} is another "
               f"model: without alignment, {before}), and any difference smaller than the spread across {n} "
               f"subject{plural}.") if paper_model.lower() not in model_id.lower() else
              (f"This run uses the paper's model (without alignment, {before}); what it cannot tell is any "
               f"difference smaller than the spread across its {n} subject{plural}."))
    return claims, {
        "c09_verdicts": {label(k): v for k, v in verdicts.items()},
        **{f"c09_verdict_{name}": verdicts[key] for name, key in
           [("icl", "icl"), ("dpo", "dpo"), ("grpo", "grpo"), ("control", strongest), ("steering", "icl_known")]},
        "c09_pas_modal_share": float(summary.loc["pas_icl", "modal share"]),
        "c09_n_reproduce": n_reproduce,
        "c09_reproduce_finding": Sentence(reproduced[0].upper() + reproduced[1:] + "."),
        "c09_paper_best": float(paper_best["composite"]),
        "c09_bar_finding": Sentence(
            f"On the paper's own data, answering \"C\" everywhere scores {paper_always_c:.2f}, "
            + ("better than" if beats(paper_always_c, paper_best["composite"]) else "no better than")
            + f" the paper's best reported method ({paper_best['method']}, {paper_best['model']}: "
            f"{paper_best['composite']:.2f}), so a method has to beat that bar before its ranking against other "
            "methods means anything."),
        "c09_base_modal_share": float(base.iloc[0]),
        "c09_limits_finding": Sentence(limits),
    }


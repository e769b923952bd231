"""What chapter 05 measures around PAS, and the sentences it glues: pure functions over its tables.

The chapter shows PAS step by step for one subject and runs every subject through
:mod:`palign_nb.all_subjects`; the analyses around it live here: how stable the choice of alpha is
over redraws of the validation items (5.4), the methods' scores and what they say (5.5), how
letter-like the steering directions are (5.5), and the data-efficiency curve with its item noise
(5.7). Each ``*_findings`` function returns the glue keys of the prose, numbers and
:class:`~palign_nb.findings.Sentence` s chosen by them, for :meth:`palign_nb.context.Chapter.glue_all`.

Introduced in :doc:`/notebooks/05_pas`.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np
import pandas as pd

from . import pas, probing
from .findings import Sentence, compare, listed
from .inventories import Inventory, shown_values
from .metrics import VARIANTS, add_targets, alignment_score, subject_trait_errors

#: How the prose names each criterion of :data:`palign_nb.pas.ALPHA_CRITERIA`.
CRITERION_NAMES = {"argmax": "the paper's argmax criterion", "expected": "the expected error", "rps": "the RPS"}


# --- 5.4 how stable is the choice of alpha ---------------------------------------------------------


def alpha_choices(tables: dict[float, pd.DataFrame], targets: np.ndarray, traits: np.ndarray,
                  alphas: tuple[float, ...]) -> Callable[[np.ndarray], dict[str, float]]:
    """A function of item positions: the alpha each criterion picks on those validation items, from each alpha's
    option ``tables`` (one row per item, answered items only), by :func:`palign_nb.pas.search_alpha`'s rule."""
    def choices(idx: np.ndarray) -> dict[str, float]:
        _, trials = pas.search_alpha(lambda a: tables[a].iloc[idx], targets[idx], traits[idx], alphas)
        return {c: float(trials.sort_values([*cols, "alpha"]).iloc[0]["alpha"]) for c, cols in pas.ALPHA_CRITERIA.items()}

    return choices


def stratified_redraws(choices: Callable[[np.ndarray], dict[str, float]], traits: np.ndarray, trait_order: list[str],
                       n_boot: int, seed: int) -> pd.DataFrame:
    """Each criterion's choice on ``n_boot`` redraws of the items, with replacement within each trait."""
    rng = np.random.default_rng(seed)
    strata = [np.flatnonzero(traits == t) for t in trait_order if (traits == t).any()]
    return pd.DataFrame([choices(np.concatenate([rng.choice(g, size=len(g)) for g in strata])) for _ in range(n_boot)])


def stability_reading(shares: dict[str, float], n_alphas: int) -> str:
    """Which criterion picks the full set's alpha most often over the redraws, and where the paper's stands."""
    def text(c: str) -> str:
        return f"{CRITERION_NAMES[c]} ({shares[c]:.0%})"

    if n_alphas < 2:
        return "with a single alpha in the grid there is nothing to choose, so every criterion is trivially stable"
    best, worst = max(shares.values()), min(shares.values())
    if best - worst <= 1e-9:
        return (f"the three criteria are equally stable: each picks the full set's alpha in {best:.0%} of the redraws"
                + (" (every redraw agrees)" if best >= 1 else ""))
    top = [c for c in shares if shares[c] >= best - 1e-9]
    rest = [c for c in shares if c not in top]
    head = (f"{listed([text(c) for c in top])} {'is' if len(top) == 1 else 'are'} the most stable, against "
            f"{listed([text(c) for c in rest])}")
    if "argmax" in top:
        return head + ("; the paper's criterion is the steadiest here" if len(top) == 1 else
                       "; the paper's criterion shares the top")
    if shares["argmax"] <= worst + 1e-9:
        return head + "; the paper's criterion is the least stable of the three here"
    return head + "; the paper's criterion sits between the other two"


def stability_findings(full_choice: dict[str, float], redraws: pd.DataFrame, n_items: int,
                       n_alphas: int) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Per criterion, the full set's alpha and the share of redraws that pick it; and the glue of section 5.4."""
    stability = pd.DataFrame({"criterion": list(full_choice), "alpha_full": list(full_choice.values()),
                              "share_same": [float((redraws[c] == full_choice[c]).mean()) for c in full_choice]})
    shares = dict(zip(stability["criterion"], stability["share_same"]))
    return stability, {
        "c05_stab_b": len(redraws), "c05_stab_n_items": n_items, "c05_stab_n_alphas": n_alphas,
        **{key: value for c, share in shares.items()
           for key, value in [(f"c05_stab_{c}", float(share)), (f"c05_stab_alpha_{c}", float(full_choice[c]))]},
        "c05_stab_finding": Sentence(stability_reading(shares, n_alphas)),
    }


# --- 5.5 every subject, every variant --------------------------------------------------------------


def method_scores(preds: dict[tuple[str, str], pd.DataFrame], unaligned: pd.DataFrame, keyings: list[str],
                  inventory: Inventory) -> pd.DataFrame:
    """Every method's error (each trait and the composite, both variants) per keying: the unaligned model and
    always C on the same rows, then ``preds`` (by method and keying)."""
    def rows(name: str, table: pd.DataFrame, key: str) -> list[dict]:
        scored = add_targets(table, inventory, key)
        return [{"method": name, "keying": key, "variant": v, **alignment_score(scored, v).to_dict()} for v in VARIANTS]

    out = []
    for key in keyings:
        out += rows("no_alignment", unaligned, key) + rows("always_C", unaligned.assign(predicted=3.0), key)
        for (name, k), table in preds.items():
            if k == key:
                out += rows(name, table, key)
    return pd.DataFrame(out)


def method_findings(scores: pd.DataFrame, chosen: pd.DataFrame, timings: pd.DataFrame, pas_rows: pd.DataFrame,
                    keying: str, inventory: Inventory) -> dict[str, Any]:
    """Section 5.5: every method's composite under ``keying``, how often alpha stayed 0, which method is better
    and whether the differences are large next to the subjects' spread (``pas_rows``: PAS + prompt's predictions)."""
    def comp(method: str) -> float:
        row = scores[(scores.method == method) & (scores.keying == keying) & (scores.variant == "faithful")]
        return float(row["composite"].iloc[0]) if len(row) else float("nan")

    clean = chosen[chosen.method != "pas_oracle"]
    clean_scores = [comp(m) for m in ("pas_icl", "icl_known", "pas_alone", "no_alignment")]
    largest = max(clean_scores) - min(clean_scores)
    per_subject = subject_trait_errors(add_targets(pas_rows, inventory, keying), "faithful").sum(axis=1)
    methods = "PAS + prompt, its prompt alone, PAS alone and the unaligned model"
    if len(per_subject) < 2:
        spread = (f"with one subject there is no subject-to-subject spread to set the largest difference between "
                  f"{methods} ({largest:.2f}) against")
    else:
        sd = float(per_subject.std())
        spread = (f"the largest difference between {methods} ({largest:.2f}) is "
                  f"{'smaller' if largest < sd else 'larger'} than the subject-to-subject spread of PAS + prompt's "
                  f"error (standard deviation {sd:.2f} over {len(per_subject)} subjects)")
    oracle = timings[timings.method == "pas_oracle"]["seconds"]
    return {
        **{f"c05_{m.lower()}": comp(m) for m in ("pas_icl", "icl_known", "pas_alone", "no_alignment", "always_C",
                                                 "pas_oracle")},
        "c05_pas_vs_prompt": comp("pas_icl") - comp("icl_known"),
        "c05_n_fallback": int(clean["fallback"].sum()),  # too few decided answers to probe: alpha 0, no validation
        "c05_share_alpha_zero": float((clean.loc[~clean["fallback"], "alpha"] == 0).mean()),  # NaN: every fit fell back
        "c05_methods_finding": Sentence(
            f"{compare('PAS + prompt', comp('pas_icl'), 'its prompt alone', comp('icl_known'))}, "
            f"{compare('PAS alone', comp('pas_alone'), 'the unaligned model', comp('no_alignment'))}, and "
            f"{compare('the oracle', comp('pas_oracle'), 'PAS + prompt', comp('pas_icl'))}"),
        "c05_spread_finding": Sentence(spread),
        "c05_pas_seconds": float(timings[timings.method == "pas_icl"].groupby(["subject", "keying"])["seconds"]
                                 .sum().mean()),
        "c05_oracle_seconds": float(oracle.mean()) if len(oracle) else float("nan"),
    }


def letter_table(personas: dict, answers: pd.DataFrame, known: list[str], acts: np.ndarray, act_items: list[str],
                 inventory: Inventory, keying: str) -> pd.DataFrame:
    """Per subject with a persona: how one-sided its known answers are and how close its heads' directions lie to
    the "answer A" letter vector (:func:`palign_nb.pas.letter_cosine`), on exactly the data its probes saw."""
    rows = [act_items.index(c) for c in known]
    out = []
    for s, persona in personas.items():
        values = shown_values(answers.loc[s], known, inventory, keying)
        X, y, _ = probing.probe_dataset(acts[rows], values)  # exactly what pas_subject.fit_persona probed
        cos = pas.letter_cosine(X, y, persona.heads)
        letters = pas.letter_vectors(X, persona.heads)
        steered = (persona.directions * (letters / np.linalg.norm(letters, axis=1, keepdims=True))).sum(1)
        decided = values[(values > 0) & (values != 3)]
        agree = float((decided > 3).mean())
        out.append({"subject": s, "share_agree": agree, "one_sidedness": abs(agree - 0.5) * 2,
                    "letter_cosine": float(cos.mean()), "abs_letter_cosine": float(np.abs(cos).mean()),
                    "abs_steered_cosine": float(np.abs(steered).mean()), "n_decided": len(decided)})
    return pd.DataFrame(out, columns=["subject", "share_agree", "one_sidedness", "letter_cosine", "abs_letter_cosine",
                                      "abs_steered_cosine", "n_decided"])


def letter_reading(table: pd.DataFrame, direction: str) -> str:
    """How letter-like the directions are, and whether that follows one-sidedness over the subjects."""
    if table.empty:
        return "no subject had a persona to measure (every one fell back to its prompt alone)"
    level = float(table["abs_letter_cosine"].mean())
    what = ("mostly the letter vector" if level >= 0.8 else
            "mostly something other than the letter vector" if level <= 0.3 else "partly the letter vector")
    parts = [f"the chosen heads' directions are {what} (mean absolute cosine {level:.2f})"]
    if len(table) == 1:
        row = table.iloc[0]
        parts.append(f"with one subject there is no correlation to report: this subject's one-sidedness is "
                     f"{row.one_sidedness:.2f} ({row.share_agree:.0%} of {int(row.n_decided)} decided known answers "
                     "are 4 or 5)")
    elif len(table) == 2:
        parts.append("with two subjects a correlation says nothing (two points always lie on a line)")
    elif table["one_sidedness"].nunique() < 2 or table["abs_letter_cosine"].nunique() < 2:
        parts.append(f"across the {len(table)} subjects one of the two measures does not vary, so there is no "
                     "correlation to compute")
    else:
        r = float(table["one_sidedness"].corr(table["abs_letter_cosine"], method="spearman"))
        if r > 0.3:
            relation = "the more one-sided subjects have the more letter-like directions, as the decomposition predicts"
        elif r < -0.3:
            relation = ("the more one-sided subjects have the *less* letter-like directions, against the "
                        "decomposition's prediction")
        else:
            relation = "one-sidedness and the letter cosine are barely related"
        parts.append(f"across the {len(table)} subjects {relation} (Spearman r = {r:.2f})")
    if direction != "mass_mean":
        parts.append(f"the directions this run steered along (`direction=\"{direction}\"`) have a mean absolute "
                     f"cosine of {float(table['abs_steered_cosine'].mean()):.2f} with the letter vector")
    return "; ".join(parts)


def letter_findings(table: pd.DataFrame, n_subjects: int, direction: str) -> dict[str, Any]:
    """The glue of "Is the direction just 'answer A'?" (section 5.5)."""
    def mean(column: str) -> float:
        return float(table[column].mean()) if len(table) else float("nan")

    return {"c05_letter_n_subjects": len(table), "c05_letter_n_fallback": n_subjects - len(table),
            "c05_letter_cos_mean": mean("abs_letter_cosine"), "c05_letter_onesided_mean": mean("one_sidedness"),
            "c05_letter_steered_mean": mean("abs_steered_cosine"),
            "c05_letter_finding": Sentence(letter_reading(table, direction))}


# --- 5.7 how many known answers does PAS need ----------------------------------------------------------


def _composite(rows: pd.DataFrame) -> float:
    return float(alignment_score(rows, "faithful")["composite"])


def efficiency_curve(scored: pd.DataFrame) -> pd.DataFrame:
    """The composite (faithful) of each method at each number of known answers, from graded rows."""
    return pd.DataFrame([{"method": m, "n_known": int(k), "composite": _composite(g)}
                         for (m, k), g in scored.groupby(["method", "n_known"])])


def item_noise(scored: pd.DataFrame, items: list[str], inventory: Inventory, n_lo: int, n_hi: int,
               n_boot: int = 500, seed: int = 0) -> dict[str, list[float]]:
    """How much of each method's change from ``n_lo`` to ``n_hi`` known answers could be the luck of the test
    items: the change recomputed on ``n_boot`` redraws of the items within each trait (one draw for both counts)."""
    rng = np.random.default_rng(seed)
    item_traits = inventory.items.loc[items, "trait"]
    by_item = scored.set_index("item")
    changes: dict[str, list[float]] = {m: [] for m in ("pas_icl", "icl")}
    for _ in range(n_boot):
        picks = np.concatenate([rng.choice(item_traits.index[item_traits == t], size=int((item_traits == t).sum()))
                                for t in inventory.trait_order])
        rows = by_item.loc[picks].reset_index()
        for m in changes:
            mine = rows[rows["method"] == m]
            changes[m].append(_composite(mine[mine["n_known"] == n_hi]) - _composite(mine[mine["n_known"] == n_lo]))
    return changes


def _interval_reading(name: str, lo: float, hi: float) -> str:
    """What a 95 % interval of the change from the fewest to the most known answers says."""
    if lo > 0:
        return f"for {name} it lies above 0 (more known answers raised the error by more than item noise explains)"
    if hi < 0:
        return f"for {name} it lies below 0 (more known answers lowered the error by more than item noise explains)"
    return f"for {name} it straddles 0 (the extra known answers made no difference we can tell apart from item noise)"


def efficiency_findings(curve: pd.DataFrame, changes: dict[str, list[float]], scored: pd.DataFrame,
                        timings: pd.DataFrame) -> dict[str, Any]:
    """Section 5.7: the ends of both curves with their item-noise intervals, the fits that fell back or kept
    alpha 0, and for scale how often each method gave its most common answer and two constant answers."""
    n_lo, n_hi = int(curve["n_known"].min()), int(curve["n_known"].max())

    def at(method: str, k: int) -> float:
        return float(curve.loc[(curve.method == method) & (curve.n_known == k), "composite"].iloc[0])

    fits = scored[scored.method == "pas_icl"].drop_duplicates(["subject", "n_known"])
    top_share = {m: float(g["predicted"].value_counts(normalize=True).iloc[0]) for m, g in scored.groupby("method")}
    icl_lo = scored[(scored.method == "icl") & (scored.n_known == n_lo)]
    glue: dict[str, Any] = {"c05_eff_n_min": n_lo, "c05_eff_n_max": n_hi}
    for m, name in [("pas_icl", "pas"), ("icl", "icl")]:
        lo, hi = float(np.percentile(changes[m], 2.5)), float(np.percentile(changes[m], 97.5))
        glue |= {f"c05_eff_{name}_min": at(m, n_lo), f"c05_eff_{name}_max": at(m, n_hi),
                 f"c05_eff_{name}_change": at(m, n_hi) - at(m, n_lo), f"c05_eff_{name}_change_lo": lo,
                 f"c05_eff_{name}_change_hi": hi}
    return glue | {
        "c05_eff_n_fits": len(fits), "c05_eff_n_fallback": int(fits["fallback"].sum()),
        "c05_eff_n_alpha_zero": int(((fits["alpha"] == 0) & ~fits["fallback"]).sum()),
        "c05_eff_n_reused": int(timings.loc[timings.reused, ["subject", "n_known"]].drop_duplicates().shape[0]),
        "c05_eff_top_share_pas": top_share["pas_icl"], "c05_eff_top_share_icl": top_share["icl"],
        "c05_eff_always_a": _composite(icl_lo.assign(predicted=5.0)),
        "c05_eff_always_e": _composite(icl_lo.assign(predicted=1.0)),
        "c05_eff_finding": Sentence("; ".join(
            _interval_reading(name, float(np.percentile(changes[m], 2.5)), float(np.percentile(changes[m], 97.5)))
            for m, name in [("pas_icl", "PAS + prompt"), ("icl", "its prompt alone")])),
    }

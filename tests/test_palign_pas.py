"""PAS mechanics on tiny random models: capture, probes, steering hook, alpha search, personas."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from transformers import LlamaConfig, LlamaForCausalLM

from palign_nb import (
    activations,
    pas,
    pas_every_subject,
    pas_subject,
    probing,
    prompts,
    scoring,
)
from palign_nb.errors import PalignError
from palign_nb.inventories import get_inventory
from palign_nb.models import LoadedModel, embedded_model_dir

INV = get_inventory("ipip")
USERS = [
    prompts.question(t, INV)
    for t in [
        "Worry about things.",
        "Love to read challenging material.",
        "Am the life of the party.",
    ]
]


@pytest.fixture(scope="module")
def tokenizer():
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(embedded_model_dir()[0])


def tiny(tokenizer, n_heads=4, n_kv=2, layers=3, seed=0) -> LoadedModel:
    torch.manual_seed(seed)
    cfg = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=layers,
        num_attention_heads=n_heads,
        num_key_value_heads=n_kv,
        max_position_embeddings=2048,
        attn_implementation="sdpa",
    )
    return LoadedModel(
        LlamaForCausalLM(cfg).eval(),
        tokenizer,
        "tiny-llama",
        f"seed{seed}",
        torch.device("cpu"),
    )


def test_capture_shapes_gqa_and_matches_plain_forward(tokenizer):
    lm = tiny(tokenizer, n_heads=4, n_kv=2)
    acts = activations.capture_head_outputs(
        lm, prompts.DEFAULT_SYSTEM, USERS, "A", batch_size=2
    )
    assert acts.shape == (3, 3, 4, 8)  # (prompts, layers, query heads, d_head)
    seen = {}
    handle = activations.out_projections(lm.model)[1].register_forward_pre_hook(
        lambda m, a: seen.update(x=a[0])
    )
    try:
        ids = tokenizer(
            prompts.render_chat(tokenizer, prompts.DEFAULT_SYSTEM, USERS[2], "A"),
            add_special_tokens=False,
            return_tensors="pt",
        )["input_ids"]
        with torch.inference_mode():
            lm.model(input_ids=ids)
    finally:
        handle.remove()
    np.testing.assert_allclose(
        acts[2, 1].reshape(-1), seen["x"][0, -1].numpy(), atol=1e-5
    )


def test_steering_restores_logits_bit_exactly(tokenizer):
    lm = tiny(tokenizer)
    ids = tokenizer(
        prompts.render_chat(tokenizer, prompts.DEFAULT_SYSTEM, USERS[0]),
        add_special_tokens=False,
        return_tensors="pt",
    )["input_ids"]
    with torch.inference_mode():
        before = lm.model(input_ids=ids).logits.clone()
        persona = pas.Persona(
            [(0, 1), (2, 3)],
            np.ones((2, 8), np.float32) / np.sqrt(8),
            np.array([1.0, 2.0], np.float32),
        )
        with pas.steer(lm, persona, alpha=5.0):
            during = lm.model(input_ids=ids).logits
        after = lm.model(input_ids=ids).logits
        with pas.steer(lm, persona, alpha=0.0):
            at_zero = lm.model(input_ids=ids).logits
    assert not torch.equal(before, during)
    assert torch.equal(before, after) and torch.equal(before, at_zero)
    assert all(not p._forward_pre_hooks for p in activations.out_projections(lm.model))


def test_steering_touches_only_the_chosen_head_slice(tokenizer):
    lm = tiny(tokenizer)
    persona = pas.Persona(
        [(1, 2)], np.ones((1, 8), np.float32), np.array([1.0], np.float32)
    )
    inputs = {}
    proj = activations.out_projections(lm.model)[1]
    handle = proj.register_forward_hook(
        lambda m, a, o: inputs.setdefault("x", []).append(a[0].clone())
    )
    ids = torch.tensor([[1, 2, 3, 4]])
    with torch.inference_mode():
        lm.model(input_ids=ids)
        with pas.steer(lm, persona, alpha=3.0):
            lm.model(input_ids=ids)
    handle.remove()
    diff = (inputs["x"][1] - inputs["x"][0])[0]  # (positions, heads * d_head)
    assert torch.allclose(diff[:, 16:24], torch.full((4, 8), 3.0))
    assert (
        torch.count_nonzero(diff[:, :16]) == 0
        and torch.count_nonzero(diff[:, 24:]) == 0
    )


def planted_contrast(
    n_items: int,
    layers: int,
    heads: int,
    d: int,
    planted: tuple[int, int],
    strength: float,
):
    """Random contrast activations (seeded) in which head ``planted``'s dimension 0 says "matches the subject"."""
    rng = np.random.default_rng(0)
    acts = rng.normal(size=(n_items, 2, layers, heads, d)).astype(np.float32)
    values = rng.choice([1, 2, 4, 5], size=n_items)
    signal = np.where(probing.contrast_labels(values)[1], 1.0, -1.0)
    acts[:, 0, planted[0], planted[1], 0] += strength * signal
    acts[:, 1, planted[0], planted[1], 0] -= strength * signal
    return acts, values


def test_probe_finds_the_planted_head():
    acts, values = planted_contrast(30, 4, 3, 6, planted=(2, 1), strength=2.5)
    X, y, groups = probing.probe_dataset(acts, values)
    result = probing.fit_head_probes(X, y, groups, seed=0)
    assert probing.top_k_heads(result.score, 1) == [(2, 1)]
    assert result.val_acc[2, 1] > 0.9
    theta, sigma = pas.head_directions(X, y, [(2, 1)])
    assert abs(theta[0, 0]) > 0.9 and sigma[0] > 0
    again = probing.fit_head_probes(X, y, groups, seed=0)
    np.testing.assert_array_equal(result.score, again.score)  # seeded


def test_contrast_labels_skip_neutral_and_missing():
    used, a_match = probing.contrast_labels(np.array([5, 4, 3, 2, 1, 0]))
    assert used.tolist() == [True, True, False, True, True, False]
    assert a_match[used].tolist() == [True, True, False, False]
    with pytest.raises(PalignError, match="usable"):
        probing.probe_dataset(np.zeros((3, 2, 1, 1, 2)), np.array([3, 0, 5]))


def test_positive_alpha_moves_probability_toward_the_planted_option(tokenizer):
    lm = tiny(tokenizer, layers=2)
    option_ids = scoring.option_token_ids(tokenizer)
    ids = tokenizer(
        prompts.render_chat(tokenizer, prompts.DEFAULT_SYSTEM, USERS[0]),
        add_special_tokens=False,
        return_tensors="pt",
    )["input_ids"]
    # Plant the direction: the gradient of logit(A) - logit(E) w.r.t. head 1 of the last layer at the answer token.
    proj = activations.out_projections(lm.model)[1]
    grabbed = {}

    def grab(module, args):
        x = args[0].detach().requires_grad_(True)
        grabbed["x"] = x
        return (x,)

    handle = proj.register_forward_pre_hook(grab)
    logits = lm.model(input_ids=ids).logits[0, -1]
    torch.log_softmax(logits[option_ids], dim=-1)[
        0
    ].backward()  # log p(A) among the five options
    handle.remove()
    grad = grabbed["x"].grad[0, -1, 8:16].numpy()
    scale = float(
        grabbed["x"][0, -1, 8:16].detach().norm()
    )  # a sigma on the scale of the head's own output
    persona = pas.Persona(
        [(1, 1)],
        (grad / np.linalg.norm(grad))[None].astype(np.float32),
        np.array([scale], np.float32),
    )
    p_a = []
    for alpha in (0.0, 0.5, 1.0):
        with pas.steer(lm, persona, alpha):
            p_a.append(
                float(
                    scoring.score_options(lm, prompts.DEFAULT_SYSTEM, USERS[:1])[
                        "p_A"
                    ].iloc[0]
                )
            )
    assert p_a[0] < p_a[1] < p_a[2]


def test_search_alpha_prefers_zero_on_ties_and_refines():
    targets = np.array([5, 5, 5])
    traits = np.array(["A", "A", "C"])

    def evaluate(
        alpha,
    ):  # pretend steering pushes every answer up one option per unit of alpha
        probs = np.zeros((3, 5))
        best = int(np.clip(round(3 - alpha), 0, 4))
        probs[:, best] = 1.0
        return pd.DataFrame(
            {
                **{f"p_{x}": probs[:, i] for i, x in enumerate("ABCDE")},
                "predicted": [5 - best] * 3,
            }
        )

    alpha, trials = pas.search_alpha(
        evaluate, targets, traits, alphas=(0.0, 1.0, 2.0, 4.0)
    )
    assert alpha == 4.0 and len(trials) == 4
    flat_alpha, _ = pas.search_alpha(
        lambda a: evaluate(0.0), targets, traits, alphas=(0.0, 1.0, 2.0)
    )
    assert flat_alpha == 0.0
    refined, trials = pas.search_alpha(
        evaluate, targets, traits, alphas=(0.0, 4.0), refine=True
    )
    assert len(trials) > 2 and 0.0 <= refined <= 10.0


def test_persona_round_trip_and_wrong_model(tokenizer, tmp_path):
    lm = tiny(tokenizer)
    persona = pas.Persona(
        [(0, 1), (2, 3)],
        np.eye(2, 8, dtype=np.float32),
        np.array([0.5, 1.5], np.float32),
        4.0,
        {"model_id": lm.model_id, "model_revision": lm.revision, "keying": "papi"},
    )
    path = pas.save_persona(persona, tmp_path / "subject-1")
    back = pas.load_persona(path, lm)
    assert (
        back.heads == persona.heads
        and back.alpha == 4.0
        and back.meta["keying"] == "papi"
    )
    np.testing.assert_array_equal(back.directions, persona.directions)
    np.testing.assert_array_equal(back.sigmas, persona.sigmas)
    other = tiny(tokenizer, seed=1)
    with pytest.raises(PalignError, match="made for model"):
        pas.load_persona(path, other)
    with pytest.raises(PalignError, match="No persona"):
        pas.load_persona(tmp_path / "nobody")


def test_chosen_alpha_and_heads_ignore_test_answers(tokenizer):
    lm = tiny(tokenizer)
    known = INV.items.index[:12].tolist()
    validation = INV.items.index[12:17].tolist()
    test = INV.items.index[17:25].tolist()
    act_items = known + validation
    acts = activations.contrast_activations(lm, act_items, INV, batch_size=8)
    rng = np.random.default_rng(0)
    answers = pd.Series(
        rng.choice([1, 2, 4, 5], size=len(INV.items)), index=INV.items.index
    )
    kwargs = dict(
        inventory=INV,
        keying="papi",
        system=prompts.DEFAULT_SYSTEM,
        settings=pas_subject.PASSettings(top_k=3, alphas=(0.0, 2.0, 8.0)),
    )
    first = pas_subject.align_subject(
        lm, acts, act_items, answers, known, validation, **kwargs
    )
    changed = answers.copy()
    changed[test] = 6 - changed[test]
    second = pas_subject.align_subject(
        lm, acts, act_items, changed, known, validation, **kwargs
    )
    assert first.persona.heads == second.persona.heads
    assert first.persona.alpha == second.persona.alpha
    pd.testing.assert_frame_equal(first.trials, second.trials)


def test_letter_removed_direction_drops_what_only_says_answer_a():
    rng = np.random.default_rng(0)
    n_items, d = 40, 8
    letter = np.zeros(d)
    letter[0] = (
        3.0  # every "A" completion sits 3 units further along axis 0 than its "E" completion
    )
    content = rng.normal(size=(n_items, d))
    agreement = np.zeros((n_items, d))
    agreement[:, 1] = content[
        :, 1
    ]  # how much "A" to this statement differs from "E" beyond the letter
    acts = np.stack(
        [content + (letter + agreement) / 2, content - (letter + agreement) / 2], axis=1
    )[:, :, None, None, :]
    one_sided = np.full(n_items, 5)  # agrees with everything: "A" always matches
    X, y, _ = probing.probe_dataset(acts, one_sided)
    mass, _ = pas.head_directions(X, y, [(0, 0)], "mass_mean")
    removed, sigma = pas.head_directions(X, y, [(0, 0)], "letter_removed")
    assert (
        pas.letter_cosine(X, y, [(0, 0)])[0] > 0.9
    )  # the paper's direction is mostly the letter axis
    assert (
        np.all(removed == 0) and sigma[0] == 0
    )  # one-sided: the mass mean IS the letter vector; no noise is steered
    # a subject whose answers follow a content axis keeps that axis once the letter is removed
    values = np.where(content[:, 1] > 0, 5, 1)
    X, y, _ = probing.probe_dataset(acts, values)
    removed, _ = pas.head_directions(X, y, [(0, 0)], "letter_removed")
    letter_unit = pas.letter_vectors(X, [(0, 0)])[0] / np.linalg.norm(
        pas.letter_vectors(X, [(0, 0)])[0]
    )
    assert abs(removed[0] @ letter_unit) < 1e-5 and abs(removed[0, 1]) > 0.5
    with pytest.raises(PalignError, match="letter_removed"):
        pas.head_directions(X, y, [(0, 0)], "balanced")


def test_alpha_criteria_judge_the_same_trials_differently():
    targets, traits = np.array([5, 5, 1, 1]), np.array(["A", "A", "C", "C"])

    def table(p_rows, predicted):
        return pd.DataFrame(p_rows, columns=[f"p_{x}" for x in "ABCDE"]).assign(
            predicted=predicted
        )

    # alpha 0: sure answers, right on 2 items and 4 off on 2; alpha 1: every argmax 3 off, yet 45 % of the
    # mass sits on each target (a lower expected error and RPS, a higher argmax error)
    by_alpha = {
        0.0: table(
            [[1, 0, 0, 0, 0], [0, 0, 0, 0, 1], [0, 0, 0, 0, 1], [1, 0, 0, 0, 0]],
            [5, 1, 1, 5],
        ),
        1.0: table(
            [
                [0.45, 0, 0, 0.55, 0],
                [0.45, 0, 0, 0.55, 0],
                [0, 0.55, 0, 0, 0.45],
                [0, 0.55, 0, 0, 0.45],
            ],
            [2, 2, 4, 4],
        ),
    }
    chosen = {
        c: pas.search_alpha(
            by_alpha.__getitem__, targets, traits, (0.0, 1.0), criterion=c
        )[0]
        for c in pas.ALPHA_CRITERIA
    }
    assert chosen == {"argmax": 0.0, "expected": 1.0, "rps": 1.0}
    _, trials = pas.search_alpha(by_alpha.__getitem__, targets, traits, (0.0, 1.0))
    assert {"composite", "expected", "rps"} <= set(trials)
    with pytest.raises(PalignError, match="argmax, expected, rps"):
        pas.search_alpha(
            by_alpha.__getitem__, targets, traits, (0.0,), criterion="median"
        )


def test_run_pas_reuses_the_unsteered_pass_only_where_it_is_the_same_pass(tokenizer):
    from palign_nb import all_subjects

    lm = tiny(tokenizer)
    known, validation, test = (
        INV.items.index[:12].tolist(),
        INV.items.index[12:17].tolist(),
        INV.items.index[17:23].tolist(),
    )
    acts = activations.contrast_activations(lm, known, INV, batch_size=8)
    rng = np.random.default_rng(0)
    answers = pd.DataFrame(
        rng.choice([1, 2, 4, 5], size=(2, len(INV.items))),
        index=[7, 8],
        columns=INV.items.index,
    )
    answers.loc[8, known] = 3  # nothing decided among the known answers: the fallback
    system_of = lambda s: prompts.DEFAULT_SYSTEM  # noqa: E731
    unsteered, _ = all_subjects.run_prompted(
        lm, answers, [7, 8], "icl", system_of, test, INV, batch_size=4
    )
    kwargs = dict(
        settings=pas_subject.PASSettings(top_k=3, alphas=(0.0,), batch_size=4)
    )  # alpha 0 is the only choice
    reused, times, personas = pas_every_subject.run_pas(
        lm,
        acts,
        known,
        answers,
        [7, 8],
        "pas_icl",
        system_of,
        known,
        validation,
        test,
        INV,
        "papi",
        unsteered=unsteered,
        **kwargs,
    )
    scored, _, _ = pas_every_subject.run_pas(
        lm,
        acts,
        known,
        answers,
        [7, 8],
        "pas_icl",
        system_of,
        known,
        validation,
        test,
        INV,
        "papi",
        **kwargs,
    )
    assert reused["fallback"].tolist() == [False] * len(test) + [True] * len(
        test
    ) and list(personas) == [7]
    meta = personas[7].meta  # the provenance run_pas sets, which load_persona checks
    assert (
        meta["model_id"],
        meta["model_revision"],
        meta["subject"],
        meta["method"],
    ) == (lm.model_id, lm.revision, 7, "pas_icl")
    assert (
        times.loc[times.stage == "test_pass", "seconds"] == 0
    ).all()  # its cost is in run_prompted's timings
    probs = [f"p_{x}" for x in "ABCDE"]
    assert reused["predicted"].tolist() == scored["predicted"].tolist()
    np.testing.assert_allclose(
        reused[probs].to_numpy(), scored[probs].to_numpy(), atol=1e-5
    )
    # a steered alpha is never taken from the unsteered table
    steered, _, _ = pas_every_subject.run_pas(
        lm,
        acts,
        known,
        answers,
        [7],
        "pas_icl",
        system_of,
        known,
        validation,
        test,
        INV,
        "papi",
        pas_subject.PASSettings(top_k=3, alphas=(8.0,), batch_size=4),
        unsteered=unsteered,
    )
    assert not np.allclose(
        steered[probs].to_numpy(),
        unsteered.loc[unsteered.subject == 7, probs].to_numpy(),
    )


def test_oracle_keeps_the_alpha_that_scores_best_on_the_test_items(tokenizer):
    from palign_nb.metrics import add_targets, alignment_score, subject_predictions

    lm = tiny(tokenizer)
    known, test = INV.items.index[:12].tolist(), INV.items.index[17:27].tolist()
    acts = activations.contrast_activations(lm, known, INV, batch_size=8)
    rng = np.random.default_rng(1)
    answers = pd.DataFrame(
        rng.choice([1, 2, 4, 5], size=(1, len(INV.items))),
        index=[3],
        columns=INV.items.index,
    )
    run = pas_subject.oracle_subject(
        lm,
        acts,
        known,
        answers.loc[3],
        known,
        test,
        INV,
        "papi",
        prompts.DEFAULT_SYSTEM,
        pas_subject.PASSettings(top_k=3, alphas=(0.0, 4.0, 16.0), batch_size=4),
    )
    scores = {
        a: float(
            alignment_score(
                add_targets(subject_predictions(3, t, answers, INV), INV, "papi")
            )["composite"]
        )
        for a, t in run.tables.items()
    }
    assert set(run.pass_seconds) == {0.0, 4.0, 16.0}
    assert scores[run.persona.alpha] == min(scores.values())
    assert run.persona.alpha == min(
        a for a, v in scores.items() if v == min(scores.values())
    )  # ties: the smaller alpha


def test_pas_settings_from_a_chapter_and_their_checks():
    """The chapter's parameters fill the settings they name (refine_alpha -> refine); bad values are refused by name."""
    params = {
        "top_k": 8,
        "alphas": [0, 2],
        "refine_alpha": True,
        "batch_size": 4,
        "dpo_steps": 3,
    }
    s = pas_subject.chapter_pas_settings(params, seed=7)
    assert (s.top_k, s.alphas, s.refine, s.batch_size, s.seed) == (
        8,
        (0.0, 2.0),
        True,
        4,
        7,
    )
    assert (s.direction, s.alpha_criterion, s.probe_solver) == (
        "mass_mean",
        "argmax",
        "sklearn",
    )  # the paper's
    assert s.at_most(5).top_k == 5 and s.at_most(50) == s
    assert s.as_key()["alphas"] == [0.0, 2.0] and set(s.as_key()) == set(
        pas_subject.PAS_PARAMETERS
    ) | {"seed"}
    with pytest.raises(
        PalignError, match="direction must be one of.*alpha_criterion must be one of"
    ):
        pas_subject.PASSettings(direction="mean", alpha_criterion="best")
    with pytest.raises(PalignError, match="alphas must not be empty"):
        pas_subject.PASSettings(alphas=())

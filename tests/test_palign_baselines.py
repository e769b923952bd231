"""The baselines of chapters 06-07: ICL and P2 prompts, the RL reward, DPO pairs, and one TRL step each
(DPO, GRPO) on a tiny random Llama, plus the error messages for bad input."""

from __future__ import annotations

import json
import contextlib

import numpy as np
import pandas as pd
import pytest
import torch
from transformers import LlamaConfig, LlamaForCausalLM

from palign_nb import (
    adapters,
    data,
    preference,
    preference_training,
    prompt_baselines,
    prompts,
    scoring,
    splits,
)
from palign_nb.errors import PalignError
from palign_nb.inventories import VALUE_TO_LETTER, get_inventory
from palign_nb.models import LoadedModel, embedded_model_dir

IPIP = get_inventory("ipip")
SD3 = get_inventory("sd3")


@pytest.fixture(scope="module")
def tokenizer():
    from transformers import AutoTokenizer

    path, _ = embedded_model_dir()
    return AutoTokenizer.from_pretrained(path)


@pytest.fixture()
def tiny(tokenizer) -> LoadedModel:
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=4096,
        attn_implementation="sdpa",
        pad_token_id=tokenizer.pad_token_id,
    )
    return LoadedModel(
        LlamaForCausalLM(config).eval(),
        tokenizer,
        "tiny-llama",
        "random",
        torch.device("cpu"),
    )


@pytest.fixture(scope="module")
def papi() -> pd.DataFrame:
    return data.load_papi_test()


@pytest.fixture(scope="module")
def known() -> list[str]:
    return data.paper_item_split()[0]


# --- the paper's reward ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "letter,value", [("A", 5), ("B", 4), ("C", 3), ("D", 2), ("E", 1)]
)
@pytest.mark.parametrize("target", [1, 3, 5])
def test_reward_every_option(letter, value, target):
    for response in (
        f" {letter}",
        f" {letter}). {IPIP.labels[value]}",
        f" ({letter})",
        f": {letter}\n",
    ):
        assert preference.named_option(response, IPIP) == value, response
        assert preference.option_reward(response, target, IPIP) == -abs(value - target)


@pytest.mark.parametrize(
    "response,value",
    [
        (" is Very Inaccurate for me", 1),
        (" Moderately Accurate", 4),
        ("I'd say Neither Accurate Nor Inaccurate", 3),
        (" Moderately Inaccurate.", 2),
        ("... Very Accurate!", 5),
    ],
)
def test_reward_reads_labels_as_the_paper_does(response, value):
    assert preference.named_option(response, IPIP) == value
    assert preference.option_reward(response, 5, IPIP) == -(5 - value)


@pytest.mark.parametrize(
    "response", ["", " I am not sure.", " Absolutely", " a statement", " F", "Hmm"]
)
def test_reward_unparseable_is_minus_six(response):
    assert preference.named_option(response, IPIP) is None
    assert (
        preference.option_reward(response, 3, IPIP)
        == preference.NO_OPTION_REWARD
        == -6.0
    )


def test_reward_sd3_labels_longest_first():
    assert preference.named_option(" I Somewhat Agree", SD3) == 4  # not "Agree"
    assert preference.named_option(" Neither Agree Nor Disagree", SD3) == 3
    assert preference.named_option(" Disagree", SD3) == 1
    reward = preference.paper_reward(IPIP)
    assert reward(
        completions=[" A", " E", "??"], target=[5, 5, 5], prompts=["p"] * 3
    ) == [0.0, -4.0, -6.0]


# --- prompts -------------------------------------------------------------------------------------


def test_icl_keyings_differ_exactly_on_minus_keyed_items(papi, known):
    subject = papi.index[0]
    _, shown_papi = prompt_baselines.known_answers(papi, subject, known, IPIP, "papi")
    _, shown_literal = prompt_baselines.known_answers(
        papi, subject, known, IPIP, "literal"
    )
    stored = papi.loc[subject, known].to_numpy()
    minus = IPIP.items.loc[known, "sign"].to_numpy() < 0
    assert (shown_papi == stored).all()
    assert (
        shown_literal[minus] == np.where(stored[minus] > 0, 6 - stored[minus], 0)
    ).all()
    assert (shown_literal[~minus] == stored[~minus]).all()
    system = prompt_baselines.icl_system(papi, subject, known, IPIP, "papi")
    assert system.startswith(
        "Here are some of your behaviors and your level of recognition towards them;"
    )
    assert system.count(";") == len(known)


def test_p2_request_reproduces_the_shipped_inputs(papi, known):
    import json

    shipped = json.loads(
        (data.data_dir() / "papi" / "personality_prompt.json").read_text()
    )
    for row, subject in zip(shipped, papi.index):
        texts, values = prompt_baselines.known_answers(
            papi, subject, known, IPIP, "papi"
        )
        request = prompt_baselines.p2_request(texts, values.tolist(), IPIP)
        assert request == row["input"] + prompt_baselines.P2_TAIL
    assert prompt_baselines.shipped_p2(papi.index[0]).startswith("You are")


def test_generate_p2_persona_decodes_after_the_papers_rewrite_prompt(tiny):
    """Greedy (temperature 0) is the model's own greedy continuation of the paper's P2 request, without the prompt;
    sampling is reproducible from its seed and changes with it."""
    texts, values = ["Worry about things.", "Make friends easily."], [4, 2]
    greedy = prompt_baselines.generate_p2_persona(
        tiny, texts, values, IPIP, max_new_tokens=6, temperature=0
    )
    tok = tiny.tokenizer
    request = prompt_baselines.p2_request(texts, values, IPIP)
    prompt = tok.apply_chat_template(
        prompts.chat_messages(prompt_baselines.P2_SYSTEM, request),
        tokenize=False,
        add_generation_prompt=True,
    )
    ids = tok(prompt, add_special_tokens=False, return_tensors="pt")["input_ids"]
    with torch.no_grad():
        out = tiny.model.generate(
            input_ids=ids,
            attention_mask=torch.ones_like(ids),
            max_new_tokens=6,
            do_sample=False,
            pad_token_id=tok.pad_token_id,
        )
    assert (
        greedy == tok.decode(out[0, ids.shape[1] :], skip_special_tokens=True).strip()
    )
    sample = lambda seed: prompt_baselines.generate_p2_persona(
        tiny,
        texts,
        values,
        IPIP,
        max_new_tokens=8,  # noqa: E731
        temperature=1.0,
        seed=seed,
    )
    assert sample(3) == sample(3)
    assert len({sample(seed) for seed in range(4)}) > 1, "sampling ignored its seed"


def test_score_items_and_chapter_items(tiny, papi):
    split = {"test": data.paper_item_split()[1]}
    items = splits.chapter_items(split, IPIP, 10)
    assert (
        len(items) == 10
        and IPIP.items.loc[items, "trait"].value_counts().tolist() == [2] * 5
    )
    scored = prompt_baselines.score_items(
        tiny, prompts.DEFAULT_SYSTEM, items[:3], IPIP, batch_size=2
    )
    # each item's own question, as the plain reference scores it (one full forward per prompt), in the items' order
    # (batches of 2 for 3 items: a shuffled or misaligned last batch shows)
    plain = scoring.score_options_plain(
        tiny,
        prompts.DEFAULT_SYSTEM,
        [prompts.question(IPIP.items.loc[c, "text"], IPIP) for c in items[:3]],
        index=items[:3],
    )
    assert scored.index.tolist() == items[:3]
    np.testing.assert_allclose(
        scored[[f"p_{x}" for x in "ABCDE"]].to_numpy(),
        plain[[f"p_{x}" for x in "ABCDE"]].to_numpy(),
        atol=1e-5,
    )
    assert (scored["predicted"] == plain["predicted"]).all()
    assert scored.loc[items[0], "p_A"] != scored.loc[items[1], "p_A"], (
        "every item was asked the same question"
    )
    with pytest.raises(PalignError, match="n_items"):
        splits.chapter_items(split, IPIP, 0)
    assert (
        splits.first_per_trait(items, IPIP, 5) == items[::2]
    )  # one per trait, the first of each


# --- preference pairs -------------------------------------------------------------------------------


def test_preference_pairs_for_a_subject(tiny, papi, known):
    subject = papi.index[0]
    pairs = preference.preference_pairs(tiny, papi, subject, known, IPIP, "papi")
    stored = papi.loc[subject, known]
    answered = stored[stored > 0]
    assert len(pairs) == len(answered) + int(
        (answered == 3).sum()
    )  # a middle answer gets both ends
    for row in pairs.itertuples():
        assert row.chosen == f" {VALUE_TO_LETTER[int(stored[row.item])]}"
        far = {5: 1, 4: 1, 2: 5, 1: 5}.get(row.chosen_value)
        assert (
            row.rejected_value in ((far,) if far else (5, 1))
            and row.rejected != row.chosen
        )
        assert row.prompt.endswith("<|im_start|>assistant\nOption")
    # the chosen token is exactly the token the scorer reads after the prompt
    option_ids = scoring.option_token_ids(tiny.tokenizer)
    row = pairs.iloc[0]
    p = tiny.tokenizer(row.prompt)["input_ids"]
    pc = tiny.tokenizer(row.prompt + row.chosen)["input_ids"]
    assert pc[: len(p)] == p and pc[len(p) :] == [
        option_ids["ABCDE".index(row.chosen.strip())]
    ]


def test_preference_pairs_literal_flip_minus_keyed(tiny, papi, known):
    subject = papi.index[0]
    papi_pairs = preference.preference_pairs(
        tiny, papi, subject, known, IPIP, "papi"
    ).drop_duplicates("item")
    literal_pairs = preference.preference_pairs(
        tiny, papi, subject, known, IPIP, "literal"
    ).drop_duplicates("item")
    minus = IPIP.items.loc[papi_pairs["item"], "sign"].to_numpy() < 0
    assert (
        literal_pairs["chosen_value"].to_numpy()[minus]
        == 6 - papi_pairs["chosen_value"].to_numpy()[minus]
    ).all()


# --- one TRL step on a tiny model -----------------------------------------------------------------------


def _split_params(peft_model):
    lora = {
        n: p.detach().clone() for n, p in peft_model.named_parameters() if "lora_" in n
    }
    base = {
        n.replace("base_model.model.", "").replace(
            ".base_layer", ""
        ): p.detach().clone()
        for n, p in peft_model.named_parameters()
        if "lora_" not in n
    }
    return lora, base


def _check_step(lm, original, result):
    lora, base = _split_params(result.model)
    assert lora and any(
        ("lora_B" in n) and p.abs().max() > 0 for n, p in lora.items()
    ), "the adapter did not move"
    for (
        name,
        value,
    ) in (
        original.items()
    ):  # the copy's base weights and the original model are untouched
        assert torch.equal(base[name], value), name
        assert torch.equal(lm.model.state_dict()[name], value), name
    assert len(result.history) == 1 and result.seconds > 0


def test_one_dpo_step_moves_only_the_adapter(tiny, papi, known, tmp_path):
    original = {k: v.clone() for k, v in tiny.model.state_dict().items()}
    pairs = preference.preference_pairs(
        tiny, papi, papi.index[0], known[:10], IPIP, "papi"
    )
    result = preference_training.train_dpo(
        tiny, pairs, preference.TrainSettings("dpo", steps=1, batch_size=2)
    )
    _check_step(tiny, original, result)
    # saved, reloaded and merged, the adapter scores exactly like the trained one merged
    local = (
        tmp_path / "models" / "tiny-abc123"
    )  # a base model saved in a local folder, as the embedded one is
    tiny.model.config.save_pretrained(local)
    result.model.peft_config["default"].base_model_name_or_path = str(local)
    path = adapters.save_adapter(result, tmp_path / "dpo" / "1")
    saved = (path / "adapter_config.json").read_text() + (
        path / "README.md"
    ).read_text()
    assert (
        "tiny-abc123" in saved and str(tmp_path) not in saved
    )  # the folder's name, not where the clone lives
    # PEFT keeps the target modules as a set (hash order): written sorted, in PEFT's layout
    written = json.loads((path / "adapter_config.json").read_text())
    assert written["target_modules"] == ["q_proj", "v_proj"]
    assert (path / "adapter_config.json").read_text() == json.dumps(
        written, indent=2, sort_keys=True
    )
    items = data.paper_item_split()[1][:4]
    direct = prompt_baselines.score_items(
        preference_training.merged(tiny, result.model, "dpo"),
        prompts.DEFAULT_SYSTEM,
        items,
        IPIP,
    )
    loaded = prompt_baselines.score_items(
        adapters.load_adapter(tiny, path), prompts.DEFAULT_SYSTEM, items, IPIP
    )
    base = prompt_baselines.score_items(tiny, prompts.DEFAULT_SYSTEM, items, IPIP)
    np.testing.assert_allclose(
        direct.iloc[:, :5].to_numpy(), loaded.iloc[:, :5].to_numpy(), atol=1e-6
    )
    assert not np.allclose(
        direct.iloc[:, :5].to_numpy(), base.iloc[:, :5].to_numpy(), atol=1e-7
    )


def test_one_grpo_step_moves_only_the_adapter(tiny, papi, known):
    original = {k: v.clone() for k, v in tiny.model.state_dict().items()}
    seen: list[str] = []

    def length_reward(
        completions, target, **kwargs
    ):  # a random model names no option; any varying reward will do
        seen.extend(completions)
        return [float(len(c)) for c in completions]

    rp = preference.reward_prompts(tiny, papi, papi.index[0], known[:10], IPIP, "papi")
    settings = preference.TrainSettings(
        "grpo", steps=1, batch_size=4, num_generations=4, max_completion_length=4
    )
    result = preference_training.train_grpo(
        tiny, rp, settings, IPIP, reward=length_reward
    )
    assert len(seen) == 4
    _check_step(tiny, original, result)


def test_grpo_logs_the_mean_of_the_rewards_it_gave(tiny, papi, known):
    """The history's reward is the mean of the rewards the reward function gave the sampled answers, and its
    reward_std their (n - 1) standard deviation: distinct rewards, so a first, last, sum or max would not pass."""
    rp = preference.reward_prompts(tiny, papi, papi.index[0], known[:10], IPIP, "papi")
    given: list[float] = []

    def by_position(completions, target, **kwargs):
        rewards = [-6.0, -1.0, -2.0, 0.0][: len(completions)]
        given.extend(rewards)
        return rewards

    settings = preference.TrainSettings(
        "grpo", steps=1, batch_size=4, num_generations=2, max_completion_length=3
    )
    result = preference_training.train_grpo(
        tiny, rp, settings, IPIP, reward=by_position
    )
    assert given == [-6.0, -1.0, -2.0, 0.0]
    assert float(result.history["reward"].iloc[0]) == pytest.approx(-2.25)
    assert float(result.history["reward_std"].iloc[0]) == pytest.approx(
        np.std(given, ddof=1)
    )


def _linear_dtypes(
    run, dtype: torch.dtype
) -> tuple[set[torch.dtype], set[torch.dtype]]:
    """The output dtypes of the linear layers while ``run()`` trains: (1) of every layer in the passes that build
    gradients (the LoRA layers included), (2) of the layers whose weights are in ``dtype`` in every pass (the reference
    pass, GRPO's sampling: there TRL runs the model outside autocast, so the float32 LoRA layers compute in float32 and
    their sum is cast back to the model's dtype; nothing is trained from those passes)."""
    training: set[torch.dtype] = set()
    model: set[torch.dtype] = set()

    def hook(module, args, output):
        if isinstance(module, torch.nn.Linear):
            if torch.is_grad_enabled():
                training.add(output.dtype)
            if module.weight.dtype == dtype:
                model.add(output.dtype)

    handle = torch.nn.modules.module.register_module_forward_hook(hook)
    try:
        run()
    finally:
        handle.remove()
    return training, model


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float32])
def test_training_runs_in_the_models_dtype(tiny, papi, known, dtype):
    """DPO and GRPO train in the model's dtype, the LoRA layers too (bfloat16 where models.load_model chose it: without
    autocast the float32 LoRA weights would compute in float32; TRL's configs would autocast a float32 model to
    bfloat16 by default), and keep float32 LoRA weights for the optimiser."""
    lm = LoadedModel(
        tiny.model.to(dtype),
        tiny.tokenizer,
        "tiny-llama",
        "random",
        torch.device("cpu"),
    )
    pairs = preference.preference_pairs(
        lm, papi, papi.index[0], known[:6], IPIP, "papi"
    )
    rp = preference.reward_prompts(lm, papi, papi.index[0], known[:6], IPIP, "papi")
    results = []
    dpo = lambda: results.append(
        preference_training.train_dpo(
            lm, pairs, preference.TrainSettings("dpo", steps=1, batch_size=2)
        )
    )  # noqa: E731
    grpo = lambda: results.append(
        preference_training.train_grpo(  # noqa: E731
            lm,
            rp,
            preference.TrainSettings(
                "grpo",
                steps=1,
                batch_size=2,
                num_generations=2,
                max_completion_length=2,
            ),
            IPIP,
            reward=lambda completions, **kw: [float(len(c)) for c in completions],
        )
    )
    assert _linear_dtypes(dpo, dtype) == ({dtype}, {dtype})
    assert _linear_dtypes(grpo, dtype) == ({dtype}, {dtype})
    for result in results:
        assert {
            p.dtype for n, p in result.model.named_parameters() if "lora_" in n
        } == {torch.float32}
        assert {
            p.dtype for n, p in result.model.named_parameters() if "lora_" not in n
        } == {dtype}
        assert np.isfinite(result.history["loss"]).all()


def _count_head_rows(monkeypatch) -> list[int]:
    """The rows (token positions) TRL's fused LM head projects, one entry per call."""
    from trl.trainer import utils as trl_utils

    rows: list[int] = []
    real = trl_utils._ChunkedLogProbFunction

    class Counted:
        @staticmethod
        def apply(hidden, *args):
            rows.append(hidden.shape[0])
            return real.apply(hidden, *args)

    monkeypatch.setattr(trl_utils, "_ChunkedLogProbFunction", Counted)
    return rows


def test_the_lm_head_projects_only_the_answer_tokens_and_trains_the_same(
    tiny, papi, known, monkeypatch
):
    """preference_training._head_on_answer_tokens: TRL's fused LM head projects only the answer tokens on the CPU (2 per DPO
    sequence: the option and the end of turn; the sampled tokens in GRPO), not the ~100 prompt tokens, and the adapter
    and the log are bit for bit those of TRL's own CPU path over every position. Fails if a TRL upgrade drops the
    private name it switches (then the chapters' training gets ~40% slower again)."""
    rows = _count_head_rows(monkeypatch)
    pairs = preference.preference_pairs(
        tiny, papi, papi.index[0], known[:6], IPIP, "papi"
    )
    rp = preference.reward_prompts(tiny, papi, papi.index[0], known[:6], IPIP, "papi")
    dpo_settings = preference.TrainSettings("dpo", steps=2, batch_size=1)
    grpo_settings = preference.TrainSettings(
        "grpo",
        steps=2,
        batch_size=2,
        num_generations=2,
        max_completion_length=3,
        num_iterations=2,
    )
    reward = lambda completions, **kw: [float(len(c) % 5) for c in completions]  # noqa: E731

    def both():
        return (
            preference_training.train_dpo(tiny, pairs, dpo_settings),
            preference_training.train_grpo(
                tiny, rp, grpo_settings, IPIP, reward=reward
            ),
        )

    compact = both()
    answer_rows = list(rows)
    rows.clear()
    monkeypatch.setattr(
        preference_training, "_head_on_answer_tokens", contextlib.nullcontext
    )
    every = both()
    # DPO: policy and reference, 2 steps of 1 pair = 2 sequences, 2 answer tokens each
    assert answer_rows[:4] == [4] * 4
    # GRPO: at most 2 answers x 3 sampled tokens per pass; the prompts' ~100 tokens are not projected
    assert len(answer_rows) > 4 and all(0 < n <= 2 * 3 for n in answer_rows[4:])
    assert len(rows) == len(answer_rows) and all(n > 2 * 90 for n in rows), (
        rows
    )  # the same passes, over every position
    for new, old in zip(compact, every, strict=True):
        new_lora, _ = _split_params(new.model)
        old_lora, _ = _split_params(old.model)
        assert all(torch.equal(new_lora[k], old_lora[k]) for k in old_lora)
        cols = [c for c in ("loss", "grad_norm", "reward") if c in old.history]
        pd.testing.assert_frame_equal(new.history[cols], old.history[cols])


# --- bad input --------------------------------------------------------------------------------------------


def test_subject_without_usable_known_answers(tiny, papi, known):
    blank = papi.iloc[:1].copy()
    blank.loc[:, known] = 0
    subject = blank.index[0]
    for make in (
        lambda: prompt_baselines.icl_system(blank, subject, known, IPIP, "papi"),
        lambda: preference.preference_pairs(tiny, blank, subject, known, IPIP, "papi"),
        lambda: preference.reward_prompts(tiny, blank, subject, known, IPIP, "papi"),
    ):
        with pytest.raises(
            PalignError, match="no usable known answer.*Choose another subject"
        ):
            make()


@pytest.mark.parametrize("method", ["dpo", "grpo"])
def test_zero_steps_is_a_clear_error(method):
    with pytest.raises(
        PalignError, match=f"{method}_steps=0: .*Set {method}_steps >= 1"
    ):
        preference.TrainSettings(method, steps=0, batch_size=4)


def test_grpo_batch_must_hold_whole_groups():
    with pytest.raises(PalignError, match="multiple of grpo_generations"):
        preference.TrainSettings("grpo", steps=1, batch_size=6, num_generations=4)


def test_missing_adapter_names_the_chapter(tiny, tmp_path):
    with pytest.raises(PalignError, match="No adapter at .*07_preference_baselines"):
        adapters.load_adapter(tiny, tmp_path / "adapters" / "dpo" / "42")


def test_no_shipped_p2_for_unknown_subject():
    with pytest.raises(PalignError, match="generate_p2_persona"):
        prompt_baselines.shipped_p2(-1)


def test_chapter_charts_show_the_numbers_they_are_given():
    from palign_nb import method_charts

    rng = np.random.default_rng(0)
    probs = rng.dirichlet(np.ones(5), size=6)
    table = pd.DataFrame(probs, columns=[f"p_{x}" for x in "ABCDE"]).assign(
        method=["icl"] * 3 + ["p2"] * 3
    )
    # the profile shows each method's mean probability of each option: what the reader compares
    spec = method_charts.method_option_profile(
        table
    ).to_dict()  # to_dict validates the spec against Vega-Lite's schema
    shown = pd.DataFrame(next(iter(spec["datasets"].values())))
    assert len(shown) == 2 * 5
    for (method, option), v in shown.set_index(["method", "option"])[
        "probability"
    ].items():
        assert v == pytest.approx(
            table.loc[table.method == method, f"p_{option}"].mean()
        )
    # the training curves: one panel per metric (its own y scale), holding exactly that metric's rows, one line per subject
    history = pd.DataFrame(
        {
            "step": [1, 2, 1, 2, 1, 2],
            "metric": ["loss"] * 4 + ["reward"] * 2,
            "value": [0.69, 0.5, 0.69, 0.4, -6.0, -2.5],
            "subject": [1, 1, 2, 2, 1, 1],
        }
    )
    spec = method_charts.training_curves(history).to_dict()
    panels = spec["hconcat"]
    assert [panel["encoding"]["y"]["title"] for panel in panels] == ["loss", "reward"]
    for panel, (metric, rows) in zip(
        panels, history.groupby("metric", sort=False), strict=True
    ):
        data = pd.DataFrame(spec["datasets"][panel["data"]["name"]])
        assert (
            data[["step", "value"]].to_numpy().tolist()
            == rows[["step", "value"]].to_numpy().tolist()
        ), metric
        assert data["subject"].tolist() == rows["subject"].astype(str).tolist()
        enc = panel["encoding"]
        assert (enc["x"]["field"], enc["y"]["field"]) == ("step", "value")
        assert (enc["color"]["field"], enc["color"]["type"]) == (
            "subject",
            "nominal",
        )  # a line per subject
    with pytest.raises(PalignError, match=r"needs columns \['subject'\]"):
        method_charts.training_curves(history.drop(columns="subject"))


def test_chapter_settings_build_both_methods_from_the_parameters():
    params = dict(
        lora_r=4,
        lora_alpha=16,
        weight_decay=0.0,
        warmup_steps=1,
        dpo_steps=3,
        dpo_batch_size=2,
        dpo_lr=1e-3,
        dpo_beta=0.2,
        grpo_steps=2,
        grpo_batch_size=4,
        grpo_generations=2,
        grpo_max_completion_length=3,
        grpo_iterations=1,
        grpo_lr=2e-3,
        grpo_beta=0.0,
        grpo_temperature=0.7,
    )
    settings = preference.chapter_settings(params, seed=5)
    assert (
        settings["dpo"].learning_rate,
        settings["dpo"].beta,
        settings["dpo"].warmup_steps,
    ) == (1e-3, 0.2, 1)
    assert (
        settings["grpo"].learning_rate,
        settings["grpo"].beta,
        settings["grpo"].temperature,
    ) == (2e-3, 0.0, 0.7)
    assert (
        settings["grpo"].num_generations == 2
        and settings["grpo"].seed == settings["dpo"].seed == 5
    )
    with pytest.raises(PalignError, match="grpo_beta"):
        preference.chapter_settings(
            {k: v for k, v in params.items() if k != "grpo_beta"}, seed=0
        )

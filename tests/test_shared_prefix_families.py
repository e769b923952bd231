"""The shared-prefix path against the model's own plain forward, on tiny random decoders of many families.

Each family is built in the test with random weights scaled up (a near-uniform model hides
errors), a 16-token sliding window where the family has one (the prompts are several times
longer, so the window binds both inside the prefix and inside the suffix), soft-capping small
enough to bind, and attention sinks. Every backend of the shared path, and the model's own
attention over a copied cache, must give the plain forward's option probabilities within 1e-5;
head capture and steered scoring are checked the same way.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import transformers as tf

from palign_nb import (
    activations,
    pas,
    prefix_attention,
    prompts,
    scoring,
    shared_prefix,
)
from palign_nb.errors import PalignError
from palign_nb.inventories import get_inventory
from palign_nb.models import LoadedModel, embedded_model_dir

IPIP = get_inventory("ipip")
SYSTEM = prompts.known_answers_system(
    [
        "Worry about things.",
        "Make friends easily.",
        "Have a vivid imagination.",
        "Trust others.",
    ],
    [4, 2, 5, 1],
    IPIP,
)
USERS = [
    prompts.question(t, IPIP)
    for t in [
        "Worry about things.",
        "Love to read challenging material.",
        "Am the life of the party.",
    ]
]
WINDOW = 16
P_COLS = [f"p_{x}" for x in "ABCDE"]

COMMON = dict(
    hidden_size=64,
    intermediate_size=96,
    num_hidden_layers=2,
    num_attention_heads=4,
    num_key_value_heads=2,
    max_position_embeddings=4096,
    initializer_range=0.2,
)
SLIDING = ["sliding_attention", "full_attention"]

#: family -> (config class, model class, extra config, what it exercises)
FAMILIES: dict[str, tuple[str, str, dict, str]] = {
    "llama": ("LlamaConfig", "LlamaForCausalLM", {}, "plain causal softmax, GQA"),
    "mistral": (
        "MistralConfig",
        "MistralForCausalLM",
        {"sliding_window": WINDOW},
        "one sliding window on every layer",
    ),
    "qwen2": (
        "Qwen2Config",
        "Qwen2ForCausalLM",
        {"use_sliding_window": True, "sliding_window": WINDOW, "max_window_layers": 1},
        "q/k/v biases, sliding window on the upper layers",
    ),
    "qwen3": (
        "Qwen3Config",
        "Qwen3ForCausalLM",
        {
            "head_dim": 16,
            "use_sliding_window": True,
            "sliding_window": WINDOW,
            "max_window_layers": 1,
        },
        "q/k RMS norms, sliding window",
    ),
    "gemma": (
        "GemmaConfig",
        "GemmaForCausalLM",
        {"head_dim": 24},
        "scaled embeddings, head_dim != hidden / heads",
    ),
    "gemma2": (
        "Gemma2Config",
        "Gemma2ForCausalLM",
        {
            "head_dim": 16,
            "sliding_window": WINDOW,
            "layer_types": SLIDING,
            "attn_logit_softcapping": 2.0,
            "final_logit_softcapping": 3.0,
            "query_pre_attn_scalar": 24,
            "attn_implementation": "eager",
        },
        "alternating windows, attention and final logit soft-capping, query_pre_attn_scalar",
    ),
    "gemma3_text": (
        "Gemma3TextConfig",
        "Gemma3ForCausalLM",
        {
            "head_dim": 16,
            "sliding_window": WINDOW,
            "layer_types": SLIDING,
            "query_pre_attn_scalar": 24,
            "attn_implementation": "eager",
        },
        "alternating windows with local RoPE, q/k norms",
    ),
    "phi3": (
        "Phi3Config",
        "Phi3ForCausalLM",
        {"sliding_window": WINDOW, "pad_token_id": 0},
        "fused qkv projection, sliding window",
    ),
    "olmo2": (
        "Olmo2Config",
        "Olmo2ForCausalLM",
        {"pad_token_id": 0},
        "q/k norms over the whole projection, post-norms",
    ),
    "gpt_oss": (
        "GptOssConfig",
        "GptOssForCausalLM",
        {
            "head_dim": 16,
            "sliding_window": WINDOW,
            "layer_types": SLIDING,
            "num_local_experts": 4,
            "num_experts_per_tok": 2,
            "attn_implementation": "eager",
        },
        "attention sinks, windows, experts",
    ),
    "cohere": (
        "CohereConfig",
        "CohereForCausalLM",
        {"use_qk_norm": False, "logit_scale": 0.5},
        "parallel block, logit scale",
    ),
    "granite": (
        "GraniteConfig",
        "GraniteForCausalLM",
        {
            "attention_multiplier": 0.3,
            "logits_scaling": 2.0,
            "embedding_multiplier": 3.0,
            "residual_multiplier": 0.5,
        },
        "custom attention scaling, logits scaling",
    ),
}


@pytest.fixture(scope="module")
def tokenizer():
    from transformers import AutoTokenizer

    path, _ = embedded_model_dir()
    return AutoTokenizer.from_pretrained(path)


def build(tokenizer, family: str) -> LoadedModel:
    config_name, model_name, extra, _ = FAMILIES[family]
    torch.manual_seed(0)
    options = {**COMMON, **extra}
    options.setdefault("attn_implementation", "sdpa")
    config = getattr(tf, config_name)(vocab_size=len(tokenizer), **options)
    model = getattr(tf, model_name)(config).eval()
    return LoadedModel(
        model, tokenizer, f"tiny-{family}", "random", torch.device("cpu")
    )


def max_dp(a, b) -> float:
    return float(np.abs(a[P_COLS].to_numpy() - b[P_COLS].to_numpy()).max())


@pytest.fixture(scope="module", params=sorted(FAMILIES))
def family_model(request, tokenizer):
    return request.param, build(tokenizer, request.param)


def test_scoring_matches_plain_forward_on_every_path(family_model):
    family, lm = family_model
    plain = scoring.score_options_plain(lm, SYSTEM, USERS)
    spread = plain[P_COLS].to_numpy().max(1) - plain[P_COLS].to_numpy().min(1)
    assert spread.min() > 0.05, (
        f"{family}: the random model is near-uniform ({spread}); it would hide errors"
    )
    prefix, rests = prompts.split_shared_prefix(lm.tokenizer, SYSTEM, USERS)
    window = getattr(lm.model.config, "sliding_window", None)
    if window:  # the window must bind inside the prefix and inside the longest suffix
        assert len(prefix) > 2 * window and max(len(r) for r in rests) > window
    for path, backend in [
        ("shared", "cpu_flash"),
        ("shared", "flex"),
        ("shared", "matmul"),
        ("model", None),
    ]:
        fast = scoring.score_options(
            lm, SYSTEM, USERS, batch_size=2, path=path, backend=backend
        )
        assert max_dp(fast, plain) <= 1e-5, (
            f"{family} {path}/{backend}: max |dp| = {max_dp(fast, plain):.2e}"
        )
        assert (fast["predicted"].to_numpy() == plain["predicted"].to_numpy()).all()
        np.testing.assert_allclose(
            fast["option_mass"].to_numpy(), plain["option_mass"].to_numpy(), rtol=1e-4
        )
    assert lm.model.config._attn_implementation == FAMILIES[family][2].get(
        "attn_implementation", "sdpa"
    )  # restored


def test_head_capture_matches_hooked_plain_forward(family_model):
    family, lm = family_model
    fast = activations.capture_head_outputs(lm, SYSTEM, USERS, "Option A", batch_size=2)
    plain = activations.capture_head_outputs_plain(lm, SYSTEM, USERS, "Option A")
    assert (
        fast.shape
        == plain.shape
        == (len(USERS), lm.n_layers, lm.n_heads, activations.head_dim(lm.model))
    )
    np.testing.assert_allclose(fast, plain, atol=1e-4, rtol=1e-4)


def test_steered_scoring_matches_steered_plain_forward(family_model):
    family, lm = family_model
    d = activations.head_dim(lm.model)
    rng = np.random.default_rng(0)
    directions = rng.normal(size=(3, d)).astype(np.float32)
    directions /= np.linalg.norm(directions, axis=1, keepdims=True)
    persona = pas.Persona(
        [(0, 1), (1, 0), (1, 3)], directions, np.full(3, 2.0, np.float32), alpha=4.0
    )
    unsteered = scoring.score_options_plain(lm, SYSTEM, USERS)
    with pas.steer(lm, persona):
        plain = scoring.score_options_plain(lm, SYSTEM, USERS)
        fast = scoring.score_options(lm, SYSTEM, USERS, batch_size=2)
    assert max_dp(plain, unsteered) > 1e-3, f"{family}: steering did not move the model"
    assert max_dp(fast, plain) <= 1e-5, (
        f"{family}: steered max |dp| = {max_dp(fast, plain):.2e}"
    )
    after = scoring.score_options(lm, SYSTEM, USERS, batch_size=2)
    assert max_dp(after, unsteered) <= 1e-5  # hooks removed: the model is restored


def llama4(tokenizer) -> LoadedModel:
    torch.manual_seed(0)
    config = tf.Llama4TextConfig(
        vocab_size=len(tokenizer),
        **{**COMMON, "head_dim": 16},
        attention_chunk_size=WINDOW,
        num_local_experts=2,
        intermediate_size_mlp=96,
        attn_implementation="sdpa",
    )
    return LoadedModel(
        tf.Llama4ForCausalLM(config).eval(),
        tokenizer,
        "tiny-llama4",
        "random",
        torch.device("cpu"),
    )


def test_chunked_attention_is_refused_and_the_model_path_is_exact(tokenizer):
    lm = llama4(tokenizer)
    assert any(
        "chunked attention" in f for f in shared_prefix.unsupported_features(lm.model)
    )
    with pytest.raises(PalignError, match=r"chunked attention.*path='model'"):
        scoring.score_options(lm, SYSTEM, USERS)
    with pytest.raises(PalignError, match="chunked attention"):
        activations.capture_head_outputs(lm, SYSTEM, USERS, "Option A")
    plain = scoring.score_options_plain(lm, SYSTEM, USERS)
    own = scoring.score_options(lm, SYSTEM, USERS, batch_size=2, path="model")
    assert max_dp(own, plain) <= 1e-5


def test_the_model_path_captures_and_steers_exactly_when_chosen_by_environment(
    tokenizer, monkeypatch
):
    lm = llama4(tokenizer)
    monkeypatch.setenv(prefix_attention.PATH_ENV, "model")
    fast = activations.capture_head_outputs(lm, SYSTEM, USERS, "Option A", batch_size=2)
    np.testing.assert_allclose(
        fast,
        activations.capture_head_outputs_plain(lm, SYSTEM, USERS, "Option A"),
        atol=1e-4,
        rtol=1e-4,
    )
    d = activations.head_dim(lm.model)
    persona = pas.Persona(
        [(0, 1), (1, 2)],
        np.eye(2, d, dtype=np.float32),
        np.full(2, 3.0, np.float32),
        alpha=4.0,
    )
    with pas.steer(lm, persona):
        assert (
            max_dp(
                scoring.score_options(lm, SYSTEM, USERS, batch_size=2),
                scoring.score_options_plain(lm, SYSTEM, USERS),
            )
            <= 1e-5
        )


def test_a_layer_that_bypasses_the_attention_interface_is_refused(tokenizer):
    lm = build(tokenizer, "llama")
    layer = lm.model.model.layers[1].self_attn
    original = layer.forward

    def own_attention(
        hidden_states, *args, **kwargs
    ):  # a layer that computes attention by itself
        return torch.zeros_like(hidden_states), None

    layer.forward = own_attention
    try:
        with pytest.raises(PalignError, match=r"Layers \[1\] of LlamaModel"):
            scoring.score_options(lm, SYSTEM, USERS)
    finally:
        layer.forward = original


def test_unknown_attention_arguments_are_refused(tokenizer):
    lm = build(tokenizer, "llama")
    layer = lm.model.model.layers[0].self_attn
    original = layer.forward

    def with_extra(*args, **kwargs):
        return original(*args, **kwargs, block_table="something new")

    layer.forward = with_extra
    try:
        with pytest.raises(PalignError, match="block_table"):
            scoring.score_options(lm, SYSTEM, USERS)
    finally:
        layer.forward = original


def test_bad_path_and_backend_names_are_one_clear_error(tokenizer):
    lm = build(tokenizer, "llama")
    with pytest.raises(PalignError, match="shared, model"):
        scoring.score_options(lm, SYSTEM, USERS, path="fast")
    with pytest.raises(PalignError, match="auto, cpu_flash, flex, matmul"):
        scoring.score_options(lm, SYSTEM, USERS, backend="cuda_magic")


def test_window_masks_follow_transformers_sliding_window_rule():
    first, pre, own = prefix_attention.window_masks(
        prefix_len=10, suffix_len=5, window=4, device="cpu"
    )
    assert (
        first == 7
    )  # the first suffix token (position 10) sees positions 7, 8, 9 and itself
    assert pre.tolist()[0] == [True, True, True] and pre.tolist()[1] == [
        False,
        True,
        True,
    ]
    assert (
        pre[3:].sum() == 0
    )  # from the fourth suffix token on, the prefix is out of the window
    assert own.tolist()[4] == [False, True, True, True, True]

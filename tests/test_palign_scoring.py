"""Scoring mechanics on tiny random models (and a few checks on the embedded model)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from transformers import (
    AttentionInterface,
    LlamaConfig,
    LlamaForCausalLM,
    Qwen2Config,
    Qwen2ForCausalLM,
)

from palign_nb import prefix_attention, prompts, scoring, shared_prefix
from palign_nb.errors import PalignError
from palign_nb.inventories import get_inventory
from palign_nb.models import EMBEDDED_ID, LoadedModel, embedded_model_dir, load_model

SYSTEM = prompts.known_answers_system(
    ["Worry about things.", "Make friends easily."], [4, 2], get_inventory("ipip")
)
USERS = [
    prompts.question(t, get_inventory("ipip"))
    for t in [
        "Worry about things.",
        "Love to read challenging material.",
        "Am the life of the party.",
    ]
]


@pytest.fixture(scope="module")
def tokenizer():
    from transformers import AutoTokenizer

    path, _ = embedded_model_dir()
    return AutoTokenizer.from_pretrained(path)


def tiny(tokenizer, family: str, n_heads: int, n_kv: int) -> LoadedModel:
    torch.manual_seed(0)
    common = dict(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=n_heads,
        num_key_value_heads=n_kv,
        max_position_embeddings=4096,
    )
    if family == "llama":
        model = LlamaForCausalLM(LlamaConfig(**common, attn_implementation="sdpa"))
    else:
        model = Qwen2ForCausalLM(Qwen2Config(**common, attn_implementation="sdpa"))
    return LoadedModel(
        model.eval(), tokenizer, f"tiny-{family}", "random", torch.device("cpu")
    )


@pytest.mark.parametrize(
    "family,n_heads,n_kv", [("llama", 4, 4), ("llama", 4, 2), ("qwen2", 4, 1)]
)
def test_shared_prefix_matches_plain_forward(tokenizer, family, n_heads, n_kv):
    lm = tiny(tokenizer, family, n_heads, n_kv)
    fast = scoring.score_options(lm, SYSTEM, USERS, batch_size=2)
    plain = scoring.score_options_plain(lm, SYSTEM, USERS)
    cols = [f"p_{x}" for x in "ABCDE"]
    np.testing.assert_allclose(fast[cols].to_numpy(), plain[cols].to_numpy(), atol=1e-5)
    np.testing.assert_allclose(
        fast["option_mass"].to_numpy(), plain["option_mass"].to_numpy(), rtol=1e-4
    )
    assert (fast["predicted"].to_numpy() == plain["predicted"].to_numpy()).all()


def test_batch_size_does_not_change_scores(tokenizer):
    lm = tiny(tokenizer, "llama", 4, 2)
    one = scoring.score_options(lm, SYSTEM, USERS, batch_size=1)
    three = scoring.score_options(lm, SYSTEM, USERS, batch_size=3)
    np.testing.assert_allclose(
        one.iloc[:, :5].to_numpy(), three.iloc[:, :5].to_numpy(), atol=1e-6
    )


def test_attention_implementation_restored_even_on_error(tokenizer):
    lm = tiny(tokenizer, "llama", 4, 2)
    before = lm.model.config._attn_implementation
    ids = lm.tokenizer("hello there", add_special_tokens=False)["input_ids"]
    with pytest.raises(RuntimeError):
        with shared_prefix.shared_prefix(lm, ids):
            name = lm.model.config._attn_implementation
            assert (
                name.startswith(prefix_attention.ATTENTION_NAME)
                and name in AttentionInterface()
            )
            raise RuntimeError("boom")
    assert lm.model.config._attn_implementation == before
    assert (
        name not in AttentionInterface()
    )  # unregistered: nothing of the block is left behind


def test_shared_prefix_blocks_nest_and_run_in_threads(tokenizer):
    """Each block keeps its own prefix: nested blocks on two models, and two threads on two models, give
    each model the scores it gives alone."""
    from concurrent.futures import ThreadPoolExecutor

    llama, qwen = tiny(tokenizer, "llama", 4, 2), tiny(tokenizer, "qwen2", 4, 1)
    alone = {
        id(lm): scoring.score_options(lm, SYSTEM, USERS).iloc[:, :5].to_numpy()
        for lm in (llama, qwen)
    }
    other = prompts.known_answers_system(["Love to read."], [1], get_inventory("ipip"))
    suffix = torch.tensor(
        [llama.tokenizer("Option", add_special_tokens=False)["input_ids"]]
    )
    with shared_prefix.shared_prefix(
        llama, llama.tokenizer(other, add_special_tokens=False)["input_ids"]
    ) as run:
        before = run(
            llama.model, suffix
        ).logits  # an outer block with another prefix, on the other model
        inner = scoring.score_options(qwen, SYSTEM, USERS).iloc[:, :5].to_numpy()
        torch.testing.assert_close(
            run(llama.model, suffix).logits, before
        )  # the inner block left the outer intact
    np.testing.assert_allclose(inner, alone[id(qwen)], atol=1e-6)
    with ThreadPoolExecutor(2) as pool:
        threaded = list(
            pool.map(
                lambda lm: scoring.score_options(lm, SYSTEM, USERS * 4, batch_size=1),
                [llama, qwen],
            )
        )
    for lm, table in zip((llama, qwen), threaded):
        np.testing.assert_allclose(
            table.iloc[:3, :5].to_numpy(), alone[id(lm)], atol=1e-6
        )


def test_option_tokens_are_distinct_single_tokens(tokenizer):
    ids = scoring.option_token_ids(tokenizer)
    assert len(set(ids)) == 5
    assert [tokenizer.decode(i).strip() for i in ids] == list("ABCDE")


@pytest.mark.parametrize(
    "text,expected",
    [
        (" E: Very Inaccurate", 1),
        (" (B). Moderately", 4),
        (" a) yes", 5),
        ("Hmm... not sure", None),
        ("Hmm, hard to", 2),
        ("", None),
        ("Sure, B.", 1),
    ],
)
def test_paper_regex_parser(text, expected):
    # The paper's regex as it is: the "d " of "hard" reads as D and the "e," of "Sure," as E.
    assert scoring.parse_answer(text) == expected


def test_generate_answers_shape_and_parse(tokenizer):
    lm = tiny(tokenizer, "llama", 4, 2)
    out = scoring.generate_answers(lm, SYSTEM, USERS, batch_size=2, max_new_tokens=3)
    assert list(out.columns) == ["text", "predicted"] and len(out) == 3
    assert tokenizer.padding_side == "right"  # restored
    assert (
        out["predicted"].isna().sum() + out["predicted"].isin([1, 2, 3, 4, 5]).sum()
        == 3
    )


def test_shared_prefix_split_reassembles_the_prompt(tokenizer):
    prefix, rests = prompts.split_shared_prefix(tokenizer, SYSTEM, USERS)
    for user, rest in zip(USERS, rests):
        full = tokenizer(
            prompts.render_chat(tokenizer, SYSTEM, user), add_special_tokens=False
        )["input_ids"]
        assert prefix + rest == full
    assert len(prefix) > len(tokenizer(SYSTEM, add_special_tokens=False)["input_ids"])


def test_unknown_model_id_is_one_clear_error():
    with pytest.raises(PalignError, match="smollm2-135m-instruct"):
        load_model("no-such-org/no-such-model-xyz")


def test_bad_device_and_dtype():
    with pytest.raises(PalignError, match="dtype"):
        load_model(EMBEDDED_ID, dtype="float8")
    if not torch.cuda.is_available():
        with pytest.raises(PalignError, match="CUDA"):
            load_model(EMBEDDED_ID, device="cuda")


@pytest.fixture(scope="module")
def embedded():
    return load_model(
        EMBEDDED_ID, device="cpu", dtype="float32"
    )  # exact checks: float32 on any CPU


def test_embedded_model_is_the_expected_llama(embedded):
    cfg = embedded.model.config
    assert (
        cfg.model_type,
        cfg.num_hidden_layers,
        cfg.num_attention_heads,
        cfg.num_key_value_heads,
    ) == ("llama", 30, 9, 3)
    assert len(embedded.revision) == 16


def test_embedded_model_fast_scoring_matches_plain(embedded):
    fast = scoring.score_options(embedded, SYSTEM, USERS[:2])
    plain = scoring.score_options_plain(embedded, SYSTEM, USERS[:2])
    np.testing.assert_allclose(
        fast.iloc[:, :5].to_numpy(), plain.iloc[:, :5].to_numpy(), atol=1e-4
    )
    assert (
        fast["option_mass"] > 0.5
    ).all()  # the prefill makes an option letter the likely next token

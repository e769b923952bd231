"""The book's configuration, checked in seconds (the browser test checks the built result).

A published page must load nothing from outside the book, every palign_nb module must be on the API
page, every chapter is numbered, and the references the book promises are in references.bib.
"""

from __future__ import annotations

import re
import sys

import nbformat
import yaml

from test_hygiene import ROOT, toc_files, toc_notebooks

CONFIG = yaml.safe_load((ROOT / "_config.yml").read_text())
SPHINX = CONFIG["sphinx"]["config"]
BIB = (ROOT / "book" / "references.bib").read_text()

sys.path.insert(0, str(ROOT / "book" / "_ext"))
import palign_book  # noqa: E402


def bib_keys() -> set[str]:
    return set(re.findall(r"^@\w+\{([^,\s]+),", BIB, re.M))


def cited_keys() -> set[str]:
    """Every key cited with {cite:...} in the book's pages and chapters."""
    texts = [p.read_text() for p in (ROOT / "book").glob("*.md")]
    for nb in toc_notebooks():
        if nb.exists():
            texts += [
                c.source
                for c in nbformat.read(nb, as_version=4).cells
                if c.cell_type == "markdown"
            ]
    keys = set()
    for text in texts:
        for group in re.findall(r"\{cite(?::\w+)?\}`([^`]+)`", text):
            keys |= {k.strip() for k in group.split(",")}
    return keys


# ---------------------------------------------------------------------------- offline


def test_execution_is_cached():
    """A rebuild with nothing changed re-executes nothing (jupyter-cache in _build/.jupyter_cache)."""
    assert CONFIG["execute"]["execute_notebooks"] == "cache"
    assert CONFIG["sphinx"]["config"].get("nb_execution_raise_on_error") is True


def test_mathjax_is_served_by_the_book():
    path = SPHINX["mathjax_path"]
    assert not re.match(r"^(https?:)?//", path), (
        "mathjax_path must be a file under _static, not a URL"
    )
    static = [ROOT / p for p in SPHINX["html_static_path"]]
    assert any((s / path).is_file() for s in static), (
        f"{path} is in none of {SPHINX['html_static_path']}"
    )
    fonts = [s / "mathjax" / "output" / "chtml" / "fonts" / "woff-v2" for s in static]
    assert any(len(list(f.glob("*.woff"))) >= 20 for f in fonts), (
        "MathJax's CHTML fonts are missing"
    )


def test_no_widget_javascript_from_a_cdn():
    assert SPHINX.get("nb_ipywidgets_js") == {}, (
        "nb_ipywidgets_js must stay {} (MyST-NB's default loads from a CDN)"
    )


def test_thebe_is_off():
    assert CONFIG.get("launch_buttons", {}).get("thebe") is False


def test_book_extension_is_loaded():
    assert CONFIG["sphinx"]["local_extensions"] == {"palign_book": "book/_ext"}


def test_external_load_guard():
    html = """
      <script src="https://cdn.jsdelivr.net/npm/vega@6"></script>
      <link rel="stylesheet" href="//fonts.googleapis.com/css?family=Lato">
      <img src="http://example.org/a.png">
      <div style="background: url('https://example.org/b.png')"></div>
      <a href="https://arxiv.org/abs/2408.11779">the paper</a>
      <link rel="canonical" href="https://example.org/book/">
      <script src="../_static/vega/palign-vega.js"></script>
    """
    assert palign_book.find_external_loads(html) == [
        "https://cdn.jsdelivr.net/npm/vega@6",
        "//fonts.googleapis.com/css?family=Lato",
        "http://example.org/a.png",
        "https://example.org/b.png",
    ]


def test_charts_render_without_a_cdn_in_the_book():
    """The chart HTML draws with the page's vegaEmbed; it names no script for the page to load."""
    import altair as alt
    import pandas as pd

    from palign_nb import charts, vega_render  # noqa: F401  (importing charts enables the renderer)

    assert alt.renderers.active == "palign"
    bundle = vega_render.book_renderer(
        alt.Chart(pd.DataFrame({"a": [1, 2]})).mark_bar().encode(x="a:Q").to_dict()
    )
    html = bundle["text/html"]
    assert f'class="{palign_book.CHART_CLASS}"' in html
    assert (
        "<script src" not in html
        and "</script" not in html.split("<script", 1)[1][: -len("</script>")]
    )
    assert "window.vegaEmbed(el, spec, opt)" in html


# ---------------------------------------------------------------------------- content


def test_api_page_documents_every_module():
    api = (ROOT / "book" / "api.md").read_text()
    documented = set(re.findall(r"automodule::\s+palign_nb\.(\w+)", api))
    modules = {
        p.stem for p in (ROOT / "palign_nb").glob("*.py") if p.stem != "__init__"
    }
    assert modules - documented == set(), (
        f"book/api.md has no `.. automodule:: palign_nb.<name>` for {sorted(modules - documented)}: add a section"
    )


def test_chapters_are_numbered():
    """The sidebar shows each chapter's H1; it must start with the chapter's number ("# 4. Head probing")."""
    wrong = {}
    for nb in toc_notebooks():
        if not nb.exists():
            continue
        number = int(nb.stem[:2])
        cells = [
            c
            for c in nbformat.read(nb, as_version=4).cells
            if c.cell_type == "markdown"
        ]
        titles = [
            line
            for c in cells
            for line in c.source.splitlines()
            if line.startswith("# ")
        ]
        if not titles or not titles[0].startswith(f"# {number}. "):
            wrong[nb.name] = titles[0] if titles else None
    assert not wrong, (
        f"chapter titles must start with '# <number>. ' (the toc does not number pages): {wrong}"
    )


def test_references_has_what_the_book_promises():
    """The paper, the method and baseline papers, and the inventories' sources."""
    required = {
        "zhu2025personality",  # the paper
        "li2023iti",  # ITI, which PAS builds on
        "rafailov2023dpo",  # DPO
        "schulman2017ppo",  # PPO
        "shao2024deepseekmath",  # GRPO
        "hu2022lora",  # LoRA
        "johnson2014ipipneo",  # IPIP-NEO-120 / the IPIP-NEO archive
        "goldberg1999ipip",  # IPIP
        "jones2014sd3",  # SD3
        "jiang2023mpi",  # MPI and P^2 (one paper)
    }
    assert required - bib_keys() == set()


def test_every_citation_resolves():
    missing = cited_keys() - bib_keys()
    assert not missing, f"cited but not in book/references.bib: {sorted(missing)}"


def test_every_reference_is_cited():
    uncited = bib_keys() - cited_keys()
    assert not uncited, (
        f"in book/references.bib but cited nowhere (the bibliography lists :all:): {sorted(uncited)}"
    )


def test_toc_has_reference_pages():
    for page in ("book/glossary", "book/api", "book/references", "book/running"):
        assert page in toc_files()

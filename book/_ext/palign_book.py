"""Sphinx extension of the PAlign Book: a static book that draws everything without the network.

Loaded through ``sphinx.local_extensions`` in ``_config.yml``. It does three things:

1. **Vega for Altair charts.** ``palign_nb.charts`` renders every Altair chart as HTML that draws
   with ``window.vegaEmbed`` (see ``palign_nb.vega_render.book_renderer``). This extension writes one
   self-contained script with Vega, Vega-Lite and vega-embed into ``_static/vega/palign-vega.js``,
   made by the pinned PyPI package ``vl-convert-python`` (``vl_convert.javascript_bundle``), and
   adds it to exactly the pages that hold a chart. The script is cached in ``_build/palign-static``
   (keyed on the library versions), so an unchanged rebuild does not remake it.
2. **MathJax** comes from ``book/_static/mathjax`` (``mathjax_path`` in ``_config.yml``), not from
   a CDN; nothing to do here.
3. **No thebe.** Live code (thebe, from unpkg.com via Binder) is off in this book
   (``launch_buttons.thebe: false``), but sphinx-thebe, which jupyter-book always loads, still adds an
   inline script naming unpkg.com to every page, twice on some pages, where the second copy throws
   "Identifier 'THEBE_JS_URL' has already been declared". With thebe off, its scripts are dropped.
4. **A static guard.** After the build, every HTML page is scanned for a ``<script src>``,
   ``<link href>`` (stylesheets, preloads, icons), ``<img src>``, ``<iframe src>`` or CSS ``url()``
   that points outside the book. Each one is a Sphinx warning, so the ``-W`` build fails. Ordinary
   hyperlinks (``<a href>``) are fine: a reader may follow them, the page does not load them.

The browser test (``tests/test_book_browser.py``) checks the same from a real browser.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from sphinx.application import Sphinx
from sphinx.util import logging

logger = logging.getLogger(__name__)

#: Marker class of the chart containers written by ``palign_nb.vega_render.book_renderer``.
CHART_CLASS = "palign-vega"
#: Where the Vega bundle lands, relative to ``_static``.
VEGA_JS = "vega/palign-vega.js"

_EXTERNAL = re.compile(
    r"""<(?P<tag>script|link|img|iframe|source|embed|object)\b[^>]*?\b(?P<attr>src|href|data)\s*=\s*["'](?P<url>(?:https?:)?//[^"']+)["']"""
    r"""|url\(\s*["']?(?P<css>(?:https?:)?//[^)"']+)""",
    re.I,
)
#: ``<link>`` relations that only name a URL without loading it.
_NON_LOADING_REL = re.compile(r"""\brel\s*=\s*["'](canonical|alternate|author|license|next|prev|search)["']""", re.I)


def vega_bundle_versions() -> dict[str, str]:
    """Versions of the libraries in the bundle (the cache key)."""
    import altair as alt
    import vl_convert as vlc

    return {
        "vl-convert": vlc.__version__,
        "vega": vlc.get_vega_version(),
        "vega-lite": _vl_version(),
        "vega-embed": vlc.get_vega_embed_version(),
        "altair": alt.__version__,
    }


def _vl_version() -> str:
    """The Vega-Lite version of Altair's specs (``vMAJOR.MINOR``) if vl-convert has it, else its newest."""
    import altair as alt
    import vl_convert as vlc

    wanted = ".".join(alt.SCHEMA_VERSION.lstrip("v").split(".")[:2])
    versions = vlc.get_vegalite_versions()
    return wanted if wanted in versions else versions[-1]


def make_vega_bundle(static_dir: Path) -> Path:
    """Write ``vega/palign-vega.js`` (and its version stamp) under ``static_dir`` unless up to date."""
    import vl_convert as vlc

    target = static_dir / VEGA_JS
    stamp = target.with_suffix(".versions.json")
    versions = vega_bundle_versions()
    if target.exists() and stamp.exists() and json.loads(stamp.read_text()) == versions:
        return target
    bundle = vlc.javascript_bundle(vl_version="v" + versions["vega-lite"])
    target.parent.mkdir(parents=True, exist_ok=True)
    # The bundle declares top-level consts: wrap it so its names cannot clash with other scripts.
    header = "/* Vega {vega}, Vega-Lite {vega-lite}, vega-embed {vega-embed}; bundled by vl-convert-python {vl-convert}. ".format(**versions)
    header += "BSD-3-Clause and others: see _static/vega/LICENSES.md */\n"
    target.write_text(header + "(function () {\n" + bundle + "\n})();\n", encoding="utf-8")
    stamp.write_text(json.dumps(versions, indent=1))
    logger.info("palign_book: wrote %s (%d kB)", target, target.stat().st_size // 1024)
    return target


def drop_thebe_scripts(app: Sphinx, config) -> None:
    """Disconnect sphinx-thebe's script injection when the book does not use thebe."""
    if (config.html_theme_options.get("launch_buttons") or {}).get("thebe"):
        return
    for listener in list(app.events.listeners.get("env-before-read-docs", [])):
        handler = listener.handler
        if getattr(handler, "__module__", "") == "sphinx_thebe" and handler.__name__ == "init_thebe_core":
            app.disconnect(listener.id)


def on_builder_inited(app: Sphinx) -> None:
    if app.builder.format != "html":
        return
    static_dir = Path(app.doctreedir).parent / "palign-static"
    make_vega_bundle(static_dir)
    app.config.html_static_path.append(str(static_dir))


def on_html_page_context(app: Sphinx, pagename: str, templatename: str, context: dict, doctree) -> None:
    if f'class="{CHART_CLASS}"' in context.get("body", ""):
        # A plain (blocking) script in <head>: vegaEmbed exists before the charts' inline scripts run.
        app.add_js_file(VEGA_JS, priority=400)
        app.add_css_file("palign.css")


def find_external_loads(html: str) -> list[str]:
    """The URLs outside the book that a page loads by itself (not hyperlinks)."""
    found = []
    for m in _EXTERNAL.finditer(html):
        if m.group("tag") and m.group("tag").lower() == "link" and _NON_LOADING_REL.search(m.group(0)):
            continue
        found.append(m.group("url") or m.group("css"))
    return found


def on_build_finished(app: Sphinx, exception: Exception | None) -> None:
    if exception is not None or app.builder.format != "html":
        return
    out = Path(app.outdir)
    for page in sorted(out.rglob("*.html")):
        if "_static" in page.relative_to(out).parts:
            continue
        for url in find_external_loads(page.read_text(encoding="utf-8", errors="replace")):
            logger.warning("%s loads %s from outside the book: serve it from _static instead",
                           page.relative_to(out), url, type="palign", subtype="external")
    for css in sorted((out / "_static").rglob("*.css")):
        for m in re.finditer(r"""url\(\s*["']?((?:https?:)?//[^)"']+)""", css.read_text(encoding="utf-8", errors="replace")):
            logger.warning("_static/%s loads %s from outside the book", css.relative_to(out / "_static"), m.group(1),
                           type="palign", subtype="external")


def setup(app: Sphinx) -> dict:
    app.connect("config-inited", drop_thebe_scripts)
    app.connect("builder-inited", on_builder_inited)
    app.connect("html-page-context", on_html_page_context)
    app.connect("build-finished", on_build_finished)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}

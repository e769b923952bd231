"""The book's Altair renderer: charts that draw with the Vega libraries of the page they are on.

Altair's own HTML output loads Vega from a CDN. This renderer draws with the Vega libraries that the
book page itself serves (``_static/vega/palign-vega.js``, added by ``book/_ext/palign_book.py`` to every
page with a chart), so the published book needs no network. Importing this module (``palign_nb.charts``
does) registers and enables it as the Altair renderer ``"palign"``.
"""

from __future__ import annotations

import altair as alt

#: Options passed to vega-embed: SVG (sharp, and testable: marks are DOM nodes) and only the actions
#: that work offline (save as SVG/PNG; no "open in the Vega editor").
EMBED_OPTIONS = {
    "renderer": "svg",
    "actions": {"export": True, "source": False, "compiled": False, "editor": False},
}

_BOOK_HTML = """\
<div class="palign-vega" id="{div_id}"></div>
<script type="text/javascript">
(function (spec, opt) {{
  var el = (document.currentScript && document.currentScript.previousElementSibling) || document.getElementById("{div_id}");
  function fail(err) {{ el.textContent = "This chart could not be drawn: " + err; console.error(err); }}
  function draw() {{ window.vegaEmbed(el, spec, opt).catch(fail); }}
  if (window.vegaEmbed) {{ draw(); return; }}  // the book: its page has loaded _static/vega/palign-vega.js
  // Elsewhere (JupyterLab, VS Code), load the same libraries as Altair's own renderer does.
  var urls = {cdn};
  (function next(i) {{
    if (i === urls.length) {{ draw(); return; }}
    var s = document.createElement("script");
    s.src = urls[i]; s.onload = function () {{ next(i + 1); }};
    s.onerror = function () {{ fail("could not load " + urls[i] + " (offline? the built book needs no network)"); }};
    document.head.appendChild(s);
  }})(0);
}})({spec}, {opt});
</script>"""


def _script_json(value: object) -> str:
    """JSON that is safe inside an inline <script> (no ``</script>``, no ``<!--``)."""
    import json

    return (
        json.dumps(value, sort_keys=True)
        .replace("<", "\\u003c")
        .replace(">", "\\u003e")
        .replace("&", "\\u0026")
    )


def book_renderer(spec: dict, **metadata) -> dict[str, object]:
    """Altair renderer of the book: HTML that draws with the Vega libraries of the page it is on.

    The ``text/html`` output draws with ``window.vegaEmbed`` when the page has it (the built book
    serves it from ``_static``: no CDN, no network) and otherwise loads Vega from the CDN that
    Altair's default renderer uses (JupyterLab, VS Code). There is no Vega-Lite MIME output:
    JupyterLab 4 renders Vega-Lite 5 only, and Altair 6 writes Vega-Lite 6. Enabled on import of
    this module as the Altair renderer ``"palign"``; ``embed_options`` given to
    ``alt.renderers.enable`` are merged into :data:`EMBED_OPTIONS`.
    """
    import hashlib

    opt = EMBED_OPTIONS | dict(metadata.get("embed_options") or {})
    body = _script_json(spec)
    div_id = "palign-vega-" + hashlib.sha256(body.encode()).hexdigest()[:16]
    cdn = [
        f"https://cdn.jsdelivr.net/npm/vega@{alt.VEGA_VERSION}",
        f"https://cdn.jsdelivr.net/npm/vega-lite@{alt.VEGALITE_VERSION}",
        f"https://cdn.jsdelivr.net/npm/vega-embed@{alt.VEGAEMBED_VERSION}",
    ]
    html = _BOOK_HTML.format(
        div_id=div_id, spec=body, opt=_script_json(opt), cdn=_script_json(cdn)
    )
    return {"text/html": html, "text/plain": "<Altair chart>"}


alt.renderers.register("palign", book_renderer)
alt.renderers.enable("palign")

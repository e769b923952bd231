"""The built book in a real browser, with the network cut: every page draws, and loads nothing from outside.

The book is built exactly as `make book` builds it (`jb build -n -W --keep-going`), but from the
chapters that tests/test_chapters_smoke.py has just executed with params/smoke.yaml (kept in
test-artifacts/), with execution off: tools/book_from_runs.py, the same path that renders a GPU run
into the book. The HTML is served on 127.0.0.1 and every page is opened in headless Chromium
(Debian's `chromium`, driven by Playwright; nothing downloads a browser). Any request that leaves
127.0.0.1 is blocked and counted as a failure. On every page:

* no console error, no uncaught exception, no failed request, no external request;
* every Altair chart has drawn: an SVG with data marks (and at least as many charts as the chapter
  displayed);
* every formula has been typeset by MathJax, without a MathJax error;
* the sidebar lists every page of _toc.yml;
* no ipywidget is left in the page (the static book has no kernel to drive it);
* a full-page screenshot, and one of each chart, is saved to test-artifacts/screenshots/.

If the smoke runs are missing or older than the chapters (this file run on its own), the chapters
are executed here first with params/smoke.yaml. PALIGN_BOOK_RUNS=<folder> checks other executed
chapters instead (e.g. a GPU run in runs/), rendered as they are even if the chapters changed since.
"""

from __future__ import annotations

import functools
import http.server
import os
import shutil
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urljoin, urlparse

import nbformat
import pytest
import yaml

from test_hygiene import ROOT, toc_files

sys.path.insert(0, str(ROOT / "tools"))
import book_from_runs  # noqa: E402

pytestmark = pytest.mark.browser

ARTIFACTS = ROOT / "test-artifacts"
SHOTS = ARTIFACTS / "screenshots"
SMOKE = ROOT / "params" / "smoke.yaml"
#: Pages Sphinx writes besides the toc's (index.html redirects to the root page).
EXTRA_PAGES = ["index", "genindex", "search", "py-modindex"]
PAGES = toc_files() + EXTRA_PAGES
CHART_TIMEOUT_MS = 30_000


def find_chromium() -> str:
    for candidate in (
        os.environ.get("CHROMIUM"),
        "chromium",
        "chromium-browser",
        "google-chrome",
    ):
        if candidate and (path := shutil.which(candidate)):
            return path
    pytest.fail(
        "no Chromium: install Debian's `chromium` (apt-get install chromium; `make test` does it) "
        "or set CHROMIUM=/path/to/chrome"
    )


# ---------------------------------------------------------------------------- build and serve


def executed_chapters(tmp: Path) -> tuple[Path, bool]:
    """A folder with every chapter executed (the smoke runs of this session, or fresh ones), and
    whether to render runs whose code differs from the chapters (only for PALIGN_BOOK_RUNS)."""
    if os.environ.get("PALIGN_BOOK_RUNS"):
        return Path(os.environ["PALIGN_BOOK_RUNS"]).resolve(), True
    problems = {}
    for chapter in book_from_runs.toc_notebooks():
        try:
            book_from_runs.check_run(ROOT / chapter, ARTIFACTS / Path(chapter).name)
        except book_from_runs.RunError as err:
            problems[chapter] = str(err)
    failed = {c: e for c, e in problems.items() if "stopped on an error" in e}
    if failed:
        pytest.fail(
            "a chapter's smoke run failed, so the book cannot be rendered:\n"
            + "\n".join(failed.values())
        )
    if not problems:
        return ARTIFACTS, False
    # Missing or out of date (e.g. this file run alone): execute every chapter here, in order, one store.
    import papermill as pm

    runs, store = tmp / "runs", tmp / "results"
    runs.mkdir()
    params = yaml.safe_load(SMOKE.read_text()) | {"results_dir": str(store)}
    for chapter in book_from_runs.toc_notebooks():
        pm.execute_notebook(
            str(ROOT / chapter),
            str(runs / Path(chapter).name),
            parameters=params,
            kernel_name="python3",
            cwd=str(ROOT / "notebooks"),
            progress_bar=False,
            execution_timeout=900,
        )
    return runs, False


@pytest.fixture(scope="module")
def book(tmp_path_factory) -> Path:
    """The HTML folder of the book built from executed chapters, with execution off."""
    tmp = tmp_path_factory.mktemp("book")
    runs, allow_changed = executed_chapters(tmp)
    start = time.perf_counter()
    try:
        html = book_from_runs.build(book_from_runs.stage(runs, tmp, allow_changed), tmp)
    except book_from_runs.RunError as err:
        pytest.fail(str(err))
    print(f"book built from {runs} in {time.perf_counter() - start:.0f} s")
    return html


@pytest.fixture(scope="module")
def server(book):
    """http://127.0.0.1:PORT/ serving the built book."""

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(Quiet, directory=str(book))
    )
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    executable = find_chromium()
    with sync_playwright() as p:
        b = p.chromium.launch(
            executable_path=executable, args=["--no-sandbox", "--disable-dev-shm-usage"]
        )
        yield b
        b.close()


# ---------------------------------------------------------------------------- one page


JS_CHARTS = """() => Array.from(document.querySelectorAll('.palign-vega')).map(el => {
  const svg = el.querySelector('svg');
  const canvas = el.querySelector('canvas');
  return {
    svg: !!svg,
    marks: svg ? svg.querySelectorAll('g.role-mark > *').length : 0,
    canvas: canvas ? canvas.width * canvas.height : 0,
    text: el.textContent.slice(0, 200),
  };
})"""

JS_CHARTS_SETTLED = """() => Array.from(document.querySelectorAll('.palign-vega'))
  .every(el => el.querySelector('svg, canvas') || el.textContent.length > 0)"""

JS_MATH = """async () => {
  const nodes = Array.from(document.querySelectorAll('.math'));
  if (!nodes.length) return {n: 0};
  if (!window.MathJax || !MathJax.startup) return {n: nodes.length, loaded: false};
  await MathJax.startup.promise;
  return {
    n: nodes.length, loaded: true,
    typeset: nodes.filter(n => n.querySelector('mjx-container')).length,
    errors: document.querySelectorAll('mjx-merror').length,
  };
}"""

JS_SIDEBAR = """() => Array.from(document.querySelectorAll('#pst-primary-sidebar nav.bd-docs-nav a.reference'))
  .map(a => [a.href, a.textContent.trim()])"""


def displayed_charts(chapter: str, runs_html: Path) -> int:
    """How many charts an executed chapter displays directly (glued ones are placed by the prose)."""
    nb = nbformat.read(
        runs_html.parent.parent / "src" / f"{chapter}.ipynb", as_version=4
    )
    return sum(
        'class="palign-vega"' in "".join(o.get("data", {}).get("text/html", ""))
        for c in nb.cells
        if c.cell_type == "code"
        for o in c.get("outputs", [])
    )


def test_every_built_page_is_checked(book):
    built = {
        str(p.relative_to(book).with_suffix(""))
        for p in book.rglob("*.html")
        if "_static" not in p.parts
    }
    assert built == set(PAGES), (
        f"pages built but not checked: {sorted(built - set(PAGES))}; "
        f"checked but not built: {sorted(set(PAGES) - built)}"
    )


def test_no_table_cell_reads_nan(book):
    """An empty cell of a rendered table reads "–" with a caption saying why (palign_nb.shown), never NaN."""
    import re

    found = {}
    for page in sorted(book.rglob("*.html")):
        cells = re.findall(
            r"<t[dh][^>]*>\s*(.*?)\s*</t[dh]>",
            page.read_text(errors="replace"),
            flags=re.S,
        )
        bad = [
            c for c in cells if c in {"NaN", "nan", "&lt;NA&gt;", "<NA>", "None", "NaT"}
        ]  # pandas' renderings
        if bad:
            found[str(page.relative_to(book))] = len(bad)
    assert not found, (
        f"table cells reading NaN (pages: count): {found}; display the table with palign_nb.shown.table"
    )


@pytest.mark.parametrize("page", PAGES)
def test_page(page, book, server, browser):
    url = urljoin(server, f"{page}.html")
    origin = urlparse(server).netloc
    problems: list[str] = []
    external: list[str] = []

    context = browser.new_context(
        viewport={"width": 1280, "height": 900}, service_workers="block"
    )
    tab = context.new_page()

    def route(r):
        target = urlparse(r.request.url)
        if target.scheme in ("data", "blob") or target.netloc == origin:
            r.continue_()
        else:
            external.append(r.request.url)
            r.abort()

    tab.route("**/*", route)
    tab.on(
        "console",
        lambda m: (
            m.type == "error"
            and problems.append(
                f"console error: {m.text} ({m.location.get('url', '')})"
            )
        ),
    )
    tab.on("pageerror", lambda e: problems.append(f"uncaught exception: {e}"))
    tab.on(
        "requestfailed",
        lambda r: (
            urlparse(r.url).netloc == origin
            and problems.append(f"request failed: {r.url} ({r.failure})")
        ),
    )
    tab.on(
        "response",
        lambda r: r.status >= 400 and problems.append(f"HTTP {r.status}: {r.url}"),
    )
    try:
        tab.goto(url, wait_until="load")
        if (
            'http-equiv="refresh"' in (book / f"{page}.html").read_text().lower()
        ):  # index.html redirects to the root page
            tab.wait_for_url(lambda u: u != url)
            tab.wait_for_load_state("load")
        charts_n = tab.locator(".palign-vega").count()
        if charts_n:
            tab.wait_for_function(JS_CHARTS_SETTLED, timeout=CHART_TIMEOUT_MS)
        math = tab.evaluate(JS_MATH)
        tab.wait_for_load_state("networkidle")

        # Altair charts
        charts = tab.evaluate(JS_CHARTS)
        for i, chart in enumerate(charts, 1):
            if not (chart["marks"] or chart["canvas"]):
                problems.append(f"chart {i} of {len(charts)} has not drawn: {chart}")
        if page.startswith("notebooks/"):
            expected = displayed_charts(page, book)
            if len(charts) < expected:
                problems.append(
                    f"{len(charts)} charts on the page, but the chapter displays {expected}"
                )
        html = tab.content()
        if 'id="altair-viz-' in html:
            problems.append(
                "a chart was drawn by Altair's own renderer (it loads Vega from a CDN): "
                "import palign_nb.charts before making charts"
            )
        if "application/vnd.jupyter.widget-view+json" in html:
            problems.append(
                "an ipywidget is left in the page (no kernel in the static book): "
                "tag its cell `remove-output` and show an Altair view instead"
            )

        # Math
        if math["n"]:
            if not math.get("loaded"):
                problems.append(f"{math['n']} formulas but MathJax did not load")
            elif math["typeset"] < math["n"] or math["errors"]:
                problems.append(
                    f"MathJax typeset {math['typeset']} of {math['n']} formulas, {math['errors']} errors"
                )

        # Sidebar: every page of the toc, by its URL
        links = {
            urlparse(href).path.lstrip("/") for href, _ in tab.evaluate(JS_SIDEBAR)
        }
        missing = [f for f in toc_files() if f"{f}.html" not in links]
        if missing:
            problems.append(f"the sidebar does not list {missing}")

        SHOTS.mkdir(parents=True, exist_ok=True)
        name = page.replace("/", "__")
        for old in SHOTS.glob(f"{name}*.png"):
            old.unlink()
        tab.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)
        for i, chart in enumerate(
            tab.locator(".palign-vega").all(), 1
        ):  # each chart on its own, easy to look at
            chart.screenshot(path=str(SHOTS / f"{name}__chart{i:02d}.png"))
    finally:
        context.close()
    problems += [f"external request (blocked): {u}" for u in external]
    assert not problems, f"{page}.html:\n  " + "\n  ".join(problems)

"""The website as a reader meets it: every page of _build/html opened in headless Chromium.

For each page: MathJax (served from the build itself) finished and typeset every equation, no TeX
error, no raw TeX left in the text, every image loaded, no console error, every internal link and
anchor resolves, and nothing was requested from outside 127.0.0.1. Screenshots of the intro and of
an experiment chapter go to _build/screenshots/ for a human to look at.

Run after the site is built: `make site` then `pytest -m browser tests` (what `make test` does).
"""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.parse
import urllib.request
from functools import lru_cache
from pathlib import Path

import pytest

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parent.parent
SITE = ROOT / "_build" / "html"
SCREENSHOTS = ROOT / "_build" / "screenshots"
SCREENSHOT_PAGES = {"intro": "intro.html", "experiment": "chapters/06_depth_at_initialization.html"}

# Every HTML page of the site; _static/ holds template fragments, not pages.
PAGES = (
    sorted(p.relative_to(SITE).as_posix() for p in SITE.rglob("*.html") if "_static" not in p.relative_to(SITE).parts)
    if SITE.is_dir()
    else []
)

# Runs in the page: waits for MathJax's first typeset and for every image, then reports.
INSPECT_PAGE = r"""
const done = arguments[arguments.length - 1];
const later = (ms, value) => new Promise(r => setTimeout(() => r(value), ms));
(async () => {
  const out = {};
  out.hasMathJax = !!(window.MathJax && window.MathJax.startup && window.MathJax.startup.promise);
  out.mathjax = out.hasMathJax
    ? await Promise.race([MathJax.startup.promise.then(() => "done", e => "failed: " + e), later(20000, "timeout")])
    : "absent";
  const images = Array.from(document.images);
  images.forEach(img => { img.loading = "eager"; });
  await Promise.race([Promise.all(images.map(img => img.decode().catch(() => null))), later(10000)]);
  out.brokenImages = images.filter(img => !(img.complete && img.naturalWidth > 0)).map(img => img.src);
  out.imageCount = images.length;
  // Figures carry a caption and real alt text (without any, docutils writes the file name as alt).
  const main = document.querySelector("main") || document.body;
  out.uncaptioned = Array.from(main.querySelectorAll(".cell_output img"))
    .filter(img => !(img.closest("figure") && img.closest("figure").querySelector("figcaption")))
    .map(img => img.src);
  // myst-nb wraps every output of a cell with figure metadata in a figure: text or math there
  // means the caption is repeated under outputs that are not the figure.
  out.notFigures = Array.from(main.querySelectorAll(".cell_output figure"))
    .filter(fig => !fig.querySelector("img, svg"))
    .map(fig => (fig.querySelector("figcaption") || fig).textContent.trim().slice(0, 60));
  out.noAlt = Array.from(main.querySelectorAll("img"))
    .filter(img => { const alt = (img.getAttribute("alt") || "").trim();
                     return !alt || img.src.endsWith(alt.split("/").pop()); })
    .map(img => img.src);
  // Exercises: the "Check yourself" section and the solutions hidden in it.
  const check = Array.from(main.querySelectorAll("section"))
    .find(sec => /check yourself/i.test((sec.querySelector("h1, h2, h3") || {}).textContent || ""));
  out.hiddenSolutions = check ? check.querySelectorAll("details").length : -1;

  // Sphinx writes each equation into span.math / div.math (notebook LaTeX outputs too).
  const math = Array.from(document.querySelectorAll(".math"));
  out.mathCount = math.length;
  out.untypeset = math.filter(el => !el.querySelector("mjx-container")).map(el => el.textContent.slice(0, 80));
  out.containers = document.querySelectorAll("mjx-container").length;
  out.errors = Array.from(document.querySelectorAll("mjx-merror, [data-mjx-error]"))
    .map(el => (el.getAttribute("data-mjx-error") || el.textContent).slice(0, 120));

  // Text a reader sees as prose: code blocks and typeset math taken out.
  const prose = main.cloneNode(true);
  prose.querySelectorAll("pre, code, script, style, textarea, mjx-container").forEach(el => el.remove());
  out.text = prose.textContent;

  const local = url => { try { const u = new URL(url, location.href);
      return !["http:", "https:"].includes(u.protocol) || u.host === location.host; } catch (e) { return false; } };
  const loaded = Array.from(document.querySelectorAll(
      "script[src], link[href], img[src], iframe[src], source[src], video[src], audio[src], embed[src], object[data]"))
    .filter(el => !(el.tagName === "LINK" && ["next", "prev", "index", "search", "canonical"].includes(el.rel)))
    .map(el => el.src || el.href || el.data);
  const fetched = performance.getEntriesByType("resource").map(e => e.name);
  out.external = [...new Set(loaded.concat(fetched).filter(url => !local(url)))];
  out.links = [...new Set(Array.from(document.querySelectorAll("a[href]")).map(a => a.href))];
  out.downloads = Array.from(document.querySelectorAll("a[href]"))
    .filter(a => /\/_sources\//.test(a.href)).map(a => a.href);
  done(out);
})();
"""

# TeX that MathJax should have consumed: display/inline delimiters, environments, or a `$...$`
# span holding a macro.
RAW_TEX = re.compile(r"\$\$|\\\(|\\\)|\\\[|\\\]|\\begin\{|\$[^$\n]*\\[A-Za-z]+[^$\n]*\$")


_INSPECTED: dict[str, dict] = {}


def _open(driver, url: str, reuse: bool = False) -> dict:
    """Load url and inspect it; reuse=True returns an earlier inspection of the same page."""
    if not (reuse and url in _INSPECTED):
        driver.get(url)
        _INSPECTED[url] = driver.execute_async_script(INSPECT_PAGE)
    return _INSPECTED[url]


@lru_cache(maxsize=None)
def _status(url: str) -> int:
    """GET a same-site URL (no fragment) from the local server; cached across pages."""
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


@lru_cache(maxsize=None)
def _ids(path: Path) -> frozenset[str]:
    return frozenset(re.findall(r"""\bid=["']([^"']+)["']""", path.read_text(encoding="utf-8")))


def _broken_links(links: list[str], base_url: str) -> list[str]:
    broken = []
    for link in links:
        if not link.startswith(base_url + "/"):
            continue  # external pages are links a reader may follow, not resources this page loads
        url, _, fragment = link.partition("#")
        status = _status(url)
        if status != 200:
            broken.append(f"{link} (HTTP {status})")
            continue
        path = urllib.parse.unquote(urllib.parse.urlparse(url).path).lstrip("/")
        target = SITE / path
        if target.is_dir():
            target = target / "index.html"
        fragment = urllib.parse.unquote(fragment)
        if fragment and target.suffix == ".html" and fragment not in _ids(target):
            broken.append(f"{link} (no element with id {fragment!r})")
    return broken


def test_presets_table_matches_initlib():
    """run_it_yourself.md renders initlib's presets as a table: it must show today's values."""
    from initlib.course.presets import PRESETS

    rows = {}
    for line in (ROOT / "run_it_yourself.md").read_text(encoding="utf-8").splitlines():
        cells = [cell.strip().strip("`") for cell in line.strip().strip("|").split("|")]
        if len(cells) == 4 and cells[0] in PRESETS["quick"].__dataclass_fields__:
            rows[cells[0]] = (cells[2], cells[3])
    expected = {
        field: (str(getattr(PRESETS["quick"], field)), str(getattr(PRESETS["paper"], field)))
        for field in PRESETS["quick"].__dataclass_fields__
        if field != "name"
    }
    assert rows == expected, "update the presets table in run_it_yourself.md to initlib/course/presets.py"


def test_site_is_built(site_dir):
    assert PAGES, f"no HTML pages under {site_dir}"
    for page in ("intro.html", "bibliography.html", "run_it_yourself.html"):
        assert (site_dir / page).is_file(), f"{page} missing from the build: is it in _toc.yml?"


@pytest.mark.parametrize("page", PAGES)
def test_page(page, browser, site_server):
    base_url, requests = site_server
    first_request = len(requests)
    browser.get_log("browser")  # drop anything left from the previous page
    out = _open(browser, f"{base_url}/{page}")
    console = [entry["message"] for entry in browser.get_log("browser") if entry["level"] == "SEVERE"]

    problems = []
    if out["mathCount"]:
        if out["mathjax"] != "done":
            problems.append(f"MathJax did not finish: {out['mathjax']}")
        if out["untypeset"] or not out["containers"]:
            problems.append(
                f"equations not typeset ({len(out['untypeset'])} of {out['mathCount']}): {out['untypeset'][:3]}"
            )
    elif out["hasMathJax"] and out["mathjax"] != "done":
        problems.append(f"MathJax did not finish: {out['mathjax']}")
    if out["errors"]:
        problems.append(f"TeX errors: {out['errors'][:5]}")
    raw = sorted({m.group(0)[:60] for m in RAW_TEX.finditer(out["text"])})
    if raw:
        problems.append(f"raw TeX left in the text: {raw[:5]}")
    if out["brokenImages"]:
        problems.append(f"images that did not load: {out['brokenImages']}")
    if out["uncaptioned"]:
        problems.append(f"figures without a caption (cell metadata mystnb.figure.caption): {out['uncaptioned']}")
    if out["notFigures"]:
        problems.append(
            "figure captions under outputs that are not images (a cell with figure metadata "
            f"must output only its figure): {out['notFigures']}"
        )
    if out["noAlt"]:
        problems.append(f"images without alt text (cell metadata mystnb.image.alt): {out['noAlt']}")
    if console:
        problems.append(f"console errors: {console}")
    if out["external"]:
        problems.append(f"resources from outside the machine: {out['external']}")
    failed = [f"{path} (HTTP {status})" for path, status in requests[first_request:] if status >= 400]
    if failed:
        problems.append(f"requests the local server refused: {failed}")
    broken = _broken_links(out["links"], base_url)
    if broken:
        problems.append(f"internal links that do not resolve: {broken}")
    assert not problems, f"{page}:\n  " + "\n  ".join(problems)


@pytest.mark.parametrize("page", [p for p in PAGES if p.startswith("chapters/")])
def test_chapter_notebook_and_exercises(page, browser, site_server):
    """Each chapter offers its .ipynb for download, and ends with exercises whose solutions are hidden."""
    base_url, _ = site_server
    out = _open(browser, f"{base_url}/{page}", reuse=True)
    assert out["hiddenSolutions"] >= 0, f"{page}: no 'Check yourself' section"
    assert out["hiddenSolutions"] >= 1, (
        f"{page}: the 'Check yourself' solutions are not hidden (tag their code cells hide-cell)"
    )
    notebooks = [url for url in out["downloads"] if url.endswith(".ipynb")]
    expected = f"{base_url}/_sources/{page[: -len('.html')]}.ipynb"
    assert expected in notebooks, f"{page}: no download link to its notebook (found {out['downloads']})"
    with urllib.request.urlopen(expected, timeout=10) as response:
        notebook = json.loads(response.read())
    assert notebook["nbformat"] == 4 and notebook["cells"], f"{expected} is not a notebook with cells"


@pytest.mark.parametrize("name", sorted(SCREENSHOT_PAGES))
def test_screenshot(name, browser, site_server):
    base_url, _ = site_server
    page = SCREENSHOT_PAGES[name]
    assert (SITE / page).is_file(), f"{page} missing from the build"
    out = _open(browser, f"{base_url}/{page}")
    assert out["mathjax"] == "done" and out["containers"] > 0, f"{page}: no typeset math to show"
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    height = browser.execute_script("return document.documentElement.scrollHeight")
    browser.set_window_size(1280, min(max(height, 900), 6000))
    try:
        path = SCREENSHOTS / f"{Path(page).stem}.png"
        assert browser.save_screenshot(str(path)), f"could not write {path}"
    finally:
        browser.set_window_size(1280, 900)

"""The interactive phase diagram (chapters/16_phase_diagram.ipynb) as a reader uses it, in headless Chromium:
the plotly figure renders from the plotly.js that the pinned plotly package ships (served by the
site itself), a slider dragged with the mouse and the activation menu redraw it from the
precomputed grid, and the console stays free of errors.

Run after the site is built: `make site` then `pytest -m browser tests` (what `make test` does).
"""

from __future__ import annotations

import json
import time

import pytest

pytestmark = pytest.mark.browser

PAGE = "chapters/16_phase_diagram.html"

# The figure's state as the page holds it: title, the q and c curves, the menu and sliders.
STATE = r"""
const gd = document.getElementById("mean-field-explorer");
if (!gd || !gd._fullLayout || !window.Plotly) { return null; }
return JSON.stringify({
  version: Plotly.version,
  title: gd.layout.title && gd.layout.title.text,
  traces: gd.data.length,
  q: Array.from(gd.data[0].y || []), c: Array.from(gd.data[1].y || []),
  marker: [gd.data[4].x[0], gd.data[4].y[0]],
  sliders: gd.layout.sliders.map(s => s.active), menu: gd.layout.updatemenus[0].active,
  paths: gd.querySelectorAll(".scatterlayer path.js-line").length,
  heatmap: gd.querySelectorAll(".heatmaplayer image").length,
  // One element with the figure's id, drawn in the page's flow after the chapter title
  // (a MyST label of the same name would capture the plot).
  unique: document.querySelectorAll("[id='" + gd.id + "']").length === 1,
  afterTitle: !!(document.querySelector("h1").compareDocumentPosition(gd) & Node.DOCUMENT_POSITION_FOLLOWING),
});
"""


def _state(driver, timeout=20.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        raw = driver.execute_script(STATE)
        if raw:
            return json.loads(raw)
        time.sleep(0.2)
    pytest.fail(f"{PAGE}: the plotly figure never rendered (no Plotly, or no #mean-field-explorer)")


def _wait_for_change(driver, before, timeout=10.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        now = _state(driver)
        if now["title"] != before["title"]:
            return now
        time.sleep(0.2)
    return _state(driver)


@pytest.fixture(scope="module")
def page(browser, site_server, site_dir):
    assert (site_dir / PAGE).is_file(), f"{PAGE} missing from the build: is it in _toc.yml?"
    base_url, requests = site_server
    browser.get_log("browser")
    browser.get(f"{base_url}/{PAGE}")
    return browser, requests


def _console_errors(driver):
    return [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"]


def test_figure_renders_from_the_packaged_plotly(page):
    from plotly.offline import get_plotlyjs_version

    driver, requests = page
    state = _state(driver)
    assert state["version"] == get_plotlyjs_version(), "plotly.js is not the one the pinned plotly ships"
    assert any(path.startswith("/_static/plotly.min.js") for path, status in requests if status == 200)
    assert state["traces"] == 9
    assert state["title"].startswith("tanh, σ_w² = 1.75, σ_b² = 0.05"), state["title"]
    assert "χ₁ = 0.998" in state["title"] and "ordered, near the edge" in state["title"]
    assert len(state["q"]) == 100 and len(state["c"]) == 100 and state["marker"] == [1.75, 0.05]
    assert state["paths"] >= 4 and state["heatmap"] == 1, "curves or the tanh phase diagram not drawn"
    assert state["unique"] and state["afterTitle"], "the figure is not in its place on the page"
    assert not _console_errors(driver)


def test_dragging_a_slider_redraws(page):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    driver, _ = page
    before = _state(driver)
    rail = driver.find_elements(By.CSS_SELECTOR, "#mean-field-explorer .slider-container .slider-rail-touch-rect")[0]
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", rail)
    width = rail.size["width"]
    # Click near the right end of the sigma_w2 rail: the last step, sigma_w2 = 4 (chaotic for tanh).
    ActionChains(driver).move_to_element_with_offset(rail, int(width * 0.48), 0).click().perform()
    after = _wait_for_change(driver, before)
    assert after["sliders"][0] != before["sliders"][0], "the sigma_w2 slider did not move"
    assert after["title"] != before["title"] and after["q"] != before["q"], "the figure did not redraw"
    assert "chaotic" in after["title"], after["title"]
    assert after["marker"][0] > before["marker"][0]
    assert not _console_errors(driver)


def test_the_activation_menu_redraws(page):
    from selenium.webdriver.common.by import By

    driver, _ = page
    before = _state(driver)
    header = driver.find_element(By.CSS_SELECTOR, "#mean-field-explorer .updatemenu-header")
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", header)
    header.click()
    time.sleep(0.5)  # the menu opens with a transition
    buttons = driver.find_elements(By.CSS_SELECTOR, "#mean-field-explorer .updatemenu-dropdown-button")
    labels = [b.get_attribute("textContent").strip() for b in buttons]
    assert "relu" in labels, f"no 'relu' entry in the opened menu: {labels}"
    buttons[labels.index("relu")].click()
    after = _wait_for_change(driver, before)
    assert after["menu"] == 1 and after["title"].startswith("relu"), after["title"]
    assert after["q"] != before["q"]
    assert not _console_errors(driver)

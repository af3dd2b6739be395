"""The app in a real headless browser (Debian's /usr/bin/chromium driven by Playwright; never `playwright install`):
scrub the shared step control, move a concept slider, follow a link, use presentation mode, and keep screenshots.

Screenshots go to tests/output/browser/ and their paths are printed (run with -s to see them).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

from ui_runs import launched_app  # noqa: E402

CHROMIUM = Path("/usr/bin/chromium")
OUTPUT = Path(__file__).parent / "output" / "browser"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not CHROMIUM.exists(),
                       reason="needs Debian's chromium at /usr/bin/chromium (apt install chromium)"),
]
playwright_api = pytest.importorskip("playwright.sync_api", reason="needs the playwright Python package")


@pytest.fixture(scope="module")
def url(tmp_path_factory: pytest.TempPathFactory):
    with launched_app(tmp_path_factory, "ui-browser") as (_, address):
        yield address


@pytest.fixture(scope="module")
def browser():
    OUTPUT.mkdir(parents=True, exist_ok=True)
    (OUTPUT.parent / ".gitignore").write_text("*\n")
    with playwright_api.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=[
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1500, "height": 1000})
    page = context.new_page()
    page.errors = []
    page.on("pageerror", lambda error: page.errors.append(str(error)))
    yield page
    context.close()


def shot(page, name: str) -> Path:
    path = OUTPUT / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    print(f"screenshot: {path}")
    return path


def open_app(page, url: str, query: str = "") -> None:
    page.goto(url + query)
    page.wait_for_selector("#concept-plot .js-plotly-plot", timeout=60_000)
    page.wait_for_function("() => document.querySelector('#live-grid img') !== null", timeout=60_000)


def readout(page) -> str:
    return page.inner_text("#step-readout")


def wait_for_step(page, step: int) -> None:
    page.wait_for_function(
        """(step) => {
            const text = document.querySelector('#step-readout')?.innerText || '';
            const plot = document.querySelector('#concept-plot .js-plotly-plot');
            const marker = plot && plot.data && plot.data.find(t => (t.name || '').startsWith('step '));
            return text.includes('step ' + step) && marker && marker.name === 'step ' + step;
        }""", arg=step, timeout=30_000)


def drag_range(page, selector: str, fraction: float) -> None:
    """Drag a range slider's thumb with the mouse, so pointer events (and gradio's release event) really fire."""
    box = page.locator(selector).bounding_box()
    value = page.eval_on_selector(selector, "e => (e.value - e.min) / (e.max - e.min)")
    y = box["y"] + box["height"] / 2
    page.mouse.move(box["x"] + value * box["width"], y)
    page.mouse.down()
    page.mouse.move(box["x"] + fraction * box["width"], y, steps=8)
    page.mouse.up()


def test_step_control_drives_the_plots_and_the_url(page, url):
    open_app(page, url)
    wait_for_step(page, 6)
    shot(page, "01-initial")
    page.click("#step-prev")
    wait_for_step(page, 4)
    page.wait_for_function("() => location.search.includes('step=4')", timeout=10_000)
    capability_line = page.evaluate(
        "() => document.querySelector('#capability-plot .js-plotly-plot').layout.shapes.some(s => s.x0 === 4)")
    assert capability_line
    page.click("#title")  # focus the page, not an input: arrow keys then move the step control
    page.keyboard.press("ArrowLeft")
    wait_for_step(page, 2)
    drag_range(page, "#step-slider input[type=range]", 1.0)
    wait_for_step(page, 6)
    page.fill("#step-input input", "3")
    page.keyboard.press("Enter")
    wait_for_step(page, 2)  # 3 snaps to the nearest checkpoint (2 and 4 tie: the earlier)
    page.fill("#step-input input", "-5")
    page.keyboard.press("Enter")
    page.wait_for_function("() => document.body.innerText.includes('less than minimum value 0')", timeout=15_000)
    shot(page, "01b-error-message")
    page.click("#step-next")
    wait_for_step(page, 4)  # still serving
    assert not page.errors, page.errors


def test_moving_a_concept_slider_regenerates_the_grid_and_its_points(page, url):
    open_app(page, url)
    wait_for_step(page, 6)
    page.wait_for_function("() => document.querySelector('#live-summary').innerText.includes('blue-small')",
                           timeout=60_000)
    before = page.get_attribute("#live-grid img", "src")
    drag_range(page, "#pos-color input[type=range]", 0.25)  # colour position 1 → 0: red
    page.wait_for_function("() => document.querySelector('#live-summary').innerText.includes('red-small')",
                           timeout=60_000)
    after = page.get_attribute("#live-grid img", "src")
    assert after != before
    names = page.evaluate("() => document.querySelector('#concept-plot .js-plotly-plot').data.map(t => t.name)")
    assert any(n.startswith("live: red-small") for n in names)
    page.wait_for_function("() => location.search.includes('c_color=0')", timeout=10_000)
    shot(page, "02-after-concept-slider")
    assert not page.errors, page.errors


def test_a_link_restores_the_view_and_presentation_mode_hides_the_controls(page, url):
    open_app(page, url, "?run=cfg&step=4&present=1&c_size=0&seed=oops")
    wait_for_step(page, 4)
    page.wait_for_function("() => document.body.innerText.includes(\"Ignored seed='oops'\")", timeout=15_000)
    assert page.evaluate("() => document.body.classList.contains('present')")
    assert not page.is_visible("#gen-controls")
    assert page.is_visible("#step-slider")
    page.wait_for_function("() => document.querySelector('#live-summary').innerText.includes('blue-large')",
                           timeout=60_000)
    font = page.evaluate("() => document.querySelector('#concept-plot .js-plotly-plot').layout.font.size")
    assert font == 20
    shot(page, "03-presentation-mode")
    assert not page.errors, page.errors


def test_playback_runs_to_the_end_and_stops(page, url):
    open_app(page, url, "?step=2")
    wait_for_step(page, 2)
    page.click("#play-btn")
    wait_for_step(page, 6)
    page.wait_for_function("() => document.querySelector('#play-btn').innerText.includes('Play')", timeout=15_000)
    page.click("#tab-compare-button")
    page.wait_for_selector("#compare-left .js-plotly-plot", timeout=30_000)
    page.click("#compare-select input")
    page.locator("#compare-select li", has_text="cfg").first.click()
    page.wait_for_function("() => document.querySelector('#compare-caption').innerText.includes('Right: cfg')",
                           timeout=30_000)
    page.wait_for_selector("#compare-right .js-plotly-plot", timeout=30_000)
    shot(page, "04-compare-tab")
    page.click("#tab-tour-button")
    page.click("#tour-next-0")
    page.wait_for_selector("#tour-next-1", state="visible", timeout=15_000)
    shot(page, "05-guided-tour")
    assert not page.errors, page.errors

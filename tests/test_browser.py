"""The app in a real headless browser (Debian's /usr/bin/chromium driven by Playwright; never `playwright install`).

The step control runs in the browser (ui/assets/stepper.js), so these tests are where scrubbing, playback, phase
jumps, keys, clicks on the trajectory, the projector and phone layouts and the live generation's pacing are
checked. Screenshots go to tests/output/browser/ and their paths are printed (run with -s to see them).
"""

from __future__ import annotations

import json
import os
import statistics
import time
from pathlib import Path

import pytest

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

from ui_runs import launched_app  # noqa: E402

CHROMIUM = Path("/usr/bin/chromium")
OUTPUT = Path(__file__).parent / "output" / "browser"
STEP = "() => document.querySelector('.ce-stepper')?.dataset.step"
BUNDLED = Path(__file__).resolve().parents[1] / "checkpoints" / "cpu-default"
"""Offered beside the tiny runs for tests whose pixels must follow the prompt: the tiny runs (6 steps) draw the same
image for every prompt up to less than a grey level, which only bf16 rounding happens to make visible."""

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not CHROMIUM.exists(),
                       reason="needs Debian's chromium at /usr/bin/chromium (apt install chromium)"),
]
playwright_api = pytest.importorskip("playwright.sync_api", reason="needs the playwright Python package")


@pytest.fixture(scope="module")
def url(tmp_path_factory: pytest.TempPathFactory):
    with launched_app(tmp_path_factory, "ui-browser", sweeps=True) as (_, address):
        yield address


@pytest.fixture(scope="module")
def bundled_url(tmp_path_factory: pytest.TempPathFactory):
    """The app on the bundled seed 0 alone, for tests whose pixels must follow the prompt (see BUNDLED)."""
    with launched_app(tmp_path_factory, "ui-browser-bundled", paths=[BUNDLED]) as (_, address):
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


def new_page(browser, width: int = 1440, height: int = 900):
    context = browser.new_context(viewport={"width": width, "height": height})
    page = context.new_page()
    page.errors = []
    page.requests = []
    page.on("pageerror", lambda error: page.errors.append(str(error)))
    page.on("request", lambda request: page.requests.append((time.monotonic(), request.url))
            if "/gradio_api/" in request.url and "/file=" not in request.url else None)
    return page


@pytest.fixture
def page(browser):
    page = new_page(browser)
    yield page
    page.context.close()


def shot(page, name: str) -> Path:
    path = OUTPUT / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    print(f"screenshot: {path}")
    return path


def open_app(page, url: str, query: str = "") -> None:
    page.goto(url + query)
    page.wait_for_function("() => window.ceStepper && window.ceStepper.images && "
                           "document.querySelector('.ce-stepper img[alt=\"stored generations\"]')?.naturalWidth > 0",
                           timeout=60_000)


def step_is(step: int) -> str:
    """A page condition: the step control shows `step`."""
    return f"() => document.querySelector('.ce-stepper')?.dataset.step === '{step}'"


def shown_step(page) -> int:
    return int(page.evaluate(STEP))


def panels(page) -> dict:
    """What each panel says about the step it shows."""
    return page.evaluate("""() => {
        const root = document.querySelector('.ce-stepper'), text = (s) => root.querySelector(s).textContent;
        const line = root.querySelector('.ce-capability svg.ce-overlay line');
        return {step: +root.dataset.step, readout: text('.ce-step'), title: text('.ce-plot-title'),
                stored: text('.ce-stored figcaption'), range: +root.querySelector('.ce-range').value,
                url: new URLSearchParams(location.search).get('step'), line: line ? +line.getAttribute('x1') : null,
                live: text('.ce-live figcaption'), markers: root.querySelectorAll('.ce-concept svg.ce-overlay circle').length};
    }""")


def settle(page, quiet: float = 2.0, limit: float = 60.0) -> float:
    """Wait until the page has sent no request for `quiet` seconds; returns how long that took after now."""
    started = time.monotonic()
    while time.monotonic() - started < limit:
        last = max((t for t, _ in page.requests), default=started)
        if time.monotonic() - max(last, started) >= quiet:
            return max(last, started) - started
        page.wait_for_timeout(200)
    raise AssertionError(f"the page kept sending requests for {limit} s: {page.requests[-5:]}")


def test_every_panel_follows_the_step_control_in_the_browser(page, url):
    open_app(page, url, "?run=plain")
    assert shown_step(page) == 2  # the story starts at the first checkpoint
    page.click(".ce-next")
    view = panels(page)
    assert view["step"] == 4 and view["readout"] == "step 4" and view["title"] == "Concept space at step 4"
    assert view["stored"] == "Stored generations at step 4" and view["range"] == 4 and view["url"] == "4"
    # Grids are upscaled by a whole number, with their labels as text beside them, not in the pixels.
    grid = page.evaluate("""() => { const img = document.querySelector('.ce-stored img');
        return {shown: img.getBoundingClientRect().width, natural: img.naturalWidth,
                labels: [...document.querySelectorAll('.ce-stored .ce-rowlabels span')].map(s => s.textContent)}; }""")
    assert grid["shown"] % grid["natural"] == 0 and grid["shown"] >= grid["natural"]
    assert grid["labels"] == ["red-large", "red-small", "blue-large", "blue-small"]
    page.click(".ce-plot-title")  # focus the page, not an input: keys then move the step control
    for key, step in (("ArrowRight", 6), ("Home", 2), ("End", 6), ("ArrowLeft", 4)):
        page.keyboard.press(key)
        assert shown_step(page) == step, key
    page.fill(".ce-goto", "3")
    page.keyboard.press("Enter")
    assert shown_step(page) == 2  # 3 snaps to the nearest checkpoint (2 and 4 tie: the earlier)
    page.fill(".ce-goto", "-5")
    page.keyboard.press("Enter")
    assert shown_step(page) == 2  # a negative step is ignored, nothing breaks
    page.click(".ce-plot-title")  # leave the number box, so keys reach the step control again
    lines = {}
    for step in (2, 6):  # the capability plot's step line moves with the step
        page.keyboard.press("Home" if step == 2 else "End")
        lines[step] = panels(page)["line"]
    assert lines[6] > lines[2]
    # Clicking the held-out trajectory's last point moves the step control there.
    page.keyboard.press("Home")
    x, y = page.evaluate("""() => {
        const box = document.querySelector('.ce-concept'), L = box._fullLayout, rect = box.getBoundingClientRect();
        const t = box.data.find(d => (d.name || '').includes('held out')), i = t.x.length - 1;
        return [rect.left + L.xaxis.l2p(t.x[i]) + L.xaxis._offset, rect.top + L.yaxis.l2p(t.y[i]) + L.yaxis._offset];
    }""")
    page.mouse.click(x, y)
    page.wait_for_function(step_is(6), timeout=5_000)
    shot(page, "01-step-control")
    assert not page.errors, page.errors


def test_phase_buttons_are_in_time_order_and_keys_jump_to_them(page, url):
    open_app(page, url, "?run=plain")
    phases = page.evaluate("() => window.ceStepper.view.phases")
    steps = [p["step"] for p in phases]
    assert steps == sorted(steps)
    buttons = page.locator(".ce-jump")
    assert buttons.count() == len(phases)
    # The slider is in training steps, with a tick per checkpoint and a coloured tick per phase at its step.
    track = page.evaluate("""() => ({max: +document.querySelector('.ce-range').max,
        ticks: document.querySelectorAll('.ce-tick').length,
        phases: [...document.querySelectorAll('.ce-phase-tick')].map(t => parseFloat(t.style.left))})""")
    view_steps = page.evaluate("() => window.ceStepper.view.steps")
    assert track["max"] == view_steps[-1] and track["ticks"] == len(view_steps)
    assert track["phases"] == pytest.approx([100 * s / view_steps[-1] for s in steps], abs=0.01)
    assert page.locator(".ce-tile").count() == len(phases)  # the strip: one tile per phase
    for k, phase in enumerate(phases):
        page.keyboard.press(str(k + 1))
        assert shown_step(page) == page.evaluate(f"() => window.ceStepper.view.steps[{phase['index']}]")
        assert "ce-active" in buttons.nth(k).get_attribute("class")
    assert not page.errors, page.errors


def test_bursts_of_step_changes_leave_the_page_idle_on_the_last_step(page, url):
    """The runaway-event bug: quick repeated changes made the browser re-send events for minutes and left the
    view on a stale step. Now a burst ends in silence within 2 s, on the last requested step, and the live
    generation follows that step."""
    open_app(page, url, "?run=plain")
    settle(page)
    page.click(".ce-plot-title")
    page.requests.clear()
    for key in ["ArrowRight", "ArrowRight", "ArrowLeft", "ArrowRight", "End", "ArrowLeft", "Home", "End"] * 3:
        page.keyboard.press(key)
        page.wait_for_timeout(70)
    assert shown_step(page) == 6
    assert settle(page) < 2.0 + 8.0  # the last requests are the live generation of step 6 (a few seconds at most)
    sent = len(page.requests)
    page.wait_for_timeout(3000)
    assert len(page.requests) == sent, "the page kept sending after the burst"
    page.wait_for_function("() => document.querySelector('.ce-live figcaption').textContent.endsWith('step 6')",
                           timeout=30_000)
    assert page.input_value("#checkpoint input") == "2"
    assert not page.errors, page.errors


def test_play_keeps_its_pace_stops_at_the_end_and_pause_stops_at_once(page, url):
    open_app(page, url, "?run=plain")
    page.select_option(".ce-speed", "4×")
    page.click(".ce-play")
    page.wait_for_function(step_is(6), timeout=10_000)
    page.wait_for_function("() => !window.ceStepper.playing", timeout=5_000)
    assert page.inner_text(".ce-play") == "▶"
    page.select_option(".ce-speed", "1×")
    page.click(".ce-play")  # from the end it starts again from the first checkpoint
    page.wait_for_function(step_is(4), timeout=5_000)
    started = time.monotonic()
    page.wait_for_function(step_is(6), timeout=5_000)
    assert 0.6 < time.monotonic() - started < 1.2  # 0.8 s per checkpoint at 1×
    page.click(".ce-play")
    page.keyboard.press("Home")
    page.click(".ce-play")
    page.wait_for_function(step_is(4), timeout=5_000)
    page.click(".ce-play")  # pause: no further checkpoint
    page.wait_for_timeout(1200)
    assert shown_step(page) == 4
    page.click(".ce-plot-title")
    page.keyboard.press("p")  # the P key plays too
    page.wait_for_function(step_is(6), timeout=5_000)
    assert not page.errors, page.errors


def test_switching_to_a_run_with_fewer_checkpoints_keeps_the_step_in_range(page, url):
    open_app(page, url, "?run=plain")
    page.keyboard.press("End")
    page.click("#run-select input")
    page.locator("#run-select li", has_text="short").first.click()
    page.wait_for_function("() => window.ceStepper.view.run === 'short' && window.ceStepper.images?.run === 'short'",
                           timeout=30_000)
    assert shown_step(page) == 4  # step 6 of `plain` → the nearest checkpoint of `short`
    settle(page)
    assert not page.locator(".toast-wrap .toast-body.error").count()
    assert not page.errors, page.errors


def test_the_criterion_redraws_the_view_in_place_and_rides_in_the_link(page, url):
    open_app(page, url, "?run=plain&step=4")
    assert shown_step(page) == 4
    note = page.locator(".ce-seed-note")  # plain has a seed sibling (tests/ui_runs.py)
    assert note.inner_text().startswith("Over 2 seeds (strict)")
    page.locator("#criterion label", has_text="lenient").click()
    page.wait_for_function("() => window.ceStepper.view.captions[0].includes('(lenient)')", timeout=30_000)
    assert shown_step(page) == 4  # the same step, redrawn under the other criterion
    assert note.inner_text().startswith("Over 2 seeds (lenient)")
    assert "(lenient)" in page.locator(".ce-caption").inner_text()
    page.wait_for_function("() => document.querySelector('.ce-capability .gtitle')?.textContent.endsWith('(lenient)')",
                           timeout=10_000)
    page.wait_for_function("() => new URLSearchParams(location.search).get('criterion') === 'lenient'",
                           timeout=10_000)
    settle(page)
    assert not page.locator(".toast-wrap .toast-body.error").count()
    assert not page.errors, page.errors


def test_scrubbing_redraws_every_panel_within_budget(page, url):
    """Step change to every precomputed panel redrawn, measured in the page (render time of stepper.js)."""
    open_app(page, url, "?run=plain")
    page.click(".ce-plot-title")
    page.evaluate("() => { window.ceStepper.renders.length = 0; }")
    for _ in range(10):
        for key in ("ArrowRight", "ArrowRight", "Home"):
            page.keyboard.press(key)
    renders = page.evaluate("() => window.ceStepper.renders")
    print(f"render ms: median {statistics.median(renders):.1f}, max {max(renders):.1f} over {len(renders)}")
    assert statistics.median(renders) < 100


@pytest.mark.parametrize("size", [(1280, 720), (1920, 1080)])
def test_presentation_mode_fits_one_slide(browser, url, size):
    page = new_page(browser, *size)
    open_app(page, url, "?run=plain&present=1")
    page.keyboard.press("End")
    fit = page.evaluate("""() => ({height: document.scrollingElement.scrollHeight, width:
        document.scrollingElement.scrollWidth, concept: document.querySelector('.ce-concept').getBoundingClientRect().bottom,
        live: document.querySelector('.ce-live').getBoundingClientRect().bottom})""")
    shot(page, f"06-present-{size[0]}x{size[1]}")
    assert fit["height"] <= size[1] + 2 and fit["width"] <= size[0], fit
    assert fit["concept"] <= size[1] and fit["live"] <= size[1], fit
    assert not page.is_visible("#gen-panel") and page.is_visible(".ce-range")
    assert not page.errors, page.errors
    page.context.close()


def test_phone_layout_stacks_the_panels_without_sideways_scroll(browser, url):
    page = new_page(browser, 390, 844)
    open_app(page, url, "?run=plain")
    width = page.evaluate("() => document.scrollingElement.scrollWidth")
    track = page.locator(".ce-range").bounding_box()
    shot(page, "07-phone")
    assert width <= 390, width
    assert track["width"] > 250  # the step slider keeps the full width of the screen
    page.click(".ce-next")
    assert shown_step(page) == 4
    assert not page.errors, page.errors
    page.context.close()


def test_moving_a_concept_slider_regenerates_the_grid_and_its_points(page, bundled_url):
    open_app(page, bundled_url, f"?run={BUNDLED.name}")
    page.click(".ce-plot-title")  # focus the page, so End moves the step control to the last checkpoint
    page.keyboard.press("End")  # where objects are drawn, so the live samples are placed in concept space
    last = page.evaluate("() => window.ceStepper.view.steps.at(-1)")
    page.wait_for_function(f"() => window.ceStepper.live?.step === {last} && "
                           "window.ceStepper.live.summary.includes('blue-small')", timeout=60_000)
    before = page.evaluate("() => window.ceStepper.live.src")
    box = page.locator("#pos-color input[type=range]").bounding_box()
    page.mouse.click(box["x"] + 0.25 * box["width"], box["y"] + box["height"] / 2)  # colour 1 → 0: red
    page.wait_for_function("() => (window.ceStepper.live?.summary || '').includes('red-small')", timeout=60_000)
    assert page.evaluate("() => window.ceStepper.live.src") != before
    names = "() => document.querySelector('.ce-concept').data.map(t => t.name || '')"
    page.wait_for_function(f"() => ({names})().some(n => n.startsWith('live: red-small'))", timeout=30_000)
    page.wait_for_function("() => +new URLSearchParams(location.search).get('c_color') < 0.5", timeout=10_000)
    shot(page, "02-after-concept-slider")
    assert not page.errors, page.errors


def test_a_link_restores_the_view(page, url):
    open_app(page, url, "?run=cfg&step=4&c_size=0&seed=oops")
    assert shown_step(page) == 4
    page.wait_for_function("() => document.body.innerText.includes(\"Ignored seed='oops'\")", timeout=15_000)
    page.wait_for_function("() => (window.ceStepper.live?.summary || '').includes('blue-large')", timeout=60_000)
    assert page.input_value("#run-select input") == "cfg"
    assert not page.errors, page.errors


def test_compare_offers_every_run(page, url):
    open_app(page, url, "?run=plain")
    page.click("#tab-compare-button")
    page.wait_for_selector("#compare-left .js-plotly-plot", timeout=30_000)
    page.click("#compare-select input")
    options = page.locator("#compare-select li").all_inner_texts()
    assert {"plain", "cfg", "short"} <= {o.strip() for o in options}
    page.locator("#compare-select li", has_text="cfg").first.click()
    page.wait_for_function("() => document.querySelector('#compare-caption').innerText.includes('Right: cfg')",
                           timeout=30_000)
    shot(page, "04-compare-tab")
    assert not page.errors, page.errors


def test_the_tour_walks_over_the_real_figures(page, url):
    open_app(page, url, "?run=plain")
    page.click(".ce-tour-start")
    assert page.is_visible(".ce-tour") and page.inner_text(".ce-tour-title") == "1 · The task"
    assert page.evaluate("() => document.querySelector('.ce-concept-box').classList.contains('ce-spot')")
    phases = page.evaluate("() => Object.fromEntries(window.ceStepper.view.phases.map(p => [p.name, p.index]))")
    page.click(".ce-tour-next")
    page.click(".ce-tour-next")  # 3 · memorization: jumps there and outlines the stored generations
    assert page.inner_text(".ce-tour-title").startswith("3 ·")
    assert page.evaluate("() => window.ceStepper.index") == phases["memorization"]
    assert page.evaluate("() => document.querySelector('.ce-stored').classList.contains('ce-spot')")
    shot(page, "05-guided-tour")
    page.keyboard.press("Escape")
    assert not page.is_visible(".ce-tour")
    assert not page.evaluate("() => document.querySelector('.ce-spot')")
    assert not page.errors, page.errors


def test_a_link_can_open_at_a_phase(page, url):
    open_app(page, url, "?run=plain&phase=1")
    first = page.evaluate("() => window.ceStepper.view.phases[0]")
    assert shown_step(page) == page.evaluate(f"() => window.ceStepper.view.steps[{first['index']}]")
    assert not page.errors, page.errors


def open_sweep_tab(page, url: str, sweep: str | None = None) -> None:
    """The Sweep tab with its fan drawn, `sweep` chosen in its selector (else the first sweep, sweep-packed)."""
    open_app(page, url, "?run=plain")
    page.click("#tab-sweep-button")
    page.wait_for_function("() => document.querySelector('#sweep-caption')?.innerText.includes('4 of 4 cells')",
                           timeout=60_000)
    page.wait_for_selector("#sweep-fan .js-plotly-plot .slider-container", timeout=30_000)
    if sweep:
        page.click("#sweep-select input")
        page.locator("#sweep-select li", has_text=sweep).first.click()
        settle(page)
        assert page.input_value("#sweep-select input") == sweep


FAN_LINE_POINT = """() => {
    // The clickable points of the fan (each cell's held-out line, star and marker, named by their customdata) in
    // page pixels; of the held-out lines' points, the one farthest from every star and marker.
    const fan = document.querySelector('#sweep-fan .js-plotly-plot'), box = fan.getBoundingClientRect();
    const xa = fan._fullLayout.xaxis, ya = fan._fullLayout.yaxis, points = [];
    fan.data.filter((trace) => trace.customdata).forEach((trace) => trace.x.forEach((x, i) => {
        if (x === null || trace.y[i] === null) return;
        points.push({x: box.left + xa._offset + xa.l2p(x), y: box.top + ya._offset + ya.l2p(trace.y[i]),
                     line: trace.name.startsWith('held-out')});
    }));
    const marks = points.filter((p) => !p.line);
    const apart = (p) => Math.min(...marks.map((q) => Math.hypot(p.x - q.x, p.y - q.y)));
    return points.filter((p) => p.line).map((p) => ({...p, apart: apart(p)})).sort((a, b) => b.apart - a.apart)[0];
}"""


def click_a_cell_in_the_fan(page) -> str:
    """Click a point of a held-out trajectory in the fan, away from every star and marker; returns the cell that
    plotly says was clicked (the tiny sweep's trajectories lie close together)."""
    page.locator("#sweep-fan").scroll_into_view_if_needed()
    page.evaluate("() => document.querySelector('#sweep-fan .js-plotly-plot').on('plotly_click', (event) => {"
                  "window.ceFanClicked = {cell: event.points[0].customdata, trace: event.points[0].data.name}; })")
    point = page.evaluate(FAN_LINE_POINT)
    assert point["apart"] > 8 and 0 < point["y"] < page.viewport_size["height"], point
    page.mouse.move(point["x"], point["y"])  # plotly picks the clicked point from its hover
    page.mouse.click(point["x"], point["y"])
    clicked = page.wait_for_function("() => window.ceFanClicked", timeout=10_000).json_value()
    assert clicked["trace"].startswith("held-out"), clicked
    return clicked["cell"]


def test_the_sweep_tab_draws_its_fan_and_its_slider_moves_every_run(page, url):
    open_sweep_tab(page, url)
    page.wait_for_selector("#sweep-learning .js-plotly-plot", timeout=30_000)
    fan = "document.querySelector('#sweep-fan .js-plotly-plot')"
    marks = f"() => {fan}.data.find(t => t.name === \"at the slider's step\").x"
    first = json.dumps(page.evaluate(f"() => {fan}.layout.sliders[0].steps[0].args[0].x[0]"), separators=(",", ":"))
    assert json.dumps(page.evaluate(marks), separators=(",", ":")) != first  # the fan opens at the last step
    page.locator("#sweep-fan .slider-rail-touch-rect").first.click(position={"x": 2, "y": 10})  # the first step
    page.wait_for_function(f"() => JSON.stringify(({marks})()) === {json.dumps(first)}", timeout=10_000)
    shot(page, "05-sweep-tab")
    assert not page.errors, page.errors


def test_clicking_a_cell_in_the_sweep_fan_opens_it_in_explore(page, url):
    open_sweep_tab(page, url, "sweep-tiny")
    assert "open that run in Explore" in page.inner_text("#sweep-fan-click")
    cell = click_a_cell_in_the_fan(page)
    page.wait_for_function(f"() => window.ceStepper.view?.run === {json.dumps(cell)}", timeout=60_000)  # its folder
    assert page.is_visible(".ce-stepper") and not page.is_visible("#sweep-fan")  # the Explore tab, on that run
    assert page.input_value("#run-select input") == f"sweep-tiny/{cell}"
    settle(page)
    assert not page.locator(".toast-wrap .toast-body.error").count()
    shot(page, "08-sweep-cell-opened")
    assert not page.errors, page.errors


def test_a_cell_without_weights_clicked_in_the_fan_says_so(page, url):
    open_sweep_tab(page, url)  # sweep-packed: its figures from results.json, no cell's weights
    cell = click_a_cell_in_the_fan(page)
    error = page.locator(".toast-wrap .toast-body.error").first
    error.wait_for(timeout=30_000)
    assert f"The weights of {cell} are not bundled, so it cannot be opened in Explore" in error.inner_text()
    assert page.is_visible("#sweep-fan") and page.input_value("#run-select input") == "plain"  # nothing switched
    assert not page.errors, page.errors


def test_a_crafted_link_is_shown_as_short_plain_text(page, url):
    """Issue 22, item 3: a link's value was rendered as HTML in the warning toast (a large red clickable link),
    and a long one whole."""
    from urllib.parse import quote

    markup = '<a href="https://example.invalid/login" style="font-size:40px;color:red">Session expired</a>'
    page.goto(url + f"?run={quote(markup)}&phase={'y' * 10_000}")
    page.wait_for_function("() => document.body.innerText.includes('is not on this server')", timeout=60_000)
    assert page.evaluate("() => document.querySelectorAll('a[href*=\"example.invalid\"]').length") == 0
    assert "'<a href=\"https://" in page.inner_text("body")  # shown as the text it is, cut short
    assert "y" * 400 not in page.inner_text("body")
    assert not page.errors, page.errors

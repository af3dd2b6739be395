"""The plumbing of bench_browser.py: the app in its own process, Debian's chromium, and what the page is doing.

`App` starts `python app.py --port P` as a user does; `new_page` opens a new visitor's page (empty cache) with the
in-page probe (browser_probe.js) installed before any page script; `Requests` follows the page's calls to the
server; `Neighbours` notes other processes' CPU use (the machine may be shared); `step_samples` and `drag_samples`
change the step as a person does and return the probe's timings. Also usable on its own for a diagnosis, e.g.
with a CDP profiler session on the page.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
PROBE = Path(__file__).with_name("browser_probe.js")


def launch_browser(playwright):
    """Debian's chromium, never a browser downloaded by `playwright install`."""
    return playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_FLAGS)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _processes() -> dict[int, tuple[float, int, str]]:
    """Every process: (CPU seconds so far, parent pid, command line)."""
    seen = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            command = (stat.parent / "cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
            seen[int(stat.parent.name)] = ((int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK"),
                                           int(fields[1]), command[:70])
        except (OSError, ValueError, IndexError):
            pass
    return seen


class Neighbours:
    """Other processes' CPU use from now until `report()`: this script, its browser and its app excluded."""

    def __init__(self) -> None:
        self.started, self.before = time.monotonic(), _processes()

    def report(self, threshold: float = 0.2) -> str:
        elapsed, after = time.monotonic() - self.started, _processes()

        def ours(pid: int) -> bool:
            while pid > 1:
                if pid == os.getpid():
                    return True
                pid = after[pid][1] if pid in after else 0
            return False

        used = {pid: after[pid][0] - (self.before[pid][0] if pid in self.before else 0.0)  # new: all of it
                for pid in after if not ours(pid)}
        busy = [f"{100 * cpu / elapsed:.0f}% {after[pid][2]}" for pid, cpu in used.items() if cpu > threshold * elapsed]
        return "; ".join(busy) or "none"


def busy_processes(window_s: float = 1.0) -> str:
    """Other processes using over 20 % of a core right now (the machine may be shared)."""
    neighbours = Neighbours()
    time.sleep(window_s)
    return neighbours.report()


class App:
    """`python app.py --port P` in a subprocess (the bundled run), as a user starts it; `env` adds variables."""

    def __init__(self, env: dict[str, str] | None = None) -> None:
        import httpx

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        self.log = tempfile.TemporaryFile()  # noqa: SIM115  # the app's output, kept while it runs
        self.started = time.perf_counter()
        self.process = subprocess.Popen([sys.executable, str(ROOT / "app.py"), "--port", str(self.port)], cwd=ROOT,
                                        stdout=self.log, stderr=self.log, env=os.environ | (env or {}))
        while True:
            if self.process.poll() is not None or time.perf_counter() - self.started > 120:
                self.close()
                self.log.seek(0)
                raise RuntimeError(f"app.py did not come up: {self.log.read().decode()[-2000:]}")
            try:
                httpx.get(self.url, timeout=1)
                break
            except httpx.HTTPError:
                time.sleep(0.05)
        self.up_s = time.perf_counter() - self.started

    def cpu(self) -> float:
        return cpu_seconds(self.process.pid)

    def close(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


class Requests:
    """The page's calls to the server: gradio events and their result streams (not files, not the heartbeat)."""

    def __init__(self, page) -> None:
        self.page, self.sent, self.open, self.last = page, [], set(), time.monotonic()
        self.names: dict[int, str] = {}
        page.on("request", self._request)
        page.on("requestfinished", self._done)
        page.on("requestfailed", self._done)

    def _request(self, request) -> None:
        if "/gradio_api/" not in request.url or "/file=" in request.url or "/heartbeat/" in request.url:
            return
        self.open.add(request)
        self.last = time.monotonic()
        fn = None
        if request.method == "POST":
            try:
                fn = json.loads(request.post_data or "{}").get("fn_index")
            except ValueError:
                pass
        path = request.url.split("/gradio_api/", 1)[1].split("?", 1)[0]
        self.sent.append({"t": self.last, "method": request.method, "path": path, "fn_index": fn})

    def _done(self, request) -> None:
        if request in self.open:
            self.open.discard(request)
            self.last = time.monotonic()

    def name(self, entry: dict) -> str:
        """The event's api_name (POSTs), or the method and path (the result streams)."""
        if entry["fn_index"] is None:
            return f"{entry['method']} {entry['path']}"
        if not self.names:
            self.names = dict(self.page.evaluate(
                "() => window.gradio_config.dependencies.map((d, i) => [i, d.api_name || d.id])"))
        return self.names.get(entry["fn_index"], f"fn {entry['fn_index']}")

    def quiet(self, quiet_s: float = 1.5, limit_s: float = 60.0) -> float:
        """Wait until no request is open and none was sent for `quiet_s`; returns the seconds waited."""
        started = time.monotonic()
        while time.monotonic() - started < limit_s:
            if not self.open and time.monotonic() - self.last >= quiet_s:
                return time.monotonic() - started
            self.page.wait_for_timeout(100)
        raise RuntimeError(f"the page kept talking to the server for {limit_s:.0f} s: {self.sent[-5:]}")


def new_page(browser, width: int = 1440, height: int = 900):
    """A new visitor (own context: empty cache and storage) with the probe installed; page.requests, page.errors."""
    context = browser.new_context(viewport={"width": width, "height": height})
    context.add_init_script(path=str(PROBE))
    page = context.new_page()
    page.errors = []
    page.on("pageerror", lambda error: page.errors.append(str(error)))
    page.requests = Requests(page)
    return page


def wait_mark(page, name: str, timeout_s: float = 90) -> None:
    """Until the probe's page-load mark `name` (plots, grids, live) has a paint time."""
    page.wait_for_function(f"() => typeof window.__ceBench?.marks?.{name} === 'number'", timeout=timeout_s * 1000)


def load_timeline(page) -> dict:
    """The page load in ms from navigation start: document, plotly.js, the load events' requests, the marks."""
    return page.evaluate("""() => {
        const B = window.__ceBench, nav = performance.getEntriesByType('navigation')[0];
        const joins = B.resources.filter((r) => r.name.includes('/queue/join'));
        const runs = B.resources.filter((r) => r.name.includes('/run/predict'));
        const plotly = performance.getEntriesByType('resource').find((r) => r.name.includes('plotly.min.js'));
        return {html: nav.responseEnd, domContentLoaded: nav.domContentLoadedEventEnd, load: nav.loadEventEnd,
                plotlyRequested: plotly ? plotly.startTime : null, plotlyLoaded: plotly ? plotly.responseEnd : null,
                loadViewSent: joins[0]?.start ?? null, viewReceived: runs[0]?.end ?? null,
                imagesReceived: runs[1]?.end ?? null, plots: B.marks.plots, grids: B.marks.grids, live: B.marks.live,
                longTasksMs: B.longTasks.filter((t) => t.start < B.marks.grids).reduce((a, t) => a + t.duration, 0)};
    }""")


def run_history(page) -> str:
    """What gradio's run history holds in this page's localStorage (gradio rewrites it on every event's status)."""
    entries, chars = page.evaluate("""() => Object.keys(localStorage).filter((k) => k.startsWith('gradio:run-history'))
        .reduce(([n, c], k) => { const v = localStorage.getItem(k) || '';
                                 let m = 0; try { m = (JSON.parse(v) || []).length || 0; } catch (e) {}
                                 return [n + m, c + v.length]; }, [0, 0])""")
    return f"gradio run history in localStorage: {entries} runs, {chars / 1e6:.2f} M characters"


def server_step(page) -> str:
    """Whether the server's checkpoint (the hidden number the live generation reads) is the step the page shows:
    the stepper tells the server only the step it settled on, so a lost settle event leaves the server behind."""
    shown = page.evaluate("() => window.ceStepper.index")
    held = page.input_value("#checkpoint input")
    return f"server's checkpoint {held}, page shows {shown}: " + ("in step" if held == str(shown) else "BEHIND")


def step_samples(page, act, count: int, pace_s: float) -> list[dict]:
    """Perform `count` step changes with `act(k)`, `pace_s` apart (after each is painted); the probe's samples."""
    page.evaluate("() => { window.__ceBench.steps.length = 0; window.__ceBench.stimulus = null; }")
    for k in range(count):
        before = page.evaluate("() => window.__ceBench.steps.length")
        act(k)
        page.wait_for_function(f"() => window.__ceBench.steps.length > {before}", timeout=10_000)
        page.wait_for_timeout(pace_s * 1000)
    return page.evaluate("() => window.__ceBench.steps")


def drag_samples(page, pace_s: float) -> list[dict]:
    """Drag the range's thumb from the first checkpoint to the last at 60 mouse moves a second."""
    page.keyboard.press("Home")
    page.wait_for_timeout(pace_s * 1000)
    page.evaluate("() => { window.__ceBench.steps.length = 0; window.__ceBench.stimulus = null; }")
    box = page.locator(".ce-range").bounding_box()
    first, last = page.evaluate("() => [window.ceStepper.view.steps[0], window.ceStepper.view.steps.at(-1)]")
    y, x0 = box["y"] + box["height"] / 2, box["x"] + 8 + (box["width"] - 16) * first / last  # thumb ~16 px wide
    page.mouse.move(x0, y)
    page.mouse.down()
    for k in range(1, 121):
        page.mouse.move(x0 + (box["x"] + box["width"] - x0) * k / 120, y)
        page.wait_for_timeout(16)
    page.mouse.up()
    page.wait_for_timeout(500)
    return page.evaluate("() => window.__ceBench.steps")

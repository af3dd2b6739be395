"""Speed a user feels, measured in a real browser (issue "Speed a user feels", items 3-5; not part of the test suite).

    .venv/bin/python benchmarks/bench_browser.py [--cold 3] [--loads 4] [--steps 16] [--live 6]
                                                 [--app-env NAME=VALUE ...]

Starts the app as a user does (`python app.py --port P`: the bundled run) and drives Debian's chromium
(/usr/bin/chromium through Playwright's executable_path; never `playwright install`); see browser_harness.py.
Everything is timed in the page (browser_probe.js): from the browser's timestamp of the key press, click, drag
movement or slider release to the frame painted after the change, with its sample grids decoded. Goals:
- cold start: process start → server answers HTTP → first render (plots drawn for a step) ≤ 8 s on 2 cores;
- page load with the server up: navigation start → plots, → sample grids, → first live grid (for reference);
- step change → every precomputed panel painted ≤ 100 ms median and ≤ 200 ms p95, for ← → keys, clicks on the
  next button, jump keys 1-4 and dragging the range, at a person's pace (each settled step also moves the live
  generation on the server, as it does for a viewer); beside the stepper's own redraw time (ceStepper.renders);
- Play at 1×: 0.8 s ± 10 % per checkpoint;
- live generation, colour slider released → new grid painted ≤ 0.5 s (default grid, 16 samples × 20 steps),
  beside the server's own sampling time (the summary's "; 0.23 s)");
- a burst of 20 quick step changes sends one settled step and one generation, not 20.
Prints medians and p95 with the ratio to each goal, the CPU, whether torch has native bf16 and the load average;
saves the printout to benchmarks/results-browser.txt and every sample to benchmarks/results/bench_browser.json.
--app-env runs the app with extra environment variables, to try a remedy (e.g. GRADIO_RUN_HISTORY=False); its
printout goes to benchmarks/results/results-browser-app-env.txt, so results-browser.txt stays the app as shipped.
Timings depend on the machine's load: the browser, the server and this script share its cores.
"""

from __future__ import annotations

import argparse
import datetime
import itertools
import json
import os
import platform
import re
import statistics
import sys
import time
from pathlib import Path

from browser_harness import (
    CHROMIUM,
    ROOT,
    App,
    Neighbours,
    busy_processes,
    drag_samples,
    launch_browser,
    load_timeline,
    new_page,
    run_history,
    server_step,
    step_samples,
    wait_mark,
)

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
sys.path.insert(0, str(ROOT))

GOAL_COLD_S = 8.0
GOAL_STEP_MEDIAN_MS, GOAL_STEP_P95_MS = 100.0, 200.0
GOAL_PLAY_S, PLAY_TOLERANCE = 0.8, 0.10
GOAL_LIVE_S = 0.5
PACE_S = 0.35
"""Time between a person's step changes: longer than the stepper's 120 ms debounce, so each one settles."""
LINES: list[str] = []
GOALS: list[str] = []


def say(line: str = "") -> None:
    print(line, flush=True)
    LINES.append(line)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def row(name: str, values: list[float], unit: str, goal: float | None = None, goal_p95: float | None = None) -> dict:
    """One printed line: median and p95 (in `unit`, 's' or 'ms'), with the ratio to the goal when there is one."""
    if not values:
        say(f"  {name:<44} no samples")
        return {"n": 0}
    digits = 3 if unit == "s" else 1
    stats = {"median": statistics.median(values), "p95": percentile(values, 0.95), "min": min(values),
             "max": max(values), "n": len(values)}
    line = f"  {name:<44} median {stats['median']:7.{digits}f} {unit:<2} p95 {stats['p95']:7.{digits}f} {unit:<2} " \
           f"n={stats['n']:<3}"
    if goal is not None:
        ok = stats["median"] <= goal and (goal_p95 is None or stats["p95"] <= goal_p95)
        ratio = f"{stats['median'] / goal:4.2f}" + (f" / p95 {stats['p95'] / goal_p95:4.2f}" if goal_p95 else "")
        target = f"≤ {goal:g} {unit}" + (f", p95 ≤ {goal_p95:g} {unit}" if goal_p95 else "")
        line += f" goal {target}: ratio {ratio}  {'ok' if ok else 'MISSED'}"
        stats |= {"goal": goal, "goal_p95": goal_p95, "ratio": stats["median"] / goal, "ok": ok}
        GOALS.append(f"  {name.strip():<44} {'ok    ' if ok else 'MISSED'} ratio {ratio} (goal {target})")
    say(line)
    return stats


def home(page) -> None:
    """The first checkpoint, settled: shown, told to the server, and its live generation done."""
    page.click(".ce-plot-title")  # focus the page, not an input, so keys reach the step control
    page.keyboard.press("Home")
    try:
        page.wait_for_function("() => document.querySelector('#checkpoint input')?.value === '0'", timeout=10_000)
    except Exception:  # noqa: BLE001  # reported, and the part goes on from wherever the server is
        say(f"  Home was pressed, but after 10 s {server_step(page)}")
    page.requests.quiet()


def others(neighbours: Neighbours) -> str:
    """Prints and returns which other processes used the CPU during a part (the machine may be shared)."""
    busy = neighbours.report()
    say(f"  other processes meanwhile: {busy}")
    return busy


def load_average() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


# -- the parts ----------------------------------------------------------------------------------------------------
def cold_start(browser, repeats: int, env: dict[str, str]) -> tuple[dict, App, object]:
    """Fresh server processes; a new visitor opens the page as soon as the server answers. The last process and
    page stay up for the other parts."""
    say(f"cold start: python app.py in a fresh process, page opened when it answers (load {load_average()})")
    up, rendered, grids, app, page = [], [], [], None, None
    for _ in range(repeats):
        if app:
            page.context.close()
            app.close()
        app = App(env)
        page = new_page(browser)
        navigated = time.perf_counter()
        page.goto(app.url, wait_until="commit")
        wait_mark(page, "grids")
        marks = page.evaluate("() => window.__ceBench.marks")
        up.append(app.up_s)
        rendered.append(navigated - app.started + marks["plots"] / 1000)
        grids.append(navigated - app.started + marks["grids"] / 1000)
    result = {"server_answers_http_s": row("server answers HTTP", up, "s"),
              "page_s": row("then the page: navigation → plots drawn", [r - u for r, u in zip(rendered, up)], "s"),
              "first_render_s": row("first render (plots drawn)", rendered, "s", GOAL_COLD_S),
              "sample_grids_s": row("sample grids shown", grids, "s")}
    return result, app, page


def page_load(browser, app: App, repeats: int) -> dict:
    say(f"page load with the server up, a new visitor each time (load {load_average()})")
    timelines = []
    for _ in range(repeats):
        page = new_page(browser)
        page.goto(app.url, wait_until="commit")
        wait_mark(page, "live", 60)
        timelines.append(load_timeline(page))
        page.requests.quiet()
        page.context.close()
    result = {"plots_ms": row("navigation start → plots visible", [t["plots"] for t in timelines], "ms"),
              "grids_ms": row("navigation start → sample grids visible", [t["grids"] for t in timelines], "ms"),
              "live_ms": row("navigation start → first live grid visible", [t["live"] for t in timelines], "ms")}
    median = {k: statistics.median(t[k] for t in timelines) for k in timelines[0]
              if all(t[k] is not None for t in timelines)}
    say("  timeline (medians, ms from navigation start): " + ", ".join(f"{k} {v:.0f}" for k, v in median.items()))
    result["timeline_median_ms"], result["timelines"] = median, timelines
    return result


def step_changes(page, app: App, count: int) -> dict:
    say(f"step change → every precomputed panel painted, changes {PACE_S:.2f} s apart (load {load_average()})")
    page.requests.quiet()
    home(page)
    phases = len(page.evaluate("() => window.ceStepper.view.phases"))
    cpu = app.cpu()

    def next_clicks() -> list[dict]:
        page.keyboard.press("Home")
        page.wait_for_timeout(PACE_S * 1000)
        return step_samples(page, lambda k: page.click(".ce-next"), count, PACE_S)

    kinds = {
        "← → keys": lambda: step_samples(page, lambda k: page.keyboard.press("ArrowRight" if k < count else
                                                                            "ArrowLeft"), 2 * count, PACE_S),
        "clicks on the next button": next_clicks,
        "jump keys 1-4": lambda: step_samples(page, lambda k: page.keyboard.press(str(k % phases + 1)), count,
                                              PACE_S),
        "dragging the range": lambda: drag_samples(page, PACE_S),
    }
    result, samples = {}, []
    for kind, measure in kinds.items():
        taken = [s for s in measure() if s.get("stimulus")]
        samples += taken
        result[kind] = row(kind, [s["shown"] - s["stimulus"]["t"] for s in taken], "ms", GOAL_STEP_MEDIAN_MS,
                           GOAL_STEP_P95_MS) | {"samples": taken}
        page.click(".ce-plot-title")
    result["all"] = row("all inputs", [s["shown"] - s["stimulus"]["t"] for s in samples], "ms",
                        GOAL_STEP_MEDIAN_MS, GOAL_STEP_P95_MS)
    say("  where it goes, all inputs:")
    result["changed_ms"] = row("  input → data-step set (input delay + handler)",
                               [s["changed"] - s["stimulus"]["t"] for s in samples], "ms")
    result["painted_ms"] = row("  input → first frame after it", [s["painted"] - s["stimulus"]["t"] for s in samples],
                               "ms")
    result["render_ms"] = row("  ceStepper.renders (the stepper's redraw)",
                              [s["render"] for s in samples if s["render"] is not None], "ms")
    longtasks = page.evaluate("() => window.__ceBench.longTasks.length")
    page.requests.quiet()
    result["server_cpu_s"] = app.cpu() - cpu
    say(f"  server CPU meanwhile {result['server_cpu_s']:.1f} s (the live generation follows each settled step); "
        f"long tasks in the page so far {longtasks}")
    say(f"  {run_history(page)}; {server_step(page)}")
    return result


def playback(page) -> dict:
    say(f"Play at 1× (load {load_average()})")
    home(page)
    page.select_option(".ce-speed", "1×")
    page.evaluate("() => { window.__ceBench.steps.length = 0; }")
    page.click(".ce-play")
    page.wait_for_function("() => window.__ceBench.steps.length >= 10", timeout=30_000)
    page.click(".ce-play")  # pause
    shown = [s["shown"] for s in page.evaluate("() => window.__ceBench.steps")][:10]
    intervals = [(b - a) / 1000 for a, b in itertools.pairwise(shown)]
    result = row(f"seconds per checkpoint, {len(intervals)} checkpoints", intervals, "s")
    mean = (shown[-1] - shown[0]) / 1000 / len(intervals)
    ok = all(abs(i - GOAL_PLAY_S) <= PLAY_TOLERANCE * GOAL_PLAY_S for i in intervals)
    verdict = f"ratio {mean / GOAL_PLAY_S:4.2f}, every interval within ±{PLAY_TOLERANCE:.0%}: {'yes' if ok else 'no'}"
    say(f"  mean {mean:.3f} s, range {min(intervals):.3f}-{max(intervals):.3f} s; goal {GOAL_PLAY_S} s "
        f"± {PLAY_TOLERANCE:.0%}: {verdict}  {'ok' if ok else 'MISSED'}")
    GOALS.append(f"  {'Play at 1×, s per checkpoint':<44} {'ok    ' if ok else 'MISSED'} {verdict} "
                 f"(goal {GOAL_PLAY_S} s ± {PLAY_TOLERANCE:.0%})")
    page.requests.quiet()
    say(f"  after the pause, {server_step(page)}")
    return result | {"mean_s": mean, "intervals_s": intervals, "ok": ok}


def burst(page) -> dict:
    say(f"burst of 20 step changes (← → keys 40 ms apart): requests the page sends (load {load_average()})")
    home(page)
    previous = page.evaluate("() => window.ceStepper.live?.src ?? null")
    page.evaluate("() => { window.__ceBench.keys.length = 0; }")
    page.requests.sent.clear()
    for key in ["ArrowRight"] * 14 + ["ArrowLeft"] * 3 + ["ArrowRight"] * 3:  # ends at the 15th checkpoint
        page.keyboard.press(key)
        page.wait_for_timeout(40)
    ended = page.evaluate("() => performance.now()")
    keys = page.evaluate("() => window.__ceBench.keys")
    widest = max(b - a for a, b in itertools.pairwise(keys))  # over the stepper's 120 ms, a step settles early
    target = page.evaluate("() => window.ceStepper.view.steps[window.ceStepper.index]")
    arrived = page.evaluate(f"""() => new Promise((resolve) => {{
        const check = () => {{ const live = window.ceStepper.live;
            if (live && live.src !== {json.dumps(previous)} && live.step === {target}) resolve(performance.now());
            else setTimeout(check, 5); }};
        check(); setTimeout(() => resolve(null), 30000); }})""")
    page.requests.quiet(2.0)
    counts: dict[str, int] = {}
    for entry in page.requests.sent:
        counts[page.requests.name(entry)] = counts.get(page.requests.name(entry), 0) + 1
    events = sum(1 for e in page.requests.sent if e["method"] == "POST")
    settled = counts.get("settle_step", 0)
    generations = sum(n for name, n in counts.items() if "generate" in name)
    following = server_step(page)
    ok = settled == 1 and generations == 1 and arrived is not None
    say(f"  the page got the {len(keys)} keys {(keys[-1] - keys[0]) / (len(keys) - 1):.0f} ms apart on average, "
        f"{widest:.0f} ms at most (the stepper settles after 120 ms without a change)")
    say(f"  {len(page.requests.sent)} requests for 20 step changes, {events} of them events: "
        + ", ".join(f"{name} ×{n}" for name, n in sorted(counts.items())))
    verdict = f"settled-step events {settled}, generations {generations}, live grid of the last step " + \
              ("shown" if arrived is not None else "NOT shown within 30 s")
    say(f"  {verdict} (goal 1, 1, shown)  {'ok' if ok else 'MISSED'}; {following}")
    GOALS.append(f"  {'burst of 20 step changes':<44} {'ok    ' if ok else 'MISSED'} {verdict} (goal 1, 1, shown)")
    if arrived is not None:
        say(f"  last key → live grid of the settled step ({target}) received: {(arrived - ended) / 1000:.2f} s")
    return {"requests": len(page.requests.sent), "events": events, "by_event": counts, "ok": ok, "server": following,
            "key_gaps_ms": [b - a for a, b in itertools.pairwise(keys)],
            "last_key_to_live_s": None if arrived is None else (arrived - ended) / 1000}


def live_generation(page, app: App, repeats: int) -> dict:
    say(f"live generation: colour slider released at a new position → new grid painted (load {load_average()})")
    page.requests.quiet()
    slider = page.locator("#pos-color input[type=range]")
    box = slider.bounding_box()
    samples, seen = [], set()
    for fraction in [0.25, 0.5, 0.4, 0.6, 0.3, 0.45, 0.35, 0.55, 0.2, 0.65][:repeats]:
        previous = page.evaluate("() => window.ceStepper.live?.src ?? null")
        page.evaluate(f"() => {{ window.__ceLive = window.__ceBench.waitLive({json.dumps(previous)}, 30000); }}")
        cpu = app.cpu()
        page.mouse.click(box["x"] + fraction * box["width"], box["y"] + box["height"] / 2)
        done = page.evaluate("() => window.__ceLive")
        if done is None:
            raise RuntimeError("no live generation arrived within 30 s of releasing the colour slider")
        value = float(slider.input_value())
        sent = page.evaluate(f"""() => window.__ceBench.resources.find((r) => r.name.includes('/queue/join')
                                 && r.start >= {done['pointerUp']}) || null""")
        page.requests.quiet(1.0)
        server = re.search(r"; ([\d.]+) s\)", done["summary"])
        samples.append({"colour": value, "cached": value in seen, "summary": done["summary"], "step": done["step"],
                        "to_src_s": (done["arrived"] - done["pointerUp"]) / 1000,
                        "to_shown_s": (done["shown"] - done["pointerUp"]) / 1000,
                        "request_sent_s": (sent["start"] - done["pointerUp"]) / 1000 if sent else None,
                        "server_sampling_s": float(server.group(1)) if server else None,
                        "server_cpu_s": app.cpu() - cpu})
        seen.add(value)
    fresh = [s for s in samples if not s["cached"]]
    grid = re.search(r"\((\d+) samples, (\d+) sampling steps", fresh[0]["summary"]) if fresh else None
    if grid:
        say(f"  at step {fresh[0]['step']}, {grid.group(1)} samples × {grid.group(2)} sampling steps")
    result = {"shown_s": row("release → new grid painted", [s["to_shown_s"] for s in fresh], "s", GOAL_LIVE_S)}
    say("  where it goes:")
    result |= {
        "request_sent_s": row("  release → generate request sent",
                              [s["request_sent_s"] for s in fresh if s["request_sent_s"] is not None], "s"),
        "server_sampling_s": row("  server's own time (summary: sample + probe)",
                                 [s["server_sampling_s"] for s in fresh if s["server_sampling_s"]], "s"),
        "src_s": row("  release → ceStepper.live.src changed", [s["to_src_s"] for s in fresh], "s"),
        "server_cpu_s": row("  server process CPU per release", [s["server_cpu_s"] for s in fresh], "s"),
        "samples": samples}
    if len(fresh) < len(samples):
        say(f"  {len(samples) - len(fresh)} release(s) landed on a colour already sampled (cache hits), left out")
    say(f"  {run_history(page)}")
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cold", type=int, default=3, help="cold starts (fresh server processes)")
    parser.add_argument("--loads", type=int, default=4, help="page loads with the server up")
    parser.add_argument("--steps", type=int, default=16, help="step changes per kind of input")
    parser.add_argument("--live", type=int, default=6, help="live generations (at most 10)")
    parser.add_argument("--app-env", action="append", default=[], metavar="NAME=VALUE",
                        help="an environment variable for the app process, to try a remedy")
    args = parser.parse_args()
    if not CHROMIUM.exists():
        print("needs Debian's chromium at /usr/bin/chromium (apt install chromium)", file=sys.stderr)
        return 2
    import gradio
    import torch
    from playwright.sync_api import sync_playwright

    from concept_explorer.core.precision import native_bf16

    cpu_model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                      if line.startswith("model name")), platform.processor() or "unknown")
    app_env = dict(item.split("=", 1) for item in args.app_env)
    busy = busy_processes()
    started = time.perf_counter()
    results: dict = {"date": datetime.datetime.now().isoformat(timespec="seconds"), "cpu": cpu_model,
                     "cores": os.cpu_count(), "native_bf16": native_bf16(torch.device("cpu")), "app_env": app_env,
                     "load_average_start": os.getloadavg(), "other_busy_processes_start": busy}
    with sync_playwright() as playwright:
        browser = launch_browser(playwright)
        say(f"Concept Explorer in the browser, {results['date'].replace('T', ' ')}")
        say(f"chromium {browser.version}, gradio {gradio.__version__}, torch {torch.__version__}, "
            f"Python {platform.python_version()}; app: python app.py --port P (bundled run checkpoints/cpu-default)"
            + (f" with {' '.join(f'{k}={v}' for k, v in app_env.items())}" if app_env else ""))
        say(f"CPU: {cpu_model}, {os.cpu_count()} cores, torch native bf16: {results['native_bf16']}; "
            f"load average at start {load_average()}")
        say(f"other processes busy at start: {busy}")
        say("(the browser, the server and this script share these cores; the browser was already running; every "
            "page load is a new visitor with an empty cache)")
        say()
        app = page = None
        try:
            neighbours = Neighbours()
            results["cold_start"], app, page = cold_start(browser, args.cold, app_env)
            results["cold_start"]["other_processes"] = others(neighbours)
            for name, part in (("page_load", lambda: page_load(browser, app, args.loads)),
                               ("step_change", lambda: step_changes(page, app, args.steps)),
                               ("play", lambda: playback(page)), ("burst", lambda: burst(page)),
                               ("live", lambda: live_generation(page, app, min(args.live, 10)))):
                neighbours = Neighbours()
                results[name] = part()
                results[name]["other_processes"] = others(neighbours)
            results["page_errors"] = page.errors
            if page.errors:
                say(f"page errors: {page.errors[:3]}")
        finally:
            if page:
                page.context.close()
            if app:
                app.close()
            browser.close()
    busy = busy_processes()
    results |= {"load_average_end": os.getloadavg(), "other_busy_processes_end": busy}
    say()
    say("goals:")
    for line in GOALS:
        say(line)
    say(f"load average at end {load_average()}; other processes busy at end: {busy}; "
        f"benchmark took {time.perf_counter() - started:.0f} s")
    # results-browser.txt is the app as shipped; a run with --app-env goes beside the JSON (gitignored).
    scratch = ROOT / "benchmarks" / "results"
    scratch.mkdir(parents=True, exist_ok=True)
    suffix = "-app-env" if app_env else ""
    text = scratch / "results-browser-app-env.txt" if app_env else ROOT / "benchmarks" / "results-browser.txt"
    text.write_text("\n".join(LINES) + "\n")
    out = scratch / f"bench_browser{suffix}.json"
    out.write_text(json.dumps(results, indent=1, default=str))
    print(f"written: {text.relative_to(ROOT)}, {out.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

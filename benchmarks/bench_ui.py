"""UI latency budget: scrubbing the step control, live generation, and cold start (not part of the test suite).

    .venv/bin/python benchmarks/bench_ui.py [RUN_DIR] [--repeats 3] [--parts scrub,live,cold]

Budgets (issue 5): moving the step control ≤ 150 ms of server time for all precomputed panels; live generation
of the default grid (16 samples) at a cpu-preset checkpoint ≤ 1 s median; cold start to first render ≤ 10 s.
RUN_DIR defaults to the first run under checkpoints/. Prints each figure with its ratio to the budget and writes
benchmarks/results/bench_ui.json. Timings depend on the load of the machine: run it on an idle one.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

BUDGET_STEP_S = 0.150
BUDGET_LIVE_S = 1.0
BUDGET_COLD_S = 10.0


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def report(name: str, values: list[float], budget: float | None) -> dict:
    median = statistics.median(values)
    p95 = percentile(values, 0.95)
    if budget is None:  # for information only
        print(f"  {name:<52} median {median * 1000:8.1f} ms  p95 {p95 * 1000:8.1f} ms  (not server time)")
        return {"median_s": median, "p95_s": p95, "n": len(values)}
    verdict = "ok" if median <= budget else "OVER"
    print(f"  {name:<52} median {median * 1000:8.1f} ms  p95 {p95 * 1000:8.1f} ms  "
          f"budget {budget * 1000:6.0f} ms  ratio {median / budget:5.2f}  {verdict}")
    return {"median_s": median, "p95_s": p95, "budget_s": budget, "ratio": median / budget, "n": len(values)}


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def bench_scrubbing(run_dir: Path, repeats: int) -> dict:
    """The server's share of scrubbing. The browser redraws every precomputed panel itself (stepper.js; what a
    person feels is benchmarks/bench_browser.py); the server builds a run's view once, then answers one settled
    step with the Compare tab's panels."""
    import torch

    from concept_explorer.ui import build_app, launch_options
    from concept_explorer.ui.compare import Compare
    from concept_explorer.views.run_view import RunDashboard
    from concept_explorer.views.step_view import step_images, step_view

    torch.set_num_threads(1)
    demo = build_app([run_dir], checkpoints=ROOT / "checkpoints", runs=ROOT / "runs")
    explorer = demo.explorer
    name = explorer.default_run
    dashboard = explorer.catalog.get(name)
    count = len(dashboard.steps)
    print(f"run {name}: {count} evaluated checkpoints, steps {dashboard.steps[0]}…{dashboard.steps[-1]}")
    results = {}

    compare = Compare(explorer)
    fresh = RunDashboard(dashboard.run)  # the app's own copy may already be warm (layout.py builds it at start)
    started = time.perf_counter()
    step_view(fresh)
    built_view = time.perf_counter() - started
    started = time.perf_counter()
    step_images(fresh)
    built_images = time.perf_counter() - started
    print("a run's view for the browser (once per run, then cached)")
    results["view_build"] = report("numbers and figures (step_view)", [built_view], None)
    results["images_build"] = report("sample grids (step_images)", [built_images], None)
    settled = []
    for _ in range(repeats):
        for index in range(count):
            started = time.perf_counter()
            compare.render_compare(name, "", index, 0.0, False, "strict")
            settled.append(time.perf_counter() - started)
    print("per settled step (the Compare tab follows it; the live generation is timed below)")
    results["settled_step"] = report("render_compare", settled, BUDGET_STEP_S)

    demo.queue()
    _, url, _ = demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", server_port=free_port(), quiet=True,
                            **launch_options())
    import httpx

    http = []
    with httpx.Client(base_url=url, timeout=30) as session:
        for _ in range(repeats):
            started = time.perf_counter()
            response = session.post("/gradio_api/run/redraw", json={"data": [name, 0, 0.0, False]})
            http.append(time.perf_counter() - started)
            assert response.status_code == 200, response.text[:300]
    results["view_http"] = report("/redraw over HTTP (a cached view, serialised)", http, None)
    demo.close()
    return results


def bench_live(run_dir: Path, repeats: int) -> dict:
    import torch

    from concept_explorer.analysis.live import LiveGenerator, LiveSettings
    from concept_explorer.core.limits import DEFAULT_SAMPLE_STEPS, DEFAULT_SAMPLES
    from concept_explorer.core.run import Run

    torch.set_num_threads(1)  # as `serve` runs it: one core samples, the other serves
    run = Run.open(run_dir)
    generator = LiveGenerator()
    step = run.steps[len(run.steps) // 2]
    concepts = run.config.concept_space.num_concepts
    generator.generate(run, LiveSettings(step=step, concept_vector=(1.0,) * concepts, seed=10_000))  # load model
    times = []
    for seed in range(max(5, 2 * repeats + 1)):  # fresh seeds: every call samples (no cache hits)
        started = time.perf_counter()
        generator.generate(run, LiveSettings(step=step, concept_vector=(1.0,) * concepts, seed=seed))
        times.append(time.perf_counter() - started)
    started = time.perf_counter()
    generator.generate(run, LiveSettings(step=step, concept_vector=(1.0,) * concepts, seed=0))
    hit = time.perf_counter() - started
    print(f"live generation at step {step}: {DEFAULT_SAMPLES} samples, {DEFAULT_SAMPLE_STEPS} sampling steps, "
          f"1 torch thread")
    result = {"live_default_grid": report("sample + probe (uncached)", times, BUDGET_LIVE_S)}
    print(f"  {'cache hit':<52} {hit * 1000:8.2f} ms")
    result["live_cache_hit_s"] = hit
    return result


def bench_cold_start(run_dir: Path) -> dict:
    import tempfile

    from gradio_client import Client

    port = free_port()
    log = tempfile.TemporaryFile()
    started = time.perf_counter()
    process = subprocess.Popen([sys.executable, str(ROOT / "app.py"), str(run_dir), "--port", str(port)],
                               cwd=ROOT, stdout=log, stderr=log)
    try:
        import httpx

        while True:
            if process.poll() is not None:
                log.seek(0)
                raise RuntimeError(f"app.py exited: {log.read().decode()[-2000:]}")
            try:
                httpx.get(f"http://127.0.0.1:{port}/", timeout=1)
                break
            except httpx.HTTPError:
                time.sleep(0.1)
        up = time.perf_counter() - started
        client = Client(f"http://127.0.0.1:{port}/", verbose=False)
        view = client.predict(api_name="/load_view")  # what the page calls on load, then the panels
        index = view[0]["value"]
        client.predict(run_dir.name, index, 0.0, False, api_name="/load_view_panels")
        rendered = time.perf_counter() - started
    finally:
        process.terminate()
        process.wait(10)
    print("cold start (python app.py RUN in a fresh process)")
    print(f"  {'server answers HTTP':<52} {up:8.2f} s")
    print(f"  {'first render (load_view + panels)':<52} {rendered:8.2f} s  budget {BUDGET_COLD_S:4.0f} s  "
          f"ratio {rendered / BUDGET_COLD_S:5.2f}  {'ok' if rendered <= BUDGET_COLD_S else 'OVER'}")
    return {"cold_start_server_up_s": up, "cold_start_first_render_s": rendered, "budget_s": BUDGET_COLD_S,
            "ratio": rendered / BUDGET_COLD_S}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("run", nargs="?", help="a cpu-preset run folder (default: the first under checkpoints/)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--parts", default="scrub,live,cold", help="comma list of scrub, live, cold")
    args = parser.parse_args()
    run_dir = Path(args.run) if args.run else next(
        (p for p in sorted((ROOT / "checkpoints").glob("*")) if (p / "run.json").is_file()), None)
    if run_dir is None:
        print("No run given and none under checkpoints/; pass a run folder.", file=sys.stderr)
        return 2
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"machine: {os.cpu_count()} CPUs, load average {load:.2f} at start")
    results = {"run": str(run_dir), "load_average": load}
    parts = set(args.parts.split(","))
    if "scrub" in parts:
        results |= bench_scrubbing(run_dir, args.repeats)
    if "live" in parts:
        results |= bench_live(run_dir, args.repeats)
    if "cold" in parts:
        results |= bench_cold_start(run_dir)
    out = ROOT / "benchmarks" / "results" / "bench_ui.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2))
    print(f"written: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

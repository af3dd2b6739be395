"""A new visitor's wait while another client floods the server with live generations (issue #13).

    .venv/bin/python benchmarks/bench_flood.py [--visits 20] [--flood-rate 8] [--clients 20] [--space]
        | tee benchmarks/results-flood.txt

Launches the app on loopback on the bundled runs (checkpoints/; a temporary runs/ folder) and measures a NEW
visitor (a fresh session per visit), first alone, then under each load, all in this one server process. The
loads run in a subprocess (their client threads would otherwise share the server's GIL):

- flood: one client (one session, as gradio_client gives it) posting live generations of 64 samples × 25
  sampling steps (the most one request may ask for) with distinct seeds at `--flood-rate` per second, as in the
  issue ("80 live generations in 10 s"); its first request is the issue's 64 × 50, now refused in one sentence;
- crowd: `--clients` honest clients, each asking a fresh-seed default generation, waiting for it, thinking 1 s.

Per visit:

- page load: GET / and the page-load events (load_view, then its view and grids; their compare and live
  generation follow in the browser, and are measured below);
- step change: the settled step (settle_step) and the Compare tab that follows it (show_compare_step);
- default live generation: /generate at the page's default settings (after the first visitor, a cache hit) and at
  a fresh seed (a real 16 × 20 sample, so the queue wait is felt).

Prints p50/p95 of each phase, what became of the load's requests (sampled, superseded, refused), the fair
queue's counts and waits, and the CPU. Goal (issue #13): page load and step change p95 ≤ 1 s, a new visitor's
default generation ≤ 5 s. Timings depend on the load of the machine: say what else ran.
"""

from __future__ import annotations

import argparse
import os
import platform
import socket
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from pathlib import Path

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_reference import cpu_name  # noqa: E402

GOAL_PAGE_S = 1.0
GOAL_STEP_S = 1.0
GOAL_GENERATE_S = 5.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def controls(**changes: object) -> list:
    from concept_explorer.ui.settings import GenerationSettings

    return list(GenerationSettings(**changes).values().values())


class Visitor:
    """A new visitor per visit (a fresh session), speaking to the server as the page does: events outside the
    queue are one POST (/gradio_api/run/…), queued ones join the queue and read its event stream. Times what a
    person waits for, in seconds, without a client library's own overhead (gradio_client adds ~150 ms a call)."""

    def __init__(self, url: str, run: str) -> None:
        import httpx

        self.url, self.run = url.rstrip("/"), run
        self.http = httpx.Client(timeout=120)
        config = self.http.get(self.url + "/config").json()
        self.fn_index = {f"/{d['api_name']}": d["id"] for d in config["dependencies"] if d.get("api_name")}
        self.session = ""

    def instant(self, api_name: str, data: list, event_data: dict | None = None) -> list:
        response = self.http.post(self.url + "/gradio_api/run" + api_name,
                                  json={"data": data, "event_data": event_data, "session_hash": self.session})
        response.raise_for_status()
        return response.json()["data"]

    def queued(self, api_name: str, data: list) -> list:
        import json

        joined = self.http.post(self.url + "/gradio_api/queue/join",
                                json={"data": data, "fn_index": self.fn_index[api_name], "session_hash": self.session,
                                      "event_data": None, "trigger_id": None})
        joined.raise_for_status()
        with self.http.stream("GET", self.url + "/gradio_api/queue/data",
                              params={"session_hash": self.session}) as stream:
            for line in stream.iter_lines():
                if line.startswith("data:"):
                    message = json.loads(line[len("data:"):])
                    if message.get("msg") == "process_completed":
                        if not message.get("success"):
                            raise RuntimeError(f"{api_name}: {message.get('output')}")
                        return message["output"]["data"]
        raise RuntimeError(f"{api_name}: no answer")

    def new_session(self) -> None:
        self.session = uuid.uuid4().hex[:11]

    def visit(self, seed: int) -> dict[str, float]:
        self.new_session()
        times = {}
        started = time.perf_counter()
        self.http.get(self.url + "/").raise_for_status()
        self.queued("/load_view", [])
        self.instant("/load_view_view", [self.run, 0, 0.0, False, "strict"])
        self.instant("/load_view_images", [self.run, "strict"])
        times["page load"] = time.perf_counter() - started

        started = time.perf_counter()
        self.instant("/settle_step", [self.run], {"index": 1, "step": 0})
        self.instant("/show_compare_step", [self.run, "", 1, 0.0, False, "strict"])
        times["step change"] = time.perf_counter() - started

        started = time.perf_counter()
        self.queued("/generate", [self.run, 0, 0.0, False, "strict", *controls()])
        times["default generation"] = time.perf_counter() - started

        started = time.perf_counter()
        try:
            self.queued("/generate", [self.run, 0, 0.0, False, "strict", *controls(seed=seed)])
            times["generation, fresh seed"] = time.perf_counter() - started
        except RuntimeError as refused:  # busy: counted, not timed
            times["refused"] = 1.0
            print(f"  (a visitor's generation was refused: {str(refused)[:120]})", file=sys.stderr)
        return times


def load_client(url: str, run: str, kind: str, rate: float, clients: int, stop_file: Path) -> None:
    """The load, in a process of its own (its client threads would otherwise share the server's GIL): `flood` is
    one session posting 64 × 25 generations at `rate` per second without waiting (first one of the issue's
    64 × 50); `crowd` is `clients` honest sessions, each asking a default generation at a fresh seed, waiting for
    it, and thinking a second. Prints what became of its requests, as JSON, once `stop_file` appears."""
    import json

    from gradio_client import Client

    counts: Counter[str] = Counter()
    jobs: list = []
    lock = threading.Lock()

    def outcome(job) -> None:
        try:
            update = job.result(timeout=300)
        except Exception as error:  # refused (busy, too much work) or failed
            key = "refused: " + str(error)[:90]
        else:
            key = "sampled" if "live" in update.get("props", {}) else "superseded (no new samples)"
        with lock:
            counts[key] += 1

    def flood() -> None:
        client = Client(url, verbose=False, download_files=False)
        seed = 10_000
        jobs.append(client.submit(run, 2, 0.0, False, "strict", *controls(samples=64, sample_steps=50, seed=seed),
                                  api_name="/generate"))
        while not stop_file.exists():
            seed += 1
            jobs.append(client.submit(run, 2, 0.0, False, "strict",
                                      *controls(samples=64, sample_steps=25, seed=seed), api_name="/generate"))
            time.sleep(1 / rate)

    def honest(index: int) -> None:  # a plain HTTP client like the measured visitor: light on this machine's CPU
        client = Visitor(url, run)
        client.new_session()
        seed = 20_000 + 1000 * index
        while not stop_file.exists():
            seed += 1
            try:
                client.queued("/generate", [run, 2, 0.0, False, "strict", *controls(seed=seed)])
                key = "sampled"
            except RuntimeError as error:
                key = "refused: " + str(error)[:90]
            with lock:
                counts[key] += 1
            time.sleep(1.0)

    threads = [threading.Thread(target=flood)] if kind == "flood" else [
        threading.Thread(target=honest, args=(k,)) for k in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for job in jobs:
        outcome(job)
    print(json.dumps({"posted": sum(counts.values()), **counts}))


class Load:
    """A load client started in a subprocess; `stop()` returns its counts."""

    def __init__(self, url: str, run: str, kind: str, rate: float = 0.0, clients: int = 0) -> None:
        import subprocess

        self.stop_file = Path(tempfile.mkdtemp(prefix="bench-flood-stop-")) / "stop"
        self.process = subprocess.Popen(
            [sys.executable, __file__, "--load", kind, "--url", url, "--run", run, "--flood-rate", str(rate),
             "--clients", str(clients), "--stop-file", str(self.stop_file)],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)

    def stop(self) -> dict:
        import json

        self.stop_file.touch()
        try:
            out, _ = self.process.communicate(timeout=600)
        finally:
            if self.process.poll() is None:
                self.process.kill()
        return json.loads(out.strip().splitlines()[-1])


def measure(visitor: Visitor, visits: int, seed: int) -> dict[str, list[float]]:
    found: dict[str, list[float]] = {}
    for k in range(visits):
        for name, seconds in visitor.visit(seed + k).items():
            found.setdefault(name, []).append(seconds)
    return found


def table(label: str, found: dict[str, list[float]]) -> None:
    goals = {"page load": GOAL_PAGE_S, "step change": GOAL_STEP_S, "default generation": GOAL_GENERATE_S,
             "generation, fresh seed": GOAL_GENERATE_S}
    print(f"\n{label}")
    for name, values in found.items():
        if name == "refused":
            print(f"  {'refused (busy)':<26} {len(values)} of the visitors' fresh-seed generations")
            continue
        p50, p95 = statistics.median(values), percentile(values, 0.95)
        goal = goals[name]
        verdict = "ok" if p95 <= goal else "OVER"
        print(f"  {name:<26} p50 {p50 * 1000:7.0f} ms   p95 {p95 * 1000:7.0f} ms   max {max(values) * 1000:7.0f} ms"
              f"   (goal p95 ≤ {goal:g} s: {verdict}; n = {len(values)})")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--visits", type=int, default=20, help="new visitors measured per phase (default 20)")
    parser.add_argument("--flood-rate", type=float, default=8.0, help="flood generations posted per second")
    parser.add_argument("--clients", type=int, default=20, help="honest clients of the crowd phase (0: no crowd)")
    parser.add_argument("--space", action="store_true", help="serve under the Space policy")
    parser.add_argument("--load", choices=("flood", "crowd"), help=argparse.SUPPRESS)  # the load subprocess
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--run", help=argparse.SUPPRESS)
    parser.add_argument("--stop-file", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.load:
        load_client(args.url, args.run, args.load, args.flood_rate, args.clients, args.stop_file)
        return 0

    import torch

    torch.set_num_threads(1)  # as app.py serves by default
    from concept_explorer.ui import build_app, launch_options, queue_options
    from concept_explorer.ui.serving import ServingPolicy

    policy = ServingPolicy.detect(args.space or None)
    scratch = Path(tempfile.mkdtemp(prefix="bench-flood-"))
    os.environ["GRADIO_TEMP_DIR"] = str(scratch / "gradio")
    demo = build_app(checkpoints=ROOT / "checkpoints", runs=scratch / "runs", policy=policy)
    demo.queue(**queue_options(policy))
    _, url, _ = demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", server_port=free_port(), quiet=True,
                            **launch_options())
    explorer = demo.explorer
    run = explorer.default_run
    print(f"bench_flood: {cpu_name()}, {os.cpu_count()} logical CPUs, torch threads 1, python {platform.python_version()}"
          f", load average before {os.getloadavg()[0]:.1f} (other work on the machine)")
    print(f"run {run} (steps {explorer.catalog.get(run).steps[:3]}…), policy: {'Space' if policy.space else 'local'}, "
          f"work cap {policy.work_limit:,} samples × steps, waiting cap {policy.waiting_limit}")
    try:
        visitor = Visitor(url, run)
        visitor.visit(0)  # warm: imports, the run's view and grids, the default grid's cache entry
        table("Without flood (a new visitor, one at a time):", measure(visitor, args.visits, seed=1000))

        phases = [("flood", f"With flood ({args.flood_rate:g} generations/s of 64 × 25 from one client, distinct "
                            "seeds; its first request 64 × 50):", dict(rate=args.flood_rate))]
        if args.clients:
            phases.append(("crowd", f"With a crowd ({args.clients} honest clients, each a fresh-seed default generation, "
                                    "then 1 s of thought):", dict(clients=args.clients)))
        for phase, (kind, label, options) in enumerate(phases):
            explorer.queue.timings.clear()
            before = Counter(explorer.queue.counts)
            load = Load(url, run, kind, **options)
            try:
                time.sleep(5)  # the load is under way (its clients take a few seconds to connect)
                found = measure(visitor, args.visits, seed=2000 + 1000 * phase)
            finally:
                counts = load.stop()
            table(label, found)
            print("  load client: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
            print("  fair queue: " + ", ".join(f"{k} {v - before[k]}" for k, v in explorer.queue.counts.items()))
            rows = [(w, s) for _, w, s in explorer.queue.timings]
            if rows:
                print(f"  sampled in the fair queue: {len(rows)}, waited p50 {statistics.median(w for w, _ in rows):.2f} s"
                      f" (max {max(w for w, _ in rows):.2f} s), sampling p50 {statistics.median(s for _, s in rows):.2f} s"
                      f" (max {max(s for _, s in rows):.2f} s)")
        print(f"\nload average after: {os.getloadavg()[0]:.1f}")
    finally:
        demo.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())

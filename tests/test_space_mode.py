"""Space mode (serving.ServingPolicy.for_space): detected from the environment, capped training that only its
starter can cancel, trained runs and exports deleted by age and by a disk budget, limits per client address from
the Space proxy's header, and errors that never show where the server keeps its files."""

from __future__ import annotations

import os
import shutil
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

from gradio_client import Client  # noqa: E402
from gradio_client.exceptions import AppError  # noqa: E402
from test_ui_api import tiny_job_config  # noqa: E402
from ui_runs import launched_app  # noqa: E402

from concept_explorer.ui import train_tab  # noqa: E402
from concept_explorer.ui.common import public_paths  # noqa: E402
from concept_explorer.ui.housekeeping import collect  # noqa: E402
from concept_explorer.ui.serving import ServingPolicy, client_of  # noqa: E402
from concept_explorer.ui.settings import GenerationSettings  # noqa: E402

HOUR = 3600.0


def test_space_mode_is_on_where_the_space_environment_is(monkeypatch):
    monkeypatch.delenv("SPACE_ID", raising=False)
    assert not ServingPolicy.detect().space and ServingPolicy.detect(True).space
    monkeypatch.setenv("SPACE_ID", "someone/concept-explorer")
    space = ServingPolicy.detect()
    assert space.space and space.cancel_by_starter_only and space.train_steps_limit == 1500
    assert space.runs_budget_bytes and space.export_age_s < ServingPolicy().export_age_s
    assert not ServingPolicy.detect(False).space


def request(forwarded: str | None, host: str) -> SimpleNamespace:
    headers = {"x-forwarded-for": forwarded} if forwarded else {}
    return SimpleNamespace(headers=headers, client=SimpleNamespace(host=host), session_hash="s")


def test_the_client_address_is_the_space_proxys_header_there_and_the_socket_elsewhere(monkeypatch):
    monkeypatch.delenv("CONCEPT_EXPLORER_PROXY_HOPS", raising=False)
    space, local = ServingPolicy.for_space(), ServingPolicy()
    # The proxy appends the address it was connected from: the last entry. Those before it are the client's own.
    assert client_of(request("203.0.113.9", "10.16.3.80"), space) == "203.0.113.9"
    spoofs = {client_of(request(f"10.0.0.{i}, 9.9.9.9", "10.16.3.80"), space) for i in range(6)}
    assert spoofs == {"9.9.9.9"}  # issue 22, item 6: six forged first entries are one client
    monkeypatch.setenv("CONCEPT_EXPLORER_PROXY_HOPS", "2")  # two proxies: the visitor is second from the right
    assert client_of(request("10.0.0.1, 203.0.113.9, 10.0.0.2", "10.16.3.80"), space) == "203.0.113.9"
    assert client_of(request("203.0.113.9", "10.16.3.80"), space) == "10.16.3.80"  # too few entries: the socket
    monkeypatch.delenv("CONCEPT_EXPLORER_PROXY_HOPS")
    assert client_of(request(None, "10.16.3.80"), space) == "10.16.3.80"
    assert client_of(request("203.0.113.9", "192.168.1.20"), local) == "192.168.1.20"  # a header anyone can send
    assert client_of(request("203.0.113.9", "127.0.0.1"), local) is None  # loopback: every local client alike
    assert client_of(None, space) is None


def aged(path: Path, hours: float, size: int = 0) -> Path:
    if size:
        path.write_bytes(b"x" * size)
    elif not path.exists():
        path.mkdir()
    stamp = time.time() - hours * HOUR
    os.utime(path, (stamp, stamp))
    return path


def test_collect_deletes_by_age_then_oldest_first_within_the_budget(tmp_path):
    old = aged(tmp_path / "old.gif", 3, size=100)
    middle = aged(tmp_path / "middle.gif", 0.5, size=100)
    kept = aged(tmp_path / "kept.gif", 0.6, size=100)
    new = aged(tmp_path / "new.gif", 0.1, size=100)
    other = aged(tmp_path / "other.txt", 5, size=100)
    deleted = collect(tmp_path, max_age_s=2 * HOUR, budget_bytes=250, keep=[kept],
                      include=lambda entry: entry.suffix == ".gif")
    assert deleted == [old, middle] and kept.exists() and new.exists() and other.exists()  # kept counts too
    assert collect(tmp_path, None, None) == []


def test_paths_in_messages_are_shown_relative_to_the_apps_folders():
    roots = [Path("/srv/app/runs"), Path("/srv/app/checkpoints"), Path("/tmp/extra/plain")]
    message = ("/srv/app/runs/ui-dc0.40/run.json is not valid JSON; /tmp/extra/plain/steps holds no weights; see "
               "/home/someone/notes.txt or https://example.org/a/b.")
    assert public_paths(message, roots) == ("runs/ui-dc0.40/run.json is not valid JSON; plain/steps holds no "
                                            "weights; see notes.txt or https://example.org/a/b.")


# -- the app served as a Space -------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def space_app(tmp_path_factory: pytest.TempPathFactory):
    policy = ServingPolicy.for_space(runs_age_s=HOUR, runs_budget_bytes=30_000, export_budget_bytes=3_000,
                                     client_limit=1)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(train_tab, "job_config", tiny_job_config)
        with launched_app(tmp_path_factory, "space-app", policy=policy) as (demo, url):
            yield demo, url
            demo.explorer.job.cancel()
            demo.explorer.job.wait(30)


def error_of(client: Client, *args: object, api_name: str) -> str:
    with pytest.raises(AppError) as caught:
        client.predict(*args, api_name=api_name)
    return str(caught.value)


@pytest.mark.slow
def test_training_is_capped_and_only_its_starter_can_cancel_it(space_app):
    demo, url = space_app
    runs = demo.explorer.job.root
    runs.mkdir(parents=True, exist_ok=True)
    stale = aged(runs / "ui-stale-run", 2)  # past the age limit
    (aged(runs / "ui-big-run", 0.5) / "weights.bin").write_bytes(b"x" * 40_000)  # over the disk budget
    os.utime(runs / "ui-big-run", (time.time() - 1800, time.time() - 1800))
    mine = aged(runs / "my-notes", 5)  # not a run the app trained: never touched
    starter, other = Client(url, verbose=False), Client(url, verbose=False)
    assert error_of(starter, 0.4, 0.4, 3000, 4, 0, api_name="/train_start") == (
        "This server trains runs of at most 1,500 steps; choose fewer than 3,000.")
    status, _ = starter.predict(0.4, 0.4, 1500, 4, 0, api_name="/train_start")  # 15 tiny steps
    assert "Training" in status
    assert not stale.exists() and not (runs / "ui-big-run").exists() and mine.exists()
    assert error_of(other, api_name="/train_cancel") == "Only the visitor who started this training can cancel it."
    assert "Cancelling" in starter.predict(api_name="/train_cancel")
    demo.explorer.job.wait(60)
    assert str(runs) not in starter.predict(0.0, False, api_name="/train_poll")[0]


@pytest.mark.slow
def test_exports_are_written_once_and_trimmed_to_the_budget(space_app):
    demo, url = space_app
    client = Client(url, verbose=False)
    first = client.predict("plain", "strict", api_name="/export_csv")
    again = client.predict("plain", "strict", api_name="/export_csv")
    files = sorted(p.name for p in demo.explorer.export_dir.iterdir())
    assert len(files) == 1 and Path(first).name == Path(again).name == files[0]  # the same file, handed out again
    client.predict("plain", 0.0, api_name="/export_gif")  # a GIF is far over the 3 kB budget: the CSV goes
    assert [p.suffix for p in demo.explorer.export_dir.iterdir()] == [".gif"]


@pytest.mark.slow
def test_errors_name_runs_not_server_paths(space_app):
    demo, url = space_app
    runs = demo.explorer.job.root
    broken = shutil.copytree(demo.explorer.catalog.paths["plain"], runs / "broken")
    (broken / "run.json").write_text("{not json")
    demo.explorer.catalog.refresh()
    message = error_of(Client(url, verbose=False), "broken", 0, "strict", api_name="/select_run")
    assert "broken/run.json" in message and str(runs.parent) not in message and " /" not in message, message
    assert message.count("\n") == 0


def controls(**changes: object) -> list:
    return list(GenerationSettings(**({"samples": 4, "sample_steps": 10} | changes)).values().values())


@pytest.mark.slow
def test_generations_waiting_are_limited_per_client_address(space_app):
    demo, url = space_app
    live = demo.explorer.live
    sample = live.generate
    release = threading.Event()
    live.generate = lambda run, settings: (release.wait(30), sample(run, settings))[1]
    try:
        same = [Client(url, verbose=False, headers={"x-forwarded-for": "203.0.113.9"}) for _ in range(3)]
        elsewhere = Client(url, verbose=False, headers={"x-forwarded-for": "198.51.100.7"})
        running = same[0].submit("plain", 2, 0.0, False, "strict", *controls(seed=901), api_name="/generate")
        while demo.explorer.queue.snapshot()["running"] == 0:
            time.sleep(0.02)
        waiting = same[1].submit("plain", 2, 0.0, False, "strict", *controls(seed=902), api_name="/generate")
        while demo.explorer.queue.waiting == 0:
            time.sleep(0.02)
        assert error_of(same[2], "plain", 2, 0.0, False, "strict", *controls(seed=903), api_name="/generate") == (
            "Generations from your address are already waiting (1 at most); wait for them to finish.")
        other = elsewhere.submit("plain", 2, 0.0, False, "strict", *controls(seed=904), api_name="/generate")
        while demo.explorer.queue.waiting < 2:
            time.sleep(0.02)
    finally:
        release.set()
        live.generate = sample
    for job in (running, waiting, other):
        assert job.result(timeout=60)["props"]["live"]["step"] == 6


def test_an_unexpected_error_reaches_the_visitor_as_one_sentence_without_paths():
    from concept_explorer.ui.common import visitor_error

    missing = FileNotFoundError(2, "No such file or directory", "/srv/app/runs/ui-x/steps/100.safetensors")
    assert visitor_error(missing, [Path("/srv/app/runs")]).message == (
        "The server could not do this (FileNotFoundError: [Errno 2] No such file or directory: "
        "'runs/ui-x/steps/100.safetensors').")


def test_nothing_served_names_a_server_path_and_unused_routes_are_closed(space_app):
    """Issue 22, items 4, 5 and 11: the page and /config named the venv's absolute path to plotly.min.js; uploads
    were stored and served back; /monitoring/summary was public."""
    import httpx

    _, url = space_app
    page, config = httpx.get(url).text, httpx.get(url + "config").text
    for text in (page, config):
        assert "/gradio_api/file=/" not in text and str(Path(__file__).resolve().parents[1]) not in text
        assert "site-packages" not in text
    assert "/ce-assets/plotly.min.js" in page
    plotly_js = httpx.get(url + "ce-assets/plotly.min.js")
    assert plotly_js.status_code == 200 and b"plotly" in plotly_js.content[:2000]
    upload = httpx.post(url + "gradio_api/upload", files={"files": ("big.bin", b"x" * 1_000_000)})
    assert upload.status_code == 404 and "does not offer" in upload.text
    for route in ("monitoring", "monitoring/summary", "monitoring/abc", "gradio_api/upload_progress"):
        assert httpx.get(url + route).status_code == 404, route


@pytest.mark.slow
def test_exports_that_make_the_same_bytes_are_one_file(space_app):
    """Issue 22, item 7: smoothing 3.0 and 2.9999999 (or 1e-300 and -0.0) wrote separate 1.5 MB files."""
    demo, url = space_app
    client = Client(url, verbose=False)
    for pair in ((3.0, 2.9999999), (1e-300, -0.0)):
        first, second = (client.predict("plain", value, api_name="/export_gif") for value in pair)
        assert Path(first).name == Path(second).name, pair
    gifs = [p for p in demo.explorer.export_dir.iterdir() if p.suffix == ".gif"]
    assert len(gifs) <= 1  # the 3 kB budget keeps only the newest; each pair made one file, not two
    assert demo.explorer.export_dir.name.startswith(f"concept-explorer-exports-{os.getpid()}-")


def test_export_folders_of_dead_processes_are_removed_and_sigterm_runs_the_exit_handlers(tmp_path):
    """Issue 22, item 7: export folders survived SIGTERM; nine from earlier processes were found."""
    import signal
    import subprocess
    import sys
    import tempfile

    from concept_explorer.ui.housekeeping import EXPORT_PREFIX, export_folder

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = Path(tempfile.mkdtemp(prefix=f"{EXPORT_PREFIX}{dead.pid}-"))
    (stale / "old.gif").write_bytes(b"x")
    mine = export_folder()
    assert not stale.exists() and mine.is_dir() and mine.name.startswith(f"{EXPORT_PREFIX}{os.getpid()}-")
    shutil.rmtree(mine)
    # A server stopped by SIGTERM (a Space restarting) removes its own folder: serve() makes the signal an exit.
    script = ("import sys; from concept_explorer.ui import serve\n"
              f"serve([{str(Path(__file__).resolve().parents[1] / 'checkpoints' / 'cpu-default')!r}], "
              "checkpoints=sys.argv[1], runs=sys.argv[1], quiet=True)\n")
    child = subprocess.Popen([sys.executable, "-c", script, str(tmp_path)], stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while not (found := list(Path(tempfile.gettempdir()).glob(f"{EXPORT_PREFIX}{child.pid}-*"))):
        assert time.monotonic() < deadline and child.poll() is None, "the server did not start"
        time.sleep(0.5)
    time.sleep(2)  # past the point where the signal handler is installed (before the app is built)
    child.send_signal(signal.SIGTERM)
    child.wait(60)
    assert not found[0].exists()

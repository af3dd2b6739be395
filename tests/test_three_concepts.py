"""Three concepts, colour × size × background (issue #14): the distance-vs-time analysis on synthetic trajectories
with known answers, a tiny 2x2x2 run end to end (a probe that reads all three concepts, 3-d positions), its views
(three concept planes, the distance-vs-time figure, the learning-step table) beside a 2-concept run's unchanged
view, and the Explore view of it through the API."""

from __future__ import annotations

import copy
import math
from pathlib import Path

import numpy as np
import pytest
from ui_runs import make_run, tiny_config

from concept_explorer.analysis.capability import load_elicitation
from concept_explorer.analysis.definitions import LearningStep, learning_step, training_convergence
from concept_explorer.analysis.distance_time import distance_time, elicited_learning, hamming_to_training
from concept_explorer.analysis.evaluate import Evaluation
from concept_explorer.analysis.probes import Probe
from concept_explorer.core.concepts import ConceptSpace
from concept_explorer.core.config import preset
from concept_explorer.core.run import Run
from concept_explorer.views.concept_space import concept_planes, distance_time_spec
from concept_explorer.views.run_view import RunDashboard
from concept_explorer.views.step_view import step_view

SPACE = ConceptSpace(concepts=("color", "size", "bg"))
CODES = SPACE.all_classes()  # 000, 001, 010, 011, 100, 101, 110, 111
STEPS = [100, 200, 300, 400]
THREE = {"concept_space.concepts": ("color", "size", "bg"), "concept_space.delta_bg": 0.3}


# -- the analysis, on synthetic data ---------------------------------------------------------------------------------
def test_hamming_distance_counts_bits_from_the_nearest_training_class():
    training = SPACE.training_classes()
    assert [SPACE.class_label(c) for c in training] == ["000", "001", "010", "100"]
    assert {SPACE.class_label(c): hamming_to_training(c, training) for c in SPACE.heldout_classes()} == {
        "011": 1, "101": 1, "110": 1, "111": 2}
    assert hamming_to_training((0, 0, 1), training) == 0


def test_training_converges_when_the_last_training_class_is_learned():
    assert training_convergence([LearningStep(200), LearningStep(300), LearningStep(100)]) == LearningStep(300)
    assert not training_convergence([LearningStep(200), LearningStep(None)]).learned  # censored, not the run's end
    assert not training_convergence([]).learned


def synthetic(heldout_at_convergence: dict[str, float]) -> np.ndarray:
    """(T, C, 3) trajectories: every class at its corner, except that at step 300 each held-out class sits
    `distance` from its corner along the diagonal back to 000."""
    coordinates = np.repeat(np.array(CODES, dtype=float)[None], len(STEPS), axis=0)
    for label, distance in heldout_at_convergence.items():
        code = np.array(SPACE.parse_class(label), dtype=float)
        coordinates[2, CODES.index(SPACE.parse_class(label))] = code - distance * code / np.linalg.norm(code)
    return coordinates


def test_distance_at_convergence_and_its_rank_correlation_with_learning_time():
    accuracy = {  # joint accuracy per checkpoint, read by the project's learning-step rule (≥ 0.8, 3 in a row)
        "000": [0.9, 0.9, 0.9, 0.9], "001": [0.2, 0.9, 0.9, 0.9], "010": [0.1, 0.5, 0.9, 0.9],
        "100": [0.9, 0.9, 0.9, 0.9], "011": [0, 0, 0.9, 0.9], "101": [0, 0, 0, 0.95], "110": [0, 0.9, 0, 0.5],
        "111": [0, 0, 0.3, 0.85],
    }
    learning = {label: learning_step(np.array(series), STEPS) for label, series in accuracy.items()}
    assert [learning[label].step for label in ("011", "101", "110", "111")] == [300, 400, None, 400]
    convergence = training_convergence([learning[label] for label in ("000", "001", "010", "100")])
    assert convergence == LearningStep(300)  # 010 is the last training class learned
    result = distance_time(synthetic({"011": 0.1, "101": 0.5, "110": 0.9, "111": 1.2}), STEPS, CODES, learning,
                           convergence)
    timing = {c.label: c for c in result.classes}
    assert list(timing) == ["011", "101", "110", "111"]
    assert [timing[label].hamming for label in timing] == [1, 1, 1, 2]
    assert [round(timing[label].distance, 6) for label in timing] == [0.1, 0.5, 0.9, 1.2]
    assert [c.label for c in result.censored] == ["110"]  # reported as not learned, its distance still measured
    # ρ over the learned three: distances rank 1, 2, 3; steps 300, 400, 400 rank 1, 2.5, 2.5
    assert result.points == 3 and result.rho == pytest.approx(math.sqrt(3) / 2)


def test_distance_time_without_convergence_or_without_positions_says_so():
    learning = {SPACE.class_label(c): LearningStep(200) for c in CODES}
    unconverged = distance_time(synthetic({}), STEPS, CODES, learning, LearningStep(None))
    assert all(math.isnan(c.distance) for c in unconverged.classes)
    assert unconverged.points == 0 and math.isnan(unconverged.rho)
    blank = synthetic({"011": 0.1, "101": 0.2})
    blank[1, CODES.index((1, 0, 1))] = np.nan  # 101 drew no object at the convergence checkpoint
    result = distance_time(blank, STEPS, CODES, learning, LearningStep(200))
    assert math.isnan({c.label: c for c in result.classes}["101"].distance)
    assert result.points == 3 and math.isnan(result.rho)  # three learned at one step, at one distance: no ρ
    with pytest.raises(ValueError, match="coordinates must be"):
        distance_time(blank[:, :4], STEPS, CODES, learning, LearningStep(200))


def test_the_cpu3_preset_is_the_cpu_preset_in_three_concepts_of_different_signals():
    config, cpu = preset("cpu3"), preset("cpu")
    space = config.concept_space
    assert space.concepts == ("color", "size", "bg") and space.resolution == cpu.concept_space.resolution
    assert space.delta_color > space.delta_size > space.delta_bg
    assert config.model == cpu.model and config.train.num_steps > cpu.train.num_steps
    assert [space.class_label(c) for c in space.training_classes()] == ["000", "001", "010", "100"]


# -- a tiny 2x2x2 run ------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A tiny 3-concept run and a tiny 2-concept one, trained, probed, evaluated and elicited (seconds each)."""
    root = tmp_path_factory.mktemp("three")
    return {"three": make_run(root / "three", tiny_config(**{k.replace(".", "__"): v for k, v in THREE.items()})),
            "two": make_run(root / "two", tiny_config())}


def test_a_three_concept_run_is_probed_and_evaluated_in_three_dimensions(runs):
    run = Run.open(runs["three"])
    space = run.config.concept_space
    assert space.concepts == ("color", "size", "bg")
    probe = Probe.load(run.layout.probe)
    evaluation = Evaluation(run)
    samples = evaluation.samples(evaluation.steps[0])
    assert probe.score(samples["images"][:4], space).position.shape == (4, 3)  # a reading per concept
    assert samples["position"].shape == (4 * 8, 3)
    assert evaluation.coordinates.shape == (3, 8, 3) and evaluation.concept_accuracy.shape == (3, 8, 3)


def test_elicited_learning_takes_each_heldout_class_at_its_earliest_elicitation_family(runs):
    """The tiny run's own elicitation summary with planted joint accuracies: for 011 overprompting reaches 0.8 from
    the first checkpoint and intervention never does; for 111 nothing does; every held-out class gets an entry."""
    run = Run.open(runs["three"])
    summary = copy.deepcopy(load_elicitation(run))
    for row in summary["per_step"].values():
        for key, classes in row.items():
            for label, entry in classes.items():
                good = label == "011" and key.startswith("overprompt")
                entry["criteria"]["strict"]["joint_accuracy"] = 0.9 if good else 0.1
    heldout = [run.config.concept_space.class_label(c) for c in run.config.concept_space.heldout_classes()]
    learned = elicited_learning(summary, heldout, "strict")
    assert set(learned) == set(heldout) == {"011", "101", "110", "111"}
    assert learned["011"] == LearningStep(run.steps[0]) and not learned["111"].learned
    for row in summary["per_step"].values():  # plain prompting alone never counts as an elicitation
        for label, entry in row["plain"].items():
            entry["criteria"]["strict"]["joint_accuracy"] = 1.0
    assert not elicited_learning(summary, ["101"], "strict")["101"].learned


def test_a_three_concept_view_has_three_planes_a_distance_figure_and_a_learning_table(runs):
    dashboard = RunDashboard.load(runs["three"])
    assert dashboard.planes == [(0, 1), (0, 2), (1, 2)]
    view = step_view(dashboard)
    assert [p["name"] for p in view["planes"]] == ["colour – size", "colour – background", "size – background"]
    for plane in view["planes"]:
        layout = plane["figure"]["layout"]
        x, y = (dashboard.concepts[k] for k in plane["axes"])
        assert layout["xaxis"]["title"]["text"].startswith({"color": "colour", "size": "size"}[x])
        assert layout["yaxis"]["title"]["text"].startswith({"size": "size", "bg": "background"}[y])
        trajectories = [t for t in plane["figure"]["data"] if t.get("mode") == "lines+markers"]
        assert len(trajectories) == 8  # the page's step marker reads the first `classes` traces
    assert view["planes"][0]["figure"] == view["figures"]["concept"]
    table = view["learningTable"]
    assert table["concepts"] == ["colour", "size", "background"] and len(table["rows"]) == 8
    assert [r["bits"] for r in table["rows"] if r["heldout"]] == [1, 1, 1, 2]
    figure = view["distanceTime"]
    result = dashboard.distance_time
    if result.convergence.learned:  # a tiny run seldom converges; either way the figure says what it shows
        assert figure["layout"]["title"]["text"].startswith("Distance vs learning step (strict) · ρ")
    else:
        assert "never all learned" in figure["layout"]["annotations"][0]["text"]
    live = dashboard.live_traces(np.array([[0.1, 0.9, 0.2], [0.8, 0.1, 0.9]]), "live", axes=(1, 2))
    assert live[0]["customdata"][0][:2] == [0.9, 0.2]  # the samples' size and background positions


def test_the_distance_figure_draws_learned_classes_and_censored_ones_at_the_top():
    learning = {SPACE.class_label(c): LearningStep(200) for c in CODES} | {"110": LearningStep(None)}
    result = distance_time(synthetic({"011": 0.1, "101": 0.5, "110": 0.9, "111": 1.2}), STEPS, CODES, learning,
                           LearningStep(300))
    names = {SPACE.class_label(c): SPACE.class_name(c) for c in CODES}
    spec = distance_time_spec(result, names, {label: "#123456" for label in names}, STEPS[-1])
    censored = [t for t in spec["data"] if t["marker"]["symbol"].endswith("-open")]
    assert len(censored) == 1 and censored[0]["y"] == [pytest.approx(400 * 1.06)]
    assert censored[0]["text"] == ["110"] and censored[0]["hovertext"] == ["blue-small-light"]
    assert censored[0]["name"].endswith("not learned")
    learned = [x for t in spec["data"] if not t["marker"]["symbol"].endswith("-open") for x in t["x"]]
    assert sorted(learned) == [0.1, 0.5, 1.2]
    assert spec["layout"]["shapes"][0]["y0"] == 300 and spec["layout"]["shapes"][0]["line"]["dash"] == "dash"


def test_the_distance_figure_alternates_labels_between_neighbours_in_distance():
    # The bundled run's case: never-learned one-bit classes in class order 011, 101, 110 but in distance order
    # 110, 011, 101; labelled in class order, 110 and 011 sat side by side both above and their labels ran together.
    learning = {SPACE.class_label(c): LearningStep(None) for c in CODES}
    result = distance_time(synthetic({"011": 0.55, "101": 0.65, "110": 0.5, "111": 1.0}), STEPS, CODES, learning,
                           LearningStep(300))
    names = {SPACE.class_label(c): SPACE.class_name(c) for c in CODES}
    spec = distance_time_spec(result, names, {label: "#123456" for label in names}, STEPS[-1])
    one_bit = next(t for t in spec["data"] if t["text"] == sorted(t["text"], key=["110", "011", "101"].index))
    assert one_bit["x"] == sorted(one_bit["x"])
    assert one_bit["textposition"] == ["top center", "bottom center", "top center"]


def test_a_two_concept_view_is_unchanged(runs):
    dashboard = RunDashboard.load(runs["two"])
    assert dashboard.planes == [(0, 1)] == concept_planes(2)
    view = step_view(dashboard)
    assert set(view) == {"run", "header", "steps", "classes", "classNames", "classColors", "heldout", "figures",
                         "captions", "seedNote", "phases", "large"}
    assert set(view["figures"]) == {"concept", "capability", "accuracy"}
    assert view["figures"]["concept"]["layout"]["xaxis"]["title"]["text"] == dashboard.axis_titles[0]


# -- the Explore view through the API and in a browser ----------------------------------------------------------------
@pytest.fixture(scope="module")
def app(runs, tmp_path_factory: pytest.TempPathFactory):
    """The app on the UI tests' tiny runs, with the tiny 3-concept run added: (url, the 3-concept run's name)."""
    from ui_runs import launched_app

    with launched_app(tmp_path_factory, "three-app") as (demo, url):
        yield url, demo.explorer.catalog.add(runs["three"])


@pytest.mark.slow
def test_the_explore_view_of_a_three_concept_run_through_the_api(app):
    from gradio_client import Client
    from test_ui_api import controls, stepper

    url, name = app
    client = Client(url, verbose=False)
    view = stepper(client.predict(name, 1, 0.0, False, "strict", api_name="/select_run_view"), "view")
    assert view["run"] == name and len(view["planes"]) == 3 and view["distanceTime"]["layout"]
    assert len(view["learningTable"]["rows"]) == 8
    live = stepper(client.predict(name, 1, 0.0, False, "strict", *controls(), api_name="/generate"), "live")
    assert len(live["planes"]) == 3 and live["traces"] == live["planes"][0]
    plain = stepper(client.predict("plain", 1, 0.0, False, "strict", api_name="/select_run_view"), "view")
    assert "planes" not in plain and "distanceTime" not in plain


@pytest.mark.slow
@pytest.mark.skipif(not Path("/usr/bin/chromium").exists(), reason="needs Debian's chromium at /usr/bin/chromium")
def test_the_plane_buttons_and_the_distance_figure_follow_the_step_control_in_a_browser(app):
    sync_api = pytest.importorskip("playwright.sync_api", reason="needs the playwright Python package")
    from test_browser import CHROMIUM, STEP, new_page, open_app, shot

    url, name = app
    titles = "() => ['x', 'y'].map(a => document.querySelector(`.ce-concept .g-${a}title`)?.textContent ?? '')"
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                                    args=["--no-sandbox", "--disable-gpu"])
        page = new_page(browser)
        open_app(page, url, f"?run={name}&step=2")
        assert page.locator(".ce-plane").all_inner_texts() == ["colour – size", "colour – background",
                                                              "size – background"]
        assert page.evaluate(titles)[0].startswith("colour") and page.evaluate(titles)[1].startswith("size")
        page.locator(".ce-plane").nth(2).click()
        page.wait_for_function(f"() => ({titles})()[0].startsWith('size')")
        assert page.evaluate(titles)[1].startswith("background")
        assert page.locator(".ce-concept svg.ce-overlay circle").count() == 8  # every class marked at the step
        assert page.locator(".ce-three").is_visible() and page.locator(".ce-learning-table tr").count() == 9
        page.keyboard.press("End")
        page.wait_for_function(f"() => ({STEP})() === '6'")
        assert page.locator(".ce-plane.ce-active").inner_text() == "size – background"  # the plane stays chosen
        shot(page, "three-concepts")
        open_app(page, url, "?run=plain")
        assert not page.locator(".ce-planes").is_visible() and not page.locator(".ce-three").is_visible()
        assert page.errors == []
        browser.close()

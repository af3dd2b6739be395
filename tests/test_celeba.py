"""CelebA (real images, reference-spec §6) on a tiny copy the tests generate in exactly the standard file format.

The copy: 64 aligned-size (178 × 218) JPEGs whose attributes are drawn, so a probe can learn them (Male: a blue
instead of a red face area; Smiling: a bright bar across the lower face), list_attr_celeba.txt with the 40
standard names and ±1 values (the other 38 random), list_eval_partition.txt with all three partitions. Nothing here
reads the network; the run is the celeba preset shrunk like the suite's tiny runs. Its live panel is driven through
the UI layer and through an app launched on localhost with the run as its only one.
"""

from __future__ import annotations

import dataclasses
import os
import re
from pathlib import Path
from urllib.parse import parse_qsl

import httpx
import numpy as np
import pytest
import torch
from PIL import Image

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # before gradio is imported (by ui_runs)

from gradio_client import Client  # noqa: E402
from ui_runs import TINY, launched_app  # noqa: E402

from concept_explorer.analysis.attribute_probe import AttributeProbe, attribute_accuracy  # noqa: E402
from concept_explorer.analysis.capability import ElicitConfig, elicit_run, load_elicitation  # noqa: E402
from concept_explorer.analysis.elicit import overprompt  # noqa: E402
from concept_explorer.analysis.evaluate import EvalConfig, Evaluation, class_prompts, evaluate_run  # noqa: E402
from concept_explorer.analysis.live import LiveGenerator, LiveSettings  # noqa: E402
from concept_explorer.analysis.run_probe import ensure_probe, load_probe, train_probe_for  # noqa: E402
from concept_explorer.cli import main  # noqa: E402
from concept_explorer.core import celeba  # noqa: E402
from concept_explorer.core.config import RunConfig, cpu_preset, preset, with_overrides  # noqa: E402
from concept_explorer.core.run import Run  # noqa: E402
from concept_explorer.core.training import build_data, train  # noqa: E402
from concept_explorer.ui.runs import run_controls  # noqa: E402
from concept_explorer.ui.settings import GenerationSettings  # noqa: E402
from concept_explorer.ui.state import ViewState  # noqa: E402
from concept_explorer.ui.url import VIEW_CONTROLS  # noqa: E402
from concept_explorer.views.captions import describe, headline  # noqa: E402
from concept_explorer.views.run_view import RunDashboard  # noqa: E402
from concept_explorer.views.step_view import step_view  # noqa: E402

COUNT = 64
TRAIN, VAL = 40, 52  # rows below TRAIN are partition 0, below VAL 1, the rest 2


def write_copy(root: Path, count: int = COUNT) -> np.ndarray:
    """A CelebA copy in the standard layout at `root`; returns its (count, 40) ±1 attribute table. Row i has
    Male = bit 0 and Smiling = bit 1 of i % 4, so every partition holds every combination."""
    rng = np.random.default_rng(0)
    table = rng.choice([-1, 1], size=(count, 40))
    male, smiling = celeba.ATTRIBUTES.index("Male"), celeba.ATTRIBUTES.index("Smiling")
    (root / celeba.IMAGES).mkdir(parents=True)
    names = [f"{i + 1:06d}.jpg" for i in range(count)]
    for i, name in enumerate(names):
        table[i, male], table[i, smiling] = (1 if i % 2 else -1), (1 if i // 2 % 2 else -1)
        pixels = np.full((218, 178, 3), 120, np.uint8)
        pixels[30:190, 20:158] = (40, 60, 220) if table[i, male] > 0 else (220, 60, 40)
        if table[i, smiling] > 0:
            pixels[120:160, 30:148] = 250
        pixels = np.clip(pixels + rng.integers(-10, 10, pixels.shape), 0, 255).astype(np.uint8)
        Image.fromarray(pixels).save(root / celeba.IMAGES / name, quality=95)
    rows = [f"{name} " + " ".join(f"{v:2d}" for v in values) for name, values in zip(names, table)]
    (root / celeba.ATTRIBUTE_FILE).write_text("\n".join([str(count), " ".join(celeba.ATTRIBUTES), *rows]) + "\n")
    partition = [f"{name} {0 if i < TRAIN else 1 if i < VAL else 2}" for i, name in enumerate(names)]
    (root / celeba.PARTITION_FILE).write_text("\n".join(partition) + "\n")
    return table


@pytest.fixture(scope="module")
def copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("celeba")
    write_copy(root)
    return root


def celeba_config(root: Path, **overrides: object) -> RunConfig:
    """The celeba preset at the suite's tiny size (TINY), reading the copy at `root`."""
    extra = {k.replace("__", "."): v for k, v in overrides.items()}
    return with_overrides(preset("celeba"), TINY | {"concept_space.data_root": str(root),
                                                     "train.train_per_class": 8, "train.heldout_loss_images": 4} | extra)


def one_sentence(message: str) -> bool:
    return "\n" not in message and message.endswith(".") and not re.search(r"\.\s+[A-Z]", message)


# -- the loader ---------------------------------------------------------------------------------------------------------
def test_the_index_and_the_faces_are_read_cropped_and_resized(copy):
    index = celeba.read_index(copy)
    assert len(index.files) == COUNT and index.attributes.shape == (COUNT, 40)
    assert list(np.bincount(index.partition)) == [TRAIN, VAL - TRAIN, COUNT - VAL]
    face = celeba.load_image(copy / celeba.IMAGES / index.files[1], 16)  # Male, not smiling: blue, no bar
    assert face.shape == (3, 16, 16) and 0 <= face.min() and face.max() <= 1
    assert face[2, 8, 8] > 0.7 and face[0, 8, 8] < 0.3  # the centre square is the face area, blue
    smiling = celeba.load_image(copy / celeba.IMAGES / index.files[2], 32)  # female, smiling: red, the bar at crop rows 100-140 of 178
    assert smiling.shape == (3, 32, 32) and smiling[1, 21, 16] > 0.9 and smiling[1, 8, 16] < 0.4


def test_the_heldout_combination_becomes_class_11_and_names_its_levels(copy):
    space = celeba_config(copy).concept_space  # Male × Smiling, female-smiling (01) held out
    assert space.flips == (True, False)
    assert space.level_names("Male") == ("Male", "not Male") and space.level_names("Smiling") == ("not Smiling",
                                                                                                  "Smiling")
    assert space.class_name((1, 1)) == "not Male & Smiling" and space.parse_class("not Male & Smiling") == (1, 1)
    assert space.training_classes() == [(0, 0), (0, 1), (1, 0)] and space.heldout_classes() == [(1, 1)]
    images, labels = celeba.load_classes(space, [(1, 1)], 100, seed=0)
    index = celeba.read_index(copy)
    assert len(labels) == TRAIN // 4  # every train-partition face of the class, no more
    chosen = celeba.select(space, index, [(1, 1)], 100, 0)[0]
    assert all(i % 4 == 2 for i in chosen)  # row i: Male = i % 2, Smiling = i // 2 % 2, so female smiling is 2
    # h: two one-hots [level 0, level 1] in the first four slots; overprompting extrapolates them, unclipped.
    assert space.class_prompt((1, 1)).tolist()[:5] == [0, 1, 0, 1, 0]
    assert space.concept_axis("Male").tolist()[:4] == [-1, 1, 0, 0]
    pushed = overprompt(space, (1, 1), {"Male": 1.0})
    assert pushed.h.tolist()[:4] == [-0.5, 1.5, 0, 1] and pushed.clipped == ()
    other = dataclasses.replace(space, heldout="11")
    assert other.flips == (False, False) and other.level_names("Male") == ("not Male", "Male")


def test_selection_is_capped_per_class_follows_the_seed_and_keeps_to_its_partitions(copy):
    space = celeba_config(copy).concept_space
    index = celeba.read_index(copy)
    codes = space.all_classes()
    first = celeba.select(space, index, codes, 3, seed=0)
    assert [len(rows) for rows in first] == [3, 3, 3, 3]
    assert all(np.array_equal(a, b) for a, b in zip(first, celeba.select(space, index, codes, 3, seed=0)))
    assert any(not np.array_equal(a, b) for a, b in zip(first, celeba.select(space, index, codes, 3, seed=1)))
    assert all(index.partition[rows].max() == 0 for rows in first)
    held_back = celeba.select(space, index, codes, 100, 0, ("val", "test"))
    assert sum(len(rows) for rows in held_back) == COUNT - TRAIN and min(index.partition[np.concatenate(held_back)]) >= 1


def test_a_run_trains_on_the_training_classes_and_keeps_the_heldout_faces_for_its_loss(copy):
    data = build_data(celeba_config(copy))
    space = celeba_config(copy).concept_space
    prompts = {tuple(space.class_prompt(c).tolist()) for c in space.training_classes()}
    assert {tuple(h.tolist()) for h in torch.cat([data.train_h, data.val_h])} == prompts
    assert data.train_images.shape[1:] == (3, 8, 8) and data.train_images.shape[0] + data.val_images.shape[0] == 24
    assert data.heldout_images.shape[0] == 4 and (data.heldout_h == space.class_prompt((1, 1))).all()


# -- every way a copy or a config can be wrong is one sentence ----------------------------------------------------------
def broken_copy(root: Path, break_it: str) -> Path:
    write_copy(root, count=8)
    attributes, partition = root / celeba.ATTRIBUTE_FILE, root / celeba.PARTITION_FILE
    lines = attributes.read_text().splitlines()
    if break_it == "no attribute list":
        attributes.unlink()
    elif break_it == "no images folder":
        for file in (root / celeba.IMAGES).iterdir():
            file.unlink()
        (root / celeba.IMAGES).rmdir()
    elif break_it == "names":
        attributes.write_text("\n".join([lines[0], lines[1].replace("Male", "Female"), *lines[2:]]))
    elif break_it == "count":
        attributes.write_text("\n".join(["9", *lines[1:]]))
    elif break_it == "value":
        attributes.write_text("\n".join([*lines[:4], lines[4].replace("-1", "0", 1), *lines[5:]]))
    elif break_it == "short row":
        attributes.write_text("\n".join([*lines[:4], lines[4].rsplit(" ", 1)[0], *lines[5:]]))
    elif break_it == "no count":
        attributes.write_text("\n".join(lines[1:]))
    elif break_it == "partition value":
        partition.write_text(partition.read_text().replace("000003.jpg 0", "000003.jpg 7"))
    elif break_it == "partition missing":
        partition.write_text("\n".join(partition.read_text().splitlines()[:-1]))
    elif break_it == "image missing":
        (root / celeba.IMAGES / "000002.jpg").unlink()
    elif break_it == "image unreadable":
        (root / celeba.IMAGES / "000002.jpg").write_bytes(b"not a jpeg")
    elif break_it == "binary list":
        attributes.write_bytes(b"\xff\xfe\x00")
    return root


BROKEN = ("no attribute list", "no images folder", "names", "count", "value", "short row", "no count",
          "partition value", "partition missing", "image missing", "image unreadable", "binary list")


@pytest.mark.parametrize("break_it", BROKEN)
def test_a_broken_copy_is_refused_in_one_sentence(tmp_path, break_it):
    root = broken_copy(tmp_path, break_it)
    space = celeba_config(root).concept_space
    with pytest.raises(celeba.CelebaError) as error:
        celeba.load_classes(space, space.all_classes(), 2, seed=0)  # 2 per class: rows 1 and 2 are always read
    assert one_sentence(str(error.value)), str(error.value)


def test_a_class_the_copy_lacks_is_one_sentence(tmp_path):
    write_copy(tmp_path, count=8)
    space = celeba_config(tmp_path).concept_space
    with pytest.raises(celeba.CelebaError, match="no val images of class") as error:
        celeba.load_classes(space, space.all_classes(), 2, 0, ("val",))
    assert one_sentence(str(error.value))


@pytest.mark.parametrize("overrides", [
    {"concept_space.concepts": ["Male", "Smile"]}, {"concept_space.concepts": ["Male", "Male"]},
    {"concept_space.concepts": ["Male", "Smiling", "Young"]}, {"concept_space.heldout": "2"},
    {"concept_space.heldout": "012"}, {"concept_space.data_root": ""}, {"concept_space.dataset": "imagenet"},
    {"train.mask_concept": "Male", "train.mask_class": "10"},
])
def test_a_bad_celeba_config_is_one_sentence(copy, overrides):
    with pytest.raises(ValueError) as error:
        with_overrides(celeba_config(copy), overrides)
    assert one_sentence(str(error.value)), str(error.value)


def test_training_without_the_copy_says_where_to_put_it_and_leaves_no_folder(tmp_path, capsys):
    out = tmp_path / "run"
    code = main(["train", "--preset", "celeba", "--concept_space.data_root", str(tmp_path / "nowhere"),
                 "--out", str(out), "--device", "cpu"])
    message = capsys.readouterr().err.strip().removeprefix("concept-explorer: error: ")
    assert code == 2 and not out.exists()
    assert "No CelebA copy at" in message and "--concept_space.data_root" in message and one_sentence(message)


def test_synthetic_configs_are_unchanged_and_old_run_json_loads():
    old = cpu_preset().to_dict()
    for name in ("dataset", "heldout", "data_root"):
        del old["concept_space"][name]  # a run.json written before CelebA
    assert RunConfig.from_dict(old) == cpu_preset()
    assert cpu_preset().concept_space.dataset == "synthetic" and cpu_preset().concept_space.flips == (False, False)
    for name in ("celeba", "celeba-gpu"):
        config = preset(name)
        assert RunConfig.from_dict(config.to_dict()) == config and config.concept_space.heldout == "01"
    assert preset("celeba-gpu").concept_space.resolution == 64


# -- a tiny CelebA run end to end -------------------------------------------------------------------------------------------
def test_the_attribute_probe_learns_the_drawn_attributes(copy):
    space = celeba_config(copy, concept_space__resolution=16).concept_space
    probe = train_probe_for(space, progress=False, steps=60, batch_size=32, width=8, per_class=10)
    accuracy = attribute_accuracy(probe, space)
    assert min(min(row[:2]) for row in accuracy["lenient"].values()) >= 0.75, accuracy
    scores = probe.score(torch.zeros(3, 3, 16, 16, dtype=torch.uint8), space)
    assert scores.position.shape == (3, 2) and (scores.p_present == 1).all()
    with pytest.raises(ValueError, match="reads 16 px"):
        probe.score(torch.zeros(1, 3, 8, 8), space)
    with pytest.raises(ValueError, match="as level 1"):
        probe.score(torch.zeros(1, 3, 16, 16), dataclasses.replace(space, heldout="11"))


@pytest.fixture(scope="module")
def celeba_run(copy: Path, tmp_path_factory: pytest.TempPathFactory) -> Run:
    """A tiny CelebA run (Male × Smiling, female-smiling held out, checkpoints 2/4/6) with a barely trained attribute
    probe, evaluated and elicited with 4 samples: what the run view and the live panel need."""
    run = train(celeba_config(copy), tmp_path_factory.mktemp("celeba-run") / "celeba", device="cpu", progress=False)
    space = run.config.concept_space
    train_probe_for(space, progress=False, steps=5, batch_size=16, width=8, per_class=4).save(run.layout.probe)
    assert isinstance(ensure_probe(run, progress=False), AttributeProbe)  # the saved probe, not a new one
    evaluate_run(run, EvalConfig(samples_per_class=4), progress=False)
    elicit_run(run, ElicitConfig(concepts=space.concepts, samples=4), progress=False)
    return run


def test_a_tiny_celeba_run_is_trained_probed_evaluated_elicited_and_shown(celeba_run):
    run, space = celeba_run, celeba_run.config.concept_space
    assert isinstance(load_probe(run.layout.probe, space), AttributeProbe)
    h, labels = class_prompts(space, 2, 0)
    assert (h == torch.stack([space.class_prompt(c) for c in space.all_classes()])[labels]).all()
    evaluation = Evaluation(run)
    assert evaluation.coordinates.shape == (3, 4, 2) and np.isfinite(evaluation.coordinates).all()
    assert ((0 <= evaluation.coordinates) & (evaluation.coordinates <= 1)).all()
    assert set(evaluation.summary["probe"]["class_mean_accuracy"]["strict"]) == {"00", "01", "10", "11"}
    assert load_elicitation(run)["settings"]["concepts"] == ["Male", "Smiling"]
    dashboard = RunDashboard.load(run.path)
    assert dashboard.curves is not None and dashboard.heldout_label == "11"
    assert dashboard.axis_titles == ["Male: Male 0 → not Male 1", "Smiling: not Smiling 0 → Smiling 1"]
    assert dashboard.heldout_name == "not Male & Smiling" and dashboard.corner_images == [None] * 4
    assert "never saw a face that is not Male & Smiling" in headline(dashboard)
    assert "CelebA, not Male & Smiling held out" in describe(dashboard)
    view = step_view(dashboard)
    assert view["steps"] == [2, 4, 6]
    live = LiveGenerator().generate(run, LiveSettings(step=6, concept_vector=(1.0, 1.0), overprompt=1.0,
                                                      overprompt_concepts=("Male",), intervention=(1.0, 0.0),
                                                      intervention_strength=0.5, samples=2, sample_steps=2))
    assert live.coordinates is not None and live.coordinates.shape == (2, 2)



# -- the live generation panel on a CelebA run ------------------------------------------------------------------------
HELD_OUT_PUSHED = GenerationSettings(overprompt=1.0, overprompt_along=("shape",), direction="shape", strength=0.5,
                                     samples=2, sample_steps=2)
"""The held-out class (every slider at 1), overprompted along Male and pushed along Male's direction: Male sits in
the panel's `shape` slot and Smiling in its `color` slot (views/concept_slots.py)."""


def test_the_generation_panel_reads_and_names_the_attributes_through_its_slots(celeba_run):
    dashboard = RunDashboard.load(celeba_run.path)
    assert dashboard.slots.slots == ("shape", "color")
    controls = run_controls(dashboard, 2, ["celeba"], "celeba")
    assert (controls["shape"]["label"], controls["shape"]["visible"]) == ("Male: Male (0) ↔ not Male (1)", True)
    assert (controls["color"]["label"], controls["w_color"]["label"]) == ("Smiling: not Smiling (0) ↔ Smiling (1)",
                                                                          "Smiling weight")
    assert not controls["size"]["visible"] and not controls["w_bg"]["visible"]
    assert controls["overprompt_along"]["choices"] == [("Male", "shape"), ("Smiling", "color")]
    assert controls["direction"]["choices"] == [("Male", "shape"), ("Smiling", "color"), "custom mix"]
    assert dashboard.slots.levels((1, 0)) == {"shape": 1.0, "color": 0.0}

    at = GenerationSettings(shape=0.25, color=1.0, samples=2, sample_steps=2)  # mostly Male, smiling
    assert at.live_settings(dashboard, 0).concept_vector == (0.25, 1.0)
    pushed = HELD_OUT_PUSHED.live_settings(dashboard, 2)
    assert pushed == LiveSettings(step=6, concept_vector=(1.0, 1.0), overprompt=1.0, overprompt_concepts=("Male",),
                                  intervention=(1.0, 0.0), intervention_strength=0.5, samples=2, sample_steps=2)
    mixed = dataclasses.replace(HELD_OUT_PUSHED, direction="custom mix", w_shape=0.5, w_color=-1.0,
                                overprompt_along=("Smiling",))  # an API client may name an attribute itself
    assert (mixed.live_settings(dashboard, 2).intervention, mixed.live_settings(dashboard, 2).overprompt_concepts) == (
        (0.5, -1.0), ("Smiling",))
    with pytest.raises(ValueError) as error:
        dataclasses.replace(HELD_OUT_PUSHED, direction="size").live_settings(dashboard, 2)
    assert str(error.value) == ("Unknown intervention direction 'size'; choose one of ['shape (Male)', "
                                "'color (Smiling)'] or 'custom mix'.")
    generator = LiveGenerator()
    near = generator.generate(celeba_run, at.live_settings(dashboard, 2))
    assert near.target_name == "Male & Smiling" and near.coordinates.shape == (2, 2)
    held_out = generator.generate(celeba_run, pushed)
    assert held_out.target_name == "not Male & Smiling" and held_out.h[:4].tolist() == [-0.5, 1.5, 0.0, 1.0]

    linked = ViewState(run="celeba", step=6, generation=dataclasses.replace(HELD_OUT_PUSHED, shape=0.75))
    query = linked.to_query()
    assert {"c_shape=0.75", "opc=shape", "iv=shape", "ivs=0.5", "op=1"} <= set(query.split("&"))
    state, problems = ViewState.from_query(dict(parse_qsl(query)))
    assert problems == [] and state.run == "celeba"
    assert state.generation.fitted_to(dashboard).live_settings(dashboard, 2) == linked.generation.live_settings(
        dashboard, 2)


@pytest.mark.slow
def test_the_app_serves_the_live_panel_of_a_celeba_run(celeba_run, tmp_path_factory):
    """Through gradio_client, an app whose first run is the CelebA run: a link's settings come back on the attributes'
    sliders, prompting a class sets them, and a generation overprompts and intervenes on the held-out class."""
    with launched_app(tmp_path_factory, "celeba-app", paths=[celeba_run.path]) as (_, url):
        client = Client(url, verbose=False)
        near_male = dataclasses.replace(HELD_OUT_PUSHED, shape=0.25)
        query = client.predict("celeba", 2, "", 0.0, False, "strict", *near_male.values().values(),
                               api_name="/view_query")
        assert {"c_shape=0.25", "opc=shape", "iv=shape"} <= set(query.split("&")) and "run=" not in query
        response = httpx.post(f"{url.rstrip('/')}/gradio_api/run/load_view?{query}", json={"data": []}, timeout=60)
        assert response.status_code == 200, response.text
        view = dict(zip(VIEW_CONTROLS, response.json()["data"]))
        assert (view["shape"]["value"], view["shape"]["label"]) == (0.25, "Male: Male (0) ↔ not Male (1)")
        assert view["size"]["visible"] is False and view["overprompt_along"]["value"] == ["shape"]
        assert view["direction"]["value"] == "shape"
        assert view["direction"]["choices"] == [["Male", "shape"], ["Smiling", "color"], ["custom mix", "custom mix"]]
        prompted = client.predict("celeba", "10 not Male & not Smiling", api_name="/prompt_class")
        assert [update.get("value") for update in prompted] == [1.0, 0.0, None, None]
        live = client.predict("celeba", 2, 0.0, False, "strict", *HELD_OUT_PUSHED.values().values(),
                              api_name="/generate")["props"]["live"]
        assert live["summary"].startswith("Step 6, prompt nearest not Male & Smiling, overprompt 1 on Male, "
                                          "intervention 0.5 (target direction)")


def test_the_cli_runs_probe_evaluate_and_elicit_on_a_celeba_run(copy, tmp_path, capsys):
    out = tmp_path / "cli"
    train(celeba_config(copy), out, device="cpu", progress=False)
    assert main(["probe", str(out), "--steps", "3"]) == 0
    assert "accuracy on held-out labelled faces" in capsys.readouterr().out
    assert main(["evaluate", str(out), "--samples", "2"]) == 0
    assert main(["elicit", str(out), "--samples", "2", "--directions", "target", "--no-patch"]) == 0
    assert "Male" in capsys.readouterr().out

"""The Train tab: dataset folders with weights and their summary, the --data / --init arguments, a tiny
fine-tuning subprocess on two folders with live curves and previews, Resume, Stop leaving a loadable
checkpoint, 'Use in Animate', and a failing run's stderr in the log."""

from __future__ import annotations

import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from PySide6.QtWidgets import QWidget

from usanimator_app.core.annotations import Annotations, save_annotations, save_split, sidecar_path
from usanimator_app.engine.checkpoint import load_model
from usanimator_app.engine.dataset import DataSource, parse_data_sources
from usanimator_app.engine.pipeline import default_model_path
from usanimator_app.gui.settings import Settings
from usanimator_app.gui.train_inputs import summarise_dataset
from usanimator_app.gui.state import format_speed
from usanimator_app.gui.train_tab import DATASET_FILE_NAME, TrainTab, dataset_file


def _png_clip(folder: Path, annotated: bool, frames: int = 4, seed: int = 0) -> None:
    folder.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    annotations = Annotations(clip=folder.name, image_size=(64, 64))
    for index in range(frames):
        frame = cv2.GaussianBlur(rng.uniform(0, 255, (64, 64)).astype(np.float32), (0, 0), 1.0).astype(np.uint8)
        cv2.circle(frame, (26 + 2 * index, 32), 9, 230, -1)
        cv2.imwrite(str(folder / f"frame_{index:03d}.png"), frame)
        annotations.set_point(index, "symphysis_lower_edge", 26 + 2 * index, 32)
        annotations.set_point(index, "bladder_neck", 26 + 2 * index, 41)
    if annotated:
        save_annotations(annotations, sidecar_path(folder))


@pytest.fixture
def dataset(tmp_path) -> Path:
    """clip_a annotated and clip_b bare, both in 'train'; clip_c in 'test'; clip_d in no split."""
    data = tmp_path / "data"
    for index, (name, annotated) in enumerate((("clip_a", True), ("clip_b", False), ("clip_c", True), ("clip_d", True))):
        _png_clip(data / name, annotated, seed=index)
    save_split(data, train=["clip_a", "clip_b"], test=["clip_c"])
    return data


def _animate_stub(loaded: list):
    """A stand-in Animate tab: takes every model request (records it) and comes to the front."""

    def factory(context) -> QWidget:
        tab = QWidget()
        tab.setWindowTitle("Animate")

        def load(path: Path) -> bool:
            loaded.append(path)
            context.show_tab(tab)
            return True

        context.app.model_requests.subscribe(load)
        return tab

    return factory


def test_dataset_summary_shows_split_counts_and_warns_about_bare_clips(open_window, dataset):
    summary = {clip.name: (clip.split, clip.annotated, clip.problem) for clip in summarise_dataset(dataset)}
    assert summary == {"clip_a": ("train", 4, ""), "clip_b": ("train", 0, "no annotations"),
                       "clip_c": ("test", 4, ""), "clip_d": ("unused", 4, "")}
    tab = open_window(tab_factories=[TrainTab]).tab("Train")
    assert tab.datasets.add_folder(dataset)
    clips = tab.datasets.clips
    assert clips.rowCount() == 4 and clips.item(1, 1).text() == "clip_b" and clips.item(1, 3).text() == "0"
    assert "1 folder, 4 clips (2 train, 1 test, 1 not in split.json)" in tab.datasets.summary.text()
    assert "4 annotated frames for training" in tab.datasets.summary.text()
    assert "1 training clip without annotations" in tab.datasets.warning.text()
    assert "self-supervised" in tab.datasets.warning.text() and tab.datasets.clips.item(1, 1).toolTip() == "no annotations"
    assert tab.run_folder() == dataset.parent / "runs" / "data"
    tab.set_run_folder(dataset.parent / "elsewhere")
    tab.run_settings.steps.setValue(77)
    tab.window().close()
    again = open_window(tab_factories=[TrainTab]).tab("Train")  # the same settings file
    assert again.datasets.sources() == [(dataset, 1.0)] and again.run_folder() == dataset.parent / "elsewhere"
    assert again.run_settings.steps.value() == 77 and again.datasets.clips.rowCount() == 4
    assert format_speed(120, 1000, 2.0) == "Step 120 / 1000 · 2.00 steps/s · ETA 7:20"


def test_folders_and_weights_become_a_dataset_file_and_init_is_the_bundled_model(open_window, dataset, tmp_path, prompts):
    other = tmp_path / "more"
    _png_clip(other / "clip_x", annotated=False, seed=7)  # no split.json, no sidecar
    tab = open_window(tab_factories=[TrainTab]).tab("Train")
    assert tab.datasets.add_folder(dataset) and tab.datasets.add_folder(other, weight=2.5)
    assert not tab.datasets.add_folder(tmp_path / "missing") and "not found" in prompts.errors[-1]
    assert "2 folders, 5 clips (3 train, 1 test, 1 not in split.json)" in tab.datasets.summary.text()
    tab.set_run_folder(tmp_path / "run")

    arguments = tab.train_arguments(resume=False)
    data = arguments[arguments.index("--data") + 1]
    assert data == str(dataset_file(tmp_path / "run")) and arguments.count("--data") == 1
    assert Path(data).name == DATASET_FILE_NAME and tmp_path / "run" not in Path(data).parents  # the run folder names no folder
    assert parse_data_sources(data) == [DataSource(dataset.resolve(), 1.0), DataSource(other.resolve(), 2.5)]
    assert arguments[arguments.index("--init") + 1] == str(default_model_path())  # the default: fine-tune the bundled model
    assert not tab.run_settings.preset.isEnabled() and not tab.run_settings.size.isEnabled()  # they come from the checkpoint
    assert "--init" not in tab.train_arguments(resume=True) and "--resume" in tab.train_arguments(resume=True)

    tab.run_settings.fine_tune.set_choice("scratch")
    assert "--init" not in tab.train_arguments(resume=False) and tab.run_settings.size.isEnabled()
    tab.datasets.folders.selectRow(0)
    tab.datasets.remove_selected()
    assert [path for path, _ in tab.datasets.sources()] == [other]
    assert parse_data_sources(tab.train_arguments(resume=False)[4]) == [DataSource(other.resolve(), 2.5)]
    tab.run_settings.fine_tune.set_choice("file", tmp_path / "no_such.pt")
    assert not tab.start() and "Choose the checkpoint to fine-tune from" in prompts.errors[-1]


def test_tiny_run_on_two_folders_draws_curves_resumes_and_stops(open_window, qtbot, dataset, tmp_path, prompts):
    """A run by steps (from scratch); fine-tuning by minutes: tests/gui/test_train_finetune.py, tests/engine/test_finetune.py."""
    loaded: list[Path] = []
    window = open_window(tab_factories=[_animate_stub(loaded), TrainTab])
    tab = window.tab("Train")
    window.tabs.setCurrentWidget(tab)
    other = tmp_path / "more"
    _png_clip(other / "clip_x", annotated=False, seed=7)
    tab.datasets.add_folder(dataset)
    tab.datasets.add_folder(other, weight=0.5)
    tab.run_settings.fine_tune.set_choice("scratch")
    tab.run_settings.preset.setCurrentIndex(tab.run_settings.preset.findData("ptg"))
    tab.run_settings.size.setCurrentIndex(tab.run_settings.size.findData("tiny"))
    tab.run_settings.steps.setValue(3)
    tab.run_settings.batch.setValue(1)
    tab.run_settings.device.setCurrentIndex(tab.run_settings.device.findData("cpu"))
    tab.run_settings.sample_every.setValue(1)
    tab.set_run_folder(tmp_path / "run")
    arguments = tab.train_arguments(resume=False)
    assert arguments[:3] == ["-m", "usanimator_app", "train"] and arguments[-2:] == ["--progress", "json"]
    assert arguments[arguments.index("--size") + 1] == "tiny" and arguments[arguments.index("--steps") + 1] == "3"
    assert "--init" not in arguments and "--minutes" not in arguments

    reports = []
    tab.report_received.connect(reports.append)
    with qtbot.waitSignal(tab.run_ended, timeout=120000) as ended:
        assert tab.start()
        assert not tab.run_settings.start_button.isEnabled() and tab.run_settings.stop_button.isEnabled()
        # The trainer runs a model on the same cores: no other tab's model job may start meanwhile.
        assert tab._context.jobs.refusal(object(), "run") == "Another job is running (Training…): wait for it or stop it first."
    assert ended.args == ["finished"]
    assert tab._context.jobs.refusal(object(), "run") == ""
    assert tab.progress_state.history["total_g"][0] == [1, 2, 3] and {"rec_l1", "rec_vgg", "eq1", "key", "gan_d"} <= set(tab.loss_plot.curves)
    assert len(tab.loss_plot.curves["total_g"].getData()[0]) == 3
    assert not tab.previews.labels["final"].pixmap().isNull() and tab.previews.title() == "Previews (step 3)"
    assert [p.name for p in tab.checkpoint_files()] == ["step_0000003.pt"] and tab.checkpoints.count() == 1
    assert not tab.start() and "already holds a run" in prompts.errors[-1]

    tab.run_settings.steps.setValue(500)  # resume towards 500 steps (without --init), then stop
    assert tab.resume()
    assert "--init" not in tab.log.toPlainText().splitlines()[-1] and "--resume" in tab.log.toPlainText()
    qtbot.waitUntil(lambda: len(tab.progress_state.history["total_g"][0]) >= 5, timeout=120000)
    assert tab.progress_state.history["total_g"][0][:5] == [1, 2, 3, 4, 5]  # the earlier curve continues
    assert tab.status_label.text().startswith("Step ") and "steps/s" in tab.status_label.text()
    with qtbot.waitSignal(tab.run_ended, timeout=120000) as ended:
        tab.stop()
    assert ended.args == ["stopped"]
    assert reports[-1]["message"] == "stopped on request" and reports[-1]["checkpoint"]
    newest = tab.checkpoint_files()[0]
    config, model, payload = load_model(newest)
    assert payload["step"] == reports[-1]["step"] >= 5 and config.model.image_size == 64
    assert "Training stopped" in tab.status_label.text()

    assert tab.use_in_animate() and loaded == [newest]
    assert window.tabs.currentWidget() is window.tab("Animate")


def test_a_failing_trainer_shows_its_stderr_and_the_window_stays(open_window, qtbot, dataset, tmp_path, monkeypatch):
    tab = open_window(tab_factories=[TrainTab]).tab("Train")
    tab.datasets.add_folder(dataset)
    tab.set_run_folder(tmp_path / "run")
    script = ("import sys; print('{\"step\": 0, \"total\": 3, \"losses\": {}, \"message\": \"device: cpu\"}'); "
              "print('not json'); sys.stderr.write('usanimator train: error: boom\\n'); sys.exit(2)")
    monkeypatch.setattr(tab, "train_arguments", lambda resume: ["-c", script])
    with qtbot.waitSignal(tab.run_ended, timeout=30000) as ended:
        assert tab.start()
    assert ended.args == ["failed"]
    log = tab.log.toPlainText()
    assert "step 0: device: cpu" in log and "not json" in log and "error: boom" in log
    assert "exit code 2" in tab.status_label.text() and Path(sys.executable).name in log
    assert tab.run_settings.start_button.isEnabled() and not tab.running


def test_the_train_tab_device_is_the_application_device(open_window, settings_path):
    window = open_window(tab_factories=[TrainTab])
    device = window.tab("Train").run_settings.device
    assert device.key() == window.app.device == "auto"
    device.set_key("cpu")
    assert window.app.device == "cpu" and Settings(settings_path).text("device") == "cpu"
    window.app.set_device("cuda")  # as the Animate tab's choice does
    assert device.key() == "cuda"
    window.close()
    assert "train/device" not in Path(settings_path).read_text()

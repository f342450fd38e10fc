"""The Train tab: the dataset summary, a tiny training subprocess with live curves and previews,
Stop leaving a loadable checkpoint, 'Use in Animate', and a failing run's stderr in the log."""

from __future__ import annotations

import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from PySide6.QtWidgets import QWidget

from usanimator_app.core.annotations import Annotations, save_annotations, save_split, sidecar_path
from usanimator_app.engine.checkpoint import load_model
from usanimator_app.gui.train_tab import TrainTab, format_speed, summarise_dataset


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
    def factory(context) -> QWidget:
        tab = QWidget()
        tab.setWindowTitle("Animate")
        tab.busy = False
        tab.load_model = loaded.append
        return tab

    return factory


def test_dataset_summary_shows_split_counts_and_warns_about_bare_clips(open_window, dataset):
    summary = {clip.name: (clip.split, clip.annotated, clip.problem) for clip in summarise_dataset(dataset)}
    assert summary == {"clip_a": ("train", 4, ""), "clip_b": ("train", 0, "no annotations"),
                       "clip_c": ("test", 4, ""), "clip_d": ("unused", 4, "")}
    tab = open_window(tab_factories=[TrainTab]).tab("Train")
    assert tab.set_dataset(dataset)
    assert tab.clip_table.rowCount() == 4 and tab.clip_table.item(1, 2).text() == "0"
    assert "2 train, 1 test, 1 not in split.json" in tab.data_summary.text()
    assert "4 annotated frames for training" in tab.data_summary.text()
    assert "clip_b" in tab.data_warning.text() and "self-supervised" in tab.data_warning.text()
    assert tab.run_folder() == dataset.parent / "runs" / "data"
    tab.set_run_folder(dataset.parent / "elsewhere")
    tab.steps.setValue(77)
    tab.window().close()
    again = open_window(tab_factories=[TrainTab]).tab("Train")  # the same settings file
    assert again.data_edit.text() == str(dataset) and again.run_folder() == dataset.parent / "elsewhere"
    assert again.steps.value() == 77 and again.clip_table.rowCount() == 4
    assert format_speed(120, 1000, 2.0) == "Step 120 / 1000 · 2.00 steps/s · ETA 7:20"


def test_tiny_run_draws_curves_resumes_and_stop_leaves_a_loadable_checkpoint(open_window, qtbot, dataset, tmp_path, prompts):
    loaded: list[Path] = []
    window = open_window(tab_factories=[_animate_stub(loaded), TrainTab])
    tab = window.tab("Train")
    window.tabs.setCurrentWidget(tab)
    tab.set_dataset(dataset)
    tab.preset.setCurrentIndex(tab.preset.findData("ptg"))
    tab.size.setCurrentIndex(tab.size.findData("tiny"))
    tab.steps.setValue(3)
    tab.batch.setValue(1)
    tab.device.setCurrentIndex(tab.device.findData("cpu"))
    tab.sample_every.setValue(1)
    tab.set_run_folder(tmp_path / "run")
    arguments = tab.train_arguments(resume=False)
    assert arguments[:3] == ["-m", "usanimator_app", "train"] and arguments[-2:] == ["--progress", "json"]
    assert arguments[arguments.index("--size") + 1] == "tiny" and arguments[arguments.index("--steps") + 1] == "3"

    reports = []
    tab.report_received.connect(reports.append)
    with qtbot.waitSignal(tab.run_ended, timeout=120000) as ended:
        assert tab.start()
        assert not tab.start_button.isEnabled() and tab.stop_button.isEnabled()
    assert ended.args == ["finished"]
    assert tab.history["total_g"][0] == [1, 2, 3] and {"rec_l1", "rec_vgg", "eq1", "key", "gan_d"} <= set(tab.curves)
    assert len(tab.curves["total_g"].getData()[0]) == 3
    assert not tab.sample_labels["final"].pixmap().isNull() and tab.samples_box.title() == "Previews (step 3)"
    assert [p.name for p in tab.checkpoint_files()] == ["step_0000003.pt"] and tab.checkpoints.count() == 1
    assert not tab.start() and "already holds a run" in prompts.errors[-1]

    tab.steps.setValue(500)  # resume towards 500 steps, then stop
    assert tab.resume()
    qtbot.waitUntil(lambda: len(tab.history["total_g"][0]) >= 5, timeout=120000)
    assert tab.history["total_g"][0][:5] == [1, 2, 3, 4, 5]  # the earlier curve continues
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
    tab.set_dataset(dataset)
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
    assert tab.start_button.isEnabled() and not tab.running

"""The Annotate tab: clicks and drags on the frame, keys, undo/redo with the sidecar saved after each
edit, interpolation, Predict on a tiny random model, Track (optical flow; model motion on the tiny
model), Confirm and Delete tracked from here on, landmark sets, CSV and the descent plot."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import cv2
import numpy as np
import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QWidget

from usanimator_app.core.annotations import Annotations, load_annotations, save_annotations, sidecar_path
from usanimator_app.core.errors import UserInputError
from usanimator_app.core.preprocess import fit_geometry
from usanimator_app.engine.animator import Animator
from usanimator_app.gui import annotate_model, annotate_predict
from usanimator_app.gui.annotate_tab import AnnotateTab
from tests.core.test_landmark_tracking import SHIFT, shifted_texture

SIZE = (80, 64)  # width, height of the test clip


def _write_clip(folder: Path, frames: int = 6) -> Path:
    """A PNG-folder clip: speckle with a bright disc moving right."""
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for index in range(frames):
        frame = cv2.GaussianBlur(rng.uniform(0, 255, SIZE[::-1]).astype(np.float32), (0, 0), 1.5).astype(np.uint8)
        cv2.circle(frame, (30 + 3 * index, 32), 10, 240, -1)
        cv2.imwrite(str(folder / f"frame_{index:03d}.png"), frame)
    return folder


@pytest.fixture
def clip(tmp_path) -> Path:
    return _write_clip(tmp_path / "clip")


@pytest.fixture(autouse=True)
def no_bundled_model(monkeypatch):
    def missing():
        raise UserInputError("models/manifest.json: no bundled model manifest")

    monkeypatch.setattr(annotate_predict, "default_model_path", missing)


def _animate_stub(checkpoint: Path | None):
    """A stand-in Animate tab that has loaded (or not) a model into the application's state."""

    def factory(context) -> QWidget:
        tab = QWidget()
        tab.setWindowTitle("Animate")
        if checkpoint is not None:
            context.app.set_model(Animator(checkpoint, device="cpu"), f"Model: {checkpoint.name}")
        return tab

    return factory


@pytest.fixture
def open_tab(open_window, qtbot, drop_files):
    """``open_tab(clip, animate_model=None)``: a window with the Annotate tab showing ``clip``."""

    def open_(path: Path, animate_model: Path | None = None) -> AnnotateTab:
        window = open_window(tab_factories=[_animate_stub(animate_model), AnnotateTab])
        tab = window.tab("Annotate")
        window.tabs.setCurrentWidget(tab)
        with qtbot.waitSignal(tab.clip_loaded, timeout=20000) as loaded:
            drop_files(tab, path)
        assert loaded.args == [True]
        QApplication.processEvents()
        return tab

    return open_


def _viewport_point(tab: AnnotateTab, x: float, y: float) -> QPoint:
    return tab.view.mapFromScene(tab.view.scene_position(x, y))


def _click(tab: AnnotateTab, x: float, y: float) -> None:
    QTest.mouseClick(tab.view.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier,
                     _viewport_point(tab, x, y))


def _drag(tab: AnnotateTab, start: tuple[float, float], end: tuple[float, float]) -> None:
    viewport = tab.view.viewport()
    begin, finish = _viewport_point(tab, *start), _viewport_point(tab, *end)
    QTest.mousePress(viewport, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, begin)
    for t in np.linspace(0.2, 1.0, 5):
        QTest.mouseMove(viewport, begin + (finish - begin) * float(t))
    QTest.mouseRelease(viewport, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, finish)


def _key(tab: AnnotateTab, key: Qt.Key) -> None:
    QTest.keyClick(tab.view, key)


def _hold_model_load(monkeypatch) -> threading.Event:
    """Make the next Predict / Track job wait in ``ClipModel.load`` until the returned event is set,
    so that a test cancels it before it has done anything (no race with a tiny job)."""
    release = threading.Event()
    load = annotate_model.ClipModel.load

    def held(self, first_frame):
        assert release.wait(30), "the test never released the job"
        return load(self, first_frame)

    monkeypatch.setattr(annotate_model.ClipModel, "load", held)
    return release


def _saved(clip: Path) -> dict:
    """frame -> {landmark: (x, y, origin)} as the sidecar file holds them now."""
    data = json.loads(sidecar_path(clip).read_text())
    return {int(f): {n: (*p["xy"], p["origin"]) for n, p in pts.items()} for f, pts in data["frames"].items()}


def _near(saved: tuple, x: float, y: float, origin: str) -> bool:
    return abs(saved[0] - x) < 0.6 and abs(saved[1] - y) < 0.6 and saved[2] == origin


def test_clicks_drags_keys_and_undo_edit_the_sidecar(open_tab, clip):
    tab = open_tab(clip)
    assert len(tab.session.frames) == 6 and tab.session.frames[0].shape == SIZE[::-1]
    assert not sidecar_path(clip).exists()  # created by the first edit

    _click(tab, 20, 30)
    assert _near(_saved(clip)[0]["symphysis_lower_edge"], 20, 30, "manual")
    _key(tab, Qt.Key.Key_2)
    assert tab.session.chosen_landmark == "bladder_neck"
    _click(tab, 40, 45)
    saved = _saved(clip)[0]
    assert _near(saved["bladder_neck"], 40, 45, "manual") and _near(saved["symphysis_lower_edge"], 20, 30, "manual")
    assert tab.player.timeline._states[0] == "annotated" and tab.player.frame_label.text().endswith("2 / 2 placed")

    _drag(tab, (20, 30), (26, 18))  # grabs the symphysis point even though bladder_neck is chosen
    assert _near(_saved(clip)[0]["symphysis_lower_edge"], 26, 18, "manual")
    assert _near(_saved(clip)[0]["bladder_neck"], 40, 45, "manual")

    tab.edit_box.undo_button.click()
    assert _near(_saved(clip)[0]["symphysis_lower_edge"], 20, 30, "manual")
    tab.edit_box.redo_button.click()
    assert _near(_saved(clip)[0]["symphysis_lower_edge"], 26, 18, "manual")

    _key(tab, Qt.Key.Key_Delete)  # the chosen landmark, bladder_neck, on this frame
    assert "bladder_neck" not in _saved(clip)[0]
    tab.undo_action.trigger()
    assert "bladder_neck" in _saved(clip)[0]

    for key, frame in ((Qt.Key.Key_Right, 1), (Qt.Key.Key_PageDown, 5), (Qt.Key.Key_Left, 4),
                       (Qt.Key.Key_Home, 0), (Qt.Key.Key_End, 5), (Qt.Key.Key_PageUp, 0)):
        _key(tab, key)
        assert tab.session.frame == frame and tab.player.slider.value() == frame
    _key(tab, Qt.Key.Key_1)
    _click(tab, 10, 10)
    assert _near(_saved(clip)[0]["symphysis_lower_edge"], 10, 10, "manual")  # frame 0 again (PgUp)
    np.testing.assert_array_equal(tab.view.image.image, tab.session.frames[0])


def test_interpolation_fills_the_gaps_and_undo_removes_them(open_tab, clip):
    tab = open_tab(clip)
    for frame, (x, y) in ((0, (10, 20)), (4, (30, 40))):
        tab.set_frame(frame)
        _click(tab, x, y)
    assert tab.interpolate() == 3
    saved = _saved(clip)
    assert sorted(saved) == [0, 1, 2, 3, 4]
    assert _near(saved[2]["symphysis_lower_edge"], 20, 30, "interpolated")
    assert tab.player.timeline._states == ["partial", "interpolated", "interpolated", "interpolated", "partial", "none"]
    tab.edit_box.undo_button.click()
    assert sorted(_saved(clip)) == [0, 4]


def test_predict_fills_missing_points_with_the_model_until_confirmed(open_tab, clip, qtbot, tiny_checkpoint, prompts,
                                                                     monkeypatch):
    tab = open_tab(clip)
    assert not tab.predict() and "No model for Predict" in prompts.errors[-1]  # no Animate model, none bundled

    _click(tab, 20, 30)
    tab.predictor.choose(tiny_checkpoint)
    with qtbot.waitSignal(tab.predict_ended, timeout=60000) as ended:
        assert tab.predict()
        assert tab.busy and tab.edit_box.cancel_button.isVisible()
    assert ended.args == ["finished"]
    saved = _saved(clip)
    assert sorted(saved) == list(range(6))
    assert _near(saved[0]["symphysis_lower_edge"], 20, 30, "manual")  # kept
    assert saved[0]["bladder_neck"][2] == "predicted"
    assert all(saved[f][n][2] == "predicted" for f in range(1, 6) for n in ("symphysis_lower_edge", "bladder_neck"))
    assert tab.player.timeline._states == ["predicted"] * 6
    animator = Animator(tiny_checkpoint, device="cpu")  # what the trainer's mapping gives, by hand
    geometry = fit_geometry(tab.session.frames[0], size=animator.image_size, crop_borders=True)
    landmarks = animator.keypoints(geometry.to_model(tab.session.frames[2])).landmarks
    expected = geometry.points_to_original(animator.to_pixels(landmarks))
    assert saved[2]["symphysis_lower_edge"][:2] == pytest.approx(tuple(expected[0]), abs=0.01)
    assert saved[2]["bladder_neck"][:2] == pytest.approx(tuple(expected[1]), abs=0.01)
    assert len(tab.view.markers.data) == 2 and "(predicted)" in tab.view._labels["bladder_neck"].toPlainText()

    tab.confirm()
    assert _saved(clip)[0]["bladder_neck"][2] == "manual"
    tab.set_frame(3)
    x, y, _ = _saved(clip)[3]["bladder_neck"]
    _drag(tab, (x, y), (x + 5, y))
    assert _near(_saved(clip)[3]["bladder_neck"], x + 5, y, "manual")
    assert _saved(clip)[3]["symphysis_lower_edge"][2] == "predicted"

    release = _hold_model_load(monkeypatch)
    with qtbot.waitSignal(tab.predict_ended, timeout=60000) as ended:  # cancelled before it predicts: nothing changes
        before = sidecar_path(clip).read_text()
        assert tab.predict()
        tab.cancel()
        release.set()
    assert ended.args == ["cancelled"] and sidecar_path(clip).read_text() == before


def test_predict_uses_the_animate_tabs_model_by_default(open_tab, clip, tiny_checkpoint):
    tab = open_tab(clip, animate_model=tiny_checkpoint)
    assert tab.predictor.model() == tiny_checkpoint
    assert "the Animate tab's" in tab.edit_box.model_label.text()


def test_landmark_set_csv_and_descent(open_tab, clip, tmp_path, prompts):
    tab = open_tab(clip)
    tab.landmark_box.names_edit.setText("symphysis_lower_edge, bladder_neck, urethra")
    assert tab.apply_landmark_names()
    assert tab.landmark_box.landmark_list.count() == 3 and load_annotations(sidecar_path(clip)).landmarks[-1] == "urethra"
    _key(tab, Qt.Key.Key_3)
    assert tab.session.chosen_landmark == "urethra"

    csv = tmp_path / "points.csv"
    rows = ["frame,landmark,x,y,origin"] + [
        f"{f},symphysis_lower_edge,30,20,manual\n{f},bladder_neck,40,{40 - 2 * f},manual" for f in range(6)
    ] + ["2,urethra,50,50,manual"]
    csv.write_text("\n".join(rows) + "\n")
    assert tab.csv.import_file(csv) == 13
    assert tab.descent() == pytest.approx({f: 2.0 * f for f in range(6)})  # the neck rises on screen: caudal
    assert "No pixel spacing: descent shown in px" in tab.descent_box.descent_note.text()
    tab.set_frame(3)
    assert "+6.0 px" in tab.descent_box.descent_label.text() and "caudal" in tab.descent_box.descent_label.text()
    tab.descent_box.rest_spin.setValue(5)
    assert tab.descent()[3] == pytest.approx(-4.0) and "cranial" in tab.descent_box.descent_label.text()
    assert list(tab.player.descent_plot.curve.getData()[1]) == pytest.approx([-10, -8, -6, -4, -2, 0])

    out = tmp_path / "out.csv"
    assert tab.csv.export_file(out) == 13 and out.read_text().splitlines()[0] == "frame,landmark,x,y,origin"

    csv.write_text("frame,landmark,x,y\n0,kidney,1,1\n")
    assert tab.csv.import_file(csv) == -1 and "kidney" in prompts.errors[-1]

    tab.landmark_box.names_edit.setText("symphysis_lower_edge, bladder_neck")
    prompts.answer = False
    assert not tab.apply_landmark_names() and tab.landmark_box.landmark_list.count() == 3
    assert tab.landmark_box.names_edit.text().endswith("urethra")  # declined: the line shows the set in use again
    tab.landmark_box.names_edit.setText("symphysis_lower_edge, bladder_neck")
    prompts.answer = True
    assert tab.apply_landmark_names() and "urethra" in prompts.questions[-1]
    saved = load_annotations(sidecar_path(clip))
    assert saved.landmarks == ["symphysis_lower_edge", "bladder_neck"] and saved.point(2, "urethra") is None
    tab.edit_box.undo_button.click()
    assert load_annotations(sidecar_path(clip)).point(2, "urethra") is not None and tab.landmark_box.landmark_list.count() == 3


def test_an_existing_sidecar_is_used_and_a_broken_one_refused(open_window, qtbot, clip, prompts):
    annotations = Annotations(clip="clip", landmarks=["a", "b"], pixel_spacing_mm=(0.5, 0.5))
    annotations.set_point(1, "a", 3, 4, origin="ground_truth")
    save_annotations(annotations, sidecar_path(clip))
    window = open_window(tab_factories=[AnnotateTab])
    tab = window.tab("Annotate")
    with qtbot.waitSignal(tab.clip_loaded, timeout=20000):
        assert tab.load_clip(clip)
    assert tab.session.landmarks == ["a", "b"] and tab.player.timeline._states[1] == "partial"
    assert "0.5 × 0.5 mm (from the sidecar)" in tab.clip_box.sidecar_label.text()
    assert "Descent needs the landmarks" in tab.descent_box.descent_note.text()

    sidecar_path(clip).write_text("{ not json")
    with qtbot.waitSignal(tab.clip_loaded, timeout=5000) as loaded:
        assert not tab.load_clip(clip)
    assert loaded.args == [False] and "Fix or move that file" in prompts.errors[-1]


def test_track_forward_confirm_drag_delete_from_here_and_undo(open_tab, tmp_path, qtbot):
    folder = tmp_path / "moving"
    folder.mkdir()
    for index, frame in enumerate(shifted_texture(6)):
        cv2.imwrite(str(folder / f"frame_{index:03d}.png"), frame)
    tab = open_tab(folder)
    box = tab.track_box
    assert box.method.currentData() == "optical_flow" and not box.method.model().item(1).isEnabled()
    assert "load one in the Animate tab" in box.note.text()  # no model: model motion is off, and why
    assert (box.first_spin.value(), box.last_spin.value()) == (0, 5)

    _click(tab, 40, 50)
    box.last_spin.setValue(4)
    with qtbot.waitSignal(tab.track_ended, timeout=20000) as ended:
        box.forward_button.click()
        assert tab.busy and box.cancel_button.isVisible()
    assert ended.args == ["finished"]
    saved = _saved(folder)
    assert sorted(saved) == [0, 1, 2, 3, 4]
    for frame in range(1, 5):
        x, y, origin = saved[frame]["symphysis_lower_edge"]
        assert origin == "tracked" and np.hypot(x - 40 - SHIFT[0] * frame, y - 50 - SHIFT[1] * frame) < 1.0
    assert tab.player.timeline._states == ["partial"] + ["tracked"] * 4 + ["none"]
    tab.set_frame(2)
    assert "(tracked)" in tab.view._labels["symphysis_lower_edge"].toPlainText()

    tab.confirm()
    assert _saved(folder)[2]["symphysis_lower_edge"][2] == "manual"
    tab.set_frame(1)
    x, y, _ = _saved(folder)[1]["symphysis_lower_edge"]
    _drag(tab, (x, y), (x + 10, y))
    assert _near(_saved(folder)[1]["symphysis_lower_edge"], x + 10, y, "manual")
    tab.set_frame(3)
    box.delete_button.click()
    assert sorted(_saved(folder)) == [0, 1, 2]
    for _ in range(4):  # delete, drag, confirm, track
        tab.edit_box.undo_button.click()
    assert sorted(_saved(folder)) == [0] and _saved(folder)[0]["symphysis_lower_edge"][2] == "manual"

    tab.set_frame(5)
    assert not tab.track("forward") and not tab.busy  # no points on frame 5: nothing starts


def test_model_motion_tracks_with_the_animate_tabs_model(open_tab, clip, qtbot, tiny_checkpoint, monkeypatch):
    tab = open_tab(clip, animate_model=tiny_checkpoint)
    monkeypatch.setattr(annotate_model, "Animator", None)  # the application's model is used as it is, not loaded again
    box = tab.track_box
    assert box.method.model().item(1).isEnabled() and box.note.isHidden()
    box.method.setCurrentIndex(1)
    tab.set_frame(3)
    _click(tab, 30, 32)
    with qtbot.waitSignal(tab.track_ended, timeout=60000) as ended:
        box.both_button.click()
    assert ended.args == ["finished"]
    saved = _saved(clip)
    assert sorted(saved) == list(range(6))
    assert all(saved[f]["symphysis_lower_edge"][2] == "tracked" for f in (0, 1, 2, 4, 5))
    assert tab.session.document.undo_text == "Track symphysis lower edge from frame 3 (model motion)"

    release = _hold_model_load(monkeypatch)
    with qtbot.waitSignal(tab.track_ended, timeout=60000) as ended:  # cancelled before it tracks: nothing changes
        before = sidecar_path(clip).read_text()
        assert tab.track("forward")
        tab.cancel()
        release.set()
    assert ended.args == ["cancelled"] and sidecar_path(clip).read_text() == before

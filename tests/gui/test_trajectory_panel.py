"""Edited motion in the Animate tab: the Qt-free MotionEdits, the curves after a run, an edit that
re-runs the animation with the edited landmarks, a drag on the curve, the export's caption and settings."""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest
from PySide6.QtCore import QEvent, QPointF, Qt
from PySide6.QtGui import QMouseEvent
from PySide6.QtWidgets import QApplication, QScrollArea

import pyqtgraph as pg  # after PySide6

from usanimator_app.core.compose import EDITED_CAPTION
from usanimator_app.core.errors import UserInputError
from usanimator_app.core.identity import identify
from usanimator_app.core.preprocess import FrameGeometry
from usanimator_app.gui.export_dialog import ExportOptions
from usanimator_app.gui.trajectory_state import NO_TRACK, MotionEdits

NAMES = ("symphysis_lower_edge", "bladder_neck")


def _results(frames: int = 4) -> list:
    """Stand-ins for FrameResults: 2 keypoints and the 2 landmarks, the neck rising 1 px a frame."""
    return [SimpleNamespace(driving_keypoints=np.array([[10.0, 10.0], [20.0, 20.0 - f]]),
                            driving_landmarks=np.array([[30.0, 20.0], [32.0, 40.0 - f]])) for f in range(frames)]


def test_motion_edits_without_widgets():
    state = MotionEdits()
    seen = []
    state.changed.subscribe(lambda: seen.append("changed"))
    state.edited.subscribe(lambda: seen.append("edited"))
    geometry = FrameGeometry(crop=(0, 0, 128, 128), scale=0.5, pad=(0, 0), size=64, original_size=(128, 128))
    state.take_track(NAMES, _results(), geometry, spacing_y_mm=0.2)
    assert seen == ["changed"] and state.status == ""
    np.testing.assert_allclose(state.trajectory.descent_shown(edited=False), [0.0, 0.4, 0.8, 1.2])  # 2 px a frame, 0.2 mm
    assert state.run_started() is None and state.shown_edits is None  # no edits: the run is as driven
    state.set(scale=2.0)
    assert seen[-2:] == ["changed", "edited"]
    points = state.run_started()
    assert state.shown_edits.scale == 2.0
    np.testing.assert_allclose(points[3][3], [32.0, 40.0 - 6.0])  # model pixels: the neck rises twice as far
    state.drag(1, 3.0)
    assert state.shown_edits.drags == {}  # what the run on show used, not changed by later edits
    with pytest.raises(UserInputError):
        state.set(scale=9.0)
    state.reset()
    assert not state.trajectory.edits.changed
    state.take_track(("a", "b"), _results(), geometry, None)
    assert state.trajectory is None and "bladder_neck" in state.status
    state.clear()
    assert state.status == NO_TRACK


def _animate(tab, qtbot, media, drop_files):
    drop_files(tab.source_panel, media["source"])
    drop_files(tab.driving_panel, media["driving"])
    with qtbot.waitSignal(tab.run_ended, timeout=60000):
        assert tab.run()


def test_an_edit_reruns_with_the_edited_landmarks_and_the_export_says_so(ready_window, media, qtbot, drop_files, tmp_path):
    tab = ready_window.tab("Animate")
    panel = tab.motion_edits
    assert panel.status.text() == NO_TRACK and not panel.scale.isEnabled()
    _animate(tab, qtbot, media, drop_files)
    trajectory = panel.state.trajectory
    assert len(trajectory) == 5 and len(panel.edited_curve.getData()[0]) == 5
    assert panel.plot.getAxis("left").labelText == "descent (px)"  # the test clip has no pixel spacing
    detected = [r.driving_landmarks for r in tab.results]

    with qtbot.waitSignal(tab.run_ended, timeout=60000) as ended:
        panel.scale.setValue(2.5)  # re-runs once the edits rest
    assert ended.args == ["finished"] and trajectory.edits.scale == 2.5
    expected = [panel.state.geometry.points_to_model(p[trajectory.num_kp:]) for p in trajectory.edited_points()]
    for result, want in zip(tab.results, expected, strict=True):
        np.testing.assert_allclose(result.driving_landmarks, want, atol=1e-3)  # what the animator was driven by
    np.testing.assert_allclose(tab.results[0].driving_landmarks, detected[0], atol=1e-3)  # about frame 0
    assert panel.state.trajectory is trajectory  # an edited run keeps the track it was made from

    out = tmp_path / "edited.mp4"
    assert panel.export_options(ExportOptions(path=out)).caption_text == EDITED_CAPTION
    with qtbot.waitSignal(tab.export_ended, timeout=60000) as exported:
        assert tab.export(ExportOptions(path=out, fps=12.0))
    assert exported.args == ["finished"] and out.is_file()
    settings = json.loads((tmp_path / "edited.mp4.settings.json").read_text())
    assert settings["trajectory"]["scale"] == 2.5 and settings["driving"] == identify(media["driving"], "driving")
    assert settings["command"][:3] == ["usanimator", "remake", "SETTINGS.json"]


@pytest.fixture
def every_mouse_move():
    """pyqtgraph drops mouse moves closer than 10 ms apart; a test's come faster."""
    limit = pg.getConfigOption("mouseRateLimit")
    pg.setConfigOption("mouseRateLimit", 0)
    yield
    pg.setConfigOption("mouseRateLimit", limit)


def test_dragging_a_point_of_the_curve_sets_its_descent(ready_window, media, qtbot, drop_files, every_mouse_move):
    tab = ready_window.tab("Animate")
    _animate(tab, qtbot, media, drop_files)
    panel = tab.motion_edits
    tab.findChild(QScrollArea).ensureWidgetVisible(panel.plot)  # the pointer must land on the plot
    panel.view.setRange(xRange=(0, 4), yRange=(-20, 20), padding=0)
    panel.view.disableAutoRange()
    viewport = panel.plot.viewport()

    def screen(x: float, y: float):
        return panel.plot.mapFromScene(panel.view.mapViewToScene(QPointF(x, y)))

    def send(kind: QEvent.Type, point, buttons) -> None:  # to the viewport, wherever the pointer is
        position = QPointF(point)
        button = Qt.MouseButton.NoButton if kind == QEvent.Type.MouseMove else Qt.MouseButton.LeftButton
        event = QMouseEvent(kind, position, QPointF(viewport.mapToGlobal(point)), button, buttons, Qt.KeyboardModifier.NoModifier)
        QApplication.sendEvent(viewport, event)

    held = Qt.MouseButton.LeftButton
    send(QEvent.Type.MouseButtonPress, screen(3, float(panel.state.trajectory.descent_shown(edited=True)[3])), held)
    for y in (0.0, 4.0, 8.0):
        send(QEvent.Type.MouseMove, screen(3, y), held)
    send(QEvent.Type.MouseButtonRelease, screen(3, 8.0), Qt.MouseButton.NoButton)
    assert panel.state.trajectory.edits.drags.keys() == {3}
    assert panel.state.trajectory.descent_shown(edited=True)[3] == pytest.approx(8.0, abs=0.5)
    with qtbot.waitSignal(tab.run_ended, timeout=60000):
        pass  # the drag re-runs the animation
    panel.reset_button.click()
    assert not panel.state.trajectory.edits.changed
    with qtbot.waitSignal(tab.run_ended, timeout=60000):
        pass

"""The Animate tab's "Edited motion" group: the bladder-neck descent of the driving clip as the
model reads it (dashed) and as edited (solid, points draggable), scale / shift / smooth / keypoints
follow / Reset. It renders a :class:`trajectory_state.MotionEdits` and forwards edits to it; an
edit re-runs the animation (debounced) when a run's results are on show, so the preview follows.
"""

from __future__ import annotations

from dataclasses import asdict, replace
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
from PySide6.QtCore import QPointF, QTimer, Signal
from PySide6.QtWidgets import QCheckBox, QDoubleSpinBox, QGroupBox, QHBoxLayout, QLabel, QPushButton, QSpinBox, QVBoxLayout, QWidget

import pyqtgraph as pg  # after PySide6, so pyqtgraph uses it

from usanimator_app.core.annotations import load_annotations, sidecar_path
from usanimator_app.core.compose import EDITED_CAPTION
from usanimator_app.core.errors import UserInputError
from usanimator_app.core.media import MediaSource
from usanimator_app.core.preprocess import FrameGeometry
from usanimator_app.core.trajectory import SCALE_RANGE, remake_settings
from usanimator_app.gui.export_dialog import ExportOptions
from usanimator_app.gui.trajectory_state import MotionEdits
from usanimator_app.gui.widgets import wrapped_label

RERUN_MS = 400  # an edit re-runs the animation once the edits have rested this long
GRAB_PX = 10  # a press within this many screen pixels of a point drags it


def driving_spacing_y(media: MediaSource) -> float | None:
    """The driving clip's vertical pixel spacing (mm): its annotation sidecar's, else the file's."""
    spacing = media.info.pixel_spacing_mm
    sidecar = sidecar_path(media.path)
    if sidecar.is_file():
        try:
            spacing = load_annotations(sidecar).pixel_spacing_mm or spacing
        except UserInputError:
            pass  # an unreadable sidecar is Annotate's to report; the file's spacing stands
    return spacing[1] if spacing else None


class DescentView(pg.ViewBox):
    """A view box whose edited points can be dragged up and down; elsewhere a drag pans."""

    def __init__(self, on_drag: Callable[[int, float], None]):
        super().__init__()
        self._on_drag = on_drag
        self.points: np.ndarray = np.zeros((0, 2))  # (F, 2) frame, edited descent
        self._frame: int | None = None

    def mouseDragEvent(self, event, axis=None) -> None:
        if event.isStart():
            self._frame = self._grabbed(event.buttonDownScenePos())
            if self._frame is not None:
                self.disableAutoRange()  # the axes hold still under the pointer
        if self._frame is None:
            super().mouseDragEvent(event, axis)
            return
        event.accept()
        self._on_drag(self._frame, float(self.mapSceneToView(event.scenePos()).y()))
        if event.isFinish():
            self._frame = None
            self.enableAutoRange()

    def _grabbed(self, scene_pos) -> int | None:
        """The frame of the point within GRAB_PX of ``scene_pos``, else None."""
        if not len(self.points):
            return None
        screen = np.array([[p.x(), p.y()] for p in (self.mapViewToScene(QPointF(*xy)) for xy in self.points)])
        distances = np.hypot(*(screen - [scene_pos.x(), scene_pos.y()]).T)
        nearest = int(np.argmin(distances))
        return nearest if distances[nearest] <= GRAB_PX else None


class TrajectoryPanel(QGroupBox):
    """Curves and edit controls of the driving clip's bladder-neck trajectory."""

    rerun_requested = Signal()  # an edit rested while a run's results are on show

    def __init__(self, has_results: Callable[[], bool], parent: QWidget | None = None):
        super().__init__("Edited motion", parent)
        self.state = MotionEdits()
        self._has_results = has_results
        self._run_info: dict = {}
        self.status = wrapped_label()
        self.view = DescentView(self.state.drag)
        self.plot = pg.PlotWidget(viewBox=self.view)
        self.plot.setFixedHeight(190)
        self.plot.setLabel("bottom", "frame")
        self.plot.addLegend(offset=(4, 4))
        self.detected_curve = self.plot.plot([], [], pen=pg.mkPen((170, 170, 170), width=1, style=pg.QtCore.Qt.PenStyle.DashLine),
                                             name="as read")
        self.edited_curve = self.plot.plot([], [], pen=pg.mkPen((60, 220, 255), width=2), symbol="o", symbolSize=5,
                                           symbolBrush=(60, 220, 255), name="edited (drag points)")
        self.scale = _spin(QDoubleSpinBox(), SCALE_RANGE, 1.0, "×", "Scale the descent about frame 0")
        self.scale.setSingleStep(0.1)
        self.shift = _spin(QSpinBox(), (-999, 999), 0, " fr", "Move the motion later (negative: earlier)")
        self.smooth = _spin(QSpinBox(), (1, 99), 1, " fr", "Moving average over this many frames (1: none)")
        self.smooth.setSingleStep(2)
        self.follow = QCheckBox("Keypoints follow")
        self.follow.setChecked(True)
        self.follow.setToolTip("The self-supervised keypoints move with the edited neck as far as they moved with it")
        self.reset_button = QPushButton("Reset")
        controls = QHBoxLayout()
        for label, widget in (("Scale", self.scale), ("Shift", self.shift), ("Smooth", self.smooth)):
            controls.addWidget(QLabel(label))
            controls.addWidget(widget)
        more = QHBoxLayout()
        more.addWidget(self.follow)
        more.addStretch(1)
        more.addWidget(self.reset_button)
        layout = QVBoxLayout(self)
        layout.addWidget(self.status)
        layout.addWidget(self.plot)
        layout.addLayout(controls)
        layout.addLayout(more)
        self._timer = QTimer(self, singleShot=True, interval=RERUN_MS)
        self._timer.timeout.connect(self._rest)
        self.scale.valueChanged.connect(lambda value: self._set(scale=round(value, 2)))
        self.shift.valueChanged.connect(lambda value: self._set(shift=value))
        self.smooth.valueChanged.connect(lambda value: self._set(smooth=value | 1))
        self.follow.toggled.connect(lambda on: self._set(keypoints_follow=on))
        self.reset_button.clicked.connect(self.state.reset)
        self.state.changed.subscribe(self._render)
        self.state.edited.subscribe(self._timer.start)
        self._render()

    def run_started(self, run_info: dict) -> list[np.ndarray] | None:
        """A run starts with ``run_info`` (source, source_frame, driving, model, max_frames, motion,
        output: what remakes it); returns the edited motion points for it, or None."""
        self._run_info = run_info
        return self.state.run_started()

    def run_ended(self, outcome: str, names: Sequence[str], results: Sequence, driving: MediaSource,
                  geometry: FrameGeometry) -> None:
        """After a finished unedited run, the curves show what the model read on the driving clip
        (``geometry``: the run's driving clip pixels <-> model pixels)."""
        if outcome == "finished" and self.state.shown_edits is None and results:
            self.state.take_track(names, results, geometry, driving_spacing_y(driving))

    def export_options(self, options: ExportOptions) -> ExportOptions:
        """``options`` with the edited-motion caption and the settings file when the run on show was edited."""
        edits = self.state.shown_edits
        if edits is None:
            return options
        info = self._run_info
        export = {"layout": options.layout, "fps": options.fps, "caption": options.caption}
        settings = remake_settings(Path(info["source"]).resolve(), info["source_frame"], Path(info["driving"]).resolve(),
                                   Path(info["model"]).resolve(), info["max_frames"], asdict(info["motion"]),
                                   asdict(info["output"]), export, edits)
        return replace(options, caption_text=EDITED_CAPTION, settings=settings)

    def _set(self, **changes) -> None:
        if self.state.trajectory is not None and any(getattr(self.state.trajectory.edits, k) != v for k, v in changes.items()):
            self.state.set(**changes)

    def _rest(self) -> None:
        if self._has_results() and self.isEnabled():
            self.rerun_requested.emit()

    def _render(self) -> None:
        trajectory = self.state.trajectory
        self.status.setText(self.state.status if trajectory is None else
                            "Bladder-neck descent below the symphysis, from frame 0"
                            + ("" if trajectory.spacing_y_mm else " (no pixel spacing: px)"))
        for widget in (self.scale, self.shift, self.smooth, self.follow, self.reset_button):
            widget.setEnabled(trajectory is not None)
        if trajectory is None:
            self.detected_curve.setData([], [])
            self.edited_curve.setData([], [])
            self.view.points = np.zeros((0, 2))
            return
        frames = np.arange(len(trajectory))
        edited = trajectory.descent_shown(edited=True)
        self.detected_curve.setData(frames, trajectory.descent_shown(edited=False))
        self.edited_curve.setData(frames, edited)
        self.view.points = np.stack([frames, edited], axis=1)
        self.plot.setLabel("left", f"descent ({trajectory.unit})")
        edits = trajectory.edits
        for widget, value in ((self.scale, edits.scale), (self.shift, edits.shift), (self.smooth, edits.smooth)):
            widget.blockSignals(True)
            widget.setValue(value)
            widget.blockSignals(False)
        self.follow.blockSignals(True)
        self.follow.setChecked(edits.keypoints_follow)
        self.follow.blockSignals(False)


def _spin(spin, value_range: tuple, value, suffix: str, tip: str):
    spin.setRange(*value_range)
    spin.setValue(value)
    spin.setSuffix(suffix)
    spin.setToolTip(tip)
    spin.setKeyboardTracking(False)
    return spin

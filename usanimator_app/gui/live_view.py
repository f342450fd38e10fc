"""The right-hand side of the Animate tab: source, driving, output and occlusion views, the overlay
toggles and the playback bar."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QAction, QColor, QIcon, QPainter, QPixmap
from PySide6.QtWidgets import QGridLayout, QHBoxLayout, QLabel, QPushButton, QSlider, QToolButton, QVBoxLayout, QWidget

from usanimator_app.engine.animator import FrameResult
from usanimator_app.core.compose import KEYPOINT_COLOUR
from usanimator_app.gui.widgets import GRID_COLOUR, FrameView, landmark_colour

GRID_LINES = 12
OUTPUT_TITLE = "Output (synthetic)"


def warped_grid(displacement: np.ndarray, size: int, lines: int = GRID_LINES) -> tuple[np.ndarray, np.ndarray]:
    """Where a regular grid over the output samples the source: NaN-separated polylines (x, y).

    ``displacement`` (h, w, 2) is in model pixels on an h x w grid spanning the (size, size) image.
    """
    height, width = displacement.shape[:2]
    gx = np.linspace(0, size - 1, width)[None, :] + displacement[..., 0]
    gy = np.linspace(0, size - 1, height)[:, None] + displacement[..., 1]
    rows = np.unique(np.linspace(0, height - 1, lines).round().astype(int))
    cols = np.unique(np.linspace(0, width - 1, lines).round().astype(int))
    gap = np.full((1,), np.nan)
    xs = [np.concatenate([gx[r], gap]) for r in rows] + [np.concatenate([gx[:, c], gap]) for c in cols]
    ys = [np.concatenate([gy[r], gap]) for r in rows] + [np.concatenate([gy[:, c], gap]) for c in cols]
    return np.concatenate(xs), np.concatenate(ys)


class LiveView(QWidget):
    """Shows one FrameResult at a time; the slider picks it, Play steps through the run."""

    frame_selected = Signal(int)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.source_view = FrameView("Source (green: where the output samples it)")
        self.driving_view = FrameView("Driving")
        self.output_view = FrameView(OUTPUT_TITLE)
        self.occlusion_view = FrameView("Occlusion map (dark: filled in)")
        self.keypoints_action = _toggle("Self-supervised keypoints", "Keypoints the model found by itself (dots)",
                                        [KEYPOINT_COLOUR], self)
        self.landmarks_action = _toggle("Anatomical landmarks", "The supervised anatomical keypoints (labelled crosses)",
                                        [landmark_colour(0), landmark_colour(1)], self)
        self.grid_action = _toggle("Deformation grid", "Where a regular grid over the output samples the source",
                                   [GRID_COLOUR[:3]], self)
        for action in (self.keypoints_action, self.landmarks_action, self.grid_action):
            action.toggled.connect(self._apply_overlays)
        self.play_button = QPushButton("Play")
        self.play_button.setCheckable(True)
        self.play_button.toggled.connect(self._play_toggled)
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.valueChanged.connect(self._slider_moved)
        self.frame_label = QLabel("No frames yet")
        self._timer = QTimer(self)
        self._timer.timeout.connect(self._advance)

        # Driving beside output (the comparison that matters), the source and occlusion map below them.
        views = QGridLayout()
        views.addWidget(self.driving_view, 0, 0)
        views.addWidget(self.output_view, 0, 1)
        views.addWidget(self.source_view, 1, 0)
        views.addWidget(self.occlusion_view, 1, 1)
        for index in (0, 1):
            views.setColumnStretch(index, 1)
            views.setRowStretch(index, 1)
        toggles = QHBoxLayout()
        toggles.addWidget(QLabel("Show:"))
        for action in (self.keypoints_action, self.landmarks_action, self.grid_action):
            button = QToolButton()
            button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
            button.setDefaultAction(action)
            toggles.addWidget(button)
        toggles.addStretch(1)
        playback = QHBoxLayout()
        playback.addWidget(self.play_button)
        playback.addWidget(self.slider, 1)
        playback.addWidget(self.frame_label)
        layout = QVBoxLayout(self)
        layout.addLayout(views, 1)
        layout.addLayout(toggles)
        layout.addLayout(playback)
        self.set_frame_count(0)
        self._apply_overlays()

    def view_actions(self) -> list[QAction]:
        return [self.keypoints_action, self.landmarks_action, self.grid_action]

    def preview(self, source: np.ndarray | None, driving: np.ndarray | None) -> None:
        """Before a run: the chosen source frame and the first driving frame as stored."""
        for view in (self.source_view, self.driving_view, self.output_view, self.occlusion_view):
            view.reset()
        self.output_view.set_title(OUTPUT_TITLE)
        self.source_view.set_image(source)
        self.driving_view.set_image(driving)

    def show_result(self, source: np.ndarray, result: FrameResult, landmark_names: tuple[str, ...]) -> None:
        """One animated frame with its overlays: the output frame at its own size (its points in its
        pixels), the other views in model space."""
        size = source.shape[0]
        self.source_view.set_image(source)
        self.source_view.set_points(result.source_keypoints, result.source_landmarks, landmark_names)
        self.source_view.set_grid(*warped_grid(result.displacement, size))
        self.driving_view.set_image(result.driving)
        self.driving_view.set_points(result.driving_keypoints, result.driving_landmarks, landmark_names)
        self.output_view.set_image(result.frame)
        self.output_view.set_points(result.frame_keypoints, result.frame_landmarks, landmark_names)
        height, width = result.frame.shape
        self.output_view.set_title(f"{OUTPUT_TITLE} · {width}×{height} px")
        self.occlusion_view.set_image(result.occlusion, levels=(0.0, 1.0), colormap="inferno")
        self._apply_overlays()

    def set_frame_count(self, count: int, follow: bool = False) -> None:
        """Slider range for ``count`` frames; ``follow`` keeps it on the newest frame (during a run)."""
        self.slider.blockSignals(True)
        self.slider.setRange(0, max(0, count - 1))
        if follow:
            self.slider.setValue(max(0, count - 1))
        self.slider.blockSignals(False)
        playable = count > 1 and not follow
        self.slider.setEnabled(playable)
        self.play_button.setEnabled(playable)
        if not playable:
            self.play_button.setChecked(False)
        self._update_label(count)

    def set_playback_fps(self, fps: float) -> None:
        self._timer.setInterval(max(1, round(1000.0 / fps)))

    def _update_label(self, count: int) -> None:
        self.frame_label.setText(f"Frame {self.slider.value() + 1} / {count}" if count else "No frames yet")

    def _slider_moved(self, value: int) -> None:
        self._update_label(self.slider.maximum() + 1)
        self.frame_selected.emit(value)

    def _play_toggled(self, playing: bool) -> None:
        self.play_button.setText("Pause" if playing else "Play")
        if playing:
            self._timer.start()
        else:
            self._timer.stop()

    def _advance(self) -> None:
        self.slider.setValue((self.slider.value() + 1) % (self.slider.maximum() + 1))

    def _apply_overlays(self) -> None:
        keypoints = self.keypoints_action.isChecked()
        landmarks = self.landmarks_action.isChecked()
        for view in (self.source_view, self.driving_view, self.output_view):
            view.show_overlays(keypoints, landmarks, grid=view is self.source_view and self.grid_action.isChecked())


def _toggle(text: str, tip: str, colours: list[tuple[int, int, int]], parent: QWidget) -> QAction:
    """A checked, checkable action whose icon shows the overlay's colours (a legend)."""
    action = QAction(_swatch(colours), text, parent)
    action.setCheckable(True)
    action.setChecked(True)
    action.setToolTip(tip)
    return action


def _swatch(colours: list[tuple[int, int, int]]) -> QIcon:
    pixmap = QPixmap(14 * len(colours), 14)
    pixmap.fill(Qt.GlobalColor.transparent)
    painter = QPainter(pixmap)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    for index, colour in enumerate(colours):
        painter.setBrush(QColor(*colour))
        painter.setPen(QColor(0, 0, 0))
        painter.drawEllipse(14 * index + 2, 2, 10, 10)
    painter.end()
    return QIcon(pixmap)

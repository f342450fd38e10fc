"""The right side of the Annotate tab: the frame with its points, playback, the frame slider, the
timeline with its legend and the bladder-neck descent plot."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QSlider, QVBoxLayout, QWidget

from usanimator_app.gui.annotate_panels import DescentPlot, timeline_legend
from usanimator_app.gui.annotation_editor import AnnotationTimeline, AnnotationView
from usanimator_app.gui.state import DEFAULT_FPS

PAGE_FRAMES = 10


class FramePlayer(QWidget):
    """Shows one frame of a clip; ``frame_requested(index)`` when the slider, the timeline or
    playback asks for another (the tab decides and calls :meth:`show_frame`)."""

    frame_requested = Signal(int)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.view = AnnotationView()
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setPageStep(PAGE_FRAMES)
        self.play_button = QPushButton("Play")
        self.play_button.setCheckable(True)
        self.fit_button = QPushButton("Fit")
        self.fit_button.setToolTip("Show the whole frame (the wheel zooms, dragging beside the points pans)")
        self.frame_label = QLabel("No clip")
        self.frame_label.setMinimumWidth(190)
        self.timeline = AnnotationTimeline()
        self.descent_plot = DescentPlot()
        self._count = 0
        self._current = 0
        self._timer = QTimer(self)
        playback = QHBoxLayout()
        for widget in (self.play_button, self.slider, self.frame_label, self.fit_button):
            playback.addWidget(widget, 1 if widget is self.slider else 0)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.view, 1)
        layout.addLayout(playback)
        layout.addWidget(self.timeline)
        layout.addWidget(timeline_legend())
        layout.addWidget(self.descent_plot)
        self._timer.timeout.connect(lambda: self.frame_requested.emit((self._current + 1) % max(self._count, 1)))
        self.slider.valueChanged.connect(self.frame_requested)
        self.timeline.frame_clicked.connect(self.frame_requested)
        self.play_button.toggled.connect(self._play_toggled)
        self.fit_button.clicked.connect(self.view.fit)

    def set_clip(self, count: int, fps: float | None) -> None:
        """A new clip of ``count`` frames: playback stops, the slider and the plot span it."""
        self.play_button.setChecked(False)
        self._count = count
        self._timer.setInterval(round(1000 / (fps or DEFAULT_FPS)))
        self.slider.blockSignals(True)
        self.slider.setRange(0, count - 1)
        self.slider.setValue(0)
        self.slider.blockSignals(False)
        self.descent_plot.setXRange(0, max(count - 1, 1), padding=0.02)

    def show_frame(self, index: int, image: np.ndarray | None) -> None:
        """Frame ``index`` is the one on show (``image``: its pixels when they changed)."""
        self._current = index
        if image is not None:
            self.view.set_frame(image)
        self.slider.blockSignals(True)
        self.slider.setValue(index)
        self.slider.blockSignals(False)
        self.timeline.set_current(index)
        self.descent_plot.current_line.setValue(index)

    def stop(self) -> None:
        self.play_button.setChecked(False)
        self._timer.stop()

    def _play_toggled(self, playing: bool) -> None:
        self.play_button.setText("Pause" if playing else "Play")
        if playing and self._count:
            self._timer.start()
        else:
            self._timer.stop()

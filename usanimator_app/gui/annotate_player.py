"""The right side of the Annotate tab: the frame with its points, playback, the frame slider, the
timeline with its legend, the bladder-neck descent plot, and the keys that move between frames."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QEvent, QObject, Qt, QTimer, Signal
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QSlider, QVBoxLayout, QWidget

from usanimator_app.gui.annotate_panels import DescentPlot, timeline_legend
from usanimator_app.gui.annotation_editor import AnnotationTimeline, AnnotationView
from usanimator_app.gui.state import DEFAULT_FPS
from usanimator_app.gui.widgets import push_button

PAGE_FRAMES = 10


class FramePlayer(QWidget):
    """Shows one frame of a clip; ``frame_requested(index)`` when the slider, the timeline, a key
    or playback asks for another (the tab decides and calls :meth:`show_frame`).

    Keys (:meth:`key`; on the view and the timeline): ←/→ one frame, PgUp/PgDn ten, Home/End,
    Space plays; 1–9 give ``landmark_key(index)``, Delete and Backspace ``delete_key``.
    """

    frame_requested = Signal(int)
    landmark_key = Signal(int)  # 0 for key 1
    delete_key = Signal()

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.view = AnnotationView()
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setPageStep(PAGE_FRAMES)
        self.play_button = QPushButton("Play")
        self.play_button.setCheckable(True)
        self.fit_button = push_button("Fit", "Show the whole frame (the wheel zooms, dragging beside the points pans)")
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
        for watched in (self.view, self.timeline):
            watched.installEventFilter(self)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 (Qt override)
        if event.type() == QEvent.Type.KeyPress and self.key(event):
            return True
        return super().eventFilter(watched, event)

    def key(self, event: QKeyEvent) -> bool:
        """Act on a key press (see the class); True when the key was used."""
        if event.modifiers() & ~Qt.KeyboardModifier.KeypadModifier or not self._count:
            return False
        key = event.key()
        steps = {Qt.Key.Key_Left: -1, Qt.Key.Key_Right: 1, Qt.Key.Key_PageUp: -PAGE_FRAMES, Qt.Key.Key_PageDown: PAGE_FRAMES}
        if key in steps:
            self.frame_requested.emit(self._current + steps[key])
        elif key in (Qt.Key.Key_Home, Qt.Key.Key_End):
            self.frame_requested.emit(0 if key == Qt.Key.Key_Home else self._count - 1)
        elif Qt.Key.Key_1 <= key <= Qt.Key.Key_9:
            self.landmark_key.emit(key - Qt.Key.Key_1)
        elif key in (Qt.Key.Key_Delete, Qt.Key.Key_Backspace):
            self.delete_key.emit()
        elif key == Qt.Key.Key_Space:
            self.play_button.toggle()
        else:
            return False
        return True

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

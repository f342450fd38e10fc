"""Reusable widgets: a drop target for files, input panels that accept them, and image views with point overlays."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6.QtCore import QEvent, QObject, Qt, Signal
from PySide6.QtGui import QDropEvent, QImage, QPixmap
from PySide6.QtWidgets import (
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSlider,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)
import pyqtgraph as pg  # after PySide6, so pyqtgraph uses it

from usanimator_app.core.compose import KEYPOINT_COLOUR, LANDMARK_COLOURS
from usanimator_app.core.media import MediaInfo

THUMBNAIL_SIZE = (260, 120)
GRID_COLOUR = (80, 255, 120, 170)  # RGBA of the deformation grid


def display_name(landmark: str) -> str:
    """'bladder_neck' -> 'bladder neck'."""
    return landmark.replace("_", " ")


def landmark_colour(index: int) -> tuple[int, int, int]:
    """The RGB colour of landmark ``index``, as in exported frames."""
    return LANDMARK_COLOURS[index % len(LANDMARK_COLOURS)]


def to_qimage(frame: np.ndarray) -> QImage:
    """uint8 (H, W) gray or (H, W, 3) RGB -> a QImage that owns a copy of the pixels."""
    frame = np.ascontiguousarray(frame)
    height, width = frame.shape[:2]
    if frame.ndim == 2:
        return QImage(frame.data, width, height, width, QImage.Format.Format_Grayscale8).copy()
    return QImage(frame.data, width, height, 3 * width, QImage.Format.Format_RGB888).copy()


def wrapped_label(text: str = "", colour: str = "") -> QLabel:
    """A label whose text wraps (in ``colour`` when given)."""
    label = QLabel(text)
    label.setWordWrap(True)
    if colour:
        label.setStyleSheet(f"color: {colour}")
    return label


def push_button(text: str, tip: str) -> QPushButton:
    """A push button with its tooltip."""
    button = QPushButton(text)
    button.setToolTip(tip)
    return button


def row(first: QWidget, *rest: QWidget) -> QHBoxLayout:
    """A row of widgets in which ``first`` takes the room the others leave."""
    layout = QHBoxLayout()
    layout.addWidget(first, 1)
    for widget in rest:
        layout.addWidget(widget)
    return layout


def describe_media(info: MediaInfo) -> str:
    """The facts of an opened file in one or two short lines."""
    kind = {"dicom": "DICOM", "video": "video", "image": "image", "image_folder": "image folder"}.get(info.kind, info.kind)
    parts = [kind, f"{info.frames} frame{'s' if info.frames != 1 else ''}", f"{info.width}×{info.height} px"]
    if info.fps:
        parts.append(f"{info.fps:g} fps")
    if info.pixel_spacing_mm:
        parts.append("spacing {:.3g}×{:.3g} mm".format(*info.pixel_spacing_mm))
    else:
        parts.append("spacing unknown")
    return " · ".join(parts)


def _local_files(event: QDropEvent) -> list[Path]:
    """The local files and folders that a drag carries (none for web links or text)."""
    mime = event.mimeData()
    if not mime.hasUrls():
        return []
    return [Path(url.toLocalFile()) for url in mime.urls() if url.isLocalFile()]


class FileDrops(QObject):
    """Makes ``widget`` a drop target for local files and folders: ``dropped(paths)`` after a drop.

    While the widget does not accept drops (``setAcceptDrops(False)``, e.g. locked during a job) it
    takes none."""

    dropped = Signal(list)

    def __init__(self, widget: QWidget):
        super().__init__(widget)
        widget.setAcceptDrops(True)
        widget.installEventFilter(self)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 (Qt override)
        if event.type() not in (QEvent.Type.DragEnter, QEvent.Type.Drop):
            return False
        files = _local_files(event) if watched.acceptDrops() else []
        if not files:
            event.ignore()
            return True
        event.acceptProposedAction()
        if event.type() == QEvent.Type.Drop:
            self.dropped.emit(files)
        return True


class MediaPanel(QGroupBox):
    """An input: drop target, Open button, thumbnail, facts and (for many frames) a frame picker."""

    file_dropped = Signal(Path)
    open_clicked = Signal()
    frame_changed = Signal(int)

    def __init__(self, title: str, hint: str, pick_frame: bool = False, parent: QWidget | None = None):
        super().__init__(title, parent)
        FileDrops(self).dropped.connect(lambda files: self.file_dropped.emit(files[0]))
        self.thumbnail = QLabel(hint)
        self.thumbnail.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.thumbnail.setMinimumSize(*THUMBNAIL_SIZE)
        self.thumbnail.setWordWrap(True)
        self.thumbnail.setStyleSheet("QLabel { border: 2px dashed #888; border-radius: 6px; color: #666; }")
        self.facts = wrapped_label("")
        self.facts.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.open_button = QPushButton("Open…")
        self.open_button.clicked.connect(self.open_clicked)
        layout = QVBoxLayout(self)
        layout.addWidget(self.thumbnail)
        layout.addWidget(self.facts)
        self.frame_spin = QSpinBox()
        self.frame_slider = QSlider(Qt.Orientation.Horizontal)
        self._picker = QWidget()
        if pick_frame:
            picker = QHBoxLayout(self._picker)
            picker.setContentsMargins(0, 0, 0, 0)
            picker.addWidget(QLabel("Frame"))
            picker.addWidget(self.frame_spin)
            picker.addWidget(self.frame_slider, 1)
            self.frame_spin.valueChanged.connect(self.frame_slider.setValue)
            self.frame_slider.valueChanged.connect(self.frame_spin.setValue)
            self.frame_spin.valueChanged.connect(self.frame_changed)
            layout.addWidget(self._picker)
        self._picker.setVisible(False)
        layout.addWidget(self.open_button)

    def show_media(self, path: Path, info: MediaInfo, frame: np.ndarray) -> None:
        """Show a newly opened file: facts, thumbnail and frame picker range (back to frame 0)."""
        self.facts.setText(f"<b>{path.name}</b><br>{describe_media(info)}")
        self.facts.setToolTip(str(path))
        for control in (self.frame_spin, self.frame_slider):
            control.blockSignals(True)
            control.setRange(0, max(0, info.frames - 1))
            control.setValue(0)
            control.blockSignals(False)
        self._picker.setVisible(info.frames > 1 and self.layout().indexOf(self._picker) >= 0)
        self.show_frame(frame)

    def show_frame(self, frame: np.ndarray) -> None:
        pixmap = QPixmap.fromImage(to_qimage(frame))
        self.thumbnail.setPixmap(
            pixmap.scaled(*THUMBNAIL_SIZE, Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.SmoothTransformation)
        )

    def set_locked(self, locked: bool) -> None:
        """While a run or export uses the file: no opening, dropping or frame picking (preview stays sharp)."""
        self.setAcceptDrops(not locked)
        self.open_button.setEnabled(not locked)
        self._picker.setEnabled(not locked)

    def frame_index(self) -> int:
        return self.frame_spin.value()


class FrameView(pg.GraphicsLayoutWidget):
    """A titled image with optional keypoints, labelled landmarks and a grid drawn over it.

    Points are image pixels (x, y) with (0, 0) the centre of the top-left pixel.
    """

    def __init__(self, title: str, parent: QWidget | None = None):
        super().__init__(parent)
        self.setBackground("k")
        self.setMinimumSize(180, 180)
        self.title = self.addLabel(title, row=0, col=0, color="#ddd", size="10pt")
        self.box = self.addViewBox(row=1, col=0, lockAspect=True, invertY=True, enableMenu=False)
        self.image = pg.ImageItem(axisOrder="row-major")
        self.grid = pg.PlotCurveItem(connect="finite", pen=pg.mkPen(GRID_COLOUR, width=1))
        self.keypoints = pg.ScatterPlotItem(size=8, pen=pg.mkPen("k", width=1), brush=pg.mkBrush(*KEYPOINT_COLOUR))
        self.landmarks = pg.ScatterPlotItem(size=16, symbol="+", pen=None)
        for z, item in enumerate((self.image, self.grid, self.keypoints, self.landmarks)):
            item.setZValue(2 * z)  # labels (z 3) go under the points, never hide a cross
            self.box.addItem(item)
        self._labels: list[pg.TextItem] = []
        self._labels_shown = 0
        self._shape: tuple[int, ...] | None = None

    def set_title(self, text: str) -> None:
        if text != self.title.text:
            self.title.setText(text, color="#ddd", size="10pt")

    def set_image(self, image: np.ndarray | None, levels=(0, 255), colormap: str | None = None) -> None:
        """Show ``image`` (uint8 gray / RGB or float with ``levels``); None clears the view."""
        if image is None:
            self.image.clear()
            self._shape = None
            return
        self.image.setImage(image, levels=None if image.ndim == 3 else levels, autoLevels=False)
        if colormap:
            self.image.setColorMap(colormap)
        if image.shape != self._shape:
            self._shape = image.shape
            self.box.autoRange(padding=0.01)

    def set_points(self, keypoints: np.ndarray | None, landmarks: np.ndarray | None, names: tuple[str, ...] = ()) -> None:
        """Place the overlays (None hides them); landmark labels use ``names``."""
        self.keypoints.setData(pos=_centred(keypoints))
        landmark_points = _centred(landmarks)
        colours = [landmark_colour(i) for i in range(len(landmark_points))]
        self.landmarks.setData(
            pos=landmark_points,
            pen=[pg.mkPen(c, width=2.5) for c in colours],
            brush=[pg.mkBrush(c) for c in colours],
        )
        while len(self._labels) < len(names):
            index = len(self._labels)  # even labels above right of their cross, odd ones below left
            odd = index % 2
            label = pg.TextItem(color=landmark_colour(index), fill=pg.mkBrush(0, 0, 0, 150), anchor=(odd, 1 - odd))
            label.setZValue(3)
            self.box.addItem(label)
            self._labels.append(label)
        self._labels_shown = 0 if landmarks is None else min(len(landmarks), len(names))
        pixel_x, pixel_y = self.box.viewPixelSize()  # labels sit 10 screen pixels off their cross
        for index, label in enumerate(self._labels):
            label.setVisible(index < self._labels_shown and self.landmarks.isVisible())
            if index < self._labels_shown:
                x, y = landmark_points[index]
                label.setText(display_name(names[index]))
                side = -1 if index % 2 else 1
                label.setPos(x + side * 10 * pixel_x, y - side * 6 * pixel_y)

    def set_grid(self, x: np.ndarray | None, y: np.ndarray | None) -> None:
        """Polylines separated by NaN, in model pixels; None clears."""
        if x is None:
            self.grid.setData([], [])
        else:
            self.grid.setData(x + 0.5, y + 0.5)

    def show_overlays(self, keypoints: bool, landmarks: bool, grid: bool) -> None:
        self.keypoints.setVisible(keypoints)
        self.landmarks.setVisible(landmarks)
        for index, label in enumerate(self._labels):
            label.setVisible(landmarks and index < self._labels_shown)
        self.grid.setVisible(grid)

    def reset(self) -> None:
        """Empty the view (not ``clear``: GraphicsLayoutWidget binds that name to removing its items)."""
        self.set_image(None)
        self.set_points(None, None)
        self.set_grid(None, None)


def _centred(points: np.ndarray | None) -> np.ndarray:
    """Pixel centres -> ImageItem coordinates (pixel (0, 0) spans [0, 1])."""
    if points is None:
        return np.zeros((0, 2))
    return np.asarray(points, dtype=float).reshape(-1, 2) + 0.5


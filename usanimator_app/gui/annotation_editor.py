"""Editing one clip's landmarks: the frame view where points are placed and dragged, and the
timeline strip that shows which frames hold points (the edits themselves: ``state.AnnotationEdits``).
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QMouseEvent, QPainter, QPaintEvent
from PySide6.QtWidgets import QWidget
import pyqtgraph as pg  # after PySide6, so pyqtgraph uses it

from usanimator_app.core.annotations import LandmarkPoint
from usanimator_app.gui.widgets import display_name, landmark_colour

HIT_RADIUS = 10  # screen pixels: a press this close to a point grabs it
STATE_COLOURS = {  # timeline colours, RGB
    "annotated": (70, 200, 110),
    "partial": (40, 120, 70),
    "interpolated": (90, 150, 255),
    "predicted": (255, 165, 40),
    "tracked": (200, 110, 255),
    "none": (48, 48, 48),
}


class _EditBox(pg.ViewBox):
    """A ViewBox whose left clicks and drags on points edit; other gestures zoom and pan as usual."""

    def __init__(self, view: "AnnotationView"):
        super().__init__(lockAspect=True, invertY=True, enableMenu=False)
        self._view = view
        self._dragged: str | None = None

    def mouseClickEvent(self, ev) -> None:  # noqa: N802 (pyqtgraph override)
        if ev.button() != Qt.MouseButton.LeftButton:
            super().mouseClickEvent(ev)
            return
        ev.accept()
        self._view.clicked(ev.scenePos())

    def mouseDragEvent(self, ev, axis=None) -> None:  # noqa: N802 (pyqtgraph override)
        if ev.button() == Qt.MouseButton.LeftButton and ev.isStart():
            self._dragged = self._view.point_at(ev.buttonDownScenePos())
        if self._dragged is None or ev.button() != Qt.MouseButton.LeftButton:
            super().mouseDragEvent(ev, axis)
            return
        ev.accept()
        self._view.dragged(self._dragged, ev.scenePos(), ev.isFinish())
        if ev.isFinish():
            self._dragged = None


class AnnotationView(pg.GraphicsView):
    """One frame (gray) with its landmarks: click to place the chosen one, drag a point to move it.

    Coordinates are original-frame pixels, (0, 0) the centre of the top-left pixel. Wheel zooms,
    dragging elsewhere pans, right-drag zooms one axis.
    """

    point_placed = Signal(str, float, float)  # the chosen landmark, clicked where no point is
    point_moved = Signal(str, float, float)  # a point dragged and released
    landmark_picked = Signal(str)  # a click on another landmark's point

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent, background="k")
        self.setAcceptDrops(False)  # dropped files go to the tab
        self.box = _EditBox(self)
        self.setCentralItem(self.box)
        self.image = pg.ImageItem(axisOrder="row-major")
        self.markers = pg.ScatterPlotItem(pxMode=True)
        self.ring = pg.ScatterPlotItem(pxMode=True, symbol="o", size=24, pen=pg.mkPen("w", width=1.5), brush=None)
        for item in (self.image, self.ring, self.markers):
            self.box.addItem(item)
        self._labels: dict[str, pg.TextItem] = {}
        self._names: list[str] = []
        self._points: dict[str, LandmarkPoint] = {}
        self._chosen = ""
        self._size: tuple[int, int] | None = None

    def set_frame(self, frame: np.ndarray) -> None:
        """Show a (H, W) uint8 frame; the view fits it when its size changes."""
        self.image.setImage(frame, levels=(0, 255), autoLevels=False)
        size = (frame.shape[1], frame.shape[0])
        if size != self._size:
            self._size = size
            self.image.setRect(QRectF(-0.5, -0.5, *size))
            self.fit()

    def fit(self) -> None:
        if self._size is not None:
            self.box.setRange(QRectF(-0.5, -0.5, *self._size), padding=0.02)

    def set_points(self, names: list[str], points: dict[str, LandmarkPoint], chosen: str) -> None:
        """Draw ``points`` (name -> point) of the landmark set ``names``; ``chosen`` gets a ring."""
        self._names, self._points, self._chosen = list(names), dict(points), chosen
        self._redraw()

    def scene_position(self, x: float, y: float) -> QPointF:
        """Scene (= viewport) position of frame pixel (x, y)."""
        return self.box.mapViewToScene(QPointF(x, y))

    def point_at(self, scene_pos: QPointF) -> str | None:
        """The landmark whose point is nearest to ``scene_pos`` within HIT_RADIUS, else None."""
        best, best_distance = None, float(HIT_RADIUS)
        for name, point in self._points.items():
            delta = self.scene_position(point.x, point.y) - scene_pos
            distance = (delta.x() ** 2 + delta.y() ** 2) ** 0.5
            if distance <= best_distance:
                best, best_distance = name, distance
        return best

    def clicked(self, scene_pos: QPointF) -> None:
        hit = self.point_at(scene_pos)
        if hit is not None:
            self.landmark_picked.emit(hit)
            return
        inside = self._inside(self.box.mapSceneToView(scene_pos))
        if inside is not None and self._chosen:
            self.point_placed.emit(self._chosen, *inside)

    def dragged(self, name: str, scene_pos: QPointF, finished: bool) -> None:
        """Move the dragged point with the mouse; on release, report where it ended."""
        position = self._clamped(self.box.mapSceneToView(scene_pos))
        if position is None:
            return
        self._points[name] = LandmarkPoint(*position, "manual")
        self._redraw()
        if finished:
            self.point_moved.emit(name, *position)

    def _inside(self, position: QPointF) -> tuple[float, float] | None:
        if self._size is None:
            return None
        x, y = position.x(), position.y()
        return (x, y) if -0.5 <= x <= self._size[0] - 0.5 and -0.5 <= y <= self._size[1] - 0.5 else None

    def _clamped(self, position: QPointF) -> tuple[float, float] | None:
        if self._size is None:
            return None
        return (min(max(position.x(), -0.5), self._size[0] - 0.5), min(max(position.y(), -0.5), self._size[1] - 0.5))

    def _redraw(self) -> None:
        spots = []
        for index, name in enumerate(self._names):
            point = self._points.get(name)
            if point is None:
                continue
            colour = landmark_colour(index)
            if point.origin in ("manual", "ground_truth"):
                style = dict(symbol="o", size=11, pen=pg.mkPen("w", width=1.5), brush=pg.mkBrush(*colour))
            elif point.origin == "interpolated":
                style = dict(symbol="o", size=11, pen=pg.mkPen(colour, width=2.5), brush=pg.mkBrush(0, 0, 0, 0))
            elif point.origin == "tracked":  # hollow square until confirmed
                style = dict(symbol="s", size=12, pen=pg.mkPen(colour, width=2.5), brush=pg.mkBrush(0, 0, 0, 0))
            else:  # predicted: hollow diamond until confirmed
                style = dict(symbol="d", size=14, pen=pg.mkPen(colour, width=2.5), brush=pg.mkBrush(0, 0, 0, 0))
            spots.append(dict(pos=(point.x, point.y), data=name, **style))
        self.markers.setData(spots=spots)
        chosen = self._points.get(self._chosen)
        self.ring.setData(pos=[] if chosen is None else [(chosen.x, chosen.y)])
        for name in list(self._labels):
            if name not in self._points or name not in self._names:
                self.box.removeItem(self._labels.pop(name))
        for index, name in enumerate(self._names):
            point = self._points.get(name)
            if point is None:
                continue
            label = self._labels.get(name)
            if label is None:
                label = pg.TextItem(fill=pg.mkBrush(0, 0, 0, 150))
                self.box.addItem(label)
                self._labels[name] = label
            label.setAnchor((1, 0) if index % 2 == 0 else (0, 1))  # diagonally apart: lower left / upper right
            suffix = "" if point.origin in ("manual", "ground_truth") else f" ({point.origin})"
            label.setText(display_name(name) + suffix, color=landmark_colour(index))
            label.setPos(point.x, point.y)


class AnnotationTimeline(QWidget):
    """A strip with one cell per frame coloured by its state (``frame_states``); click or drag to seek."""

    frame_clicked = Signal(int)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setMinimumHeight(18)
        self.setMaximumHeight(22)
        self.setToolTip("Frames: green annotated (dark: some landmarks missing), blue interpolated, "
                        "orange predicted, purple tracked; click to go to a frame")
        self._states: list[str] = []
        self._current = 0

    def set_states(self, states: list[str]) -> None:
        self._states = list(states)
        self.update()

    def set_current(self, frame: int) -> None:
        self._current = frame
        self.update()

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802 (Qt override)
        painter = QPainter(self)
        width, height, count = self.width(), self.height(), len(self._states)
        painter.fillRect(self.rect(), QColor(*STATE_COLOURS["none"]))
        if count == 0:
            return
        step = width / count
        for frame, state in enumerate(self._states):
            if state != "none":
                left = round(frame * step)
                painter.fillRect(left, 0, max(1, round((frame + 1) * step) - left), height, QColor(*STATE_COLOURS[state]))
        left = round(self._current * step)
        painter.setPen(QColor("white"))
        painter.drawRect(left, 0, max(2, round(step)), height - 1)

    def mousePressEvent(self, event: QMouseEvent) -> None:  # noqa: N802 (Qt override)
        self._seek(event)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:  # noqa: N802 (Qt override)
        if event.buttons() & Qt.MouseButton.LeftButton:
            self._seek(event)

    def _seek(self, event: QMouseEvent) -> None:
        if self._states:
            frame = int(event.position().x() / max(self.width(), 1) * len(self._states))
            self.frame_clicked.emit(min(max(frame, 0), len(self._states) - 1))

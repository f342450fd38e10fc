"""What the Train tab shows of a run: the loss curves and the preview images."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import QPixmap
from PySide6.QtWidgets import QGroupBox, QHBoxLayout, QLabel, QVBoxLayout, QWidget
import pyqtgraph as pg  # after PySide6, so pyqtgraph uses it

SAMPLE_NAMES = ("source", "driving", "content", "texture", "final", "occlusion")
SAMPLE_SIZE = 120


class LossPlot(pg.PlotWidget):
    """A curve per loss term on a log axis (zeros are gaps), with a legend."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent, background="k")
        self.curves: dict[str, pg.PlotDataItem] = {}
        self.setLogMode(y=True)
        self.setLabel("bottom", "step")
        self.setLabel("left", "loss")
        self.showGrid(x=True, y=True, alpha=0.25)
        self.addLegend(offset=(-10, 10), labelTextColor="#ddd", brush=(0, 0, 0, 170), colCount=3)

    def show_history(self, history: dict[str, tuple[list[int], list[float]]]) -> None:
        """Draw ``history`` (term -> (steps, values)); terms no longer in it disappear."""
        for name in [name for name in self.curves if name not in history]:
            self.removeItem(self.curves.pop(name))
        for index, (name, (steps, values)) in enumerate(history.items()):
            curve = self.curves.get(name)
            if curve is None:
                curve = self.plot([], [], name=name, pen=pg.mkPen(pg.intColor(index, hues=9), width=1.5), connect="finite")
                self.curves[name] = curve
            curve.setData(steps, values, connect="finite")


class SamplePreviews(QGroupBox):
    """The trainer's latest sample images (source, driving, content, texture, final, occlusion)."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__("Previews", parent)
        row = QHBoxLayout()
        row.setContentsMargins(0, 0, 0, 0)
        self.labels: dict[str, QLabel] = {}
        for name in SAMPLE_NAMES:
            image = QLabel("—")
            image.setFixedSize(SAMPLE_SIZE, SAMPLE_SIZE)
            image.setAlignment(Qt.AlignmentFlag.AlignCenter)
            image.setStyleSheet("background: black; color: #666")
            caption = QLabel(name)
            caption.setAlignment(Qt.AlignmentFlag.AlignCenter)
            cell = QVBoxLayout()
            cell.addWidget(image)
            cell.addWidget(caption)
            row.addLayout(cell)
            self.labels[name] = image
        row.addStretch(1)
        QVBoxLayout(self).addLayout(row)

    def clear(self) -> None:
        for label in self.labels.values():
            label.clear()
            label.setText("—")

    def show_samples(self, samples: dict) -> None:
        """name -> PNG path, as the trainer reports them (``samples/step_0000100_final.png``)."""
        for name, label in self.labels.items():
            pixmap = QPixmap(samples.get(name, ""))
            if pixmap.isNull():
                label.clear()
                label.setText("—")
            else:
                label.setPixmap(pixmap.scaled(SAMPLE_SIZE, SAMPLE_SIZE, Qt.AspectRatioMode.KeepAspectRatio,
                                              Qt.TransformationMode.SmoothTransformation))
        step = Path(next(iter(samples.values()))).name.split("_")[1] if samples else ""
        self.setTitle(f"Previews (step {int(step)})" if step.isdigit() else "Previews")

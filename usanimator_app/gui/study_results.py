"""The results page: mean realism per rater and clip type (the paper's Table 2), the correct-guess
rate with its Wilson interval, a bar chart, and *Save* (CSV, Markdown, PNG into the study folder)."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QRectF, Qt, Signal
from PySide6.QtGui import QColor, QImage, QPainter, QPen, QPixmap
from PySide6.QtWidgets import (
    QHeaderView,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from usanimator_app.core.atomic import atomic_path, write_text_atomic
from usanimator_app.core.study import ROWS, SCORES, StudyResults
from usanimator_app.gui.widgets import row, wrapped_label

BAR_COLOURS = {"real": QColor(70, 130, 200), "synthetic": QColor(230, 140, 40)}
RESULT_FILES = ("results.csv", "results.md", "results.png")


def chart_image(results: StudyResults, width: int = 640, height: int = 320) -> QImage:
    """Grouped bars: mean realism of real and synthetic clips for each rater and their average."""
    image = QImage(width, height, QImage.Format.Format_RGB32)
    image.fill(QColor("white"))
    painter = QPainter(image)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    left, top, right, bottom = 40, 30, width - 10, height - 30
    scale = (bottom - top) / SCORES[-1]
    painter.setPen(QPen(QColor(200, 200, 200)))
    for score in range(0, SCORES[-1] + 1):
        y = bottom - score * scale
        painter.drawLine(left, round(y), right, round(y))
        painter.setPen(QColor("black"))
        painter.drawText(QRectF(0, y - 8, left - 6, 16), Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter, str(score))
        painter.setPen(QPen(QColor(200, 200, 200)))
    groups = [(f"Rater {r + 1}", {kind: results.means[kind][r] for kind in BAR_COLOURS}) for r in range(results.raters)]
    groups.append(("Average", {kind: results.averages[kind] for kind in BAR_COLOURS}))
    group_width = (right - left) / len(groups)
    bar_width = group_width * 0.35
    for number, (label, means) in enumerate(groups):
        x = left + number * group_width + group_width * 0.15
        for kind, mean in means.items():
            if mean is not None:
                painter.fillRect(QRectF(x, bottom - mean * scale, bar_width, mean * scale), BAR_COLOURS[kind])
            x += bar_width
        painter.setPen(QColor("black"))
        painter.drawText(QRectF(left + number * group_width, bottom + 4, group_width, 20), Qt.AlignmentFlag.AlignHCenter, label)
    x = left
    for kind, label in (row for row in ROWS if row[0] in BAR_COLOURS):
        painter.fillRect(QRectF(x, 8, 14, 14), BAR_COLOURS[kind])
        painter.drawText(QRectF(x + 18, 6, 100, 18), Qt.AlignmentFlag.AlignVCenter, label)
        x += 110
    painter.drawText(QRectF(x, 6, right - x, 18), Qt.AlignmentFlag.AlignVCenter, "mean realism (1–5)")
    painter.end()
    return image


def save_results(results: StudyResults, folder: Path) -> list[Path]:
    """Write results.csv, results.md and results.png (the chart) into ``folder``, each atomically."""
    csv_path, markdown_path, png_path = (folder / name for name in RESULT_FILES)
    write_text_atomic(csv_path, results.to_csv())
    write_text_atomic(markdown_path, results.to_markdown() + f"\n![Mean realism per rater]({png_path.name})\n")
    with atomic_path(png_path) as tmp:
        if not chart_image(results).save(str(tmp), "PNG"):
            raise OSError(f"{png_path}: the chart could not be written")
    return [csv_path, markdown_path, png_path]


class ResultsView(QWidget):
    """The table, the guesses line, the chart and Save / Back."""

    save_requested = Signal()
    back_requested = Signal()

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.table = QTableWidget()
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.guesses = wrapped_label("")
        self.counts = QLabel("")
        self.chart = QLabel("")
        self.chart.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.saved = wrapped_label("")
        self.saved.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        save, back = QPushButton("Save CSV, Markdown and chart"), QPushButton("Back")
        save.clicked.connect(self.save_requested)
        back.clicked.connect(self.back_requested)
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel("<b>Mean realism</b> (1 artificial … 5 real), per rater and clip type"))
        layout.addWidget(self.table)
        layout.addWidget(self.counts)
        layout.addWidget(self.guesses)
        layout.addWidget(self.chart, 1)
        layout.addLayout(row(self.saved, save, back))

    def show_results(self, results: StudyResults) -> None:
        columns = [f"Rater {r}" for r in range(1, results.raters + 1)] + ["Average"]
        self.table.setRowCount(len(ROWS))
        self.table.setColumnCount(len(columns))
        self.table.setHorizontalHeaderLabels(columns)
        self.table.setVerticalHeaderLabels([label for _row, label in ROWS])
        for i, (row, _label) in enumerate(ROWS):
            for j, mean in enumerate([*results.means[row], results.averages[row]]):
                item = QTableWidgetItem("–" if mean is None else f"{mean:.2f}")
                item.setTextAlignment(Qt.AlignmentFlag.AlignCenter)
                self.table.setItem(i, j, item)
        self.table.setFixedHeight(self.table.horizontalHeader().sizeHint().height() + self.table.verticalHeader().length()
                                  + 2 * self.table.frameWidth())
        self.counts.setText("Ratings: " + ", ".join(f"rater {r}: {n}" for r, n in enumerate(results.counts["all"], start=1)))
        self.guesses.setText(results.guess_text())
        self.chart.setPixmap(QPixmap.fromImage(chart_image(results)))
        self.saved.setText("")

"""The Annotate tab's panels: the Clip, Landmarks, Edit, Track and Bladder-neck descent groups of
its left column and the descent plot under the frame. They hold widgets only; the tab fills and
wires them."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QIcon, QPixmap
from PySide6.QtWidgets import (
    QComboBox,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)
import pyqtgraph as pg  # after PySide6, so pyqtgraph uses it

from usanimator_app.gui.annotation_editor import STATE_COLOURS
from usanimator_app.gui.widgets import display_name, landmark_colour, push_button, row, wrapped_label


def timeline_legend() -> QLabel:
    """The timeline's colours in words."""
    names = (("annotated", "annotated"), ("partial", "some missing"), ("interpolated", "interpolated"),
             ("predicted", "predicted"), ("tracked", "tracked"))
    label = QLabel(" ".join(f"<span style='color:rgb{STATE_COLOURS[key]}'>■</span> {text}&nbsp;&nbsp;"
                            for key, text in names))
    label.setStyleSheet("color: #888")
    return label


def _hint(text: str, colour: str = "#888") -> QLabel:
    """A grey (or ``colour``) wrapped label: a note beside the controls."""
    return wrapped_label(text, colour)


class ClipBox(QGroupBox):
    """Open…, the clip's name and facts, where its edits are saved, and the loading progress."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__("Clip", parent)
        self.open_button = push_button("Open clip…", "Any clip or image the app reads; or drop one on this tab")
        self.clip_label = wrapped_label("Open or drop a clip to annotate.")
        self.facts_label = wrapped_label("")
        self.sidecar_label = _hint("")
        self.load_progress = QProgressBar()
        self.load_progress.setFormat("Loading %v / %m frames")
        self.load_progress.hide()
        layout = QVBoxLayout(self)
        for widget in (self.open_button, self.clip_label, self.facts_label, self.sidecar_label, self.load_progress):
            layout.addWidget(widget)

    def show_clip(self, name: str, facts: str, sidecar: Path, spacing: tuple[float, float] | None, spacing_from: str) -> None:
        """An opened clip: its name, facts, where edits go and its pixel spacing (from the 'sidecar' or 'file')."""
        self.clip_label.setText(f"<b>{name}</b>")
        self.facts_label.setText(facts)
        self.sidecar_label.setText(
            f"Every edit is saved to {sidecar.name}" + ("" if sidecar.exists() else " (created on the first edit)") + ". "
            + ("Pixel spacing {:.3g} × {:.3g} mm (from the {}).".format(*spacing, spacing_from) if spacing else "No pixel spacing.")
        )


class LandmarkBox(QGroupBox):
    """The landmark set (a colour swatch and a number key each) and the line that changes it."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__("Landmarks", parent)
        self.landmark_list = QListWidget()
        self.landmark_list.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.names_edit = QLineEdit()
        self.names_edit.setToolTip("The landmark set of this clip, separated by commas; also used for new clips")
        self.names_apply = QPushButton("Set")
        layout = QVBoxLayout(self)
        layout.addWidget(self.landmark_list)
        layout.addWidget(_hint("Click the frame to place the chosen landmark, drag a point to move it. "
                               "Keys: 1–9 choose, ←/→ frame, PgUp/PgDn ±10, Home/End, Delete, Space plays."))
        layout.addLayout(row(self.names_edit, self.names_apply))

    def show_names(self, names: list[str], chosen: int) -> None:
        """List ``names`` with row ``chosen`` current (no row-changed signal) and put them in the line."""
        self.landmark_list.blockSignals(True)
        self.landmark_list.clear()
        for index, name in enumerate(names):
            pixmap = QPixmap(12, 12)
            pixmap.fill(QColor(*landmark_colour(index)))
            prefix = f"{index + 1}  " if index < 9 else "    "
            self.landmark_list.addItem(QListWidgetItem(QIcon(pixmap), prefix + display_name(name)))
        self.landmark_list.setCurrentRow(chosen)
        self.landmark_list.blockSignals(False)
        rows = min(len(names), 6)  # no empty rows for a short set, a scroll bar past six
        self.landmark_list.setFixedHeight(rows * self.landmark_list.sizeHintForRow(0) + 2 * self.landmark_list.frameWidth())
        self.names_edit.setText(", ".join(names))

    def shows(self, names: list[str]) -> bool:
        """True when the list and the line show ``names``."""
        return self.landmark_list.count() == len(names) and self.names_edit.text() == ", ".join(names)


class EditBox(QGroupBox):
    """Undo / Redo, Delete, Confirm, Interpolate, Predict (progress, Cancel, its model), CSV."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__("Edit", parent)
        self.undo_button = QPushButton("Undo")
        self.redo_button = QPushButton("Redo")
        self.delete_button = push_button("Delete point", "Remove the chosen landmark on this frame (Delete)")
        self.confirm_button = push_button("Confirm frame",
                                          "Make this frame's predicted, tracked and interpolated points manual ones")
        self.interpolate_button = push_button("Interpolate", "Fill the frames between annotated frames, linearly")
        self.predict_button = push_button("Predict", "Fill the frames without points with the model's landmark heads "
                                          "(shown as diamonds until confirmed)")
        self.cancel_button = QPushButton("Cancel")
        self.import_button = QPushButton("Import CSV…")
        self.export_button = QPushButton("Export CSV…")
        self.predict_progress = QProgressBar()
        self.predict_progress.setFormat("%v / %m frames")
        self.model_label = _hint("")
        self.model_button = push_button("Model…", "The checkpoint Predict uses (default: the Animate tab's model, "
                                                  "else the bundled one)")
        grid = QGridLayout()
        buttons = (self.undo_button, self.redo_button, self.delete_button, self.confirm_button,
                   self.interpolate_button, self.predict_button, self.import_button, self.export_button)
        for index, button in enumerate(buttons):
            grid.addWidget(button, index // 2, index % 2)
        layout = QVBoxLayout(self)
        layout.addLayout(grid)
        layout.addLayout(row(self.predict_progress, self.cancel_button))
        layout.addLayout(row(self.model_label, self.model_button))


class TrackBox(QGroupBox):
    """Method, From / To frames, Track backward / both / forward, Delete tracked from here on, progress."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__("Track", parent)
        self.method = QComboBox()
        self.method.addItem("Optical flow (Lucas-Kanade)", "optical_flow")
        self.method.addItem("Model motion (dense motion)", "model")
        self.method.setToolTip("How points follow the image: OpenCV's pyramidal Lucas-Kanade optical flow "
                               "(default, more accurate on the phantom) or the loaded model's dense motion")
        self.first_spin, self.last_spin = QSpinBox(), QSpinBox()
        self.first_spin.setToolTip("Backward tracking stops at this frame")
        self.last_spin.setToolTip("Forward tracking stops at this frame (the last frame: to the end)")
        self.backward_button = QPushButton("◀ Back")
        self.both_button = QPushButton("Both")
        self.forward_button = QPushButton("Forward ▶")
        for button in (self.backward_button, self.both_button, self.forward_button):
            button.setToolTip("Carry this frame's points over the range; they show as squares until "
                              "confirmed (Confirm frame or a drag). Manual points met on the way are kept "
                              "and tracking goes on from them.")
        self.delete_button = push_button("Delete tracked from here on",
                                         "Remove the chosen landmark's tracked points on this frame and every later one")
        self.note = _hint("", "#c90")
        self.progress = QProgressBar()
        self.progress.setFormat("%v / %m frames")
        self.cancel_button = QPushButton("Cancel")
        grid = QGridLayout()
        grid.addWidget(self.method, 0, 0, 1, 4)
        for column, widget in enumerate((QLabel("From"), self.first_spin, QLabel("to"), self.last_spin)):
            grid.addWidget(widget, 1, column)
        buttons = QHBoxLayout()
        for button in (self.backward_button, self.both_button, self.forward_button):
            buttons.addWidget(button)
        layout = QVBoxLayout(self)
        layout.addLayout(grid)
        layout.addLayout(buttons)
        layout.addWidget(self.delete_button)
        layout.addWidget(self.note)
        layout.addLayout(row(self.progress, self.cancel_button))

    def set_clip(self, count: int) -> None:
        """A clip of ``count`` frames: the range is the whole clip."""
        for spin, value in ((self.first_spin, 0), (self.last_spin, count - 1)):
            spin.setRange(0, count - 1)
            spin.setValue(value)


class DescentBox(QGroupBox):
    """The rest frame, the descent on the frame on show and why it cannot be measured."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__("Bladder-neck descent", parent)
        self.rest_spin = QSpinBox()
        self.rest_spin.setToolTip("The rest frame: descent is measured relative to it")
        self.descent_label = wrapped_label("")
        self.descent_note = _hint("", "#c90")
        rest_row = QHBoxLayout()
        rest_row.addWidget(QLabel("Rest frame"))
        rest_row.addWidget(self.rest_spin, 1)
        layout = QVBoxLayout(self)
        layout.addLayout(rest_row)
        layout.addWidget(self.descent_label)
        layout.addWidget(self.descent_note)

    def set_clip(self, count: int) -> None:
        """A clip of ``count`` frames: the rest frame is frame 0 (no valueChanged)."""
        self.rest_spin.blockSignals(True)
        self.rest_spin.setRange(0, count - 1)
        self.rest_spin.setValue(0)
        self.rest_spin.blockSignals(False)

    def show_descent(self, frame: int, value: float | None, unit: str, notes: list[str] | None = None) -> None:
        """The descent ``value`` on ``frame`` (None: not measured there) and, when given, why it is missing or in px."""
        if notes is not None:
            self.descent_note.setText(" ".join(notes))
        if value is None:
            self.descent_label.setText("")
            return
        direction = "caudal" if value > 0 else "cranial" if value < 0 else "at rest"
        self.descent_label.setText(f"Frame {frame}: <b>{value:+.1f} {unit}</b> ({direction}) "
                                   f"relative to rest frame {self.rest_spin.value()}")


class DescentPlot(pg.PlotWidget):
    """Descent over the clip; the rest frame dashed, the frame on show solid."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent, background="k")
        self.setMaximumHeight(190)
        self.setMinimumHeight(140)
        self.setLabel("bottom", "frame")
        self.showGrid(x=True, y=True, alpha=0.25)
        self.setMenuEnabled(False)
        self.curve = self.plot([], [], pen=pg.mkPen((90, 200, 255), width=2), symbol="o", symbolSize=4,
                               symbolBrush=(90, 200, 255), symbolPen=None)
        self.current_line = pg.InfiniteLine(angle=90, pen=pg.mkPen((255, 255, 255, 120)))
        self.rest_line = pg.InfiniteLine(angle=90, pen=pg.mkPen((255, 200, 0, 160), style=Qt.PenStyle.DashLine))
        self.addItem(self.current_line)
        self.addItem(self.rest_line)

    def show_descent(self, values: dict[int, float], rest: int, unit: str) -> None:
        frames = sorted(values)
        self.curve.setData(frames, [values[f] for f in frames])
        self.rest_line.setValue(rest)
        self.setLabel("left", f"descent ({unit})")

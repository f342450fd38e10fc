"""The Annotate tab: place and drag anatomical landmarks on the frames of a clip, fill the gaps by
interpolation or with a model's landmark heads, and follow the bladder-neck descent.

Every edit is an undoable command saved at once to the clip's sidecar (``core.annotations``), so
closing the window or a crash loses nothing. Frames are decoded once, in gray (what the model sees),
by a background job; Predict runs one keypoint pass per frame in another.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
from PySide6.QtCore import QEvent, QObject, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QColor, QDragEnterEvent, QDropEvent, QIcon, QKeyEvent, QKeySequence, QPixmap, QUndoGroup
from PySide6.QtWidgets import (
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QProgressBar,
    QPushButton,
    QSlider,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)
import pyqtgraph as pg  # after PySide6, so pyqtgraph uses it

from usanimator_app.core.annotation_tools import (
    BLADDER_NECK,
    SYMPHYSIS,
    bladder_neck_descent,
    confirm_frame,
    export_csv,
    frame_states,
    import_csv,
    interpolate_gaps,
    parse_landmark_names,
    prediction_slots,
)
from usanimator_app.core.annotations import (
    DEFAULT_LANDMARKS,
    Annotations,
    LandmarkPoint,
    load_annotations,
    sidecar_path,
)
from usanimator_app.core.errors import UserInputError
from usanimator_app.core.media import MediaSource, open_media
from usanimator_app.core.preprocess import fit_geometry
from usanimator_app.engine.animator import Animator
from usanimator_app.engine.pipeline import default_model_path
from usanimator_app.gui.annotation_editor import STATE_COLOURS, AnnotationDocument, AnnotationTimeline, AnnotationView
from usanimator_app.gui.main_window import TabContext
from usanimator_app.gui.widgets import describe_media, display_name, landmark_colour, local_files
from usanimator_app.gui.workers import Job, JobFunction

CLIP_FILTER = "Clips and images (*.dcm *.dicom *.mp4 *.m4v *.mov *.avi *.mpeg *.mpg *.gif *.png *.jpg *.jpeg *.bmp *.tif *.tiff);;All files (*)"
MODEL_FILTER = "USAnimator checkpoints (*.pt *.pth);;All files (*)"
CSV_FILTER = "CSV files (*.csv);;All files (*)"
PAGE_FRAMES = 10
DEFAULT_FPS = 20.0


@dataclass
class PredictedFrame:
    """One frame's predicted points: landmark -> (x, y) original pixels."""

    frame: int
    points: dict[str, tuple[float, float]]


def load_frames_job(path: Path) -> JobFunction:
    """Yields the opened MediaSource, then every frame in gray (H, W) uint8."""

    def job(should_stop: Callable[[], bool]) -> Iterator[object]:
        media = open_media(path)
        yield media
        yield from media.iter_gray()

    return job


def predict_job(checkpoint: Path, device: str, frames: list[np.ndarray], slots: dict[int, list[str]]) -> JobFunction:
    """Yields the number of frames to predict, then a :class:`PredictedFrame` per frame.

    Frames go to the model as the trainer sends them (``fit_geometry`` on frame 0, then
    ``to_model``), and the landmarks come back through ``points_to_original``.
    """

    def job(should_stop: Callable[[], bool]) -> Iterator[object]:
        animator = Animator(checkpoint, device=device)
        names = animator.landmark_names
        if not names:
            raise UserInputError(f"{checkpoint.name} has no anatomical landmark heads (preset fomm): "
                                 "choose a p, pt or ptg model")
        wanted = {frame: [n for n in slot if n in names] for frame, slot in slots.items()}
        wanted = {frame: slot for frame, slot in wanted.items() if slot}
        if not wanted:
            raise UserInputError(f"{checkpoint.name} predicts {', '.join(names)}: none of them is missing on this clip")
        yield len(wanted)
        geometry = fit_geometry(frames[0], size=animator.image_size, crop_borders=True)
        for frame, slot in wanted.items():
            if should_stop():
                return
            output = animator.keypoints(geometry.to_model(frames[frame]))
            original = geometry.points_to_original(animator.to_pixels(output.landmarks))
            yield PredictedFrame(frame, {n: tuple(float(v) for v in original[names.index(n)]) for n in slot})

    return job


def _swatch(colour: tuple[int, int, int]) -> QIcon:
    pixmap = QPixmap(12, 12)
    pixmap.fill(QColor(*colour))
    return QIcon(pixmap)


def _legend() -> str:
    names = (("annotated", "annotated"), ("partial", "some missing"), ("interpolated", "interpolated"),
             ("predicted", "predicted"))
    return " ".join(
        f"<span style='color:rgb{STATE_COLOURS[key]}'>■</span> {text}&nbsp;&nbsp;" for key, text in names
    )


class AnnotateTab(QWidget):
    """Landmarks on a clip: place, drag, delete, undo; interpolate or predict the gaps; descent plot."""

    clip_loaded = Signal(bool)  # after each load attempt
    predict_ended = Signal(str)  # 'finished' | 'cancelled' | 'failed'

    def __init__(self, context: TabContext, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("Annotate")
        self.setAcceptDrops(True)
        self._context = context
        self._settings = context.settings
        self._prompts = context.prompts
        self.media: MediaSource | None = None
        self.frames: list[np.ndarray] = []
        self.document: AnnotationDocument | None = None
        self.frame = 0
        self._chosen = 0
        self._incoming: tuple[Path, Annotations | None, MediaSource | None, list[np.ndarray]] | None = None
        self._predicted: dict[int, dict[str, tuple[float, float]]] = {}
        self._job: Job | None = None
        self._job_kind = ""
        self._job_outcome = ""
        self._job_message = ""
        saved_model = self._settings.text("annotate/model")
        self._model_path: Path | None = Path(saved_model) if saved_model and Path(saved_model).is_file() else None
        self._undo = QUndoGroup(self)
        self._play_timer = QTimer(self)
        self._play_timer.timeout.connect(self._advance)
        self._build()
        self._show_landmarks()
        self._update_controls()

    # ------------------------------------------------------------------------------------ layout

    def _build(self) -> None:
        self.view = AnnotationView()
        self.view.installEventFilter(self)
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setPageStep(PAGE_FRAMES)
        self.play_button = QPushButton("Play")
        self.play_button.setCheckable(True)
        self.fit_button = QPushButton("Fit")
        self.fit_button.setToolTip("Show the whole frame (the wheel zooms, dragging beside the points pans)")
        self.frame_label = QLabel("No clip")
        self.frame_label.setMinimumWidth(190)
        self.timeline = AnnotationTimeline()
        self.timeline.installEventFilter(self)
        legend = QLabel(_legend())
        legend.setStyleSheet("color: #888")
        self.descent_plot = pg.PlotWidget(background="k")
        self.descent_plot.setMaximumHeight(190)
        self.descent_plot.setMinimumHeight(140)
        self.descent_plot.setLabel("bottom", "frame")
        self.descent_plot.showGrid(x=True, y=True, alpha=0.25)
        self.descent_plot.setMenuEnabled(False)
        self.descent_curve = self.descent_plot.plot([], [], pen=pg.mkPen((90, 200, 255), width=2), symbol="o",
                                                    symbolSize=4, symbolBrush=(90, 200, 255), symbolPen=None)
        self.current_line = pg.InfiniteLine(angle=90, pen=pg.mkPen((255, 255, 255, 120)))
        self.rest_line = pg.InfiniteLine(angle=90, pen=pg.mkPen((255, 200, 0, 160), style=Qt.PenStyle.DashLine))
        self.descent_plot.addItem(self.current_line)
        self.descent_plot.addItem(self.rest_line)

        playback = QHBoxLayout()
        for widget in (self.play_button, self.slider, self.frame_label, self.fit_button):
            playback.addWidget(widget, 1 if widget is self.slider else 0)
        right = QVBoxLayout()
        right.addWidget(self.view, 1)
        right.addLayout(playback)
        right.addWidget(self.timeline)
        right.addWidget(legend)
        right.addWidget(self.descent_plot)

        layout = QHBoxLayout(self)
        left = QWidget()
        left.setFixedWidth(330)
        column = QVBoxLayout(left)
        column.setContentsMargins(0, 0, 4, 0)
        for group in (self._clip_group(), self._landmark_group(), self._edit_group(), self._descent_group()):
            column.addWidget(group)
        column.addStretch(1)
        layout.addWidget(left)
        layout.addLayout(right, 1)

        self.open_action = QAction("Open clip to annotate…", self)
        self.import_action = QAction("Import landmarks (CSV)…", self)
        self.export_action = QAction("Export landmarks (CSV)…", self)
        self.undo_action = QAction("Undo", self, shortcut=QKeySequence.StandardKey.Undo)
        self.redo_action = QAction("Redo", self, shortcut=QKeySequence.StandardKey.Redo)
        for action in (self.undo_action, self.redo_action):
            action.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
            self.addAction(action)

        self.open_action.triggered.connect(self._open_dialog)
        self.open_button.clicked.connect(self._open_dialog)
        self.import_action.triggered.connect(self._import_dialog)
        self.import_button.clicked.connect(self._import_dialog)
        self.export_action.triggered.connect(self._export_dialog)
        self.export_button.clicked.connect(self._export_dialog)
        self.undo_action.triggered.connect(self._undo.undo)
        self.redo_action.triggered.connect(self._undo.redo)
        self.undo_button.clicked.connect(self._undo.undo)
        self.redo_button.clicked.connect(self._undo.redo)
        self._undo.canUndoChanged.connect(self._update_controls)
        self._undo.canRedoChanged.connect(self._update_controls)
        self._undo.indexChanged.connect(self._update_controls)
        self.delete_button.clicked.connect(self.delete_point)
        self.confirm_button.clicked.connect(self.confirm)
        self.interpolate_button.clicked.connect(self.interpolate)
        self.predict_button.clicked.connect(self.predict)
        self.cancel_button.clicked.connect(self.cancel)
        self.model_button.clicked.connect(self._choose_model_dialog)
        self.landmark_list.currentRowChanged.connect(self._landmark_row_changed)
        self.names_apply.clicked.connect(self.apply_landmark_names)
        self.names_edit.returnPressed.connect(self.apply_landmark_names)
        self.rest_spin.valueChanged.connect(self._update_descent)
        self.slider.valueChanged.connect(self.set_frame)
        self.timeline.frame_clicked.connect(self.set_frame)
        self.play_button.toggled.connect(self._play_toggled)
        self.fit_button.clicked.connect(self.view.fit)
        self.view.point_placed.connect(self._point_placed)
        self.view.point_moved.connect(self._point_moved)
        self.view.landmark_picked.connect(self.choose_landmark)

    def _clip_group(self) -> QGroupBox:
        box = QGroupBox("Clip")
        self.open_button = QPushButton("Open clip…")
        self.open_button.setToolTip("Any clip or image the app reads; or drop one on this tab")
        self.clip_label = QLabel("Open or drop a clip to annotate.")
        self.clip_label.setWordWrap(True)
        self.facts_label = QLabel("")
        self.facts_label.setWordWrap(True)
        self.sidecar_label = QLabel("")
        self.sidecar_label.setWordWrap(True)
        self.sidecar_label.setStyleSheet("color: #888")
        self.load_progress = QProgressBar()
        self.load_progress.setFormat("Loading %v / %m frames")
        self.load_progress.hide()
        layout = QVBoxLayout(box)
        for widget in (self.open_button, self.clip_label, self.facts_label, self.sidecar_label, self.load_progress):
            layout.addWidget(widget)
        return box

    def _landmark_group(self) -> QGroupBox:
        box = QGroupBox("Landmarks")
        self.landmark_list = QListWidget()
        self.landmark_list.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        hint = QLabel("Click the frame to place the chosen landmark, drag a point to move it. "
                      "Keys: 1–9 choose, ←/→ frame, PgUp/PgDn ±10, Home/End, Delete, Space plays.")
        hint.setWordWrap(True)
        hint.setStyleSheet("color: #888")
        self.names_edit = QLineEdit()
        self.names_edit.setToolTip("The landmark set of this clip, separated by commas; also used for new clips")
        self.names_apply = QPushButton("Set")
        names_row = QHBoxLayout()
        names_row.addWidget(self.names_edit, 1)
        names_row.addWidget(self.names_apply)
        layout = QVBoxLayout(box)
        layout.addWidget(self.landmark_list)
        layout.addWidget(hint)
        layout.addLayout(names_row)
        return box

    def _edit_group(self) -> QGroupBox:
        box = QGroupBox("Edit")
        self.undo_button = QPushButton("Undo")
        self.redo_button = QPushButton("Redo")
        self.delete_button = QPushButton("Delete point")
        self.delete_button.setToolTip("Remove the chosen landmark on this frame (Delete)")
        self.confirm_button = QPushButton("Confirm frame")
        self.confirm_button.setToolTip("Make this frame's predicted and interpolated points manual ones")
        self.interpolate_button = QPushButton("Interpolate")
        self.interpolate_button.setToolTip("Fill the frames between annotated frames, linearly")
        self.predict_button = QPushButton("Predict")
        self.predict_button.setToolTip("Fill the frames without points with the model's landmark heads "
                                       "(shown as diamonds until confirmed)")
        self.cancel_button = QPushButton("Cancel")
        self.import_button = QPushButton("Import CSV…")
        self.export_button = QPushButton("Export CSV…")
        self.predict_progress = QProgressBar()
        self.predict_progress.setFormat("%v / %m frames")
        self.model_label = QLabel("")
        self.model_label.setWordWrap(True)
        self.model_label.setStyleSheet("color: #888")
        self.model_button = QPushButton("Model…")
        self.model_button.setToolTip("The checkpoint Predict uses (default: the Animate tab's model, else the bundled one)")
        grid = QGridLayout()
        buttons = (self.undo_button, self.redo_button, self.delete_button, self.confirm_button,
                   self.interpolate_button, self.predict_button, self.import_button, self.export_button)
        for index, button in enumerate(buttons):
            grid.addWidget(button, index // 2, index % 2)
        predict_row = QHBoxLayout()
        predict_row.addWidget(self.predict_progress, 1)
        predict_row.addWidget(self.cancel_button)
        model_row = QHBoxLayout()
        model_row.addWidget(self.model_label, 1)
        model_row.addWidget(self.model_button)
        layout = QVBoxLayout(box)
        layout.addLayout(grid)
        layout.addLayout(predict_row)
        layout.addLayout(model_row)
        return box

    def _descent_group(self) -> QGroupBox:
        box = QGroupBox("Bladder-neck descent")
        self.rest_spin = QSpinBox()
        self.rest_spin.setToolTip("The rest frame: descent is measured relative to it")
        self.descent_label = QLabel("")
        self.descent_label.setWordWrap(True)
        self.descent_note = QLabel("")
        self.descent_note.setWordWrap(True)
        self.descent_note.setStyleSheet("color: #c90")
        row = QHBoxLayout()
        row.addWidget(QLabel("Rest frame"))
        row.addWidget(self.rest_spin, 1)
        layout = QVBoxLayout(box)
        layout.addLayout(row)
        layout.addWidget(self.descent_label)
        layout.addWidget(self.descent_note)
        return box

    def menu_actions(self) -> dict[str, list[QAction | None]]:
        return {"File": [None, self.open_action, self.import_action, self.export_action]}

    @property
    def busy(self) -> bool:
        return self._job is not None

    @property
    def landmarks(self) -> list[str]:
        """The landmark set in use: the open clip's, else the one for new sidecars."""
        if self.document is not None:
            return self.document.annotations.landmarks
        saved = self._settings.text("annotate/landmarks")
        try:
            return parse_landmark_names(saved) if saved else list(DEFAULT_LANDMARKS)
        except UserInputError:
            return list(DEFAULT_LANDMARKS)

    @property
    def chosen_landmark(self) -> str:
        names = self.landmarks
        return names[min(self._chosen, len(names) - 1)]

    # ------------------------------------------------------------------------------------- clip

    def load_clip(self, path: Path) -> bool:
        """Start loading a clip and its sidecar; False (with a message) when that cannot start."""
        if self._job is not None:
            self._context.show_message("Wait until the current job has ended.")
            return False
        path = Path(path)
        sidecar = sidecar_path(path)
        try:
            annotations = load_annotations(sidecar) if sidecar.exists() else None
        except (UserInputError, KeyError, ValueError, TypeError, IndexError) as exc:  # a sidecar edited by hand
            problem = str(exc) if isinstance(exc, UserInputError) else f"{sidecar}: not a valid annotation file ({exc!r})"
            self._prompts.error(f"{problem}. Fix or move that file, then open the clip again.")
            self.clip_loaded.emit(False)
            return False
        self._settings.set_folder("annotate", path)
        self._incoming = (path, annotations, None, [])
        self.load_progress.setRange(0, 0)
        self.load_progress.show()
        self._start_job("load", load_frames_job(path), self._load_item)
        return True

    def _load_item(self, item: object) -> None:
        path, annotations, media, frames = self._incoming
        if isinstance(item, MediaSource):
            self._incoming = (path, annotations, item, frames)
            self.load_progress.setRange(0, item.info.frames)
        else:
            frames.append(item)
            self.load_progress.setValue(len(frames))

    def _load_ended(self) -> None:
        path, annotations, media, frames = self._incoming
        self._incoming = None
        self.load_progress.hide()
        if self._job_outcome != "finished" or media is None or not frames:
            if self._job_outcome == "failed":
                self._prompts.error(self._job_message)
            self.clip_loaded.emit(False)
            return
        if annotations is None:
            annotations = Annotations(clip=path.name, landmarks=self.landmarks, image_size=(media.info.width, media.info.height),
                                      pixel_spacing_mm=media.info.pixel_spacing_mm)
        if self.document is not None:
            self._undo.removeStack(self.document)
            self.document.deleteLater()
        self.play_button.setChecked(False)
        self.media, self.frames = media, frames
        self.document = AnnotationDocument(annotations, sidecar_path(path), self)
        self.document.changed.connect(self._document_changed)
        self.document.save_failed.connect(self._prompts.error)
        self._undo.addStack(self.document)
        self._undo.setActiveStack(self.document)
        self._play_timer.setInterval(round(1000 / (media.info.fps or DEFAULT_FPS)))
        count = len(frames)
        self.clip_label.setText(f"<b>{path.name}</b>")
        self.facts_label.setText(describe_media(media.info))
        spacing = self._spacing()
        self.sidecar_label.setText(
            f"Every edit is saved to {self.document.path.name}"
            + ("" if self.document.path.exists() else " (created on the first edit)") + ". "
            + ("Pixel spacing {:.3g} × {:.3g} mm (from the {}).".format(
                *spacing, "sidecar" if annotations.pixel_spacing_mm else "file") if spacing else "No pixel spacing.")
        )
        for control in (self.slider, self.rest_spin):
            control.blockSignals(True)
            control.setRange(0, count - 1)
            control.setValue(0)
            control.blockSignals(False)
        self.descent_plot.setXRange(0, max(count - 1, 1), padding=0.02)
        self.frame = -1
        self._chosen = 0
        self._show_landmarks()
        self.set_frame(0)
        self._document_changed()
        self._context.show_message(f"Opened {path.name} for annotation: {count} frames")
        self.clip_loaded.emit(True)

    def _open_dialog(self) -> None:
        path = self._prompts.open_file("Open a clip to annotate", self._settings.folder("annotate"), CLIP_FILTER)
        if path:
            self.load_clip(path)

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802 (Qt override)
        if local_files(event) and self._job is None:
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802 (Qt override)
        files = local_files(event)
        if files:
            event.acceptProposedAction()
            self.load_clip(files[0])

    # --------------------------------------------------------------------------- frames, keys

    def set_frame(self, frame: int) -> None:
        """Show frame ``frame`` (clamped) with its points."""
        if not self.frames:
            return
        frame = min(max(int(frame), 0), len(self.frames) - 1)
        if frame != self.frame:
            self.frame = frame
            self.view.set_frame(self.frames[frame])
        self.slider.blockSignals(True)
        self.slider.setValue(frame)
        self.slider.blockSignals(False)
        self.timeline.set_current(frame)
        self.current_line.setValue(frame)
        self._show_points()
        self._show_frame_text()

    def _show_points(self) -> None:
        if self.document is None:
            self.view.set_points([], {}, "")
            return
        points = self.document.annotations.frames.get(self.frame, {})
        self.view.set_points(self.landmarks, points, self.chosen_landmark)

    def _show_frame_text(self) -> None:
        points = self.document.annotations.frames.get(self.frame, {}) if self.document else {}
        placed = sum(name in points for name in self.landmarks)
        self.frame_label.setText(f"Frame {self.frame} of 0–{len(self.frames) - 1} · {placed} / {len(self.landmarks)} placed")
        self._show_descent_value()

    def _advance(self) -> None:
        self.set_frame((self.frame + 1) % len(self.frames) if self.frames else 0)

    def _play_toggled(self, playing: bool) -> None:
        self.play_button.setText("Pause" if playing else "Play")
        if playing and self.frames:
            self._play_timer.start()
        else:
            self._play_timer.stop()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 (Qt override)
        if event.type() == QEvent.Type.KeyPress and self._key(event):
            return True
        return super().eventFilter(watched, event)

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802 (Qt override)
        if not self._key(event):
            super().keyPressEvent(event)

    def _key(self, event: QKeyEvent) -> bool:
        """Frame navigation, landmark choice, Delete and Space; True when the key was used."""
        if event.modifiers() & ~Qt.KeyboardModifier.KeypadModifier or not self.frames:
            return False
        key = event.key()
        steps = {Qt.Key.Key_Left: -1, Qt.Key.Key_Right: 1, Qt.Key.Key_PageUp: -PAGE_FRAMES, Qt.Key.Key_PageDown: PAGE_FRAMES}
        if key in steps:
            self.set_frame(self.frame + steps[key])
        elif key in (Qt.Key.Key_Home, Qt.Key.Key_End):
            self.set_frame(0 if key == Qt.Key.Key_Home else len(self.frames) - 1)
        elif Qt.Key.Key_1 <= key <= Qt.Key.Key_9:
            index = key - Qt.Key.Key_1
            if index < len(self.landmarks):
                self.choose_landmark(self.landmarks[index])
        elif key in (Qt.Key.Key_Delete, Qt.Key.Key_Backspace):
            self.delete_point()
        elif key == Qt.Key.Key_Space:
            self.play_button.toggle()
        else:
            return False
        return True

    # -------------------------------------------------------------------------------- landmarks

    def choose_landmark(self, name: str) -> None:
        if name in self.landmarks:
            self.landmark_list.setCurrentRow(self.landmarks.index(name))

    def _landmark_row_changed(self, row: int) -> None:
        if row >= 0:
            self._chosen = row
            self._show_points()

    def _show_landmarks(self) -> None:
        names = self.landmarks
        self._chosen = min(self._chosen, len(names) - 1)
        self.landmark_list.blockSignals(True)
        self.landmark_list.clear()
        for index, name in enumerate(names):
            prefix = f"{index + 1}  " if index < 9 else "    "
            self.landmark_list.addItem(QListWidgetItem(_swatch(landmark_colour(index)), prefix + display_name(name)))
        self.landmark_list.setCurrentRow(self._chosen)
        self.landmark_list.blockSignals(False)
        rows = min(len(names), 6)  # no empty rows for a short set, a scroll bar past six
        self.landmark_list.setFixedHeight(rows * self.landmark_list.sizeHintForRow(0) + 2 * self.landmark_list.frameWidth())
        self.names_edit.setText(", ".join(names))

    def apply_landmark_names(self) -> bool:
        """Use the names typed in the landmark line (undoable); the points of a removed name go, after asking."""
        try:
            names = parse_landmark_names(self.names_edit.text())
        except UserInputError as exc:
            self._prompts.error(str(exc))
            return False
        self._settings.set("annotate/landmarks", ", ".join(names))
        if self.document is None:
            self._show_landmarks()
            return True
        annotations = self.document.annotations
        removed = {(frame, name): None for frame, points in annotations.frames.items() for name in points if name not in names}
        if removed:
            gone = sorted({name for _frame, name in removed})
            if not self._prompts.ask(f"Remove {len(removed)} points of {', '.join(gone)} from this clip?"):
                self._show_landmarks()
                return False
        self.document.edit("Change the landmark set", removed, landmarks=names)
        return True

    # ------------------------------------------------------------------------------------ edits

    def _point_placed(self, name: str, x: float, y: float) -> None:
        self._edit(f"Place {display_name(name)}", {(self.frame, name): LandmarkPoint(x, y, "manual")})

    def _point_moved(self, name: str, x: float, y: float) -> None:
        if not self._edit(f"Move {display_name(name)}", {(self.frame, name): LandmarkPoint(x, y, "manual")}):
            self._show_points()

    def delete_point(self) -> None:
        """Remove the chosen landmark's point on this frame."""
        if self.document is not None and self.document.annotations.point(self.frame, self.chosen_landmark):
            self._edit(f"Delete {display_name(self.chosen_landmark)}", {(self.frame, self.chosen_landmark): None})

    def confirm(self) -> None:
        """Make this frame's predicted and interpolated points manual."""
        if self.document is not None and not self._edit("Confirm points", confirm_frame(self.document.annotations, self.frame)):
            self._context.show_message("Nothing to confirm on this frame.")

    def interpolate(self) -> int:
        """Fill the frames between annotated frames; returns the number of points set."""
        if self.document is None:
            return 0
        points = interpolate_gaps(self.document.annotations)
        self.document.edit("Interpolate", points)
        self._context.show_message(f"Interpolated {len(points)} points." if points else
                                   "Nothing to interpolate: a landmark needs points on two frames with a gap between them.")
        return len(points)

    def _edit(self, text: str, points: dict) -> bool:
        """An edit of the frame on show (its undo text names the frame)."""
        return self.document is not None and self.document.edit(f"{text} on frame {self.frame}", points)

    def _document_changed(self) -> None:
        if self.landmark_list.count() != len(self.landmarks) or self.names_edit.text() != ", ".join(self.landmarks):
            self._show_landmarks()
        self._show_points()
        self._show_frame_text()
        self.timeline.set_states(frame_states(self.document.annotations, len(self.frames)))
        self._update_descent()
        self._update_controls()

    # --------------------------------------------------------------------------------------- csv

    def import_csv_file(self, path: Path) -> int:
        """Set the points listed in a CSV file (one undoable edit); returns how many, -1 on error."""
        if self.document is None:
            return -1
        try:
            points = import_csv(path, self.landmarks, len(self.frames))
        except UserInputError as exc:
            self._prompts.error(str(exc))
            return -1
        self.document.edit(f"Import {Path(path).name}", points)
        self._context.show_message(f"Imported {len(points)} points from {Path(path).name}")
        return len(points)

    def export_csv_file(self, path: Path) -> int:
        """Write every point to a CSV file; returns how many, -1 on error."""
        if self.document is None:
            return -1
        try:
            rows = export_csv(self.document.annotations, path)
        except OSError as exc:
            self._prompts.error(f"{path}: cannot write ({exc.strerror or exc})")
            return -1
        self._context.show_message(f"Exported {rows} points to {path}")
        return rows

    def _import_dialog(self) -> None:
        path = self._prompts.open_file("Import landmarks", self._settings.folder("annotate"), CSV_FILTER)
        if path:
            self.import_csv_file(path)

    def _export_dialog(self) -> None:
        if self.document is None:
            return
        suggested = self.document.path.with_name(f"{self.media.path.name}.landmarks.csv")
        path = self._prompts.save_file("Export landmarks", suggested, CSV_FILTER)
        if path and (not path.exists() or self._prompts.ask(f"{path} already exists. Replace it?")):
            self.export_csv_file(path)

    # ----------------------------------------------------------------------------------- predict

    def predict_model(self) -> Path | None:
        """The checkpoint Predict uses: chosen here, else the Animate tab's, else the bundled model.

        Shows which in the model label, or why there is none.
        """
        if self._model_path is not None:
            self.model_label.setText(f"Model: {self._model_path.name} (chosen here)")
            return self._model_path
        animator = getattr(self._context.tab("Animate"), "animator", None)
        if animator is not None:
            self.model_label.setText(f"Model: {animator.checkpoint_path.name} (the Animate tab's)")
            return animator.checkpoint_path
        try:
            path = default_model_path()
        except UserInputError:
            self.model_label.setText("No model for Predict: the bundled model is not installed and the Animate "
                                     "tab has none loaded; choose a checkpoint (Model…).")
            return None
        self.model_label.setText(f"Model: {path.name} (bundled)")
        return path

    def choose_model(self, path: Path | None) -> None:
        """Use ``path`` for Predict (None: back to the Animate tab's or the bundled model)."""
        self._model_path = None if path is None else Path(path)
        self._settings.set("annotate/model", "" if path is None else str(path))
        self.predict_model()

    def _choose_model_dialog(self) -> None:
        path = self._prompts.open_file("Model for Predict", self._settings.folder("model"), MODEL_FILTER)
        if path:
            self.choose_model(path)

    def predict(self) -> bool:
        """Predict the missing points of every frame in the background; False when it cannot start."""
        if self.document is None or self._job is not None:
            return False
        checkpoint = self.predict_model()
        if checkpoint is None:
            self._prompts.error(self.model_label.text())
            return False
        slots = prediction_slots(self.document.annotations, len(self.frames))
        if not slots:
            self._context.show_message("Every frame holds all its landmarks: nothing to predict.")
            return False
        self._predicted = {}
        self.predict_progress.setRange(0, 0)
        self.predict_progress.setValue(0)
        device = self._settings.text("device", "auto")
        self._start_job("predict", predict_job(checkpoint, device, self.frames, slots), self._predict_item)
        return True

    def cancel(self) -> None:
        if self._job is not None and self._job_kind == "predict":
            self._job.cancel()

    def _predict_item(self, item: object) -> None:
        if isinstance(item, PredictedFrame):
            self._predicted[item.frame] = item.points
            self.predict_progress.setValue(len(self._predicted))
        else:
            self.predict_progress.setRange(0, int(item))

    def _predict_ended(self) -> None:
        predicted, self._predicted = self._predicted, {}
        if self._job_outcome == "finished" and self.document is not None:
            annotations = self.document.annotations
            points = {
                (frame, name): LandmarkPoint(x, y, "predicted")
                for frame, found in predicted.items()
                for name, (x, y) in found.items()
                if (current := annotations.point(frame, name)) is None or current.origin == "predicted"
            }
            self.document.edit("Predict", points)
            self._context.show_message(f"Predicted {len(points)} points on {len(predicted)} frames: "
                                       "check them and Confirm (or drag) each frame.")
        elif self._job_outcome == "cancelled":
            self._context.show_message("Prediction cancelled; nothing changed.")
        else:
            self._prompts.error(self._job_message)
        self.predict_progress.setRange(0, 1)
        self.predict_progress.setValue(0)
        self.predict_ended.emit(self._job_outcome)

    # ----------------------------------------------------------------------------------- descent

    def _spacing(self) -> tuple[float, float] | None:
        if self.document is None:
            return None
        return self.document.annotations.pixel_spacing_mm or (self.media.info.pixel_spacing_mm if self.media else None)

    def descent(self) -> dict[int, float]:
        """Bladder-neck descent per frame relative to the rest frame (mm, or px without spacing)."""
        if self.document is None:
            return {}
        spacing = self._spacing()
        return bladder_neck_descent(self.document.annotations, self.rest_spin.value(), spacing[1] if spacing else None)

    def _update_descent(self) -> None:
        values = self.descent()
        unit = "mm" if self._spacing() else "px"
        frames = sorted(values)
        self.descent_curve.setData(frames, [values[f] for f in frames])
        self.rest_line.setValue(self.rest_spin.value())
        self.descent_plot.setLabel("left", f"descent ({unit})")
        notes = []
        if self.document is not None:
            missing = [name for name in (SYMPHYSIS, BLADDER_NECK) if name not in self.landmarks]
            if missing:
                notes.append(f"Descent needs the landmarks {SYMPHYSIS} and {BLADDER_NECK}.")
            elif not values:
                notes.append(f"The rest frame ({self.rest_spin.value()}) needs both points.")
            if unit == "px":
                notes.append("No pixel spacing: descent shown in px.")
        self.descent_note.setText(" ".join(notes))
        self._show_descent_value()

    def _show_descent_value(self) -> None:
        value = self.descent().get(self.frame)
        unit = "mm" if self._spacing() else "px"
        if value is None:
            self.descent_label.setText("")
            return
        direction = "caudal" if value > 0 else "cranial" if value < 0 else "at rest"
        self.descent_label.setText(f"Frame {self.frame}: <b>{value:+.1f} {unit}</b> ({direction}) "
                                   f"relative to rest frame {self.rest_spin.value()}")

    # -------------------------------------------------------------------------------------- jobs

    def _start_job(self, kind: str, function: JobFunction, on_item: Callable[[object], None]) -> None:
        job = Job(function, f"annotate-{kind}", self)
        self._job, self._job_kind, self._job_outcome, self._job_message = job, kind, "", ""
        job.produced.connect(on_item)
        job.finished.connect(lambda: setattr(self, "_job_outcome", "finished"))
        job.cancelled.connect(lambda: setattr(self, "_job_outcome", "cancelled"))
        job.failed.connect(self._job_failed)
        job.ended.connect(self._job_ended)
        self._update_controls()
        job.start()

    def _job_failed(self, message: str) -> None:
        self._job_outcome, self._job_message = "failed", message

    def _job_ended(self) -> None:
        job, kind = self._job, self._job_kind
        self._job, self._job_kind = None, ""
        job.deleteLater()
        {"load": self._load_ended, "predict": self._predict_ended}[kind]()
        self._update_controls()

    def _update_controls(self) -> None:
        has_clip = self.document is not None
        loading = self._job_kind == "load"
        predicting = self._job_kind == "predict"
        for widget in (self.open_button, self.open_action):
            widget.setEnabled(self._job is None)
        for widget in (self.delete_button, self.confirm_button, self.interpolate_button, self.import_button,
                       self.export_button, self.import_action, self.export_action, self.names_apply, self.rest_spin,
                       self.play_button, self.slider, self.fit_button):
            widget.setEnabled(has_clip and not loading)
        self.predict_button.setEnabled(has_clip and self._job is None)
        self.cancel_button.setVisible(predicting)
        self.predict_progress.setVisible(predicting)
        self.model_button.setEnabled(not predicting)
        can_undo, can_redo = self._undo.canUndo() and not loading, self._undo.canRedo() and not loading
        for widget, allowed, text in ((self.undo_button, can_undo, self._undo.undoText()),
                                      (self.redo_button, can_redo, self._undo.redoText())):
            widget.setEnabled(allowed)
            widget.setToolTip(text)
        self.undo_action.setEnabled(can_undo)
        self.redo_action.setEnabled(can_redo)

    def showEvent(self, event) -> None:  # noqa: N802 (Qt override)
        super().showEvent(event)
        self.predict_model()

    def shutdown(self) -> None:
        """The window is closing: stop playback and any job (edits are saved already)."""
        self._play_timer.stop()
        if self._job is not None:
            self._job.cancel()
            self._job.wait()

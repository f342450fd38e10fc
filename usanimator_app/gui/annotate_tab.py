"""The Annotate tab: place and drag anatomical landmarks on the frames of a clip, fill the gaps by
interpolation or with a model's landmark heads, and follow the bladder-neck descent.

Every edit is an undoable command saved at once to the clip's sidecar (``core.annotations``), so
closing the window or a crash loses nothing. Frames are decoded once, in gray (what the model sees),
by a background job (``annotate_load``); Predict runs one keypoint pass per frame in another
(``annotate_predict``). The left column's groups are in ``annotate_panels``, the frame, playback and
plots in ``annotate_player``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6.QtCore import QEvent, QObject, Qt, Signal
from PySide6.QtGui import QAction, QDragEnterEvent, QDropEvent, QKeyEvent, QKeySequence
from PySide6.QtWidgets import QHBoxLayout, QVBoxLayout, QWidget

from usanimator_app.core.annotation_tools import (
    bladder_neck_descent,
    confirm_frame,
    export_csv,
    frame_states,
    import_csv,
    interpolate_gaps,
    parse_landmark_names,
)
from usanimator_app.core.annotations import (
    DEFAULT_LANDMARKS,
    Annotations,
    LandmarkPoint,
    sidecar_path,
)
from usanimator_app.core.errors import UserInputError
from usanimator_app.core.media import MediaSource
from usanimator_app.gui.annotate_load import ClipLoader, LoadedClip
from usanimator_app.gui.annotate_panels import ClipBox, DescentBox, EditBox, LandmarkBox
from usanimator_app.gui.annotate_player import PAGE_FRAMES, FramePlayer
from usanimator_app.gui.annotate_predict import Predictor
from usanimator_app.gui.context import TabContext
from usanimator_app.gui.prompts import CSV_FILTER, MEDIA_FILTER
from usanimator_app.gui.state import AnnotationEdits, descent_notes
from usanimator_app.gui.widgets import describe_media, display_name, local_files
from usanimator_app.gui.workers import JobRunner


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
        self.document: AnnotationEdits | None = None
        self.frame = 0
        self._chosen = 0
        self.jobs = JobRunner("annotate", self)
        self.jobs.changed.connect(self._update_controls)
        self._build()
        self.predictor = Predictor(context, self.jobs, self.edit_box, self)
        self.predictor.ended.connect(self._predicted)
        self.loader = ClipLoader(context, self.jobs, self.clip_box, self)
        self.loader.loaded.connect(self._clip_loaded)
        self._show_landmarks()
        self._update_controls()

    # ------------------------------------------------------------------------------------ layout

    def _build(self) -> None:
        self.player = FramePlayer()
        self.view = self.player.view
        for watched in (self.player.view, self.player.timeline):
            watched.installEventFilter(self)
        self.clip_box, self.landmark_box = ClipBox(), LandmarkBox()
        self.edit_box, self.descent_box = EditBox(), DescentBox()

        layout = QHBoxLayout(self)
        left = QWidget()
        left.setFixedWidth(330)
        column = QVBoxLayout(left)
        column.setContentsMargins(0, 0, 4, 0)
        for group in (self.clip_box, self.landmark_box, self.edit_box, self.descent_box):
            column.addWidget(group)
        column.addStretch(1)
        layout.addWidget(left)
        layout.addWidget(self.player, 1)

        self.open_action = QAction("Open clip to annotate…", self)
        self.import_action = QAction("Import landmarks (CSV)…", self)
        self.export_action = QAction("Export landmarks (CSV)…", self)
        self.undo_action = QAction("Undo", self, shortcut=QKeySequence.StandardKey.Undo)
        self.redo_action = QAction("Redo", self, shortcut=QKeySequence.StandardKey.Redo)
        for action in (self.undo_action, self.redo_action):
            action.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
            self.addAction(action)

        self.open_action.triggered.connect(self._open_dialog)
        self.clip_box.open_button.clicked.connect(self._open_dialog)
        self.import_action.triggered.connect(self._import_dialog)
        self.edit_box.import_button.clicked.connect(self._import_dialog)
        self.export_action.triggered.connect(self._export_dialog)
        self.edit_box.export_button.clicked.connect(self._export_dialog)
        self.undo_action.triggered.connect(self.undo)
        self.redo_action.triggered.connect(self.redo)
        self.edit_box.undo_button.clicked.connect(self.undo)
        self.edit_box.redo_button.clicked.connect(self.redo)
        self.edit_box.delete_button.clicked.connect(self.delete_point)
        self.edit_box.confirm_button.clicked.connect(self.confirm)
        self.edit_box.interpolate_button.clicked.connect(self.interpolate)
        self.edit_box.predict_button.clicked.connect(self.predict)
        self.edit_box.cancel_button.clicked.connect(self.cancel)
        self.landmark_box.landmark_list.currentRowChanged.connect(self._landmark_row_changed)
        self.landmark_box.names_apply.clicked.connect(self.apply_landmark_names)
        self.landmark_box.names_edit.returnPressed.connect(self.apply_landmark_names)
        self.descent_box.rest_spin.valueChanged.connect(self._update_descent)
        self.player.frame_requested.connect(self.set_frame)
        self.view.point_placed.connect(self._point_placed)
        self.view.point_moved.connect(self._point_moved)
        self.view.landmark_picked.connect(self.choose_landmark)

    def menu_actions(self) -> dict[str, list[QAction | None]]:
        return {"File": [None, self.open_action, self.import_action, self.export_action]}

    @property
    def busy(self) -> bool:
        return self.jobs.busy

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
        return self.loader.load(path)

    def _clip_loaded(self, clip: LoadedClip | None) -> None:
        if clip is None:
            self.clip_loaded.emit(False)
            return
        path, annotations, media, frames = clip.path, clip.annotations, clip.media, clip.frames
        if annotations is None:
            annotations = Annotations(clip=path.name, landmarks=self.landmarks, image_size=(media.info.width, media.info.height),
                                      pixel_spacing_mm=media.info.pixel_spacing_mm)
        self.media, self.frames = media, frames
        self.document = AnnotationEdits(annotations, sidecar_path(path))
        self.document.changed.subscribe(self._document_changed)
        self.document.save_failed.subscribe(self._prompts.error)
        count = len(frames)
        self.clip_box.clip_label.setText(f"<b>{path.name}</b>")
        self.clip_box.facts_label.setText(describe_media(media.info))
        spacing = self._spacing()
        self.clip_box.sidecar_label.setText(
            f"Every edit is saved to {self.document.path.name}"
            + ("" if self.document.path.exists() else " (created on the first edit)") + ". "
            + ("Pixel spacing {:.3g} × {:.3g} mm (from the {}).".format(
                *spacing, "sidecar" if annotations.pixel_spacing_mm else "file") if spacing else "No pixel spacing.")
        )
        self.player.set_clip(count, media.info.fps)
        rest = self.descent_box.rest_spin
        rest.blockSignals(True)
        rest.setRange(0, count - 1)
        rest.setValue(0)
        rest.blockSignals(False)
        self.frame = -1
        self._chosen = 0
        self._show_landmarks()
        self.set_frame(0)
        self._document_changed()
        self._context.show_message(f"Opened {path.name} for annotation: {count} frames")
        self.clip_loaded.emit(True)

    def _open_dialog(self) -> None:
        path = self._prompts.open_file("Open a clip to annotate", self._settings.folder("annotate"), MEDIA_FILTER)
        if path:
            self.load_clip(path)

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802 (Qt override)
        if local_files(event) and not self.jobs.busy:
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
        changed, self.frame = frame != self.frame, frame
        self.player.show_frame(frame, self.frames[frame] if changed else None)
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
        self.player.frame_label.setText(f"Frame {self.frame} of 0–{len(self.frames) - 1} · {placed} / {len(self.landmarks)} placed")
        self._show_descent_value()

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
            self.player.play_button.toggle()
        else:
            return False
        return True

    # -------------------------------------------------------------------------------- landmarks

    def choose_landmark(self, name: str) -> None:
        if name in self.landmarks:
            self.landmark_box.landmark_list.setCurrentRow(self.landmarks.index(name))

    def _landmark_row_changed(self, row: int) -> None:
        if row >= 0:
            self._chosen = row
            self._show_points()

    def _show_landmarks(self) -> None:
        names = self.landmarks
        self._chosen = min(self._chosen, len(names) - 1)
        self.landmark_box.show_names(names, self._chosen)

    def apply_landmark_names(self) -> bool:
        """Use the names typed in the landmark line (undoable); the points of a removed name go, after asking."""
        try:
            names = parse_landmark_names(self.landmark_box.names_edit.text())
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

    def undo(self) -> None:
        if self.document is not None:
            self.document.undo()

    def redo(self) -> None:
        if self.document is not None:
            self.document.redo()

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
        if not self.landmark_box.shows(self.landmarks):
            self._show_landmarks()
        self._show_points()
        self._show_frame_text()
        self.player.timeline.set_states(frame_states(self.document.annotations, len(self.frames)))
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

    def predict(self) -> bool:
        """Predict the missing points of every frame in the background; False when it cannot start."""
        return self.document is not None and not self.jobs.busy and self.predictor.start(self.document.annotations, self.frames)

    def cancel(self) -> None:
        if self.jobs.kind == "predict":
            self.jobs.cancel()

    def _predicted(self, outcome: str, points: dict, frames: int) -> None:
        if outcome == "finished" and self.document is not None:
            self.document.edit("Predict", points)
            self._context.show_message(f"Predicted {len(points)} points on {frames} frames: "
                                       "check them and Confirm (or drag) each frame.")
        elif outcome == "cancelled":
            self._context.show_message("Prediction cancelled; nothing changed.")
        self.predict_ended.emit(outcome)

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
        return bladder_neck_descent(self.document.annotations, self.descent_box.rest_spin.value(), spacing[1] if spacing else None)

    def _update_descent(self) -> None:
        values, rest = self.descent(), self.descent_box.rest_spin.value()
        unit = "mm" if self._spacing() else "px"
        self.player.descent_plot.show_descent(values, rest, unit)
        notes = descent_notes(self.landmarks, bool(values), rest, unit) if self.document is not None else []
        self.descent_box.descent_note.setText(" ".join(notes))
        self._show_descent_value()

    def _show_descent_value(self) -> None:
        self.descent_box.show_value(self.frame, self.descent().get(self.frame), "mm" if self._spacing() else "px")

    # ---------------------------------------------------------------------------------- controls

    def _update_controls(self) -> None:
        has_clip = self.document is not None
        loading = self.jobs.kind == "load"
        predicting = self.jobs.kind == "predict"
        for widget in (self.clip_box.open_button, self.open_action):
            widget.setEnabled(not self.jobs.busy)
        for widget in (self.edit_box.delete_button, self.edit_box.confirm_button, self.edit_box.interpolate_button, self.edit_box.import_button,
                       self.edit_box.export_button, self.import_action, self.export_action, self.landmark_box.names_apply, self.descent_box.rest_spin,
                       self.player.play_button, self.player.slider, self.player.fit_button):
            widget.setEnabled(has_clip and not loading)
        self.edit_box.predict_button.setEnabled(has_clip and not self.jobs.busy)
        self.edit_box.cancel_button.setVisible(predicting)
        self.edit_box.predict_progress.setVisible(predicting)
        self.edit_box.model_button.setEnabled(not predicting)
        edits = self.document
        can_undo = edits is not None and edits.can_undo and not loading
        can_redo = edits is not None and edits.can_redo and not loading
        for widget, allowed, text in ((self.edit_box.undo_button, can_undo, edits.undo_text if edits else ""),
                                      (self.edit_box.redo_button, can_redo, edits.redo_text if edits else "")):
            widget.setEnabled(allowed)
            widget.setToolTip(text)
        self.undo_action.setEnabled(can_undo)
        self.redo_action.setEnabled(can_redo)

    def shutdown(self) -> None:
        """The window is closing: stop playback and any job (edits are saved already)."""
        self.player.stop()
        self.jobs.shutdown()

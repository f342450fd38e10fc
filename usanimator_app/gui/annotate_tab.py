"""The Annotate tab: place and drag anatomical landmarks on the frames of a clip, fill the gaps by
interpolation, with a model's landmark heads or by tracking, and follow the bladder-neck descent.

The tab renders a Qt-free ``annotate_state.AnnotationSession`` (the clip, the frame on show, the
edits) and forwards the user's actions to it. Every edit is an undoable command saved at once to
the clip's sidecar (``core.annotations``), so closing the window or a crash loses nothing. Frames
are decoded once, in gray (what the model sees), by a background job (``annotate_load``); Predict
(``annotate_predict``) and Track (``annotate_track``) run in others. The left column's groups are in
``annotate_panels``, CSV exchange in ``annotate_csv``, the frame, playback and plots in ``annotate_player``.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QAction, QKeyEvent, QKeySequence
from PySide6.QtWidgets import QFrame, QHBoxLayout, QScrollArea, QVBoxLayout, QWidget

from usanimator_app.core.annotation_tools import frame_states, parse_landmark_names
from usanimator_app.core.errors import UserInputError
from usanimator_app.gui.annotate_csv import CsvExchange
from usanimator_app.gui.annotate_load import ClipLoader, LoadedClip
from usanimator_app.gui.annotate_panels import ClipBox, DescentBox, EditBox, LandmarkBox, TrackBox
from usanimator_app.gui.annotate_player import FramePlayer
from usanimator_app.gui.annotate_predict import Predictor
from usanimator_app.gui.annotate_state import AnnotationSession, saved_landmark_set
from usanimator_app.gui.annotate_track import Tracker
from usanimator_app.gui.context import Tab, TabContext
from usanimator_app.gui.prompts import MEDIA_FILTER
from usanimator_app.gui.state import descent_notes
from usanimator_app.gui.widgets import FileDrops, describe_media
from usanimator_app.gui.workers import JobRunner


class AnnotateTab(Tab):
    """Landmarks on a clip: place, drag, delete, undo; interpolate, predict or track; descent plot."""

    clip_loaded = Signal(bool)  # after each load attempt
    predict_ended = Signal(str)  # 'finished' | 'cancelled' | 'failed'
    track_ended = Signal(str)  # 'finished' | 'cancelled' | 'failed'

    def __init__(self, context: TabContext, parent: QWidget | None = None):
        super().__init__("Annotate", context, parent)
        FileDrops(self).dropped.connect(lambda files: self.load_clip(files[0]))
        self.session = AnnotationSession(saved_landmark_set(self._settings.text("annotate/landmarks")))
        self.jobs = JobRunner("annotate", context.jobs, self)
        self.jobs.changed.connect(self._update_controls)
        self._build()
        self.csv = CsvExchange(context, self.session, self.edit_box, self)
        self.predictor = Predictor(context, self.jobs, self.edit_box, self.session, self)
        self.predictor.ended.connect(self.predict_ended)
        self.tracker = Tracker(context, self.jobs, self.track_box, self.session, self)
        self.tracker.ended.connect(self.track_ended)
        self.loader = ClipLoader(context, self.jobs, self.clip_box, self)
        self.loader.loaded.connect(self._clip_loaded)
        self._show_landmarks()
        self._update_controls()

    # ------------------------------------------------------------------------------------ layout

    def _build(self) -> None:
        self.player = FramePlayer()
        self.view = self.player.view
        self.clip_box, self.landmark_box = ClipBox(), LandmarkBox()
        self.edit_box, self.track_box, self.descent_box = EditBox(), TrackBox(), DescentBox()

        layout = QHBoxLayout(self)
        groups = QWidget()
        column = QVBoxLayout(groups)
        column.setContentsMargins(0, 0, 4, 0)
        for group in (self.clip_box, self.landmark_box, self.edit_box, self.track_box, self.descent_box):
            column.addWidget(group)
        column.addStretch(1)
        left = QScrollArea()  # the column scrolls when the window is short (1366x768)
        left.setWidget(groups)
        left.setWidgetResizable(True)
        left.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        left.setFrameShape(QFrame.Shape.NoFrame)
        left.setFixedWidth(350)
        layout.addWidget(left)
        layout.addWidget(self.player, 1)

        self.open_action = QAction("Open clip to annotate…", self)
        self.undo_action = QAction("Undo", self, shortcut=QKeySequence.StandardKey.Undo)
        self.redo_action = QAction("Redo", self, shortcut=QKeySequence.StandardKey.Redo)
        for action in (self.undo_action, self.redo_action):
            action.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
            self.addAction(action)

        edit, track = self.edit_box, self.track_box
        for signal, slot in ((self.open_action.triggered, self._open_dialog), (self.clip_box.open_button.clicked, self._open_dialog),
                             (self.undo_action.triggered, self.undo), (self.redo_action.triggered, self.redo),
                             (edit.undo_button.clicked, self.undo), (edit.redo_button.clicked, self.redo),
                             (edit.delete_button.clicked, self.session.delete), (edit.confirm_button.clicked, self.confirm),
                             (edit.interpolate_button.clicked, self.interpolate), (edit.predict_button.clicked, self.predict),
                             (edit.cancel_button.clicked, self.cancel), (track.cancel_button.clicked, self.cancel),
                             (track.forward_button.clicked, lambda: self.track("forward")),
                             (track.backward_button.clicked, lambda: self.track("backward")),
                             (track.both_button.clicked, lambda: self.track("both")),
                             (track.delete_button.clicked, lambda: self.tracker.delete_from_here()),
                             (self.landmark_box.landmark_list.currentRowChanged, self._landmark_row_changed),
                             (self.landmark_box.names_apply.clicked, self.apply_landmark_names),
                             (self.landmark_box.names_edit.returnPressed, self.apply_landmark_names),
                             (self.descent_box.rest_spin.valueChanged, self._update_descent),
                             (self.player.frame_requested, self.set_frame), (self.player.delete_key, self.session.delete),
                             (self.player.landmark_key, self._landmark_key),
                             (self.view.point_placed, self.session.place), (self.view.point_moved, self._point_moved),
                             (self.view.landmark_picked, self.choose_landmark)):
            signal.connect(slot)

    def menu_actions(self) -> dict[str, list[QAction | None]]:
        return {"File": [None, self.open_action, self.csv.import_action, self.csv.export_action]}

    @property
    def busy(self) -> bool:
        return self.jobs.busy

    # ------------------------------------------------------------------------------------- clip

    def load_clip(self, path: Path) -> bool:
        """Start loading a clip and its sidecar; False (with a message) when that cannot start."""
        return self.loader.load(path)

    def _clip_loaded(self, clip: LoadedClip | None) -> None:
        if clip is None:
            self.clip_loaded.emit(False)
            return
        document = self.session.open(clip.path, clip.annotations, clip.media.info, clip.frames)
        document.changed.subscribe(self._document_changed)
        document.save_failed.subscribe(self._prompts.error)
        count = len(clip.frames)
        self.clip_box.show_clip(clip.path.name, describe_media(clip.media.info), document.path,
                                self.session.spacing(), "sidecar" if document.annotations.pixel_spacing_mm else "file")
        self.player.set_clip(count, clip.media.info.fps)
        self.track_box.set_clip(count)
        self.descent_box.set_clip(count)
        self._show_landmarks()
        self.player.show_frame(0, clip.frames[0])
        self._document_changed()
        self._context.show_message(f"Opened {clip.path.name} for annotation: {count} frames")
        self.clip_loaded.emit(True)

    def _open_dialog(self) -> None:
        path = self._prompts.open_file("Open a clip to annotate", self._settings.folder("annotate"), MEDIA_FILTER)
        if path:
            self.load_clip(path)

    # --------------------------------------------------------------------------- frames, keys

    def set_frame(self, frame: int) -> None:
        """Show frame ``frame`` (clamped) with its points."""
        if not self.session.frames:
            return
        changed = self.session.go_to(frame)
        self.player.show_frame(self.session.frame, self.session.frames[self.session.frame] if changed else None)
        self._show_points()

    def _show_points(self) -> None:
        """The points, the frame line and the descent value of the frame on show."""
        points = self.session.points()
        self.view.set_points(self.session.landmarks if self.session.document else [], points, self.session.chosen_landmark)
        placed = sum(name in points for name in self.session.landmarks)
        self.player.frame_label.setText(f"Frame {self.session.frame} of 0–{len(self.session.frames) - 1} · {placed} / {len(self.session.landmarks)} placed")
        self.descent_box.show_descent(self.session.frame, self.descent().get(self.session.frame), self._unit())

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802 (Qt override)
        if not self.player.key(event):
            super().keyPressEvent(event)

    # -------------------------------------------------------------------------------- landmarks

    def choose_landmark(self, name: str) -> None:
        if name in self.session.landmarks:
            self.landmark_box.landmark_list.setCurrentRow(self.session.landmarks.index(name))

    def _landmark_key(self, index: int) -> None:
        if index < len(self.session.landmarks):
            self.choose_landmark(self.session.landmarks[index])

    def _landmark_row_changed(self, row: int) -> None:
        if row >= 0:
            self.session.chosen = row
            self._show_points()

    def _show_landmarks(self) -> None:
        self.session.chosen = min(self.session.chosen, len(self.session.landmarks) - 1)
        self.landmark_box.show_names(self.session.landmarks, self.session.chosen)

    def apply_landmark_names(self) -> bool:
        """Use the names typed in the landmark line (undoable); the points of a removed name go, after asking."""
        try:
            names = parse_landmark_names(self.landmark_box.names_edit.text())
        except UserInputError as exc:
            self._prompts.error(str(exc))
            return False
        self._settings.set("annotate/landmarks", ", ".join(names))
        removed = self.session.removed_by(names)
        if removed:
            gone = sorted({name for _frame, name in removed})
            if not self._prompts.ask(f"Remove {len(removed)} points of {', '.join(gone)} from this clip?"):
                self._show_landmarks()
                return False
        self.session.set_landmarks(names)
        self._show_landmarks()
        return True

    # ------------------------------------------------------------------------------------ edits

    def undo(self) -> None:
        if self.session.document is not None:
            self.session.document.undo()

    def redo(self) -> None:
        if self.session.document is not None:
            self.session.document.redo()

    def _point_moved(self, name: str, x: float, y: float) -> None:
        if not self.session.place(name, x, y, verb="Move"):
            self._show_points()

    def confirm(self) -> None:
        """Make this frame's predicted, tracked and interpolated points manual."""
        if self.session.document is not None and not self.session.confirm():
            self._context.show_message("Nothing to confirm on this frame.")

    def interpolate(self) -> int:
        """Fill the frames between annotated frames; returns the number of points set."""
        count = self.session.interpolate()
        self._context.show_message(f"Interpolated {count} points." if count else
                                   "Nothing to interpolate: a landmark needs points on two frames with a gap between them.")
        return count

    def _document_changed(self) -> None:
        if not self.landmark_box.shows(self.session.landmarks):
            self._show_landmarks()
        self._show_points()
        self.player.timeline.set_states(frame_states(self.session.annotations, len(self.session.frames)))
        self._update_descent()
        self._update_controls()

    # ----------------------------------------------------------------------------- predict, track

    def predict(self) -> bool:
        """Predict the missing points of every frame in the background; False when it cannot start."""
        return self.session.document is not None and self.predictor.start()

    def cancel(self) -> None:
        if self.jobs.kind in ("predict", "track"):
            self.jobs.cancel()

    def track(self, direction: str) -> bool:
        """Track this frame's points 'forward' | 'backward' | 'both' over the Track range in the background."""
        return self.tracker.track(direction)

    # ----------------------------------------------------------------------------------- descent

    def _unit(self) -> str:
        return "mm" if self.session.spacing() else "px"

    def descent(self) -> dict[int, float]:
        """Bladder-neck descent per frame relative to the rest frame (mm, or px without spacing)."""
        return self.session.descent(self.descent_box.rest_spin.value())

    def _update_descent(self) -> None:
        values, rest, unit = self.descent(), self.descent_box.rest_spin.value(), self._unit()
        self.player.descent_plot.show_descent(values, rest, unit)
        notes = descent_notes(self.session.landmarks, bool(values), rest, unit) if self.session.document is not None else []
        self.descent_box.show_descent(self.session.frame, values.get(self.session.frame), unit, notes)

    # ---------------------------------------------------------------------------------- controls

    def _update_controls(self) -> None:
        edits, busy, loading = self.session.document, self.jobs.busy, self.jobs.kind == "load"
        editable = edits is not None and not loading
        for widget in (self.clip_box.open_button, self.open_action):
            widget.setEnabled(not busy)
        self.setAcceptDrops(not busy)  # a clip is dropped when it could be opened
        for widget in (self.edit_box.delete_button, self.edit_box.confirm_button, self.edit_box.interpolate_button,
                       self.edit_box.import_button, self.edit_box.export_button, self.csv.import_action, self.csv.export_action,
                       self.landmark_box.names_apply, self.descent_box.rest_spin, self.track_box.delete_button,
                       self.player.play_button, self.player.slider, self.player.fit_button):
            widget.setEnabled(editable)
        for widget in (self.edit_box.predict_button, self.track_box.forward_button, self.track_box.backward_button,
                       self.track_box.both_button):
            widget.setEnabled(edits is not None and not busy)
        for kind, box_widgets in (("predict", (self.edit_box.cancel_button, self.edit_box.predict_progress)),
                                  ("track", (self.track_box.cancel_button, self.track_box.progress))):
            for widget in box_widgets:
                widget.setVisible(self.jobs.kind == kind)
        self.edit_box.model_button.setEnabled(self.jobs.kind != "predict")
        for widgets, allowed, text in (((self.edit_box.undo_button, self.undo_action), edits is not None and edits.can_undo,
                                        edits.undo_text if edits else ""),
                                       ((self.edit_box.redo_button, self.redo_action), edits is not None and edits.can_redo,
                                        edits.redo_text if edits else "")):
            for widget in widgets:
                widget.setEnabled(allowed and not loading)
                widget.setToolTip(text)

    def shutdown(self) -> None:
        """The window is closing: stop playback and any job (edits are saved already)."""
        self.player.stop()
        self.jobs.shutdown()

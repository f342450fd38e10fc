"""Track for the Annotate tab: what the Track group (``annotate_panels.TrackBox``) asks for, and the
background job that carries a frame's points over the range with ``core.landmark_tracking``
(optical flow) or ``engine.landmark_tracking`` (the model's motion)."""

from __future__ import annotations

from typing import Callable, Iterator

import numpy as np
from PySide6.QtCore import QObject

from usanimator_app.core.errors import UserInputError
from usanimator_app.core.landmark_tracking import TrackRequest, optical_flow_step, track
from usanimator_app.engine.landmark_tracking import model_motion_step
from usanimator_app.gui.annotate_model import ClipJob, ClipModel
from usanimator_app.gui.annotate_panels import TrackBox
from usanimator_app.gui.annotate_state import AnnotationSession
from usanimator_app.gui.context import TabContext
from usanimator_app.gui.workers import JobFunction, JobRunner

METHODS = {"optical_flow": "optical flow", "model": "model motion"}  # key -> words; the first is the default (measured better)


def track_job(method: str, model: ClipModel | None, frames: list[np.ndarray], request: TrackRequest) -> JobFunction:
    """Yields (frame, (N, 2) points) per step of ``request``; 'model' runs ``model``'s dense motion."""

    def job(should_stop: Callable[[], bool]) -> Iterator[object]:
        step = model_motion_step(*model.load(frames[0])) if method == "model" else optical_flow_step()
        yield from track(step, frames, request)

    return job


class Tracker(ClipJob):
    """Track on the session's clip: the Track group's method (model motion only while the
    application has a model), the tracking job on the tab's jobs, and the edit it makes when it
    finishes. ``ended(outcome)``: 'finished' | 'cancelled' | 'failed'."""

    def __init__(self, context: TabContext, jobs: JobRunner, box: TrackBox, session: AnnotationSession,
                 parent: QObject | None = None):
        super().__init__("track", "Tracking", context, jobs, box, session, parent)
        self._request: TrackRequest | None = None
        self._running_method = ""  # the method of the running job (the combo may change meanwhile)
        self._found: dict[int, np.ndarray] = {}
        context.app.model_changed.subscribe(self._model_changed)
        box.method.currentIndexChanged.connect(self._model_changed)
        self._model_changed()

    @property
    def method(self) -> str:
        return self._box.method.currentData()

    def model_reason(self) -> str:
        """Why model motion cannot be used now ('' when it can)."""
        return "" if self._context.app.model is not None else "Model motion needs a model: load one in the Animate tab."

    def _model_changed(self) -> None:
        reason = self.model_reason()
        item = self._box.method.model().item(1)
        item.setEnabled(not reason)
        item.setToolTip(reason)
        if reason and self.method == "model":
            self._box.method.setCurrentIndex(0)
        self._box.note.setText(reason)
        self._box.note.setVisible(bool(reason))

    def track(self, direction: str) -> bool:
        """Track the points of the frame on show 'forward' | 'backward' | 'both' over the From / To
        range in the background; False (with a message) when there is nothing to track or no model."""
        model = self._context.app.model
        if self.method == "model" and model is None:
            self._context.prompts.error(self.model_reason())
            return False
        try:
            request = self._session.track_request(self._box.first_spin.value(), self._box.last_spin.value(), direction)
        except UserInputError as exc:
            self._context.show_message(str(exc))
            return False
        clip_model = None if model is None else ClipModel.of(self._context.app)
        if not self._start(track_job(self.method, clip_model, self._session.frames, request)):
            return False
        self._request, self._running_method = request, self.method
        self._box.progress.setRange(0, len(request.steps))
        self._box.progress.setValue(0)
        return True

    def delete_from_here(self) -> int:
        """Remove the chosen landmark's tracked points on the frame on show and after (one undoable edit)."""
        count = self._session.delete_tracked_from_here()
        self._context.show_message(f"Deleted {count} tracked points from frame {self._session.frame} on.")
        return count

    def _item(self, item: tuple[int, np.ndarray]) -> None:
        frame, points = item
        self._found[frame] = points
        self._box.progress.setValue(len(self._found))

    def _finish(self) -> str:
        method = METHODS[self._running_method]
        count = self._session.add_tracked(self._request, self._found, method)
        return (f"Tracked {count} points over {len(self._found)} frames ({method}): check them, "
                "Confirm (or drag) each frame, Delete tracked from here on where they drift.")

    def _clear(self) -> None:
        self._found, self._request = {}, None
        self._box.progress.setValue(0)

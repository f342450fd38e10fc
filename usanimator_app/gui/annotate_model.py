"""What Predict and Track of the Annotate tab share: the model a job runs on the clip's frames
(:class:`ClipModel`) and the shape of a job that edits the session's clip when it ends (:class:`ClipJob`)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import QObject, Signal

from usanimator_app.core.preprocess import FrameGeometry, fit_geometry
from usanimator_app.engine.animator import Animator
from usanimator_app.gui.annotate_state import AnnotationSession
from usanimator_app.gui.context import TabContext
from usanimator_app.gui.state import AppState
from usanimator_app.gui.workers import JobFunction, JobRunner


@dataclass(frozen=True)
class ClipModel:
    """The model a job runs on a clip: ``checkpoint`` on ``device``; ``loaded`` (the application's
    model) is used as it is when it is that checkpoint (one model job runs at a time)."""

    checkpoint: Path
    device: str
    loaded: Any = None  # an engine.animator.Animator

    @classmethod
    def of(cls, app: AppState, checkpoint: Path | None = None) -> ClipModel:
        """``checkpoint`` (None: the application's model's) on the application's device."""
        return cls(checkpoint or app.model.checkpoint_path, app.device, app.model)

    def load(self, first_frame: np.ndarray) -> tuple[Animator, FrameGeometry]:
        """The model (in the job's thread) and the geometry that maps the clip's frames to its input
        as the trainer sends them (``fit_geometry`` on the first frame)."""
        loaded = self.loaded
        same = loaded is not None and Path(loaded.checkpoint_path).resolve() == Path(self.checkpoint).resolve()
        animator = loaded if same else Animator(self.checkpoint, device=self.device)
        return animator, fit_geometry(first_frame, size=animator.image_size, crop_borders=True)


class ClipJob(QObject):
    """A background job of the Annotate tab on the session's clip, started on the tab's ``jobs``;
    its end is said in words, and ``ended(outcome)`` follows: 'finished' | 'cancelled' | 'failed'.

    A subclass starts it with :meth:`_start` and has ``_item(item)`` (what the job yields),
    ``_finish() -> str`` (the edit a finished job makes, and what it says) and ``_clear()``
    (forget what the job found, reset its progress)."""

    ended = Signal(str)

    def __init__(self, kind: str, words: str, context: TabContext, jobs: JobRunner, box: QObject,
                 session: AnnotationSession, parent: QObject | None = None):
        super().__init__(parent)
        self._kind, self._words = kind, words
        self._context = context
        self._jobs = jobs
        self._box = box
        self._session = session

    def _start(self, job: JobFunction) -> bool:
        """Start ``job``; False when it may not start now (the user is told why)."""
        return self._jobs.start(self._kind, job, self._item, self._job_ended)

    def _job_ended(self, outcome: str, message: str) -> None:
        if outcome == "finished":
            self._context.show_message(self._finish())
        elif outcome == "cancelled":
            self._context.show_message(f"{self._words} cancelled; nothing changed.")
        else:
            self._context.prompts.error(message)
        self._clear()
        self.ended.emit(outcome)

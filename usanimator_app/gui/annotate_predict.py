"""Predict for the Annotate tab: which model it uses (chosen there, else the application's model,
else the bundled one) and the background job that runs the landmark heads over a clip's frames."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
from PySide6.QtCore import QObject

from usanimator_app.core.annotation_tools import prediction_slots
from usanimator_app.core.annotations import LandmarkPoint
from usanimator_app.core.errors import UserInputError
from usanimator_app.engine.pipeline import default_model_path
from usanimator_app.gui.annotate_model import ClipJob, ClipModel
from usanimator_app.gui.annotate_panels import EditBox
from usanimator_app.gui.annotate_state import AnnotationSession
from usanimator_app.gui.context import TabContext
from usanimator_app.gui.prompts import MODEL_FILTER
from usanimator_app.gui.workers import JobFunction, JobRunner


@dataclass
class PredictedFrame:
    """One frame's predicted points: landmark -> (x, y) original pixels."""

    frame: int
    points: dict[str, tuple[float, float]]


def predict_job(model: ClipModel, frames: list[np.ndarray], slots: dict[int, list[str]]) -> JobFunction:
    """Yields the number of frames to predict, then a :class:`PredictedFrame` per frame.

    Frames go to the model as the trainer sends them (``ClipModel.load``'s geometry, then
    ``to_model``), and the landmarks come back through ``points_to_original``.
    """

    def job(should_stop: Callable[[], bool]) -> Iterator[object]:
        animator, geometry = model.load(frames[0])
        names, name = animator.landmark_names, model.checkpoint.name
        if not names:
            raise UserInputError(f"{name} has no anatomical landmark heads (preset fomm): choose a p, pt or ptg model")
        wanted = {frame: [n for n in slot if n in names] for frame, slot in slots.items()}
        wanted = {frame: slot for frame, slot in wanted.items() if slot}
        if not wanted:
            raise UserInputError(f"{name} predicts {', '.join(names)}: none of them is missing on this clip")
        yield len(wanted)
        for frame, slot in wanted.items():
            if should_stop():
                return
            output = animator.keypoints(geometry.to_model(frames[frame]))
            original = geometry.points_to_original(animator.to_pixels(output.landmarks))
            yield PredictedFrame(frame, {n: tuple(float(v) for v in original[names.index(n)]) for n in slot})

    return job


class Predictor(ClipJob):
    """The model for Predict (shown in the Edit box), the prediction job on the tab's jobs, and the
    edit it makes on the session's clip when it finishes. ``ended(outcome)``: 'finished' | 'cancelled' | 'failed'.
    """

    def __init__(self, context: TabContext, jobs: JobRunner, box: EditBox, session: AnnotationSession,
                 parent: QObject | None = None):
        super().__init__("predict", "Prediction", context, jobs, box, session, parent)
        self._predicted: dict[int, dict[str, tuple[float, float]]] = {}
        saved = context.settings.text("annotate/model")
        self._chosen: Path | None = Path(saved) if saved and Path(saved).is_file() else None
        context.app.model_changed.subscribe(self.model)
        box.model_button.clicked.connect(self._choose_dialog)
        self.model()

    def model(self) -> Path | None:
        """The checkpoint Predict uses: chosen here, else the application's (the Animate tab's), else
        the bundled model. Shows which in the model label, or why there is none."""
        label = self._box.model_label
        if self._chosen is not None:
            label.setText(f"Model: {self._chosen.name} (chosen here)")
            return self._chosen
        animator = self._context.app.model
        if animator is not None:
            label.setText(f"Model: {animator.checkpoint_path.name} (the Animate tab's)")
            return animator.checkpoint_path
        try:
            path = default_model_path()
        except UserInputError:
            label.setText("No model for Predict: the bundled model is not installed and the Animate "
                          "tab has none loaded; choose a checkpoint (Model…).")
            return None
        label.setText(f"Model: {path.name} (bundled)")
        return path

    def choose(self, path: Path | None) -> None:
        """Use ``path`` for Predict (None: back to the Animate tab's or the bundled model)."""
        self._chosen = None if path is None else Path(path)
        self._context.settings.set("annotate/model", "" if path is None else str(path))
        self.model()

    def _choose_dialog(self) -> None:
        settings = self._context.settings
        path = self._context.prompts.open_file("Model for Predict", settings.folder("model"), MODEL_FILTER)
        if path:
            self.choose(path)

    def start(self) -> bool:
        """Predict the missing points of every frame of the session's clip in the background; False when it cannot start."""
        annotations, frames = self._session.annotations, self._session.frames
        checkpoint = self.model()
        if checkpoint is None:
            self._context.prompts.error(self._box.model_label.text())
            return False
        slots = prediction_slots(annotations, len(frames))
        if not slots:
            self._context.show_message("Every frame holds all its landmarks: nothing to predict.")
            return False
        if not self._start(predict_job(ClipModel.of(self._context.app, checkpoint), frames, slots)):
            return False
        self._box.predict_progress.setRange(0, 0)
        self._box.predict_progress.setValue(0)
        return True

    def _item(self, item: object) -> None:
        if isinstance(item, PredictedFrame):
            self._predicted[item.frame] = item.points
            self._box.predict_progress.setValue(len(self._predicted))
        else:
            self._box.predict_progress.setRange(0, int(item))

    def _finish(self) -> str:
        annotations, predicted = self._session.annotations, self._predicted
        points = {
            (frame, name): LandmarkPoint(x, y, "predicted")
            for frame, found in predicted.items()
            for name, (x, y) in found.items()
            if (current := annotations.point(frame, name)) is None or current.origin == "predicted"
        }
        self._session.document.edit("Predict", points)
        return f"Predicted {len(points)} points on {len(predicted)} frames: check them and Confirm (or drag) each frame."

    def _clear(self) -> None:
        self._predicted = {}
        self._box.predict_progress.setRange(0, 1)
        self._box.predict_progress.setValue(0)

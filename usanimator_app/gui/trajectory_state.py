"""Qt-free state of the Animate tab's edited motion: the driving clip's track as read by the last
unedited run, the teacher's edits of it, and the edits of the run on show (for the export).

The track comes from a finished run without edits: its ``FrameResult.driving_keypoints`` and
``driving_landmarks`` are the model's reading of each driving frame (model pixels), mapped back to
the driving clip's pixels with the driving geometry. New inputs or a new model clear it.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Sequence

import numpy as np

from usanimator_app.core.errors import UserInputError
from usanimator_app.core.preprocess import FrameGeometry
from usanimator_app.core.trajectory import Trajectory, TrajectoryEdits
from usanimator_app.gui.state import Observers

NO_TRACK = "Run once: the curves show the driving clip's landmarks as the model reads them; then edit them here."


class MotionEdits:
    """The track (a :class:`Trajectory` or None, with ``status`` saying why), its edits, and
    ``changed`` (no arguments) after each change; ``edited`` (no arguments) after an edit only."""

    def __init__(self):
        self.trajectory: Trajectory | None = None
        self.geometry: FrameGeometry | None = None  # driving clip pixels <-> model pixels
        self.status = NO_TRACK
        self.shown_edits: TrajectoryEdits | None = None  # the edits of the run on show; None: unedited
        self.changed = Observers()
        self.edited = Observers()

    def clear(self, status: str = NO_TRACK) -> None:
        """Forget the track (new inputs or model)."""
        self.trajectory, self.geometry, self.status, self.shown_edits = None, None, status, None
        self.changed.notify()

    def take_track(self, names: Sequence[str], results: Sequence, geometry: FrameGeometry, spacing_y_mm: float | None) -> None:
        """Read the track from an unedited run's results (FrameResults, all frames), keeping any edits."""
        points = np.stack([geometry.points_to_original(np.concatenate([r.driving_keypoints, r.driving_landmarks]))
                           for r in results])
        edits = self.trajectory.edits if self.trajectory is not None and len(self.trajectory) == len(points) else None
        try:
            self.trajectory = Trajectory(tuple(names), points, spacing_y_mm)
        except UserInputError as exc:
            self.clear(str(exc))
            return
        self.geometry = geometry
        self.status = ""
        if edits is not None:
            self.trajectory.edits = edits
        self.changed.notify()

    def run_started(self) -> list[np.ndarray] | None:
        """A run starts: the edited motion points per driving frame in model pixels, or None when
        there are no edits (the run then animates as driven)."""
        trajectory = self.trajectory
        if trajectory is None or not trajectory.edits.changed:
            self.shown_edits = None
            return None
        self.shown_edits = replace(trajectory.edits, drags=dict(trajectory.edits.drags))
        return [self.geometry.points_to_model(points) for points in trajectory.edited_points()]

    def set(self, **changes) -> None:
        """Change edit parameters (scale, shift, smooth, keypoints_follow); UserInputError when out of range."""
        self.trajectory.edits = replace(self.trajectory.edits, **changes)
        self._edited()

    def drag(self, frame: int, descent_shown: float) -> None:
        """Set the edited descent at ``frame`` (in the trajectory's unit)."""
        self.trajectory.drag(frame, descent_shown)
        self._edited()

    def reset(self) -> None:
        self.trajectory.reset()
        self._edited()

    def _edited(self) -> None:
        self.changed.notify()
        self.edited.notify()

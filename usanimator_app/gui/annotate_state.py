"""The Annotate tab's Qt-free state (it loads neither Qt nor torch): the open clip's gray frames,
its edits (``state.AnnotationEdits``), the frame on show, the chosen landmark, and every edit a
user makes there, each one undoable edit whose text names what it did and on which frame.
The tab renders this state and forwards the user's actions to it; tests drive it without widgets.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from usanimator_app.core.annotation_tools import (
    PointKey,
    bladder_neck_descent,
    confirm_frame,
    interpolate_gaps,
    parse_landmark_names,
)
from usanimator_app.core.annotations import DEFAULT_LANDMARKS, Annotations, LandmarkPoint, sidecar_path
from usanimator_app.core.errors import UserInputError
from usanimator_app.core.landmark_tracking import TrackRequest, delete_from, plan_track, tracked_points
from usanimator_app.core.media import MediaInfo
from usanimator_app.gui.state import AnnotationEdits


def _display(name: str) -> str:
    return name.replace("_", " ")


def saved_landmark_set(text: str) -> list[str]:
    """The landmark set for clips without a sidecar: ``text`` as applied last, else the default."""
    try:
        return parse_landmark_names(text) if text else list(DEFAULT_LANDMARKS)
    except UserInputError:
        return list(DEFAULT_LANDMARKS)


class AnnotationSession:
    """One clip under annotation: ``frames`` (F of (H, W) uint8), ``document`` (None before a clip
    is open), ``frame`` on show and ``chosen`` landmark row; ``default_landmarks`` is the set for a
    clip without a sidecar."""

    def __init__(self, default_landmarks: list[str]):
        self.default_landmarks = list(default_landmarks)
        self.frames: list[np.ndarray] = []
        self.document: AnnotationEdits | None = None
        self.file_spacing: tuple[float, float] | None = None
        self.frame = 0
        self.chosen = 0

    def open(self, path: Path, annotations: Annotations | None, info: MediaInfo, frames: list[np.ndarray]) -> AnnotationEdits:
        """A loaded clip (``annotations`` None: no sidecar yet, a new one with the default set)."""
        if annotations is None:
            annotations = Annotations(clip=Path(path).name, landmarks=list(self.default_landmarks),
                                      image_size=(info.width, info.height), pixel_spacing_mm=info.pixel_spacing_mm)
        self.frames, self.file_spacing = list(frames), info.pixel_spacing_mm
        self.document = AnnotationEdits(annotations, sidecar_path(path))
        self.frame, self.chosen = 0, 0
        return self.document

    @property
    def annotations(self) -> Annotations | None:
        return None if self.document is None else self.document.annotations

    @property
    def landmarks(self) -> list[str]:
        """The landmark set in use: the open clip's, else the one for new sidecars."""
        return self.document.annotations.landmarks if self.document is not None else self.default_landmarks

    @property
    def chosen_landmark(self) -> str:
        names = self.landmarks
        return names[min(self.chosen, len(names) - 1)]

    def go_to(self, frame: int) -> bool:
        """Show ``frame`` (clamped to the clip); True when that is another frame."""
        frame = min(max(int(frame), 0), max(len(self.frames) - 1, 0))
        changed, self.frame = frame != self.frame, frame
        return changed

    def points(self) -> dict[str, LandmarkPoint]:
        """The points of the frame on show."""
        return {} if self.document is None else dict(self.document.annotations.frames.get(self.frame, {}))

    def spacing(self) -> tuple[float, float] | None:
        """Pixel spacing (x, y) mm: the sidecar's, else the file's, else None."""
        if self.document is None:
            return None
        return self.document.annotations.pixel_spacing_mm or self.file_spacing

    def descent(self, rest: int) -> dict[int, float]:
        """Bladder-neck descent per frame relative to ``rest`` (mm, or px without spacing)."""
        if self.document is None:
            return {}
        spacing = self.spacing()
        return bladder_neck_descent(self.document.annotations, rest, spacing[1] if spacing else None)

    # ------------------------------------------------------------------------------------ edits

    def edit(self, text: str, points: dict[PointKey, LandmarkPoint | None]) -> bool:
        """An edit of the frame on show (its undo text names the frame); False when nothing changed."""
        return self.document is not None and self.document.edit(f"{text} on frame {self.frame}", points)

    def place(self, name: str, x: float, y: float, verb: str = "Place") -> bool:
        """A manual point of ``name`` on the frame on show (placed, or moved: ``verb`` 'Move')."""
        return self.edit(f"{verb} {_display(name)}", {(self.frame, name): LandmarkPoint(x, y, "manual")})

    def delete(self) -> bool:
        """Remove the chosen landmark's point on the frame on show."""
        name = self.chosen_landmark
        return self.annotations is not None and self.annotations.point(self.frame, name) is not None \
            and self.edit(f"Delete {_display(name)}", {(self.frame, name): None})

    def confirm(self) -> bool:
        """Make the predicted, tracked and interpolated points of the frame on show manual."""
        return self.document is not None and self.edit("Confirm points", confirm_frame(self.document.annotations, self.frame))

    def interpolate(self) -> int:
        """Fill the frames between annotated frames; the number of points set."""
        if self.document is None:
            return 0
        points = interpolate_gaps(self.document.annotations)
        self.document.edit("Interpolate", points)
        return len(points)

    def removed_by(self, names: list[str]) -> dict[PointKey, None]:
        """The points that the landmark set ``names`` would remove."""
        annotations = self.annotations
        if annotations is None:
            return {}
        return {(frame, name): None for frame, points in annotations.frames.items() for name in points if name not in names}

    def set_landmarks(self, names: list[str]) -> bool:
        """Use the landmark set ``names`` (the points of removed names go; undoable)."""
        if self.document is None:
            self.default_landmarks = list(names)
            return True
        return self.document.edit("Change the landmark set", self.removed_by(names), landmarks=names)

    # --------------------------------------------------------------------------------- tracking

    def track_request(self, first: int, last: int, direction: str) -> TrackRequest:
        """Track every point of the frame on show over ``first`` .. ``last`` ('forward' | 'backward'
        | 'both'); a UserInputError says why not."""
        return plan_track(self.document.annotations, self.frame, first, last, direction)

    def add_tracked(self, request: TrackRequest, found: dict[int, np.ndarray], method: str) -> int:
        """Set the tracked points ``found`` (frame -> (N, 2)) as one edit; how many were set."""
        if self.document is None:
            return 0
        points = tracked_points(self.document.annotations, request.names, found)
        label = ", ".join(_display(name) for name in request.names)
        self.document.edit(f"Track {label} from frame {request.start} ({method})", points)
        return len(points)

    def delete_tracked_from_here(self) -> int:
        """Remove the chosen landmark's tracked points on the frame on show and after; how many."""
        if self.document is None:
            return 0
        points = delete_from(self.document.annotations, self.frame, [self.chosen_landmark])
        self.document.edit(f"Delete tracked {_display(self.chosen_landmark)} from frame {self.frame} on", points)
        return len(points)

"""Landmarks carried from one frame to the next by the image (Qt-free, no torch).

A tracker is ``step(frame_from, frame_to, points) -> points``: (H, W) uint8 frames, (N, 2) float
points in those frames' pixels (x, y). :func:`track` chains steps over a range of frames, forward
or backward from a start frame, one frame at a time (so a caller can show progress and stop), and
goes on from a manual point where it meets one. Tracked points have origin ``tracked``: like
predictions, the trainer ignores them until a user confirms them.
The optical-flow tracker is OpenCV's pyramidal Lucas-Kanade; the model's own dense motion is in
``engine.landmark_tracking``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterator

import cv2
import numpy as np

from usanimator_app.core.annotation_tools import ANCHOR_ORIGINS, PointKey
from usanimator_app.core.annotations import Annotations, LandmarkPoint
from usanimator_app.core.errors import UserInputError

Step = Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]
DIRECTIONS = ("forward", "backward", "both")


def optical_flow_step(window: int = 15, levels: int = 3) -> Step:
    """Pyramidal Lucas-Kanade (``cv2.calcOpticalFlowPyrLK``) with a ``window`` x ``window`` patch.

    A point that Lucas-Kanade loses (status 0) stays where it was.
    """
    criteria = (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 30, 0.01)

    def step(frame_from: np.ndarray, frame_to: np.ndarray, points: np.ndarray) -> np.ndarray:
        start = np.asarray(points, np.float32).reshape(-1, 1, 2)
        moved, status, _error = cv2.calcOpticalFlowPyrLK(frame_from, frame_to, start, None, winSize=(window, window),
                                                         maxLevel=levels, criteria=criteria)
        found = status.reshape(-1).astype(bool)
        result = start.reshape(-1, 2).astype(np.float64)
        result[found] = moved.reshape(-1, 2)[found]
        height, width = frame_to.shape[:2]
        return np.clip(result, [-0.5, -0.5], [width - 0.5, height - 0.5])

    return step


def plan_steps(start: int, first: int, last: int, direction: str) -> list[tuple[int, int]]:
    """The (from, to) frame steps of a track from ``start`` over the frames ``first`` .. ``last``
    (inclusive): forward to ``last``, backward to ``first``, or both (forward first)."""
    if direction not in DIRECTIONS:
        raise ValueError(f"direction must be one of {', '.join(DIRECTIONS)}, not {direction!r}")
    steps = []
    if direction in ("forward", "both"):
        steps += [(frame, frame + 1) for frame in range(start, last)]
    if direction in ("backward", "both"):
        steps += [(frame, frame - 1) for frame in range(start, first, -1)]
    return steps


@dataclass
class TrackRequest:
    """What one Track carries: the points of ``names`` on frame ``start`` ((N, 2) original
    pixels), the steps (:func:`plan_steps`) and the anchors, frame -> (N, 2) manual or
    ground-truth points there (NaN where a landmark has none), from which tracking goes on."""

    start: int
    names: list[str]
    points: np.ndarray
    steps: list[tuple[int, int]]
    anchors: dict[int, np.ndarray]


def plan_track(annotations: Annotations, start: int, first: int, last: int, direction: str) -> TrackRequest:
    """The request that tracks every point of frame ``start`` over ``first`` .. ``last``;
    a UserInputError says why there is nothing to track."""
    names = [name for name in annotations.landmarks if annotations.point(start, name) is not None]
    if not names:
        raise UserInputError(f"Frame {start} has no points to track: place the landmarks on it first.")
    steps = plan_steps(start, first, last, direction)
    if not steps:
        raise UserInputError(f"Nothing to track {direction} from frame {start} within frames {first}–{last}.")
    points = np.array([[annotations.point(start, name).x, annotations.point(start, name).y] for name in names])
    anchors = {}
    for _, frame in steps:
        placed = [annotations.point(frame, name) for name in names]
        if any(p is not None and p.origin in ANCHOR_ORIGINS for p in placed):
            anchors[frame] = np.array([[p.x, p.y] if p is not None and p.origin in ANCHOR_ORIGINS else [np.nan, np.nan]
                                       for p in placed])
    return TrackRequest(start, names, points, steps, anchors)


def track(step: Step, frames: list[np.ndarray], request: TrackRequest) -> Iterator[tuple[int, np.ndarray]]:
    """Yield (frame, (N, 2) points) for every step of the request; each step starts from the
    points of its ``from`` frame, where an anchor replaces the tracked point."""
    known = {request.start: np.asarray(request.points, np.float64).reshape(-1, 2)}
    for frame_from, frame_to in request.steps:
        moved = step(frames[frame_from], frames[frame_to], known[frame_from])
        anchor = request.anchors.get(frame_to)
        known[frame_to] = moved if anchor is None else np.where(np.isnan(anchor), moved, anchor)
        yield frame_to, known[frame_to]


def tracked_points(annotations: Annotations, names: list[str], found: dict[int, np.ndarray]) -> dict[PointKey, LandmarkPoint]:
    """The edit that sets tracked points (``found``: frame -> (N, 2) points of ``names``).

    A frame's manual or ground-truth point is kept (tracking never overwrites what a person
    placed); any other point is replaced.
    """
    edit: dict[PointKey, LandmarkPoint] = {}
    for frame, points in found.items():
        for name, (x, y) in zip(names, points):
            current = annotations.point(frame, name)
            if current is None or current.origin not in ANCHOR_ORIGINS:
                edit[(frame, name)] = LandmarkPoint(float(x), float(y), "tracked")
    return edit


def delete_from(annotations: Annotations, frame: int, names: list[str]) -> dict[PointKey, None]:
    """The edit that removes the tracked points of ``names`` on ``frame`` and every later frame."""
    return {
        (index, name): None
        for index, points in annotations.frames.items() if index >= frame
        for name, point in points.items() if name in names and point.origin == "tracked"
    }

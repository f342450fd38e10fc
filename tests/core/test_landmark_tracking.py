"""Landmark tracking (core): Lucas-Kanade follows a shifted texture, plans, anchors, the tracked
origin in the sidecar format, and the edits that tracking and Delete-from-here make."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from usanimator_app.core.annotations import Annotations
from usanimator_app.core.errors import UserInputError
from usanimator_app.core.landmark_tracking import (
    delete_from,
    optical_flow_step,
    plan_steps,
    plan_track,
    track,
    tracked_points,
)

SHIFT = np.array([1.7, -0.9])  # px per frame


def shifted_texture(frames: int = 12, size: int = 96) -> list[np.ndarray]:
    """Frames of one blurred speckle texture moved by ``SHIFT`` per frame (sub-pixel, bilinear)."""
    rng = np.random.default_rng(3)
    texture = cv2.GaussianBlur(rng.uniform(0, 255, (size, size)).astype(np.float32), (0, 0), 2.0)
    texture = cv2.normalize(texture, None, 0, 255, cv2.NORM_MINMAX)
    out = []
    for index in range(frames):
        dx, dy = SHIFT * index
        moved = cv2.warpAffine(texture, np.float32([[1, 0, dx], [0, 1, dy]]), (size, size),
                               flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
        out.append(np.clip(moved + 0.5, 0, 255).astype(np.uint8))
    return out


def _annotations() -> Annotations:
    return Annotations(clip="clip", landmarks=["a", "b"], image_size=(96, 96))


def test_optical_flow_follows_a_shifted_texture_to_under_a_pixel():
    frames = shifted_texture()
    annotations = _annotations()
    annotations.set_point(0, "a", 30.0, 60.0)
    annotations.set_point(0, "b", 50.0, 45.0)
    request = plan_track(annotations, 0, 0, len(frames) - 1, "forward")
    found = dict(track(optical_flow_step(), frames, request))
    assert sorted(found) == list(range(1, len(frames)))
    for frame, points in found.items():
        expected = request.points + SHIFT * frame
        assert np.abs(points - expected).max() < 1.0, (frame, points, expected)
    last = found[len(frames) - 1]
    assert np.linalg.norm(last - (request.points + SHIFT * (len(frames) - 1)), axis=1).max() < 0.5


def test_plans_run_forward_backward_or_both_within_the_range():
    assert plan_steps(3, 1, 5, "forward") == [(3, 4), (4, 5)]
    assert plan_steps(3, 1, 5, "backward") == [(3, 2), (2, 1)]
    assert plan_steps(3, 1, 5, "both") == [(3, 4), (4, 5), (3, 2), (2, 1)]
    assert plan_steps(5, 0, 5, "forward") == []
    with pytest.raises(ValueError):
        plan_steps(0, 0, 5, "sideways")
    annotations = _annotations()
    with pytest.raises(UserInputError, match="no points to track"):
        plan_track(annotations, 2, 0, 5, "both")
    annotations.set_point(5, "a", 1, 1)
    with pytest.raises(UserInputError, match="Nothing to track forward"):
        plan_track(annotations, 5, 0, 5, "forward")


def test_tracking_goes_on_from_manual_points_and_never_replaces_them():
    annotations = _annotations()
    annotations.set_point(0, "a", 10, 10)
    annotations.set_point(0, "b", 20, 20)
    annotations.set_point(3, "a", 50, 50)  # a person placed a on frame 3
    annotations.set_point(4, "b", 99, 99, origin="predicted")  # replaced by tracking
    request = plan_track(annotations, 0, 0, 5, "forward")
    assert sorted(request.anchors) == [3] and np.isnan(request.anchors[3][1]).all()

    def one_right(frame_from, frame_to, points):
        return points + [1.0, 0.0]

    found = dict(track(one_right, [None] * 6, request))
    assert found[2].tolist() == [[12, 10], [22, 20]]
    assert found[3].tolist() == [[50, 50], [23, 20]]  # a goes on from the manual point
    assert found[5].tolist() == [[52, 50], [25, 20]]
    edit = tracked_points(annotations, request.names, found)
    assert (3, "a") not in edit and edit[(4, "b")].origin == "tracked" and edit[(4, "b")].x == 24
    assert len(edit) == 9


def test_delete_from_removes_only_tracked_points_from_that_frame_on():
    annotations = _annotations()
    for frame in range(6):
        annotations.set_point(frame, "a", frame, 0, origin="tracked")
        annotations.set_point(frame, "b", frame, 0, origin="tracked")
    annotations.set_point(4, "a", 4, 4, origin="manual")
    assert sorted(delete_from(annotations, 3, ["a"])) == [(3, "a"), (5, "a")]


def test_the_sidecar_format_knows_tracked_points_and_keeps_them_out_of_training():
    annotations = _annotations()
    annotations.set_point(0, "a", 1, 2, origin="tracked")
    annotations.set_point(1, "a", 1, 2, origin="manual")
    annotations.set_point(1, "b", 3, 4, origin="tracked")
    data = annotations.to_dict()
    again = Annotations.from_dict(data)
    assert again.point(0, "a").origin == "tracked"
    assert again.training_points(0) == {} and again.training_points(1) == {"a": (1.0, 2.0)}
    assert again.annotated_frames() == [1] and again.annotated_frames(include_predicted=True) == [0, 1]
    data["frames"]["0"]["a"]["origin"] = "guessed"
    with pytest.raises(UserInputError, match="origin 'guessed' is not one of .*tracked"):
        Annotations.from_dict(data)

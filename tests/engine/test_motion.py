"""Relative-motion maths (FOMM's normalisation) against a hand-computed example."""

import numpy as np
import pytest
import torch

from usanimator_app.engine.motion import adapt_scale, best_aligned_index, convex_hull_area, relative_keypoints
from usanimator_app.nets.keypoint_detector import KeypointOutput


def kp(points, jacobians=None):
    points = torch.tensor([points], dtype=torch.float32)
    n = points.shape[1]
    jac = torch.eye(2).repeat(1, n, 1, 1) if jacobians is None else torch.tensor([jacobians], dtype=torch.float32)
    return KeypointOutput(points[:, :3], jac, points[:, 3:], torch.zeros(1, n - 3, 4, 4))


def test_convex_hull_area():
    assert convex_hull_area(np.array([[0, 0], [2, 0], [2, 1], [0, 1], [1, 0.5]])) == 2.0
    assert convex_hull_area(np.array([[0, 0], [1, 1], [2, 2]])) == 0.0


def test_relative_motion_hand_computed():
    # source triangle has twice the size (4x the area) of the reference one -> scale 2.
    source = kp([[0, 0], [0.4, 0], [0, 0.4], [0.2, 0.2]])
    reference = kp([[0, 0], [0.2, 0], [0, 0.2], [0.1, 0.1]])
    driving = kp([[0.05, 0], [0.25, 0], [0.05, 0.2], [0.1, 0.15]], jacobians=[np.diag([1.2, 1.0]).tolist()] * 4)
    assert adapt_scale(source, reference) == pytest.approx(2.0)
    moved = relative_keypoints(source, driving, reference, scale=adapt_scale(source, reference), gain=1.0)
    expected = torch.tensor([[[0.1, 0], [0.5, 0], [0.1, 0.4]]])
    torch.testing.assert_close(moved.keypoints, expected)
    torch.testing.assert_close(moved.landmarks, torch.tensor([[[0.2, 0.3]]]))
    torch.testing.assert_close(moved.jacobians[0, 0], torch.tensor([[1.2, 0.0], [0.0, 1.0]]))
    half = relative_keypoints(source, driving, reference, scale=1.0, gain=0.5)
    torch.testing.assert_close(half.keypoints[0, 0], torch.tensor([0.025, 0.0]))
    torch.testing.assert_close(half.jacobians[0, 0], torch.tensor([[1.1, 0.0], [0.0, 1.0]]))


def test_reference_equal_to_driving_leaves_source_unchanged():
    source = kp([[0.1, 0.2], [0.5, -0.3], [-0.4, 0.4], [0.0, 0.0]])
    driving = kp([[0.3, 0.1], [0.2, 0.2], [-0.1, 0.5], [0.1, 0.1]])
    same = relative_keypoints(source, driving, driving)
    torch.testing.assert_close(same.motion_points(), source.motion_points())


def test_best_aligned_index_picks_the_same_shape():
    source = np.array([[0, 0], [1, 0], [0, 1], [1, 1.0]])
    frames = [source * [2, 1], source * 3 + 5, source[[0, 1, 3, 2]] * [1, 0.3]]
    assert best_aligned_index(source, frames) == 1

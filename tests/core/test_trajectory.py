"""core.trajectory: the bladder-neck edits (scale, shift, smooth, drag, reset) and their JSON."""

from __future__ import annotations

import json

import numpy as np
import pytest

from usanimator_app.core.errors import UserInputError
from usanimator_app.core.trajectory import Trajectory, TrajectoryEdits, load_edits

NAMES = ("symphysis_lower_edge", "bladder_neck")
FRAMES = 12


def _track() -> np.ndarray:
    """(F, 2 + 2, 2): keypoint 0 rides on the neck, keypoint 1 stands still, the symphysis drifts
    right (probe motion), the neck descends 10 px towards the probe (a ramp, then a plateau) and
    moves 2 px left."""
    t = np.minimum(np.arange(FRAMES) / 6.0, 1.0)
    symphysis = np.stack([50 + 0.5 * np.arange(FRAMES), np.full(FRAMES, 40.0)], axis=1)
    neck = symphysis + np.stack([20 - 2 * t, 30 - 10 * t], axis=1)
    rider = neck + [5.0, -3.0]
    still = np.tile([10.0, 10.0], (FRAMES, 1))
    return np.stack([rider, still, symphysis, neck], axis=1)


def _trajectory(spacing: float | None = None) -> Trajectory:
    return Trajectory(NAMES, _track(), spacing_y_mm=spacing)


def test_unedited_track_is_the_detected_one_and_its_descent_is_the_neck_drop():
    trajectory = _trajectory()
    assert trajectory.num_kp == 2
    np.testing.assert_allclose(trajectory.edited_points(), _track())
    np.testing.assert_allclose(trajectory.descent(), 10 * np.minimum(np.arange(FRAMES) / 6.0, 1.0))


def test_scale_multiplies_the_descent_and_leaves_the_symphysis_alone():
    trajectory = _trajectory()
    trajectory.edits = TrajectoryEdits(scale=2.0)
    edited = trajectory.edited_points()
    np.testing.assert_allclose(trajectory.descent(edited), 2 * trajectory.descent())
    np.testing.assert_allclose(edited[:, 2], _track()[:, 2])  # symphysis as detected
    np.testing.assert_allclose(edited[0], _track()[0])  # about frame 0
    neck_motion = edited[:, 3] - edited[:, 2] - (_track()[0, 3] - _track()[0, 2])
    np.testing.assert_allclose(neck_motion, 2 * (_track()[:, 3] - _track()[:, 2] - (_track()[0, 3] - _track()[0, 2])))


def test_keypoints_follow_the_edit_by_their_coupling_to_the_neck_unless_told_not_to():
    trajectory = _trajectory()
    trajectory.edits = TrajectoryEdits(scale=3.0)
    edited = trajectory.edited_points()
    change = edited[:, 3] - _track()[:, 3]
    np.testing.assert_allclose(edited[:, 0] - _track()[:, 0], change, atol=1e-9)  # the rider moves with the neck
    np.testing.assert_allclose(edited[:, 1], _track()[:, 1], atol=1e-9)  # the still keypoint stays
    trajectory.edits = TrajectoryEdits(scale=3.0, keypoints_follow=False)
    np.testing.assert_allclose(trajectory.edited_points()[:, :2], _track()[:, :2])


def test_shift_delays_the_motion_and_holds_the_ends():
    trajectory = _trajectory()
    trajectory.edits = TrajectoryEdits(shift=3)
    descent = trajectory.descent(trajectory.edited_points())
    detected = trajectory.descent()
    np.testing.assert_allclose(descent[3:], detected[:-3])
    np.testing.assert_allclose(descent[:3], detected[0])
    trajectory.edits = TrajectoryEdits(shift=-2)
    np.testing.assert_allclose(trajectory.descent(trajectory.edited_points())[:-2], detected[2:])


def test_smoothing_is_a_centred_moving_average_with_repeated_ends():
    trajectory = _trajectory()
    trajectory.edits = TrajectoryEdits(smooth=3)
    detected = trajectory.descent()
    padded = np.concatenate([[detected[0]], detected, [detected[-1]]])
    expected = (padded[:-2] + padded[1:-1] + padded[2:]) / 3
    smoothed = trajectory.descent(trajectory.edited_points())
    np.testing.assert_allclose(smoothed, expected, atol=1e-9)
    assert np.abs(np.diff(smoothed, 2)).max() < np.abs(np.diff(detected, 2)).max()
    with pytest.raises(UserInputError):
        TrajectoryEdits(smooth=4)


def test_dragging_a_point_sets_the_descent_there_in_mm_and_reset_undoes_everything():
    trajectory = _trajectory(spacing=0.5)
    assert trajectory.unit == "mm"
    trajectory.edits = TrajectoryEdits(scale=1.5)
    trajectory.drag(4, 12.0)  # mm
    shown = trajectory.descent_shown(edited=True)
    assert shown[4] == pytest.approx(12.0)
    assert trajectory.edits.drags == {4: pytest.approx(24.0)}  # px
    np.testing.assert_allclose(np.delete(shown, 4), np.delete(1.5 * trajectory.descent_shown(edited=False), 4))
    with pytest.raises(ValueError):
        trajectory.drag(FRAMES, 1.0)
    trajectory.reset()
    assert not trajectory.edits.changed
    np.testing.assert_allclose(trajectory.edited_points(), _track())


def test_edits_roundtrip_through_json_also_from_export_settings(tmp_path):
    edits = TrajectoryEdits(scale=2.5, shift=-1, smooth=5, drags={3: 4.25, 10: -1.0}, keypoints_follow=False)
    text = json.dumps(edits.to_json())
    assert TrajectoryEdits.from_json(json.loads(text)) == edits
    settings = tmp_path / "clip.mp4.settings.json"
    settings.write_text(json.dumps({"source": "s.png", "trajectory": edits.to_json()}))
    assert load_edits(settings) == edits
    with pytest.raises(UserInputError, match="not a trajectory-edits file"):
        TrajectoryEdits.from_json({"scale": 2.0})
    with pytest.raises(UserInputError, match="out of range"):
        TrajectoryEdits.from_json({**edits.to_json(), "scale": 7.0})


def test_a_model_without_the_bladder_neck_cannot_edit_the_motion():
    with pytest.raises(UserInputError, match="bladder_neck"):
        Trajectory(("a", "b"), np.zeros((3, 2, 2)))

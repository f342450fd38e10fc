"""Animator.animate(driving_points=...): an edited trajectory drives the motion (tiny random model)."""

from __future__ import annotations

import json
from pathlib import Path

import imageio.v2 as imageio
import numpy as np
import pytest

from usanimator_app.cli import main

from usanimator_app.core.errors import UserInputError
from usanimator_app.core.trajectory import Trajectory, TrajectoryEdits
from usanimator_app.engine.animator import Animator, MotionOptions
from usanimator_app.engine.checkpoint import save_checkpoint
from usanimator_app.engine.config import make_config
from usanimator_app.engine.model import AnimationModel
from tests.engine.conftest import moving_disc_clip


@pytest.fixture(scope="module")
def animator(tmp_path_factory) -> Animator:
    config = make_config("ptg", "tiny")
    path = save_checkpoint(tmp_path_factory.mktemp("model") / "m.pt", config, AnimationModel(config.model), step=0)
    return Animator(path, device="cpu")


@pytest.fixture(scope="module")
def frames() -> np.ndarray:
    return moving_disc_clip(frames=6, size=64)[0]


def test_driving_with_the_detected_points_gives_the_same_animation(animator, frames):
    detected = list(animator.point_track(frames))
    assert detected[0].shape == (4 + 2, 2)
    plain = list(animator.animate(frames[0], frames))
    driven = list(animator.animate(frames[0], frames, driving_points=detected))
    for a, b in zip(plain, driven, strict=True):
        assert np.abs(a.frame.astype(int) - b.frame).max() <= 1
        np.testing.assert_allclose(a.output_landmarks, b.output_landmarks, atol=1e-3)
        np.testing.assert_allclose(b.driving_landmarks, a.driving_landmarks, atol=1e-3)


def test_a_scaled_descent_moves_the_output_neck_further_and_changes_the_frames(animator, frames):
    trajectory = Trajectory(animator.landmark_names, np.stack(list(animator.point_track(frames))))
    plain = list(animator.animate(frames[0], frames, MotionOptions(adapt_scale=False)))
    trajectory.edits = TrajectoryEdits(scale=3.0)
    edited = list(animator.animate(frames[0], frames, MotionOptions(adapt_scale=False), driving_points=list(trajectory.edited_points())))
    neck, symphysis = 4 + animator.landmark_names.index("bladder_neck"), 4 + animator.landmark_names.index("symphysis_lower_edge")

    def relative_motion(results):  # (F, 2) the output neck relative to the output symphysis, from frame 0
        relative = np.stack([np.concatenate([r.output_keypoints, r.output_landmarks])[neck]
                             - np.concatenate([r.output_keypoints, r.output_landmarks])[symphysis] for r in results])
        return relative - relative[0]

    np.testing.assert_allclose(relative_motion(edited), 3 * relative_motion(plain), atol=1e-3)
    assert np.abs(relative_motion(plain)).max() > 0.05  # the random model's neck does move
    np.testing.assert_allclose(edited[2].driving_landmarks, trajectory.edited_points()[2, 4:], atol=1e-3)
    assert max(np.abs(a.frame.astype(int) - b.frame).max() for a, b in zip(plain, edited)) > 0


def test_the_reference_frame_is_taken_from_the_edited_points_too(animator, frames):
    detected = list(animator.point_track(frames))
    points = [p + [0.0, 3.0 * i] for i, p in enumerate(detected)]  # every point drifts 3 px down per frame
    results = list(animator.animate(frames[0], frames, MotionOptions(reference=2, adapt_scale=False), driving_points=points))
    np.testing.assert_allclose(results[2].output_landmarks, results[2].source_landmarks, atol=1e-3)
    moved = results[4].output_landmarks - results[4].source_landmarks
    np.testing.assert_allclose(moved, detected[4][4:] - detected[2][4:] + [0.0, 6.0], atol=1e-3)


def test_edited_points_of_the_wrong_shape_or_length_are_refused(animator, frames):
    with pytest.raises(UserInputError, match="4 keypoints and 2 landmarks"):
        list(animator.animate(frames[0], frames, driving_points=[np.zeros((2, 2))] * len(frames)))
    with pytest.raises(UserInputError, match="has 3 frames"):
        list(animator.animate(frames[0], frames, driving_points=list(animator.point_track(frames[:3]))))


def test_the_cli_drives_by_edits_and_its_settings_file_remakes_the_clip(tmp_path, animator):
    repo = Path(__file__).resolve().parents[2]
    edits = tmp_path / "edits.json"
    edits.write_text(json.dumps(TrajectoryEdits(scale=2.0, smooth=3).to_json()))
    out = tmp_path / "edited.mp4"
    base = ["animate", "--source", str(repo / "resources" / "sample_source.png"), "--driving",
            str(repo / "resources" / "sample_driving.mp4"), "--model", str(animator.checkpoint_path), "--device", "cpu",
            "--max-frames", "3"]
    assert main(base + ["--out", str(out), "--trajectory", str(edits)]) == 0
    settings_file = tmp_path / "edited.mp4.settings.json"
    settings = json.loads(settings_file.read_text())
    assert settings["trajectory"] == TrajectoryEdits(scale=2.0, smooth=3).to_json() and settings["max_frames"] == 3
    places = {"SETTINGS.json": str(settings_file), "FOLDER": str(repo / "resources"), "OUT.mp4": str(tmp_path / "remade.mp4")}
    command = [places.get(a, a) for a in settings["command"]]
    assert main(command[1:] + ["--model", str(animator.checkpoint_path), "--device", "cpu"]) == 0
    first = [imageio.mimread(path)[0] for path in (out, tmp_path / "remade.mp4")]
    np.testing.assert_array_equal(first[0], first[1])
    assert main(base + ["--out", str(tmp_path / "plain.mp4")]) == 0
    assert not (tmp_path / "plain.mp4.settings.json").exists()
    with open(tmp_path / "bad.json", "w") as handle:
        handle.write("{}")
    assert main(base + ["--out", str(tmp_path / "bad.mp4"), "--trajectory", str(tmp_path / "bad.json")]) == 2

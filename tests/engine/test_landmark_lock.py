"""The landmark lock in the animator (bundled model): where the detector is sure of the landmarks
(the phantom sample driven by the bundled phantom clip) the motion carries the source's landmarks
exactly where the keypoints move them; where it guesses (the real pelvic-floor sample) the lock
stays off and the output is as without it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from usanimator_app.core.media import open_media
from usanimator_app.engine.animator import Animator, MotionOptions, OutputOptions
from usanimator_app.engine.pipeline import load_source_frame
from usanimator_app.evaluation.metrics import carry_points
from usanimator_app.evaluation.transfer import model_frames

REPO = Path(__file__).resolve().parents[2]
FRAMES = 26  # up to the Valsalva peak of the bundled driving clip


@pytest.fixture(scope="module")
def animator() -> Animator:
    return Animator(REPO / "models" / "usanimator-ptg-cpu128.pt", device="cpu")


@pytest.fixture(scope="module")
def driving(animator) -> list[np.ndarray]:
    return model_frames(open_media(REPO / "resources" / "sample_driving.mp4").iter_gray(), animator.image_size, FRAMES)


def _run(animator, source_name: str, driving, lock: bool):
    source = load_source_frame(REPO / "resources" / source_name, animator.image_size)
    options = MotionOptions(lock_landmarks=lock)
    results = list(animator.animate(source.model_frame, driving, options, native=(source.gray, source.geometry),
                                    output=OutputOptions(size="model")))
    return results


def _landmark_miss(results, animator) -> float:
    """Largest distance (model px) between where the motion carries the source landmarks and where the keypoints put them."""
    return max(float(np.linalg.norm(carry_points(r.displacement, r.source_landmarks, animator.image_size) - r.output_landmarks,
                                    axis=-1).max()) for r in results)


def test_the_lock_carries_sure_landmarks_to_their_targets(animator, driving):
    locked, free = _run(animator, "sample_source.png", driving, True), _run(animator, "sample_source.png", driving, False)
    assert _landmark_miss(locked, animator) < 1.0  # model px
    assert _landmark_miss(free, animator) > 2.0  # the network's motion alone falls short of the descent


def test_the_lock_stays_off_where_the_detector_guesses(animator, driving):
    locked, free = _run(animator, "sample_real_pfus1_a.png", driving[:6], True), _run(animator, "sample_real_pfus1_a.png", driving[:6], False)
    assert all(np.array_equal(a.frame, b.frame) for a, b in zip(locked, free))

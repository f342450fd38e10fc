"""MotionMatch in the animator (bundled model): the source moves as much as the driving clip moves
itself by giving the network a larger keypoint motion to answer, not by magnifying the field it drew
for the keypoints as they are."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from usanimator_app.core.media import open_media
from usanimator_app.engine import tissue_motion
from usanimator_app.engine.animator import Animator, MotionOptions, OutputOptions
from usanimator_app.engine.pipeline import load_source_frame
from usanimator_app.evaluation.transfer import model_frames

REPO = Path(__file__).resolve().parents[2]
SCALE = 2.0


def test_the_network_answers_the_scaled_keypoint_motion(monkeypatch):
    animator = Animator(REPO / "models" / "usanimator-ptg-cpu128.pt", device="cpu")
    driving = model_frames(open_media(REPO / "resources" / "sample_driving.mp4").iter_gray(), animator.image_size, 32)[::4]
    source = load_source_frame(REPO / "resources" / "sample_real_pfus1_a.png", animator.image_size)
    monkeypatch.setattr(tissue_motion.MotionMatch, "scale", property(lambda self: SCALE))
    network, calls = animator.model.dense_motion, []
    answer = network.forward

    def recording(source_frame, source_kp, driving_kp):
        calls.append((source_kp.keypoints.clone(), driving_kp.keypoints.clone()))
        return answer(source_frame, source_kp, driving_kp)

    monkeypatch.setattr(network, "forward", recording)
    checked = 0
    for result in animator.animate(source.model_frame, driving, MotionOptions(), output=OutputOptions(size="model")):
        if result.index == 0:  # nothing observed yet: the keypoints as they are
            calls.clear()
            continue
        observed = result.index % tissue_motion.MOTION_MATCH_EVERY == 0
        assert len(calls) == (2 if observed else 1)  # the scaled answer, and on observed frames the driving clip moving itself
        source_points, given = (animator.to_pixels(points) for points in calls[0])
        calls.clear()
        shown = result.output_keypoints - result.source_keypoints  # the keypoints' own motion, unscaled, as shown
        assert np.abs(shown).max() > 0.2  # the driving clip moves here (model px)
        np.testing.assert_allclose(given - source_points, SCALE * shown, atol=1e-3)
        checked += 1
    assert checked >= 6

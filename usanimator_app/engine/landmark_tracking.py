"""Landmarks carried from frame to frame by the animation model's own dense motion.

The model's deformation for a (source, driving) pair says, for each driving-frame position, where
the same tissue is in the source. With the *next* frame as source and the current frame as
driving (absolute keypoints), a point p of the current frame is therefore at deformation(p) in
the next frame: no inversion is needed. Frames go to the model as the trainer sends them
(``FrameGeometry.to_model``), points through ``points_to_model`` / ``points_to_original``.
"""

from __future__ import annotations

import numpy as np
import torch

from usanimator_app.core.landmark_tracking import Step
from usanimator_app.core.preprocess import FrameGeometry
from usanimator_app.engine.animator import Animator, frame_tensor
from usanimator_app.engine.coords import normalized_to_pixels, pixels_to_normalized
from usanimator_app.nets.blocks import sample


def model_motion_step(animator: Animator, geometry: FrameGeometry) -> Step:
    """A tracking step (``core.landmark_tracking.Step``) from ``animator``'s dense motion network.

    ``geometry`` maps the clip's original frames to the model image. Each frame's keypoints are
    computed once (the last two are kept), so a step costs one keypoint pass and one dense-motion pass.
    """
    size, device, model = animator.image_size, animator.device, animator.model
    cache: dict[int, tuple[torch.Tensor, object]] = {}

    def prepared(frame: np.ndarray) -> tuple[torch.Tensor, object]:
        """(1, 1, S, S) float model image of an original frame and its keypoints, cached by identity."""
        key = id(frame)
        if key not in cache:
            tensor = frame_tensor(geometry.to_model(frame), size, device)
            with animator.precision():
                cache[key] = (tensor, model.keypoint_detector(tensor))
            while len(cache) > 2:
                cache.pop(next(iter(cache)))
        return cache[key]

    @torch.inference_mode()
    def step(frame_from: np.ndarray, frame_to: np.ndarray, points: np.ndarray) -> np.ndarray:
        driving, driving_kp = prepared(frame_from)
        source, source_kp = prepared(frame_to)
        with animator.precision():
            motion = model.dense_motion(source, source_kp, driving_kp)
        field = motion.deformation.float().permute(0, 3, 1, 2)  # (1, 2, h, w): source position per driving position
        where = pixels_to_normalized(geometry.points_to_model(points), size)  # (N, 2)
        grid = torch.as_tensor(where, dtype=torch.float32, device=device)[None, None]  # (1, 1, N, 2)
        moved = sample(field, grid, padding_mode="border")[0, :, 0].T.cpu().numpy()  # (N, 2) in [-1, 1]
        result = geometry.points_to_original(normalized_to_pixels(moved, size))
        width, height = geometry.original_size
        return np.clip(result, [-0.5, -0.5], [width - 0.5, height - 0.5])

    return step

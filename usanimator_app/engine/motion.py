"""Motion transfer between keypoint sets (FOMM §3.5 "relative motion" with adapt-scale).

Relative:  p = p_S + gain * s * (p_D - p_R),   J = (I + gain * (J_D J_R^{-1} - I)) J_S
where R is the reference driving frame and s = sqrt(area(hull(p_S)) / area(hull(p_R))) with
adapt-scale (:func:`adapt_scale`), else 1. Absolute: the driving keypoints are used as they are.
"""

from __future__ import annotations

import numpy as np
import torch

from usanimator_app.nets.keypoint_detector import KeypointOutput


def convex_hull_area(points: np.ndarray) -> float:
    """Area of the convex hull of (N, 2) points (monotone chain + shoelace); 0 when degenerate."""
    pts = sorted(map(tuple, np.asarray(points, dtype=np.float64)))
    if len(pts) < 3:
        return 0.0

    def cross(o, a, b):
        return (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])

    lower, upper = [], []
    for p in pts:
        while len(lower) >= 2 and cross(lower[-2], lower[-1], p) <= 0:
            lower.pop()
        lower.append(p)
    for p in reversed(pts):
        while len(upper) >= 2 and cross(upper[-2], upper[-1], p) <= 0:
            upper.pop()
        upper.append(p)
    hull = np.array(lower[:-1] + upper[:-1])
    x, y = hull[:, 0], hull[:, 1]
    return float(0.5 * abs(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))))


def _with_points(template: KeypointOutput, points: torch.Tensor, jacobians: torch.Tensor) -> KeypointOutput:
    num_kp = template.keypoints.shape[1]
    return KeypointOutput(points[:, :num_kp], jacobians, points[:, num_kp:], template.landmark_heatmaps)


def adapt_scale(source: KeypointOutput, reference: KeypointOutput) -> float:
    """FOMM's adapt-scale s = sqrt(area(hull(p_S)) / area(hull(p_R))) of the source's and the reference
    frame's motion points; 1 when either hull is degenerate. Fixed for a clip: compute it once."""
    source_area, reference_area = (convex_hull_area(k.motion_points()[0].detach().float().cpu().numpy()) for k in (source, reference))
    return float(np.sqrt(source_area / reference_area)) if source_area > 0 and reference_area > 0 else 1.0


def relative_keypoints(
    source: KeypointOutput,
    driving: KeypointOutput,
    reference: KeypointOutput,
    scale: float = 1.0,
    gain: float = 1.0,
) -> KeypointOutput:
    """Keypoints that move the source as the driving frame moved from the reference frame; ``scale``
    is s (:func:`adapt_scale`, or 1), ``gain`` scales the motion and the Jacobians' change."""
    source_points, driving_points, reference_points = (k.motion_points() for k in (source, driving, reference))
    points = source_points + gain * scale * (driving_points - reference_points)
    identity = torch.eye(2, device=points.device, dtype=points.dtype)
    change = driving.jacobians @ torch.inverse(reference.jacobians)
    jacobians = (identity + gain * (change - identity)) @ source.jacobians
    return _with_points(driving, points, jacobians)


def normalised_shape(points: np.ndarray) -> np.ndarray:
    """(N, 2) keypoints centred and scaled by sqrt(hull area), for comparing poses across frames."""
    points = np.asarray(points, dtype=np.float64)
    centred = points - points.mean(axis=0)
    area = convex_hull_area(points)
    return centred / np.sqrt(area) if area > 0 else centred


def best_aligned_index(source_points: np.ndarray, driving_points: list[np.ndarray]) -> int:
    """Index of the driving frame whose normalised keypoints are closest to the source's (FOMM)."""
    target = normalised_shape(source_points)
    distances = [float(((normalised_shape(p) - target) ** 2).sum()) for p in driving_points]
    return int(np.argmin(distances))

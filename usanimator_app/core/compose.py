"""Layout of exported teaching frames: output only, or driving | output, optional overlays and a
burned-in "SYNTHETIC" caption (on by default, so a generated clip is never mistaken for a scan)."""

from __future__ import annotations

import cv2
import numpy as np

LAYOUTS = ("output", "side-by-side", "overlays")
CAPTION = "SYNTHETIC"
EDITED_CAPTION = "SYNTHETIC - edited motion"  # the motion was edited (core.trajectory)
KEYPOINT_COLOUR = (255, 200, 0)  # RGB, self-supervised keypoints
LANDMARK_COLOURS = ((255, 60, 60), (60, 220, 255), (120, 255, 120), (255, 120, 255))  # RGB, per landmark


def _rgb(frame: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(frame, cv2.COLOR_GRAY2RGB) if frame.ndim == 2 else frame.copy()


def draw_points(
    frame: np.ndarray,
    keypoints: np.ndarray | None = None,
    landmarks: np.ndarray | None = None,
    landmark_names: tuple[str, ...] = (),
) -> np.ndarray:
    """Draw keypoints (K, 2) as small dots and landmarks (L, 2) as labelled crosses; returns RGB."""
    image = _rgb(frame)
    scale = max(1, image.shape[0] // 256)
    for x, y in np.asarray(keypoints if keypoints is not None else np.zeros((0, 2))):
        cv2.circle(image, (int(round(x)), int(round(y))), 2 * scale, KEYPOINT_COLOUR, -1, cv2.LINE_AA)
    for i, (x, y) in enumerate(np.asarray(landmarks if landmarks is not None else np.zeros((0, 2)))):
        colour = LANDMARK_COLOURS[i % len(LANDMARK_COLOURS)]
        centre = (int(round(x)), int(round(y)))
        cv2.drawMarker(image, centre, colour, cv2.MARKER_CROSS, 8 * scale, 1 * scale, cv2.LINE_AA)
        if i < len(landmark_names):
            cv2.putText(image, landmark_names[i], (centre[0] + 5, centre[1] - 4), cv2.FONT_HERSHEY_SIMPLEX, 0.3 * scale, colour, 1, cv2.LINE_AA)
    return image


def add_caption(frame: np.ndarray, text: str = CAPTION) -> np.ndarray:
    """Burn ``text`` into the top-left corner on a dark box; returns RGB."""
    image = _rgb(frame)
    scale = max(0.4, image.shape[0] / 512)
    (width, height), baseline = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
    cv2.rectangle(image, (2, 2), (8 + width, 8 + height + baseline), (0, 0, 0), -1)
    cv2.putText(image, text, (5, 5 + height), cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 0), 1, cv2.LINE_AA)
    return image


def compose_frame(
    output: np.ndarray,
    driving: np.ndarray | None = None,
    layout: str = "output",
    caption: bool = True,
    caption_text: str = CAPTION,
    keypoints: np.ndarray | None = None,
    landmarks: np.ndarray | None = None,
    landmark_names: tuple[str, ...] = (),
) -> np.ndarray:
    """One export frame (H, W') RGB uint8 from the output frame (and the driving frame, scaled to its height).

    ``output``: output only; ``side-by-side``: driving | output; ``overlays``: driving | output with
    the keypoints/landmarks of the output drawn on it.
    """
    if layout not in LAYOUTS:
        raise ValueError(f"unknown layout {layout!r}; choose one of {LAYOUTS}")
    right = _rgb(output)
    if layout == "overlays":
        right = draw_points(right, keypoints, landmarks, landmark_names)
    if layout == "output" or driving is None:
        frame = right
    else:
        left = _rgb(driving)
        if left.shape[0] != right.shape[0]:  # a model-size driving frame beside a native-size output
            width = max(1, round(left.shape[1] * right.shape[0] / left.shape[0]))
            left = cv2.resize(left, (width, right.shape[0]), interpolation=cv2.INTER_LINEAR)
        frame = np.concatenate([left, np.zeros((right.shape[0], 4, 3), np.uint8), right], axis=1)
    return add_caption(frame, caption_text) if caption else frame

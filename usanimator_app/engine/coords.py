"""Conversion between model-image pixels and the engine's normalised coordinates.

Model pixels: (x, y) with (0, 0) the centre of the top-left pixel of the size x size model image
(what ``core.preprocess.FrameGeometry.points_to_model`` returns). Normalised: [-1, 1] with -1 and 1
at the centres of the border pixels (``make_coordinate_grid``).
"""

from __future__ import annotations

import numpy as np


def pixels_to_normalized(points: np.ndarray, size: int) -> np.ndarray:
    """(..., 2) model pixels -> (..., 2) in [-1, 1]."""
    return np.asarray(points, dtype=np.float64) * (2.0 / (size - 1)) - 1.0


def normalized_to_pixels(points: np.ndarray, size: int) -> np.ndarray:
    """(..., 2) in [-1, 1] -> (..., 2) model pixels."""
    return (np.asarray(points, dtype=np.float64) + 1.0) * ((size - 1) / 2.0)

"""The imaging sector of an ultrasound frame: the fan (or rectangle) the probe images.

Outside it a frame shows no tissue: black, or the scanner's text and scale. The renderer keeps it
as in the source (``engine.render``), the motion bound is enforced inside it (``engine.tissue_motion``),
and the plausibility figures are measured over it (``evaluation.plausibility``).
"""

from __future__ import annotations

import cv2
import numpy as np

SECTOR_THRESHOLD = 8  # grey level above which a (lightly blurred) pixel counts as imaged


def sector_mask(image: np.ndarray) -> np.ndarray:
    """The imaging sector (H, W) bool of a gray (H, W) uint8 frame.

    Pixels of the lightly blurred frame above ``SECTOR_THRESHOLD``, opened with a disc of 1.5 % of
    the frame's side (thin lines such as a crop's bright border go; the corners it rounds are
    restored), closed with a disc of 3 % (speckle and dark tissue stripes form one region), the
    largest region kept and its holes (anechoic bladder, shadows inside the fan) filled. A frame without any imaged pixel gives
    an empty mask.
    """
    gray = np.asarray(image, np.uint8)
    height, width = gray.shape
    blurred = cv2.GaussianBlur(gray, (0, 0), max(1.0, min(height, width) / 200))
    imaged = (blurred > SECTOR_THRESHOLD).astype(np.uint8)
    thin = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (max(3, round(min(height, width) * 0.015)) | 1,) * 2)
    mask = cv2.morphologyEx(imaged, cv2.MORPH_OPEN, thin)
    side = max(3, round(min(height, width) * 0.03)) | 1
    mask = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (side, side)))
    count, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    if count <= 1:
        return np.zeros_like(gray, bool)
    largest = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    region = (labels == largest).astype(np.uint8)
    region |= imaged & cv2.dilate(region, thin)  # the corners that the opening rounded off
    outside = np.pad(1 - region, 1, constant_values=1)  # flood the background from the border
    cv2.floodFill(outside, None, (0, 0), 2)
    return outside[1:-1, 1:-1] != 2


def resize_mask(mask: np.ndarray, height: int, width: int) -> np.ndarray:
    """A bool mask resized to (height, width) (area average, then >= 0.5)."""
    return cv2.resize(mask.astype(np.float32), (width, height), interpolation=cv2.INTER_AREA) >= 0.5


def sector_outline(image: np.ndarray) -> np.ndarray:
    """The sector's outline (H, W) bool: the convex hull of :func:`sector_mask`. Dark anatomy at
    the fan's edge (a shadow, the bladder) notches the mask but not its hull, so comparing hulls
    compares fans, not the content moving inside them."""
    mask = sector_mask(image)
    if not mask.any():
        return mask
    contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    hull = cv2.convexHull(np.concatenate(contours))
    outline = np.zeros(mask.shape, np.uint8)
    cv2.fillConvexPoly(outline, hull, 1)
    return outline.astype(bool)

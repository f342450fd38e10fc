"""The imaging sector of an ultrasound frame: the fan (or rectangle) the probe images.

Outside it a frame shows no tissue: black, or the scanner's text and scale. The renderer keeps it
as in the source (``engine.render``), the motion bound is enforced inside it (``engine.tissue_motion``),
and the plausibility figures are measured over it (``evaluation.plausibility``).
"""

from __future__ import annotations

import cv2
import numpy as np

SECTOR_THRESHOLD = 8  # grey level above which a (lightly blurred) pixel counts as imaged
SPLIT_PART_SHARE = 0.02  # a region at least this share of the largest's area ...
SPLIT_PART_GAP = 0.08  # ... within this share of the frame's shorter side of it is a part of the fan that dark anatomy cut off
FLIPPED_FAN_RATIO = 0.8  # a fan whose hull's bottom half has less than this share of its top half's area has its probe at the bottom


def sector_mask(image: np.ndarray) -> np.ndarray:
    """The imaging sector (H, W) bool of a gray (H, W) uint8 frame: the whole fan, dark anatomy included.

    Pixels of the lightly blurred frame above ``SECTOR_THRESHOLD``, opened with a disc of 1.5 % of
    the frame's side (thin lines such as a crop's bright border go; the corners it rounds are
    restored), closed with a disc of 3 % (speckle and dark tissue stripes form one region), the
    largest region kept with the sizeable regions close to it (:func:`_fan_parts`: dark anatomy
    at the fan's side can cut off a dim corner, and a grey level less would drop it); then
    :func:`_fan_of` fills what dark anatomy cuts out of it: holes inside the fan and bays that
    reach its edge (an anechoic bladder or a rib shadow touching the fan's far edge). A frame
    without any imaged pixel gives an empty mask.
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
    region = _fan_parts(labels, stats[:, cv2.CC_STAT_AREA], round(min(height, width) * SPLIT_PART_GAP))
    region |= imaged & cv2.dilate(region, thin)  # the corners that the opening rounded off
    return _fan_of(region.astype(bool))


def _fan_parts(labels: np.ndarray, areas: np.ndarray, gap: int) -> np.ndarray:
    """(H, W) uint8: the largest labelled region (labels 1.., ``areas`` per label, 0 the background)
    and every region of at least ``SPLIT_PART_SHARE`` of its area within ``gap`` pixels of it.
    Scanner text and markers outside the fan are small or far, so they stay out."""
    largest = 1 + int(np.argmax(areas[1:]))
    region = (labels == largest).astype(np.uint8)
    near = cv2.dilate(region, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * gap + 1,) * 2)).astype(bool)
    parts = [label for label in np.unique(labels[near]) if label > 0 and areas[label] >= SPLIT_PART_SHARE * areas[largest]]
    return np.isin(labels, parts).astype(np.uint8)


def _convex_hull(mask: np.ndarray) -> np.ndarray:
    """The filled convex hull (H, W) bool of a non-empty (H, W) bool mask."""
    contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    hull = cv2.convexHull(np.concatenate(contours))
    filled = np.zeros(mask.shape, np.uint8)
    cv2.fillConvexPoly(filled, hull, 1)
    return filled.astype(bool)


def _fan_of(region: np.ndarray) -> np.ndarray:
    """A fan (H, W) bool from the imaged region (H, W) bool: its convex hull, less what lies beyond
    the probe face. A linear probe's rectangle and a fan's straight sides and convex far edge are
    their hull's; the one concave edge of a fan is the curved probe face (the near field, always
    imaged), so in every column the fan starts at the region's first pixel counted from the probe's
    side: the top in the usual display, the bottom when the fan is clearly narrower there (flipped)."""
    hull = _convex_hull(region)
    rows = np.flatnonzero(hull.any(axis=1))
    half = len(rows) // 2
    # The usual display unless the hull's bottom half is clearly the narrower (dark bays do not narrow a hull).
    probe_at_top = hull[rows[-half:]].sum() >= FLIPPED_FAN_RATIO * hull[rows[:half]].sum()
    ordered = region if probe_at_top else region[::-1]
    first = np.where(ordered.any(axis=0), ordered.argmax(axis=0), region.shape[0])  # (W,) first imaged row per column
    beyond_face = np.arange(region.shape[0])[:, None] < first[None, :]
    return hull & ~(beyond_face if probe_at_top else beyond_face[::-1])


def edge_ramp(mask: np.ndarray, width: float) -> np.ndarray:
    """(H, W) float32 in [0, 1] for a (H, W) bool mask: 0 outside it and on its outermost pixels (the
    frame's border counts as an edge), rising by a smoothstep over ``width`` pixels inwards."""
    padded = np.pad(mask.astype(np.uint8), 1)
    distance = cv2.distanceTransform(padded, cv2.DIST_L2, 5)[1:-1, 1:-1]
    ramp = np.clip((distance - 1.0) / max(1.0, width), 0.0, 1.0)
    return (ramp * ramp * (3.0 - 2.0 * ramp)).astype(np.float32)


def resize_mask(mask: np.ndarray, height: int, width: int) -> np.ndarray:
    """A bool mask resized to (height, width) (area average, then >= 0.5)."""
    return cv2.resize(mask.astype(np.float32), (width, height), interpolation=cv2.INTER_AREA) >= 0.5


def sector_outline(image: np.ndarray) -> np.ndarray:
    """The sector's outline (H, W) bool: the convex hull of :func:`sector_mask` (for a curved probe
    face, the fan plus the thin lens above it), so comparing outlines compares fans, not the content
    moving inside them."""
    mask = sector_mask(image)
    return _convex_hull(mask) if mask.any() else mask

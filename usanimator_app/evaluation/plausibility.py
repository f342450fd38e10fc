"""Is the animated motion a tissue deformation? Figures that L1 does not see (docs/METRICS.md).

All functions are numpy, per frame:

- motion: ``displacement`` (h, w, 2) in model pixels on the motion grid (``FrameResult.displacement``),
  converted to the grid's own pixels (model pixels x (h - 1) / (S - 1)); J = I + grad d by central
  differences (``numpy.gradient``). Over the pixels the output takes from the source (occlusion >= 0.5,
  inside the source's imaging sector): the share that **folds** (det J <= 0) and the share whose area
  change is **implausible** for tissue (det J <= 1/4 or >= 4, folds included).
- image: the imaging **sector** of a frame (``core.sector``: the fan, holes such as the dark
  bladder filled), its IoU with the source's, the share of pixels outside the
  source's sector that the output **lights up**, and the **bright fill**: the share of the sector
  brighter than the source's 95th percentile there (the source itself: 5 %).
"""

from __future__ import annotations

import numpy as np

from usanimator_app.core.sector import sector_outline

FOLD_DET = 0.0
IMPLAUSIBLE_LOW, IMPLAUSIBLE_HIGH = 0.25, 4.0
LIT_THRESHOLD = 16  # grey level above which a pixel outside the sector counts as lit
BRIGHT_PERCENTILE = 95.0
WORST_OF = {"folds": max, "implausible": max, "sector_iou": min, "lit_outside": max, "bright_fill": max}  # per figure


def worst(figures: list[dict[str, float]]) -> dict[str, float]:
    """The worst value of each figure of ``WORST_OF`` over frames (or clips, or pairs)."""
    return {key: pick(f[key] for f in figures) for key, pick in WORST_OF.items()}


def jacobian_determinant(displacement: np.ndarray, model_size: int) -> np.ndarray:
    """det(I + grad d) (h, w) of a displacement (h, w, 2) in model pixels on an (h, w) grid over the (S, S) model image."""
    height, width = displacement.shape[:2]
    dx = displacement[..., 0].astype(np.float64) * (width - 1) / (model_size - 1)  # grid pixels
    dy = displacement[..., 1].astype(np.float64) * (height - 1) / (model_size - 1)
    ddx_dy, ddx_dx = np.gradient(dx)
    ddy_dy, ddy_dx = np.gradient(dy)
    return (1.0 + ddx_dx) * (1.0 + ddy_dy) - ddx_dy * ddy_dx


def motion_plausibility(displacement: np.ndarray, occlusion: np.ndarray, sector: np.ndarray, model_size: int) -> dict[str, float]:
    """Fold and implausible-area shares of one frame's motion over the pixels taken from the source.

    ``displacement`` (h, w, 2) model pixels, ``occlusion`` (h, w) in [0, 1], ``sector`` (h, w) bool
    (the source's sector on the motion grid). Also ``motion_px``: mean |displacement| there (model px).
    """
    det = jacobian_determinant(displacement, model_size)
    taken = (occlusion >= 0.5) & sector
    if not taken.any():
        return {"folds": 0.0, "implausible": 0.0, "motion_px": 0.0}
    det = det[taken]
    return {
        "folds": float(np.mean(det <= FOLD_DET)),
        "implausible": float(np.mean((det <= IMPLAUSIBLE_LOW) | (det >= IMPLAUSIBLE_HIGH))),
        "motion_px": float(np.linalg.norm(displacement[taken], axis=-1).mean()),
    }


def image_plausibility(output: np.ndarray, source: np.ndarray, source_sector: np.ndarray) -> dict[str, float]:
    """Sector stability and bright fill of one output frame against the source, both (H, W) uint8 on one grid.

    ``sector_iou``: IoU of the output's sector with ``source_sector``; ``lit_outside``: share of the
    pixels outside the source's sector that the output shows brighter than ``LIT_THRESHOLD`` (where
    the source is not); ``bright_fill``: share of the source's sector brighter in the output than
    the source's 95th percentile there.
    """
    output_sector = sector_outline(output)
    union = (output_sector | source_sector).sum()
    iou = float((output_sector & source_sector).sum() / union) if union else 1.0
    outside = ~source_sector
    newly_lit = outside & (output > LIT_THRESHOLD) & (source <= LIT_THRESHOLD)
    lit = float(newly_lit.sum() / outside.sum()) if outside.any() else 0.0
    inside = source[source_sector]
    bright = float(np.mean(output[source_sector] > np.percentile(inside, BRIGHT_PERCENTILE))) if inside.size else 0.0
    return {"sector_iou": iou, "lit_outside": lit, "bright_fill": bright}


def source_bright_share(source: np.ndarray, source_sector: np.ndarray) -> float:
    """The source's own bright-fill share (about 5 %, less where many pixels tie at the percentile)."""
    inside = source[source_sector]
    return float(np.mean(inside > np.percentile(inside, BRIGHT_PERCENTILE))) if inside.size else 0.0

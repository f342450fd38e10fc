"""evaluation.plausibility and core.sector: the figures of docs/METRICS.md on fields and frames whose answer is known."""

from __future__ import annotations

import cv2
import numpy as np

from usanimator_app.core.sector import sector_mask, sector_outline
from usanimator_app.evaluation import plausibility as P


def _fan(size: int = 128, apex: float = 0.1, near: float = 0.2, far: float = 0.85, half_angle: float = 0.45) -> np.ndarray:
    """A convex probe's fan of noise: apex ``apex * size`` above the frame, radii ``near``-``far`` x size."""
    yy, xx = np.mgrid[0:size, 0:size]
    radius, angle = np.hypot(xx - size / 2, yy + size * apex), np.arctan2(xx - size / 2, yy + size * apex)
    inside = (radius > size * near) & (radius < size * far) & (np.abs(angle) < half_angle)
    rng = np.random.default_rng(0)
    return np.where(inside, rng.integers(40, 200, (size, size)), 0).astype(np.uint8)


def test_identity_motion_neither_folds_nor_changes_area():
    zero = np.zeros((32, 32, 2), np.float32)
    figures = P.motion_plausibility(zero, np.ones((32, 32)), np.ones((32, 32), bool), 128)
    assert figures == {"folds": 0.0, "implausible": 0.0, "motion_px": 0.0}


def test_a_mirroring_field_folds_and_a_crushing_one_is_implausible():
    size, model = 32, 63  # model pixels = 2 grid pixels
    xs = np.arange(size, dtype=np.float64) * (model - 1) / (size - 1)
    mirror = np.zeros((size, size, 2))
    mirror[..., 0] = (xs[::-1] - xs)[None, :]  # x -> S - x: det J = -1 everywhere
    everywhere, visible = np.ones((size, size), bool), np.ones((size, size))
    assert P.motion_plausibility(mirror, visible, everywhere, model)["folds"] == 1.0
    crush = np.zeros((size, size, 2))
    crush[..., 0] = (-0.8 * xs)[None, :]  # x -> 0.2 x: det J = 0.2, inside (0, 1/4]
    figures = P.motion_plausibility(crush, visible, everywhere, model)
    assert figures["folds"] == 0.0 and figures["implausible"] == 1.0
    assert P.motion_plausibility(crush, np.zeros((size, size)), everywhere, model)["implausible"] == 0.0  # occluded: not counted


def test_sector_finds_the_fan_ignores_a_thin_border_line_and_fills_a_dark_bladder():
    fan = _fan()
    truth = fan > 0
    lined = fan.copy()
    lined[:, -2] = 40  # a crop's bright one-pixel border
    lined[60:80, 55:75] = 0  # an anechoic bladder inside the fan
    mask = sector_mask(lined)
    assert not mask[:, -1].any()
    assert mask[70, 65]
    assert not (truth & ~mask).any() and (mask & truth).sum() / (mask | truth).sum() > 0.9  # blur and closing round the edge a little
    assert sector_outline(lined).sum() >= mask.sum()
    assert not sector_mask(np.zeros((64, 64), np.uint8)).any()


def test_sector_takes_in_dark_anatomy_that_reaches_the_fans_edge_but_not_the_lens_above_a_curved_probe_face():
    fan = _fan(apex=0.15, near=0.3, far=0.9, half_angle=0.6)  # a strongly curved probe face
    truth = fan > 0
    bay = fan.copy()
    bay[80:, 50:80] = 0  # an anechoic bladder (or a rib shadow) open to the fan's far edge
    mask = sector_mask(bay)
    assert mask[90, 65] and mask[85, 52]
    assert (mask & truth).sum() / (mask | truth).sum() > 0.9  # the hull's chord across the bay cuts a sliver of the far edge
    rows = np.arange(128)[:, None]
    near_fan = cv2.dilate(truth.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)  # blur rounds the edge by a pixel or two
    lens = sector_outline(fan) & ~near_fan & (rows < 20)  # the black between the curved probe face and its chord
    assert lens.sum() >= 10 and not (mask & lens).any()
    flipped = sector_mask(bay[::-1])[::-1]  # the same fan displayed with its probe at the bottom
    assert flipped[90, 65] and not (flipped & lens).any()


def test_image_figures_of_the_source_itself_and_of_a_white_flood():
    fan = _fan()
    sector = sector_outline(fan)
    same = P.image_plausibility(fan, fan, sector)
    assert same["sector_iou"] == 1.0 and same["lit_outside"] == 0.0
    assert abs(same["bright_fill"] - P.source_bright_share(fan, sector)) < 1e-12
    white = np.full_like(fan, 230)
    flooded = P.image_plausibility(white, fan, sector)
    assert flooded["lit_outside"] > 0.99 and flooded["bright_fill"] == 1.0 and flooded["sector_iou"] < 0.9


def test_sector_keeps_a_corner_that_dark_anatomy_cuts_off_but_not_text_beside_the_fan():
    fan = _fan()
    truth = fan > 0
    yy, xx = np.mgrid[0:128, 0:128]
    corner = truth & (yy > 85) & (xx < 40)  # the fan's lower-left corner
    cut = truth & ~corner & (yy > 78) & (xx < 48)  # dark anatomy from the fan's side to its far edge
    split = fan.copy()
    split[cut] = 0
    split[corner] = np.clip(split[corner], 20, 30)
    assert sector_outline(split)[corner].mean() > 0.95
    fan_only = sector_outline(split)
    labelled = split.copy()
    labelled[2:8, 2:12] = 220  # scanner text in the frame's corner, clear of the fan
    labelled[40:44, 20:24] = 220  # a small marker beside the fan's side
    assert (sector_outline(labelled) == fan_only).all()

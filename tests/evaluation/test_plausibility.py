"""evaluation.plausibility and core.sector: the figures of docs/METRICS.md on fields and frames whose answer is known."""

from __future__ import annotations

import numpy as np

from usanimator_app.core.sector import sector_mask, sector_outline
from usanimator_app.evaluation import plausibility as P


def _fan(size: int = 128) -> np.ndarray:
    yy, xx = np.mgrid[0:size, 0:size]
    radius, angle = np.hypot(xx - size / 2, yy + size * 0.1), np.arctan2(xx - size / 2, yy + size * 0.1)
    inside = (radius > size * 0.2) & (radius < size * 0.85) & (np.abs(angle) < 0.45)
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


def test_image_figures_of_the_source_itself_and_of_a_white_flood():
    fan = _fan()
    sector = sector_outline(fan)
    same = P.image_plausibility(fan, fan, sector)
    assert same["sector_iou"] == 1.0 and same["lit_outside"] == 0.0
    assert abs(same["bright_fill"] - P.source_bright_share(fan, sector)) < 1e-12
    white = np.full_like(fan, 230)
    flooded = P.image_plausibility(white, fan, sector)
    assert flooded["lit_outside"] > 0.99 and flooded["bright_fill"] == 1.0 and flooded["sector_iou"] < 0.9

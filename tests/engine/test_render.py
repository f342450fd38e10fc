"""engine.render: the default output on the source's own pixels, at the source's resolution."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from usanimator_app.core.preprocess import fit_geometry
from usanimator_app.core.sector import SECTOR_THRESHOLD, sector_outline
from usanimator_app.engine.render import NativeRenderer, composite_at_model_size, output_geometry
from usanimator_app.nets.blocks import make_coordinate_grid
from usanimator_app.nets.dense_motion import DenseMotionOutput

MODEL_SIZE = 64


def _source(height: int = 90, width: int = 150, seed: int = 0) -> np.ndarray:
    """A non-square frame: a textured content box inside black borders, smooth enough to interpolate."""
    rng = np.random.default_rng(seed)
    frame = np.zeros((height, width), np.uint8)
    yy, xx = np.mgrid[0 : height - 20, 0 : width - 30]
    content = 120 + 60 * np.sin(xx / 7.0) * np.cos(yy / 5.0) + rng.normal(0, 1, xx.shape)
    frame[10 : height - 10, 15 : width - 15] = np.clip(content, 1, 255).astype(np.uint8)
    return frame


def _motion(shift_x: float = 0.0, occlusion: float = 1.0, size: int = 32) -> DenseMotionOutput:
    """A deformation that samples the source ``shift_x`` (normalised units) to the right."""
    grid = make_coordinate_grid(size, size)[None].clone()
    grid[..., 0] += shift_x
    return DenseMotionOutput(grid, torch.full((1, 1, size, size), occlusion), torch.zeros(1, 1, size, size))


def test_identity_motion_returns_the_source_crop_at_native_resolution():
    source = _source()
    geometry = fit_geometry(source, size=MODEL_SIZE)
    grid = output_geometry(geometry, "native")
    x0, y0, x1, y1 = geometry.crop
    assert grid.size == (x1 - x0, y1 - y0)
    renderer = NativeRenderer(source, geometry, grid, torch.device("cpu"))
    frame, occlusion = renderer.render(_motion(), torch.zeros(1, 1, MODEL_SIZE, MODEL_SIZE))
    expected = source[y0:y1, x0:x1].astype(np.float32) / 255.0
    assert frame.shape == (1, 1, y1 - y0, x1 - x0)
    assert np.abs(frame[0, 0].numpy() - expected).max() < 1e-4
    assert float(occlusion.min()) > 0.9999


def test_a_shift_at_model_size_moves_the_native_pixels_by_the_same_physical_distance():
    source = _source()
    geometry = fit_geometry(source, size=MODEL_SIZE)
    renderer = NativeRenderer(source, geometry, output_geometry(geometry, "native"), torch.device("cpu"))
    shift_model_px = 4.0
    shift = shift_model_px * 2.0 / (MODEL_SIZE - 1)
    frame, _ = renderer.render(_motion(shift_x=shift), torch.zeros(1, 1, MODEL_SIZE, MODEL_SIZE))
    shift_native = shift_model_px / geometry.scale
    x0, y0, x1, y1 = geometry.crop
    crop = source[y0:y1, x0:x1].astype(np.float32) / 255.0
    columns = np.arange(crop.shape[1], dtype=np.float32)
    expected = np.stack([np.interp(columns + shift_native, columns, row) for row in crop])
    inner = slice(5, crop.shape[1] - int(shift_native) - 5)
    rows = slice(5, crop.shape[0] - 5)  # the sector's rim (here the crop's border) stays the source's
    assert np.abs(frame[0, 0].numpy()[rows, inner] - expected[rows, inner]).max() < 2e-3


def test_occluded_pixels_come_from_the_generated_frame():
    source = _source()
    geometry = fit_geometry(source, size=MODEL_SIZE)
    renderer = NativeRenderer(source, geometry, output_geometry(geometry, "native"), torch.device("cpu"), keep_sector=False)
    fill = torch.full((1, 1, MODEL_SIZE, MODEL_SIZE), 0.25)
    frame, _ = renderer.render(_motion(occlusion=0.0), fill)
    assert torch.allclose(frame, torch.full_like(frame, 0.25))


def _fan(size: int = 120) -> np.ndarray:
    """A square frame with a bright-textured fan (a disc's lower sector) on black."""
    yy, xx = np.mgrid[0:size, 0:size]
    radius, angle = np.hypot(xx - size / 2, yy + size * 0.1), np.arctan2(xx - size / 2, yy + size * 0.1)
    inside = (radius > size * 0.2) & (radius < size * 0.85) & (np.abs(angle) < 0.45)
    texture = 90 + 50 * np.sin(xx / 3.0) * np.cos(yy / 4.0)
    return np.where(inside, texture, 0).astype(np.uint8)


def test_keep_sector_leaves_the_outside_as_the_source_and_fills_no_brighter_than_the_tissue_around():
    source = _fan()
    geometry = fit_geometry(source, size=MODEL_SIZE, crop_borders=False)
    renderer = NativeRenderer(source, geometry, output_geometry(geometry, "native"), torch.device("cpu"))
    assert renderer.keep_sector
    still = renderer.still()[0, 0].numpy()
    sector = renderer.rim_out[0, 0].numpy()  # 0 outside the fan, 1 inside its rim
    # A big shift samples the black beyond the fan for much of it, and a white fill is offered.
    frame, visible = renderer.render(_motion(shift_x=0.5), torch.ones(1, 1, MODEL_SIZE, MODEL_SIZE))
    frame, visible = frame[0, 0].numpy(), visible[0, 0].numpy()
    outside = sector < 0.01
    assert np.abs(frame[outside] - still[outside]).max() < 1e-5
    filled = (visible < 0.01) & (sector > 0.99)  # samples from outside the fan are not shown as tissue
    assert filled.mean() > 0.1
    tissue = still[sector > 0.99]
    assert frame[filled].max() <= tissue.mean() + 0.05  # the white fill is capped at the tissue's mean, not its peaks
    assert frame[filled].mean() >= 0.5 * tissue.mean()  # and not shown black either


def test_keep_sector_keeps_the_fans_outline_under_a_dark_fill():
    source = _fan()
    geometry = fit_geometry(source, size=MODEL_SIZE, crop_borders=False)
    renderer = NativeRenderer(source, geometry, output_geometry(geometry, "native"), torch.device("cpu"))
    still = (renderer.still()[0, 0].numpy() * 255 + 0.5).astype(np.uint8)
    # Half the fan's samples land beyond its edge, where only the (black) fill can show.
    frame, _ = renderer.render(_motion(shift_x=0.5), torch.zeros(1, 1, MODEL_SIZE, MODEL_SIZE))
    frame = (frame[0, 0].numpy() * 255 + 0.5).astype(np.uint8)
    before, after = sector_outline(still), sector_outline(frame)
    assert (frame[before] < SECTOR_THRESHOLD).mean() > 0.2  # the animated part did go dark
    assert (before & after).sum() / (before | after).sum() > 0.99  # the rim keeps the outline


def test_keep_sector_off_gives_the_plain_composite():
    source = _fan()
    geometry = fit_geometry(source, size=MODEL_SIZE, crop_borders=False)
    grid = output_geometry(geometry, "native")
    fill = torch.ones(1, 1, MODEL_SIZE, MODEL_SIZE)
    frame, _ = NativeRenderer(source, geometry, grid, torch.device("cpu"), keep_sector=False).render(_motion(0.5, 0.0), fill)
    assert float(frame.min()) > 0.999  # the white fill everywhere, outside the fan too


@pytest.mark.parametrize("size, expected_longest", [("native", 120), ("model", MODEL_SIZE), (300, 300)])
def test_output_sizes(size, expected_longest):
    geometry = fit_geometry(_source(), size=MODEL_SIZE)
    assert max(output_geometry(geometry, size).size) == expected_longest


def test_native_size_is_capped():
    geometry = fit_geometry(_source(), size=MODEL_SIZE)
    assert max(output_geometry(geometry, "native", max_side=50).size) == 50


def test_composite_at_model_size_with_identity_motion_is_the_source():
    source = torch.rand(2, 1, MODEL_SIZE, MODEL_SIZE)
    motion = DenseMotionOutput(
        make_coordinate_grid(32, 32)[None].repeat(2, 1, 1, 1), torch.ones(2, 1, 32, 32), torch.zeros(2, 1, 32, 32)
    )
    assert torch.allclose(composite_at_model_size(source, motion, torch.zeros_like(source)), source, atol=1e-5)

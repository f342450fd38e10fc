"""engine.tissue_motion: the network's deformation made fold-free, area-bounded and sector-keeping."""

from __future__ import annotations

import numpy as np
import torch

from usanimator_app.engine import tissue_motion as T
from usanimator_app.evaluation.plausibility import jacobian_determinant
from usanimator_app.nets.blocks import make_coordinate_grid

SIZE = 32  # motion grid; the model image is taken to be 2 * SIZE


def _deformation(displacement_px: np.ndarray) -> torch.Tensor:
    """(h, w, 2) displacement in grid pixels -> (1, h, w, 2) normalised sampling grid."""
    grid = make_coordinate_grid(SIZE, SIZE)[None].clone()
    return grid + torch.from_numpy(displacement_px.astype(np.float32)) * 2.0 / (SIZE - 1)


def _model_px(deformation: torch.Tensor, model_size: int = 2 * SIZE) -> np.ndarray:
    """(1, h, w, 2) normalised grid -> (h, w, 2) displacement in model pixels, as FrameResult.displacement."""
    identity = make_coordinate_grid(SIZE, SIZE)[None]
    return ((deformation - identity)[0] * (model_size - 1) / 2.0).numpy()


def _ripple(amplitude: float) -> np.ndarray:
    """x -> x + a sin(2 pi x / 12) in grid pixels: det J = 1 + a (2 pi / 12) cos(...), folding for a > 1.9."""
    xx = np.mgrid[0:SIZE, 0:SIZE][1].astype(np.float64)
    return np.stack([amplitude * np.sin(2 * np.pi * xx / 12), np.zeros_like(xx)], axis=-1)


def _everywhere() -> T.MotionRegion:
    ones = torch.ones(1, 1, SIZE, SIZE)
    return T.MotionRegion(ones.bool(), ones)


def test_a_folding_ripple_comes_out_fold_free_and_area_bounded():
    raw = _deformation(_ripple(3.0))
    det_raw = jacobian_determinant(_model_px(raw), 2 * SIZE)
    assert (det_raw <= 0).mean() > 0.01  # the input does fold
    det = jacobian_determinant(_model_px(T.tissue_deformation(raw, _everywhere())), 2 * SIZE)
    assert det.min() > 0 and T.AREA_LOW <= det.min() and det.max() <= T.AREA_HIGH


def test_identity_and_a_translation_pass_unchanged():
    identity = make_coordinate_grid(SIZE, SIZE)[None]
    assert torch.allclose(T.tissue_deformation(identity, _everywhere()), identity, atol=1e-6)
    shift = np.zeros((SIZE, SIZE, 2))
    shift[..., 1] = 1.5  # a uniform 1.5 px slide is a fine tissue motion
    moved = T.tissue_deformation(_deformation(shift), _everywhere())
    assert np.abs(_model_px(moved) - _model_px(_deformation(shift))).max() < 1e-3


def test_the_motion_fades_to_nothing_at_the_sector_edge_and_keeps_the_sector():
    frame = np.zeros((2 * SIZE, 2 * SIZE), np.uint8)
    frame[8:56, 8:56] = 120  # the "sector": a square in the middle
    region = T.motion_region(frame, SIZE, SIZE, torch.device("cpu"))
    assert region.inside[0, 0, SIZE // 2, SIZE // 2] and not region.inside[0, 0, 0, 0]
    shift = np.zeros((SIZE, SIZE, 2))
    shift[..., 1] = 3.0
    moved = _model_px(T.tissue_deformation(_deformation(shift), region)) / 2.0  # grid pixels
    inside = region.inside[0, 0].numpy()
    rows = np.mgrid[0:SIZE, 0:SIZE][0]
    sampled_rows = (rows + moved[..., 1])[inside]
    assert sampled_rows.min() >= rows[inside].min() - 1.0 and sampled_rows.max() <= rows[inside].max() + 1.0  # within a grid pixel
    centre = region.fade[0, 0].numpy() > 0.999
    assert centre.any() and np.abs(moved[centre][:, 1]).min() > 1.0


def test_bright_tissue_is_not_magnified_beyond_the_bound_and_still_moves():
    frame = np.full((2 * SIZE, 2 * SIZE), 40, np.uint8)
    frame[26:38, 26:38] = 200  # a bright patch: 3.5 % of the frame, above its 95th percentile
    region = T.motion_region(frame, SIZE, SIZE, torch.device("cpu"))
    assert 0.03 < float(region.bright.mean()) < 0.04
    yy, xx = np.mgrid[0:SIZE, 0:SIZE].astype(np.float64)
    centre = (SIZE - 1) / 2.0
    bump = np.exp(-((yy - centre) ** 2 + (xx - centre) ** 2) / (2 * 6.0**2))[..., None]
    zoom = -0.35 * np.stack([xx - centre, yy - centre], axis=-1) * bump  # samples nearer the centre: the patch grows
    velocity = lambda deformation: (deformation - make_coordinate_grid(SIZE, SIZE)[None]).permute(0, 3, 1, 2)
    unbounded = T.tissue_deformation(_deformation(zoom), region._replace(bright=None))
    assert float(T.bright_growth(velocity(unbounded), region.bright)) > 1.3  # the area bound alone lets it grow
    bounded = T.tissue_deformation(_deformation(zoom), region)
    assert float(T.bright_growth(velocity(bounded), region.bright)) <= 1 + T.BRIGHT_GROWTH + 1e-3
    assert np.abs(_model_px(bounded)).max() > 0.15 * np.abs(_model_px(unbounded)).max()  # scaled down to the bound, not stopped


def test_a_frame_without_a_sector_bounds_everywhere():
    region = T.motion_region(np.zeros((2 * SIZE, 2 * SIZE), np.uint8), SIZE, SIZE, torch.device("cpu"))
    assert bool(region.inside.all()) and float(region.fade.min()) == 1.0


def test_motion_match_moves_the_source_as_much_as_the_driving_moves_itself():
    yy, xx = np.mgrid[0:SIZE, 0:SIZE].astype(np.float64)
    swirl = np.stack([np.sin(yy / 5.0), np.cos(xx / 7.0)], axis=-1)  # (h, w, 2) px, any pattern
    shown = torch.ones(1, 1, SIZE, SIZE)
    identity = make_coordinate_grid(SIZE, SIZE)[None]
    match = T.MotionMatch(gain=0.5)
    assert match.scale == 1.0  # nothing observed yet
    match.observe(identity, shown, identity, shown)  # the reference frame itself: nothing moved, still 1
    assert match.scale == 1.0
    transfer, own = _deformation(0.5 * swirl), _deformation(np.full((SIZE, SIZE, 2), 1.5))
    match.observe(transfer, shown, own, shown)
    target = 0.5 * float(T.mean_displacement(own, shown)[0])
    assert abs(match.scale * float(T.mean_displacement(transfer, shown)[0]) - target) < 1e-5  # gain x the driving's own
    # A frame shown at scale 1.5 counts as the motion per unit of scale: the same answer at 1.5x the
    # keypoint motion says the source moves less per unit, and the next scale grows by as much.
    at_larger_scale = T.MotionMatch(gain=0.5)
    at_larger_scale.observe(transfer, shown, own, shown, scale=1.5)
    assert abs(at_larger_scale.scale - 1.5 * match.scale) < 1e-5 and at_larger_scale.scale < T.MOTION_MATCH_LIMITS[1]
    # Cells the output does not show (weight 0: the generator fills them) do not count.
    half = torch.ones(1, 1, SIZE, SIZE)
    half[..., SIZE // 2:] = 0
    still_right = transfer.clone()
    still_right[:, :, SIZE // 2:] = identity[:, :, SIZE // 2:]  # the source's right half does not move, and is not shown
    masked = T.MotionMatch(gain=0.5)
    masked.observe(still_right, half, own, shown)
    assert abs(masked.scale * float(T.mean_displacement(still_right, half)[0]) - target) < 1e-5
    # A driving frame that hardly moves itself is not read: the ratio there is the network's offset.
    quiet = T.MotionMatch()
    quiet.observe(transfer, shown, _deformation(np.full((SIZE, SIZE, 2), 0.1)), shown)
    assert quiet.scale == 1.0
    # The scale is bounded.
    barely = T.MotionMatch()
    barely.observe(_deformation(1e-3 * swirl), shown, own, shown)
    assert barely.scale == T.MOTION_MATCH_LIMITS[1]


def test_landmark_lock_moves_the_source_landmark_exactly_to_its_target_without_folding():
    still = make_coordinate_grid(SIZE, SIZE)[None].clone()  # a field that does not move
    source = torch.tensor([[0.0, 0.1], [-0.3, -0.4]])  # (L, 2) normalised: a neck and a symphysis
    target = torch.tensor([[0.05, 0.35], [-0.3, -0.4]])  # the neck descends by 0.25 (4 grid px), the symphysis stays
    locked = T.lock_landmarks(still, source, target, _everywhere().inside)
    sampled = torch.nn.functional.grid_sample(locked.permute(0, 3, 1, 2), target.view(1, 1, 2, 2), align_corners=True)[0, :, 0].T
    assert torch.allclose(sampled, source, atol=1e-3)  # the output shows each source landmark at its target
    det = jacobian_determinant(_model_px(locked), 2 * SIZE)
    assert det.min() > T.LANDMARK_LOCK_AREA[0] and det.max() < T.LANDMARK_LOCK_AREA[1]
    far = _model_px(locked)[0, -1]  # a corner far from both landmarks hardly moves
    assert np.abs(far).max() < 0.05


def test_landmark_lock_never_leaves_the_area_bound_for_a_target_too_far_to_reach():
    still = make_coordinate_grid(SIZE, SIZE)[None].clone()
    source, target = torch.tensor([[0.0, 0.0]]), torch.tensor([[0.0, 0.9]])  # 14 grid px: would crush tissue
    locked = T.lock_landmarks(still, source, target, _everywhere().inside)
    det = jacobian_determinant(_model_px(locked), 2 * SIZE)
    assert det.min() >= T.LANDMARK_LOCK_AREA[0] - 1e-3 and det.max() <= T.LANDMARK_LOCK_AREA[1] + 1e-3
    assert np.abs(_model_px(locked)).max() > 1.0  # scaled down, not dropped


def test_landmark_spread_tells_a_sure_heatmap_from_a_guess():
    grid = make_coordinate_grid(SIZE, SIZE)
    sure = torch.exp(-(grid**2).sum(-1) / (2 * 0.05**2))
    guess = torch.ones(SIZE, SIZE)
    maps = torch.stack([sure / sure.sum(), guess / guess.sum()])[None]  # (1, 2, h, w)
    spread = T.landmark_spread(maps)[0]
    assert spread[0] < T.LANDMARK_CONFIDENT_SPREAD < spread[1]
    assert abs(float(spread[0]) - 0.05 * 2**0.5) < 0.01  # a 2-D Gaussian: sigma * sqrt(2)


def test_landmark_lock_takes_two_landmarks_on_one_spot():
    still = make_coordinate_grid(SIZE, SIZE)[None].clone()
    source, target = torch.tensor([[0.0, 0.0], [0.0, 0.0]]), torch.tensor([[0.0, 0.1], [0.0, 0.1]])
    locked = T.lock_landmarks(still, source, target, _everywhere().inside)
    assert torch.isfinite(locked).all()

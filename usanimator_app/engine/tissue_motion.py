"""Making the predicted dense motion a tissue deformation at inference (docs/METRICS.md, issue 21).

The dense motion network blends local affine motions into a sampling grid ``deformation`` that
can fold (det J <= 0) and stretch or crush tissue many times over, above all when the driving clip
is another subject's. Tissue slides (shear is fine) but neither folds nor changes its area several
times. :func:`tissue_deformation` turns the network's grid into one that does neither:

0. The network's displacement v = deformation - identity is read as a stationary velocity field
   and faded to zero towards the edge of the source's imaging sector (a smoothstep over
   ``EDGE_FADE`` of the grid's side): a flow that is still on the sector's edge maps the sector
   onto itself, so the output never samples the black beyond the fan.
1. v is integrated by scaling and squaring (VoxelMorph, Dalca et al. 2018):
   phi = exp(v) = (id + v / 2^n) composed with itself n times. Each small step is fold-free, and
   so is their composition: exp(v) is a diffeomorphism up to the grid's interpolation.
2. Where exp(v) still changes area beyond [``AREA_LOW``, ``AREA_HIGH``] inside the imaging sector,
   v is smoothed there (a local blend towards its Gaussian blur), and 1 repeats: swirls and
   sharp expansions have large gradients and go, broad motion (a bladder neck descending, a lung
   sliding) has small gradients and stays.
3. If a few rounds of 2 do not reach the bound, v is scaled down by the largest factor in (0, 1]
   that does (bisection).
4. If exp(v) magnifies the source's brightest tissue (above the 95th percentile of its sector,
   ``MotionRegion.bright``) so that it covers more than 1 + ``BRIGHT_GROWTH`` times its area, v is
   scaled down likewise until it does not (:func:`bright_growth`): amplified across subjects, a
   motion can stretch a bright pleural line or muscle over the fan, which reads as a white fill.

Two adjustments around it, used by the animator: :class:`MotionMatch` scales the keypoints' motion
that the network answers, before step 0, so that the source moves as much as the driving clip moves itself, and
:func:`lock_landmarks` corrects the result so that it carries the source's anatomical landmarks
exactly where the keypoints move them, where the detector is sure of them (:func:`landmark_spread`).

Jacobians here are those of the metric: central differences in the motion grid's own pixels.
All tensors (B, h, w, 2) normalised [-1, 1] coordinates (align_corners=True), as the network's.
"""

from __future__ import annotations

from typing import Callable, NamedTuple

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from usanimator_app.core.sector import edge_ramp, resize_mask, sector_mask
from usanimator_app.evaluation.plausibility import BRIGHT_PERCENTILE  # the brightest tissue, as the bright-fill figure counts it
from usanimator_app.nets.blocks import make_coordinate_grid, sample
from usanimator_app.nets.dense_motion import DenseMotionOutput

SQUARINGS = 6
AREA_LOW, AREA_HIGH = 0.35, 2.8  # kept inside the metric's implausible bounds 1/4 and 4, with margin
SMOOTHING_SIGMA = 2.0  # motion-grid pixels of the local blur of step 2
SMOOTHING_ROUNDS = 8
BISECTION_STEPS = 8
BRIGHT_GROWTH = 0.15  # the most the area of that tissue may grow in the output
EDGE_FADE = 0.04  # of the motion grid's side: the velocity fades to zero over this distance from the sector's edge


MOTION_MATCH_LIMITS = (0.25, 4.0)  # the most MotionMatch shrinks or grows the keypoints' motion
MOTION_MATCH_MIN_MOTION = 0.016  # normalised (a pixel of a 128-px model): frames where the driving clip moves itself less are not read
MOTION_MATCH_EVERY = 4  # frames: how often the animator measures the driving clip's own motion for MotionMatch


class MotionRegion(NamedTuple):
    """The source's imaging sector on the motion grid: ``inside`` (1, 1, h, w) bool, where the area
    bound holds, ``fade`` (1, 1, h, w) float in [0, 1], the velocity's weight (0 on the edge), and
    ``bright`` (1, 1, h, w) float in [0, 1] or None: the share of each cell's source pixels brighter than
    the sector's ``BRIGHT_PERCENTILE``-th percentile, whose area may grow by at most ``BRIGHT_GROWTH``."""

    inside: torch.Tensor
    fade: torch.Tensor
    bright: torch.Tensor | None = None


def motion_region(frame: np.ndarray, height: int, width: int, device: torch.device) -> MotionRegion:
    """The :class:`MotionRegion` of an (S, S) uint8 source frame on the (height, width) motion grid.
    A frame that shows no sector (all dark) gives the whole grid, without fade."""
    sector = sector_mask(frame)
    if not sector.any():
        inside = np.ones((height, width), bool)
        return MotionRegion(torch.from_numpy(inside)[None, None].to(device), torch.ones(1, 1, height, width, device=device))
    inside = resize_mask(sector, height, width)
    fade = edge_ramp(inside, EDGE_FADE * max(height, width))  # 0 on the outermost pixels inside and the grid's border
    bright = (frame > np.percentile(frame[sector], BRIGHT_PERCENTILE)) & sector
    bright_share = cv2.resize(bright.astype(np.float32), (width, height), interpolation=cv2.INTER_AREA)
    return MotionRegion(*(torch.from_numpy(a)[None, None].to(device) for a in (inside, fade, bright_share)))


def gaussian_blur(field: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur of (B, C, h, w), replicate borders."""
    radius = max(1, int(round(3 * sigma)))
    offsets = torch.arange(-radius, radius + 1, device=field.device, dtype=field.dtype)
    kernel = torch.exp(-offsets**2 / (2 * sigma**2))
    kernel = kernel / kernel.sum()
    channels = field.shape[1]
    padded = F.pad(field, (radius, radius, radius, radius), mode="replicate")
    rows = F.conv2d(padded, kernel.view(1, 1, 1, -1).expand(channels, 1, 1, -1), groups=channels)
    return F.conv2d(rows, kernel.view(1, 1, -1, 1).expand(channels, 1, -1, 1), groups=channels)


def integrate_velocity(velocity: torch.Tensor, squarings: int = SQUARINGS) -> torch.Tensor:
    """exp(v) by scaling and squaring: velocity (B, 2, h, w) normalised -> displacement (B, 2, h, w)."""
    height, width = velocity.shape[2:]
    identity = make_coordinate_grid(height, width, velocity.device, velocity.dtype)[None]  # (1, h, w, 2)
    displacement = velocity / 2**squarings
    for _ in range(squarings):
        # u <- u + u o (id + u): the map id + u composed with itself.
        displacement = displacement + F.grid_sample(
            displacement, identity + displacement.permute(0, 2, 3, 1), align_corners=True, padding_mode="border"
        )
    return displacement


def exponentiated(deformation: torch.Tensor) -> torch.Tensor:
    """Step 1 alone, differentiable (the motion recipe trains through it, engine/trainer.py): the
    network's sampling grid (B, h, w, 2) read as a velocity field -> the grid id + exp(v) (B, h, w, 2)."""
    height, width = deformation.shape[1:3]
    identity = make_coordinate_grid(height, width, deformation.device, torch.float32)[None]
    velocity = (deformation.float() - identity).permute(0, 3, 1, 2)
    return identity + integrate_velocity(velocity).permute(0, 2, 3, 1)


def area_change(displacement: torch.Tensor) -> torch.Tensor:
    """det(I + grad d) (B, h, w) of a displacement (B, 2, h, w) in normalised units, by central differences
    in grid pixels (one-sided at the borders, as ``numpy.gradient``)."""
    height, width = displacement.shape[2:]
    pixels = displacement * torch.tensor([(width - 1) / 2.0, (height - 1) / 2.0], device=displacement.device,
                                         dtype=displacement.dtype).view(1, 2, 1, 1)
    d_dy, d_dx = torch.gradient(pixels, dim=(2, 3))
    return (1 + d_dx[:, 0]) * (1 + d_dy[:, 1]) - d_dy[:, 0] * d_dx[:, 1]


def _implausible(displacement: torch.Tensor, region: torch.Tensor,
                 bounds: tuple[float, float] = (AREA_LOW, AREA_HIGH)) -> torch.Tensor:
    """(B, 1, h, w) float: 1 where the area change is outside ``bounds`` inside ``region``."""
    det = area_change(displacement)[:, None]
    return (((det < bounds[0]) | (det > bounds[1])) & region).to(displacement.dtype)


def tissue_deformation(deformation: torch.Tensor, region: MotionRegion) -> torch.Tensor:
    """The network's sampling grid (B, h, w, 2) -> a fold-free, area-bounded one (B, h, w, 2) that
    keeps the sector in ``region`` (see :func:`motion_region`). Steps: see the module docstring."""
    height, width = deformation.shape[1:3]
    identity = make_coordinate_grid(height, width, deformation.device, torch.float32)[None]
    velocity = (deformation.float() - identity).permute(0, 3, 1, 2) * region.fade  # (B, 2, h, w)
    inside, bright = region.inside, region.bright
    for _ in range(SMOOTHING_ROUNDS):
        displacement = integrate_velocity(velocity)
        bad = _implausible(displacement, inside)
        if not bool(bad.any()):
            break
        weight = gaussian_blur(bad, SMOOTHING_SIGMA).mul_(4.0).clamp_(0.0, 1.0)  # reaches beyond the bad pixels
        velocity = velocity + weight * (gaussian_blur(velocity, SMOOTHING_SIGMA) - velocity)
    else:  # no round reached the bound: a global scale of what remains
        displacement = integrate_velocity(velocity)
        if bool(_implausible(displacement, inside).any()):
            scale = _largest_plausible_scale(lambda s: not bool(_implausible(integrate_velocity(s * velocity), inside).any()))
            velocity = scale * velocity
            displacement = integrate_velocity(velocity)
    return identity + _bright_kept(velocity, displacement, inside, bright).permute(0, 2, 3, 1)


def bright_growth(displacement: torch.Tensor, bright: torch.Tensor) -> torch.Tensor:
    """How many times its area the bright tissue ``bright`` (1, 1, h, w) covers after a displacement
    (B, 2, h, w) moves it: (B,). 1 for any motion that maps the bright cells onto as many cells."""
    height, width = displacement.shape[2:]
    identity = make_coordinate_grid(height, width, displacement.device, displacement.dtype)[None]
    moved = sample(bright.expand(len(displacement), -1, -1, -1), identity + displacement.permute(0, 2, 3, 1))
    return moved.sum(dim=(1, 2, 3)) / bright.sum().clamp(min=1e-6)


def _bright_kept(velocity: torch.Tensor, displacement: torch.Tensor, inside: torch.Tensor, bright: torch.Tensor | None) -> torch.Tensor:
    """Step 4: ``displacement`` = exp(``velocity``) (B, 2, h, w), area-bounded inside ``inside``; if it
    makes the source's brightest tissue cover more than 1 + ``BRIGHT_GROWTH`` times its area (a bright
    streak stretched over the fan reads as a white fill), exp(s v) for the largest s (bisection) that
    neither does so nor breaks the area bound."""
    if bright is None or float(bright_growth(displacement, bright).max()) <= 1 + BRIGHT_GROWTH:
        return displacement

    def acceptable(scale: float) -> bool:
        scaled = integrate_velocity(scale * velocity)
        return float(bright_growth(scaled, bright).max()) <= 1 + BRIGHT_GROWTH and not bool(_implausible(scaled, inside).any())

    return integrate_velocity(_largest_plausible_scale(acceptable) * velocity)


def _largest_plausible_scale(plausible: Callable[[float], bool]) -> float:
    """The largest scale in [0, 1) at which ``plausible(scale)`` holds, to 2^-BISECTION_STEPS, by
    bisection; scale 0 (no motion) counts as plausible, scale 1 is known not to be."""
    low, high = 0.0, 1.0
    for _ in range(BISECTION_STEPS):
        middle = (low + high) / 2
        low, high = (middle, high) if plausible(middle) else (low, middle)
    return low


def mean_displacement(deformation: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """Mean |deformation - identity| (B,) of a (B, h, w, 2) grid, weighted by ``weight`` (1, 1, h, w)
    (bool or float: the pixels inside a region, or soft weights), normalised units."""
    height, width = deformation.shape[1:3]
    identity = make_coordinate_grid(height, width, deformation.device, torch.float32)[None]
    length = (deformation.float() - identity).norm(dim=-1)  # (B, h, w)
    weight = weight[:, 0].float()
    return (length * weight).sum(dim=(1, 2)) / weight.sum().clamp(min=1.0)


def shown_weight(motion: DenseMotionOutput, region: MotionRegion) -> torch.Tensor:
    """How much of each motion-grid cell's moved tissue an output shows, (1, 1, h, w) in [0, 1]: the
    source's sector times the occlusion map (a cell the generator fills shows no moved tissue)."""
    return region.inside.float() * motion.occlusion.float()


class MotionMatch:
    """The factor by which to scale the relative keypoint motion (``engine.motion.relative_keypoints``'
    gain) so that the motion an output of the source shows, summed over the frames observed so far,
    has a mean length ``gain`` times that of the motion the same pipeline shows for the driving clip's
    own reference frame. "Shown": the sampling grid as rendered (after :func:`tissue_deformation`),
    each cell weighted by :func:`shown_weight`.

    Relative keypoint motion moves every source by the same keypoint displacement, but the dense
    motion network answers it more or less strongly depending on the source's anatomy: measured on
    transfer pairs of training clips, a source moved 0.14x to 4x as much as the driving clip moves
    itself. The tissue guard then bounds each answer and the occlusion map hides part of it, again
    depending on the source. The animator gives the network the keypoints scaled by :attr:`scale`
    (a field the network draws for a larger keypoint motion stays a blend of local affine motions,
    where a weak field magnified by the factor would magnify its swirls too) and, every
    ``MOTION_MATCH_EVERY``-th frame, observes what the output shows at that scale beside the driving
    clip's own motion (a dense-motion pass). The network and the guard answer a larger keypoint
    motion less than in proportion, so each observation is read as the motion shown per unit of
    scale, and the next scale is the one that, in proportion, would match: a fixed-point iteration
    over the clip. Frames where the driving clip moves itself less than ``MOTION_MATCH_MIN_MOTION`` are
    not read; until one is, the scale is 1. It is bounded by ``MOTION_MATCH_LIMITS``."""

    def __init__(self, gain: float = 1.0):
        self.gain = gain
        self.transfer_total, self.own_total = 0.0, 0.0  # summed over the observed frames: shown per unit of scale, and the driving's own

    def observe(self, deformation: torch.Tensor, weight: torch.Tensor, own_deformation: torch.Tensor, own_weight: torch.Tensor,
                scale: float = 1.0) -> None:
        """Add one frame: the source's sampling grid (1, h, w, 2) as shown at keypoint-motion ``scale``
        and its cells' weight (1, 1, h, w), then the same for the driving clip's own reference frame."""
        own = float(mean_displacement(own_deformation, own_weight)[0])
        if own < MOTION_MATCH_MIN_MOTION:  # too little motion to read a ratio from: the network's offset dominates
            return
        self.transfer_total += float(mean_displacement(deformation, weight)[0]) / scale
        self.own_total += own

    @property
    def scale(self) -> float:
        if self.transfer_total <= 1e-6:
            return 1.0
        low, high = MOTION_MATCH_LIMITS
        return float(np.clip(self.gain * self.own_total / self.transfer_total, low, high))


LANDMARK_CONFIDENT_SPREAD = 0.12  # normalised units: a landmark heatmap at most this spread is trusted (training Gaussians: ~0.07)
LANDMARK_LOCK_AREA = (0.3, 3.3)  # the lock's area bound: looser than the guard's, still inside the metric's 1/4 and 4
LANDMARK_LOCK_SIGMA = (0.3, 0.08)  # of the motion grid's side: the correction's width along and across a landmark's motion


def landmark_spread(heatmaps: torch.Tensor) -> torch.Tensor:
    """Root mean squared distance of each landmark heatmap's mass from its centre, normalised units:
    (B, L, h, w) probability maps -> (B, L). About 0.07 where the detector is sure (the phantom);
    on the real pelvic stills and 15 lung clips measured the wider of a frame's two landmarks is 0.26-0.99."""
    height, width = heatmaps.shape[2:]
    grid = make_coordinate_grid(height, width, heatmaps.device, torch.float32)  # (h, w, 2)
    maps = heatmaps.float()[..., None]  # (B, L, h, w, 1)
    centre = (maps * grid).sum(dim=(2, 3), keepdim=True)
    return (maps * (grid - centre) ** 2).sum(dim=(2, 3, 4)).sqrt()


def lock_landmarks(deformation: torch.Tensor, source_points: torch.Tensor, target_points: torch.Tensor,
                   inside: torch.Tensor) -> torch.Tensor:
    """Correct a fold-free sampling grid (1, h, w, 2) so that the output shows each source landmark
    (L, 2) exactly at its target (L, 2) (all normalised): the grid must sample ``source_points`` at
    ``target_points``. The correction is a sum of Gaussian bumps centred on the targets, each
    ``LANDMARK_LOCK_SIGMA`` wide along and across its landmark's motion (long along it: only the
    derivative along the motion changes area, so the tissue slides rather than being crushed), whose
    amplitudes solve the L x L system. If it would change area beyond ``LANDMARK_LOCK_AREA`` inside
    ``inside`` (1, 1, h, w), it is scaled down by bisection."""
    height, width = deformation.shape[1:3]
    identity = make_coordinate_grid(height, width, deformation.device, torch.float32)[None]  # (1, h, w, 2)
    pixels = torch.tensor([(width - 1) / 2.0, (height - 1) / 2.0], device=deformation.device)  # normalised -> grid px
    along, across = (share * max(height, width) for share in LANDMARK_LOCK_SIGMA)

    def sampled_at_targets(grid: torch.Tensor) -> torch.Tensor:  # (1, h, w, 2) -> (L, 2): where it samples at the targets
        return F.grid_sample(grid.permute(0, 3, 1, 2), target_points.view(1, 1, -1, 2).float(),
                             align_corners=True, padding_mode="border")[0, :, 0].T

    residual = source_points - sampled_at_targets(deformation.float())  # (L, 2) what each target's sample must still move
    direction = residual * pixels
    direction = direction / direction.norm(dim=-1, keepdim=True).clamp(min=1e-6)  # (L, 2) unit, grid px

    def bumps(at: torch.Tensor) -> torch.Tensor:  # (..., 2) normalised -> (..., L): each target's bump, long along its motion
        offset = (at[..., None, :] - target_points) * pixels  # (..., L, 2) grid px
        a = (offset * direction).sum(dim=-1)
        b = offset[..., 0] * direction[:, 1] - offset[..., 1] * direction[:, 0]
        return torch.exp(-0.5 * ((a / along) ** 2 + (b / across) ** 2))

    weights = bumps(identity[0])  # (h, w, L)
    at_targets = bumps(target_points) + 1e-4 * torch.eye(len(target_points), device=deformation.device)  # (L, L), solvable when targets coincide
    correction = torch.zeros_like(identity)
    for _ in range(2):  # the second pass removes what the grid's bilinear sampling of the first missed
        correction = correction + (weights @ torch.linalg.solve(at_targets, residual))[None]  # (1, h, w, 2)
        residual = source_points - sampled_at_targets(deformation.float() + correction)
    displacement = (deformation.float() - identity).permute(0, 3, 1, 2)
    change = correction.permute(0, 3, 1, 2)
    scale = 1.0
    if bool(_implausible(displacement + change, inside, LANDMARK_LOCK_AREA).any()):
        scale = _largest_plausible_scale(lambda s: not bool(_implausible(displacement + s * change, inside, LANDMARK_LOCK_AREA).any()))
    return deformation.float() + scale * correction

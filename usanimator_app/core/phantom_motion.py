"""Tissue motion for the phantom: manoeuvre (Valsalva / contraction), breathing and probe jitter.

The manoeuvre is a smooth displacement field on a 1 mm reference grid, scaled by the manoeuvre's
strength per frame: every material point (scatterer or landmark) moves along one axis by a share
``manoeuvre_weight`` of the peak. Valsalva moves the bladder neck dorso-caudally (30-45 degrees
from the probe axis towards dorsal, drawn per clip) and pushes the probe back (everything deeper
than half the neck's depth shifts cranially by ``PROBE_PUSH`` of the descent; the perineal tissue
above stretches); a pelvic-floor contraction lifts the neck cranio-ventrally, parallel to the
symphysis. The weight is 1 round the bladder neck, rises from the probe face's level to the neck's
depth so that the column in front of the neck is compressed evenly, falls off behind the neck (the
bladder dome moves less than the base), across the path (tissue slides past the symphysis) and on
a rim round the bone (rigid). Breathing (a slow cranio-caudal shift of deep content, held during
the manoeuvre) and probe jitter (small rigid motion about the probe apex) are added on top; every
material point samples the frame's displacement grid bilinearly at its reference position.

**Fold-free by design, checked exactly.** For a displacement ``a * w(x) * e`` along one axis ``e``
the Jacobian determinant is ``1 + a * (e . grad w)``: the fall-offs across the path cost nothing,
only the weight's slope along the path compresses, and the slopes are chosen so that the strongest
compression stays well above 0 (about 0.1-0.3 of the area at a 40 mm descent). ``corner_jacobians``
gives the exact determinants of the bilinear grid map at every cell's corners, which bound it over
the cell; calibration refuses a peak whose map would compress below ``MIN_AREA_RATIO`` and
``TissueMotion.folded_cells`` counts folded cells per frame. Area is not preserved (the tissue in
front of the neck is compressed, behind it stretched, as a 2-D slice of tissue that bulges out of
plane); ``area_ratio`` lets the imager keep tissue brightness.

Bladder-neck descent is measured as clinicians do: the change of the bladder neck's depth
(cranio-caudal position, image y) relative to the horizontal line through the symphysis margin,
positive when the neck moves caudally (towards the probe), relative to frame 0.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from usanimator_app.core.phantom_anatomy import Anatomy, smoothstep

MANOEUVRES = ("valsalva", "contraction", "rest")
_GRID_ORIGIN = np.array([-110.0, -12.0])  # mm, probe frame
_GRID_STEP = 1.0  # mm
_GRID_SHAPE = (151, 221)  # rows (y), cols (x)
MIN_AREA_RATIO = 0.04  # the strongest compression a peak may cause (corner Jacobian of the grid map)
PROBE_PUSH = 0.3  # share of a Valsalva's descent by which the bulging perineum pushes the probe back


def _smooth_ramp(t: np.ndarray, start: float, length: float) -> np.ndarray:
    """Raised-cosine step (0 -> 1) over [start, start + length]."""
    u = np.clip((t - start) / max(length, 1e-6), 0.0, 1.0)
    return 0.5 - 0.5 * np.cos(np.pi * u)


def manoeuvre_profile(manoeuvre: str, frames: int, rng: np.random.Generator) -> np.ndarray:
    """Manoeuvre strength per frame (F,) in [0, 1]: 0 at frame 0, reaching exactly 1 at its peak.

    Rest, smooth rise, hold with a slight wobble, partial release; clips shorter than 4 frames
    simply ramp up to the peak at their last frame.
    """
    t = np.linspace(0.0, 1.0, frames)
    if manoeuvre == "rest" or frames < 2:
        return np.zeros(frames)
    if frames < 4:
        return t
    if manoeuvre == "valsalva":
        onset, rise, hold, release_to = rng.uniform(0.08, 0.2), rng.uniform(0.25, 0.4), rng.uniform(0.15, 0.3), rng.uniform(0.0, 0.5)
    else:
        onset, rise, hold, release_to = rng.uniform(0.08, 0.25), rng.uniform(0.12, 0.22), rng.uniform(0.2, 0.35), rng.uniform(0.0, 0.3)
    peak = onset + rise
    release = peak + hold
    strength = _smooth_ramp(t, onset, rise) - (1.0 - release_to) * _smooth_ramp(t, release, 1.0 - release)
    wobble = 0.03 * (1.0 - np.cos(2 * np.pi * np.clip(t - peak, 0.0, None) / max(hold, 1e-3))) / 2.0
    strength = strength - wobble * (t > peak) * (t < release)
    return strength / strength.max()


def manoeuvre_weight(anatomy: Anatomy, axis: np.ndarray, xy: np.ndarray, column: tuple[float, float],
                     behind_mm: float) -> np.ndarray:
    """Share (N,) in [0, 1] of the manoeuvre's displacement at reference points ``xy`` (N, 2) mm.

    ``axis`` (2,): unit vector of the motion, pointing caudally (towards the probe). ``column``:
    (slope above, slope below) the half-depth of the bladder neck, per mm of depth: the weight rises
    from 0 at the probe face's level to 1 at the neck's depth with these slopes. Then Gaussian
    fall-offs behind the neck (sigma ``behind_mm``), ventral of its path (14 mm, from 4 mm dorsal of
    it) and dorsal of it (18 mm), and 0 on the bone and a 1 mm rim, rising to 1 over the next 10 mm.
    """
    neck = np.asarray(anatomy.bladder_neck)
    half = 0.5 * neck[1]
    y = np.clip(xy[:, 1], 0.0, neck[1])
    depth = np.where(y < half, y * column[0], half * column[0] + (y - half) * column[1])
    rel = xy - neck
    along = rel @ axis  # > 0 ahead of the neck, towards the probe
    across = rel @ np.array([-axis[1], axis[0]])  # > 0 dorsal of the path, < 0 ventral
    behind = np.exp(-np.minimum(along, 0.0) ** 2 / (2 * behind_mm**2))
    ventral = np.exp(-np.minimum(across - 4.0, 0.0) ** 2 / (2 * 14.0**2))
    dorsal = np.exp(-np.maximum(across, 0.0) ** 2 / (2 * 18.0**2))
    bone, _ = anatomy.bone_distance(xy)
    return np.clip(depth, 0.0, 1.0) * behind * ventral * dorsal * smoothstep(bone, 1.0, 11.0)


def corner_jacobians(displacement: np.ndarray) -> np.ndarray:
    """Exact Jacobian determinants (rows - 1, cols - 1, 4) of the bilinear map ``x + displacement``.

    ``displacement`` (rows, cols, 2) mm on the motion grid. The determinant of a bilinear cell is
    affine in each cell coordinate, so its four corner values bound it: a cell folds iff one is <= 0.
    """
    ys, xs = np.mgrid[0:displacement.shape[0], 0:displacement.shape[1]]
    p = displacement / _GRID_STEP + np.stack([xs, ys], axis=-1)
    p00, p10, p01, p11 = p[:-1, :-1], p[:-1, 1:], p[1:, :-1], p[1:, 1:]

    def cross(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return a[..., 0] * b[..., 1] - a[..., 1] * b[..., 0]

    return np.stack([cross(p10 - p00, p01 - p00), cross(p10 - p00, p11 - p10),
                     cross(p11 - p01, p01 - p00), cross(p11 - p01, p11 - p10)], axis=-1)


def grid_cell_centres() -> np.ndarray:
    """Reference positions (rows - 1, cols - 1, 2) mm of the motion grid's cell centres."""
    ys, xs = np.mgrid[0:_GRID_SHAPE[0] - 1, 0:_GRID_SHAPE[1] - 1].astype(np.float64)
    return (np.stack([xs, ys], axis=-1) + 0.5) * _GRID_STEP + _GRID_ORIGIN


class TissueMotion:
    """Frame-by-frame positions of material points given by their reference positions (probe-frame mm)."""

    def __init__(self, anatomy: Anatomy, manoeuvre: str, peak_descent_mm: float, frames: int, fps: float,
                 pivot_y_mm: float, rng: np.random.Generator) -> None:
        if manoeuvre not in MANOEUVRES:
            raise ValueError(f"unknown manoeuvre {manoeuvre!r}; expected one of {MANOEUVRES}")
        self.anatomy = anatomy
        self.manoeuvre = manoeuvre
        self.frames = frames
        t = np.arange(frames) / fps
        self.strength = manoeuvre_profile(manoeuvre, frames, rng)
        angle = math.radians(rng.uniform(30.0, 45.0))  # Valsalva direction from the probe axis towards dorsal
        self.direction = np.array([math.sin(angle), -math.cos(angle)])
        breath_period, breath_mm = rng.uniform(3.0, 5.0), rng.uniform(0.4, 1.0)
        phase = rng.uniform(0, 2 * np.pi)
        self.breathing = breath_mm * (np.sin(2 * np.pi * t / breath_period + phase) - math.sin(phase)) * (1 - self.strength)
        jitter = np.zeros((frames, 3))
        for axis, scale in enumerate((0.25, 0.25, math.radians(0.25))):  # x mm, y mm, rotation rad
            for _ in range(3):
                jitter[:, axis] += scale / 2 * np.sin(2 * np.pi * rng.uniform(0.15, 0.8) * t + rng.uniform(0, 2 * np.pi))
        self.jitter = jitter - jitter[:1]  # (F, 3): x mm, y mm, rotation rad about (0, pivot_y_mm), the probe apex
        self.pivot_y_mm = pivot_y_mm
        ys, xs = np.mgrid[0:_GRID_SHAPE[0], 0:_GRID_SHAPE[1]].astype(np.float64)
        grid_ref = np.stack([xs, ys], axis=-1).reshape(-1, 2) * _GRID_STEP + _GRID_ORIGIN
        self._breathing_weight = np.clip((grid_ref[:, 1] - 45.0) / 45.0, 0.0, 1.0).reshape(_GRID_SHAPE).astype(np.float32)
        self._unit = np.zeros(_GRID_SHAPE + (2,), np.float32)
        if manoeuvre != "rest" and peak_descent_mm > 0:
            self._unit = self._peak_field(grid_ref, float(peak_descent_mm)).reshape(_GRID_SHAPE + (2,)).astype(np.float32)
        self.amplitude = 0.0
        if manoeuvre != "rest":
            self._calibrate(abs(peak_descent_mm))

    def _peak_field(self, grid_ref: np.ndarray, peak_mm: float) -> np.ndarray:
        """Nominal displacement (N, 2) mm at the grid points for a peak of ``peak_mm``.

        Valsalva moves the neck along ``direction`` and pushes the probe back (everything deeper than
        half the neck's depth shifts cranially by ``PROBE_PUSH * peak``, the perineal tissue above
        stretches); the column in front of the neck then shortens by ``(1 - PROBE_PUSH) * peak``,
        spread evenly over the column. A contraction lifts the neck parallel to the symphysis'
        long axis (cranio-ventrally), without a push.
        """
        neck_y = self.anatomy.bladder_neck[1]
        if self.manoeuvre == "valsalva":
            axis, sign, push, behind = self.direction, 1.0, PROBE_PUSH * peak_mm, 11.0
        else:
            tilt = math.radians(self.anatomy.bone_angle_deg)
            axis, sign, push, behind = np.array([math.sin(tilt), -math.cos(tilt)]), -1.0, 0.0, 28.0
        stretch = 1.0 - (peak_mm - push) / neck_y  # area ratio of the column in front of the neck
        column = ((1.0 - stretch + push / (0.5 * neck_y)) / peak_mm, (1.0 - stretch) / peak_mm)
        weight = manoeuvre_weight(self.anatomy, axis, grid_ref, column, behind)
        field = sign * weight[:, None] * axis * (peak_mm / abs(axis[1]))
        field[:, 1] += push * np.clip(grid_ref[:, 1] / (0.5 * neck_y), 0.0, 1.0)
        return field

    def _calibrate(self, target_mm: float) -> None:
        """Set the amplitude so that the measured peak |descent| equals ``target_mm``; refuse a peak that folds.

        The amplitude scales the nominal peak field (it ends near 1). Positions are affine in it, so
        the descent is ``amplitude * unit + rest`` exactly (``rest``: breathing and jitter); a
        bisection solves the peak for the amplitude.
        """
        if target_mm <= 0 or self.strength.max() <= 0:
            return
        rest = self.descent_mm()
        self.amplitude = 1.0
        unit = self.descent_mm() - rest
        if np.abs(unit).max() < 1e-6:
            raise ValueError("this subject's bladder neck does not move with the manoeuvre")
        lo, hi = 0.0, 2.0 * (target_mm + np.abs(rest).max()) / np.abs(unit).max()
        for _ in range(60):
            mid = (lo + hi) / 2
            lo, hi = (mid, hi) if np.abs(mid * unit + rest).max() < target_mm else (lo, mid)
        self.amplitude = (lo + hi) / 2
        worst = float(corner_jacobians(self.amplitude * self._unit).min())
        if worst < MIN_AREA_RATIO:
            raise ValueError(f"a peak of {target_mm:g} mm is out of reach for this subject "
                             f"(it would compress tissue to {worst:.2f} of its area)")

    # --- per frame --------------------------------------------------------------------------------
    def displacement_grid(self, frame: int) -> np.ndarray:
        """Manoeuvre + breathing displacement (rows, cols, 2) float32 mm on the reference grid."""
        grid = self._unit * np.float32(self.amplitude * self.strength[frame])
        grid[..., 1] += np.float32(self.breathing[frame]) * self._breathing_weight
        return grid

    def folded_cells(self, frame: int) -> np.ndarray:
        """Cells (rows - 1, cols - 1) bool where the frame's bilinear grid map folds (a corner Jacobian <= 0)."""
        return corner_jacobians(self.displacement_grid(frame)).min(axis=-1) <= 0.0

    def grid_coordinates(self, ref_xy: np.ndarray) -> np.ndarray:
        """Precomputed ``cv2.remap`` coordinates (N, 1, 2) float32 of reference points on the grid."""
        return ((ref_xy - _GRID_ORIGIN) / _GRID_STEP).astype(np.float32)[:, None, :]

    @staticmethod
    def _sample(grid: np.ndarray, coords: np.ndarray) -> np.ndarray:
        """Bilinear samples (N, ...) of ``grid`` (rows, cols[, C]) float32 at ``coords`` (N, 1, 2)."""
        out = np.empty((len(coords),) + grid.shape[2:], np.float32)
        for start in range(0, len(coords), 32000):  # cv2.remap takes at most SHRT_MAX rows
            part = coords[start:start + 32000]
            out[start:start + len(part)] = cv2.remap(grid, part, None, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)[:, 0]
        return out

    def area_ratio(self, frame: int, coords: np.ndarray) -> np.ndarray:
        """Local area change (N,) float32 (det of the deformation gradient) at grid ``coords`` (N, 1, 2)."""
        grid = self.displacement_grid(frame)
        dux_dy, dux_dx = np.gradient(grid[..., 0], _GRID_STEP)
        duy_dy, duy_dx = np.gradient(grid[..., 1], _GRID_STEP)
        det = ((1.0 + dux_dx) * (1.0 + duy_dy) - dux_dy * duy_dx).astype(np.float32)
        return self._sample(det, coords)

    def positions(self, frame: int, ref_xy: np.ndarray, coords: np.ndarray | None = None) -> np.ndarray:
        """Positions (N, 2) float32 at ``frame`` of material points with reference positions ``ref_xy`` (N, 2)."""
        coords = self.grid_coordinates(ref_xy) if coords is None else coords
        moved = self._sample(self.displacement_grid(frame), coords) + ref_xy
        dx, dy, angle = self.jitter[frame]
        c, s = np.float32(math.cos(angle)), np.float32(math.sin(angle))
        apex_y = np.float32(self.pivot_y_mm)
        x, y = moved[:, 0], moved[:, 1] - apex_y
        return np.stack([c * x - s * y + np.float32(dx), s * x + c * y + apex_y + np.float32(dy)], axis=1)

    def landmark_tracks(self) -> dict[str, np.ndarray]:
        """Positions (F, 2) in mm of ``symphysis_lower_edge`` and ``bladder_neck`` over the clip."""
        ref = np.array([self.anatomy.symphysis_margin, self.anatomy.bladder_neck], np.float32)
        coords = self.grid_coordinates(ref)
        tracks = np.stack([self.positions(f, ref, coords) for f in range(self.frames)])
        return {"symphysis_lower_edge": tracks[:, 0], "bladder_neck": tracks[:, 1]}

    def descent_mm(self) -> np.ndarray:
        """Bladder-neck descent (F,) in mm relative to frame 0 (positive caudal, see the module doc)."""
        tracks = self.landmark_tracks()
        height = tracks["bladder_neck"][:, 1] - tracks["symphysis_lower_edge"][:, 1]
        return (height[0] - height).astype(np.float64)

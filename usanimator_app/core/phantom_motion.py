"""Tissue motion for the phantom: manoeuvre (Valsalva / contraction), breathing and probe jitter.

The manoeuvre is the flow of a smooth, static, divergence-free velocity field (so the deformation
never folds and preserves area): for Valsalva a rotation about the symphysis margin (dorso-caudal),
for a pelvic-floor contraction a cranio-ventral push towards the symphysis. The field's weight is largest
round the bladder neck and vanishes at the pubic bone and at the probe face, so the symphysis stays
rigid and the bladder dome moves less than the bladder base. The flow map is integrated once per
clip on a 2 mm grid for a ladder of manoeuvre amplitudes; a frame interpolates between two rungs
and every material point (scatterer or landmark) samples that displacement grid at its reference
position. Breathing (a slow cranio-caudal shift of deep content, held during the manoeuvre) and
probe jitter (small rigid motion about the probe apex) are added on top.

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
_GRID_STEP = 2.0  # mm
_GRID_SHAPE = (76, 111)  # rows (y), cols (x)
_LEVELS = 48  # amplitude rungs per clip


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


class MotionField:
    """The manoeuvre's static, divergence-free velocity field for one anatomy (per unit amplitude).

    The field is the curl of a stream function ``psi = weight(x) * psi0(x)``: ``psi0`` is a rigid
    rotation about the symphysis margin (Valsalva, dorso-caudal) or a uniform cranio-ventral push
    (contraction). Being divergence-free, the flow preserves area (bladder volume, scatterer
    density); ``weight`` is 0 on the bone and at the probe face, so they are streamlines the tissue
    slides along but never crosses. Sampled on a 1 mm grid, interpolated bilinearly.
    """

    step_mm = 1.0

    def __init__(self, anatomy: Anatomy, manoeuvre: str) -> None:
        self.anatomy = anatomy
        self.manoeuvre = manoeuvre
        rows = int(round((_GRID_SHAPE[0] - 1) * _GRID_STEP / self.step_mm)) + 1
        cols = int(round((_GRID_SHAPE[1] - 1) * _GRID_STEP / self.step_mm)) + 1
        ys, xs = np.mgrid[0:rows, 0:cols].astype(np.float64)
        xy = np.stack([xs, ys], axis=-1).reshape(-1, 2) * self.step_mm + _GRID_ORIGIN
        psi = (self.weight(xy) * self._base_stream(xy)).reshape(rows, cols)
        dpsi_dy, dpsi_dx = np.gradient(psi, self.step_mm)
        self._velocity = np.stack([dpsi_dy, -dpsi_dx], axis=-1).astype(np.float32)

    def weight(self, xy: np.ndarray) -> np.ndarray:
        """Mobility (N,) in [0, 1]: 1 round the bladder neck's path; 0 at the bone (and a 3 mm rim),
        in the pubic region ventral of it and at the probe face."""
        neck = np.asarray(self.anatomy.bladder_neck)
        centre = neck + (np.array([6.0, -12.0]) if self.manoeuvre == "valsalva" else np.array([2.0, 2.0]))
        near = np.exp(-((xy - centre) ** 2).sum(1) / (2 * 24.0**2))
        bone, _ = self.anatomy.bone_distance(xy)
        rigid_bone = 1.0 - np.exp(-np.maximum(bone - 3.0, 0.0) ** 2 / (2 * 4.0**2))  # 3 mm rigid rim
        margin = np.asarray(self.anatomy.symphysis_margin)
        pubic = (1.0 - smoothstep(xy[:, 0], margin[0] - 20.0, margin[0] - 4.0)) * (
            1.0 - smoothstep(xy[:, 1], margin[1] + 10.0, margin[1] + 30.0))  # ventral of the symphysis
        skin = smoothstep(self.anatomy.skin_depth(xy), 3.0, 10.0)  # skin and probe contact stay put
        return near * rigid_bone * (1.0 - pubic) * skin

    def _base_stream(self, xy: np.ndarray) -> np.ndarray:
        """Stream function (N,) of the unweighted motion."""
        if self.manoeuvre == "valsalva":
            rel = xy - np.asarray(self.anatomy.symphysis_margin)
            return 0.5 * (rel**2).sum(1)  # rotation about the margin, 1 rad per unit, dorso-caudal
        if self.manoeuvre == "contraction":
            rel = xy - np.asarray(self.anatomy.bladder_neck)
            push = np.array([-0.55, 0.835])  # cranio-ventral, towards the symphysis, 1 mm per unit
            return push[0] * rel[:, 1] - push[1] * rel[:, 0]
        return np.zeros(len(xy))

    def velocity(self, xy: np.ndarray) -> np.ndarray:
        """Velocity (N, 2) float32 at positions ``xy`` (N, 2)."""
        coords = ((xy - _GRID_ORIGIN) / self.step_mm).astype(np.float32)[:, None, :]
        out = np.empty((len(xy), 2), np.float32)
        for start in range(0, len(xy), 32000):  # cv2.remap takes at most SHRT_MAX rows
            part = coords[start:start + 32000]
            out[start:start + len(part)] = cv2.remap(self._velocity, part, None, cv2.INTER_LINEAR,
                                                     borderMode=cv2.BORDER_CONSTANT, borderValue=0)[:, 0]
        return out

    def flow(self, xy: np.ndarray, amplitude: float, steps: int) -> np.ndarray:
        """Positions after flowing ``xy`` (N, 2) for ``amplitude`` (midpoint rule, ``steps`` steps)."""
        h = amplitude / steps
        for _ in range(steps):
            xy = xy + h * self.velocity(xy + 0.5 * h * self.velocity(xy))
        return xy


class TissueMotion:
    """Frame-by-frame positions of material points given by their reference positions (probe-frame mm)."""

    def __init__(self, anatomy: Anatomy, manoeuvre: str, peak_descent_mm: float, frames: int, fps: float,
                 pivot_y_mm: float, rng: np.random.Generator) -> None:
        if manoeuvre not in MANOEUVRES:
            raise ValueError(f"unknown manoeuvre {manoeuvre!r}; expected one of {MANOEUVRES}")
        self.anatomy = anatomy
        self.field = MotionField(anatomy, manoeuvre)
        self.frames = frames
        t = np.arange(frames) / fps
        self.strength = manoeuvre_profile(manoeuvre, frames, rng)
        breath_period, breath_mm = rng.uniform(3.0, 5.0), rng.uniform(0.4, 1.0)
        self.breathing = breath_mm * np.sin(2 * np.pi * t / breath_period + rng.uniform(0, 2 * np.pi)) * (1 - self.strength)
        jitter = np.zeros((frames, 3))
        for axis, scale in enumerate((0.25, 0.25, math.radians(0.25))):  # x mm, y mm, rotation rad
            for _ in range(3):
                jitter[:, axis] += scale / 2 * np.sin(2 * np.pi * rng.uniform(0.15, 0.8) * t + rng.uniform(0, 2 * np.pi))
        self.jitter = jitter  # (F, 3): x mm, y mm, rotation rad about (0, pivot_y_mm), the probe apex
        self.pivot_y_mm = pivot_y_mm
        ys, xs = np.mgrid[0:_GRID_SHAPE[0], 0:_GRID_SHAPE[1]].astype(np.float64)
        self._grid_ref = np.stack([xs, ys], axis=-1).reshape(-1, 2) * _GRID_STEP + _GRID_ORIGIN
        self._breathing_weight = np.clip((self._grid_ref[:, 1] - 45.0) / 45.0, 0.0, 1.0).reshape(_GRID_SHAPE)
        self.amplitude = 0.0
        self._ladder = self._integrate_ladder(0.0)
        if manoeuvre != "rest":
            self._calibrate(abs(peak_descent_mm))

    # --- calibration ------------------------------------------------------------------------------
    def _calibrate(self, target_mm: float) -> None:
        """Set the manoeuvre amplitude (and its ladder) so that the peak |descent| equals ``target_mm``."""
        if target_mm <= 0 or self.strength.max() <= 0:
            return
        ref = np.array([self.anatomy.bladder_neck])
        steps = 400
        top = 6.0 if self.field.manoeuvre == "valsalva" else 60.0
        track = [ref[0]]
        xy = ref
        for _ in range(steps):
            xy = self.field.flow(xy, top / steps, 1)
            track.append(xy[0])
        track = np.asarray(track)  # (steps + 1, 2) neck position along the amplitude ladder

        def peak(amplitude: float) -> float:
            pos = track[np.clip(np.round(self.strength * amplitude / top * steps).astype(int), 0, steps)]
            return float(np.abs(pos[0, 1] - pos[:, 1]).max())

        lo, hi = 0.0, top
        for _ in range(40):
            mid = (lo + hi) / 2
            lo, hi = (mid, hi) if peak(mid) < target_mm else (lo, mid)
        amplitude = (lo + hi) / 2
        # the rendered points follow the gridded flow plus breathing and jitter: correct the small difference
        for _ in range(3):
            self.amplitude = amplitude
            self._ladder = self._integrate_ladder(amplitude)
            measured = np.abs(self.descent_mm()).max()
            if measured <= 0 or abs(measured - target_mm) < 0.005 * target_mm:
                break
            amplitude *= target_mm / measured
        if abs(measured - target_mm) > 0.05 * target_mm:
            raise ValueError(f"a peak of {target_mm:g} mm is out of reach for this subject (got {measured:.1f} mm)")

    def _integrate_ladder(self, amplitude: float) -> np.ndarray:
        """Grid displacements (levels + 1, rows, cols, 2) for amplitudes 0 .. ``amplitude``."""
        ladder = np.zeros((_LEVELS + 1,) + _GRID_SHAPE + (2,), np.float32)
        if amplitude == 0.0:
            return ladder
        xy = self._grid_ref
        for level in range(1, _LEVELS + 1):
            xy = self.field.flow(xy, amplitude / _LEVELS, 1)
            ladder[level] = (xy - self._grid_ref).reshape(_GRID_SHAPE + (2,))
        return ladder

    # --- per frame --------------------------------------------------------------------------------
    def displacement_grid(self, frame: int) -> np.ndarray:
        """Manoeuvre + breathing displacement (rows, cols, 2) float32 on the reference grid."""
        level = self.strength[frame] * _LEVELS
        low = min(int(level), _LEVELS - 1)
        frac = np.float32(level - low)
        grid = self._ladder[low] * (1 - frac) + self._ladder[low + 1] * frac
        grid[..., 1] += np.float32(self.breathing[frame]) * self._breathing_weight.astype(np.float32)
        return grid

    def grid_coordinates(self, ref_xy: np.ndarray) -> np.ndarray:
        """Precomputed ``cv2.remap`` coordinates (N, 1, 2) float32 of reference points on the grid."""
        return ((ref_xy - _GRID_ORIGIN) / _GRID_STEP).astype(np.float32)[:, None, :]

    def positions(self, frame: int, ref_xy: np.ndarray, coords: np.ndarray | None = None) -> np.ndarray:
        """Positions (N, 2) float32 at ``frame`` of material points with reference positions ``ref_xy`` (N, 2)."""
        coords = self.grid_coordinates(ref_xy) if coords is None else coords
        grid = self.displacement_grid(frame)
        moved = np.empty((len(ref_xy), 2), np.float32)
        for start in range(0, len(ref_xy), 32000):  # cv2.remap takes at most SHRT_MAX rows
            part = coords[start:start + 32000]
            moved[start:start + len(part)] = cv2.remap(grid, part, None, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)[:, 0]
        moved += ref_xy
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

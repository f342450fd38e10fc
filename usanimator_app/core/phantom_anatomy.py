"""Mid-sagittal pelvic-floor anatomy for the phantom, as seen from a transperineal probe.

Probe frame (see ``phantom_imaging``): millimetres, x to the image right, y depth. Orientation as
in the usual (unflipped) transperineal display and the PFUS1 stills: probe on top, so image down
is cranial, and ventral is image left. From left to right: the pubic symphysis (near the probe,
its shadow running down the left of the fan), the urethra with the bladder neck and the bladder
behind (cranial to) it, the vagina, the anorectum and the levator ani behind the anorectal
junction.

The pubic symphysis is an ellipse whose caudal end faces the probe; its bright echo is a
meniscus-shaped cap over that end. The cap stops on the dorsal side at the *inferoposterior
(dorsocaudal) margin*, the ``symphysis_lower_edge`` landmark: bright bone above it, soft tissue
below it. The ``bladder_neck`` landmark is the tip of the small funnel at the bladder base where the
urethra starts; from it the bladder lumen (dark) extends deeper (cranially).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

MARGIN_T_OFFSET = 1.0  # ellipse parameter from the symphysis' caudal end to its inferoposterior margin


def _rot(deg: float) -> np.ndarray:
    a = math.radians(deg)
    return np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])


def _bezier(points: np.ndarray, n: int = 24) -> np.ndarray:
    """Quadratic/cubic Bezier through control ``points`` (K, 2) -> polyline (n, 2)."""
    t = np.linspace(0.0, 1.0, n)[:, None]
    k = len(points) - 1
    return sum(math.comb(k, i) * t**i * (1 - t) ** (k - i) * points[i] for i in range(k + 1))


def _polyline_distance(xy: np.ndarray, poly: np.ndarray, reach: float = 12.0) -> tuple[np.ndarray, np.ndarray]:
    """Distance (N,) from points to a polyline (K, 2), and the arc-length fraction (N,) of the closest point.

    Only points within ``reach`` mm of the polyline's bounding box are measured; the others get a
    distance of 1000 mm and a fraction of 0.
    """
    dist = np.full(len(xy), 1000.0)
    along = np.zeros(len(xy))
    lo, hi = poly.min(0) - reach, poly.max(0) + reach
    near = np.flatnonzero(((xy >= lo) & (xy <= hi)).all(1))
    pts = xy[near]
    start, seg = poly[:-1], poly[1:] - poly[:-1]
    seg_len2 = np.maximum((seg**2).sum(1), 1e-9)
    rel = pts[:, None, :] - start[None]
    t = np.clip((rel * seg[None]).sum(2) / seg_len2[None], 0.0, 1.0)
    dist2 = ((rel - t[..., None] * seg[None]) ** 2).sum(2)
    best = dist2.argmin(1)
    rows = np.arange(len(pts))
    seg_len = np.sqrt(seg_len2)
    cum = np.concatenate([[0.0], np.cumsum(seg_len)])
    dist[near] = np.sqrt(dist2[rows, best])
    along[near] = (cum[best] + t[rows, best] * seg_len[best]) / cum[-1]
    return dist, along


def _ellipse_distance(xy: np.ndarray, centre, axes, angle_deg: float) -> tuple[np.ndarray, np.ndarray]:
    """Approximate signed distance (N,) to an ellipse (negative inside) and the ellipse parameter t (N,).

    The ellipse is ``centre + R(angle) @ (axes[0] cos t, axes[1] sin t)``.
    """
    local = (xy - np.asarray(centre)) @ _rot(angle_deg)
    s1, s2 = local[:, 0] / axes[0], local[:, 1] / axes[1]
    rho = np.sqrt(s1**2 + s2**2)
    grad = np.sqrt((s1 / axes[0]) ** 2 + (s2 / axes[1]) ** 2) / np.maximum(rho, 1e-9)
    return (rho - 1.0) / np.maximum(grad, 1e-9), np.arctan2(s2, s1)


def _soft(dist: np.ndarray, edge_mm: float = 0.4) -> np.ndarray:
    """Smooth inside-mask (1 inside, 0 outside) from a signed distance."""
    return 1.0 / (1.0 + np.exp(np.clip(dist / edge_mm, -30, 30)))


def smoothstep(x: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """0 below ``lo``, 1 above ``hi``, a smooth cubic between."""
    t = np.clip((x - lo) / (hi - lo), 0.0, 1.0)
    return t * t * (3 - 2 * t)


@dataclass(frozen=True)
class Anatomy:
    """One subject's anatomy in probe-frame mm (drawn by :func:`sample_anatomy`)."""

    symphysis_margin: tuple[float, float]  # inferoposterior margin = symphysis_lower_edge landmark
    bone_angle_deg: float                  # long axis from vertical towards ventral
    bone_axes: tuple[float, float]         # half length (cranio-caudal), half thickness
    bone_cap_deg: float                    # how far the bright cap reaches round the ventral side
    bladder_neck: tuple[float, float]
    bladder_axes: tuple[float, float]
    bladder_tilt_deg: float
    urethra_arch_mm: float
    vagina_offset_mm: float
    anorectum_offset_mm: float
    anorectal_junction_depth_mm: float
    rectal_gas: bool
    texture_seed: int
    texture_contrast: float
    probe_radius_mm: float                 # curvature of the probe face (the skin follows it)

    def skin_depth(self, xy: np.ndarray) -> np.ndarray:
        """Distance (N,) in mm below the curved probe face (negative above it)."""
        return np.hypot(xy[:, 0], xy[:, 1] + self.probe_radius_mm) - self.probe_radius_mm

    # --- derived shapes -------------------------------------------------------------------------
    def bone_frame(self) -> tuple[np.ndarray, float]:
        """(centre (2,), ellipse angle in degrees) of the symphysis ellipse.

        Ellipse parameter t = pi is the caudal end (nearest the probe); axis 1 points ventrally, so
        the margin, on the dorsal side, is at t = pi + 1 rad.
        """
        a, b = self.bone_axes
        angle = 90.0 + self.bone_angle_deg  # axis 0 points cranially (down) and a little ventrally
        rot = _rot(angle)
        t = math.pi + MARGIN_T_OFFSET
        offset = rot @ np.array([a * math.cos(t), b * math.sin(t)])
        return np.asarray(self.symphysis_margin) - offset, angle

    def bladder_centre(self) -> np.ndarray:
        ax, ay = self.bladder_axes
        return np.asarray(self.bladder_neck) + np.array([-0.3 * ax, ay + 2.0])

    def urethra(self) -> np.ndarray:
        """Centre line (n, 2) from the bladder neck to the meatus at the probe face."""
        neck = np.asarray(self.bladder_neck)
        meatus = np.array([self.symphysis_margin[0] + 11.0, 1.0])
        mid = (neck + meatus) / 2 + np.array([self.urethra_arch_mm, 0.0])
        return _bezier(np.stack([neck, mid, meatus]))

    def vagina(self) -> np.ndarray:
        x0 = self.bladder_neck[0] + self.vagina_offset_mm
        return _bezier(np.array([[x0 - 2.0, 1.0], [x0 + 1.0, 30.0], [x0 + 8.0, 52.0], [x0 + 22.0, 70.0]]))

    def anal_canal(self) -> np.ndarray:
        x0 = self.bladder_neck[0] + self.anorectum_offset_mm
        return _bezier(np.array([[x0, 1.0], [x0 + 2.0, self.anorectal_junction_depth_mm]]), n=8)

    def rectum(self) -> np.ndarray:
        junction = self.anal_canal()[-1]
        return _bezier(np.stack([junction, junction + [6.0, 14.0], junction + [30.0, 20.0], junction + [48.0, 40.0]]))

    def levator(self) -> np.ndarray:
        """The puborectalis sling: an echogenic band behind the anorectal junction."""
        junction = self.anal_canal()[-1]
        return _bezier(np.stack([junction + [9.0, -10.0], junction + [14.0, 2.0], junction + [22.0, 8.0], junction + [38.0, 10.0]]))

    def bone_distance(self, xy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        centre, angle = self.bone_frame()
        return _ellipse_distance(xy, centre, self.bone_axes, angle)

    def bladder_distance(self, xy: np.ndarray) -> np.ndarray:
        """Signed distance (N,) to the bladder lumen (body plus the funnel at the neck), kept off the bone."""
        body, _ = _ellipse_distance(xy, self.bladder_centre(), self.bladder_axes, self.bladder_tilt_deg)
        funnel, _ = _ellipse_distance(xy, np.asarray(self.bladder_neck) + [0.0, 3.5], (2.2, 3.5), 0.0)
        bone, _ = self.bone_distance(xy)
        return np.maximum(np.minimum(body, funnel), 4.0 - bone)

    # --- echo properties --------------------------------------------------------------------------
    def echo_properties(self, xy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Reflectivity (N,) and excess two-way attenuation (N,) in dB/mm at reference points ``xy`` (N, 2)."""
        xy = np.asarray(xy, dtype=np.float64)
        y = xy[:, 1]
        skin = self.skin_depth(xy)
        amp = self._texture(xy)
        att = np.zeros(len(xy))

        def paint(mask: np.ndarray, value) -> None:
            nonlocal amp
            amp = amp * (1.0 - mask) + value * mask

        amp = amp * (1.5 - 0.8 * smoothstep(y, 25.0, 70.0))  # bright perineal tissue, duller deep
        paint(_soft(np.abs(skin - 1.2) - 0.8, 0.3), 5.0)  # skin line under the probe

        dist, along = _polyline_distance(xy, self.levator())
        fibres = 1.0 + 0.45 * np.sin(2 * np.pi * dist / 1.3)
        paint(_soft(dist - 3.5 + 1.5 * along), 1.9 * fibres)

        dist, along = _polyline_distance(xy, self.rectum())
        paint(_soft(dist - 7.0, 1.0), 1.2)  # rectal wall
        paint(_soft(dist - 3.0, 1.0), 0.45)
        if self.rectal_gas:
            gas = _soft(dist - 1.2, 0.4) * smoothstep(along, 0.25, 0.35)
            paint(gas, 5.0)
            att += 1.5 * gas
        dist, _ = _polyline_distance(xy, self.anal_canal())
        paint(_soft(dist - 9.0, 0.8), 1.6)  # external sphincter
        paint(_soft(dist - 5.0, 0.8), 0.3)  # internal sphincter
        paint(_soft(dist - 1.2, 0.4), 1.8)  # mucosa

        dist, _ = _polyline_distance(xy, self.vagina())
        paint(_soft(dist - 6.5, 0.8), 1.4)  # vaginal wall
        paint(_soft(dist - 4.5, 1.0), 0.4)
        paint(_soft(dist - 0.8, 0.4), 1.5)  # collapsed lumen

        dist, along = _polyline_distance(xy, self.urethra())
        paint(_soft(dist - (4.5 - 1.0 * along), 0.8), 0.3)  # hypoechoic sleeve (smooth muscle, rhabdosphincter)
        paint(_soft(dist - 0.6, 0.3), 1.5)  # echogenic centre line (mucosa)

        bladder = self.bladder_distance(xy)
        paint(_soft(np.abs(bladder - 0.9) - 0.9, 0.3), 2.4)  # detrusor wall
        lumen = _soft(bladder, 0.3)
        paint(lumen, 0.012)
        att += -0.12 * lumen

        bone, t = self.bone_distance(xy)
        paint(_soft(bone, 0.5), 0.45)  # fibrocartilage and cancellous bone
        att += 0.9 * _soft(bone + 2.5, 0.5)
        t_rel = np.mod(math.pi + MARGIN_T_OFFSET - t, 2 * math.pi)  # 0 at the margin, growing round the caudal end
        cap_span = MARGIN_T_OFFSET + math.radians(self.bone_cap_deg)
        taper = smoothstep(t_rel, -0.02, 0.02) * (1.0 - smoothstep(t_rel, cap_span - 0.6, cap_span))
        paint(_soft(np.abs(bone + 1.2) - 1.2, 0.3) * taper, 20.0)  # cortex facing the probe
        return amp.astype(np.float32), att.astype(np.float32)

    def _texture(self, xy: np.ndarray) -> np.ndarray:
        """Heterogeneous background: log-normal smooth fields at 3 and 10 mm, a few fascia streaks."""
        rng = np.random.default_rng(self.texture_seed)
        origin, step, shape = np.array([-110.0, -10.0]), 1.0, (150, 230)
        fine = ndimage.gaussian_filter(rng.standard_normal(shape), 2.0)
        coarse = ndimage.gaussian_filter(rng.standard_normal(shape), 7.0)
        streaks = ndimage.gaussian_filter(rng.standard_normal(shape), (0.6, 5.0))
        field = (
            0.9 * fine / fine.std() * self.texture_contrast
            + 0.45 * coarse / coarse.std()
            + 0.5 * np.maximum(streaks / streaks.std() - 1.8, 0.0)
        )
        coords = ((xy - origin) / step)[:, ::-1].T
        sampled = ndimage.map_coordinates(field, coords, order=1, mode="nearest")
        return np.exp(0.8 * sampled)


def sample_anatomy(rng: np.random.Generator, probe_radius_mm: float = 45.0) -> Anatomy:
    """A plausible subject: positions, sizes and texture varied within clinical ranges."""
    margin = np.array([-14.0, 30.0]) + rng.uniform(-3.0, 3.0, 2)
    neck_angle = math.radians(rng.uniform(52.0, 68.0))
    neck_distance = rng.uniform(19.0, 26.0)
    neck = margin + neck_distance * np.array([math.cos(neck_angle), math.sin(neck_angle)])
    fill = rng.uniform(0.7, 1.2)
    return Anatomy(
        symphysis_margin=(float(margin[0]), float(margin[1])),
        bone_angle_deg=float(rng.uniform(10.0, 22.0)),
        bone_axes=(float(rng.uniform(18.0, 24.0)), float(rng.uniform(6.0, 8.0))),
        bone_cap_deg=float(rng.uniform(50.0, 75.0)),
        bladder_neck=(float(neck[0]), float(neck[1])),
        bladder_axes=(float(27.0 * fill), float(16.0 * fill)),
        bladder_tilt_deg=float(rng.uniform(-10.0, 8.0)),
        urethra_arch_mm=float(rng.uniform(1.0, 5.0)),
        vagina_offset_mm=float(rng.uniform(12.0, 16.0)),
        anorectum_offset_mm=float(rng.uniform(29.0, 35.0)),
        anorectal_junction_depth_mm=float(rng.uniform(30.0, 40.0)),
        rectal_gas=bool(rng.uniform() < 0.5),
        texture_seed=int(rng.integers(2**31)),
        texture_contrast=float(rng.uniform(0.8, 1.2)),
        probe_radius_mm=float(probe_radius_mm),
    )

"""Image formation for the phantom: fan geometry, speckle from point scatterers, scan conversion.

Physical coordinates are millimetres in the *probe frame*: origin at the centre of the probe face,
x to the image right, y along the central beam into the body (image down). The curvilinear probe's
virtual apex sits ``radius_mm`` above the face, at (0, -radius_mm).

The chain works in the polar beam domain (range sample x beam), one frame at a time:
scatterers (fixed complex reflectivities, moving positions) are splatted as baseband phasors
``a * exp(-2j k r)`` into an IQ grid, which equals the quadrature-demodulated RF of a Gabor pulse
(Gaussian envelope x carrier of ``frequency_mhz``); the grid is convolved with the separable PSF
(axial Gaussian envelope x lateral Gaussian of constant angular width, so it widens with depth
in mm); electronic noise is added; the envelope ``|IQ|`` is TGC-scaled, log-compressed to the
dynamic range, grey-mapped and scan-converted into the fan with precomputed ``cv2.remap`` maps.
Excess attenuation (bone shadow, fluid enhancement) is integrated along each beam per frame.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

SOUND_SPEED_MM_PER_US = 1.54


@dataclass(frozen=True)
class FanGeometry:
    """Sector of a curvilinear probe drawn into a ``size`` x ``size`` image (probe at the top, centred)."""

    size: int = 256
    depth_mm: float = 90.0
    sector_deg: float = 70.0
    radius_mm: float = 45.0

    @property
    def half_angle(self) -> float:
        return math.radians(self.sector_deg) / 2.0

    def _extent_mm(self) -> tuple[float, float, float]:
        """(half width, top y, bottom y) of the fan in probe-frame mm."""
        outer = self.radius_mm + self.depth_mm
        half_width = outer * math.sin(self.half_angle)
        top = self.radius_mm * math.cos(self.half_angle) - self.radius_mm
        return half_width, top, self.depth_mm

    @property
    def pixel_spacing_mm(self) -> float:
        """Isotropic pixel size: the fan fits the image with a 2 % margin."""
        half_width, top, bottom = self._extent_mm()
        usable = self.size * 0.96
        return max(2.0 * half_width, bottom - top) / usable

    def mm_to_px(self, xy_mm: np.ndarray) -> np.ndarray:
        """(..., 2) probe-frame mm -> (..., 2) pixel (x, y), (0, 0) the centre of the top-left pixel."""
        _, top, bottom = self._extent_mm()
        centre = np.array([0.0, (top + bottom) / 2.0])
        return (np.asarray(xy_mm, dtype=np.float64) - centre) / self.pixel_spacing_mm + (self.size - 1) / 2.0

    def px_to_mm(self, xy_px: np.ndarray) -> np.ndarray:
        """Inverse of :meth:`mm_to_px`."""
        _, top, bottom = self._extent_mm()
        centre = np.array([0.0, (top + bottom) / 2.0])
        return (np.asarray(xy_px, dtype=np.float64) - (self.size - 1) / 2.0) * self.pixel_spacing_mm + centre


@dataclass(frozen=True)
class ImagingSettings:
    """Transducer and display settings (defaults: a 5 MHz curved array, 55 dB)."""

    frequency_mhz: float = 5.0
    axial_psf_mm: float = 0.38        # sigma of the Gabor pulse's Gaussian envelope
    lateral_psf_rad: float = 0.0065   # sigma of the beam profile (0.8 mm at 12.5 cm)
    dynamic_range_db: float = 55.0
    gain_db: float = 37.0             # unit-echogenicity tissue sits this far below white
    gamma: float = 1.0                # grey map applied after log compression
    tgc_slope_db_per_cm: float = -2.2  # residual depth gain left after TGC (darker deep)
    noise_db: float = -25.0           # displayed noise and clutter at the probe face, re unit tissue
    noise_growth_db_per_cm: float = 1.0  # displayed noise rises with depth as TGC amplifies it
    compounding_sigma: float = 0.8    # incoherent smoothing (polar samples) standing in for compounding


class BeamImager:
    """Forms fan images of moving scatterers; everything that does not change per frame is precomputed.

    Polar grid: ``n_range`` samples from the probe face to ``depth_mm`` x ``n_beams`` beams over the
    sector. ``envelope`` gives the detected amplitude (n_range, n_beams) before log compression,
    ``compress`` the grey polar image and ``scan_convert`` the (size, size) uint8 fan image.
    """

    def __init__(self, geometry: FanGeometry, settings: ImagingSettings = ImagingSettings()) -> None:
        self.geometry = geometry
        self.settings = settings
        spacing = geometry.pixel_spacing_mm
        self.range_step_mm = spacing / 1.5
        self.n_range = int(math.ceil(geometry.depth_mm / self.range_step_mm)) + 1
        outer_arc = 2.0 * geometry.half_angle * (geometry.radius_mm + geometry.depth_mm)
        self.n_beams = int(math.ceil(outer_arc / spacing * 0.8)) + 1
        self.beam_step_rad = 2.0 * geometry.half_angle / (self.n_beams - 1)
        self.wavenumber_2way = 4.0 * math.pi * settings.frequency_mhz / SOUND_SPEED_MM_PER_US  # rad/mm
        self.sigma_range = max(settings.axial_psf_mm / self.range_step_mm, 0.8)
        self.sigma_beam = max(settings.lateral_psf_rad / self.beam_step_rad, 0.8)
        self.coarse = 2  # polar cells per attenuation cell along each axis
        self.range_mm = np.arange(self.n_range) * self.range_step_mm  # depth below the probe face
        depth_cm = self.range_mm / 10.0
        self.tgc = (10.0 ** (settings.tgc_slope_db_per_cm * depth_cm / 20.0)).astype(np.float32)
        self.reference = 1.0
        self.reference = float(np.sqrt(np.mean(self._unit_tissue_envelope() ** 2)))
        noise_db = settings.noise_db + settings.noise_growth_db_per_cm * depth_cm  # as displayed, after TGC
        self.noise_std = (self.reference * 10.0 ** (noise_db / 20.0) / self.tgc / math.sqrt(2.0)).astype(np.float32)
        self._lut = self._grey_lut()
        self._map_x, self._map_y = self._scan_maps()

    # --- geometry -------------------------------------------------------------------------------
    def polar_index(self, xy_mm: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(N, 2) probe-frame mm -> range index (N,), beam index (N,) (fractional) and range r (N,) mm."""
        dx = xy_mm[:, 0]
        dy = xy_mm[:, 1] + np.float32(self.geometry.radius_mm)
        radius = np.hypot(dx, dy)
        theta = np.arctan2(dx, dy)
        range_index = (radius - np.float32(self.geometry.radius_mm)) * np.float32(1.0 / self.range_step_mm)
        beam_index = (theta + np.float32(self.geometry.half_angle)) * np.float32(1.0 / self.beam_step_rad)
        return range_index, beam_index, radius

    def sample_positions(self, rng: np.random.Generator, per_cell: float, margin_mm: float, margin_deg: float) -> np.ndarray:
        """Scatterer positions (N, 2) mm, uniform in (range, angle) over the sector plus margins.

        Uniform in the polar grid keeps the number of scatterers per resolution cell constant
        (``per_cell`` per polar grid cell, times the margins).
        """
        geo = self.geometry
        half = geo.half_angle + math.radians(margin_deg)
        r_lo, r_hi = geo.radius_mm, geo.radius_mm + geo.depth_mm + margin_mm
        cells = ((r_hi - r_lo) / self.range_step_mm) * (2.0 * half / self.beam_step_rad)
        count = int(per_cell * cells)
        radius = rng.uniform(r_lo, r_hi, count)
        theta = rng.uniform(-half, half, count)
        return np.stack([radius * np.sin(theta), radius * np.cos(theta) - geo.radius_mm], axis=1).astype(np.float32)

    # --- per frame --------------------------------------------------------------------------------
    def envelope(
        self,
        xy_mm: np.ndarray,
        amplitude: np.ndarray,
        excess_attenuation_db_per_mm: np.ndarray | None = None,
        noise_rng: np.random.Generator | None = None,
    ) -> np.ndarray:
        """Detected envelope (n_range, n_beams) float32 of scatterers at ``xy_mm`` (N, 2).

        ``amplitude`` (N,) real reflectivities; ``excess_attenuation_db_per_mm`` (N,) two-way
        attenuation beyond the TGC-compensated tissue value (bone > 0, fluid < 0); ``noise_rng``
        adds electronic noise. No TGC and no log compression (Rayleigh statistics hold here).
        """
        range_index, beam_index, radius = self.polar_index(xy_mm)
        inside = (range_index >= 0) & (range_index < self.n_range - 1) & (beam_index >= 0) & (beam_index < self.n_beams - 1)
        range_index, beam_index = range_index[inside], beam_index[inside]
        r0, b0 = range_index.astype(np.int32), beam_index.astype(np.int32)  # floor: both are >= 0
        fr, fb = range_index - r0, beam_index - b0
        weight = amplitude[inside]
        if excess_attenuation_db_per_mm is not None:
            weight = weight * self._transmission(r0, b0, excess_attenuation_db_per_mm[inside])
        phase = radius[inside] * np.float32(self.wavenumber_2way)
        # bilinear splat of the phasors: real parts into the first n_cells bins, imaginary into the next
        n_cells = self.n_range * self.n_beams
        base = r0.astype(np.int64) * self.n_beams + b0
        offsets = np.array([0, 1, self.n_beams, self.n_beams + 1], np.int64)
        index = np.empty((2, 4, len(base)), np.int64)
        np.add(base, offsets[:, None], out=index[0])
        np.add(index[0], n_cells, out=index[1])
        corner = np.empty((4, len(base)), np.float32)
        np.multiply(1 - fr, 1 - fb, out=corner[0])
        np.multiply(1 - fr, fb, out=corner[1])
        np.multiply(fr, 1 - fb, out=corner[2])
        np.multiply(fr, fb, out=corner[3])
        values = np.empty((2, 4, len(base)), np.float64)
        np.multiply(corner, weight * np.cos(phase), out=values[0])
        np.multiply(corner, -weight * np.sin(phase), out=values[1])
        sums = np.bincount(index.ravel(), values.ravel(), 2 * n_cells)
        iq = np.ascontiguousarray(sums.reshape(2, self.n_range, self.n_beams).transpose(1, 2, 0), dtype=np.float32)
        iq = cv2.GaussianBlur(iq, (0, 0), sigmaX=self.sigma_beam, sigmaY=self.sigma_range, borderType=cv2.BORDER_CONSTANT)
        if noise_rng is not None:
            iq += noise_rng.standard_normal(iq.shape, dtype=np.float32) * self.noise_std[:, None, None]
        return cv2.magnitude(iq[..., 0], iq[..., 1])

    def _transmission(self, r0: np.ndarray, b0: np.ndarray, excess_db_per_mm: np.ndarray) -> np.ndarray:
        """Amplitude factor (N,) for each scatterer from the excess attenuation of the cells in front of it."""
        rows = -(-self.n_range // self.coarse)
        cols = -(-self.n_beams // self.coarse)
        cell = (r0 // self.coarse) * cols + b0 // self.coarse
        total = np.bincount(cell, excess_db_per_mm, rows * cols)
        count = np.bincount(cell, None, rows * cols)
        mean = (total / np.maximum(count, 1)).reshape(rows, cols)
        in_front = np.cumsum(mean, axis=0) - mean  # dB/mm summed over the cells before this one
        loss_db = np.clip(in_front * (self.coarse * self.range_step_mm), -8.0, 16.0)
        return (10.0 ** (-loss_db / 20.0)).astype(np.float32).ravel()[cell]

    def compress(self, envelope: np.ndarray) -> np.ndarray:
        """Envelope (n_range, n_beams) -> grey (n_range, n_beams) uint8.

        Incoherent smoothing of the intensity (a stand-in for the spatial/frequency compounding of
        real scanners), TGC, log compression to the dynamic range, grey map.
        """
        intensity = envelope * envelope
        if self.settings.compounding_sigma > 0:
            sigma = self.settings.compounding_sigma
            intensity = cv2.GaussianBlur(intensity, (0, 0), sigmaX=sigma, sigmaY=sigma)
        level = intensity * (self.tgc[:, None] ** 2 / np.float32(self.reference**2))
        db = 10.0 * np.log10(np.maximum(level, 1e-12))
        top = self.settings.gain_db
        index = (db - (top - self.settings.dynamic_range_db)) * np.float32(1023.0 / self.settings.dynamic_range_db)
        return self._lut[np.clip(index, 0, 1023).astype(np.int32)]

    def scan_convert(self, polar: np.ndarray) -> np.ndarray:
        """Polar grey (n_range, n_beams) uint8 -> (size, size) uint8 fan; black outside the sector."""
        return cv2.remap(polar, self._map_x, self._map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)

    # --- precomputation -------------------------------------------------------------------------
    def _unit_tissue_envelope(self) -> np.ndarray:
        """Envelope of homogeneous unit-variance scatterers (fixed seed): the tissue reference level."""
        rng = np.random.default_rng(12345)
        xy = self.sample_positions(rng, per_cell=1.0, margin_mm=0.0, margin_deg=0.0)
        amplitude = rng.standard_normal(len(xy)).astype(np.float32)
        env = self.envelope(xy, amplitude)
        return env[self.n_range // 4: 3 * self.n_range // 4, self.n_beams // 4: 3 * self.n_beams // 4]

    def _grey_lut(self) -> np.ndarray:
        """1024-entry map from normalised log level to grey."""
        return np.round(255.0 * np.linspace(0.0, 1.0, 1024) ** self.settings.gamma).astype(np.uint8)

    def _scan_maps(self) -> tuple[np.ndarray, np.ndarray]:
        """For every output pixel, its (beam, range) position in the polar grid; -1 outside the fan."""
        geo = self.geometry
        ys, xs = np.mgrid[0: geo.size, 0: geo.size].astype(np.float64)
        xy = geo.px_to_mm(np.stack([xs, ys], axis=-1).reshape(-1, 2)).astype(np.float32)
        range_index, beam_index, _ = self.polar_index(xy)
        outside = (range_index < -0.5) | (range_index > self.n_range - 0.5) | (beam_index < -0.5) | (beam_index > self.n_beams - 0.5)
        range_index[outside] = -2
        beam_index[outside] = -2
        shape = (geo.size, geo.size)
        return beam_index.reshape(shape).astype(np.float32), range_index.reshape(shape).astype(np.float32)

"""The pelvic-floor ultrasound phantom: synthetic transperineal cine clips with ground-truth landmarks.

``simulate_clip(PhantomParams(...))`` draws one subject (``phantom_anatomy``), a fixed cloud of
point scatterers whose reflectivities come from that anatomy, moves them with the clip's tissue
motion (``phantom_motion``) and images them (``phantom_imaging``). Speckle therefore moves with
the tissue and decorrelates only where tissue deforms. ``generate_dataset`` writes many clips with
annotation sidecars and a train/test split; ``write_samples`` writes the app's bundled samples.
See docs/PHANTOM.md.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import cv2
import numpy as np

from usanimator_app.core.annotations import DEFAULT_LANDMARKS, Annotations, save_annotations, save_split, sidecar_path
from usanimator_app.core.atomic import write_bytes_atomic
from usanimator_app.core.export import write_dicom_cine, write_mp4, write_png_sequence
from usanimator_app.core.phantom_anatomy import Anatomy, sample_anatomy
from usanimator_app.core.phantom_imaging import BeamImager, FanGeometry, ImagingSettings
from usanimator_app.core.phantom_motion import MANOEUVRES, TissueMotion, grid_cell_centres

LANDMARKS = DEFAULT_LANDMARKS  # ("symphysis_lower_edge", "bladder_neck")
FORMATS = ("mp4", "png", "dcm")


@dataclass(frozen=True)
class PhantomParams:
    """Everything that defines a clip; the same params give byte-identical frames."""

    size: int = 256
    depth_mm: float = 90.0
    sector_deg: float = 70.0
    probe_radius_mm: float = 45.0
    frames: int = 48
    fps: float = 20.0
    manoeuvre: str = "valsalva"        # 'valsalva' | 'contraction' | 'rest'
    peak_descent_mm: float = 20.0      # Valsalva: peak descent (<= 40); contraction: peak lift (<= 15)
    dynamic_range_db: float = 55.0
    frequency_mhz: float = 5.0
    scatterers_per_cell: float = 1.2   # per polar grid cell; >= 1 gives fully developed speckle
    seed: int = 0

    def validate(self) -> None:
        if self.manoeuvre not in MANOEUVRES:
            raise ValueError(f"manoeuvre must be one of {MANOEUVRES}, got {self.manoeuvre!r}")
        if self.size < 32 or self.frames < 1 or self.fps <= 0:
            raise ValueError(f"need size >= 32, frames >= 1, fps > 0 (got {self.size}, {self.frames}, {self.fps})")
        if not (30.0 <= self.depth_mm <= 200.0 and 20.0 <= self.sector_deg <= 120.0):
            raise ValueError(f"depth {self.depth_mm} mm / sector {self.sector_deg} deg out of range")
        limit = 15.0 if self.manoeuvre == "contraction" else 40.0
        if not 0.0 <= self.peak_descent_mm <= limit:
            raise ValueError(f"peak_descent_mm must be within 0..{limit:g} for {self.manoeuvre}, got {self.peak_descent_mm}")


@dataclass
class PhantomClip:
    """One simulated clip.

    ``frames`` (F, S, S) uint8; ``landmarks`` name -> (F, 2) float pixel (x, y); ``descent_mm`` (F,)
    bladder-neck descent relative to frame 0 (positive caudal, negative for a lift).
    """

    frames: np.ndarray
    landmarks: dict[str, np.ndarray]
    pixel_spacing_mm: float
    descent_mm: np.ndarray
    params: PhantomParams
    anatomy: Anatomy


class PhantomSimulator:
    """Set-up of one clip (anatomy, scatterers, motion, imager) and its frames one at a time."""

    def __init__(self, params: PhantomParams) -> None:
        params.validate()
        self.params = params
        self.geometry = FanGeometry(params.size, params.depth_mm, params.sector_deg, params.probe_radius_mm)
        settings = ImagingSettings(frequency_mhz=params.frequency_mhz, dynamic_range_db=params.dynamic_range_db)
        self.imager = BeamImager(self.geometry, settings)
        streams = [np.random.default_rng([params.seed, k]) for k in range(3)]
        self.anatomy = sample_anatomy(streams[0], params.probe_radius_mm)
        self.ref_xy = self.imager.sample_positions(streams[1], params.scatterers_per_cell, margin_mm=5.0, margin_deg=5.0)
        echo, self.attenuation = self.anatomy.echo_properties(self.ref_xy)
        sign = np.where(streams[1].random(len(self.ref_xy)) < 0.5, -1.0, 1.0).astype(np.float32)
        self.amplitude = echo * sign
        self.motion = TissueMotion(self.anatomy, params.manoeuvre, params.peak_descent_mm, params.frames, params.fps,
                                   pivot_y_mm=-params.probe_radius_mm, rng=streams[2])
        self._coords = self.motion.grid_coordinates(self.ref_xy)

    def positions(self, frame: int) -> np.ndarray:
        """Scatterer positions (N, 2) mm at ``frame``."""
        return self.motion.positions(frame, self.ref_xy, self._coords)

    def envelope(self, frame: int) -> np.ndarray:
        """Detected envelope (n_range, n_beams) float32 of ``frame`` before TGC and log compression.

        Each scatterer's amplitude is scaled by the square root of the local area change, so tissue
        keeps its brightness where the motion compresses or stretches it.
        """
        scale = np.sqrt(np.maximum(self.motion.area_ratio(frame, self._coords), 0.0))
        return self.imager.envelope(self.positions(frame), self.amplitude * scale, self.attenuation, self._noise_rng(frame))

    def frame(self, frame: int) -> np.ndarray:
        """Image (S, S) uint8 of ``frame``."""
        return self.imager.scan_convert(self.imager.compress(self.envelope(frame)))

    def _noise_rng(self, frame: int) -> np.random.Generator:
        return np.random.default_rng([self.params.seed, 1000 + frame])

    def folded_cells(self, frame: int) -> int:
        """Number of motion-grid cells inside the imaging sector where ``frame``'s map folds (see phantom_motion)."""
        centres = grid_cell_centres()
        radius = self.params.probe_radius_mm
        depth = np.hypot(centres[..., 0], centres[..., 1] + radius) - radius
        angle = np.arctan2(centres[..., 0], centres[..., 1] + radius)
        inside = (depth >= 0) & (depth <= self.params.depth_mm) & (np.abs(angle) <= self.geometry.half_angle)
        return int((self.motion.folded_cells(frame) & inside).sum())

    def landmarks_px(self) -> dict[str, np.ndarray]:
        """Ground-truth landmarks name -> (F, 2) pixel coordinates."""
        return {name: self.geometry.mm_to_px(track) for name, track in self.motion.landmark_tracks().items()}


def simulate_clip(params: PhantomParams) -> PhantomClip:
    """Simulate a whole clip (frames in memory: 48 x 256 x 256 is 3 MB)."""
    sim = PhantomSimulator(params)
    frames = np.stack([sim.frame(i) for i in range(params.frames)])
    return PhantomClip(
        frames=frames,
        landmarks=sim.landmarks_px(),
        pixel_spacing_mm=sim.geometry.pixel_spacing_mm,
        descent_mm=sim.motion.descent_mm(),
        params=params,
        anatomy=sim.anatomy,
    )


def clip_annotations(clip: PhantomClip, clip_name: str) -> Annotations:
    """Ground-truth sidecar for a written clip (every frame, both landmarks, params in metadata)."""
    size = clip.params.size
    spacing = round(clip.pixel_spacing_mm, 6)
    annotations = Annotations(
        clip=clip_name,
        landmarks=list(LANDMARKS),
        image_size=(size, size),
        pixel_spacing_mm=(spacing, spacing),
        metadata={
            "generator": "usanimator phantom",
            "params": asdict(clip.params),
            "descent_mm": [round(float(d), 3) for d in clip.descent_mm],
            "descent_definition": "bladder-neck depth change relative to the symphysis margin vs frame 0, positive caudal",
            "image_size": [size, size],
            "pixel_spacing_mm": spacing,
        },
    )
    for name in LANDMARKS:
        for frame, (x, y) in enumerate(clip.landmarks[name]):
            annotations.set_point(frame, name, float(x), float(y), origin="ground_truth")
    return annotations


def write_clip(clip: PhantomClip, path: str | Path, fmt: str) -> Path:
    """Write the clip as ``fmt`` ('mp4', 'png' folder or 'dcm') plus its sidecar; returns the clip path."""
    path = Path(path)
    if fmt == "mp4":
        write_mp4(clip.frames, path, clip.params.fps)
    elif fmt == "png":
        write_png_sequence(clip.frames, path)
    elif fmt == "dcm":
        write_dicom_cine(clip.frames, path, fps=clip.params.fps, pixel_spacing_mm=clip.pixel_spacing_mm)
    else:
        raise ValueError(f"format must be one of {FORMATS}, got {fmt!r}")
    save_annotations(clip_annotations(clip, path.name), sidecar_path(path))
    return path


def dataset_params(clips: int, frames: int, size: int, seed: int, descent_mm: tuple[float, float]) -> list[PhantomParams]:
    """Per-clip params of a dataset: 70 % Valsalva, 22 % contraction, 8 % rest, in a seeded order.

    Contraction lifts are drawn from 3 mm to 40 % of the upper descent bound (4 to 15 mm).
    """
    lo, hi = descent_mm
    rng = np.random.default_rng([seed, 7])
    counts = {"valsalva": round(clips * 0.70), "contraction": round(clips * 0.22)}
    kinds = ["valsalva"] * counts["valsalva"] + ["contraction"] * counts["contraction"]
    kinds += ["rest"] * (clips - len(kinds))
    kinds = [kinds[i] for i in rng.permutation(clips)]
    params = []
    for index, kind in enumerate(kinds):
        if kind == "valsalva":
            peak = rng.uniform(lo, hi)
        elif kind == "contraction":
            peak = rng.uniform(3.0, min(15.0, max(4.0, 0.4 * hi)))
        else:
            peak = 0.0
        params.append(PhantomParams(size=size, frames=frames, manoeuvre=kind, peak_descent_mm=round(float(peak), 2),
                                    seed=int(seed) * 100003 + index))
    return params


def generate_dataset(
    out_dir: str | Path,
    clips: int,
    frames: int,
    size: int,
    seed: int,
    descent_mm: tuple[float, float] = (5.0, 35.0),
    fmt: str = "mp4",
    test_fraction: float = 0.2,
    progress: Callable[[int, int], None] | None = None,
) -> list[Path]:
    """Write ``clips`` clips ``clip_0001.<fmt>`` ... with sidecars and ``split.json`` into ``out_dir``.

    ``progress(done, total)`` is called after each clip. Returns the clip paths.
    """
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {FORMATS}, got {fmt!r}")
    if not 0.0 <= test_fraction < 1.0:
        raise ValueError(f"test_fraction must be in [0, 1), got {test_fraction}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    suffix = {"mp4": ".mp4", "png": "", "dcm": ".dcm"}[fmt]
    paths = []
    for index, params in enumerate(dataset_params(clips, frames, size, seed, descent_mm)):
        path = write_clip(simulate_clip(params), out_dir / f"clip_{index + 1:04d}{suffix}", fmt)
        paths.append(path)
        if progress is not None:
            progress(index + 1, clips)
    names = [p.name for p in paths]
    order = np.random.default_rng([seed, 11]).permutation(clips)
    n_test = int(round(clips * test_fraction))
    test = {names[i] for i in order[:n_test]}
    save_split(out_dir, [n for n in names if n not in test], sorted(test))
    return paths


SAMPLE_SOURCE = PhantomParams(manoeuvre="rest", peak_descent_mm=0.0, frames=1, seed=20240607)
SAMPLE_DRIVING = PhantomParams(manoeuvre="valsalva", peak_descent_mm=24.0, frames=48, fps=20.0, seed=31337)


def write_samples(folder: str | Path) -> list[Path]:
    """Write the bundled samples: ``sample_source.png`` + ``.dcm`` (a rest frame) and
    ``sample_driving.mp4`` (a Valsalva clip of another subject), each with its sidecar."""
    folder = Path(folder)
    source = simulate_clip(SAMPLE_SOURCE)
    png = folder / "sample_source.png"
    ok, data = cv2.imencode(".png", source.frames[0])
    if not ok:
        raise OSError(f"{png}: PNG encoding failed")
    write_bytes_atomic(png, data.tobytes())
    save_annotations(clip_annotations(source, png.name), sidecar_path(png))
    dcm = write_clip(source, folder / "sample_source.dcm", "dcm")
    driving = write_clip(simulate_clip(SAMPLE_DRIVING), folder / "sample_driving.mp4", "mp4")
    return [png, dcm, driving]


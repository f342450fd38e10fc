"""The pelvic-floor ultrasound phantom: synthetic transperineal cine clips with ground-truth landmarks.

``simulate_clip(PhantomParams(...))`` draws one subject (``phantom_anatomy``), a fixed cloud of
point scatterers whose reflectivities come from that anatomy, moves them with the clip's tissue
motion (``phantom_motion``) and images them (``phantom_imaging``). Speckle therefore moves with
the tissue and decorrelates only where tissue deforms. The subject comes from ``seed``, the
manoeuvre's random stream from ``motion_seed`` (default: ``seed``), so ``simulate_transfer_pair``
can render subject A moving with clip B's motion: the ground truth of animating A by B.
``generate_dataset`` writes many clips with annotation sidecars and a train/test split,
``write_transfer_pairs`` such pairs, ``write_samples`` the app's bundled samples. See docs/PHANTOM.md.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, replace
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
    seed: int = 0                      # the subject: anatomy, scatterers, noise
    motion_seed: int | None = None     # the manoeuvre's random stream (timing, direction, breathing, jitter); None: seed

    @property
    def motion_stream_seed(self) -> int:
        """The seed of the motion's random stream: ``motion_seed``, or ``seed`` when that is None."""
        return self.seed if self.motion_seed is None else self.motion_seed

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
        streams = [np.random.default_rng([params.seed, 0]), np.random.default_rng([params.seed, 1]),
                   np.random.default_rng([params.motion_stream_seed, 2])]
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


def transfer_params(anatomy: PhantomParams, motion: PhantomParams) -> PhantomParams:
    """Params of ``anatomy``'s subject (and imaging) moving with ``motion``'s manoeuvre, peak and timing.

    Manoeuvre, peak descent, frames, fps and the motion's random stream come from ``motion``;
    everything else (seed: anatomy, scatterers, noise; size and imaging settings) from ``anatomy``.
    """
    return replace(anatomy, manoeuvre=motion.manoeuvre, peak_descent_mm=motion.peak_descent_mm,
                   frames=motion.frames, fps=motion.fps, motion_seed=motion.motion_stream_seed)


def simulate_transfer_pair(anatomy_params: PhantomParams, motion_params: PhantomParams) -> tuple[PhantomClip, PhantomClip]:
    """(driving, truth): the clip of ``motion_params`` as simulated normally, and the ground truth of
    animating subject A (``anatomy_params``) by it: A's anatomy moving with B's manoeuvre, peak and timing.

    ``truth.frames[0]`` equals A's own first frame (the source still: A at rest), and truth's
    bladder-neck descent follows the driving clip's (the same peak; breathing and jitter shift
    it by a few tenths of a mm).
    """
    return simulate_clip(motion_params), simulate_clip(transfer_params(anatomy_params, motion_params))


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


def write_still(clip: PhantomClip, path: str | Path) -> Path:
    """Write ``clip``'s first frame as a PNG with a one-frame sidecar; returns the path."""
    path = Path(path)
    ok, data = cv2.imencode(".png", clip.frames[0])
    if not ok:
        raise OSError(f"{path}: PNG encoding failed")
    write_bytes_atomic(path, data.tobytes())
    still = replace(clip, frames=clip.frames[:1], landmarks={name: track[:1] for name, track in clip.landmarks.items()},
                    descent_mm=clip.descent_mm[:1], params=replace(clip.params, frames=1))
    save_annotations(clip_annotations(still, path.name), sidecar_path(path))
    return path


def write_samples(folder: str | Path) -> list[Path]:
    """Write the bundled samples: ``sample_source.png`` + ``.dcm`` (a rest frame) and
    ``sample_driving.mp4`` (a Valsalva clip of another subject), each with its sidecar."""
    folder = Path(folder)
    source = simulate_clip(SAMPLE_SOURCE)
    png = write_still(source, folder / "sample_source.png")
    dcm = write_clip(source, folder / "sample_source.dcm", "dcm")
    driving = write_clip(simulate_clip(SAMPLE_DRIVING), folder / "sample_driving.mp4", "mp4")
    return [png, dcm, driving]


TRANSFER_SEED_BASE = 900_000  # the bundled model was trained on phantom seeds 100003..100132
MAX_TRANSFER_PAIRS = 500


def transfer_pair_params(pairs: int, frames: int, size: int, seed: int,
                         descent_mm: tuple[float, float] = (5.0, 35.0)) -> list[tuple[PhantomParams, PhantomParams]]:
    """(anatomy A, motion B) params of ``pairs`` transfer pairs, Valsalva with peaks drawn from ``descent_mm``.

    Pair k (from 0) uses subject seed ``TRANSFER_SEED_BASE + 1000 * seed + 2k`` for A and the next
    seed for B, so no pair shares a subject with the training data or with another pair.
    """
    if not 1 <= pairs <= MAX_TRANSFER_PAIRS:
        raise ValueError(f"pairs must be within 1..{MAX_TRANSFER_PAIRS}, got {pairs}")
    rng = np.random.default_rng([seed, 13])
    out = []
    for k in range(pairs):
        base = TRANSFER_SEED_BASE + 1000 * seed + 2 * k
        peak = round(float(rng.uniform(*descent_mm)), 2)
        anatomy = PhantomParams(size=size, frames=frames, seed=base)
        motion = PhantomParams(size=size, frames=frames, manoeuvre="valsalva", peak_descent_mm=peak, seed=base + 1)
        out.append((anatomy, motion))
    return out


def write_transfer_pairs(
    out_dir: str | Path,
    pairs: int,
    frames: int,
    size: int,
    seed: int,
    descent_mm: tuple[float, float] = (5.0, 35.0),
    progress: Callable[[int, int], None] | None = None,
) -> list[Path]:
    """Write ``pair_001/`` ... with ``source.png`` (A at rest), ``driving.mp4`` (B) and ``truth.mp4``
    (A moving with B's motion), each with its sidecar, and ``pairs.json`` (the seeds); returns the folders."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    folders, records = [], []
    for index, (anatomy, motion) in enumerate(transfer_pair_params(pairs, frames, size, seed, descent_mm)):
        folder = out_dir / f"pair_{index + 1:03d}"
        folder.mkdir(exist_ok=True)
        driving, truth = simulate_transfer_pair(anatomy, motion)
        write_still(truth, folder / "source.png")
        write_clip(driving, folder / "driving.mp4", "mp4")
        write_clip(truth, folder / "truth.mp4", "mp4")
        folders.append(folder)
        records.append({"name": folder.name, "anatomy_seed": anatomy.seed, "motion_seed": motion.seed,
                        "manoeuvre": motion.manoeuvre, "peak_descent_mm": motion.peak_descent_mm})
        if progress is not None:
            progress(index + 1, pairs)
    summary = {
        "generator": "usanimator phantom --transfer-pairs",
        "seed": seed,
        "frames": frames,
        "size": size,
        "descent_mm": list(descent_mm),
        "definition": "source = truth frame 0 = A at rest; driving = B; truth = A's anatomy moving with B's "
                      "manoeuvre, peak descent and timing (PhantomParams.motion_seed)",
        "pairs": records,
    }
    write_bytes_atomic(out_dir / "pairs.json", (json.dumps(summary, indent=1) + "\n").encode())
    return folders

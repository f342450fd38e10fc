"""The paper's evaluation protocol (§3, Table 1), made so that it cannot flatter a model.

- Every method is scored at one fixed size, ``EVAL_SIZE`` = 256 (the paper's), whatever its model
  resolution: outputs are rendered as a user gets them (the default output at the source's own
  resolution) and mapped into the 256 x 256 evaluation square exactly as the real frames are
  (``FrameGeometry``: content box, resize, pad).
- reconstruction: each test clip drives; its middle frame is the source; outputs are compared with
  the clip, the source frame excluded (L1, PSNR, SSIM, FID, FVD; AKD read by a reference detector;
  on clips with landmark sidecars, a detector-free landmark error: the source frame's ground-truth
  landmarks carried by the predicted motion, against the driving frame's ground truth).
- prediction: the source is the middle frame of *another* test clip; only distribution metrics.
- Clips longer than ``window`` frames are scored on a window centred on the source frame.
- Each model is scored in its default output mode under its name, as ``NAME:model`` (the paper's
  generated frame) and, with two decoders, ``NAME:content``. The identity baseline (every output
  frame = the source frame) is always scored. Per-clip rows show a model that wins on average but
  ruins some clips; FID / FVD come with their sample counts and a bootstrap 95% interval.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import cv2
import numpy as np

from usanimator_app.core.annotations import DEFAULT_LANDMARKS, load_annotations, sidecar_path
from usanimator_app.core.atomic import write_bytes_atomic, write_text_atomic
from usanimator_app.core.errors import UserInputError
from usanimator_app.core.media import open_media
from usanimator_app.core.preprocess import FrameGeometry, fit_geometry
from usanimator_app.engine.animator import Animator, MotionOptions, OutputOptions
from usanimator_app.engine.dataset import SPLIT_FILE_NAME, Holdout, split_clips
from usanimator_app.engine.perceptual import lpips_available
from usanimator_app.engine.pretrained import PretrainedUnavailable
from usanimator_app.core.sector import resize_mask, sector_mask, sector_outline
from usanimator_app.evaluation import metrics as M
from usanimator_app.evaluation import plausibility as P

TASKS = ("reconstruction", "prediction")
EVAL_SIZE = 256
DEFAULT_WINDOW = 96
FVD_CLIP_LENGTH = 16
BOOTSTRAP_REPEATS = 100
FID_DIM, FVD_DIM = 2048, 400


@dataclass
class EvalClip:
    """One test clip at its own resolution, cut to the scored window."""

    name: str
    gray: np.ndarray  # (F, H, W) uint8, the window's frames as stored, in gray
    source_index: int  # the source frame (the clip's middle frame) within the window
    geometry: FrameGeometry  # original pixels <-> the 256 x 256 evaluation square
    frames: np.ndarray  # (F, 256, 256) uint8, the real frames in the evaluation square
    landmarks: np.ndarray  # (F, L, 2) original pixels (ground truth), L = 0 without a sidecar
    annotated: np.ndarray  # (F, L) bool
    spacing_mm: tuple[float, float] | None


@dataclass
class MethodResult:
    """Metric name -> value (float) or a string saying why it is unavailable; per-clip rows."""

    name: str
    reconstruction: dict[str, float | str] = field(default_factory=dict)
    prediction: dict[str, float | str] = field(default_factory=dict)
    per_clip: list[dict] = field(default_factory=list)


def centred_window(length: int, window: int) -> slice:
    """The frames of a clip of ``length`` that are scored: at most ``window``, centred on its middle frame."""
    start = max(0, min(length // 2 - window // 2, length - window))
    return slice(start, min(length, start + window))


def square_frames(gray: np.ndarray) -> np.ndarray:
    """Gray frames (F, H, W) uint8 -> (F, EVAL_SIZE, EVAL_SIZE) in the evaluation square of their first frame."""
    geometry = fit_geometry(gray[0], size=EVAL_SIZE, crop_borders=True)
    return np.stack([geometry.to_model(g) for g in gray])


def load_eval_clip(path: Path, window: int, landmark_names: tuple[str, ...], holdout: Holdout = Holdout()) -> EvalClip:
    """Decode a clip, cut the window centred on its middle frame, map it into the evaluation square.
    ``holdout``: with a ``tail``, only the frames it keeps out of training are scored (a fine-tune's
    validation on a clip's last part)."""
    gray = np.stack(list(open_media(path).iter_gray()))
    first = min(holdout.training_frames(len(gray)) if holdout.tail else 0, len(gray) - 1)
    middle = first + (len(gray) - first) // 2
    scored = centred_window(len(gray) - first, window)
    start, stop = first + scored.start, first + scored.stop
    gray = gray[start:stop]
    geometry = fit_geometry(gray[0], size=EVAL_SIZE, crop_borders=True)
    landmarks = np.zeros((len(gray), len(landmark_names), 2))
    annotated = np.zeros((len(gray), len(landmark_names)), bool)
    spacing = None
    sidecar = sidecar_path(path)
    if sidecar.exists() and landmark_names:
        annotations = load_annotations(sidecar)
        spacing = annotations.pixel_spacing_mm
        for index in annotations.annotated_frames():
            if start <= index < stop:
                points = annotations.training_points(index)
                for slot, name in enumerate(landmark_names):
                    if name in points:
                        landmarks[index - start, slot] = points[name]
                        annotated[index - start, slot] = True
    frames = np.stack([geometry.to_model(g) for g in gray])
    return EvalClip(path.name, gray, middle - start, geometry, frames, landmarks, annotated, spacing)


def test_clips(data_dir: Path) -> tuple[list[Path], str]:
    """The test split when the folder has split.json, else every clip of the folder (said in words)."""
    if (data_dir / SPLIT_FILE_NAME).exists():
        return split_clips(data_dir, "test"), "the test split of split.json"
    return split_clips(data_dir, "all"), "every clip of the folder (it has no split.json)"


@dataclass
class Rendered:
    """One method's outputs for one clip, in the evaluation square, per output mode."""

    outputs: dict[str, list[np.ndarray]]  # mode suffix ('' | ':model' | ':content') -> F frames (256, 256)
    carried: list[np.ndarray]  # per frame (L, 2) original pixels: source landmarks carried by the motion
    plausibility: list[dict[str, float]]  # per frame: evaluation.plausibility's figures of the default output


def render_clip(animator: Animator, source_clip: EvalClip, driving_clip: EvalClip, relative: bool) -> Rendered:
    """Animate ``source_clip``'s source frame with ``driving_clip``; outputs mapped into the source's square."""
    source_gray = source_clip.gray[source_clip.source_index]
    model_geometry = fit_geometry(source_clip.gray[0], size=animator.image_size, crop_borders=True)
    driving_geometry = fit_geometry(driving_clip.gray[0], size=animator.image_size, crop_borders=True)
    driving = [driving_geometry.to_model(g) for g in driving_clip.gray]
    options = MotionOptions(relative=relative, adapt_scale=True, reference="first")
    modes = {"": [], ":model": []}
    if animator.config.model.dual_decoder:
        modes[":content"] = []
    source_points = model_geometry.points_to_model(source_clip.landmarks[source_clip.source_index])
    carried, plausibility = [], []
    square = source_clip.geometry
    source_model = model_geometry.to_model(source_gray)
    motion_sector = sector_mask(source_model)
    source_square = source_clip.frames[source_clip.source_index]
    square_outline = sector_outline(source_square)
    for result in animator.animate(source_model, driving, options, native=(source_gray, model_geometry), output=OutputOptions()):
        modes[""].append(square.crop_to_model(result.frame))
        height, width = result.occlusion.shape
        figures = P.motion_plausibility(result.displacement, result.occlusion, resize_mask(motion_sector, height, width),
                                        animator.image_size)
        figures.update(P.image_plausibility(modes[""][-1], source_square, square_outline))
        plausibility.append(figures)
        modes[":model"].append(square.crop_to_model(model_geometry.model_content(result.output)))
        if ":content" in modes:
            modes[":content"].append(square.crop_to_model(model_geometry.model_content(result.content)))
        if len(source_points):
            moved = M.carry_points(result.displacement, source_points, animator.image_size)
            carried.append(model_geometry.points_to_original(moved))
    return Rendered(modes, carried, plausibility)


class FeatureNets:
    """The FID Inception and FVD I3D, loaded once; ``None`` with a reason when unavailable."""

    def __init__(self, device: str = "cpu"):
        from usanimator_app.evaluation.fid_inception import load_fid_inception
        from usanimator_app.evaluation.i3d import load_i3d

        self.device = device
        self.inception, self.inception_reason = self._load(load_fid_inception)
        self.i3d, self.i3d_reason = self._load(load_i3d)

    @staticmethod
    def _load(loader):
        try:
            return loader(), ""
        except PretrainedUnavailable as exc:
            return None, f"unavailable: {exc}"

    def fid_features(self, frames: np.ndarray) -> np.ndarray | None:
        from usanimator_app.evaluation.fid_inception import inception_features

        return None if self.inception is None else inception_features(frames, self.inception, device=self.device)

    def fvd_features(self, videos: list[np.ndarray]) -> np.ndarray | None:
        from usanimator_app.evaluation.i3d import frame_windows, i3d_features

        if self.i3d is None:
            return None
        clips = [w for v in videos for w in frame_windows(np.asarray(v), FVD_CLIP_LENGTH)]
        return i3d_features(np.stack(clips), self.i3d, device=self.device) if clips else np.zeros((0, FVD_DIM))


def _distribution_metrics(nets: FeatureNets, videos: list[np.ndarray], real: dict, stride: int) -> dict[str, float | str]:
    """FID and FVD with sample counts and bootstrap 95% intervals (or the reason they are unavailable)."""
    values: dict[str, float | str] = {}
    fake = {"FID": nets.fid_features(np.concatenate([v[::stride] for v in videos])), "FVD": nets.fvd_features(videos)}
    reasons = {"FID": nets.inception_reason, "FVD": nets.i3d_reason}
    for name, features in fake.items():
        key = name.lower()
        if features is None:
            values[name] = reasons[name]
            continue
        if min(len(features), len(real[key])) < 2:
            values[name] = f"unavailable: {len(features)} samples (at least 2 needed; clips shorter than {FVD_CLIP_LENGTH} frames give none)"
            continue
        values.update(frechet_with_interval(name, features, real[key]))
    return values


def frechet_with_interval(name: str, features: np.ndarray, real: np.ndarray) -> dict[str, float | str]:
    """{name: Fréchet distance, name_CI: its bootstrap 95% interval, name_n: the sample count}."""
    low, high = M.bootstrap_interval(M.frechet_distance_from_features, features, real, BOOTSTRAP_REPEATS)
    return {name: M.frechet_distance_from_features(features, real), f"{name}_CI": f"{low:.1f}-{high:.1f}",
            f"{name}_n": float(len(features))}


def _detect(detector: Animator, frames: list[np.ndarray]) -> np.ndarray:
    """Keypoints (F, K, 2) in evaluation-square pixels read by the reference detector."""
    size = detector.image_size
    points = []
    for frame in frames:
        small = cv2.resize(frame, (size, size), interpolation=cv2.INTER_AREA)
        points.append(detector.to_pixels(detector.keypoints(small).keypoints) * (EVAL_SIZE / size))
    return np.stack(points)


def _reconstruction_scores(clip: EvalClip, outputs: list[np.ndarray], carried: list[np.ndarray] | None) -> dict:
    """Per-clip L1 / PSNR / SSIM (source frame excluded) and the detector-free landmark error."""
    keep = np.arange(len(clip.frames)) != clip.source_index
    out, real = np.stack(outputs)[keep] / 255.0, clip.frames[keep] / 255.0
    row = {
        "clip": clip.name,
        "frames": int(keep.sum()),
        "L1": M.l1_per_frame(out, real),
        "PSNR": M.psnr_per_frame(out, real),
        "SSIM": M.ssim_per_frame(out, real),
    }
    mask = clip.annotated & keep[:, None] & clip.annotated[clip.source_index][None, :]
    if mask.any():
        predicted = np.stack(carried) if carried is not None else np.repeat(clip.landmarks[clip.source_index][None], len(clip.frames), 0)
        row["landmark_px"] = M.landmark_error_px(predicted[mask], clip.landmarks[mask])
        if clip.spacing_mm:
            row["landmark_mm"] = M.landmark_error_mm(predicted[mask], clip.landmarks[mask], clip.spacing_mm)
    return row


def evaluate(
    models: dict[str, str | Path],
    data_dir: str | Path,
    tasks: tuple[str, ...] = TASKS,
    device: str = "auto",
    reference_detector: str | Path | None = None,
    fid_frame_stride: int = 1,
    max_clips: int | None = None,
    window: int = DEFAULT_WINDOW,
    progress: Callable[[str], None] = lambda message: None,
) -> tuple[list[MethodResult], dict]:
    """Score identity + each model (in each output mode) on the test clips; returns the rows and report info."""
    animators = {name: Animator(path, device=device) for name, path in models.items()}
    detector = Animator(reference_detector, device=device) if reference_detector else next(
        (a for a in animators.values() if a.landmark_names), None
    )
    # The landmarks scored from the clips' sidecars: the detector's, else any model's, else the defaults
    # (so a model without anatomical heads, fomm, still gets the detector-free landmark error).
    landmark_names = (detector.landmark_names if detector else ()) or next(
        (a.landmark_names for a in animators.values() if a.landmark_names), DEFAULT_LANDMARKS
    )
    paths, which = test_clips(Path(data_dir))
    paths = paths[:max_clips]
    if not paths:
        raise UserInputError(f"{data_dir}: no test clips")
    clips = [load_eval_clip(p, window, landmark_names) for p in paths]
    progress(f"{len(clips)} test clips ({which}), scored at {EVAL_SIZE}x{EVAL_SIZE}, windows of at most {window} frames")
    nets = FeatureNets("cuda" if any(a.device.type == "cuda" for a in animators.values()) else "cpu")
    real = {
        "fid": nets.fid_features(np.concatenate([c.frames[::fid_frame_stride] for c in clips])),
        "fvd": nets.fvd_features([c.frames for c in clips]),
    }
    lpips_ok, lpips_reason = lpips_available()
    real_kp = {c.name: _detect(detector, list(c.frames)) for c in clips} if detector else {}

    rows: dict[str, MethodResult] = {"identity": MethodResult("identity")}
    samples: dict[str, dict[str, np.ndarray]] = {task: {} for task in tasks}
    sample_index = len(clips[0].frames) * 3 // 4

    def record(task: str, name: str, videos: list[np.ndarray], per_clip: list[dict] | None = None, akd=None) -> None:
        result = rows.setdefault(name, MethodResult(name))
        scores = {}
        if per_clip is not None:
            for key in ("L1", "PSNR", "SSIM", "landmark_px", "landmark_mm"):
                pooled = [r[key] for r in per_clip if key in r]
                if pooled:
                    scores[key] = float(np.mean(np.concatenate(pooled)))
            scores["LPIPS"] = "available" if lpips_ok else lpips_reason
            if akd:
                scores["AKD_px"] = float(np.mean(akd))
            if all(key in r for r in per_clip for key in P.WORST_OF):  # worst over clips of each clip's worst frame
                scores.update(P.worst(per_clip))
            result.per_clip = [{k: (float(np.mean(v)) if isinstance(v, np.ndarray) else v) for k, v in r.items()} for r in per_clip]
        scores.update(_distribution_metrics(nets, videos, real, fid_frame_stride))
        setattr(result, task, scores)
        samples[task][name] = videos[0][min(sample_index, len(videos[0]) - 1)]

    for task in tasks:
        progress(f"identity: {task}")
        sources = clips if task == "reconstruction" else [clips[(i + 1) % len(clips)] for i in range(len(clips))]
        identity_videos = [np.repeat(s.frames[s.source_index][None], len(c.frames), 0) for s, c in zip(sources, clips)]
        samples[task]["driving"] = clips[0].frames[min(sample_index, len(clips[0].frames) - 1)]
        samples[task]["source"] = sources[0].frames[sources[0].source_index]
        if task == "reconstruction":
            per_clip = [_reconstruction_scores(c, list(v), None) for c, v in zip(clips, identity_videos)]
            akd = [M.average_keypoint_distance(_detect(detector, list(v)), real_kp[c.name]) for c, v in zip(clips, identity_videos)] if detector else None
            record(task, "identity", identity_videos, per_clip, akd)
        else:
            record(task, "identity", identity_videos)
        for name, animator in animators.items():
            progress(f"{name}: {task}")
            rendered = [render_clip(animator, s, c, relative=task == "prediction") for s, c in zip(sources, clips)]
            for suffix in rendered[0].outputs:
                videos = [np.stack(r.outputs[suffix]) for r in rendered]
                if task == "reconstruction":
                    per_clip = [
                        _reconstruction_scores(c, list(v), r.carried if r.carried else None)
                        for c, v, r in zip(clips, videos, rendered)
                    ]
                    if suffix == "":  # the motion and the default output's image: worst frame per clip
                        for row, r in zip(per_clip, rendered):
                            row.update(P.worst(r.plausibility))
                    akd = [M.average_keypoint_distance(_detect(detector, list(v)), real_kp[c.name]) for c, v in zip(clips, videos)] if detector else None
                    record(task, name + suffix, videos, per_clip, akd)
                else:
                    record(task, name + suffix, videos)
    info = {
        "clips": len(clips), "which": which, "size": EVAL_SIZE, "window": window, "samples": samples,
        "detector": str(detector.checkpoint_path) if detector else None, "fid_frame_stride": fid_frame_stride,
    }
    return list(rows.values()), info


COLUMNS = {
    "reconstruction": ("L1", "PSNR", "SSIM", "landmark_px", "landmark_mm", "FID", "FID_CI", "FVD", "FVD_CI", "AKD_px", "LPIPS",
                       "folds", "implausible", "sector_iou", "lit_outside", "bright_fill"),
    "prediction": ("FID", "FID_CI", "FVD", "FVD_CI"),
}
PER_CLIP_COLUMNS = ("L1", "PSNR", "SSIM", "landmark_px", "landmark_mm", "folds", "implausible", "sector_iou", "lit_outside", "bright_fill")


def _cell(value) -> str:
    if isinstance(value, float):
        return f"{value:.4f}" if abs(value) < 10 else f"{value:.2f}"
    return "n/a" if value is None else ("n/a" if str(value).startswith("unavailable") else str(value))


def _table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in rows]) + "\n"


def write_report(results: list[MethodResult], info: dict, out_dir: str | Path, tasks: tuple[str, ...]) -> dict[str, Path]:
    """Markdown (means, per-clip table, notes), CSVs (means; one row per method and clip) and a sample figure."""
    out_dir = Path(out_dir)
    header = ["Method"] + [f"{task[:5].title()} {c}" for task in tasks for c in COLUMNS[task]]
    rows = [[r.name] + [_cell(getattr(r, task).get(c)) for task in tasks for c in COLUMNS[task]] for r in results]
    text = (
        f"Test clips: {info['clips']} ({info['which']}), scored at {info['size']}x{info['size']} px, windows of at "
        f"most {info['window']} frames centred on the source frame; FID on every {info['fid_frame_stride']}. frame.\n\n"
        + _table(header, rows)
    )
    per_clip_rows = []
    if "reconstruction" in tasks:
        identity = {row["clip"]: row for row in results[0].per_clip}
        text += "\nReconstruction per clip (L1; in brackets: lower than identity's):\n\n"
        names = [r.name for r in results]
        clip_names = [row["clip"] for row in results[0].per_clip]
        table_rows = []
        for clip in clip_names:
            cells = [clip]
            for result in results:
                row = next(r for r in result.per_clip if r["clip"] == clip)
                better = result.name != "identity" and row["L1"] < identity[clip]["L1"]
                cells.append(f"{row['L1']:.4f}" + (" (<)" if better else ""))
            table_rows.append(cells)
        wins = ["wins vs identity"] + [
            "-" if r.name == "identity" else f"{sum(row['L1'] < identity[row['clip']]['L1'] for row in r.per_clip)}/{len(r.per_clip)}"
            for r in results
        ]
        text += _table(["Clip"] + names, table_rows + [wins])
        per_clip_rows = [[r.name, row["clip"], row["frames"]] + [_cell(row.get(c)) for c in PER_CLIP_COLUMNS] for r in results for row in r.per_clip]
    notes = [
        "folds / implausible / sector_iou / lit_outside / bright_fill (docs/METRICS.md): the worst frame of each clip, "
        "the worst clip in the means table; for the default output only (identity's motion is none).",
        "landmark_px / landmark_mm: the source frame's ground-truth landmarks carried by each method's predicted motion "
        "(identity: not moved), against the driving frame's ground truth; no detector involved.",
        "FID_CI / FVD_CI: percentile-bootstrap 95% intervals (rows of both feature sets resampled with replacement); "
        "duplicated rows raise a Fréchet distance, so an interval can sit above its point estimate: read it as the "
        "spread; overlapping intervals do not separate methods.",
    ]
    for result in results[:1]:
        for task in tasks:
            scores = getattr(result, task)
            for name, dim in (("FID", FID_DIM), ("FVD", FVD_DIM)):
                n = scores.get(f"{name}_n")
                if isinstance(n, float) and n < dim:
                    notes.append(f"{task} {name}: n = {n:.0f} samples per method, fewer than the {dim} feature dimensions: "
                                 "the value is biased upwards and only comparable within this table.")
    if info.get("detector"):
        notes.append(f"AKD is read by the reference detector `{info['detector']}` on outputs resized to its input size.")
    notes += sorted({str(v) for r in results for t in tasks for v in getattr(r, t).values() if isinstance(v, str) and v.startswith("unavailable")})
    text += "\n" + "\n".join(f"- {note}" for note in notes) + "\n"
    paths = {
        "markdown": out_dir / "evaluation.md",
        "csv": out_dir / "evaluation.csv",
        "per_clip": out_dir / "evaluation_per_clip.csv",
        "figure": out_dir / "samples.png",
    }
    write_text_atomic(paths["markdown"], text)
    for path, head, body in ((paths["csv"], header, rows), (paths["per_clip"], ["method", "clip", "frames", *PER_CLIP_COLUMNS], per_clip_rows)):
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(head)
        writer.writerows(body)
        write_text_atomic(path, buffer.getvalue())
    figure_rows = []
    for task in tasks:
        tiles = info["samples"][task]
        labelled = []
        for name in ["driving", "source"] + [r.name for r in results]:
            tile = cv2.cvtColor(tiles[name], cv2.COLOR_GRAY2BGR)
            cv2.putText(tile, f"{task[:5]}: {name}"[:30], (3, 14), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 255, 255), 1, cv2.LINE_AA)
            labelled.append(tile)
        figure_rows.append(np.concatenate(labelled, axis=1))
    ok, encoded = cv2.imencode(".png", np.concatenate(figure_rows, axis=0))
    write_bytes_atomic(paths["figure"], encoded.tobytes())
    return paths

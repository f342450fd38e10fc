"""The paper's evaluation protocol (§3, Table 1) on a dataset's test split.

- reconstruction: each test clip drives; its middle frame is the source; outputs are compared
  with the clip itself, the source frame excluded (it would score PSNR = inf for the identity) (L1, PSNR, SSIM, FID, FVD, LPIPS when available, AKD, landmark error).
- prediction: the source is the middle frame of *another* test clip; there is no ground truth,
  so only distribution metrics (FID, FVD against the real test clips).

The identity baseline (every output frame = the source frame) is always evaluated beside models.
AKD and landmark error need a detector to read keypoints off generated frames: one fixed
"reference detector" (a model with anatomical heads, by default the first such model given) reads
every method's outputs, and its error on the real frames is reported as the floor.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from usanimator_app.core.atomic import write_bytes_atomic, write_text_atomic
from usanimator_app.core.errors import UserInputError
from usanimator_app.evaluation import metrics as M
from usanimator_app.engine.animator import Animator, MotionOptions
from usanimator_app.engine.coords import normalized_to_pixels
from usanimator_app.engine.dataset import Clip, load_clip, split_clips
from usanimator_app.engine.perceptual import lpips_available
from usanimator_app.engine.pretrained import PretrainedUnavailable

TASKS = ("reconstruction", "prediction")
FVD_CLIP_LENGTH = 16


@dataclass
class MethodResult:
    """Metric name -> value (float) or a string saying why it is unavailable."""

    name: str
    reconstruction: dict[str, float | str] = field(default_factory=dict)
    prediction: dict[str, float | str] = field(default_factory=dict)


def middle_frame(frames: np.ndarray) -> np.ndarray:
    """The source frame of both protocols: the clip's middle frame, (F, S, S) -> (S, S)."""
    return frames[len(frames) // 2]


def _keep_sample(samples: dict[str, np.ndarray], name: str, output: np.ndarray, driving: np.ndarray, source: np.ndarray) -> None:
    """Remember one output frame per method (and the driving and source frames once) for the figure."""
    samples[name] = output
    samples.setdefault("driving", driving)
    samples.setdefault("source", source)


def identity_outputs(source: np.ndarray, count: int) -> list[np.ndarray]:
    return [source] * count


def model_outputs(animator: Animator, source: np.ndarray, driving: np.ndarray, relative: bool) -> list[np.ndarray]:
    options = MotionOptions(relative=relative, adapt_scale=True, reference="first")
    return [r.output for r in animator.animate(source, list(driving), options)]


def _detect(detector: Animator, frames: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Keypoints (F, K, 2) and landmarks (F, L, 2) in model pixels read by the reference detector."""
    kps, lms = [], []
    for frame in frames:
        out = detector.keypoints(frame)
        kps.append(detector.to_pixels(out.keypoints))
        lms.append(detector.to_pixels(out.landmarks))
    return np.stack(kps), np.stack(lms)


class FeatureNets:
    """The FID Inception and FVD I3D, loaded once; ``None`` with a reason when unavailable."""

    def __init__(self):
        from usanimator_app.evaluation.fid_inception import load_fid_inception
        from usanimator_app.evaluation.i3d import load_i3d

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

        return None if self.inception is None else inception_features(frames, self.inception)

    def fvd_features(self, videos: list[np.ndarray]) -> np.ndarray | None:
        from usanimator_app.evaluation.i3d import i3d_features, split_clips as windows

        if self.i3d is None:
            return None
        clips = np.concatenate([windows(np.asarray(v), FVD_CLIP_LENGTH) for v in videos])
        return i3d_features(clips, self.i3d)


def _distribution_metrics(nets: FeatureNets, videos: list[np.ndarray], real: dict, stride: int) -> dict[str, float | str]:
    fake_frames = np.concatenate([v[::stride] for v in videos])
    fid_features = nets.fid_features(fake_frames)
    fvd_features = nets.fvd_features(videos)
    return {
        "FID": nets.inception_reason if fid_features is None else M.fid_from_features(fid_features, real["fid"]),
        "FVD": nets.i3d_reason if fvd_features is None else M.fvd_from_features(fvd_features, real["fvd"]),
    }


def evaluate(
    models: dict[str, str | Path],
    data_dir: str | Path,
    tasks: tuple[str, ...] = TASKS,
    device: str = "auto",
    reference_detector: str | Path | None = None,
    fid_frame_stride: int = 1,
    max_clips: int | None = None,
    progress: Callable[[str], None] = lambda message: None,
) -> tuple[list[MethodResult], dict]:
    """Evaluate identity + each model on the test split; returns the rows and sample frames for a figure."""
    animators = {name: Animator(path, device=device) for name, path in models.items()}
    sizes = {a.image_size for a in animators.values()}
    if len(sizes) != 1:
        raise UserInputError(f"models of different image sizes {sorted(sizes)} cannot share one evaluation")
    size = sizes.pop()
    if reference_detector is not None:
        detector = Animator(reference_detector, device=device)
    else:
        detector = next((a for a in animators.values() if a.landmark_names), None)
    paths = split_clips(Path(data_dir), "test")[:max_clips]
    if not paths:
        raise UserInputError(f"{data_dir}: no clips in the test split")
    landmark_names = detector.landmark_names if detector else ()
    clips: list[Clip] = [load_clip(p, size, landmark_names) for p in paths]
    progress(f"{len(clips)} test clips at {size}x{size}")

    nets = FeatureNets()
    real_frames = np.concatenate([c.frames.numpy()[::fid_frame_stride] for c in clips])
    real = {"fid": nets.fid_features(real_frames), "fvd": nets.fvd_features([c.frames.numpy() for c in clips])}
    lpips_ok, lpips_reason = lpips_available()

    methods: dict[str, Animator | None] = {"identity": None, **animators}  # None: the identity baseline
    results = [MethodResult(name) for name in methods]
    samples: dict[str, dict[str, np.ndarray]] = {task: {} for task in tasks}
    floor = None
    real_points: dict[str, tuple[np.ndarray, np.ndarray]] = {}  # the detector's reading of the real frames
    for result, (name, animator) in zip(results, methods.items()):
        if "reconstruction" in tasks:
            progress(f"{name}: reconstruction")
            videos, l1, psnr, ssim, akd, lm_px, lm_mm, floor_px = [], [], [], [], [], [], [], []
            for clip in clips:
                frames = clip.frames.numpy()
                source_index = len(frames) // 2
                source = middle_frame(frames)
                outputs = identity_outputs(source, len(frames)) if animator is None else model_outputs(animator, source, frames, relative=False)
                out = np.stack(outputs)
                videos.append(out)
                keep = np.arange(len(frames)) != source_index  # the source frame itself is not scored
                l1.append(M.l1_per_frame(out[keep] / 255.0, frames[keep] / 255.0))
                psnr.append(M.psnr_per_frame(out[keep] / 255.0, frames[keep] / 255.0))
                ssim.append(M.ssim_per_frame(out[keep] / 255.0, frames[keep] / 255.0))
                if detector is not None:
                    kp_out, lm_out = _detect(detector, outputs)
                    if clip.name not in real_points:
                        real_points[clip.name] = _detect(detector, list(frames))
                    kp_real, lm_real = real_points[clip.name]
                    akd.append(M.average_keypoint_distance(kp_out[keep], kp_real[keep]))
                    mask = clip.annotated.numpy() & keep[:, None]
                    if mask.any():
                        truth = normalized_to_pixels(clip.landmarks.numpy(), size)
                        scale = clip.geometry.scale  # model px per original px
                        err = M.landmark_error_px(lm_out[mask], truth[mask]) / scale
                        lm_px.append(err)
                        floor_px.append(M.landmark_error_px(lm_real[mask], truth[mask]) / scale)
                        if clip.pixel_spacing_mm:
                            lm_mm.append(M.landmark_error_mm(lm_out[mask] / scale, truth[mask] / scale, clip.pixel_spacing_mm))
            recon = {
                "L1": float(np.mean(np.concatenate(l1))),
                "PSNR": float(np.mean(np.concatenate(psnr))),
                "SSIM": float(np.mean(np.concatenate(ssim))),
                "LPIPS": "available" if lpips_ok else lpips_reason,
                **_distribution_metrics(nets, videos, real, fid_frame_stride),
            }
            if detector is not None:
                recon["AKD_px"] = float(np.mean(akd))
                if lm_px:
                    recon["landmark_err_px"] = float(np.mean(np.concatenate(lm_px)))
                    floor = float(np.mean(np.concatenate(floor_px)))
                if lm_mm:
                    recon["landmark_err_mm"] = float(np.mean(np.concatenate(lm_mm)))
            result.reconstruction = recon
            first = clips[0].frames.numpy()
            index = len(first) * 3 // 4
            _keep_sample(samples["reconstruction"], name, videos[0][index], first[index], middle_frame(first))
        if "prediction" in tasks:
            progress(f"{name}: prediction")
            videos = []
            for i, clip in enumerate(clips):
                source = middle_frame(clips[(i + 1) % len(clips)].frames.numpy())
                frames = clip.frames.numpy()
                outputs = identity_outputs(source, len(frames)) if animator is None else model_outputs(animator, source, frames, relative=True)
                videos.append(np.stack(outputs))
            result.prediction = _distribution_metrics(nets, videos, real, fid_frame_stride)
            first = clips[0].frames.numpy()
            index = len(first) * 3 // 4
            _keep_sample(samples["prediction"], name, videos[0][index], first[index], middle_frame(clips[1 % len(clips)].frames.numpy()))
    info = {"clips": len(clips), "size": size, "samples": samples, "detector_floor_px": floor,
            "detector": str(detector.checkpoint_path) if detector else None}
    return results, info


COLUMNS = {
    "reconstruction": ("L1", "PSNR", "SSIM", "LPIPS", "FID", "FVD", "AKD_px", "landmark_err_px", "landmark_err_mm"),
    "prediction": ("FID", "FVD"),
}


def _cell(value) -> str:
    if isinstance(value, float):
        return f"{value:.4f}" if abs(value) < 10 else f"{value:.2f}"
    return "n/a" if value is None else ("n/a" if str(value).startswith("unavailable") else str(value))


def write_report(results: list[MethodResult], info: dict, out_dir: str | Path, tasks: tuple[str, ...]) -> dict[str, Path]:
    """Markdown + CSV tables laid out like the paper's Table 1, and a PNG of sample frames."""
    import cv2

    out_dir = Path(out_dir)
    header = ["Method"] + [f"{task[:5].title()} {c}" for task in tasks for c in COLUMNS[task]]
    rows = [[r.name] + [_cell(getattr(r, task).get(c)) for task in tasks for c in COLUMNS[task]] for r in results]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)] + ["| " + " | ".join(row) + " |" for row in rows]
    notes = sorted({str(v) for r in results for t in tasks for v in getattr(r, t).values() if isinstance(v, str) and v.startswith("unavailable")})
    text = f"Test clips: {info['clips']} at {info['size']}x{info['size']} px.\n\n" + "\n".join(lines) + "\n"
    if info.get("detector"):
        text += f"\nAKD and landmark errors are read by the reference detector `{info['detector']}`"
        if info.get("detector_floor_px") is not None:
            text += f"; on the real frames its landmark error is {info['detector_floor_px']:.2f} px (the floor)"
        text += ".\n"
    for note in notes:
        text += f"\n- {note}"
    paths = {"markdown": out_dir / "evaluation.md", "csv": out_dir / "evaluation.csv", "figure": out_dir / "samples.png"}
    write_text_atomic(paths["markdown"], text + "\n")
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    writer.writerows(rows)
    write_text_atomic(paths["csv"], buffer.getvalue())
    figure_rows = []
    for task in tasks:
        tiles = info["samples"][task]
        order = ["driving", "source"] + [r.name for r in results]
        labelled = []
        for name in order:
            tile = cv2.cvtColor(tiles[name], cv2.COLOR_GRAY2BGR)
            cv2.putText(tile, f"{task[:5]}: {name}"[:24], (3, 12), cv2.FONT_HERSHEY_SIMPLEX, 0.35, (0, 255, 255), 1, cv2.LINE_AA)
            labelled.append(tile)
        figure_rows.append(np.concatenate(labelled, axis=1))
    ok, encoded = cv2.imencode(".png", np.concatenate(figure_rows, axis=0))
    write_bytes_atomic(paths["figure"], encoded.tobytes())
    return paths

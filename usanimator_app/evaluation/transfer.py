"""``usanimator evaluate --task transfer``: one subject's still animated by another's motion (docs/METRICS.md).

Two kinds of pair:

- **real pairs, no ground truth**: every ordered pair (A, B) of a folder's clips (source = A's first
  frame, driving = B's first ``window`` frames) and every still given with ``--source`` x every clip
  given with ``--driving``. Scored per frame by ``evaluation.plausibility``: folds and implausible
  area change of the motion, sector IoU, pixels lit outside the sector, bright fill; per pair the
  motion kept (mean |displacement| of the transfer / that of B driving its own first frame); over
  all pairs the FID of the output frames against the folder's real frames, with identity's.
- **phantom pairs, ground truth**: the phantom renders A's anatomy moving with B's manoeuvre
  (``core.phantom.simulate_transfer_pair``); the output is scored against that truth: L1 / PSNR /
  SSIM (identity beside it), the landmark error in mm of A's truth landmarks carried by the predicted
  motion (no detector) and the error of the bladder-neck descent curve in mm.

Every figure is computed on the pair's worst frame as well as on average; a montage PNG shows each
real pair's worst frame (by implausible share, then bright fill).
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

import cv2
import numpy as np
import torch

from usanimator_app.core.atomic import write_bytes_atomic, write_text_atomic
from usanimator_app.core.errors import UserInputError
from usanimator_app.core.media import open_media
from usanimator_app.core.preprocess import fit_geometry
from usanimator_app.core.sector import resize_mask, sector_mask, sector_outline
from usanimator_app.engine.animator import Animator, MotionOptions, OutputOptions, _uint8
from usanimator_app.engine.render import NativeRenderer, output_geometry
from usanimator_app.evaluation import metrics as M
from usanimator_app.evaluation import plausibility as P
from usanimator_app.evaluation.protocol import (EVAL_SIZE, FeatureNets, _cell, centred_window, frechet_with_interval,
                                                square_frames, test_clips)
from usanimator_app.evaluation.protocol import _table as protocol_table



@dataclass
class PairRun:
    """One animated pair: per-frame figures, outputs on the model-scale grid and the motion."""

    frames: list[np.ndarray]  # F output frames (h, w) uint8 at the source's model scale
    still: np.ndarray  # the source on the same grid
    outline: np.ndarray  # the still's sector outline (core.sector)
    figures: list[dict[str, float]]  # per frame: plausibility.WORST_OF's figures + motion_px
    displacements: list[np.ndarray]  # per frame (h, w, 2) model pixels
    geometry: object  # the source's FrameGeometry at the model size


@dataclass
class Variant:
    """A way to run a model: the bundled default or the network's raw motion and plain composite."""

    name: str
    animator: Animator
    motion: MotionOptions
    output: OutputOptions


def model_frames(frames: Iterable[np.ndarray], size: int, window: int) -> list[np.ndarray]:
    """The first ``window`` gray frames of a clip mapped into the (size, size) model square."""
    frames = list(frames)[:window]
    geometry = fit_geometry(frames[0], size=size, crop_borders=True)
    return [geometry.to_model(f) for f in frames]


def animate_pair(variant: Variant, source_gray: np.ndarray, driving: list[np.ndarray]) -> PairRun:
    """Animate a (H0, W0) uint8 still by model-size driving frames and score every frame."""
    animator = variant.animator
    size = animator.image_size
    geometry = fit_geometry(source_gray, size=size, crop_borders=True)
    source_model = geometry.to_model(source_gray)
    grid = output_geometry(geometry, "model")
    still = _uint8(NativeRenderer(source_gray, geometry, grid, torch.device("cpu"), keep_sector=False).still())
    outline = sector_outline(still)
    sector = sector_mask(source_model)
    run = PairRun([], still, outline, [], [], geometry)
    output = OutputOptions(size="model", keep_sector=variant.output.keep_sector)
    for result in animator.animate(source_model, driving, variant.motion, native=(source_gray, geometry), output=output):
        height, width = result.occlusion.shape
        figures = P.motion_plausibility(result.displacement, result.occlusion, resize_mask(sector, height, width), size)
        figures.update(P.image_plausibility(result.frame, still, outline))
        run.frames.append(result.frame)
        run.figures.append(figures)
        run.displacements.append(result.displacement)
    return run


def pair_row(name: str, run: PairRun, self_motion_px: float) -> dict:
    """A pair's table row: worst frame of each figure, its index, the motion kept."""
    row: dict = {"pair": name, "frames": len(run.figures), **P.worst(run.figures)}
    row["source_bright"] = P.source_bright_share(run.still, run.outline)
    motion = float(np.mean([f["motion_px"] for f in run.figures]))
    row["motion_px"] = motion
    row["motion_kept"] = motion / self_motion_px if self_motion_px > 0 else float("nan")
    row["worst_frame"] = int(np.argmax([f["implausible"] + f["bright_fill"] for f in run.figures]))
    return row


@dataclass
class RealPair:
    name: str
    source: np.ndarray  # (H0, W0) uint8 still
    driving_name: str


def folder_pairs(folder: Path) -> tuple[list[RealPair], dict[str, list[np.ndarray]]]:
    """Every ordered pair of the folder's clips (source: A's first frame) and the clips' gray frames."""
    paths, _ = test_clips(folder)
    if len(paths) < 2:
        raise UserInputError(f"{folder}: transfer needs at least two clips, found {len(paths)}")
    clips = {p.stem: list(open_media(p).iter_gray()) for p in paths}
    pairs = [RealPair(f"{a} <- {b}", clips[a][0], b) for a in clips for b in clips if a != b]
    return pairs, clips


def real_frames(clips: dict[str, list[np.ndarray]], window: int, stride: int) -> np.ndarray:
    """The FID reference: every ``stride``-th frame of each clip's scored window (as the reconstruction
    protocol scores it: ``protocol.centred_window``), in the evaluation square, (N, EVAL_SIZE, EVAL_SIZE)."""
    return np.concatenate([square_frames(np.stack(frames)[centred_window(len(frames), window)])[::stride]
                           for frames in clips.values()])


def still_pairs(sources: list[Path], drivings: list[Path]) -> tuple[list[RealPair], dict[str, list[np.ndarray]]]:
    """Every given still x every given driving clip."""
    clips = {p.stem: list(open_media(p).iter_gray()) for p in drivings}
    pairs = []
    for path in sources:
        still = next(iter(open_media(path).iter_gray()))
        pairs.extend(RealPair(f"{path.stem} <- {name}", still, name) for name in clips)
    return pairs, clips


def montage(runs: list[tuple[str, PairRun, int]], columns: int = 6, tile: int = 160) -> np.ndarray:
    """Worst frames side by side: source still above, output below, per pair; (H, W) uint8."""
    tiles = []
    for name, run, index in runs:
        pair = [cv2.resize(image, (tile, round(tile * image.shape[0] / image.shape[1]))) for image in (run.still, run.frames[index])]
        column = np.concatenate(pair, axis=0)
        column = cv2.copyMakeBorder(column, 14, 2, 2, 2, cv2.BORDER_CONSTANT, value=0)
        source, _, driving = name.partition(" <- ")
        cv2.putText(column, f"{source[:11]}<-{driving[:11]} f{index}", (2, 11), cv2.FONT_HERSHEY_SIMPLEX, 0.3, 255, 1, cv2.LINE_AA)
        tiles.append(column)
    height = max(t.shape[0] for t in tiles)
    tiles = [np.pad(t, ((0, height - t.shape[0]), (0, 0))) for t in tiles]
    tiles += [np.zeros_like(tiles[0])] * (-len(tiles) % columns)
    rows = [np.concatenate(tiles[i:i + columns], axis=1) for i in range(0, len(tiles), columns)]
    return np.concatenate(rows, axis=0)


def _to_square(run: PairRun, source_gray: np.ndarray) -> list[np.ndarray]:
    """A run's output frames mapped into the (EVAL_SIZE, EVAL_SIZE) square of the source's content box."""
    square = fit_geometry(source_gray, size=EVAL_SIZE, crop_borders=True)
    return [square.crop_to_model(frame) for frame in run.frames]


def _fid(nets, frames: list[np.ndarray], real: np.ndarray, stride: int) -> dict:
    return frechet_with_interval("FID", nets.fid_features(np.stack(frames[::stride])), real)


@dataclass
class TransferReport:
    rows: dict[str, list[dict]] = field(default_factory=dict)  # variant -> real-pair rows
    phantom_rows: dict[str, list[dict]] = field(default_factory=dict)  # method -> phantom-pair rows
    fid: dict[str, dict] = field(default_factory=dict)  # method -> FID figures
    montages: dict[str, np.ndarray] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def evaluate_real(
    variants: list[Variant], pairs: list[RealPair], clips: dict[str, list[np.ndarray]], real_frames: np.ndarray | None,
    window: int, fid_stride: int, report: TransferReport, progress: Callable[[str], None],
) -> None:
    """Score each variant on the real pairs (fills ``report.rows``, ``fid``, ``montages``)."""
    nets = FeatureNets("cpu") if real_frames is not None else None
    real = nets.fid_features(real_frames) if nets is not None else None
    identity_frames = []
    for variant in variants:
        size = variant.animator.image_size
        driving = {name: model_frames(frames, size, window) for name, frames in clips.items()}
        self_motion = {}
        for name, frames in clips.items():  # B driving its own first frame: the motion the driving clip has
            run = animate_pair(variant, frames[0], driving[name])
            self_motion[name] = float(np.mean([f["motion_px"] for f in run.figures]))
        rows, worst, outputs = [], [], []
        for number, pair in enumerate(pairs, 1):
            run = animate_pair(variant, pair.source, driving[pair.driving_name])
            row = pair_row(pair.name, run, self_motion[pair.driving_name])
            rows.append(row)
            worst.append((pair.name, run, row["worst_frame"]))
            outputs.extend(_to_square(run, pair.source))
            if variant is variants[0]:  # identity: the still itself, as many frames
                still = fit_geometry(pair.source, size=EVAL_SIZE, crop_borders=True).to_model(pair.source)
                identity_frames.extend([still] * len(run.frames))
            progress(f"{variant.name}: pair {number}/{len(pairs)} {pair.name}: implausible {row['implausible']:.2%}, "
                     f"bright fill {row['bright_fill']:.2%}, motion kept {row['motion_kept']:.2f}")
        report.rows[variant.name] = rows
        report.montages[variant.name] = montage(worst)
        if nets is not None:
            report.fid[variant.name] = _fid(nets, outputs, real, fid_stride)
    if nets is not None and identity_frames:
        report.fid["identity"] = _fid(nets, identity_frames, real, fid_stride)


def phantom_pairs(count: int, frames: int = 48, size: int = 256) -> Iterable[tuple]:
    """``count`` (driving clip, truth clip) pairs of ``core.phantom.transfer_pair_params`` (seed 0:
    subjects from ``TRANSFER_SEED_BASE``, which no model trained on), Valsalva with peaks of 5-35 mm."""
    from usanimator_app.core.phantom import simulate_transfer_pair, transfer_pair_params

    for anatomy, motion in transfer_pair_params(count, frames, size, seed=0):
        yield simulate_transfer_pair(anatomy, motion)


def descent_curve_mm(landmarks: np.ndarray, spacing_mm: float) -> np.ndarray:
    """(F, 2, 2) symphysis, bladder neck (x, y) px -> (F,) neck depth change relative to the symphysis vs frame 0, mm."""
    relative = landmarks[:, 1, 1] - landmarks[:, 0, 1]
    return (relative - relative[0]) * spacing_mm


def evaluate_phantom(variants: list[Variant], count: int, report: TransferReport, progress: Callable[[str], None]) -> None:
    """Phantom pairs with ground truth: A's anatomy moved by B's manoeuvre (fills ``report.phantom_rows``)."""
    from usanimator_app.core.phantom import LANDMARKS, TRANSFER_SEED_BASE

    pairs = phantom_pairs(count)
    report.notes.append(f"phantom transfer pairs: {count}, anatomy seeds {TRANSFER_SEED_BASE} + 2k, motion seeds + 2k + 1 "
                        f"(the bundled model trained on phantom seeds 100003-100132)")
    for number, (driving_clip, truth) in enumerate(pairs, 1):
        source = truth.frames[0]
        truth_square_geometry = fit_geometry(source, size=EVAL_SIZE, crop_borders=True)
        truth_frames = np.stack([truth_square_geometry.to_model(f) for f in truth.frames]) / 255.0
        truth_points = np.stack([truth.landmarks[name] for name in LANDMARKS], axis=1)  # (F, 2, 2) px
        spacing = truth.pixel_spacing_mm
        true_descent = descent_curve_mm(truth_points, spacing)
        keep = slice(1, None)
        identity = np.repeat(truth_frames[:1], len(truth_frames), 0)
        rows = {"identity": {
            "pair": number, "L1": float(M.l1_per_frame(identity[keep], truth_frames[keep]).mean()),
            "PSNR": float(M.psnr_per_frame(identity[keep], truth_frames[keep]).mean()),
            "SSIM": float(M.ssim_per_frame(identity[keep], truth_frames[keep]).mean()),
            "neck_mm": float(np.abs(np.linalg.norm(truth_points[keep, 1] - truth_points[0, 1], axis=-1)).mean() * spacing),
            "landmark_mm": float(np.linalg.norm(truth_points[keep] - truth_points[:1], axis=-1).mean() * spacing),
            "descent_mm": float(np.abs(true_descent[keep]).mean()),
            "peak_descent_mm": float(np.abs(true_descent).max()),
        }}
        for variant in variants:
            size = variant.animator.image_size
            run = animate_pair(variant, source, model_frames(driving_clip.frames, size, len(driving_clip.frames)))
            output = np.stack(_to_square(run, source)) / 255.0
            start = run.geometry.points_to_model(truth_points[0])
            carried = np.stack([run.geometry.points_to_original(M.carry_points(d, start, size)) for d in run.displacements])
            errors = np.linalg.norm(carried[keep] - truth_points[keep], axis=-1) * spacing  # (F-1, 2) mm
            rows[variant.name] = {
                "pair": number, "L1": float(M.l1_per_frame(output[keep], truth_frames[keep]).mean()),
                "PSNR": float(M.psnr_per_frame(output[keep], truth_frames[keep]).mean()),
                "SSIM": float(M.ssim_per_frame(output[keep], truth_frames[keep]).mean()),
                "neck_mm": float(errors[:, 1].mean()), "landmark_mm": float(errors.mean()),
                "descent_mm": float(np.abs(descent_curve_mm(carried, spacing)[keep] - true_descent[keep]).mean()),
                "peak_descent_mm": rows["identity"]["peak_descent_mm"],
                "implausible": max(f["implausible"] for f in run.figures), "folds": max(f["folds"] for f in run.figures),
            }
        for name, row in rows.items():
            report.phantom_rows.setdefault(name, []).append(row)
        progress(f"phantom pair {number}/{count}: " + ", ".join(f"{n} neck {r['neck_mm']:.2f} mm L1 {r['L1']:.4f}" for n, r in rows.items()))


REAL_COLUMNS = ("pair", "frames", "folds", "implausible", "sector_iou", "lit_outside", "bright_fill", "source_bright",
                "motion_px", "motion_kept", "worst_frame")
PHANTOM_COLUMNS = ("L1", "PSNR", "SSIM", "neck_mm", "landmark_mm", "descent_mm")


def _table(header: Iterable[str], rows: list[list]) -> str:
    return protocol_table(list(header), [[_cell(v) for v in row] for row in rows])


def summary(rows: list[dict]) -> dict[str, float]:
    """Worst over all pairs and frames of each figure, and the lowest motion kept."""
    out = P.worst(rows)
    out["bright_fill_over_source"] = max(r["bright_fill"] - r["source_bright"] for r in rows)
    out["motion_kept_min"] = min(r["motion_kept"] for r in rows)
    out["motion_kept_mean"] = float(np.mean([r["motion_kept"] for r in rows]))
    return out


def write_transfer_report(report: TransferReport, out_dir: str | Path, info: dict) -> dict[str, Path]:
    """transfer.md (summary, per-pair tables, FID, phantom table), transfer.csv, transfer.json and montages."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    lines = ["# Transfer evaluation", "", *[f"- {k}: {v}" for k, v in info.items()], *[f"- {n}" for n in report.notes], ""]
    paths: dict[str, Path] = {}
    summaries = {name: summary(rows) for name, rows in report.rows.items() if rows}
    if summaries:
        lines += ["## Real pairs: worst frame of every pair", "",
                  _table(["method", *summaries[next(iter(summaries))]], [[n, *s.values()] for n, s in summaries.items()]), ""]
    if report.fid:
        lines += ["## FID of the output frames against the folder's real frames", "",
                  _table(["method", "FID", "95% interval", "frames"],
                         [[n, f.get("FID"), f.get("FID_CI", "n/a"), f.get("FID_n", "n/a")] for n, f in report.fid.items()]), ""]
    if report.phantom_rows:
        means = {n: {k: float(np.mean([r[k] for r in rows])) for k in PHANTOM_COLUMNS} for n, rows in report.phantom_rows.items()}
        lines += ["## Phantom pairs with ground truth (means over pairs)", "",
                  _table(["method", *PHANTOM_COLUMNS], [[n, *m.values()] for n, m in means.items()]), ""]
        paths["phantom_csv"] = out / "transfer_phantom.csv"
        _write_csv(paths["phantom_csv"], [{"method": n, **r} for n, rows in report.phantom_rows.items() for r in rows])
    for name, rows in report.rows.items():
        lines += [f"## {name}: per pair", "", _table(REAL_COLUMNS, [[r[c] for c in REAL_COLUMNS] for r in rows]), ""]
        montage_path = out / f"transfer_worst_{name.replace(':', '_')}.png"
        ok, encoded = cv2.imencode(".png", report.montages[name])
        write_bytes_atomic(montage_path, encoded.tobytes())
        paths[f"montage_{name}"] = montage_path
    if report.rows:
        paths["csv"] = out / "transfer.csv"
        _write_csv(paths["csv"], [{"method": n, **r} for n, rows in report.rows.items() for r in rows])
    paths["markdown"] = out / "transfer.md"
    write_text_atomic(paths["markdown"], "\n".join(lines))
    paths["json"] = out / "transfer.json"
    write_text_atomic(paths["json"], json.dumps({"summary": summaries, "fid": report.fid, "info": info,
                                                 "phantom": report.phantom_rows}, indent=1, default=str))
    return paths


def _write_csv(path: Path, rows: list[dict]) -> None:
    buffer = io.StringIO()
    keys = list(dict.fromkeys(k for r in rows for k in r))
    writer = csv.DictWriter(buffer, fieldnames=keys)
    writer.writeheader()
    writer.writerows(rows)
    write_text_atomic(path, buffer.getvalue())

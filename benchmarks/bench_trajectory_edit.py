"""Does a scaled bladder-neck trajectory give an output whose descent is scaled as much? (issue 15 §2)

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_trajectory_edit.py [--model models/usanimator-ptg-cpu128.pt] [--clips 3]

Phantom Valsalva clips are simulated at run time (``core.phantom``; 256 px, 48 frames). Each driving
clip animates the first frame of another phantom clip (the source still). The driving clip's
motion points are read by the model, the bladder neck's descent scaled (``core.trajectory``: the
neck relative to the symphysis lower edge, about frame 0) and the animation driven by the edited
track, in two modes: the self-supervised keypoints following the edit by their fitted coupling to
the neck ("keypoints follow", the default) or as detected ("landmarks only"). The model's landmark
heads then read the output frames.

Descent of a clip = the peak over its frames of the bladder neck's descent from frame 0 as
``core.annotation_tools.bladder_neck_descent`` defines it: the change of the neck's vertical
distance below the symphysis lower edge, positive = caudal, in mm (the phantom's pixel spacing).
The figure for a scale s is (output descent with s) / (output descent with s = 1); target: s within 20%.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from usanimator_app.core.phantom import PhantomParams, simulate_clip
from usanimator_app.core.preprocess import fit_geometry
from usanimator_app.core.trajectory import Trajectory, TrajectoryEdits
from usanimator_app.engine.animator import Animator, MotionOptions
from usanimator_app.engine.pipeline import default_model_path

SCALES = (0.5, 1.5, 2.0, 3.0)
LANDMARKS_ONLY_SCALES = (0.5, 2.0, 3.0)


def peak_descent(trajectory: Trajectory, points: np.ndarray) -> float:
    """Peak descent (mm) of (F, K + L, 2) points relative to their own frame 0."""
    descent = trajectory.descent(points)
    return float((descent - descent[0]).max() * trajectory.spacing_y_mm)


def read_points(animator: Animator, frames: list[np.ndarray]) -> np.ndarray:
    """(F, K + L, 2) motion points in the frames' own pixels, read at the model's size (geometry of frame 0)."""
    geometry = fit_geometry(frames[0], size=animator.image_size, crop_borders=True)
    track = animator.point_track(geometry.to_model(frame) for frame in frames)
    return np.stack([geometry.points_to_original(points) for points in track])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=None, help="checkpoint (default: the bundled model)")
    parser.add_argument("--clips", type=int, default=3, help="driving clips (default 3)")
    parser.add_argument("--peak-mm", type=float, default=12.0, help="the driving clips' peak descent (default 12 mm)")
    args = parser.parse_args()

    animator = Animator(args.model or default_model_path(), device="cpu")
    print(f"model {animator.checkpoint_path} (step {animator.step}), {animator.image_size} px, CPU")
    rows = []
    started = time.perf_counter()
    for clip_index in range(args.clips):
        driving = simulate_clip(PhantomParams(manoeuvre="valsalva", peak_descent_mm=args.peak_mm, seed=100 + clip_index))
        source = simulate_clip(PhantomParams(manoeuvre="rest", frames=1, seed=200 + clip_index)).frames[0]
        geometry = fit_geometry(driving.frames[0], size=animator.image_size, crop_borders=True)
        model_frames = [geometry.to_model(frame) for frame in driving.frames]
        trajectory = Trajectory(animator.landmark_names, read_points(animator, list(driving.frames)),
                                spacing_y_mm=driving.pixel_spacing_mm)
        source_geometry = fit_geometry(source, size=animator.image_size, crop_borders=True)
        outputs = {}
        runs = [("keypoints follow", s) for s in (1.0,) + SCALES] + [("landmarks only", s) for s in LANDMARKS_ONLY_SCALES]
        for mode, scale in runs:
            trajectory.edits = TrajectoryEdits(scale=scale, keypoints_follow=mode == "keypoints follow")
            points = [geometry.points_to_model(p) for p in trajectory.edited_points()]
            frames = [result.frame for result in animator.animate(
                source_geometry.to_model(source), model_frames, MotionOptions(), native=(source, source_geometry),
                driving_points=points)]
            outputs[mode, scale] = peak_descent(trajectory, read_points(animator, frames))
        rows.append((float(driving.descent_mm.max()), peak_descent(trajectory, trajectory.points), outputs))
        print(f"clip {clip_index}: truth {rows[-1][0]:.1f} mm, driving read {rows[-1][1]:.1f} mm, "
              + ", ".join(f"{m} x{s:g}: {d:.1f} mm" for (m, s), d in outputs.items()), flush=True)

    print(f"\n{args.clips} clips, {time.perf_counter() - started:.0f} s. Output descent and its ratio to the unedited (x1) output's:")
    print("| mode | scale | output descent, mean (mm) | ratio per clip | mean ratio | within 20% of the scale |")
    print("|---|---|---|---|---|---|")
    for mode, scale in runs[1:]:
        ratios = [outputs[mode, scale] / outputs["keypoints follow", 1.0] for *_, outputs in rows]
        mean = float(np.mean(ratios))
        print(f"| {mode} | x{scale:g} | {np.mean([o[mode, scale] for *_, o in rows]):.1f} | {', '.join(f'{r:.2f}' for r in ratios)} | "
              f"{mean:.2f} | {'yes' if abs(mean - scale) <= 0.2 * scale else 'no'} |")
    print(f"unedited output {np.mean([o['keypoints follow', 1.0] for *_, o in rows]):.1f} mm; driving clips: truth "
          f"{np.mean([r[0] for r in rows]):.1f} mm, read by the landmark heads {np.mean([r[1] for r in rows]):.1f} mm")


if __name__ == "__main__":
    main()

"""Native-resolution animation on the CPU: frames/s, where a frame goes, and peak RSS over clip length.

    nice -n 10 env OMP_WAIT_POLICY=PASSIVE .venv/bin/python benchmarks/bench_native.py \\
        [--model CKPT] [--frames 24] [--threads 2] [--size 512] [--baseline REV]
    nice -n 10 env OMP_WAIT_POLICY=PASSIVE .venv/bin/python benchmarks/bench_native.py --rss [--rss-frames 50 1000]

Speed: the bundled model (or ``--model``) animates a ``--size`` x ``--size`` source
(resources/sample_source.png's content box resized) with ``--frames`` driving frames (resources/sample_driving.mp4,
looped), output at native resolution; two frames of warm-up are excluded. It prints wall frames/s
and CPU ms per frame (all threads) for each variant, all in this one process, and the PSNR of each
variant's ``FrameResult.frame`` against the reference: ``--baseline REV`` loads engine/animator.py,
engine/motion.py, engine/render.py and engine/tissue_motion.py as they were at git revision REV (the reference then), else the reference is
this tree's default. Then the CPU ms of each stage of a frame (keypoints, dense motion, generator,
render at native size, uint8 conversion, the other FrameResult fields).

RSS (``--rss``): ``usanimator animate ... --out x.mp4 --max-frames N`` in a child process per N, on a
long driving clip (the sample's frames written again and again), native output; peak RSS of each
child from ``os.wait4``. The load average is printed with every figure: the machine may be shared.
"""

from __future__ import annotations

import argparse
import importlib
import os
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
SAMPLE_SOURCE = REPO / "resources" / "sample_source.png"
SAMPLE_DRIVING = REPO / "resources" / "sample_driving.mp4"


def load_avg() -> str:
    return "load average " + " ".join(f"{x:.1f}" for x in os.getloadavg())


def make_source(folder: Path, size: int) -> Path:
    """The sample source's content box (its black borders cut off) resized to (size, size), as a PNG:
    the output at native resolution is then size x size."""
    from usanimator_app.core.preprocess import fit_geometry

    path = folder / f"source{size}.png"
    image = cv2.imread(str(SAMPLE_SOURCE), cv2.IMREAD_GRAYSCALE)
    x0, y0, x1, y1 = fit_geometry(image, size=128, crop_borders=True).crop
    cv2.imwrite(str(path), cv2.resize(image[y0:y1, x0:x1], (size, size), interpolation=cv2.INTER_CUBIC))
    return path


BASELINE_HELPERS = ("motion", "render", "tissue_motion")  # the engine modules a baseline brings with its animator


def load_baseline(revision: str, folder: Path):
    """The animator module of git revision ``revision`` (its engine/animator.py with its own
    engine/motion.py, engine/render.py and engine/tissue_motion.py)."""
    sources = {}
    for name in ("animator", *BASELINE_HELPERS):
        sources[name] = subprocess.run(
            ["git", "-C", str(REPO), "show", f"{revision}:usanimator_app/engine/{name}.py"],
            check=True, capture_output=True, text=True,
        ).stdout
    for name in BASELINE_HELPERS:
        old_import = f"from usanimator_app.engine.{name} import"
        if old_import not in sources["animator"]:
            raise SystemExit(f"{revision}: engine/animator.py does not import engine/{name}.py as expected")
        (folder / f"baseline_{name}.py").write_text(sources[name])
        sources["animator"] = sources["animator"].replace(old_import, f"from baseline_{name} import")
    (folder / "baseline_animator.py").write_text(sources["animator"])
    sys.path.insert(0, str(folder))
    return importlib.import_module("baseline_animator")


def time_animation(module, animator, source, driving: list[np.ndarray], threads: int) -> tuple[float, float, list[np.ndarray]]:
    """(wall frames/s, CPU ms per frame, output frames) of ``module``'s animator at native output."""
    import torch

    torch.set_num_threads(threads)
    output = module.OutputOptions(size="native")
    list(animator.animate(source.model_frame, driving[:2], native=source.native, output=output))  # warm-up
    wall, cpu = time.perf_counter(), time.process_time()
    frames = [r.frame for r in animator.animate(source.model_frame, driving, native=source.native, output=output)]
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return len(driving) / wall, cpu / len(driving) * 1000.0, frames


def psnr(a: list[np.ndarray], b: list[np.ndarray]) -> float:
    mse = np.mean([(x.astype(np.float64) - y) ** 2 for x, y in zip(a, b)]) / 255.0**2
    return float("inf") if mse == 0 else float(10 * np.log10(1.0 / mse))


def stage_profile(animator, source, driving: list[np.ndarray], threads: int) -> dict[str, float]:
    """CPU ms per frame of each stage of this tree's animation loop (engine/animator.py's steps, one by one,
    in the animator's precision)."""
    import torch

    from usanimator_app.engine.animator import frame_tensor, _uint8
    from usanimator_app.engine.motion import adapt_scale, relative_keypoints
    from usanimator_app.engine.render import NativeRenderer, output_geometry
    from usanimator_app.nets.blocks import make_coordinate_grid

    torch.set_num_threads(threads)
    model, size = animator.model, animator.image_size
    renderer = NativeRenderer(source.gray, source.geometry, output_geometry(source.geometry, "native"), animator.device)
    totals: dict[str, float] = defaultdict(float)
    with torch.inference_mode():
        with animator.precision():
            source_tensor = frame_tensor(source.model_frame, size, animator.device)
            source_kp = model.keypoint_detector(source_tensor)
            features = model.generator.encode(source_tensor)
        reference_kp = None
        for position, frame in enumerate(driving[:2] + driving):  # two frames of warm-up
            if position == 2:
                totals.clear()
            clock = [time.process_time()]

            def lap(name: str) -> None:
                now = time.process_time()
                totals[name] += (now - clock[0]) * 1000.0
                clock[0] = now

            with animator.precision():
                driving_kp = model.keypoint_detector(frame_tensor(frame, size, animator.device))
                if reference_kp is None:  # the animator's adapt-scale, once per clip
                    reference_kp, relative_scale = driving_kp, adapt_scale(source_kp, driving_kp)
                motion_kp = relative_keypoints(source_kp, driving_kp, reference_kp, relative_scale)
                lap("keypoints (driving) + relative motion")
                motion = model.dense_motion(source_tensor, source_kp, motion_kp)
                lap("dense motion")
                generated = model.generator(features, motion)
            bool(torch.isfinite(generated.prediction).all())
            lap("generator + finite check")
            image = renderer.render(motion, generated.prediction)[0]
            lap("render at native size")
            _uint8(image)
            lap("frame -> uint8")
            _uint8(generated.prediction), _uint8(generated.content), _uint8(generated.texture + 0.5)
            identity = make_coordinate_grid(*motion.deformation.shape[1:3], animator.device)
            ((motion.deformation[0] - identity) * ((size - 1) / 2.0)).numpy(), motion.occlusion[0, 0].numpy()
            animator.to_pixels(motion_kp.keypoints), animator.to_pixels(driving_kp.keypoints)
            lap("other fields (output/content/texture uint8, maps, points)")
    return {name: value / len(driving) for name, value in totals.items()}


def speed(args: argparse.Namespace) -> None:
    from usanimator_app.core.media import open_media
    from usanimator_app.engine import animator as current
    from usanimator_app.engine.pipeline import DrivingFrames, default_model_path, load_source_frame

    model_path = args.model or default_model_path()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        source_path = make_source(folder, args.size)
        new = current.Animator(model_path, device="cpu")
        source = load_source_frame(source_path, new.image_size)
        clip = list(DrivingFrames(open_media(SAMPLE_DRIVING), new.image_size))
        driving = [clip[i % len(clip)] for i in range(args.frames)]
        width, height = current.output_geometry(source.geometry, "native").size
        print(f"model {model_path.name} ({new.image_size} px); source {args.size}x{args.size} -> output {width}x{height}; "
              f"{args.frames} driving frames; {load_avg()}")
        variants = []
        if args.baseline:
            baseline = load_baseline(args.baseline, folder)
            variants.append((f"baseline {args.baseline}", baseline, baseline.Animator(model_path, device="cpu"), args.threads))
        variants.append(("this tree", current, new, args.threads))
        if args.threads != 1:
            variants.append(("this tree, 1 thread", current, new, 1))
        reference = None
        for name, module, animator, threads in variants:
            fps, cpu_ms, frames = time_animation(module, animator, source, driving, threads)
            reference = reference or frames
            print(f"  {name} ({threads} threads): {fps:.2f} frames/s wall, {cpu_ms:.1f} CPU ms/frame, "
                  f"PSNR vs {variants[0][0]} {psnr(reference, frames):.1f} dB; {load_avg()}")
        stages = stage_profile(new, source, driving, args.threads)
        print(f"stages of this tree ({args.threads} threads), CPU ms/frame, total {sum(stages.values()):.1f}; {load_avg()}")
        for name, value in stages.items():
            print(f"  {name}: {value:.1f}")


def peak_rss(args: argparse.Namespace) -> None:
    from usanimator_app.core.export import Mp4Writer
    from usanimator_app.core.media import open_media

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        source_path = make_source(folder, args.size)
        clip = list(open_media(SAMPLE_DRIVING).iter_gray())
        driving = folder / "long_driving.mp4"
        with Mp4Writer(driving, fps=20) as writer:
            for i in range(max(args.rss_frames)):
                writer.write(clip[i % len(clip)])
        print(f"RSS: {args.size}x{args.size} source, native output, driving clip of {max(args.rss_frames)} frames; "
              f"children with OMP_NUM_THREADS={args.threads}")
        env = dict(os.environ, OMP_NUM_THREADS=str(args.threads))
        peaks = {}
        for count in args.rss_frames:
            command = [sys.executable, "-m", "usanimator_app", "animate", "--source", str(source_path), "--driving", str(driving),
                       "--out", str(folder / f"out{count}.mp4"), "--max-frames", str(count), "--device", "cpu"]
            if args.model:
                command += ["--model", str(args.model)]
            started = time.perf_counter()
            child = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            _, status, usage = os.wait4(child.pid, 0)
            if os.waitstatus_to_exitcode(status) != 0:
                raise SystemExit(f"animate with --max-frames {count} failed: {' '.join(command)}")
            peaks[count] = usage.ru_maxrss / 1024.0  # KiB -> MiB
            print(f"  --max-frames {count}: peak RSS {peaks[count]:.0f} MiB, {time.perf_counter() - started:.0f} s; {load_avg()}")
        low, high = min(args.rss_frames), max(args.rss_frames)
        print(f"  ratio {high} / {low} frames: {peaks[high] / peaks[low]:.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=None, help="checkpoint (default: the bundled model)")
    parser.add_argument("--frames", type=int, default=24, help="driving frames per timed run")
    parser.add_argument("--threads", type=int, default=2, help="torch threads (the children's OMP_NUM_THREADS with --rss)")
    parser.add_argument("--size", type=int, default=512, help="side of the square source, px")
    parser.add_argument("--baseline", default=None, help="git revision whose animator/render to time side by side")
    parser.add_argument("--rss", action="store_true", help="measure peak RSS of the CLI instead of speed")
    parser.add_argument("--rss-frames", type=int, nargs=2, default=[50, 1000], help="the two clip lengths to compare")
    args = parser.parse_args()
    if args.rss:
        peak_rss(args)
    else:
        speed(args)


if __name__ == "__main__":
    main()

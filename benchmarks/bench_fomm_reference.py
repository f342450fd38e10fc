"""Frames/s of FOMM's reference modules (vox-256, 1 channel) beside USAnimator's paper-256 ptg model.

    .venv/bin/python benchmarks/bench_fomm_reference.py --fomm-repo /tmp/fomm [--frames 8] [--threads 2]
        [--batches 1 8]

``--fomm-repo``: a checkout of https://github.com/AliaksandrSiarohin/first-order-model (MIT); its
``modules/`` and ``sync_batchnorm/`` are imported from there at run time (nothing of it is copied).
Both models get random weights (speed does not depend on them), run in eval mode under
``torch.inference_mode`` at 256x256 on the CPU, side by side in this one process, on the same
driving frames. Per frame FOMM (its demo's ``make_animation``) runs its keypoint detector on the
driving frame and its whole generator, source encoder included; USAnimator encodes the source once
(``Generator.encode``) and per frame runs keypoints + ``AnimationModel.animate_step``, either one
frame at a time or ``N`` driving frames in one batch. Every USAnimator variant prints its PSNR
against USAnimator fp32 one frame at a time (the fast variants must stay >= 40 dB).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch
import yaml

from usanimator_app.engine.config import make_config
from usanimator_app.engine.device import cpu_has_fast_bf16
from usanimator_app.engine.model import AnimationModel
from usanimator_app.nets.keypoint_detector import KeypointOutput

SIZE = 256


def fomm_models(repo: Path) -> tuple[torch.nn.Module, torch.nn.Module]:
    """FOMM's KPDetector and OcclusionAwareGenerator with config/vox-256.yaml, 1 channel, random weights."""
    sys.path.insert(0, str(repo))
    from modules.generator import OcclusionAwareGenerator
    from modules.keypoint_detector import KPDetector

    params = yaml.safe_load((repo / "config" / "vox-256.yaml").read_text())["model_params"]
    common = dict(params["common_params"], num_channels=1)
    generator = OcclusionAwareGenerator(**params["generator_params"], **common)
    detector = KPDetector(**params["kp_detector_params"], **common)
    return detector.eval(), generator.eval()


def fomm_frames(detector, generator, source: torch.Tensor, driving: torch.Tensor) -> torch.Tensor:
    """FOMM's per-frame loop: source (1, 1, S, S), driving (F, 1, S, S) -> (F, 1, S, S)."""
    kp_source = detector(source)
    return torch.cat([generator(source, kp_source=kp_source, kp_driving=detector(frame[None]))["prediction"]
                      for frame in driving])


def ours_frames(model: AnimationModel, source: torch.Tensor, driving: torch.Tensor, batch: int,
                precision: contextlib.AbstractContextManager) -> torch.Tensor:
    """USAnimator with absolute motion, ``batch`` driving frames per pass: -> (F, 1, S, S) float32."""
    outputs = []
    with precision:
        source_kp = model.keypoint_detector(source)
        features = model.generator.encode(source)
        for start in range(0, driving.shape[0], batch):
            frames = driving[start:start + batch]
            n = frames.shape[0]
            expanded = KeypointOutput(*(t.expand(n, *t.shape[1:]) for t in source_kp))
            _, generated = model.animate_step(source.expand(n, -1, -1, -1), features.expand(n, -1, -1, -1),
                                              expanded, model.keypoint_detector(frames))
            outputs.append(generated.prediction.float())
    return torch.cat(outputs)


def timed(run, repeats: int = 1) -> tuple[float, torch.Tensor]:
    """Best wall time of ``repeats`` runs after one warm-up, and the output."""
    output = run()
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        output = run()
        best = min(best, time.perf_counter() - started)
    return best, output


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    mse = float(((a.double() - b.double()) ** 2).mean())
    return float("inf") if mse == 0 else 10 * float(np.log10(1.0 / mse))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fomm-repo", type=Path, required=True)
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 8])
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    detector, generator = fomm_models(args.fomm_repo)
    ours = AnimationModel(make_config("ptg", "paper-256").model).eval()
    ours.discriminator = None
    ours_cl = AnimationModel(make_config("ptg", "paper-256").model).eval()
    ours_cl.discriminator = None
    ours_cl.load_state_dict(ours.state_dict())
    ours_cl = ours_cl.to(memory_format=torch.channels_last)

    rng = np.random.default_rng(0)
    base = torch.from_numpy(rng.uniform(0, 1, (1, 1, SIZE, SIZE)).astype(np.float32))
    driving = torch.cat([torch.roll(base, shifts=2 * i, dims=3) for i in range(args.frames)])
    source = base
    fp32, bf16 = contextlib.nullcontext, lambda: torch.autocast("cpu", dtype=torch.bfloat16)
    print(f"threads {args.threads}; {args.frames} frames at {SIZE}x{SIZE}; CPU native bf16: {cpu_has_fast_bf16()}; "
          f"load average {os.getloadavg()} (other work shares this CPU: compare rows of one run only)")
    rows = []
    with torch.inference_mode():
        seconds, _ = timed(lambda: fomm_frames(detector, generator, source, driving))
        rows.append(("FOMM reference (vox-256, 1 channel), per frame", seconds, None))
        fomm_seconds = seconds
        seconds, reference = timed(lambda: ours_frames(ours, source, driving, 1, fp32()))
        rows.append(("USAnimator paper-256 ptg fp32, per frame", seconds, float("inf")))
        variants = [(f"fp32, batch {b}", ours, b, fp32) for b in args.batches if b > 1]
        variants += [(f"fp32 channels-last, batch {b}", ours_cl, b, fp32) for b in args.batches]
        variants += [(f"bf16 autocast channels-last, batch {b}", ours_cl, b, bf16) for b in args.batches]
        for name, model, batch, precision in variants:
            cl = model is ours_cl
            frames = driving.contiguous(memory_format=torch.channels_last) if cl else driving
            start = source.contiguous(memory_format=torch.channels_last) if cl else source
            seconds, output = timed(lambda: ours_frames(model, start, frames, batch, precision()))
            rows.append((f"USAnimator paper-256 ptg {name}", seconds, psnr(output, reference)))
    print(f"\n| model | frames/s | x FOMM | PSNR vs our fp32 (dB) |\n|---|---|---|---|")
    for name, seconds, value in rows:
        fps = args.frames / seconds
        quality = "" if value is None else ("exact" if value == float("inf") else f"{value:.1f}")
        print(f"| {name} | {fps:.2f} | {fomm_seconds / seconds:.2f} | {quality} |")


if __name__ == "__main__":
    main()

"""Frames/s of FOMM's reference modules (vox-256, 1 channel) beside USAnimator's paper-256 ptg model.

    .venv/bin/python benchmarks/bench_fomm_reference.py --fomm-repo /tmp/fomm [--frames 8] [--threads 2]
        [--batches 1 8]

``--fomm-repo``: a checkout of https://github.com/AliaksandrSiarohin/first-order-model (MIT); its
``modules/`` and ``sync_batchnorm/`` are imported from there at run time (nothing of it is copied).
Both models get random weights (speed does not depend on them; ``--checkpoint`` gives USAnimator
trained paper-256 weights for the PSNR column), run in eval mode under ``torch.inference_mode`` at
256x256 on the CPU, side by side in this one process, on the same driving frames. Per frame FOMM
(its demo's ``make_animation``) runs its keypoint detector on the driving frame and its whole
generator, source encoder included; USAnimator encodes the source once (``Generator.encode``) and
per frame runs keypoints + ``AnimationModel.animate_step``, either one frame at a time or ``N``
driving frames in one batch: the networks as built ("as trained"), and as the animator runs them
(``engine.animator.prepare_for_inference``: batch norms folded, channels-last) in fp32 and in the
precision the animator chooses on this CPU (``engine.device.inference_autocast``: bf16 with AMX,
else fp32). Every USAnimator variant prints its PSNR against USAnimator fp32 as trained, one frame
at a time (the fast variants must stay >= 40 dB). The frames are a noise image and shifted copies,
or with ``--driving`` the first ``--frames`` frames of a real clip (the source is its first frame).
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch
import yaml

from usanimator_app.engine.animator import prepare_for_inference
from usanimator_app.engine.checkpoint import load_model
from usanimator_app.engine.config import make_config
from usanimator_app.engine.device import cpu_has_amx_bf16, cpu_has_fast_bf16, inference_autocast
from usanimator_app.engine.model import AnimationModel
from usanimator_app.nets.keypoint_detector import KeypointOutput

from bench_engine import clip_frames  # this folder is on sys.path when a benchmark runs as a script

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
    parser.add_argument("--checkpoint", type=Path, default=None, help="trained paper-256 ptg weights for USAnimator")
    parser.add_argument("--driving", type=Path, default=None, help="a real clip (else shifted noise)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    detector, generator = fomm_models(args.fomm_repo)
    if args.checkpoint:
        config, ours, _ = load_model(args.checkpoint)
        if config.model.image_size != SIZE:
            raise SystemExit(f"{args.checkpoint}: a {config.model.image_size}-px model, not paper-256")
    else:
        ours = AnimationModel(make_config("ptg", "paper-256").model)
    ours = ours.eval()
    ours.discriminator = None
    prepared = prepare_for_inference(copy.deepcopy(ours), torch.device("cpu"))

    if args.driving:
        frames = clip_frames(args.driving, SIZE, args.frames)
        driving = torch.from_numpy(np.stack(frames)[:, None].astype(np.float32) / 255.0)
    else:
        rng = np.random.default_rng(0)
        base = torch.from_numpy(rng.uniform(0, 1, (1, 1, SIZE, SIZE)).astype(np.float32))
        driving = torch.cat([torch.roll(base, shifts=2 * i, dims=3) for i in range(args.frames)])
    source = driving[:1]
    fp32 = contextlib.nullcontext
    chosen = lambda: inference_autocast(torch.device("cpu"))  # noqa: E731 - the animator's own choice
    print(f"threads {args.threads}; {args.frames} frames at {SIZE}x{SIZE} ({args.driving or 'noise'}); "
          f"{'trained' if args.checkpoint else 'random'} USAnimator weights; CPU AVX-512 BF16: {cpu_has_fast_bf16()}, "
          f"AMX: {cpu_has_amx_bf16()}; load average {os.getloadavg()} (compare rows of one run only)")
    rows = []
    with torch.inference_mode():
        seconds, _ = timed(lambda: fomm_frames(detector, generator, source, driving))
        rows.append(("FOMM reference (vox-256, 1 channel), per frame", seconds, None))
        fomm_seconds = seconds
        if cpu_has_amx_bf16():  # not how FOMM's code runs; shows what the same precision would do for it
            with torch.autocast("cpu", dtype=torch.bfloat16):
                seconds, _ = timed(lambda: fomm_frames(detector, generator, source, driving))
            rows.append(("FOMM reference under bf16 autocast (its code has no such mode; for comparison)", seconds, None))
        seconds, reference = timed(lambda: ours_frames(ours, source, driving, 1, fp32()))
        rows.append(("USAnimator paper-256 ptg as trained, fp32, per frame", seconds, float("inf")))
        channels_last = lambda t: t.contiguous(memory_format=torch.channels_last)  # noqa: E731
        precision_name = "bf16 autocast (AMX)" if cpu_has_amx_bf16() else "fp32 (no AMX)"
        variants = [(f"as the animator runs it, fp32, batch {b}", b, fp32) for b in args.batches]
        variants += [(f"as the animator runs it, its precision: {precision_name}, batch {b}", b, chosen) for b in args.batches]
        for name, batch, precision in variants:
            seconds, output = timed(
                lambda: ours_frames(prepared, channels_last(source), channels_last(driving), batch, precision())
            )
            rows.append((f"USAnimator paper-256 ptg {name}", seconds, psnr(output, reference)))
    print(f"\n| model | frames/s | x FOMM | PSNR vs our fp32 (dB) |\n|---|---|---|---|")
    for name, seconds, value in rows:
        fps = args.frames / seconds
        quality = "" if value is None else ("exact" if value == float("inf") else f"{value:.1f}")
        print(f"| {name} | {fps:.2f} | {fomm_seconds / seconds:.2f} | {quality} |")


if __name__ == "__main__":
    main()

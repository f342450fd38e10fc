"""Engine speed: animator frames/s (fp32, the default precision, forced bf16) and training seconds per step.

    .venv/bin/python benchmarks/bench_engine.py [--sizes paper-256 cpu-128] [--frames 12] [--steps 3]
        [--checkpoint models/usanimator-ptg-cpu128.pt] [--threads 2] [--driving CLIP ...]

First one 256-channel 3x3 convolution at 64x64 (the generator's bottleneck layer) in fp32 and in
bf16. Then for each size it animates ``--frames`` driving frames with a ptg model (random weights
unless ``--checkpoint`` matches the size: speed does not depend on the weights) in fp32, in the
precision the animator chooses by default (``engine.device.inference_autocast``), and in bf16
autocast forced, all in this one process, and prints the PSNR of each against fp32 (a fast path is
acceptable at >= 40 dB). The frames are shifted copies of a noise image, or with ``--driving`` the
first ``--frames`` frames of each real clip (mapped into the model's square as the app does; the
source is the clip's first frame): a precision check needs trained weights *and* real images.
Then it times ``--steps`` training steps at batch 4. The load average is printed because other
work may share the CPU: compare rows of one run only.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import torch


def animate_fps(checkpoint: Path, frames: list[np.ndarray], fast: bool, forced_bf16: bool = False) -> tuple[float, list[np.ndarray]]:
    """Frames/s of the CPU animator; ``forced_bf16`` wraps it in bf16 autocast whatever the CPU."""
    from usanimator_app.engine.animator import Animator

    animator = Animator(checkpoint, device="cpu", fast_precision=fast)
    with torch.autocast("cpu", dtype=torch.bfloat16) if forced_bf16 else contextlib.nullcontext():
        list(animator.animate(frames[0], frames[:2]))  # warm-up
        started = time.perf_counter()
        outputs = [r.output for r in animator.animate(frames[0], frames)]
    return len(frames) / (time.perf_counter() - started), outputs


def clip_frames(path: Path, size: int, count: int) -> list[np.ndarray]:
    """The first ``count`` frames of a clip as (size, size) uint8 model frames (borders cropped)."""
    from usanimator_app.core.media import open_media
    from usanimator_app.core.preprocess import fit_geometry

    gray = []
    for frame in open_media(path).iter_gray():
        gray.append(frame)
        if len(gray) == count:
            break
    geometry = fit_geometry(gray[0], size=size, crop_borders=True)
    return [geometry.to_model(frame) for frame in gray]


def conv_ms(dtype: torch.dtype, repeats: int = 10) -> float:
    """Milliseconds of one 256 -> 256 3x3 convolution of a (1, 256, 64, 64) input (weights pre-cast)."""
    x = torch.randn(1, 256, 64, 64).to(dtype)
    w = (torch.randn(256, 256, 3, 3) * 0.02).to(dtype)
    with torch.inference_mode():
        torch.nn.functional.conv2d(x, w, padding=1)
        started = time.perf_counter()
        for _ in range(repeats):
            torch.nn.functional.conv2d(x, w, padding=1)
    return (time.perf_counter() - started) / repeats * 1000


def psnr(a: list[np.ndarray], b: list[np.ndarray]) -> float:
    mse = np.mean([(x.astype(np.float64) - y) ** 2 for x, y in zip(a, b)]) / 255.0**2
    return float("inf") if mse == 0 else float(10 * np.log10(1.0 / mse))


def train_seconds(size: str, steps: int) -> float:
    from usanimator_app.engine.config import make_config
    from usanimator_app.engine.dataset import Batch
    from usanimator_app.engine.model import AnimationModel
    from usanimator_app.engine.perceptual import load_perceptual_backbone
    from usanimator_app.engine.tps import RandomTPS
    from usanimator_app.engine.trainer import GeneratorObjective

    config = make_config("ptg", size)
    model = AnimationModel(config.model)
    backbone, _ = load_perceptual_backbone()
    objective = GeneratorObjective(model, backbone, config)
    optimizer = torch.optim.Adam(model.parameters(), lr=2e-4)
    s, batch_size = config.model.image_size, 4
    times = []
    for _ in range(steps + 1):
        batch = Batch(torch.rand(batch_size, 1, s, s), torch.rand(batch_size, 1, s, s), torch.zeros(batch_size, 2, 2),
                      torch.ones(batch_size, 2, dtype=torch.bool), torch.zeros(batch_size, 2, 2), torch.ones(batch_size, 2, dtype=torch.bool))
        transform = RandomTPS.random(batch_size, 0.05, 0.005, 5)
        started = time.perf_counter()
        terms, result = objective(batch, transform)
        fake = model.discriminator(result.generated.prediction)
        loss = terms["total_g"] + (fake.logits - 1).pow(2).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        d_loss = model.discriminator(batch.driving).logits.sub(1).pow(2).mean() + model.discriminator(result.generated.prediction.detach()).logits.pow(2).mean()
        d_loss.backward()
        times.append(time.perf_counter() - started)
    return float(np.mean(times[1:]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="+", default=["paper-256", "cpu-128"])
    parser.add_argument("--frames", type=int, default=12)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--checkpoint", type=Path, default=None, help="a trained checkpoint to use for its size")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--driving", type=Path, nargs="+", default=[], help="real clips to animate (else noise)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    from usanimator_app.engine.checkpoint import load_model, save_checkpoint
    from usanimator_app.engine.config import make_config
    from usanimator_app.engine.device import cpu_has_amx_bf16, cpu_has_fast_bf16
    from usanimator_app.engine.model import AnimationModel

    print(f"threads {args.threads}; CPU AVX-512 BF16 or AMX: {cpu_has_fast_bf16()}; AMX: {cpu_has_amx_bf16()}; "
          f"load average {os.getloadavg()}")
    print(f"conv 256->256 3x3 at 64x64: fp32 {conv_ms(torch.float32):.1f} ms; bf16 {conv_ms(torch.bfloat16):.1f} ms")
    trained = load_model(args.checkpoint)[0].train.size if args.checkpoint else None
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as tmp:
        for size in args.sizes:
            if size == trained:
                checkpoint = args.checkpoint
            else:
                config = make_config("ptg", size)
                checkpoint = save_checkpoint(Path(tmp) / f"{size}.pt", config, AnimationModel(config.model).eval(), step=0)
            s = make_config("ptg", size).model.image_size
            base = rng.integers(0, 255, (s, s), dtype=np.uint8)
            clips = {path.name: clip_frames(path, s, args.frames) for path in args.driving}
            for name, frames in clips.items() or [("noise", [np.roll(base, shift=i, axis=1) for i in range(args.frames)])]:
                fps32, out32 = animate_fps(checkpoint, frames, fast=False)
                fps_default, out_default = animate_fps(checkpoint, frames, fast=True)
                fps_bf16, out_bf16 = animate_fps(checkpoint, frames, fast=False, forced_bf16=True)
                print(f"{size}, {name}: animator fp32 {fps32:.2f} frames/s; default precision {fps_default:.2f} frames/s "
                      f"(PSNR vs fp32 {psnr(out32, out_default):.1f} dB); bf16 autocast {fps_bf16:.2f} frames/s "
                      f"(PSNR {psnr(out32, out_bf16):.1f} dB) ({'trained' if size == trained else 'random'} weights)")
            if args.steps:
                print(f"{size}: training step (ptg, batch 4) {train_seconds(size, args.steps):.2f} s")


if __name__ == "__main__":
    main()

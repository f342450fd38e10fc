"""The device check (issue 13): CUDA tests, animation frames/s, training steps/s -> one JSON file.

    scripts/device_check.sh            # = python scripts/device_check.py --out "${OUT:-./out/device_check}"

Parts, each in its own subprocess with a time cap (a crash or a hang costs only that part):

- ``tests``: ``pytest -m cuda tests/engine/test_cuda.py``;
- ``animate``: frames/s of random-weight paper-256 and of the bundled cpu-128 model (random weights
  when it is absent), keypoints + ``AnimationModel.animate_step`` with N driving frames per batch,
  fp32 / fp16 / bf16 autocast, channels-last or not, at the model's output size and at a 512x512
  output (the warped source at 512 with the generated frame filling occlusions, as
  ``engine/render.py`` renders), uint8 output copied back to the host; PSNR of each variant vs fp32;
- ``compile``: ``torch.compile`` (CUDA graphs: ``mode="reduce-overhead"``) against eager;
- ``train``: paper-256 ptg training steps/s at batch 20 under the trainer's autocast (bf16 on
  GPUs of compute capability >= 8.0), ``GeneratorObjective`` + discriminator + both Adam steps on
  random batches (data loading not included).

Without CUDA it says so in words, runs small CPU versions of the parts and exits 0.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
BUNDLED = REPO / "models" / "usanimator-ptg-cpu128.pt"
NATIVE = 512
# (part, seconds) on CUDA; the sum stays under the 8 minutes of the check.
CUDA_PLAN = (("tests", 150), ("animate", 130), ("compile", 110), ("train", 70))
CPU_PLAN = (("tests", 60), ("animate", 90), ("train", 90))


def environment() -> dict:
    from usanimator_app.engine.device import cpu_has_amx_bf16, cpu_has_fast_bf16, cuda_has_fast_bf16

    info = {"python": platform.python_version(), "torch": torch.__version__, "cuda": torch.cuda.is_available(),
            "cpu_avx512_bf16_or_amx": cpu_has_fast_bf16(), "cpu_amx": cpu_has_amx_bf16(), "cpu_threads": torch.get_num_threads()}
    if torch.cuda.is_available():
        device = torch.device("cuda")
        info.update(gpu=torch.cuda.get_device_name(device), capability=list(torch.cuda.get_device_capability(device)),
                    native_bf16=cuda_has_fast_bf16(device), cuda_version=torch.version.cuda,
                    memory_gib=round(torch.cuda.get_device_properties(device).total_memory / 2**30, 1))
    return info


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _precision(device: torch.device, name: str):
    if name == "fp32":
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=torch.float16 if name == "fp16" else torch.bfloat16)


def _models(device: torch.device) -> dict:
    """name -> AnimationModel in eval mode without its discriminator, on ``device``."""
    from usanimator_app.engine.checkpoint import load_model
    from usanimator_app.engine.config import make_config
    from usanimator_app.engine.model import AnimationModel

    torch.manual_seed(0)
    models = {"paper-256 ptg (random weights)": AnimationModel(make_config("ptg", "paper-256").model)}
    if BUNDLED.is_file():
        models["cpu-128 ptg (bundled model)"] = load_model(BUNDLED)[1]
    else:
        models["cpu-128 ptg (random weights)"] = AnimationModel(make_config("ptg", "cpu-128").model)
    for model in models.values():
        model.discriminator = None
        model.to(device).eval()
    return models


def _driving(count: int, size: int, device: torch.device) -> torch.Tensor:
    """(count, 1, size, size) smooth random frames shifted one pixel per frame, in [0, 1]."""
    generator = torch.Generator().manual_seed(0)
    base = torch.nn.functional.interpolate(torch.rand(1, 1, size // 8, size // 8, generator=generator), size=(size, size), mode="bicubic")
    base = (base - base.min()) / (base.max() - base.min())
    return torch.cat([torch.roll(base, shifts=i, dims=3) for i in range(count)]).to(device)


def _animator_step(model, source: torch.Tensor, source_native: torch.Tensor, native: bool):
    """A function: driving (N, 1, S, S) -> uint8 output on the host, (N, S, S) or (N, 512, 512)."""
    from usanimator_app.nets.blocks import sample
    from usanimator_app.nets.keypoint_detector import KeypointOutput

    source_kp = model.keypoint_detector(source)
    features = model.generator.encode(source)

    def step(driving: torch.Tensor) -> torch.Tensor:
        n = driving.shape[0]
        kp = KeypointOutput(*(t.expand(n, *t.shape[1:]) for t in source_kp))
        motion, generated = model.animate_step(source.expand(n, -1, -1, -1), features.expand(n, -1, -1, -1), kp,
                                               model.keypoint_detector(driving))
        frame = generated.prediction.float()
        if native:  # occlusion * warp(source at 512) + (1 - occlusion) * generated, all resized to 512
            grid = torch.nn.functional.interpolate(motion.deformation.permute(0, 3, 1, 2).float(), size=(NATIVE, NATIVE),
                                                   mode="bilinear", align_corners=True).permute(0, 2, 3, 1)
            occlusion = torch.nn.functional.interpolate(motion.occlusion.float(), size=(NATIVE, NATIVE), mode="bilinear",
                                                        align_corners=True)
            fill = torch.nn.functional.interpolate(frame, size=(NATIVE, NATIVE), mode="bilinear", align_corners=False)
            frame = occlusion * sample(source_native.expand(n, -1, -1, -1), grid) + (1 - occlusion) * fill
        return (frame[:, 0].clamp(0, 1) * 255 + 0.5).to(torch.uint8).cpu()

    return step


def _frames_per_second(step, driving: torch.Tensor, batch: int, device: torch.device, min_seconds: float) -> float:
    """Frames/s of ``step`` over batches of ``driving`` (after one warm-up pass), for >= min_seconds."""
    chunks = [driving[i:i + batch] for i in range(0, driving.shape[0] - batch + 1, batch)]
    step(chunks[0])
    _sync(device)
    frames, started = 0, time.perf_counter()
    while True:
        for chunk in chunks:
            step(chunk)
            frames += chunk.shape[0]
        _sync(device)
        if time.perf_counter() - started >= min_seconds:
            return frames / (time.perf_counter() - started)


def _psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    mse = float(((a.double() - b.double()) / 255.0).pow(2).mean())
    return float("inf") if mse == 0 else round(10 * float(torch.log10(torch.tensor(1.0 / mse))), 1)


def part_animate(device: torch.device, budget: float) -> dict:
    from usanimator_app.engine.device import cpu_has_amx_bf16, cuda_has_fast_bf16

    cuda = device.type == "cuda"
    started = time.perf_counter()
    batches = (1, 8, 32) if cuda else (1, 4)
    precisions = ["fp32", "fp16"] + (["bf16"] if cuda_has_fast_bf16(device) else []) if cuda else \
        ["fp32"] + (["bf16"] if cpu_has_amx_bf16() else [])
    rows = []
    for name, model in _models(device).items():
        size = model.config.image_size
        if not cuda and size > 128:
            rows.append({"model": name, "skipped": "too slow for this short CPU run; see benchmarks/bench_fomm_reference.py"})
            continue
        driving = _driving(64 if cuda else 8, size, device)
        source = driving[:1]
        source_native = torch.nn.functional.interpolate(source, size=(NATIVE, NATIVE), mode="bilinear", align_corners=False)
        with torch.inference_mode():
            reference = {native: _animator_step(model, source, source_native, native)(driving[:8]) for native in (False, True)}
        for channels_last in (False, True):
            model.to(memory_format=torch.channels_last if channels_last else torch.contiguous_format)
            layout = torch.channels_last if channels_last else torch.contiguous_format
            frames, src, src_native = (t.contiguous(memory_format=layout) for t in (driving, source, source_native))
            for precision in precisions:
                for native in (False, True):
                    for batch in batches:
                        row = {"model": name, "output": f"{NATIVE}x{NATIVE}" if native else f"{size}x{size} (model)",
                               "precision": precision, "channels_last": channels_last, "batch": batch}
                        if time.perf_counter() - started > budget:
                            rows.append({**row, "skipped": "time budget of this part spent"})
                            continue
                        with torch.inference_mode(), _precision(device, precision):
                            step = _animator_step(model, src, src_native, native)
                            check = torch.cat([step(frames[i:i + batch]) for i in range(0, 8, batch)])[:8]
                            fps = _frames_per_second(step, frames, batch, device, 1.0)
                        rows.append({**row, "frames_per_s": round(fps, 2), "psnr_vs_fp32_db": _psnr(check, reference[native])})
                        print(json.dumps(rows[-1]), flush=True)
    return {"rows": rows}


def part_compile(device: torch.device, budget: float) -> dict:
    from usanimator_app.engine.config import make_config
    from usanimator_app.engine.model import AnimationModel

    torch.manual_seed(0)
    model = AnimationModel(make_config("ptg", "paper-256").model)
    model.discriminator = None
    model = model.to(device).eval().to(memory_format=torch.channels_last)
    driving = _driving(64, 256, device).contiguous(memory_format=torch.channels_last)
    source = driving[:1]
    rows = []
    for batch in (32, 1):
        with torch.inference_mode(), _precision(device, "fp16"):
            step = _animator_step(model, source, source, native=False)
            eager = _frames_per_second(step, driving, batch, device, 1.0)
            compiled = torch.compile(step, mode="reduce-overhead")
            started = time.perf_counter()
            compiled(driving[:batch])
            compile_s = time.perf_counter() - started
            fps = _frames_per_second(compiled, driving, batch, device, 1.0)
        rows.append({"batch": batch, "precision": "fp16", "channels_last": True, "eager_frames_per_s": round(eager, 1),
                     "compiled_frames_per_s": round(fps, 1), "compile_seconds": round(compile_s, 1)})
        print(json.dumps(rows[-1]), flush=True)
    return {"rows": rows}


def part_train(device: torch.device, budget: float) -> dict:
    from usanimator_app.engine import losses as L
    from usanimator_app.engine.config import make_config
    from usanimator_app.engine.dataset import Batch
    from usanimator_app.engine.model import AnimationModel
    from usanimator_app.engine.perceptual import load_perceptual_backbone
    from usanimator_app.engine.tps import RandomTPS
    from usanimator_app.engine.trainer import GeneratorObjective, _autocast

    cuda = device.type == "cuda"
    size, batch_size, steps = ("paper-256", 20, 10) if cuda else ("cpu-128", 4, 2)
    config = make_config("ptg", size, batch_size=batch_size)
    torch.manual_seed(0)
    model = AnimationModel(config.model).to(device).train()
    backbone = load_perceptual_backbone()[0].to(device)
    objective = GeneratorObjective(model, backbone, config)
    train, weights = config.train, config.losses
    generator_params = [p for name, p in model.named_parameters() if not name.startswith("discriminator.")]
    optimizer_g = torch.optim.Adam(generator_params, lr=train.learning_rate, betas=train.adam_betas)
    optimizer_d = torch.optim.Adam(model.discriminator.parameters(), lr=train.learning_rate, betas=train.adam_betas)
    s, landmarks = config.model.image_size, config.model.num_landmarks

    used = []

    def step() -> float:
        batch = Batch(torch.rand(batch_size, 1, s, s, device=device), torch.rand(batch_size, 1, s, s, device=device),
                      torch.zeros(batch_size, landmarks, 2, device=device), torch.ones(batch_size, landmarks, dtype=torch.bool, device=device),
                      torch.zeros(batch_size, landmarks, 2, device=device), torch.ones(batch_size, landmarks, dtype=torch.bool, device=device))
        transform = RandomTPS.random(batch_size, train.tps_sigma_affine, train.tps_sigma_tps, train.tps_points, device=device)
        with _autocast(device):  # the trainer's step: generator side, then discriminator side
            terms, result = objective(batch, transform)
            used.append(torch.get_autocast_dtype(device.type) if torch.is_autocast_enabled(device.type) else torch.float32)
            model.discriminator.requires_grad_(False)
            fake = model.discriminator(result.generated.prediction)
            with torch.no_grad():
                real = model.discriminator(batch.driving)
            total = (terms["total_g"] + weights.generator_gan * L.generator_lsgan_loss(fake.logits.float())
                     + weights.feature_matching * L.feature_matching_loss([f.float() for f in real.features], [f.float() for f in fake.features]))
            model.discriminator.requires_grad_(True)
        optimizer_g.zero_grad(set_to_none=True)
        total.backward()
        optimizer_g.step()
        with _autocast(device):
            loss_d = weights.discriminator_gan * L.discriminator_lsgan_loss(
                model.discriminator(batch.driving).logits.float(), model.discriminator(result.generated.prediction.detach()).logits.float())
        optimizer_d.zero_grad(set_to_none=True)
        loss_d.backward()
        optimizer_d.step()
        return float(total.detach())

    step()
    _sync(device)
    started = time.perf_counter()
    losses = [step() for _ in range(steps)]
    _sync(device)
    seconds = time.perf_counter() - started
    return {"size": size, "batch": batch_size, "steps": steps, "autocast": str(used[-1]).replace("torch.", ""),
            "steps_per_s": round(steps / seconds, 3), "losses_finite": all(map(math.isfinite, losses))}


def part_tests(timeout: float) -> dict:
    command = [sys.executable, "-m", "pytest", "-q", "-rs", "-m", "cuda", "tests/engine/test_cuda.py", "-p", "no:cacheprovider"]
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=timeout)
    lines = done.stdout.strip().splitlines()
    return {"command": " ".join(command[1:]), "returncode": done.returncode, "summary": lines[-1] if lines else "",
            "output_tail": "\n".join(lines[-25:])}


def run_part(name: str, timeout: float, env: dict) -> dict:
    """One part in a subprocess with a time cap -> its JSON result (or why there is none)."""
    command = [sys.executable, str(Path(__file__).resolve()), "--part", name, "--budget", str(0.8 * timeout)]
    started = time.perf_counter()
    try:
        done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=timeout, env=env)
    except subprocess.TimeoutExpired as exc:
        partial = (exc.stdout or b"").decode(errors="replace") if isinstance(exc.stdout, bytes) else (exc.stdout or "")
        return {"error": f"timed out after {timeout:.0f} s", "partial_output": partial[-4000:]}
    result = {"seconds": round(time.perf_counter() - started, 1)}
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        return {**result, "error": f"exit code {done.returncode}", "stderr_tail": done.stderr[-3000:]}
    return {**result, **json.loads(lines[-1])}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(os.environ.get("OUT") or "out/device_check"))
    parser.add_argument("--part", choices=("animate", "compile", "train"), help=argparse.SUPPRESS)
    parser.add_argument("--budget", type=float, default=60.0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    sys.path.insert(0, str(REPO))
    cuda = torch.cuda.is_available()
    device = torch.device("cuda" if cuda else "cpu")
    if args.part:
        parts = {"animate": part_animate, "compile": part_compile, "train": part_train}
        print(json.dumps(parts[args.part](device, args.budget)))
        return 0
    results = {"started": time.strftime("%Y-%m-%d %H:%M:%S"), "environment": environment()}
    if not cuda:
        print("no CUDA: PyTorch sees no CUDA GPU here, so the CUDA tests skip and short CPU versions of the "
              "animation and training measurements run instead; the GPU figures are not measured.", flush=True)
        results["note"] = "no CUDA: CPU-only run; GPU figures not measured"
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / "device_check.json"
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    for name, timeout in CUDA_PLAN if cuda else CPU_PLAN:
        print(f"== {name} (at most {timeout} s)", flush=True)
        try:
            results[name] = part_tests(timeout) if name == "tests" else run_part(name, timeout, env)
        except subprocess.TimeoutExpired:
            results[name] = {"error": f"timed out after {timeout} s"}
        print(json.dumps(results[name])[:2000], flush=True)
        path.write_text(json.dumps(results, indent=1))
    print(f"results: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

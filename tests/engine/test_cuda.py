"""The CUDA path: fp16 animation, bf16 training, FID/FVD features on the GPU.

Marked ``cuda``; every test but the first skips without a CUDA GPU (``pytest -m cuda`` runs them,
``scripts/device_check.sh`` too).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from usanimator_app.engine import device as device_module
from usanimator_app.engine.checkpoint import save_checkpoint
from usanimator_app.engine.config import make_config
from usanimator_app.engine.model import AnimationModel
from usanimator_app.engine.pretrained import PretrainedUnavailable

from .conftest import moving_disc_clip

pytestmark = pytest.mark.cuda
needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU")
BUNDLED = Path(__file__).resolve().parents[2] / "models" / "usanimator-ptg-cpu128.pt"


def psnr(a: list[np.ndarray], b: list[np.ndarray]) -> float:
    mse = np.mean([(x.astype(np.float64) - y) ** 2 for x, y in zip(a, b)]) / 255.0**2
    return float("inf") if mse == 0 else float(10 * np.log10(1.0 / mse))


def test_bf16_only_on_compute_capability_8_or_newer(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    for capability, native in (((7, 5), False), ((8, 0), True), ((9, 0), True)):
        monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None, c=capability: c)
        assert device_module.cuda_has_fast_bf16(torch.device("cuda")) is native
    assert device_module.cuda_has_fast_bf16(torch.device("cpu")) is False


@needs_cuda
@pytest.mark.parametrize("size", ["cpu-128", "paper-256"])
def test_animator_fp16_on_cuda_matches_fp32_on_the_cpu(tmp_path, size):
    from usanimator_app.engine.animator import Animator

    config = make_config("ptg", size)
    torch.manual_seed(0)
    path = save_checkpoint(tmp_path / "m.pt", config, AnimationModel(config.model).eval(), step=0)
    frames, _ = moving_disc_clip(frames=6, size=config.model.image_size)
    reference = [r.output for r in Animator(path, device="cpu", fast_precision=False).animate(frames[0], list(frames))]
    fast = Animator(path, device="cuda", fast_precision=True)
    assert fast.device.type == "cuda"
    outputs = [r.output for r in fast.animate(frames[0], list(frames))]
    value = psnr(reference, outputs)
    print(f"{size}: CUDA fp16 vs CPU fp32 PSNR {value:.1f} dB")
    assert value >= 40.0


@needs_cuda
def test_bundled_model_fp16_on_cuda_matches_fp32_on_the_cpu():
    from usanimator_app.engine.animator import Animator

    frames, _ = moving_disc_clip(frames=6, size=128)
    reference = [r.output for r in Animator(BUNDLED, device="cpu", fast_precision=False).animate(frames[0], list(frames))]
    outputs = [r.output for r in Animator(BUNDLED, device="cuda", fast_precision=True).animate(frames[0], list(frames))]
    assert psnr(reference, outputs) >= 40.0


@needs_cuda
def test_training_steps_on_cuda_with_bf16_are_finite(tmp_path, tiny_dataset):
    from usanimator_app.engine.trainer import _autocast, train_steps

    device = torch.device("cuda")
    if not device_module.cuda_has_fast_bf16(device):
        pytest.skip("this GPU has no native bf16 (compute capability < 8.0)")
    assert _autocast(device).fast_dtype == torch.bfloat16
    config = make_config("ptg", "tiny", steps=3, batch_size=4, checkpoint_every=3, sample_every=0)
    reports = [r for r in train_steps(tiny_dataset, tmp_path / "run", config, device="cuda") if r.losses]
    assert [r.step for r in reports] == [1, 2, 3]
    assert all(np.isfinite(v) for r in reports for v in r.losses.values())


def _relative_error(got: np.ndarray, expected: np.ndarray) -> float:
    return float(np.linalg.norm(got - expected) / np.linalg.norm(expected))


@needs_cuda
def test_fid_features_on_cuda_match_the_cpu():
    from usanimator_app.evaluation.fid_inception import inception_features, load_fid_inception

    try:
        net = load_fid_inception()
    except PretrainedUnavailable as exc:
        pytest.skip(str(exc))
    frames = np.random.default_rng(0).integers(0, 256, (6, 96, 128), dtype=np.uint8)
    on_cpu = inception_features(frames, net, device="cpu")
    on_cuda = inception_features(frames, net, device="cuda")
    # cuDNN convolutions may use TF32 (10-bit mantissa): a relative error of ~1e-3 is expected.
    assert _relative_error(on_cuda, on_cpu) <= 1e-2


@needs_cuda
def test_i3d_features_on_cuda_match_the_cpu():
    from usanimator_app.evaluation.i3d import i3d_features, load_i3d

    try:
        net = load_i3d()
    except PretrainedUnavailable as exc:
        pytest.skip(str(exc))
    clips = np.random.default_rng(0).integers(0, 256, (1, 16, 64, 64), dtype=np.uint8)
    on_cpu = i3d_features(clips, net, device="cpu")
    on_cuda = i3d_features(clips, net, device="cuda")
    assert _relative_error(on_cuda, on_cpu) <= 1e-2

"""The animator's inference precision holds for every frame of a clip, not only the first (tiny random model).

bf16 autocast is forced here, whatever the CPU has: the animator chooses it itself only on CPUs with
AMX (``engine.device.inference_autocast``), and the point is that once chosen it stays on.
"""

from __future__ import annotations

import contextlib

import numpy as np
import pytest
import torch

import usanimator_app.engine.animator as animator_module
from usanimator_app.engine.animator import Animator
from usanimator_app.engine.checkpoint import save_checkpoint
from usanimator_app.engine.config import make_config
from usanimator_app.engine.model import AnimationModel
from tests.engine.conftest import moving_disc_clip


def forced_bf16(device, enabled=True):
    """``inference_autocast`` as it is on a CPU with AMX."""
    return torch.autocast("cpu", dtype=torch.bfloat16) if enabled else contextlib.nullcontext()


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    config = make_config("ptg", "tiny")
    return save_checkpoint(tmp_path_factory.mktemp("model") / "m.pt", config, AnimationModel(config.model), step=0)


def decoder_dtypes(animator: Animator, frames: np.ndarray) -> list[torch.dtype]:
    """The dtype of the content decoder's last convolution's output, once per animated frame."""
    seen: list[torch.dtype] = []
    hook = animator.model.generator.content_decoder.final.register_forward_hook(
        lambda module, inputs, output: seen.append(output.dtype)
    )
    try:
        results = list(animator.animate(frames[0], list(frames)))
    finally:
        hook.remove()
    assert len(results) == len(frames)
    return seen


def test_bf16_autocast_is_on_for_every_frame(checkpoint, monkeypatch):
    monkeypatch.setattr(animator_module, "inference_autocast", forced_bf16)
    frames = moving_disc_clip(frames=4, size=64)[0]
    assert decoder_dtypes(Animator(checkpoint, device="cpu"), frames) == [torch.bfloat16] * 4
    assert decoder_dtypes(Animator(checkpoint, device="cpu", fast_precision=False), frames) == [torch.float32] * 4


def test_bf16_frames_stay_close_to_float32(checkpoint, monkeypatch):
    frames = moving_disc_clip(frames=4, size=64)[0]
    reference = [r.output.astype(np.float64) for r in Animator(checkpoint, device="cpu", fast_precision=False).animate(frames[0], list(frames))]
    monkeypatch.setattr(animator_module, "inference_autocast", forced_bf16)
    fast = [r.output.astype(np.float64) for r in Animator(checkpoint, device="cpu").animate(frames[0], list(frames))]
    for a, b in zip(reference, fast, strict=True):
        mse = np.mean((a - b) ** 2) / 255.0**2
        assert 10 * np.log10(1.0 / max(mse, 1e-12)) >= 40.0

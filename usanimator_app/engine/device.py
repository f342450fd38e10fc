"""Device and precision choice: CUDA when present (or asked for), CPU otherwise, said in words."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path

import torch

from usanimator_app.core.errors import UserInputError

DEVICE_CHOICES = ("auto", "cuda", "cpu")


@dataclass(frozen=True)
class DeviceChoice:
    device: torch.device
    note: str  # one line for the user, e.g. "CUDA was requested but is not available; using the CPU"

    @property
    def label(self) -> str:
        if self.device.type == "cuda":
            return f"CUDA ({torch.cuda.get_device_name(self.device)})"
        return "CPU"


def choose_device(requested: str = "auto") -> DeviceChoice:
    """``auto`` | ``cuda`` | ``cpu`` -> the device to use and a sentence saying why."""
    if requested not in DEVICE_CHOICES:
        raise UserInputError(f"unknown device {requested!r}; choose one of {', '.join(DEVICE_CHOICES)}")
    has_cuda = torch.cuda.is_available()
    if requested == "cpu":
        return DeviceChoice(torch.device("cpu"), "using the CPU (as requested)")
    if has_cuda:
        return DeviceChoice(torch.device("cuda"), "using CUDA")
    if requested == "cuda":
        return DeviceChoice(torch.device("cpu"), "CUDA was requested but no CUDA GPU is available; using the CPU instead")
    return DeviceChoice(torch.device("cpu"), "no CUDA GPU found; using the CPU")


def cpu_has_fast_bf16() -> bool:
    """True when the CPU has native bfloat16 matrix instructions (AVX-512 BF16 or AMX)."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return " avx512_bf16" in flags or " amx_bf16" in flags


def cuda_has_fast_bf16(device: torch.device) -> bool:
    """True on CUDA GPUs with native bfloat16 (compute capability >= 8.0: Ampere and later).

    ``torch.cuda.is_bf16_supported()`` is also true on older GPUs that only emulate bf16 (slowly).
    """
    if device.type != "cuda" or not torch.cuda.is_available():
        return False
    major, _ = torch.cuda.get_device_capability(device)
    return major >= 8


def inference_autocast(device: torch.device, enabled: bool = True):
    """bf16 autocast on CPUs with native bf16, fp16 autocast on CUDA, else a no-op context."""
    if not enabled:
        return contextlib.nullcontext()
    if device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.float16)
    if cpu_has_fast_bf16():
        return torch.autocast("cpu", dtype=torch.bfloat16)
    return contextlib.nullcontext()

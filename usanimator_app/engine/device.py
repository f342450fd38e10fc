"""Device and precision choice: CUDA when present (or asked for), CPU otherwise, said in words.

The one definition of the device choices (``DEVICE_CHOICES``, their words and ``check_device``),
read by every command's ``--device`` and by the window. Torch is imported inside the functions that
need it, so the commands' parsers read the choices without loading torch.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from usanimator_app.core.errors import UserInputError

if TYPE_CHECKING:
    import torch

DEVICE_CHOICES = ("auto", "cuda", "cpu")
DEVICE_LABELS = {"auto": "Auto (CUDA when present)", "cuda": "CUDA", "cpu": "CPU"}  # as the window lists them
DEVICE_HELP = "auto (CUDA when present), cuda or cpu"


def check_device(requested: str) -> str:
    """``requested`` when it is one of ``DEVICE_CHOICES``; UserInputError naming them otherwise."""
    if requested not in DEVICE_CHOICES:
        raise UserInputError(f"unknown device {requested!r}; choose one of {', '.join(DEVICE_CHOICES)}")
    return requested


@dataclass(frozen=True)
class DeviceChoice:
    device: torch.device
    note: str  # one line for the user, e.g. "CUDA was requested but is not available; using the CPU"

    @property
    def label(self) -> str:
        import torch

        if self.device.type == "cuda":
            return f"CUDA ({torch.cuda.get_device_name(self.device)})"
        return "CPU"


def choose_device(requested: str = "auto") -> DeviceChoice:
    """``auto`` | ``cuda`` | ``cpu`` -> the device to use and a sentence saying why."""
    import torch

    check_device(requested)
    has_cuda = torch.cuda.is_available()
    if requested == "cpu":
        return DeviceChoice(torch.device("cpu"), "using the CPU (as requested)")
    if has_cuda:
        return DeviceChoice(torch.device("cuda"), "using CUDA")
    if requested == "cuda":
        return DeviceChoice(torch.device("cpu"), "CUDA was requested but no CUDA GPU is available; using the CPU instead")
    return DeviceChoice(torch.device("cpu"), "no CUDA GPU found; using the CPU")


def _cpu_flags() -> str:
    try:
        return Path("/proc/cpuinfo").read_text()
    except OSError:
        return ""


def cpu_has_fast_bf16() -> bool:
    """True when the CPU has native bfloat16 matrix instructions (AVX-512 BF16 or AMX)."""
    flags = _cpu_flags()
    return " avx512_bf16" in flags or " amx_bf16" in flags


def cpu_has_amx_bf16() -> bool:
    """True when the CPU has AMX bf16 tiles (Sapphire Rapids and later)."""
    return " amx_bf16" in _cpu_flags()


def cuda_has_fast_bf16(device: torch.device) -> bool:
    """True on CUDA GPUs with native bfloat16 (compute capability >= 8.0: Ampere and later).

    ``torch.cuda.is_bf16_supported()`` is also true on older GPUs that only emulate bf16 (slowly).
    """
    import torch

    if device.type != "cuda" or not torch.cuda.is_available():
        return False
    major, _ = torch.cuda.get_device_capability(device)
    return major >= 8


def inference_autocast(device: torch.device, enabled: bool = True):
    """fp16 autocast on CUDA, bf16 autocast on CPUs with AMX, else a no-op context (fp32).

    AVX-512 BF16 alone does not pay: on a 2-core Xeon with avx512_bf16 and no AMX, bf16 autocast
    animated at 0.58x / 0.62x (paper-256) and 0.94x / 0.52x (cpu-128) of the fp32 frame rate in two
    runs, and one 256-channel 3x3 convolution at 64x64 ran 1.7x slower in bf16 than in fp32. With
    AMX it pays: on a 2-core Xeon with AMX, that convolution ran 2.6-4.8x faster, the bundled model
    1.4-2.1x and paper-256 about 3x, within 51-58 dB PSNR of fp32 on real clips
    (benchmarks/bench_engine.py, bench_fomm_reference.py, docs/PERFORMANCE.md). Enter it around
    model calls, never across a ``yield`` of a generator decorated with ``torch.inference_mode``
    (that wrapper turns autocast off at each yield).
    """
    import torch

    if not enabled:
        return contextlib.nullcontext()
    if device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.float16)
    if cpu_has_amx_bf16():
        return torch.autocast("cpu", dtype=torch.bfloat16)
    return contextlib.nullcontext()

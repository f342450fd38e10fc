"""Occlusion-aware generator with two decoders (paper §2.2, Fig. 3).

encoder(source) -> features (B, F, H/2^d, W/2^d), computed once per source frame;
warp the features by the deformation field, multiply by the occlusion map, six residual blocks;
then a **content** decoder and (optionally) a **texture** decoder. Every upsampling layer of both
decoders also receives the displacement field (deformation minus identity, 2 channels) and the
occlusion map (1 channel), resized to its input resolution.

Range: content = sigmoid(.) in [0, 1]; texture = 0.5 * tanh(.) in [-0.5, 0.5] (a signed
high-frequency residual); frame = clamp(content + texture, 0, 1). With a single decoder (the FOMM
preset) the frame is the content image.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from usanimator_app.nets.blocks import (
    DownBlock2d,
    ResBlock2d,
    SameBlock2d,
    UpBlock2d,
    in_layout_of,
    make_coordinate_grid,
    sample,
)
from usanimator_app.nets.dense_motion import DenseMotionOutput

MOTION_MAP_CHANNELS = 3  # displacement x, displacement y, occlusion


class GeneratorOutput(NamedTuple):
    prediction: torch.Tensor  # (B, C, H, W) final frame in [0, 1]
    content: torch.Tensor  # (B, C, H, W) content image in [0, 1]
    texture: torch.Tensor | None  # (B, C, H, W) texture residual in [-0.5, 0.5]; None with one decoder


def motion_maps(motion: DenseMotionOutput, height: int, width: int) -> torch.Tensor:
    """Displacement (2 ch) and occlusion (1 ch) resized to (height, width): (B, 3, height, width)."""
    h, w = motion.deformation.shape[1:3]
    identity = make_coordinate_grid(h, w, motion.deformation.device, motion.deformation.dtype)
    displacement = (motion.deformation - identity).permute(0, 3, 1, 2)
    maps = torch.cat([displacement, motion.occlusion], dim=1)
    if (h, w) != (height, width):
        maps = F.interpolate(maps, size=(height, width), mode="bilinear", align_corners=False)
    return maps


class MotionAwareDecoder(nn.Module):
    """Up blocks that each see the motion maps; (B, F, h, w) -> (B, C, h*2^d, w*2^d) pre-activation."""

    def __init__(self, num_channels: int, block_expansion: int, max_features: int, num_up_blocks: int):
        super().__init__()
        self.up_blocks = nn.ModuleList()
        for i in reversed(range(num_up_blocks)):
            in_features = min(max_features, block_expansion * 2 ** (i + 1))
            out_features = min(max_features, block_expansion * 2**i)
            self.up_blocks.append(UpBlock2d(in_features + MOTION_MAP_CHANNELS, out_features))
        self.final = nn.Conv2d(block_expansion + MOTION_MAP_CHANNELS, num_channels, kernel_size=7, padding=3)

    def forward(self, features: torch.Tensor, motion: DenseMotionOutput) -> torch.Tensor:
        out = features
        for block in self.up_blocks:
            out = block(torch.cat([out, in_layout_of(motion_maps(motion, *out.shape[2:]), out)], dim=1))
        return self.final(torch.cat([out, in_layout_of(motion_maps(motion, *out.shape[2:]), out)], dim=1))


class Generator(nn.Module):
    """Source encoding + motion -> :class:`GeneratorOutput`."""

    def __init__(
        self,
        num_channels: int,
        block_expansion: int,
        max_features: int,
        num_down_blocks: int,
        num_bottleneck_blocks: int,
        dual_decoder: bool,
    ):
        super().__init__()
        self.first = SameBlock2d(num_channels, block_expansion, kernel_size=7)
        self.down_blocks = nn.ModuleList()
        for i in range(num_down_blocks):
            in_features = min(max_features, block_expansion * 2**i)
            out_features = min(max_features, block_expansion * 2 ** (i + 1))
            self.down_blocks.append(DownBlock2d(in_features, out_features))
        bottleneck_features = min(max_features, block_expansion * 2**num_down_blocks)
        self.bottleneck = nn.Sequential(*[ResBlock2d(bottleneck_features) for _ in range(num_bottleneck_blocks)])
        self.content_decoder = MotionAwareDecoder(num_channels, block_expansion, max_features, num_down_blocks)
        self.texture_decoder = (
            MotionAwareDecoder(num_channels, block_expansion, max_features, num_down_blocks) if dual_decoder else None
        )

    def encode(self, source_frame: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) -> source features (B, F, H/2^d, W/2^d); independent of the driving frame."""
        out = self.first(source_frame)
        for block in self.down_blocks:
            out = block(out)
        return out

    def forward(self, source_features: torch.Tensor, motion: DenseMotionOutput) -> GeneratorOutput:
        height, width = source_features.shape[2:]
        deformation = motion.deformation
        if deformation.shape[1:3] != (height, width):
            deformation = F.interpolate(
                deformation.permute(0, 3, 1, 2), size=(height, width), mode="bilinear", align_corners=False
            ).permute(0, 2, 3, 1)
        # Sampled in float32 (coordinates need it), then back to the features' dtype and layout: under
        # bf16 autocast the bottleneck's residual stream then stays bf16 instead of widening to float32.
        warped = in_layout_of(sample(source_features, deformation), source_features)
        occlusion = motion.occlusion
        if occlusion.shape[2:] != (height, width):
            occlusion = F.interpolate(occlusion, size=(height, width), mode="bilinear", align_corners=False)
        features = self.bottleneck(warped * occlusion.to(warped.dtype))
        content = torch.sigmoid(self.content_decoder(features, motion).float())
        if self.texture_decoder is None:
            return GeneratorOutput(content, content, None)
        texture = 0.5 * torch.tanh(self.texture_decoder(features, motion).float())
        return GeneratorOutput(torch.clamp(content + texture, 0.0, 1.0), content, texture)

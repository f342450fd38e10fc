"""Building blocks shared by the networks (after FOMM, Siarohin et al. 2019).

Coordinates follow ``torch.nn.functional.grid_sample``: (x, y) in [-1, 1], x to the right,
y down, -1 and 1 at the centres of the border pixels (``align_corners=True`` semantics of
``make_coordinate_grid``; grids are sampled with ``align_corners=True`` too).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


def make_coordinate_grid(height: int, width: int, device=None, dtype=torch.float32) -> torch.Tensor:
    """Pixel-centre coordinates of an image: (H, W, 2), [..., 0] = x, [..., 1] = y, both in [-1, 1]."""
    ys = torch.linspace(-1.0, 1.0, height, device=device, dtype=dtype)
    xs = torch.linspace(-1.0, 1.0, width, device=device, dtype=dtype)
    grid_y, grid_x = torch.meshgrid(ys, xs, indexing="ij")
    return torch.stack([grid_x, grid_y], dim=-1)


def sample(image: torch.Tensor, grid: torch.Tensor, padding_mode: str = "zeros") -> torch.Tensor:
    """Bilinear sampling of (B, C, H, W) at grid (B, h, w, 2) -> (B, C, h, w), always in float32.

    Sampling coordinates need float32: bf16 would round them to ~1 pixel at 256 px.
    """
    return F.grid_sample(image.float(), grid.float(), mode="bilinear", padding_mode=padding_mode, align_corners=True)


def in_layout_of(x: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
    """``x`` (B, C, H, W) in ``reference``'s dtype and memory format (channels-last or not).

    Joining or adding tensors of different layouts takes a slow path (3x for an add of two
    256x64x64 bf16 maps), and under bf16 autocast a float32 operand widens the result to float32.
    """
    channels_last = reference.is_contiguous(memory_format=torch.channels_last) and not reference.is_contiguous()
    return x.to(dtype=reference.dtype, memory_format=torch.channels_last if channels_last else torch.contiguous_format)


def keypoints_to_gaussians(keypoints: torch.Tensor, height: int, width: int, variance: float) -> torch.Tensor:
    """Gaussian blobs at keypoints (B, K, 2) -> (B, K, H, W), peak 1 (FOMM's kp2gaussian)."""
    grid = make_coordinate_grid(height, width, keypoints.device, keypoints.dtype)  # (H, W, 2)
    diff = grid[None, None] - keypoints[:, :, None, None, :]  # (B, K, H, W, 2)
    return torch.exp(-0.5 * (diff**2).sum(-1) / variance)


def heatmap_to_keypoints(heatmap: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Soft-argmax of probability maps (B, K, H, W) (each summing to 1) -> (B, K, 2) and the maps."""
    height, width = heatmap.shape[2:]
    grid = make_coordinate_grid(height, width, heatmap.device, heatmap.dtype)
    keypoints = (heatmap[..., None] * grid[None, None]).sum(dim=(2, 3))
    return keypoints, heatmap


class ResBlock2d(nn.Module):
    """Pre-activation residual block keeping resolution: x + conv(relu(bn(conv(relu(bn(x))))))."""

    def __init__(self, channels: int, kernel_size: int = 3):
        super().__init__()
        padding = kernel_size // 2
        self.norm1 = nn.BatchNorm2d(channels)
        self.conv1 = nn.Conv2d(channels, channels, kernel_size, padding=padding)
        self.norm2 = nn.BatchNorm2d(channels)
        self.conv2 = nn.Conv2d(channels, channels, kernel_size, padding=padding)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv1(F.relu(self.norm1(x)))
        out = self.conv2(F.relu(self.norm2(out)))
        return x + out


class UpBlock2d(nn.Module):
    """Nearest x2 upsampling, conv, batch norm, ReLU: (B, Cin, H, W) -> (B, Cout, 2H, 2W)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size, padding=kernel_size // 2)
        self.norm = nn.BatchNorm2d(out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.interpolate(x, scale_factor=2.0, mode="nearest")
        return F.relu(self.norm(self.conv(x)))


class DownBlock2d(nn.Module):
    """Conv, batch norm, ReLU, 2x2 average pool: (B, Cin, H, W) -> (B, Cout, H/2, W/2)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size, padding=kernel_size // 2)
        self.norm = nn.BatchNorm2d(out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.avg_pool2d(F.relu(self.norm(self.conv(x))), kernel_size=2)


class SameBlock2d(nn.Module):
    """Conv, batch norm, ReLU at the same resolution."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size, padding=kernel_size // 2)
        self.norm = nn.BatchNorm2d(out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.norm(self.conv(x)))


class Hourglass(nn.Module):
    """U-Net with ``num_blocks`` down and up blocks; output (B, out_channels, H, W).

    ``out_channels`` = ``block_expansion + in_channels`` (the last up block's output joined with the input).
    """

    def __init__(self, block_expansion: int, in_channels: int, num_blocks: int, max_features: int):
        super().__init__()
        self.down_blocks = nn.ModuleList()
        channels = [in_channels]
        for i in range(num_blocks):
            out = min(max_features, block_expansion * 2 ** (i + 1))
            self.down_blocks.append(DownBlock2d(channels[-1], out))
            channels.append(out)
        self.up_blocks = nn.ModuleList()
        current = channels[-1]
        for i in reversed(range(num_blocks)):
            out = min(max_features, block_expansion * 2**i)
            self.up_blocks.append(UpBlock2d(current, out))
            current = out + channels[i]
        self.out_channels = current

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = [x]
        for block in self.down_blocks:
            skips.append(block(skips[-1]))
        out = skips.pop()
        for block in self.up_blocks:
            out = block(out)
            out = torch.cat([out, in_layout_of(skips.pop(), out)], dim=1)
        return out


class AntiAliasDownsample(nn.Module):
    """Gaussian blur then subsampling by ``scale`` (< 1): (B, C, H, W) -> (B, C, H*scale, W*scale)."""

    def __init__(self, channels: int, scale: float):
        super().__init__()
        self.scale = scale
        self.channels = channels
        if scale == 1.0:
            self.register_buffer("kernel", torch.ones(1, 1, 1, 1), persistent=False)
            return
        sigma = (1.0 / scale - 1.0) / 2.0
        size = 2 * round(sigma * 4) + 1
        coords = torch.arange(size, dtype=torch.float32) - size // 2
        gauss = torch.exp(-(coords**2) / (2 * sigma**2))
        kernel = torch.outer(gauss, gauss)
        kernel = kernel / kernel.sum()
        self.register_buffer("kernel", kernel.expand(channels, 1, size, size).contiguous(), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.scale == 1.0:
            return x
        pad = self.kernel.shape[-1] // 2
        x = F.pad(x, (pad, pad, pad, pad), mode="reflect")
        x = F.conv2d(x, self.kernel.to(x.dtype), groups=self.channels)
        step = int(round(1.0 / self.scale))
        return x[:, :, ::step, ::step] if math.isclose(1.0 / self.scale, step) else F.interpolate(
            x, scale_factor=self.scale, mode="bilinear", align_corners=False
        )

"""Dense motion network (paper §2.1, FOMM §3.2): keypoints -> deformation field and occlusion map.

For each of the N = K + L motion points (self-supervised and anatomical) the local first-order
motion is  T(z) = p_S + J_S J_D^{-1} (z - p_D)  (z a driving-frame coordinate); together with the
identity (background) they give N + 1 candidate sampling grids. A U-Net sees the difference of
Gaussian keypoint heatmaps and the source warped by each candidate, and predicts soft masks that
blend the candidates into one deformation field, plus an occlusion map.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from usanimator_app.nets.blocks import AntiAliasDownsample, Hourglass, keypoints_to_gaussians, make_coordinate_grid, sample
from usanimator_app.nets.keypoint_detector import KeypointOutput


class DenseMotionOutput(NamedTuple):
    deformation: torch.Tensor  # (B, h, w, 2) sampling grid into the source, (x, y) in [-1, 1]
    occlusion: torch.Tensor  # (B, 1, h, w) in [0, 1]; 1 = visible in the source
    masks: torch.Tensor  # (B, N + 1, h, w) softmax weights of background + each motion point


def sparse_motions(height: int, width: int, source: KeypointOutput, driving: KeypointOutput) -> torch.Tensor:
    """Candidate sampling grids (B, N + 1, h, w, 2): identity, then one per motion point."""
    points_source = source.motion_points()  # (B, N, 2)
    points_driving = driving.motion_points()
    batch, count, _ = points_source.shape
    identity = make_coordinate_grid(height, width, points_source.device, points_source.dtype)[None, None]
    relative = identity - points_driving[:, :, None, None, :]  # z - p_D: (B, N, h, w, 2)
    affine = source.jacobians @ torch.inverse(driving.jacobians)  # J_S J_D^{-1}: (B, N, 2, 2)
    relative = torch.einsum("bnij,bnhwj->bnhwi", affine, relative)
    driving_to_source = relative + points_source[:, :, None, None, :]
    return torch.cat([identity.expand(batch, 1, height, width, 2), driving_to_source], dim=1)


class DenseMotionNetwork(nn.Module):
    """(source (B, C, H, W), source and driving keypoints) -> :class:`DenseMotionOutput` at H*scale."""

    def __init__(
        self,
        num_channels: int,
        num_points: int,
        block_expansion: int,
        max_features: int,
        num_blocks: int,
        scale_factor: float,
        kp_variance: float = 0.01,
    ):
        super().__init__()
        self.kp_variance = kp_variance
        self.down = AntiAliasDownsample(num_channels, scale_factor)
        in_channels = (num_points + 1) * (num_channels + 1)
        self.hourglass = Hourglass(block_expansion, in_channels, num_blocks, max_features)
        self.mask_head = nn.Conv2d(self.hourglass.out_channels, num_points + 1, kernel_size=7, padding=3)
        self.occlusion_head = nn.Conv2d(self.hourglass.out_channels, 1, kernel_size=7, padding=3)

    def forward(self, source_frame: torch.Tensor, source: KeypointOutput, driving: KeypointOutput) -> DenseMotionOutput:
        frame = self.down(source_frame)
        batch, channels, height, width = frame.shape
        heatmaps = keypoints_to_gaussians(driving.motion_points(), height, width, self.kp_variance) - keypoints_to_gaussians(
            source.motion_points(), height, width, self.kp_variance
        )
        heatmaps = torch.cat([heatmaps.new_zeros(batch, 1, height, width), heatmaps], dim=1)  # (B, N+1, h, w)
        grids = sparse_motions(height, width, source, driving)  # (B, N+1, h, w, 2)
        candidates = grids.shape[1]
        repeated = frame[:, None].expand(batch, candidates, channels, height, width).reshape(-1, channels, height, width)
        warped = sample(repeated, grids.reshape(-1, height, width, 2)).view(batch, candidates, channels, height, width)
        net_input = torch.cat([heatmaps[:, :, None].to(warped.dtype), warped], dim=2).view(batch, -1, height, width)
        features = self.hourglass(net_input)
        masks = F.softmax(self.mask_head(features).float(), dim=1)
        deformation = (grids * masks[..., None]).sum(dim=1)
        occlusion = torch.sigmoid(self.occlusion_head(features).float())
        return DenseMotionOutput(deformation, occlusion, masks)

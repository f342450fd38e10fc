"""Weakly-supervised keypoint detector (paper §2.1, FOMM's detector plus anatomical heads).

One hourglass on a downscaled frame feeds three heads:

- ``num_kp`` self-supervised keypoints: softmax(heatmap / temperature), soft-argmax -> (x, y);
- ``num_landmarks`` anatomical keypoints (e.g. symphysis lower edge, bladder neck): the same
  temperature softmax gives a heatmap (a probability map) that L_key (Eq. 4) pulls towards a
  Gaussian at the annotation, and its soft-argmax is the landmark;
- a 2x2 Jacobian per keypoint (self-supervised and anatomical), each a heatmap-weighted average of
  a per-pixel Jacobian map (FOMM's first-order motion).
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from usanimator_app.nets.blocks import AntiAliasDownsample, Hourglass, heatmap_to_keypoints


class KeypointOutput(NamedTuple):
    """Keypoints of a batch of frames; coordinates (x, y) in [-1, 1]."""

    keypoints: torch.Tensor  # (B, K, 2) self-supervised
    jacobians: torch.Tensor  # (B, K + L, 2, 2) for keypoints then landmarks
    landmarks: torch.Tensor  # (B, L, 2) anatomical (L may be 0)
    landmark_heatmaps: torch.Tensor  # (B, L, h, w) probability maps, each summing to 1 (L_key's input)

    def motion_points(self) -> torch.Tensor:
        """All points that drive the motion: (B, K + L, 2)."""
        return torch.cat([self.keypoints, self.landmarks], dim=1)


class KeypointDetector(nn.Module):
    """Frame (B, C, H, W) in [0, 1] -> :class:`KeypointOutput`."""

    def __init__(
        self,
        num_channels: int,
        num_kp: int,
        num_landmarks: int,
        block_expansion: int,
        max_features: int,
        num_blocks: int,
        scale_factor: float,
        temperature: float,
    ):
        super().__init__()
        self.num_kp = num_kp
        self.num_landmarks = num_landmarks
        self.temperature = temperature
        self.down = AntiAliasDownsample(num_channels, scale_factor)
        self.hourglass = Hourglass(block_expansion, num_channels, num_blocks, max_features)
        features = self.hourglass.out_channels
        self.keypoint_head = nn.Conv2d(features, num_kp, kernel_size=7, padding=3)
        self.landmark_head = nn.Conv2d(features, num_landmarks, kernel_size=7, padding=3) if num_landmarks else None
        num_points = num_kp + num_landmarks
        self.jacobian_head = nn.Conv2d(features, 4 * num_points, kernel_size=7, padding=3)
        # Start every Jacobian at the identity (FOMM's initialisation).
        nn.init.zeros_(self.jacobian_head.weight)
        with torch.no_grad():
            self.jacobian_head.bias.copy_(torch.tensor([1.0, 0.0, 0.0, 1.0]).repeat(num_points))

    def _softmax(self, logits: torch.Tensor) -> torch.Tensor:
        """(B, K, h, w) -> probability maps summing to 1 per keypoint."""
        batch, count, height, width = logits.shape
        flat = (logits.float() / self.temperature).view(batch, count, -1)
        return F.softmax(flat, dim=2).view(batch, count, height, width)

    def forward(self, frame: torch.Tensor) -> KeypointOutput:
        features = self.hourglass(self.down(frame))
        kp_probs = self._softmax(self.keypoint_head(features))
        keypoints, _ = heatmap_to_keypoints(kp_probs)
        batch, _, height, width = features.shape
        if self.landmark_head is not None:
            landmark_heatmaps = self._softmax(self.landmark_head(features))
            landmarks, _ = heatmap_to_keypoints(landmark_heatmaps)
            all_probs = torch.cat([kp_probs, landmark_heatmaps], dim=1)
        else:
            landmark_heatmaps = features.new_zeros(batch, 0, height, width, dtype=torch.float32)
            landmarks = keypoints.new_zeros(batch, 0, 2)
            all_probs = kp_probs
        jacobian_map = self.jacobian_head(features).float().view(batch, -1, 4, height, width)
        jacobians = (jacobian_map * all_probs[:, :, None]).sum(dim=(3, 4)).view(batch, -1, 2, 2)
        return KeypointOutput(keypoints, jacobians, landmarks, landmark_heatmaps)

"""Random affine + thin-plate-spline (TPS) transforms for the equivariance losses (Eq. 1-2).

A transform T maps coordinates p = (x, y) in [-1, 1]:
    T(p) = A p + b + f(p) (1, 1),     f(p) = sum_c w_c r_c^2 log(r_c + eps),  r_c = |p - c|_1
with control points c on a regular grid (FOMM's TPS, whose radial term is added to x and y alike).
Its Jacobian is analytic:
    dT/dp = A + (1, 1)^T grad f(p),   grad f = sum_c w_c (2 r_c log(r_c + eps) + r_c^2 / (r_c + eps)) sign(p - c).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from usanimator_app.nets.blocks import make_coordinate_grid

EPS = 1e-6


class RandomTPS:
    """A batch of B random transforms (affine noise ``sigma_affine``, TPS weights ``sigma_tps``)."""

    def __init__(self, affine: torch.Tensor, control_points: torch.Tensor, control_weights: torch.Tensor):
        self.affine = affine  # (B, 2, 3): [A | b]
        self.control_points = control_points  # (P, 2)
        self.control_weights = control_weights  # (B, P)

    @classmethod
    def random(cls, batch: int, sigma_affine: float, sigma_tps: float, points: int, generator=None, device=None) -> "RandomTPS":
        noise = torch.randn(batch, 2, 3, generator=generator) * sigma_affine
        affine = noise + torch.eye(2, 3)[None]
        control_points = make_coordinate_grid(points, points).view(-1, 2)
        weights = torch.randn(batch, points * points, generator=generator) * sigma_tps
        return cls(affine.to(device), control_points.to(device), weights.to(device))

    def warp_points(self, points: torch.Tensor) -> torch.Tensor:
        """(B, N, 2) -> T(points) (B, N, 2)."""
        linear, shift = self.affine[:, :, :2], self.affine[:, :, 2]
        warped = points @ linear.transpose(1, 2) + shift[:, None, :]
        distances = (points[:, :, None, :] - self.control_points[None, None]).abs().sum(-1)  # (B, N, P)
        radial = (distances**2 * torch.log(distances + EPS) * self.control_weights[:, None, :]).sum(-1)
        return warped + radial[..., None]

    def jacobian(self, points: torch.Tensor) -> torch.Tensor:
        """dT/dp at points (B, N, 2) -> (B, N, 2, 2) (row = output coordinate)."""
        offsets = points[:, :, None, :] - self.control_points[None, None]  # (B, N, P, 2)
        distances = offsets.abs().sum(-1)
        slope = 2 * distances * torch.log(distances + EPS) + distances**2 / (distances + EPS)
        grad_f = (self.control_weights[:, None, :, None] * slope[..., None] * torch.sign(offsets)).sum(2)  # (B, N, 2)
        linear = self.affine[:, None, :, :2]
        return linear + grad_f[:, :, None, :].expand(-1, -1, 2, -1)

    def warp_frame(self, frame: torch.Tensor) -> torch.Tensor:
        """Y = X o T: the frame (B, C, H, W) resampled at T(p) for every pixel p (reflection padding).

        A keypoint at q in Y therefore corresponds to T(q) in X: the equivariance check of Eq. 1
        compares the keypoints of X with T(keypoints of Y).
        """
        batch, _, height, width = frame.shape
        grid = make_coordinate_grid(height, width, frame.device, frame.dtype).view(1, -1, 2).expand(batch, -1, -1)
        grid = self.warp_points(grid).view(batch, height, width, 2)
        return F.grid_sample(frame, grid, mode="bilinear", padding_mode="reflection", align_corners=True)

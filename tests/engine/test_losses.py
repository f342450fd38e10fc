"""The paper's losses against known cases, and the TPS transform against a hand-computed case."""

import math

import torch

from usanimator_app.engine import losses as L
from usanimator_app.engine.tps import EPS, RandomTPS


def hand_tps() -> RandomTPS:
    """A = [[1.1, 0.2], [-0.1, 0.9]], b = (0.05, -0.02); one control point c = (0, 0), weight w = 0.3."""
    affine = torch.tensor([[[1.1, 0.2, 0.05], [-0.1, 0.9, -0.02]]], dtype=torch.float64)
    return RandomTPS(affine, torch.zeros(1, 2, dtype=torch.float64), torch.tensor([[0.3]], dtype=torch.float64))


def test_tps_against_hand_computation():
    transform = hand_tps()
    p = torch.tensor([[[0.5, -0.25]]], dtype=torch.float64)
    r = 0.75  # |0.5| + |-0.25|
    f = 0.3 * r**2 * math.log(r + EPS)
    expected = torch.tensor([[[1.1 * 0.5 + 0.2 * -0.25 + 0.05 + f, -0.1 * 0.5 + 0.9 * -0.25 - 0.02 + f]]], dtype=torch.float64)
    torch.testing.assert_close(transform.warp_points(p), expected)
    slope = 0.3 * (2 * r * math.log(r + EPS) + r**2 / (r + EPS))
    grad_f = [slope * 1.0, slope * -1.0]  # sign(p - c)
    expected_jacobian = torch.tensor([[[[1.1 + grad_f[0], 0.2 + grad_f[1]], [-0.1 + grad_f[0], 0.9 + grad_f[1]]]]], dtype=torch.float64)
    torch.testing.assert_close(transform.jacobian(p), expected_jacobian)


def test_tps_jacobian_matches_autograd():
    transform = RandomTPS.random(3, 0.1, 0.05, 4, torch.Generator().manual_seed(1))
    points = (torch.rand(3, 5, 2) * 1.8 - 0.9).requires_grad_(True)
    warped = transform.warp_points(points)
    rows = [torch.autograd.grad(warped[..., i].sum(), points, retain_graph=True)[0] for i in range(2)]
    torch.testing.assert_close(transform.jacobian(points.detach()), torch.stack(rows, dim=-2), rtol=1e-4, atol=1e-5)


def test_warp_frame_moves_content_as_warp_points_says():
    """A bright dot at T(q) in X appears at q in Y = X o T (the relation Eq. 1 relies on)."""
    transform = hand_tps()
    transform = RandomTPS(transform.affine.float(), transform.control_points.float(), transform.control_weights.float())
    size = 65
    q = torch.tensor([[[0.25, 0.5]]])
    target = transform.warp_points(q)[0, 0]
    yy, xx = torch.meshgrid(torch.linspace(-1, 1, size), torch.linspace(-1, 1, size), indexing="ij")
    frame = torch.exp(-((xx - target[0]) ** 2 + (yy - target[1]) ** 2) / (2 * 0.03**2))[None, None]
    warped = transform.warp_frame(frame)[0, 0]
    peak = torch.nonzero(warped == warped.max())[0].float()
    found = peak.flip(0) / (size - 1) * 2 - 1
    assert (found - q[0, 0]).abs().max() < 2.5 / (size - 1)


def test_equivariance_losses_vanish_for_exact_predictions():
    transform = RandomTPS.random(2, 0.1, 0.02, 5, torch.Generator().manual_seed(3))
    keypoints_y = torch.rand(2, 6, 2) * 1.6 - 0.8
    jacobians_y = torch.eye(2).repeat(2, 6, 1, 1) + 0.1 * torch.randn(2, 6, 2, 2)
    keypoints_x = transform.warp_points(keypoints_y)  # what an equivariant detector finds on X
    jacobians_x = transform.jacobian(keypoints_y) @ jacobians_y
    assert L.equivariance_value_loss(keypoints_x, keypoints_y, transform) < 1e-6
    assert L.equivariance_jacobian_loss(jacobians_x, keypoints_y, jacobians_y, transform) < 1e-5
    assert L.equivariance_value_loss(keypoints_x + 0.1, keypoints_y, transform) > 0.09


def test_keypoint_loss_ignores_unannotated_samples():
    heatmaps = torch.rand(3, 2, 16, 16, requires_grad=True)
    targets = torch.zeros(3, 2, 2)
    nothing = torch.zeros(3, 2, dtype=torch.bool)
    loss = L.keypoint_heatmap_loss(heatmaps, targets, nothing, sigma=0.1)
    assert loss.item() == 0.0
    loss.backward()
    assert heatmaps.grad.abs().sum() == 0
    one = nothing.clone()
    one[1, 0] = True
    heatmaps.grad = None
    L.keypoint_heatmap_loss(heatmaps, targets, one, sigma=0.1).backward()
    touched = heatmaps.grad.abs().sum(dim=(2, 3)) > 0
    assert touched.tolist() == one.tolist()


def test_keypoint_loss_is_zero_on_the_target_heatmap():
    from usanimator_app.nets.blocks import keypoints_to_gaussians

    targets = torch.tensor([[[0.2, -0.3], [0.5, 0.5]]])
    maps = keypoints_to_gaussians(targets, 32, 32, variance=0.1**2)
    maps = maps / maps.sum(dim=(2, 3), keepdim=True)
    annotated = torch.ones(1, 2, dtype=torch.bool)
    assert L.keypoint_heatmap_loss(maps, targets, annotated, sigma=0.1) < 1e-5
    # A map one pixel off costs clearly more; Eq. 4 is the L2 norm of the difference per map.
    shifted = torch.roll(maps, shifts=1, dims=3)
    expected = ((shifted - maps) ** 2).sum(dim=(2, 3)).sqrt().mean()
    assert torch.isclose(L.keypoint_heatmap_loss(shifted, targets, annotated, sigma=0.1), expected, rtol=1e-4)
    assert expected > 0.01


def test_reconstruction_losses_and_gan_losses():
    d = torch.rand(2, 1, 32, 32)
    assert L.reconstruction_l1_loss(d, d, (1.0, 0.5, 0.25)) == 0
    torch.testing.assert_close(L.reconstruction_l1_loss(d, d + 0.1, (1.0, 0.5)), torch.tensor(0.2), rtol=1e-4, atol=1e-5)
    backbone = lambda x: [x, x * 2]  # noqa: E731 - a stand-in backbone with two "layers"
    torch.testing.assert_close(L.reconstruction_vgg_loss(d, d + 0.1, (1.0,), backbone), torch.tensor(0.3), rtol=1e-4, atol=1e-5)
    ones, zeros = torch.ones(2, 1, 4, 4), torch.zeros(2, 1, 4, 4)
    assert L.generator_lsgan_loss(ones) == 0 and L.generator_lsgan_loss(zeros) == 1
    assert L.discriminator_lsgan_loss(ones, zeros) == 0 and L.discriminator_lsgan_loss(zeros, ones) == 2
    assert L.feature_matching_loss([d, d], [d, d + 0.5]) == 0.5


def test_tissue_area_loss_spares_shear_and_mild_stretch_and_charges_a_crush():
    from usanimator_app.nets.blocks import make_coordinate_grid

    identity = make_coordinate_grid(32, 32, torch.device("cpu"), torch.float32)[None]
    assert L.tissue_area_loss(identity).item() == 0.0
    shear = identity.clone()
    shear[..., 0] = shear[..., 0] + 0.8 * shear[..., 1]  # sliding: det J = 1
    stretch = identity * 1.5  # area x 2.25, inside the band
    assert L.tissue_area_loss(shear).abs().item() < 1e-6 and L.tissue_area_loss(stretch).item() == 0.0
    crush = (identity * 0.3).requires_grad_()  # area x 0.09 < 0.35
    loss = L.tissue_area_loss(crush)
    assert math.isclose(loss.item(), math.log(0.35) - math.log(0.09), rel_tol=1e-3)
    loss.backward()
    assert (crush.grad * crush.detach()).sum() < 0  # the gradient step widens the crushed field

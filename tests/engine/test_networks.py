"""Shapes and value ranges of every network output; gradients reach every trainable parameter."""

import pytest
import torch

from usanimator_app.engine.config import PRESETS, make_config
from usanimator_app.engine.model import AnimationModel


@pytest.mark.parametrize("preset", PRESETS)
def test_output_shapes_and_ranges(preset):
    config = make_config(preset, "tiny")
    model = AnimationModel(config.model)
    size, kp, lm = config.model.image_size, config.model.num_kp, config.model.num_landmarks
    source, driving = torch.rand(2, 1, size, size), torch.rand(2, 1, size, size)
    result = model(source, driving)
    for k in (result.source_kp, result.driving_kp):
        assert k.keypoints.shape == (2, kp, 2) and k.keypoints.abs().max() <= 1.0
        assert k.landmarks.shape == (2, lm, 2) and (lm == 0 or k.landmarks.abs().max() <= 1.0)
        assert k.jacobians.shape == (2, kp + lm, 2, 2)
        assert k.landmark_heatmaps.shape[:2] == (2, lm)
        if lm:
            assert torch.allclose(k.landmark_heatmaps.sum(dim=(2, 3)), torch.ones(2, lm), atol=1e-5)
    motion = result.motion
    h, w = motion.deformation.shape[1:3]
    assert motion.deformation.shape == (2, h, w, 2)
    assert motion.occlusion.shape == (2, 1, h, w)
    assert 0.0 <= motion.occlusion.min() and motion.occlusion.max() <= 1.0
    assert motion.masks.shape == (2, kp + lm + 1, h, w)
    torch.testing.assert_close(motion.masks.sum(1), torch.ones(2, h, w))
    generated = result.generated
    assert generated.prediction.shape == (2, 1, size, size)
    assert 0.0 <= generated.prediction.min() and generated.prediction.max() <= 1.0
    assert 0.0 <= generated.content.min() and generated.content.max() <= 1.0
    if config.model.dual_decoder:
        assert generated.texture.abs().max() <= 0.5
    else:
        assert generated.texture is None
    if config.model.use_gan:
        out = model.discriminator(generated.prediction)
        assert out.logits.shape[0] == 2 and out.logits.shape[1] == 1
        assert len(out.features) == config.model.disc_num_blocks - 1
    else:
        assert model.discriminator is None


def test_initial_jacobians_are_identity():
    config = make_config("ptg", "tiny")
    model = AnimationModel(config.model)
    kp = model.keypoint_detector(torch.rand(1, 1, 64, 64))
    torch.testing.assert_close(kp.jacobians, torch.eye(2).expand_as(kp.jacobians))


@pytest.mark.parametrize("preset", ["fomm", "ptg"])
def test_gradients_reach_every_parameter(preset):
    config = make_config(preset, "tiny")
    model = AnimationModel(config.model)
    size = config.model.image_size
    result = model(torch.rand(2, 1, size, size), torch.rand(2, 1, size, size))
    loss = result.generated.prediction.mean() + (result.source_kp.landmark_heatmaps**2).mean() + result.driving_kp.jacobians.mean()
    if model.discriminator is not None:
        loss = loss + model.discriminator(result.generated.prediction).logits.mean()
    if result.generated.texture is not None:
        loss = loss + result.generated.texture.mean()
    loss.backward()
    missing = [name for name, p in model.named_parameters() if p.requires_grad and (p.grad is None or p.grad.abs().sum() == 0)]
    assert not missing, f"parameters without gradient: {missing}"

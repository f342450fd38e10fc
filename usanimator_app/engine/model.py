"""The networks of one model, built from a :class:`ModelConfig`, and the forward pass they share."""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn

from usanimator_app.engine.config import ModelConfig
from usanimator_app.nets.dense_motion import DenseMotionNetwork, DenseMotionOutput
from usanimator_app.nets.discriminator import PatchDiscriminator
from usanimator_app.nets.generator import Generator, GeneratorOutput
from usanimator_app.nets.keypoint_detector import KeypointDetector, KeypointOutput


class ForwardResult(NamedTuple):
    source_kp: KeypointOutput
    driving_kp: KeypointOutput
    motion: DenseMotionOutput
    generated: GeneratorOutput


class AnimationModel(nn.Module):
    """Keypoint detector + dense motion + generator (+ discriminator when the preset uses a GAN)."""

    def __init__(self, config: ModelConfig):
        super().__init__()
        self.config = config
        self.keypoint_detector = KeypointDetector(
            num_channels=config.num_channels,
            num_kp=config.num_kp,
            num_landmarks=config.num_landmarks,
            block_expansion=config.kp_block_expansion,
            max_features=config.kp_max_features,
            num_blocks=config.kp_num_blocks,
            scale_factor=config.kp_scale_factor,
            temperature=config.kp_temperature,
        )
        self.dense_motion = DenseMotionNetwork(
            num_channels=config.num_channels,
            num_points=config.num_kp + config.num_landmarks,
            block_expansion=config.dm_block_expansion,
            max_features=config.dm_max_features,
            num_blocks=config.dm_num_blocks,
            scale_factor=config.dm_scale_factor,
        )
        self.generator = Generator(
            num_channels=config.num_channels,
            block_expansion=config.gen_block_expansion,
            max_features=config.gen_max_features,
            num_down_blocks=config.gen_num_down_blocks,
            num_bottleneck_blocks=config.gen_num_bottleneck_blocks,
            dual_decoder=config.dual_decoder,
        )
        self.discriminator = (
            PatchDiscriminator(
                config.num_channels, config.disc_block_expansion, config.disc_max_features, config.disc_num_blocks
            )
            if config.use_gan
            else None
        )

    def animate_step(
        self, source: torch.Tensor, source_features: torch.Tensor, source_kp: KeypointOutput, driving_kp: KeypointOutput
    ) -> tuple[DenseMotionOutput, GeneratorOutput]:
        """One frame from precomputed source features/keypoints and driving keypoints."""
        motion = self.dense_motion(source, source_kp, driving_kp)
        return motion, self.generator(source_features, motion)

    def forward(self, source: torch.Tensor, driving: torch.Tensor) -> ForwardResult:
        """source, driving (B, C, H, W) in [0, 1] -> reconstruction of driving from source."""
        source_kp = self.keypoint_detector(source)
        driving_kp = self.keypoint_detector(driving)
        motion, generated = self.animate_step(source, self.generator.encode(source), source_kp, driving_kp)
        return ForwardResult(source_kp, driving_kp, motion, generated)

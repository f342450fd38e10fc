"""Configurations as dataclasses; presets = the paper's ablation x network sizes.

Presets (paper Table 1): ``fomm`` plain FOMM (no landmarks, one decoder, no GAN);
``p`` + supervised anatomical keypoints; ``pt`` + texture decoder; ``ptg`` + GAN losses.
Sizes: ``paper-256`` (FOMM vox-256 widths at 256x256) and ``cpu-128`` (narrow networks at 128x128
that train on a 2-core CPU in hours), ``tiny`` (tests only: seconds on a CPU).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from usanimator_app.core.annotations import DEFAULT_LANDMARKS
from usanimator_app.core.errors import UserInputError

NETWORKS = ("all", "motion", "fill")  # TrainConfig.networks
FINETUNE_RECIPES = ("motion", "fill")  # the networks a fine-tune (engine/finetune.py) may train

CONFIG_VERSION = 1


@dataclass
class ModelConfig:
    """Everything needed to rebuild the networks."""

    image_size: int = 256
    num_channels: int = 1
    num_kp: int = 10
    landmark_names: tuple[str, ...] = DEFAULT_LANDMARKS
    kp_temperature: float = 0.1
    kp_block_expansion: int = 32
    kp_max_features: int = 1024
    kp_num_blocks: int = 5
    kp_scale_factor: float = 0.25
    dm_block_expansion: int = 64
    dm_max_features: int = 1024
    dm_num_blocks: int = 5
    dm_scale_factor: float = 0.25
    gen_block_expansion: int = 64
    gen_max_features: int = 512
    gen_num_down_blocks: int = 2
    gen_num_bottleneck_blocks: int = 6
    dual_decoder: bool = True
    use_gan: bool = True
    disc_block_expansion: int = 32
    disc_max_features: int = 512
    disc_num_blocks: int = 4

    @property
    def num_landmarks(self) -> int:
        return len(self.landmark_names)


@dataclass
class LossWeights:
    """Paper §3: L_eq, L_key, L_recL1, L_recVGG, L_G, L_Dis, L_feat = 10, 100, 10, 10, 1, 1, 10."""

    equivariance: float = 10.0
    keypoint: float = 100.0
    reconstruction_l1: float = 10.0
    reconstruction_vgg: float = 10.0
    generator_gan: float = 1.0
    discriminator_gan: float = 1.0
    feature_matching: float = 10.0
    # Not in the paper (0 = off, the paper's objective): L1 at the Eq. 5 scales between the driving
    # frame and the default output at model size, occlusion * warp(source) + (1 - occlusion) * G_f
    # (engine/render.py). It trains the dense motion and occlusion maps for that output.
    warped_source_l1: float = 0.0
    # Not in the paper (0 = off): the integrated deformation's area change beyond the band a tissue can
    # take (losses.tissue_area_loss); the motion recipe of fine-tuning turns it on.
    tissue_area: float = 0.0


@dataclass
class TrainConfig:
    """Optimisation settings; ``scales`` are the pyramid of Eq. 5-6 as fractions of image_size."""

    preset: str = "ptg"
    size: str = "paper-256"
    steps: int = 10000
    batch_size: int = 4
    learning_rate: float = 2e-4
    adam_betas: tuple[float, float] = (0.5, 0.999)
    scales: tuple[float, ...] = (1.0, 0.5, 0.25, 0.125)
    tps_sigma_affine: float = 0.05
    tps_sigma_tps: float = 0.005
    tps_points: int = 5
    heatmap_sigma: float = 0.05  # Gaussian target width for L_key, in [-1, 1] units
    checkpoint_every: int = 250
    sample_every: int = 100
    seed: int = 0
    # Which networks a step trains: "all" (the paper's objective), "motion" (fine-tuning in
    # minutes, engine/finetune.py): keypoint detector and dense motion with Eq. 1-4 and the
    # warped-source L1; generator and discriminator frozen; or "fill" (fine-tuning): generator,
    # discriminator and the occlusion head with Eq. 5-9 and the warped-source L1 on the integrated
    # motion, the deformation frozen.
    networks: str = "all"
    # A time budget (seconds of training steps; 0 = ``steps`` decide the length): the learning rate
    # rises over ``warmup_steps`` and decays by a cosine over the budget (trainer.learning_rate_at);
    # a checkpoint every ``checkpoint_seconds`` of training and at the end.
    time_budget_seconds: float = 0.0
    warmup_steps: int = 0
    checkpoint_seconds: float = 0.0
    init_from: str = ""  # core.identity.label of the checkpoint that started the run (fine-tuning); "" = random init
    perceptual_backbone: str = ""  # filled in by the trainer with what it actually used


@dataclass
class RunConfig:
    model: ModelConfig = field(default_factory=ModelConfig)
    losses: LossWeights = field(default_factory=LossWeights)
    train: TrainConfig = field(default_factory=TrainConfig)
    version: int = CONFIG_VERSION

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "RunConfig":
        if data.get("version") != CONFIG_VERSION:
            raise UserInputError(f"configuration version {data.get('version')!r} is not supported (expected {CONFIG_VERSION})")
        model = _build(ModelConfig, data.get("model", {}))
        model.landmark_names = tuple(model.landmark_names)
        train_values = {k: v for k, v in data.get("train", {}).items() if k != "vgg19_weights"}  # a path older runs stored
        train = _build(TrainConfig, train_values)
        train.adam_betas = tuple(train.adam_betas)
        train.scales = tuple(train.scales)
        return cls(model=model, losses=_build(LossWeights, data.get("losses", {})), train=train)


def _build(kind, values: dict):
    known = {f.name for f in dataclasses.fields(kind)}
    unknown = set(values) - known
    if unknown:
        raise UserInputError(f"unknown {kind.__name__} fields {sorted(unknown)}: the file comes from another version")
    return kind(**values)


PRESETS = ("fomm", "p", "pt", "ptg")
MODEL_SIZES = {
    "paper-256": dict(image_size=256),
    "cpu-128": dict(
        image_size=128,
        kp_block_expansion=16,
        kp_max_features=256,
        kp_scale_factor=0.5,
        dm_block_expansion=16,
        dm_max_features=256,
        dm_scale_factor=0.5,
        gen_block_expansion=16,
        gen_max_features=128,
        disc_block_expansion=16,
        disc_max_features=128,
    ),
    "tiny": dict(
        image_size=64,
        num_kp=4,
        kp_block_expansion=8,
        kp_max_features=32,
        kp_num_blocks=3,
        kp_scale_factor=0.5,
        dm_block_expansion=8,
        dm_max_features=32,
        dm_num_blocks=3,
        dm_scale_factor=0.5,
        gen_block_expansion=8,
        gen_max_features=32,
        gen_num_down_blocks=2,
        gen_num_bottleneck_blocks=2,
        disc_block_expansion=8,
        disc_max_features=32,
    ),
}


def make_config(preset: str = "ptg", size: str = "paper-256", **train_overrides) -> RunConfig:
    """The run configuration of a preset at a size; ``train_overrides`` set TrainConfig fields."""
    if preset not in PRESETS:
        raise UserInputError(f"unknown preset {preset!r}; choose one of {', '.join(PRESETS)}")
    if size not in MODEL_SIZES:
        raise UserInputError(f"unknown size {size!r}; choose one of {', '.join(MODEL_SIZES)}")
    model = ModelConfig(**MODEL_SIZES[size])
    model.landmark_names = () if preset == "fomm" else DEFAULT_LANDMARKS
    model.dual_decoder = preset in ("pt", "ptg")
    model.use_gan = preset == "ptg"
    train = TrainConfig(preset=preset, size=size, **train_overrides)
    return RunConfig(model=model, train=train)

"""Training: one generator function that yields once per step; the CLI and the GUI both drive it.

    for report in train_steps(data_dir, run_dir, config):   # or resume=True
        print(report.step, report.losses)

Each step: (1) generator side - keypoints of source, driving and a TPS-warped driving frame,
dense motion, generation; losses Eq. 1-7 and 9; one Adam step on keypoint detector + dense motion
+ generator. (2) discriminator side (presets with a GAN) - Eq. 8; one Adam step. With
``train.networks == "motion"`` (fine-tuning in minutes, engine/finetune.py) only (1) runs, on the
keypoint detector and dense motion, with Eq. 1-4, the warped-source L1 and the tissue-area penalty.
With ``"fill"`` the deformation is frozen and what renders the frame from it learns the motion as the
app shows it (integrated): the generator (Eq. 5-7, 9 and (2)) and the occlusion map (the dense
motion's occlusion head), both through the warped-source L1 of the default composite.

A run is ``train.steps`` long, or, with ``train.time_budget_seconds``, as long as its training steps
take that many seconds (``learning_rate_at``: warm-up, then a cosine decay over the budget).
"""

from __future__ import annotations

import json
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import torch
import torch.distributed as dist
import yaml
from torch import nn

from usanimator_app.core.atomic import write_text_atomic
from usanimator_app.core.errors import UserInputError
from usanimator_app.core.identity import label
from usanimator_app.engine import losses as L
from usanimator_app.engine.checkpoint import (
    build_model,
    check_resumable,
    read_checkpoint,
    remove_stale_temp_files,
    save_checkpoint,
)
from usanimator_app.engine.config import NETWORKS, RunConfig, TrainConfig
from usanimator_app.engine.dataset import Batch, Holdout, PairDataset
from usanimator_app.engine.device import choose_device, cuda_has_fast_bf16
from usanimator_app.engine.model import AnimationModel, ForwardResult
from usanimator_app.engine.perceptual import load_perceptual_backbone
from usanimator_app.engine.pretrained import PretrainedUnavailable
from usanimator_app.engine.tissue_motion import exponentiated
from usanimator_app.engine.tps import RandomTPS

CHECKPOINT_DIR = "checkpoints"
KEEP_CHECKPOINTS = 3
STOPPED_MESSAGE = "stopped on request"
MOTION_WARP_WEIGHT = 10.0  # warped-source L1 weight of the motion and fill recipes when the starting model had none
MOTION_AREA_WEIGHT = 10.0  # tissue-area weight of the motion recipe when the starting model had none
ESTIMATE_AFTER_STEPS = 4  # with a time budget: the step count is estimated from these first steps (the first one excluded)


@dataclass
class StepReport:
    """What one training step (or a set-up stage, with ``message``) reports."""

    step: int
    total_steps: int
    losses: dict[str, float] = field(default_factory=dict)
    seconds: float = 0.0
    samples: dict[str, np.ndarray] | None = None  # name -> uint8 (S, S)
    checkpoint: str | None = None
    message: str | None = None
    validation: dict | None = None  # fine-tuning (engine/finetune.py): one validation's figures
    verdict: dict | None = None  # fine-tuning: how it ended


class GeneratorObjective(nn.Module):
    """The generator-side losses of one batch as one module (so DDP can wrap it)."""

    def __init__(self, model: AnimationModel, backbone: nn.Module, config: RunConfig):
        super().__init__()
        # Only the networks these losses train: a DDP wrapper of this module must not own the
        # discriminator, whose parameters this backward never reaches.
        self.keypoint_detector = model.keypoint_detector
        self.dense_motion = model.dense_motion
        self.generator = model.generator
        self.backbone = backbone
        self.config = config

    def forward(self, batch: Batch, transform: RandomTPS) -> tuple[dict[str, torch.Tensor], ForwardResult]:
        train, weights = self.config.train, self.config.losses
        recipe = train.networks
        trains_motion, trains_generator = recipe != "fill", recipe != "motion"
        # "fill": only the occlusion head of the motion networks requires grad (_Optimisation).
        source_kp = self.keypoint_detector(batch.source)
        driving_kp = self.keypoint_detector(batch.driving)
        motion = self.dense_motion(batch.source, source_kp, driving_kp)
        # The fine-tune recipes train the motion as the app uses it: integrated (engine/tissue_motion.py).
        warp = motion if recipe == "all" else motion._replace(deformation=exponentiated(motion.deformation))
        with torch.set_grad_enabled(torch.is_grad_enabled() and trains_generator):  # "motion": the generator is frozen
            generated = self.generator(self.generator.encode(batch.source), warp if recipe == "fill" else motion)
        result = ForwardResult(source_kp, driving_kp, motion, generated)
        terms: dict[str, torch.Tensor] = {}
        total = torch.zeros((), device=batch.source.device)
        if trains_motion:
            total = total + self._keypoint_terms(batch, transform, result, terms)
        # Eq. 5: content decoder vs driving (dual decoder only; FOMM's single decoder has no L1).
        if self.config.model.dual_decoder and trains_generator:
            terms["rec_l1"] = L.reconstruction_l1_loss(batch.driving, generated.content, train.scales)
            total = total + weights.reconstruction_l1 * terms["rec_l1"]
        # Eq. 6: perceptual loss of the final frame. On the CPU in fp32: bf16 autocast made it 2.4x
        # slower on this project's AVX-512 BF16 (no AMX) machine (benchmarks/bench_train_step.py).
        if trains_generator:
            terms["rec_vgg"] = L.reconstruction_vgg_loss(batch.driving, generated.prediction, train.scales, self.backbone).float()
            total = total + weights.reconstruction_vgg * terms["rec_vgg"]
        if weights.warped_source_l1:  # "fill": it trains the generated frame and where the occlusion map shows it
            terms["warp_l1"] = L.warped_source_l1_loss(batch.driving, batch.source, warp, generated.prediction, train.scales,
                                                       train_fill=recipe == "fill")
            total = total + weights.warped_source_l1 * terms["warp_l1"]
        if weights.tissue_area and trains_motion:
            terms["area"] = L.tissue_area_loss(warp.deformation)
            total = total + weights.tissue_area * terms["area"]
        terms["total_g"] = total
        return terms, result

    def _keypoint_terms(self, batch: Batch, transform: RandomTPS, result: ForwardResult, terms: dict) -> torch.Tensor:
        """Eq. 1-4 (into ``terms``), weighted and summed."""
        train, weights, model = self.config.train, self.config.losses, self
        # Eq. 1-3: equivariance of the self-supervised keypoints under a random TPS.
        warped_kp = model.keypoint_detector(transform.warp_frame(batch.driving))
        num_kp = self.config.model.num_kp
        terms["eq1"] = L.equivariance_value_loss(result.driving_kp.keypoints, warped_kp.keypoints, transform)
        terms["eq2"] = L.equivariance_jacobian_loss(
            result.driving_kp.jacobians[:, :num_kp], warped_kp.keypoints, warped_kp.jacobians[:, :num_kp], transform
        )
        total = weights.equivariance * (terms["eq1"] + terms["eq2"])
        # Eq. 4: supervised anatomical keypoints, on annotated frames only.
        if self.config.model.num_landmarks:
            terms["key"] = 0.5 * (
                L.keypoint_heatmap_loss(result.source_kp.landmark_heatmaps, batch.source_landmarks, batch.source_annotated, train.heatmap_sigma)
                + L.keypoint_heatmap_loss(result.driving_kp.landmark_heatmaps, batch.driving_landmarks, batch.driving_annotated, train.heatmap_sigma)
            )
            total = total + weights.keypoint * terms["key"]
        return total


def _autocast(device: torch.device):
    """bf16 autocast on CUDA GPUs that have it; fp32 elsewhere.

    On the CPU, bf16 autocast did not pay for training here (its casts cost as much as the faster
    convolutions save at these network widths), so CPU training stays in fp32.
    """
    if cuda_has_fast_bf16(device):
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return torch.autocast(device.type, enabled=False)


def _to_uint8(image: torch.Tensor) -> np.ndarray:
    """(1, S, S) float in [0, 1] -> (S, S) uint8."""
    return (image[0].detach().float().clamp(0, 1).cpu().numpy() * 255.0 + 0.5).astype(np.uint8)


def _samples(batch: Batch, result: ForwardResult) -> dict[str, np.ndarray]:
    """Preview images of the first pair: source, driving, content, texture, final, occlusion."""
    generated = result.generated
    size = batch.source.shape[-1]
    occlusion = torch.nn.functional.interpolate(result.motion.occlusion[:1].float(), size=(size, size), mode="bilinear")
    samples = {
        "source": _to_uint8(batch.source[0]),
        "driving": _to_uint8(batch.driving[0]),
        "content": _to_uint8(generated.content[0]),
        "final": _to_uint8(generated.prediction[0]),
        "occlusion": _to_uint8(occlusion[0]),
    }
    if generated.texture is not None:
        samples["texture"] = _to_uint8(generated.texture[0] + 0.5)
    return samples


def _distributed() -> tuple[int, int]:
    """(rank, world size) under torchrun, (0, 1) otherwise; initialises the process group once."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return 0, 1
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if torch.cuda.is_available() else "gloo")
    return dist.get_rank(), world


def _truncate_metrics(path: Path, last_step: int) -> None:
    """Drop log lines of steps after ``last_step`` (done after a crash, redone after resuming)."""
    if not path.exists():
        return
    kept = [line for line in path.read_text(encoding="utf-8").splitlines() if line and json.loads(line)["step"] <= last_step]
    write_text_atomic(path, "".join(line + "\n" for line in kept))


def latest_checkpoint(run_dir: Path) -> Path | None:
    files = sorted((Path(run_dir) / CHECKPOINT_DIR).glob("step_*.pt"))
    return files[-1] if files else None


def train_steps(
    data: "str | Path | list",
    run_dir: str | Path,
    config: RunConfig | None = None,
    *,
    device: str = "auto",
    resume: bool = False,
    init: str | Path | None = None,
    steps: int | None = None,
    vgg19: str | Path | None = None,
    should_stop: Callable[[], bool] = lambda: False,
    holdout: Holdout = Holdout(),
) -> Iterator[StepReport]:
    """Train, yielding a :class:`StepReport` per step; stops (with a checkpoint) when ``should_stop()``.

    ``data``: dataset folders and/or dataset files (``engine.dataset.parse_data_sources``). With
    ``resume`` the newest checkpoint in ``run_dir`` restores networks, optimizers, step, config and
    random state, so the run continues exactly. With ``init`` (fine-tuning) a new run starts from
    that checkpoint's networks, model config and loss weights, with fresh optimiser state; the
    optimisation settings come from ``config``. ``steps`` overrides the total step count. ``vgg19``:
    an ImageNet VGG19 file for the perceptual loss (``engine.perceptual``); a resumed run must load
    the backbone it started with. Files are stored by content (``core.identity.label``), not path.
    ``holdout``: clips or frames kept out of training (a fine-tune's validation split).
    """
    run_dir = Path(run_dir)
    rank, world = _distributed()
    choice = choose_device(device)
    torch_device = _rank_device(choice.device, world)
    config, model, payload = _resume(run_dir, steps) if resume else _start(run_dir, config, init)
    if steps is not None:
        config.train.steps = steps
    train, start_step = config.train, payload["step"] if payload is not None else 0
    sampler = _random_state(train.seed, rank, payload)
    yield StepReport(start_step, train.steps, message=f"device: {choice.note}")
    backbone = _perceptual_backbone(vgg19, train, run_dir, resumed=payload is not None)
    yield StepReport(start_step, train.steps, message=f"perceptual backbone: {train.perceptual_backbone}")
    dataset = PairDataset(data, config.model.image_size, config.model.landmark_names, split="train", holdout=holdout)
    for message in _data_messages(dataset):
        yield StepReport(start_step, train.steps, message=message)
    optimisation = _Optimisation(model, backbone, config, torch_device, world, payload)
    clock = _TrainingClock(train, payload)
    folder = _RunFolder(run_dir, config, model, optimisation, sampler, start_step) if rank == 0 else None
    try:
        step = start_step
        while step < train.steps and not clock.budget_spent():
            if _stop_requested(should_stop, world, torch_device):
                saved = folder.checkpoint(step, clock.trained_seconds) if folder is not None else None
                yield StepReport(step, clock.total_steps(step), checkpoint=saved, message=STOPPED_MESSAGE)
                return
            started = time.perf_counter()
            optimisation.set_learning_rate(learning_rate_at(train, step, clock.trained_seconds))
            batch, transform = _draw(dataset, train, sampler, torch_device)
            terms, result = optimisation.step(batch, transform)
            step += 1
            seconds = time.perf_counter() - started
            clock.add(seconds)
            values = _finite_losses(terms, step)
            samples = _samples(batch, result) if train.sample_every and step % train.sample_every == 0 else None
            saved = folder.checkpoint(step, clock.trained_seconds) if folder is not None and clock.checkpoint_due(step) else None
            if folder is not None:
                folder.log(step, seconds, values)
            if clock.estimate_ready(step - start_step):
                yield StepReport(step, clock.total_steps(step), message=clock.estimate_message(step))
            yield StepReport(step, clock.total_steps(step), values, seconds, samples, saved)
    finally:
        if folder is not None:
            folder.close()


def learning_rate_at(train: TrainConfig, step: int, trained_seconds: float) -> float:
    """The learning rate of the step after ``step``: ``train.learning_rate`` x a linear warm-up over
    ``warmup_steps`` x, with a time budget T, the cosine decay (1 + cos(pi t / T)) / 2 at t seconds trained."""
    rate = train.learning_rate * (min(1.0, (step + 1) / train.warmup_steps) if train.warmup_steps else 1.0)
    if train.time_budget_seconds:
        rate *= 0.5 * (1.0 + math.cos(math.pi * min(1.0, trained_seconds / train.time_budget_seconds)))
    return rate


class _TrainingClock:
    """Seconds of training steps so far (kept in checkpoints), against the time budget when there is one."""

    def __init__(self, train: TrainConfig, payload: dict | None):
        self.train = train
        self.trained_seconds = float(payload.get("trained_seconds", 0.0)) if payload is not None else 0.0
        self._last_checkpoint = self.trained_seconds
        self._step_seconds: list[float] = []

    def add(self, seconds: float) -> None:
        self.trained_seconds += seconds
        self._step_seconds.append(seconds)

    def budget_spent(self) -> bool:
        return bool(self.train.time_budget_seconds) and self.trained_seconds >= self.train.time_budget_seconds

    def checkpoint_due(self, step: int) -> bool:
        """Every ``checkpoint_every`` steps, or with a time budget every ``checkpoint_seconds``; and at the end."""
        if not self.train.time_budget_seconds:
            return step % self.train.checkpoint_every == 0 or step == self.train.steps
        if self.budget_spent() or step == self.train.steps or (
                self.train.checkpoint_seconds and self.trained_seconds - self._last_checkpoint >= self.train.checkpoint_seconds):
            self._last_checkpoint = self.trained_seconds
            return True
        return False

    def _seconds_per_step(self) -> float:
        measured = self._step_seconds[1:] or self._step_seconds  # the first step is slow (warm-up of kernels)
        return float(np.mean(measured[-50:]))

    def total_steps(self, step: int) -> int:
        """``train.steps``, or with a time budget the step count it allows at the pace so far."""
        if not self.train.time_budget_seconds or not self._step_seconds:
            return self.train.steps
        left = max(0.0, self.train.time_budget_seconds - self.trained_seconds)
        return min(self.train.steps, step + int(round(left / self._seconds_per_step())))

    def estimate_ready(self, steps_done: int) -> bool:
        return bool(self.train.time_budget_seconds) and steps_done == ESTIMATE_AFTER_STEPS

    def estimate_message(self, step: int) -> str:
        return (f"time budget {self.train.time_budget_seconds / 60:.1f} min of training: about {self.total_steps(step)} steps "
                f"at {self._seconds_per_step():.2f} s a step")


def _rank_device(device: torch.device, world: int) -> torch.device:
    """Under torchrun with CUDA, this process's GPU (``LOCAL_RANK``); else ``device``."""
    if device.type != "cuda" or world <= 1:
        return device
    device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
    torch.cuda.set_device(device)
    return device


def _resume(run_dir: Path, steps: int | None) -> tuple[RunConfig, AnimationModel, dict]:
    """The newest checkpoint of ``run_dir``: its config, networks and payload (step, optimisers, random state)."""
    remove_stale_temp_files(run_dir / CHECKPOINT_DIR)
    checkpoint = latest_checkpoint(run_dir)
    if checkpoint is None:
        raise UserInputError(f"{run_dir}: nothing to resume (no checkpoints/step_*.pt)")
    payload = read_checkpoint(checkpoint)
    check_resumable(payload, checkpoint, steps)
    config, model = build_model(payload, source=str(checkpoint))
    return config, model, payload


def _start(run_dir: Path, config: RunConfig | None, init: str | Path | None) -> tuple[RunConfig, AnimationModel, None]:
    """A new run in an empty ``run_dir``: fresh networks, or (fine-tuning) ``init``'s networks, model
    config and loss weights; no payload."""
    if config is None:
        raise UserInputError("a configuration is needed to start a new run")
    if config.train.networks not in NETWORKS:
        raise UserInputError(f"train.networks is {config.train.networks!r}; choose one of {', '.join(NETWORKS)}")
    if latest_checkpoint(run_dir) is not None:
        raise UserInputError(f"{run_dir}: already holds a run; use --resume to continue it or choose another folder")
    torch.manual_seed(config.train.seed)  # the same initial weights on every rank
    if init is None:
        return config, AnimationModel(config.model), None
    init_config, model = build_model(read_checkpoint(init), source=str(init))
    config.model, config.losses = init_config.model, init_config.losses
    config.train.preset, config.train.size = init_config.train.preset, init_config.train.size
    config.train.init_from = label(init)
    if config.train.networks != "all":  # the fine-tune recipes' terms, where the starting model had none
        config.losses.warped_source_l1 = config.losses.warped_source_l1 or MOTION_WARP_WEIGHT
    if config.train.networks == "motion":
        config.losses.tissue_area = config.losses.tissue_area or MOTION_AREA_WEIGHT
    return config, model, None


def _random_state(seed: int, rank: int, payload: dict | None) -> torch.Generator:
    """Seed torch for this rank and make the batch sampler; a resumed run gets the state it saved."""
    torch.manual_seed(seed + 1 + rank)
    sampler = torch.Generator().manual_seed(seed * 1000 + rank)
    if payload is not None:
        sampler.set_state(payload["rng"]["sampler"])
        torch.set_rng_state(payload["rng"]["torch"])
    return sampler


def _perceptual_backbone(vgg19: str | Path | None, train: TrainConfig, run_dir: Path, resumed: bool) -> nn.Module:
    """The VGG loss's backbone (Eq. 6), named in ``train.perceptual_backbone``; a resumed run must
    get the one it trained with."""
    try:
        backbone, name = load_perceptual_backbone(vgg19)
    except PretrainedUnavailable as exc:
        raise UserInputError(f"no perceptual backbone for the VGG loss (Eq. 6): {exc}") from None
    if resumed and train.perceptual_backbone and name != train.perceptual_backbone:
        raise UserInputError(f"{run_dir}: the run trained with {train.perceptual_backbone}, not {name}; resume "
                             "with that backbone (--vgg19 FILE, or USANIMATOR_VGG19_WEIGHTS)")
    train.perceptual_backbone = name
    return backbone


def _data_messages(dataset: PairDataset) -> list[str]:
    """What the training data holds and, when there are any, the files it skipped."""
    messages = [f"data: {len(dataset.clips)} training clips, {dataset.annotated_frames} frames with landmarks "
                f"({dataset.summary()})"]
    if dataset.skipped:
        skipped = "; ".join(f"{path} ({why})" for path, why in dataset.skipped)
        messages.append(f"skipped {len(dataset.skipped)} files: {skipped}")
    return messages


def _stop_requested(should_stop: Callable[[], bool], world: int, device: torch.device) -> bool:
    """``should_stop()``; under torchrun true on every rank when it is true on any."""
    stop = should_stop()
    if world > 1:
        flag = torch.tensor([1.0 if stop else 0.0], device=device)
        dist.all_reduce(flag, op=dist.ReduceOp.MAX)
        stop = bool(flag.item())
    return stop


def _draw(dataset: PairDataset, train: TrainConfig, sampler: torch.Generator,
          device: torch.device) -> tuple[Batch, RandomTPS]:
    """One step's batch of pairs and random TPS (for the equivariance losses), both from ``sampler``."""
    batch = dataset.sample(train.batch_size, sampler).to(device)
    transform = RandomTPS.random(train.batch_size, train.tps_sigma_affine, train.tps_sigma_tps, train.tps_points,
                                 sampler, device)
    return batch, transform


def _finite_losses(terms: dict[str, torch.Tensor], step: int) -> dict[str, float]:
    """The loss terms as numbers; RuntimeError when one is not finite (the run diverged)."""
    values = {name: float(value.detach()) for name, value in terms.items()}
    if not all(np.isfinite(v) for v in values.values()):
        raise RuntimeError(f"training diverged at step {step}: losses {values}")
    return values


class _Optimisation:
    """Adam on the generator side (keypoint detector, dense motion, generator) and, for presets with
    a GAN, on the discriminator; ``step`` is one training step of both (DDP-wrapped under torchrun)."""

    def __init__(self, model: AnimationModel, backbone: nn.Module, config: RunConfig, device: torch.device,
                 world: int, payload: dict | None):
        train = config.train
        # channels-last: measured 27% faster for the networks' forward + backward on the CPU here.
        model.to(device).to(memory_format=torch.channels_last).train()
        backbone.to(device)
        self.model, self.config, self.device = model, config, device
        objective = GeneratorObjective(model, backbone, config)
        self.motion_only = train.networks == "motion"
        if self.motion_only:  # fine-tuning in minutes: the generator (and its batch statistics) stay as they are
            model.generator.eval()
            generator_params = [*model.keypoint_detector.parameters(), *model.dense_motion.parameters()]
        elif train.networks == "fill":  # the deformation (and the motion networks' batch statistics) stays as it is
            model.keypoint_detector.eval().requires_grad_(False)
            model.dense_motion.eval().requires_grad_(False)
            model.dense_motion.occlusion_head.requires_grad_(True)
            generator_params = [*model.generator.parameters(), *model.dense_motion.occlusion_head.parameters()]
        else:
            generator_params = [p for name, p in model.named_parameters() if not name.startswith("discriminator.")]
        self.optimizer_g = torch.optim.Adam(generator_params, lr=train.learning_rate, betas=train.adam_betas)
        self.optimizer_d = (
            torch.optim.Adam(model.discriminator.parameters(), lr=train.learning_rate, betas=train.adam_betas)
            if model.discriminator is not None
            else None
        )
        if payload is not None:
            self.optimizer_g.load_state_dict(payload["optimizers"]["generator"])
            if self.optimizer_d is not None:
                self.optimizer_d.load_state_dict(payload["optimizers"]["discriminator"])
        self.objective, self.discriminator = objective, model.discriminator
        if world > 1:
            ids = [device.index] if device.type == "cuda" else None
            self.objective = nn.parallel.DistributedDataParallel(objective, device_ids=ids)
            if self.discriminator is not None:
                self.discriminator = nn.parallel.DistributedDataParallel(model.discriminator, device_ids=ids)

    def set_learning_rate(self, rate: float) -> None:
        optimizers = [self.optimizer_g] + ([self.optimizer_d] if self.optimizer_d is not None else [])
        for group in (group for optimizer in optimizers for group in optimizer.param_groups):
            group["lr"] = rate

    def state_dict(self) -> dict:
        """The optimisers' states, as a checkpoint stores them."""
        optimizers = {"generator": self.optimizer_g.state_dict()}
        if self.optimizer_d is not None:
            optimizers["discriminator"] = self.optimizer_d.state_dict()
        return optimizers

    def step(self, batch: Batch, transform: RandomTPS) -> tuple[dict[str, torch.Tensor], ForwardResult]:
        """(1) the generator side's losses and Adam step, (2) with a GAN the discriminator's (Eq. 8)."""
        terms, result = self._generator_terms(batch, transform)
        self.optimizer_g.zero_grad(set_to_none=True)
        terms["total_g"].backward()
        self.optimizer_g.step()
        if self.discriminator is not None and not self.motion_only:
            with _autocast(self.device):
                real_logits = self.discriminator(batch.driving).logits.float()
                fake_logits = self.discriminator(result.generated.prediction.detach()).logits.float()
                terms["gan_d"] = self.config.losses.discriminator_gan * L.discriminator_lsgan_loss(real_logits, fake_logits)
            self.optimizer_d.zero_grad(set_to_none=True)
            terms["gan_d"].backward()
            self.optimizer_d.step()
        return terms, result

    def _generator_terms(self, batch: Batch, transform: RandomTPS) -> tuple[dict[str, torch.Tensor], ForwardResult]:
        """Eq. 1-7 and 9 and, with a GAN, the generator's adversarial and feature-matching terms."""
        discriminator, weights = self.model.discriminator, self.config.losses
        with _autocast(self.device):
            terms, result = self.objective(batch, transform)
            if self.discriminator is not None and not self.motion_only:
                discriminator.requires_grad_(False)
                fake = discriminator(result.generated.prediction)
                with torch.no_grad():
                    real = discriminator(batch.driving)
                terms["gan_g"] = L.generator_lsgan_loss(fake.logits.float())
                terms["feat"] = L.feature_matching_loss([f.float() for f in real.features], [f.float() for f in fake.features])
                terms["total_g"] = (
                    terms["total_g"] + weights.generator_gan * terms["gan_g"] + weights.feature_matching * terms["feat"]
                )
                discriminator.requires_grad_(True)
        return terms, result


class _RunFolder:
    """What rank 0 writes into the run folder: config.yaml, a metrics.jsonl line per step and
    checkpoints (the newest KEEP_CHECKPOINTS of them), each with the optimisers and random state."""

    def __init__(self, run_dir: Path, config: RunConfig, model: AnimationModel, optimisation: _Optimisation,
                 sampler: torch.Generator, start_step: int):
        self.run_dir, self.config, self.model = run_dir, config, model
        self.optimisation, self.sampler = optimisation, sampler
        run_dir.mkdir(parents=True, exist_ok=True)
        write_text_atomic(run_dir / "config.yaml", yaml.safe_dump(config.to_dict(), sort_keys=False))
        _truncate_metrics(run_dir / "metrics.jsonl", start_step)
        self._metrics = open(run_dir / "metrics.jsonl", "a", encoding="utf-8")

    def checkpoint(self, step: int, trained_seconds: float) -> str:
        path = self.run_dir / CHECKPOINT_DIR / f"step_{step:07d}.pt"
        rng = {"torch": torch.get_rng_state(), "sampler": self.sampler.get_state()}
        save_checkpoint(path, self.config, self.model, step, optimizers=self.optimisation.state_dict(), rng=rng,
                        trained_seconds=trained_seconds)
        for old in sorted((self.run_dir / CHECKPOINT_DIR).glob("step_*.pt"))[:-KEEP_CHECKPOINTS]:
            old.unlink()
        return str(path)

    def log(self, step: int, seconds: float, values: dict[str, float]) -> None:
        self._metrics.write(json.dumps({"step": step, "seconds": round(seconds, 4), "time": time.time(), **values}) + "\n")
        self._metrics.flush()

    def close(self) -> None:
        self._metrics.close()

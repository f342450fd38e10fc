"""Checkpoints: networks, optimizers, config, step and RNG state; written atomically, loaded
with ``torch.load(weights_only=True)`` so a file can never execute code."""

from __future__ import annotations

import pickle
import zipfile
from pathlib import Path

import torch

from usanimator_app.core.atomic import atomic_path
from usanimator_app.core.errors import UserInputError
from usanimator_app.engine.config import RunConfig
from usanimator_app.engine.model import AnimationModel

FORMAT_NAME = "usanimator-checkpoint"
FORMAT_VERSION = 1


def network_states(model: AnimationModel, dtype: torch.dtype | None = None) -> dict[str, dict]:
    """State dicts of the networks (optionally cast to ``dtype``, e.g. fp16 for shipping)."""
    states = {}
    for name, module in model.named_children():
        if module is None:
            continue
        state = module.state_dict()
        if dtype is not None:
            state = {k: v.to(dtype) if v.is_floating_point() else v for k, v in state.items()}
        states[name] = state
    return states


def save_checkpoint(path: str | Path, config: RunConfig, model: AnimationModel, step: int, **extra) -> Path:
    """Write a checkpoint atomically. ``extra`` may hold 'optimizers', 'rng', 'metadata', 'dtype'."""
    dtype = extra.pop("dtype", None)
    payload = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "config": config.to_dict(),
        "step": int(step),
        "networks": network_states(model, dtype),
        **extra,
    }
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)
    return Path(path)


def read_checkpoint(path: str | Path) -> dict:
    """Load and validate a checkpoint file; every problem becomes a one-line UserInputError."""
    path = Path(path)
    if not path.is_file():
        raise UserInputError(f"{path}: checkpoint file not found")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, zipfile.BadZipFile, RuntimeError, EOFError, ValueError, OSError) as exc:
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UserInputError(f"{path}: not a loadable USAnimator checkpoint ({first_line[:200]})") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT_NAME:
        raise UserInputError(f"{path}: not a USAnimator checkpoint")
    if payload.get("format_version") != FORMAT_VERSION:
        raise UserInputError(
            f"{path}: checkpoint format version {payload.get('format_version')!r} is not supported (expected {FORMAT_VERSION})"
        )
    return payload


def build_model(payload: dict, source: str = "checkpoint") -> tuple[RunConfig, AnimationModel]:
    """Rebuild the networks from the stored config and load their weights (strictly)."""
    config = RunConfig.from_dict(payload["config"])
    model = AnimationModel(config.model)
    for name, state in payload["networks"].items():
        module = getattr(model, name, None)
        if module is None:
            raise UserInputError(f"{source}: holds weights for {name!r}, which its own config does not build")
        try:
            module.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in state.items()})
        except RuntimeError as exc:
            raise UserInputError(f"{source}: weights of {name!r} do not fit its config ({str(exc).splitlines()[0]})") from None
    for name in ("keypoint_detector", "dense_motion", "generator"):
        if name not in payload["networks"]:
            raise UserInputError(f"{source}: has no weights for the {name.replace('_', ' ')}")
    return config, model


def load_model(path: str | Path) -> tuple[RunConfig, AnimationModel, dict]:
    """Checkpoint path -> (config, model in eval mode on the CPU, payload)."""
    payload = read_checkpoint(path)
    config, model = build_model(payload, source=str(path))
    return config, model.eval(), payload

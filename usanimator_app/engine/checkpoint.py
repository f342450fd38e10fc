"""Checkpoints: networks, optimizers, config, step and RNG state; written atomically, loaded
with ``torch.load(weights_only=True)`` so a file can never execute code."""

from __future__ import annotations

import logging
from pathlib import Path

import torch

from usanimator_app.core.atomic import atomic_path
from usanimator_app.core.errors import UserInputError
from usanimator_app.engine.config import RunConfig
from usanimator_app.engine.config_check import check_config_dict
from usanimator_app.engine.model import AnimationModel

log = logging.getLogger(__name__)

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


def unreadable_file_error(path: Path, what: str, exc: BaseException) -> UserInputError:
    """The app's one-line error for a file ``torch.load(weights_only=True)`` refused; torch's own
    text (which may advise loading unsafely, with terminal colours) goes only to the log."""
    log.info("%s: torch.load refused the %s: %s: %s", path, what, type(exc).__name__, str(exc)[:2000])
    return UserInputError(
        f"{path}: not a loadable {what} (damaged, not a PyTorch file, or holding code that is never run); "
        "choose another file"
    )


def read_checkpoint(path: str | Path) -> dict:
    """Load and validate a checkpoint file; every problem becomes a one-line UserInputError."""
    path = Path(path)
    if not path.is_file():
        raise UserInputError(f"{path}: checkpoint file not found")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except MemoryError:
        raise UserInputError(f"{path}: the checkpoint does not fit in memory (damaged file?)") from None
    except Exception as exc:  # torch.load raises many types for a bad file; none may escape as a traceback
        raise unreadable_file_error(path, "USAnimator checkpoint", exc) from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT_NAME:
        raise UserInputError(f"{path}: not a USAnimator checkpoint")
    if payload.get("format_version") != FORMAT_VERSION:
        raise UserInputError(
            f"{path}: checkpoint format version {payload.get('format_version')!r} is not supported (expected {FORMAT_VERSION})"
        )
    step = payload.get("step")
    if isinstance(step, bool) or not isinstance(step, int) or step < 0:
        raise UserInputError(f"{path}: the checkpoint's step {step!r} is not a whole number >= 0 (damaged file)")
    networks = payload.get("networks")
    if not isinstance(networks, dict) or not all(
        isinstance(state, dict) and all(isinstance(v, torch.Tensor) for v in state.values()) for state in networks.values()
    ):
        raise UserInputError(f"{path}: the checkpoint's networks are not weight tables (damaged file)")
    check_config_dict(payload.get("config"), str(path))
    return payload


def check_finite_weights(payload: dict, source: str) -> None:
    """Refuse weights holding NaN or infinity: such a model animates black or garbage frames."""
    for name, state in payload["networks"].items():
        for key, value in state.items():
            if value.is_floating_point() and not bool(torch.isfinite(value).all()):
                raise UserInputError(
                    f"{source}: the {name.replace('_', ' ')} has non-finite weights ({key}); the model is broken: "
                    "use an earlier checkpoint of the run"
                )


def build_model(payload: dict, source: str = "checkpoint") -> tuple[RunConfig, AnimationModel]:
    """Rebuild the networks from the stored config and load their weights (strictly)."""
    check_config_dict(payload["config"], source)
    check_finite_weights(payload, source)
    config = RunConfig.from_dict(payload["config"])
    model = AnimationModel(config.model)
    for name, state in payload["networks"].items():
        module = getattr(model, name, None)
        if module is None:
            raise UserInputError(f"{source}: holds weights for {name!r}, which its own config does not build")
        try:
            module.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in state.items()})
        except RuntimeError as exc:
            log.info("%s: weights of %r do not fit: %s", source, name, exc)
            raise UserInputError(
                f"{source}: the weights of the {name.replace('_', ' ')} do not fit the checkpoint's own config "
                "(edited or damaged file)"
            ) from None
    for name in ("keypoint_detector", "dense_motion", "generator"):
        if name not in payload["networks"]:
            raise UserInputError(f"{source}: has no weights for the {name.replace('_', ' ')}")
    return config, model


def check_resumable(payload: dict, path: str | Path, requested_steps: int | None) -> None:
    """Refuse a resume that cannot work or would do nothing: a checkpoint without training state
    (a shipped model), or a step count the run has already reached."""
    if not isinstance(payload.get("optimizers"), dict) or not isinstance(payload.get("rng"), dict):
        raise UserInputError(
            f"{path}: holds a model without its training state (optimiser and random state, e.g. a shipped model), "
            "so it cannot be resumed; start a new run from it with --init instead"
        )
    step = payload["step"]
    total = requested_steps if requested_steps is not None else payload["config"].get("train", {}).get("steps", 0)
    if total <= step:
        raise UserInputError(
            f"{path}: the run is already at step {step}, so resuming to step {total} would train nothing; "
            f"pass --steps above {step} to extend it"
        )


def remove_stale_temp_files(folder: str | Path) -> list[Path]:
    """Delete the temporary files an interrupted checkpoint write left (``.step_*.tmp.pt``); returns them.
    Call it only when no checkpoint is being written into ``folder``."""
    removed = []
    for path in sorted(Path(folder).glob(".step_*.tmp.pt")):
        path.unlink(missing_ok=True)
        removed.append(path)
        log.info("removed a checkpoint temp file left by an interrupted write: %s", path)
    return removed


def load_model(path: str | Path) -> tuple[RunConfig, AnimationModel, dict]:
    """Checkpoint path -> (config, model in eval mode on the CPU, payload)."""
    payload = read_checkpoint(path)
    config, model = build_model(payload, source=str(path))
    return config, model.eval(), payload

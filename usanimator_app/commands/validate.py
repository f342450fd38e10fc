"""Checks on command-line options, run before any work starts. Each problem is a one-line
:class:`UserInputError` naming the option (or file) and what to do; the CLI exits with code 2."""

from __future__ import annotations

import argparse
import math
import os
from pathlib import Path

from usanimator_app.core.errors import UserInputError

FPS_RANGE = (0.1, 1000.0)  # as core.media.FPS_RANGE, without importing the readers
MAX_GAIN = 10.0


def finite_float(name: str, value: float, low: float | None = None, high: float | None = None,
                 low_open: bool = False) -> float:
    """``value`` if it is a finite number in [low, high] ((low, high] with ``low_open``)."""
    if not math.isfinite(value):
        raise UserInputError(f"{name} must be a finite number, not {value}")
    if low is not None and (value <= low if low_open else value < low):
        raise UserInputError(f"{name} must be {'above' if low_open else 'at least'} {low:g}, not {value:g}")
    if high is not None and value > high:
        raise UserInputError(f"{name} must be at most {high:g}, not {value:g}")
    return value


def whole_number(name: str, value: int, low: int, high: int | None = None) -> int:
    """``value`` if it is in [low, high]."""
    if value < low or (high is not None and value > high):
        limit = f"at least {low}" if high is None else f"from {low} to {high}"
        raise UserInputError(f"{name} must be {limit}, not {value}")
    return value


def input_path(name: str, path: Path) -> Path:
    """An existing file or folder."""
    if not Path(path).exists():
        raise UserInputError(f"{path}: no such file or folder (given as {name})")
    return Path(path)


def _first_existing_parent(path: Path) -> Path:
    """The nearest existing ancestor of ``path``; a regular file in the way is an error."""
    parent = path.parent
    while not parent.exists():
        if parent == parent.parent:
            break
        parent = parent.parent
    if not parent.is_dir():
        raise UserInputError(f"{path}: cannot be created because {parent} is a file, not a folder; choose another place")
    return parent


def _writable(folder: Path, path: Path) -> None:
    if not os.access(folder, os.W_OK | os.X_OK):
        raise UserInputError(f"{path}: the folder {folder} is not writable; choose another place")


def output_file(path: Path) -> Path:
    """A file the command will create: no folder in its place, its folder creatable and writable."""
    path = Path(path)
    if path.is_dir():
        raise UserInputError(f"{path}: is a folder; give a file name")
    _writable(_first_existing_parent(path), path)
    return path


def output_folder(path: Path) -> Path:
    """A folder the command will write into: no file in its place, creatable and writable."""
    path = Path(path)
    if path.exists():
        if not path.is_dir():
            raise UserInputError(f"{path}: is a file, not a folder; choose another output folder")
        _writable(path, path)
        return path
    _writable(_first_existing_parent(path), path)
    return path


def _paths(value) -> list[Path]:
    return [Path(v) for v in value] if isinstance(value, (list, tuple)) else [Path(value)]


def check_animate_args(args: argparse.Namespace) -> None:
    """``usanimator animate`` options (the GUI's Animate tab runs the same checks on its fields)."""
    if args.out.suffix.lower() == ".mp4":
        output_file(args.out)
    else:
        output_folder(args.out)
    if args.fps is not None:
        finite_float("--fps", args.fps, *FPS_RANGE)
    finite_float("--gain", args.gain, 0.0, MAX_GAIN)
    whole_number("--source-frame", args.source_frame, 0)
    if args.max_frames is not None:
        whole_number("--max-frames", args.max_frames, 1)
    if getattr(args, "max_side", None) is not None:
        whole_number("--max-side", args.max_side, 16, 16384)
    if args.model is not None:
        input_path("--model", args.model)


def check_train_args(args: argparse.Namespace) -> None:
    """``usanimator train`` options."""
    output_folder(args.out)
    for data in _paths(args.data):
        input_path("--data", data)
    finite_float("--lr", args.lr, 0.0, 1.0, low_open=True)
    whole_number("--batch", args.batch, 1, 4096)
    whole_number("--checkpoint-every", args.checkpoint_every, 1)
    whole_number("--sample-every", args.sample_every, 0)
    whole_number("--seed", args.seed, 0, 2**32 - 1)
    if args.steps is not None:
        whole_number("--steps", args.steps, 1)
    for name in ("vgg19", "init"):
        if getattr(args, name, None):
            path = input_path(f"--{name}", Path(getattr(args, name)))
            if not path.is_file():
                raise UserInputError(f"{path}: is a folder, not a file (given as --{name})")


def check_evaluate_args(args: argparse.Namespace) -> None:
    """``usanimator evaluate`` options, checked before any model or clip is loaded."""
    output_folder(args.out)
    input_path("--data", args.data)
    for spec in args.model:
        input_path("--model", Path(spec.rpartition("=")[2]))
    if args.reference_detector:
        input_path("--reference-detector", Path(args.reference_detector))
    whole_number("--fid-frame-stride", args.fid_frame_stride, 1)
    if args.max_clips is not None:
        whole_number("--max-clips", args.max_clips, 2)
    whole_number("--window", args.window, 2)
    from usanimator_app.evaluation.protocol import test_clips

    clips, which = test_clips(args.data)
    if len(clips[: args.max_clips]) < 2:
        raise UserInputError(
            f"{args.data}: {which} gives {len(clips[: args.max_clips])} clip(s); FID and FVD need at least 2 test clips"
        )


def check_resume(run_dir: Path, steps: int | None) -> None:
    """Before ``train --resume``: remove temp files an interrupted checkpoint write left, and refuse
    a newest checkpoint that cannot be resumed or a resume that would train nothing."""
    from usanimator_app.engine.checkpoint import check_resumable, read_checkpoint, remove_stale_temp_files
    from usanimator_app.engine.trainer import CHECKPOINT_DIR, latest_checkpoint

    folder = Path(run_dir) / CHECKPOINT_DIR
    if folder.is_dir():
        remove_stale_temp_files(folder)
    checkpoint = latest_checkpoint(run_dir)
    if checkpoint is not None:  # without one the trainer says there is nothing to resume
        check_resumable(read_checkpoint(checkpoint), checkpoint, steps)

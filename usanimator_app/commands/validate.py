"""Checks on command-line options, run before any work starts. Each problem is a one-line
:class:`UserInputError` naming the option (or file) and what to do; the CLI exits with code 2. The
checks themselves are ``core.validation``'s, which the window's fields use too."""

from __future__ import annotations

import argparse
from pathlib import Path

from usanimator_app.core.errors import UserInputError
from usanimator_app.core.validation import (
    BATCH_RANGE,
    FPS_RANGE,
    GAIN_RANGE,
    export_target,
    finite_float,
    input_path,
    learning_rate,
    output_file,
    output_folder,
    output_side,
    whole_number,
)


def _paths(value) -> list[Path]:
    return [Path(v) for v in value] if isinstance(value, (list, tuple)) else [Path(value)]


def check_animate_args(args: argparse.Namespace) -> None:
    """``usanimator animate`` options (the GUI's Animate tab runs the same checks on its fields)."""
    export_target(args.out)
    if args.fps is not None:
        finite_float("--fps", args.fps, *FPS_RANGE)
    finite_float("--gain", args.gain, *GAIN_RANGE)
    whole_number("--source-frame", args.source_frame, 0)
    if args.max_frames is not None:
        whole_number("--max-frames", args.max_frames, 1)
    output_side("--max-side", args.max_side)
    if args.output_size.isdigit():
        output_side("--output-size", int(args.output_size))
    if args.model is not None:
        input_path("--model", args.model)


def check_gui_args(args: argparse.Namespace) -> None:
    """``usanimator gui`` options, checked before the window opens."""
    for name in ("source", "driving", "model"):
        if getattr(args, name) is not None:
            input_path(f"--{name}", getattr(args, name))
    if args.export is not None:
        export_target(args.export, "--export")


def check_train_args(args: argparse.Namespace) -> None:
    """``usanimator train`` options."""
    output_folder(args.out)
    for data in _paths(args.data):
        input_path("--data", data)
    if args.lr is not None:
        learning_rate("--lr", args.lr)
    whole_number("--batch", args.batch, *BATCH_RANGE)
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
    if getattr(args, "task", None) == "transfer":
        check_transfer_args(args)
    else:
        if args.data is None:
            raise UserInputError(f"--task {args.task} needs --data (a dataset folder)")
        input_path("--data", args.data)
    for spec in args.model:
        input_path("--model", Path(spec.rpartition("=")[2]))
    if args.reference_detector:
        input_path("--reference-detector", Path(args.reference_detector))
    whole_number("--fid-frame-stride", args.fid_frame_stride, 1)
    if args.max_clips is not None:
        whole_number("--max-clips", args.max_clips, 2)
    whole_number("--window", args.window, 2)
    if args.task == "transfer":
        return
    from usanimator_app.evaluation.protocol import test_clips

    clips, which = test_clips(args.data)
    if len(clips[: args.max_clips]) < 2:
        raise UserInputError(
            f"{args.data}: {which} gives {len(clips[: args.max_clips])} clip(s); FID and FVD need at least 2 test clips"
        )


def check_transfer_args(args: argparse.Namespace) -> None:
    """``evaluate --task transfer``: some pairs to score, every named file present."""
    if args.data is None and not args.source and not args.phantom_pairs:
        raise UserInputError("--task transfer needs pairs: --data FOLDER, --source STILL with --driving CLIP, or --phantom-pairs N")
    if args.data is not None:
        input_path("--data", args.data)
    if bool(args.source) != bool(args.driving):
        raise UserInputError("--source stills need --driving clips (and --driving clips need --source stills)")
    for path in args.source:
        input_path("--source", path)
    for path in args.driving:
        input_path("--driving", path)
    if args.phantom_pairs:
        whole_number("--phantom-pairs", args.phantom_pairs, 1)


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

"""``usanimator train``: train a model on a dataset folder (drives engine.trainer.train_steps)."""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
import time
from pathlib import Path

from usanimator_app.core.errors import UserInputError
from usanimator_app.engine.device import DEVICE_CHOICES, DEVICE_HELP
from usanimator_app.engine.config import FINETUNE_RECIPES


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser("train", help="train a model on a folder of clips with annotation sidecars")
    parser.add_argument(
        "--data",
        required=True,
        type=Path,
        action="append",
        help="dataset folder (clips; sidecars and split.json optional) or a dataset file (.yaml/.json) listing "
        "folders with sampling weights; repeat to mix folders (equal weights)",
    )
    parser.add_argument("--preset", default="ptg", help="fomm | p | pt | ptg (the paper's ablation)")
    parser.add_argument("--size", default="cpu-128", help="paper-256 | cpu-128 | tiny")
    parser.add_argument("--out", required=True, type=Path, help="run folder (checkpoints, metrics.jsonl, samples)")
    parser.add_argument("--steps", type=int, default=None, help="total steps (default 10000; with --resume: extend to this)")
    parser.add_argument(
        "--minutes",
        type=float,
        default=None,
        help="fine-tune --init in this many minutes (setup and validations included): clips held out for "
        "validation, the --recipe, the best model on validation kept as OUT/best.pt (engine/finetune.py)",
    )
    parser.add_argument(
        "--recipe",
        default=None,
        choices=FINETUNE_RECIPES,
        help="with --minutes: which networks the fine-tune trains: 'motion' (default: keypoint detector and dense motion) "
        "or 'fill' (the generator, discriminator and occlusion map, on the motion as the app shows it; the deformation frozen)",
    )
    parser.add_argument("--batch", type=int, default=4, help="batch size")
    parser.add_argument("--lr", type=float, default=None, help="Adam learning rate (default 2e-4; with --minutes the peak of its schedule, default 1e-4)")
    parser.add_argument("--checkpoint-every", type=int, default=250)
    parser.add_argument("--sample-every", type=int, default=100, help="save preview images every N steps (0: never)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--vgg19", default=None, help="ImageNet VGG19 weights file for the perceptual loss (again with --resume)")
    parser.add_argument("--device", default="auto", choices=DEVICE_CHOICES, help=DEVICE_HELP)
    parser.add_argument("--resume", action="store_true", help="continue the newest checkpoint in --out")
    parser.add_argument(
        "--init",
        type=Path,
        default=None,
        help="fine-tune: start from this checkpoint's networks (its preset and size) with fresh optimiser state",
    )
    parser.add_argument(
        "--warped-source-l1",
        type=float,
        default=0.0,
        help="weight of the (not in the paper) L1 loss on the default output occlusion*warp(source)+(1-occlusion)*G_f; 0 = the paper's objective",
    )
    parser.add_argument(
        "--progress", default="bar", choices=("bar", "json"), help="terminal bar, or one JSON line per step (for the GUI)"
    )


def _save_samples(run_dir: Path, step: int, samples: dict) -> dict[str, str]:
    """Preview PNGs under run_dir/samples; returns name -> path."""
    import cv2

    folder = run_dir / "samples"
    folder.mkdir(parents=True, exist_ok=True)
    paths = {}
    for name, image in samples.items():
        path = folder / f"step_{step:07d}_{name}.png"
        cv2.imwrite(str(path), image)
        paths[name] = str(path)
    return paths


class _StopSignals:
    """While active, SIGTERM and SIGINT set ``requested``: the trainer then saves a checkpoint and
    stops after the current step. A second signal interrupts at once."""

    def __init__(self):
        self.requested = False
        self._previous = {}

    def __enter__(self) -> "_StopSignals":
        if threading.current_thread() is threading.main_thread():
            for number in (signal.SIGTERM, signal.SIGINT):
                self._previous[number] = signal.signal(number, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        for number, handler in self._previous.items():
            signal.signal(number, handler)

    def _handle(self, number, frame) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True
        # os.write, not print: the interrupted code may be inside a write to stderr
        os.write(2, b"\nusanimator train: stopping after this step (a checkpoint is saved); signal again to quit at once\n")


def run(args: argparse.Namespace) -> int:
    with _StopSignals() as signals:
        return _train(args, lambda: signals.requested)


def _train(args: argparse.Namespace, should_stop) -> int:
    from usanimator_app.engine.config import make_config
    from usanimator_app.engine.finetune import FINETUNE_FILE, LEARNING_RATE, finetune_steps
    from usanimator_app.engine.trainer import train_steps
    from usanimator_app.commands.validate import check_resume, check_train_args

    check_train_args(args)
    if args.minutes is not None or (args.resume and (args.out / FINETUNE_FILE).is_file()):
        _check_finetune_args(args)
        if args.resume:
            check_resume(args.out, None)
        reports = finetune_steps(args.data, args.out, init=args.init, minutes=args.minutes, device=args.device,
                                 resume=args.resume, batch_size=args.batch, learning_rate=args.lr or LEARNING_RATE,
                                 vgg19=args.vgg19, should_stop=should_stop, recipe=args.recipe or "motion")
        return _show(args, reports)
    if args.resume:
        check_resume(args.out, args.steps)
    config = None
    if not args.resume:
        config = make_config(
            args.preset,
            args.size,
            batch_size=args.batch,
            checkpoint_every=args.checkpoint_every,
            sample_every=args.sample_every,
            seed=args.seed,
            **({"steps": args.steps} if args.steps else {}),
            **({"learning_rate": args.lr} if args.lr else {}),
        )
        config.losses.warped_source_l1 = args.warped_source_l1
    if args.init is not None and args.resume:
        raise UserInputError("--init starts a new run and --resume continues one: give one of them")
    reports = train_steps(args.data, args.out, config, device=args.device, resume=args.resume, init=args.init,
                          steps=args.steps, vgg19=args.vgg19, should_stop=should_stop)
    return _show(args, reports)


def _check_finetune_args(args: argparse.Namespace) -> None:
    """``--minutes`` (a fine-tune) goes with --init, or --resume of a fine-tune run; not with --steps."""
    if args.steps is not None:
        raise UserInputError("--minutes sets a fine-tune's length; leave out --steps")
    if args.resume:
        if args.minutes is not None or args.init is not None or args.recipe is not None:
            raise UserInputError("--resume continues the fine-tune in --out with its own budget, model and recipe: "
                                 "leave out --minutes, --init and --recipe")
        return
    if args.init is None:
        raise UserInputError("--minutes fine-tunes a model: give the model to start from with --init")
    if not 0 < args.minutes <= 24 * 60:
        raise UserInputError(f"--minutes is {args.minutes:g}; give a number of minutes above 0 and at most {24 * 60}")


def _show(args: argparse.Namespace, reports) -> int:
    """Print the trainer's reports: a terminal bar, or one JSON line each (``--progress json``)."""
    started = time.perf_counter()
    first_step = None
    quiet = int(os.environ.get("RANK", "0")) != 0  # under torchrun only rank 0 reports
    for report in reports:
        if quiet:
            continue
        samples = _save_samples(args.out, report.step, report.samples) if report.samples else None
        if args.progress == "json":
            line = {"step": report.step, "total": report.total_steps, "losses": report.losses, "seconds": report.seconds}
            if report.message:
                line["message"] = report.message
            if samples:
                line["samples"] = samples
            if report.checkpoint:
                line["checkpoint"] = report.checkpoint
            for name in ("validation", "verdict"):
                if getattr(report, name):
                    line[name] = getattr(report, name)
            print(json.dumps(line), flush=True)
            continue
        if report.validation:
            v = report.validation
            print(f"\rvalidation at step {v['step']} ({v['minutes']:.1f} min trained): L1 {v['l1']:.4f}, identity "
                  f"{v['identity_l1']:.4f} ({v['ratio']:.3f}x), folds {v['folds']:.2%}, implausible {v['implausible']:.2%}"
                  f"{' - kept' if v['best'] else ''}", file=sys.stderr, flush=True)
            continue
        if report.message:
            print(f"\r{report.message}", file=sys.stderr, flush=True)
            continue
        if first_step is None:
            first_step, started = report.step - 1, time.perf_counter() - report.seconds
        done = report.step - first_step
        rate = done / max(time.perf_counter() - started, 1e-9)
        eta = (report.total_steps - report.step) / max(rate, 1e-9)
        width = 30
        filled = int(width * report.step / report.total_steps)
        losses = " ".join(f"{k}={v:.3f}" for k, v in report.losses.items())
        print(
            f"\r[{'#' * filled}{'.' * (width - filled)}] {report.step}/{report.total_steps} "
            f"{rate:.2f} steps/s ETA {eta / 60:.0f} min {losses}",
            end="\n" if report.checkpoint else "",
            file=sys.stderr,
            flush=True,
        )
    print(file=sys.stderr)
    return 0

"""``usanimator evaluate``: the paper's reconstruction / prediction protocol on a test split, and
transfer (one subject's still moved by another's clip, ``evaluation.transfer``)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from usanimator_app.engine.device import DEVICE_CHOICES, DEVICE_HELP


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser("evaluate", help="evaluate models (and the identity baseline) on a dataset's test split")
    parser.add_argument("--model", action="append", required=True, metavar="[NAME=]CKPT",
                        help="checkpoint to evaluate; repeat for several (NAME defaults to the file's stem)")
    parser.add_argument("--data", type=Path,
                        help="dataset folder: its split.json test split, or every clip when it has no split.json "
                             "(transfer: every ordered pair of those clips)")
    parser.add_argument("--task", default="both", choices=("reconstruction", "prediction", "both", "transfer"))
    parser.add_argument("--source", action="append", type=Path, default=[],
                        help="transfer: a still to animate by every --driving clip (repeatable)")
    parser.add_argument("--driving", action="append", type=Path, default=[], help="transfer: a driving clip (repeatable)")
    parser.add_argument("--phantom-pairs", type=int, default=0,
                        help="transfer: also score N phantom pairs against their ground truth (seeds no model saw)")
    parser.add_argument("--raw-too", action="store_true",
                        help="transfer: also score each model with the network's raw motion and the plain composite")
    parser.add_argument("--out", required=True, type=Path, help="folder for evaluation.md, evaluation.csv, samples.png")
    parser.add_argument("--device", default="auto", choices=DEVICE_CHOICES, help=DEVICE_HELP)
    parser.add_argument("--reference-detector", default=None, help="checkpoint whose detector reads AKD/landmarks")
    parser.add_argument("--fid-frame-stride", type=int, default=1, help="use every N-th frame for FID (speed)")
    parser.add_argument("--max-clips", type=int, default=None, help="evaluate only the first N test clips")
    parser.add_argument("--window", type=int, default=96,
                        help="score clips longer than this on a window of this many frames centred on the source frame")


def run(args: argparse.Namespace) -> int:
    from usanimator_app.evaluation.protocol import TASKS, evaluate, write_report
    from usanimator_app.commands.validate import check_evaluate_args

    models = {}
    for spec in args.model:
        name, _, path = spec.rpartition("=")
        models[name or Path(path).stem] = path
    check_evaluate_args(args)
    if args.task == "transfer":
        return run_transfer(args, models)
    tasks = TASKS if args.task == "both" else (args.task,)
    results, info = evaluate(
        models, args.data, tasks, args.device, args.reference_detector, args.fid_frame_stride, args.max_clips,
        window=args.window, progress=lambda message: print(message, file=sys.stderr, flush=True),
    )
    paths = write_report(results, info, args.out, tasks)
    print(paths["markdown"].read_text())
    print(f"wrote {', '.join(str(p) for p in paths.values())}", file=sys.stderr)
    return 0


def run_transfer(args: argparse.Namespace, models: dict[str, str]) -> int:
    from usanimator_app.engine.animator import Animator, MotionOptions, OutputOptions
    from usanimator_app.evaluation import transfer as T
    from usanimator_app.evaluation.protocol import test_clips

    def progress(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    variants = []
    for name, path in models.items():
        animator = Animator(path, device=args.device)
        variants.append(T.Variant(name, animator, MotionOptions(), OutputOptions()))
        if args.raw_too:
            variants.append(T.Variant(f"{name}:raw", animator, MotionOptions(tissue=False), OutputOptions(keep_sector=False)))
    report = T.TransferReport()
    info = {"window": args.window, "device": variants[0].animator.device_choice.label, "fid_frame_stride": args.fid_frame_stride}
    real_frames = None
    pairs, clips = [], {}
    if args.data:
        pairs, clips = T.folder_pairs(args.data)
        _, which = test_clips(args.data)
        info["data"] = f"{len(clips)} clips ({which}): {len(pairs)} ordered pairs"
        real_frames = T.real_frames(clips, args.window, args.fid_frame_stride)
    if args.source:
        more, driving = T.still_pairs(args.source, args.driving)
        pairs, clips = pairs + more, {**clips, **driving}
        info["stills"] = f"{len(args.source)} stills x {len(args.driving)} driving clips"
    if pairs:
        T.evaluate_real(variants, pairs, clips, real_frames, args.window, args.fid_frame_stride, report, progress)
    if args.phantom_pairs:
        T.evaluate_phantom(variants, args.phantom_pairs, report, progress)
    paths = T.write_transfer_report(report, args.out, info)
    print(paths["markdown"].read_text())
    print(f"wrote {', '.join(str(p) for p in paths.values())}", file=sys.stderr)
    return 0

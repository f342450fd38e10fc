"""``usanimator evaluate``: the paper's reconstruction / prediction protocol on a test split."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from usanimator_app.engine.device import DEVICE_CHOICES, DEVICE_HELP


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser("evaluate", help="evaluate models (and the identity baseline) on a dataset's test split")
    parser.add_argument("--model", action="append", required=True, metavar="[NAME=]CKPT",
                        help="checkpoint to evaluate; repeat for several (NAME defaults to the file's stem)")
    parser.add_argument("--data", required=True, type=Path,
                        help="dataset folder: its split.json test split, or every clip when it has no split.json")
    parser.add_argument("--task", default="both", choices=("reconstruction", "prediction", "both"))
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
    tasks = TASKS if args.task == "both" else (args.task,)
    results, info = evaluate(
        models, args.data, tasks, args.device, args.reference_detector, args.fid_frame_stride, args.max_clips,
        window=args.window, progress=lambda message: print(message, file=sys.stderr, flush=True),
    )
    paths = write_report(results, info, args.out, tasks)
    print(paths["markdown"].read_text())
    print(f"wrote {', '.join(str(p) for p in paths.values())}", file=sys.stderr)
    return 0

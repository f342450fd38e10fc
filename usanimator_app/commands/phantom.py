"""``usanimator phantom``: write synthetic pelvic-floor clips with ground-truth landmarks.

Examples::

    $ usanimator phantom --out data/phantom256 --clips 130 --frames 48 --size 256 --seed 1
    $ usanimator phantom --samples            # rewrite the bundled samples in resources/
    $ usanimator phantom --transfer-pairs 20 --out data/transfer   # A at rest, B driving, A moving like B

The same options and seed give byte-identical frames. Bad options exit with code 2 and one line.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from usanimator_app.core.errors import UserInputError


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "phantom",
        help="generate synthetic pelvic-floor ultrasound clips with ground-truth landmarks",
        description="Simulate transperineal pelvic-floor cine clips (Valsalva, contraction, rest) with "
        "moving speckle and write each with its annotation sidecar, plus split.json. "
        "--samples instead rewrites the app's bundled samples; --transfer-pairs N writes motion-transfer "
        "pairs with ground truth (see docs/PHANTOM.md).",
    )
    parser.add_argument("--out", help="output folder for the dataset")
    parser.add_argument("--clips", type=int, default=10, help="number of clips (default 10)")
    parser.add_argument("--frames", type=int, default=48, help="frames per clip (default 48)")
    parser.add_argument("--size", type=int, default=256, help="image width and height in pixels (default 256)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--descent-mm", default="5:35", metavar="LO:HI",
                        help="range of peak bladder-neck descent for Valsalva clips in mm (default 5:35)")
    parser.add_argument("--format", choices=("mp4", "png", "dcm"), default="mp4",
                        help="clip format: H.264 MP4, a folder of PNGs or a DICOM cine (default mp4)")
    parser.add_argument("--test-fraction", type=float, default=0.2, help="share of clips in the test split (default 0.2)")
    parser.add_argument("--samples", action="store_true",
                        help="write sample_source.png/.dcm and sample_driving.mp4 (+ sidecars) into --out "
                        "(default: the app's resources folder)")
    parser.add_argument("--transfer-pairs", type=int, metavar="N",
                        help="write N transfer pairs into --out: pair_001/source.png (subject A at rest), "
                        "driving.mp4 (subject B, Valsalva), truth.mp4 (A moving with B's manoeuvre), sidecars "
                        "and pairs.json; subject seeds 900000 + 1000 x --seed + 0, 1, 2, ... (never the training "
                        "seeds); --frames, --size and --descent-mm apply")


def _descent_range(text: str) -> tuple[float, float]:
    try:
        lo, hi = (float(part) for part in text.split(":"))
    except ValueError:
        raise UserInputError(f"--descent-mm must look like LO:HI in mm (e.g. 5:35), got {text!r}") from None
    if not 0.0 <= lo <= hi <= 40.0:
        raise UserInputError(f"--descent-mm needs 0 <= LO <= HI <= 40, got {text!r}")
    return lo, hi


def _check(args: argparse.Namespace) -> None:
    from usanimator_app.core.phantom import MAX_TRANSFER_PAIRS

    if not args.samples and not args.out:
        raise UserInputError("--out DIR is required (or use --samples)")
    if args.samples and args.transfer_pairs is not None:
        raise UserInputError("--samples and --transfer-pairs do not go together")
    if args.transfer_pairs is not None and not 1 <= args.transfer_pairs <= MAX_TRANSFER_PAIRS:
        raise UserInputError(f"--transfer-pairs must be within 1..{MAX_TRANSFER_PAIRS}, got {args.transfer_pairs}")
    if args.clips < 1:
        raise UserInputError(f"--clips must be at least 1, got {args.clips}")
    if args.frames < 2:
        raise UserInputError(f"--frames must be at least 2, got {args.frames}")
    if not 32 <= args.size <= 1024:
        raise UserInputError(f"--size must be within 32..1024, got {args.size}")
    if not 0.0 <= args.test_fraction < 1.0:
        raise UserInputError(f"--test-fraction must be within [0, 1), got {args.test_fraction}")
    if args.out and Path(args.out).exists() and not Path(args.out).is_dir():
        raise UserInputError(f"{args.out}: exists and is not a folder")


def run(args: argparse.Namespace) -> int:
    from usanimator_app.core.paths import resources_dir
    from usanimator_app.core.phantom import generate_dataset, write_samples, write_transfer_pairs

    _check(args)
    if args.samples:
        folder = Path(args.out) if args.out else resources_dir()
        for path in write_samples(folder):
            print(path)
        return 0
    descent = _descent_range(args.descent_mm)
    start = time.monotonic()
    unit = "clips" if args.transfer_pairs is None else "pairs"

    def progress(done: int, total: int) -> None:
        elapsed = time.monotonic() - start
        eta = elapsed / done * (total - done)
        end = "\n" if done == total else ""
        print(f"\rphantom: {done}/{total} {unit}, {elapsed:.0f} s, about {eta:.0f} s left ", end=end, file=sys.stderr, flush=True)

    if args.transfer_pairs is not None:
        folders = write_transfer_pairs(args.out, args.transfer_pairs, args.frames, args.size, args.seed,
                                       descent_mm=descent, progress=progress)
        print(f"wrote {len(folders)} transfer pairs and pairs.json to {args.out}")
        return 0
    paths = generate_dataset(args.out, args.clips, args.frames, args.size, args.seed, descent_mm=descent,
                             fmt=args.format, test_fraction=args.test_fraction, progress=progress)
    print(f"wrote {len(paths)} clips, their sidecars and split.json to {args.out}")
    return 0

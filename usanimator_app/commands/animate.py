"""``usanimator animate``: animate a source frame with a driving clip and write an MP4 (or PNGs)."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from usanimator_app.core.errors import UserInputError
from usanimator_app.core.validation import DEFAULT_MAX_SIDE
from usanimator_app.engine.device import DEVICE_CHOICES, DEVICE_HELP


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser("animate", help="animate a source frame with the motion of a driving clip")
    add_animation_arguments(parser)


def add_animation_arguments(parser: argparse.ArgumentParser, required: bool = True) -> None:
    parser.add_argument("--source", type=Path, required=required, help="source frame: DICOM, PNG, JPEG, ... (or a clip)")
    parser.add_argument("--source-frame", type=int, default=0, help="frame of a multi-frame source to use (default 0)")
    parser.add_argument("--driving", type=Path, required=required, help="driving clip: MP4, AVI, MOV, GIF, DICOM, ...")
    parser.add_argument("--out", type=Path, required=required, help="output .mp4, or a folder for a PNG sequence")
    parser.add_argument("--model", type=Path, default=None, help="checkpoint (default: the bundled model)")
    parser.add_argument("--device", default="auto", choices=DEVICE_CHOICES, help=DEVICE_HELP)
    parser.add_argument("--absolute", action="store_true", help="absolute motion (default: relative)")
    parser.add_argument("--no-adapt-scale", action="store_true", help="relative motion without FOMM's scale adaptation")
    parser.add_argument("--reference", default="first", help="reference driving frame: first | best | INDEX")
    parser.add_argument("--gain", type=float, default=1.0, help="motion gain (1 = as driven)")
    parser.add_argument("--max-frames", type=int, default=None, help="animate at most N driving frames")
    parser.add_argument(
        "--output-size",
        default="native",
        help="native (the source's own resolution, capped by --max-side; default) | model (the model's size) | N (longest side in px)",
    )
    parser.add_argument("--max-side", type=int, default=DEFAULT_MAX_SIDE,
                        help=f"longest side of native output in px (default {DEFAULT_MAX_SIDE})")
    parser.add_argument(
        "--output-mode",
        default="default",
        choices=("default", "generated", "content"),
        help="default: the source's pixels moved by the motion, the generated frame filling occlusions; "
        "generated: the paper's generated frame; content: its content decoder's image",
    )
    parser.add_argument("--raw-motion", action="store_true",
                        help="use the network's motion as it is (default: made fold-free and area-bounded inside the "
                        "source's imaging sector, engine/tissue_motion.py)")
    parser.add_argument("--no-match-motion", action="store_true",
                        help="relative motion: use the network's motion at the strength it comes out for this source (default: "
                        "the source moves as much as the driving clip moves its own reference frame)")
    parser.add_argument("--no-lock-landmarks", action="store_true",
                        help="do not carry the source's anatomical landmarks exactly where the keypoints move them (default: "
                        "they are, where the detector is sure of them on the source and the driving clip)")
    parser.add_argument("--no-keep-sector", action="store_true",
                        help="let the motion and the fill reach outside the source's imaging sector (default: the sector "
                        "and everything outside it stay as in the source)")
    parser.add_argument("--motion-out", type=Path, default=None,
                        help="also write the motion as .npz: displacement (F, h, w, 2) and occlusion (F, h, w) on the motion "
                        "grid, the model-space source, keypoints and landmarks (docs/METRICS.md)")
    parser.add_argument("--layout", default="output", choices=("output", "side-by-side", "overlays"))
    parser.add_argument("--fps", type=float, default=None, help="output fps (default: the driving clip's, else 20)")
    parser.add_argument("--no-caption", action="store_true", help="leave out the burned-in SYNTHETIC caption")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing output")
    parser.add_argument("--trajectory", type=Path, default=None,
                        help="drive by an edited bladder-neck trajectory: an edits JSON, or the .settings.json written "
                        "beside an edited export (the caption then says so, and the settings go beside --out)")


def _reference(value: str):
    if value in ("first", "best"):
        return value
    try:
        return int(value)
    except ValueError:
        raise UserInputError(f"--reference must be first, best or a frame index, not {value!r}") from None


def run(args: argparse.Namespace) -> int:
    from dataclasses import asdict

    from usanimator_app.core.compose import CAPTION, EDITED_CAPTION, compose_frame
    from usanimator_app.core.export import Mp4Writer, write_png_sequence, write_settings
    from usanimator_app.core.trajectory import Trajectory, load_edits, remake_settings
    from usanimator_app.core.media import open_media
    from usanimator_app.engine.animator import Animator, MotionOptions, MotionRecord, OutputOptions
    from usanimator_app.engine.pipeline import DrivingFrames, default_model_path, load_source_frame
    from usanimator_app.commands.validate import check_animate_args

    out: Path = args.out
    as_png = out.suffix.lower() != ".mp4"
    if out.exists() and not args.overwrite:
        raise UserInputError(f"{out}: already exists; pass --overwrite to replace it")
    check_animate_args(args)
    edits = load_edits(args.trajectory) if args.trajectory else None  # a bad edits file fails before any work
    model_path = args.model or default_model_path()
    animator = Animator(model_path, device=args.device)
    print(f"model: {model_path} (step {animator.step}); device: {animator.device_choice.note}", file=sys.stderr)
    source = load_source_frame(args.source, animator.image_size, args.source_frame)
    driving_media = open_media(args.driving)
    driving = DrivingFrames(driving_media, animator.image_size, args.max_frames)
    options = MotionOptions(
        relative=not args.absolute, adapt_scale=not args.no_adapt_scale, reference=_reference(args.reference), gain=args.gain,
        tissue=not args.raw_motion, match_motion=not args.no_match_motion, lock_landmarks=not args.no_lock_landmarks,
    )
    output = OutputOptions(mode=args.output_mode, size=args.output_size, max_side=args.max_side, keep_sector=not args.no_keep_sector)
    motion = MotionRecord(source.model_frame, animator.landmark_names) if args.motion_out else None
    fps = args.fps or driving_media.info.fps or 20.0
    total = len(driving)
    driving_points = None
    if edits is not None:
        track = [driving.geometry.points_to_original(p) for p in animator.point_track(driving)]
        trajectory = Trajectory(animator.landmark_names, track)
        trajectory.edits = edits
        driving_points = [driving.geometry.points_to_model(p) for p in trajectory.edited_points()]

    def frames():
        started = time.perf_counter()
        for result in animator.animate(source.model_frame, driving, options, native=source.native, output=output,
                                       driving_points=driving_points):
            if motion is not None:
                motion.add(result)
            done = result.index + 1
            rate = done / max(time.perf_counter() - started, 1e-9)
            print(f"\rframe {done}/{total}  {rate:.1f} frames/s  ETA {(total - done) / rate:.0f} s", end="", file=sys.stderr, flush=True)
            yield compose_frame(
                result.frame,
                result.driving,
                layout=args.layout,
                caption=not args.no_caption,
                caption_text=CAPTION if edits is None else EDITED_CAPTION,
                keypoints=result.frame_keypoints,
                landmarks=result.frame_landmarks,
                landmark_names=animator.landmark_names,
            )

    if as_png:
        count = write_png_sequence(frames(), out)
    else:
        with Mp4Writer(out, fps) as writer:
            for frame in frames():
                writer.write(frame)
        count = writer.frames_written
    print(f"\nwrote {count} frames to {out}", file=sys.stderr)
    if motion is not None:
        print(f"motion: {motion.write(args.motion_out)}", file=sys.stderr)
    if edits is not None:
        export = {"layout": args.layout, "fps": fps, "caption": not args.no_caption}
        settings = remake_settings(args.source.resolve(), args.source_frame, args.driving.resolve(), Path(model_path).resolve(),
                                   args.max_frames, asdict(options), asdict(output), export, edits)
        print(f"settings: {write_settings(out, settings)}", file=sys.stderr)
    return 0

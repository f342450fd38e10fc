"""``usanimator remake``: make an edited export again from the settings file written beside it.

The settings name the source, driving clip and model by content hash, not by path
(``core.identity``): each is given (``--source``, ``--driving``, ``--model``; checked against its
hash) or found by hash under the ``--search`` folders; the bundled model is found by its name.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from usanimator_app.core.errors import UserInputError


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser("remake", help="make an edited export again from its .settings.json")
    parser.add_argument("settings", type=Path, help="the .settings.json written beside an edited export")
    parser.add_argument("--out", type=Path, required=True, help="output .mp4, or a folder for a PNG sequence")
    parser.add_argument("--search", type=Path, action="append", default=[],
                        help="a folder to look in for the inputs, by content (repeat for more folders)")
    parser.add_argument("--source", type=Path, default=None, help="the source file (checked against the settings' hash)")
    parser.add_argument("--driving", type=Path, default=None, help="the driving clip (checked against the settings' hash)")
    parser.add_argument("--model", type=Path, default=None, help="the checkpoint (default: found by hash or bundled name)")
    parser.add_argument("--device", default="auto", help="as for animate")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing output")


def animate_arguments(settings: dict, source: Path, driving: Path, model: Path) -> list[str]:
    """The ``usanimator animate`` options that remake the export of ``settings`` from these files."""
    try:
        motion, output, export = settings["motion"], settings["output"], settings["export"]
        arguments = ["--source", str(source), "--source-frame", str(settings["source_frame"]), "--driving", str(driving),
                     "--model", str(model), "--reference", str(motion["reference"]), "--gain", str(motion["gain"]),
                     "--output-size", str(output["size"]), "--max-side", str(output["max_side"]),
                     "--output-mode", output["mode"], "--layout", export["layout"], "--fps", str(export["fps"])]
        arguments += ["--absolute"] * (not motion["relative"]) + ["--no-adapt-scale"] * (not motion["adapt_scale"])
        arguments += ["--raw-motion"] * (not motion.get("tissue", True)) + ["--no-keep-sector"] * (not output.get("keep_sector", True))
        arguments += ["--no-match-motion"] * (not motion.get("match_motion", False))  # settings written before it: off
        arguments += ["--no-lock-landmarks"] * (not motion.get("lock_landmarks", False))  # likewise
        arguments += ["--no-caption"] * (not export["caption"])
        return arguments + (["--max-frames", str(settings["max_frames"])] if settings.get("max_frames") else [])
    except (KeyError, TypeError) as exc:
        raise UserInputError(f"the export settings are incomplete (no {exc})") from None


def run(args: argparse.Namespace) -> int:
    from usanimator_app.commands import animate
    from usanimator_app.core.identity import locate
    from usanimator_app.core.trajectory import read_settings

    settings = read_settings(args.settings)
    found = [locate(settings.get(role), given, args.search)
             for role, given in (("source", args.source), ("driving", args.driving), ("model", args.model))]
    argv = animate_arguments(settings, *found) + ["--trajectory", str(args.settings), "--out", str(args.out),
                                                  "--device", args.device] + ["--overwrite"] * args.overwrite
    parser = argparse.ArgumentParser(prog="usanimator remake")
    animate.add_animation_arguments(parser)
    return animate.run(parser.parse_args(argv))

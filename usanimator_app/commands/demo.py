"""``usanimator demo``: the README's first command - the bundled model animates the bundled real
pelvic-floor still (PFUS1, CC BY 4.0) with the bundled phantom driving clip."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from usanimator_app.engine.device import DEVICE_CHOICES, DEVICE_HELP


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser("demo", help="animate the bundled real still with the bundled model (then open the window)")
    parser.add_argument("--out", type=Path, default=Path("out/demo.mp4"), help="where to write the MP4")
    parser.add_argument("--device", default="auto", choices=DEVICE_CHOICES, help=DEVICE_HELP)
    parser.add_argument("--no-gui", action="store_true", help="do not open the window even when a display is present")


def run(args: argparse.Namespace) -> int:
    from usanimator_app.commands import animate, gui
    from usanimator_app.core.paths import resources_dir

    source = resources_dir() / "sample_real_pfus1_a.png"
    driving = resources_dir() / "sample_driving.mp4"
    status = animate.run(_parsed(animate.add_animation_arguments, [
        "--source", str(source), "--driving", str(driving), "--out", str(args.out), "--device", args.device,
        "--layout", "side-by-side", "--overwrite",
    ]))
    has_display = bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
    if status == 0 and has_display and not args.no_gui:
        return gui.run(_parsed(gui.add_gui_arguments, ["--source", str(source), "--driving", str(driving),
                                                       "--device", args.device]))
    return status


def _parsed(add_arguments, argv: list[str]) -> argparse.Namespace:
    """``argv`` parsed with a command's own options (``add_arguments``), its defaults included."""
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return parser.parse_args(argv)

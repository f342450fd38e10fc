"""``usanimator gui`` (and ``usanimator`` alone): open the desktop window.

The options load files and can drive a run, for demos and packaging checks:
``usanimator gui --source S --driving D --model M --run --export out.mp4 --quit-when-done``.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from usanimator_app.core.errors import UserInputError
from usanimator_app.commands.validate import check_gui_args
from usanimator_app.engine.device import DEVICE_CHOICES, DEVICE_HELP


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser("gui", help="open the desktop window (the default without a subcommand)")
    add_gui_arguments(parser)


def add_gui_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--source", type=Path, help="source frame to load: DICOM, PNG, JPEG, ... (or a clip)")
    parser.add_argument("--driving", type=Path, help="driving clip to load")
    parser.add_argument("--model", type=Path, help="checkpoint to load (default: the last used, else the bundled model)")
    parser.add_argument("--device", choices=DEVICE_CHOICES, help=f"{DEVICE_HELP} (default: the last used)")
    parser.add_argument("--run", action="store_true", help="animate as soon as the model and files are loaded")
    parser.add_argument("--export", type=Path, metavar="OUT", help="after the run, export to OUT (.mp4, else a PNG folder); implies --run")
    parser.add_argument("--quit-when-done", action="store_true",
                        help="close the window when that is done (exit code 1 when something failed); errors go to stderr")


def run(args: argparse.Namespace) -> int:
    if sys.platform.startswith("linux") and not (
        os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY") or os.environ.get("QT_QPA_PLATFORM")
    ):
        raise UserInputError("no display found (DISPLAY is not set); use the subcommands (usanimator --help) "
                             "or set QT_QPA_PLATFORM=offscreen")
    check_gui_args(args)
    # The model runs in worker threads; OpenMP threads that spin while idle starve them (and the
    # window) on a small CPU: a run measured 8x slower without this. Read when torch loads, below.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    from usanimator_app.gui.app import run_gui
    from usanimator_app.gui.main_window import Launch

    launch = Launch(
        source=args.source,
        driving=args.driving,
        model=args.model,
        device=args.device,
        run=args.run or args.export is not None,
        export=args.export,
        quit_when_done=args.quit_when_done,
    )
    return run_gui(sys.argv[:1], launch)

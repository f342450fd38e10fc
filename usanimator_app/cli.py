"""The ``usanimator`` command: no arguments opens the window; subcommands run without Qt.

Each subcommand lives in ``usanimator_app/commands/<name>.py`` with ``add_parser(subparsers)`` and
``run(args) -> int``. A :class:`UserInputError` anywhere becomes one line on stderr and exit code 2.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from usanimator_app import __version__
from usanimator_app.core.errors import UserInputError

COMMANDS = ("info", "phantom", "train", "animate", "remake", "evaluate", "demo", "gui")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="usanimator",
        description="Animate a still ultrasound frame with the motion of a driving clip. "
        "Without a subcommand the desktop window opens.",
    )
    parser.add_argument("--version", action="version", version=f"usanimator {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        module = importlib.import_module(f"usanimator_app.commands.{name}")
        module.add_parser(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    # Before torch loads OpenMP: idle threads sleep instead of spinning, so a second process (the GUI,
    # a test run, another training) does not slow this one many times over on a small CPU.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    parser = build_parser()
    args = parser.parse_args(argv)
    command = args.command or "gui"
    module = importlib.import_module(f"usanimator_app.commands.{command}")
    if args.command is None:
        args = parser.parse_args(["gui"])
    try:
        return int(module.run(args) or 0)
    except UserInputError as exc:
        print(f"usanimator {command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"usanimator {command}: interrupted", file=sys.stderr)
        return 130

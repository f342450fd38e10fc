"""Checks on what a user types or chooses, shared by the command line (``commands/validate.py``) and
the window's fields, so that both accept the same values. No Qt, no torch, no media readers.

Each problem is a one-line :class:`UserInputError` naming the option or field, the value and what to
do; ``name`` is the option (``--lr``) on the command line and the field's label in the window.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

from usanimator_app.core.errors import UserInputError
from usanimator_app.core.media import FPS_RANGE

GAIN_RANGE = (0.0, 10.0)
OUTPUT_SIDE_RANGE = (16, 8192)  # output size / longest side in px (engine.animator.OutputOptions)
DEFAULT_MAX_SIDE = 1024  # native output's longest side unless asked otherwise (--max-side)
BATCH_RANGE = (1, 4096)
MAX_LEARNING_RATE = 1.0  # the learning rate is in (0, MAX_LEARNING_RATE]


def finite_float(name: str, value: float, low: float | None = None, high: float | None = None,
                 low_open: bool = False) -> float:
    """``value`` if it is a finite number in [low, high] ((low, high] with ``low_open``)."""
    if not math.isfinite(value):
        raise UserInputError(f"{name} must be a finite number, not {value}")
    if low is not None and (value <= low if low_open else value < low):
        raise UserInputError(f"{name} must be {'above' if low_open else 'at least'} {low:g}, not {value:g}")
    if high is not None and value > high:
        raise UserInputError(f"{name} must be at most {high:g}, not {value:g}")
    return value


def typed_number(name: str, text: str) -> float:
    """The number typed in a text field ('2e-4', '0.0002'); any other text is an error."""
    try:
        return float(text.strip())
    except ValueError:
        raise UserInputError(f"{name} must be a number such as 2e-4, not {text.strip()!r}") from None


def learning_rate(name: str, value: float) -> float:
    """A finite learning rate in (0, MAX_LEARNING_RATE]."""
    return finite_float(name, value, 0.0, MAX_LEARNING_RATE, low_open=True)


def whole_number(name: str, value: int, low: int, high: int | None = None) -> int:
    """``value`` if it is in [low, high]."""
    if value < low or (high is not None and value > high):
        limit = f"at least {low}" if high is None else f"from {low} to {high}"
        raise UserInputError(f"{name} must be {limit}, not {value}")
    return value


def output_side(name: str, value: int) -> int:
    """An output size or longest output side in px: ``value`` if it is in ``OUTPUT_SIDE_RANGE``."""
    return whole_number(name, value, *OUTPUT_SIDE_RANGE)


def input_path(name: str, path: Path) -> Path:
    """An existing file or folder."""
    if not Path(path).exists():
        raise UserInputError(f"{path}: no such file or folder (given as {name})")
    return Path(path)


def _label(path: Path, name: str | None) -> str:
    return f"{name} {path}" if name else str(path)


def _first_existing_parent(path: Path, name: str | None) -> Path:
    """The nearest existing ancestor of ``path``; a regular file in the way is an error."""
    parent = path.parent
    while not parent.exists():
        if parent == parent.parent:
            break
        parent = parent.parent
    if not parent.is_dir():
        raise UserInputError(f"{_label(path, name)}: cannot be created because {parent} is a file, not a folder; "
                             "choose another place")
    return parent


def _writable(folder: Path, path: Path, name: str | None) -> None:
    if not os.access(folder, os.W_OK | os.X_OK):
        raise UserInputError(f"{_label(path, name)}: the folder {folder} is not writable; choose another place")


def output_file(path: Path, name: str | None = None) -> Path:
    """A file that will be created: no folder in its place, its folder creatable and writable."""
    path = Path(path)
    if path.is_dir():
        raise UserInputError(f"{_label(path, name)}: is a folder; give a file name")
    _writable(_first_existing_parent(path, name), path, name)
    return path


def output_folder(path: Path, name: str | None = None) -> Path:
    """A folder that will be written into: no file in its place, creatable and writable."""
    path = Path(path)
    if path.exists():
        if not path.is_dir():
            raise UserInputError(f"{_label(path, name)}: is a file, not a folder; choose another output folder")
        _writable(path, path, name)
        return path
    _writable(_first_existing_parent(path, name), path, name)
    return path


def export_target(path: Path, name: str | None = None) -> Path:
    """Where a command-line export goes, by its name: an .mp4 file (:func:`output_file`), else a folder
    of PNGs (:func:`output_folder`). (The Export dialog has its own format choice.)"""
    path = Path(path)
    return (output_file if path.suffix.lower() == ".mp4" else output_folder)(path, name)

"""Work-arounds for defects of the Qt binding, each limited to the versions that have it."""

from __future__ import annotations

import ctypes
import sys

import PySide6

_AMPLE = 1 << 40


def protect_singleton_refcounts() -> None:
    """PySide6 6.12.0 loses references to ``None`` and ``True`` (e.g. one to True per ``Signal.emit()``,
    one to None per Python ``paintEvent`` call).

    Python 3.12+ keeps these singletons immortal, but on 3.11 their counts reach zero within
    minutes of redrawing and the interpreter aborts ("none_dealloc" / "bool_dealloc"). Giving
    them a count no session can use up avoids that. Drop this once pyproject.toml excludes 6.12.0.
    """
    if sys.version_info >= (3, 12) or PySide6.__version__ != "6.12.0":
        return
    for value in (None, True, False):
        count = ctypes.c_ssize_t.from_address(id(value))  # ob_refcnt, the first field of every object
        if count.value < _AMPLE:
            count.value += _AMPLE

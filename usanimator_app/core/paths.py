"""Where the app finds its bundled files and keeps the user's data."""

from __future__ import annotations

import os
import sys
from pathlib import Path

_PACKAGE_DIR = Path(__file__).resolve().parents[1]


def _bundled_dir(name: str) -> Path:
    """``resources`` / ``models``: the repo's top-level folder in a checkout, package data once installed."""
    frozen_root = getattr(sys, "_MEIPASS", None)  # PyInstaller bundle
    candidates = []
    if frozen_root:
        candidates.append(Path(frozen_root) / "usanimator_app" / name)
    candidates += [_PACKAGE_DIR.parent / name, _PACKAGE_DIR / name]
    for candidate in candidates:
        if candidate.is_dir():
            return candidate
    return candidates[0]


def resources_dir() -> Path:
    """Folder of icons and the project's generated sample clips."""
    return _bundled_dir("resources")


def models_dir() -> Path:
    """Folder of the shipped trained model(s), its manifest and model card."""
    return _bundled_dir("models")


def user_data_dir() -> Path:
    """Per-user folder for logs, caches (converted backbones) and settings (created on demand)."""
    override = os.environ.get("USANIMATOR_DATA_DIR")
    if override:
        base = Path(override)
    elif sys.platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA", Path.home() / "AppData" / "Local")) / "USAnimator"
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Application Support" / "USAnimator"
    else:
        base = Path(os.environ.get("XDG_DATA_HOME", Path.home() / ".local" / "share")) / "usanimator"
    base.mkdir(parents=True, exist_ok=True)
    return base

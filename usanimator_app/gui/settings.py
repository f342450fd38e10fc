"""Persistent settings: QSettings (organisation and application "USAnimator") with typed getters.

Tests pass an INI path so that they never touch the user's settings.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from PySide6.QtCore import QByteArray, QSettings

ORGANISATION = "USAnimator"
APPLICATION = "USAnimator"
MAX_RECENT = 10


class Settings:
    """Typed access to QSettings; unreadable values fall back to the default."""

    def __init__(self, ini_path: str | Path | None = None):
        if ini_path is None:
            self._store = QSettings(ORGANISATION, APPLICATION)
        else:
            self._store = QSettings(str(ini_path), QSettings.Format.IniFormat)

    def text(self, key: str, default: str = "") -> str:
        value = self._store.value(key)
        return default if value is None else str(value)

    def integer(self, key: str, default: int) -> int:
        try:
            return int(self._store.value(key, default))
        except (TypeError, ValueError):
            return default

    def number(self, key: str, default: float) -> float:
        """A finite number (a spin box would turn a stored nan or inf into its maximum)."""
        try:
            value = float(self._store.value(key, default))
        except (TypeError, ValueError):
            return default
        return value if math.isfinite(value) else default

    def flag(self, key: str, default: bool) -> bool:
        value = self._store.value(key)
        if value is None:
            return default
        if isinstance(value, bool):
            return value
        return str(value).strip().lower() in ("true", "1", "yes")

    def blob(self, key: str) -> QByteArray | None:
        value = self._store.value(key)
        return value if isinstance(value, QByteArray) and not value.isEmpty() else None

    def set(self, key: str, value) -> None:
        self._store.setValue(key, value)

    def folder(self, role: str) -> str:
        """The last folder used for ``role`` ('source', 'driving', 'model', 'export'), else home."""
        folder = self.text(f"folders/{role}")
        return folder if folder and Path(folder).is_dir() else str(Path.home())

    def set_folder(self, role: str, path: str | Path) -> None:
        path = Path(path).resolve()
        self.set(f"folders/{role}", str(path if path.is_dir() else path.parent))

    def recent_files(self) -> list[tuple[str, str]]:
        """(role, path) pairs, newest first; role is 'source' or 'driving'."""
        try:
            entries = json.loads(self.text("recent/files", "[]"))
            return [(str(e["role"]), str(e["path"])) for e in entries][:MAX_RECENT]
        except (ValueError, TypeError, KeyError):
            return []

    def add_recent_file(self, role: str, path: str | Path) -> None:
        entry = (role, str(Path(path).resolve()))
        entries = [entry] + [e for e in self.recent_files() if e != entry]
        self.set("recent/files", json.dumps([{"role": r, "path": p} for r, p in entries[:MAX_RECENT]]))

    def clear_recent_files(self) -> None:
        self.set("recent/files", "[]")

    def sync(self) -> None:
        self._store.sync()

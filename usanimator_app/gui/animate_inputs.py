"""The Animate tab's inputs: the source frame and the driving clip, opened by drop, Open…, the File
menu, Recent files or Open sample; an unreadable file gives a dialog and changes nothing."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QMenu, QWidget

from usanimator_app.core.errors import UserInputError
from usanimator_app.core.media import MediaSource, open_media
from usanimator_app.core.paths import resources_dir
from usanimator_app.gui.context import TabContext
from usanimator_app.gui.prompts import MEDIA_FILTER
from usanimator_app.gui.widgets import MediaPanel

# in resources/: a real pelvic-floor still (PFUS1, CC BY 4.0), a phantom still, the phantom driving clip
SAMPLE_REAL, SAMPLE_PHANTOM, SAMPLE_DRIVING = "sample_real_pfus1_a.png", "sample_source.png", "sample_driving.mp4"


class Inputs(QObject):
    """The source (any frame of it) and the driving clip shown in their panels; ``changed`` after
    each new input. While ``locked`` (a run or export goes on) nothing opens."""

    changed = Signal()

    def __init__(self, context: TabContext, source_panel: MediaPanel, driving_panel: MediaPanel, tab: QWidget):
        super().__init__(tab)
        self._context = context
        self._settings = context.settings
        self.source_panel = source_panel
        self.driving_panel = driving_panel
        self.source: MediaSource | None = None
        self.source_frame: np.ndarray | None = None
        self.driving: MediaSource | None = None
        self.driving_frame: np.ndarray | None = None
        self.locked = False
        self.open_source_action = QAction("Open source…", tab, shortcut=QKeySequence("Ctrl+O"))
        self.open_driving_action = QAction("Open driving clip…", tab, shortcut=QKeySequence("Ctrl+D"))
        self.sample_menu = QMenu("Open sample", tab)
        self.sample_menu.setToolTipsVisible(True)
        self.open_sample_action = self.sample_menu.addAction("Real pelvic-floor still")
        self.open_sample_action.setToolTip("The bundled real still (PFUS1, CC BY 4.0) with the phantom driving clip")
        self.open_phantom_sample_action = self.sample_menu.addAction("Phantom still")
        self.open_phantom_sample_action.setToolTip("The bundled phantom still with the phantom driving clip")
        self.recent_menu = QMenu("Recent files", tab)
        self.recent_menu.setToolTipsVisible(True)
        self.recent_menu.aboutToShow.connect(self._fill_recent_menu)
        source_panel.file_dropped.connect(self.load_source)
        source_panel.open_clicked.connect(self._open_source_dialog)
        source_panel.frame_changed.connect(self._source_frame_changed)
        driving_panel.file_dropped.connect(self.load_driving)
        driving_panel.open_clicked.connect(self._open_driving_dialog)
        self.open_source_action.triggered.connect(self._open_source_dialog)
        self.open_driving_action.triggered.connect(self._open_driving_dialog)
        self.open_sample_action.triggered.connect(lambda: self.open_sample(SAMPLE_REAL))
        self.open_phantom_sample_action.triggered.connect(lambda: self.open_sample(SAMPLE_PHANTOM))

    def actions(self) -> list[QAction]:
        """For the File menu."""
        return [self.open_source_action, self.open_driving_action, self.sample_menu.menuAction(), self.recent_menu.menuAction()]

    def set_locked(self, locked: bool) -> None:
        self.locked = locked
        self.source_panel.set_locked(locked)
        self.driving_panel.set_locked(locked)
        for action in self.actions():
            action.setEnabled(not locked)

    def load_source(self, path: Path) -> bool:
        """Open a source file (any frame of it can be chosen); an unreadable file gives a dialog."""
        return self._open(Path(path), "source")

    def load_driving(self, path: Path) -> bool:
        """Open a driving clip; an unreadable file gives a dialog."""
        return self._open(Path(path), "driving")

    def open_sample(self, source_name: str = SAMPLE_REAL) -> bool:
        """Load a bundled source still (``SAMPLE_REAL`` or ``SAMPLE_PHANTOM``) and the driving clip in one step."""
        folder = resources_dir()
        return self.load_source(folder / source_name) and self.load_driving(folder / SAMPLE_DRIVING)

    def _open(self, path: Path, role: str) -> bool:
        """Open ``path`` as the 'source' | 'driving' input and show it in its panel; False (with a
        message) when it cannot be opened now."""
        if self.locked:
            self._context.show_message("Wait until the run or export has ended.")
            return False
        try:
            media = open_media(path)
            frame = media.read_frame(0)
        except UserInputError as exc:
            self._context.prompts.error(str(exc))
            return False
        self._settings.add_recent_file(role, path)
        self._settings.set_folder(role, path)
        self._context.show_message(f"Opened {path.name}")
        if role == "source":
            self.source, self.source_frame, panel = media, frame, self.source_panel
        else:
            self.driving, self.driving_frame, panel = media, frame, self.driving_panel
        panel.show_media(path, media.info, frame)
        self.changed.emit()
        return True

    def _source_frame_changed(self, index: int) -> None:
        if self.source is None:
            return
        try:
            self.source_frame = self.source.read_frame(index)
        except UserInputError as exc:
            self._context.prompts.error(str(exc))
            return
        self.source_panel.show_frame(self.source_frame)
        self.changed.emit()

    def _open_source_dialog(self) -> None:
        path = self._context.prompts.open_file("Open source frame", self._settings.folder("source"), MEDIA_FILTER)
        if path:
            self.load_source(path)

    def _open_driving_dialog(self) -> None:
        path = self._context.prompts.open_file("Open driving clip", self._settings.folder("driving"), MEDIA_FILTER)
        if path:
            self.load_driving(path)

    def _fill_recent_menu(self) -> None:
        self.recent_menu.clear()
        entries = self._settings.recent_files()
        for role, path in entries:
            action = self.recent_menu.addAction(f"{'Source' if role == 'source' else 'Driving'}: {Path(path).name}")
            action.setToolTip(path)
            load = self.load_source if role == "source" else self.load_driving
            action.triggered.connect(lambda _checked=False, load=load, path=Path(path): load(path))
        if not entries:
            self.recent_menu.addAction("No recent files").setEnabled(False)
            return
        self.recent_menu.addSeparator()
        self.recent_menu.addAction("Clear recent files").triggered.connect(self._settings.clear_recent_files)

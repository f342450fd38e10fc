"""CSV exchange for the Annotate tab: Import CSV… / Export CSV… (buttons and File menu actions),
rows ``frame,landmark,x,y,origin`` in original-frame pixels (``core.annotation_tools``)."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject
from PySide6.QtGui import QAction

from usanimator_app.core.annotation_tools import export_csv, import_csv
from usanimator_app.core.annotations import SIDECAR_SUFFIX
from usanimator_app.core.errors import UserInputError
from usanimator_app.gui.annotate_panels import EditBox
from usanimator_app.gui.annotate_state import AnnotationSession
from usanimator_app.gui.context import TabContext
from usanimator_app.gui.prompts import CSV_FILTER


class CsvExchange(QObject):
    """Imports (one undoable edit) and exports the points of the session's clip."""

    def __init__(self, context: TabContext, session: AnnotationSession, box: EditBox, parent: QObject | None = None):
        super().__init__(parent)
        self._context = context
        self._session = session
        self.import_action = QAction("Import landmarks (CSV)…", self)
        self.export_action = QAction("Export landmarks (CSV)…", self)
        for trigger in (self.import_action.triggered, box.import_button.clicked):
            trigger.connect(self._import_dialog)
        for trigger in (self.export_action.triggered, box.export_button.clicked):
            trigger.connect(self._export_dialog)

    def import_file(self, path: Path) -> int:
        """Set the points listed in a CSV file (one undoable edit); returns how many, -1 on error."""
        session = self._session
        if session.document is None:
            return -1
        try:
            points = import_csv(path, session.landmarks, len(session.frames))
        except UserInputError as exc:
            self._context.prompts.error(str(exc))
            return -1
        session.document.edit(f"Import {Path(path).name}", points)
        self._context.show_message(f"Imported {len(points)} points from {Path(path).name}")
        return len(points)

    def export_file(self, path: Path) -> int:
        """Write every point to a CSV file; returns how many, -1 on error."""
        if self._session.document is None:
            return -1
        try:
            rows = export_csv(self._session.document.annotations, path)
        except OSError as exc:
            self._context.prompts.error(f"{path}: cannot write ({exc.strerror or exc})")
            return -1
        self._context.show_message(f"Exported {rows} points to {path}")
        return rows

    def _import_dialog(self) -> None:
        path = self._context.prompts.open_file("Import landmarks", self._context.settings.folder("annotate"), CSV_FILTER)
        if path:
            self.import_file(path)

    def _export_dialog(self) -> None:
        document = self._session.document
        if document is None:
            return
        suggested = document.path.with_name(document.path.name.removesuffix(SIDECAR_SUFFIX) + ".landmarks.csv")
        prompts = self._context.prompts
        path = prompts.save_file("Export landmarks", suggested, CSV_FILTER)
        if path and (not path.exists() or prompts.ask(f"{path} already exists. Replace it?")):
            self.export_file(path)

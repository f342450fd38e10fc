"""Modal dialogs in one place (messages, questions, file pickers), so tests can replace them."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import QFileDialog, QMessageBox, QWidget

from usanimator_app.core.media import MEDIA_SUFFIXES

APP_TITLE = "USAnimator"
MEDIA_FILTER = f"Images and clips ({' '.join('*' + suffix for suffix in MEDIA_SUFFIXES)});;All files (*)"
MODEL_FILTER = "USAnimator checkpoints (*.pt *.pth);;All files (*)"
CSV_FILTER = "CSV files (*.csv);;All files (*)"


class Prompts:
    """The real dialogs, parented to ``parent``."""

    def __init__(self, parent: QWidget | None = None):
        self.parent = parent

    def error(self, message: str, title: str = APP_TITLE) -> None:
        QMessageBox.warning(self.parent, title, message)

    def about(self, title: str, text: str) -> None:
        QMessageBox.about(self.parent, title, text)

    def ask(self, question: str, title: str = APP_TITLE) -> bool:
        """Yes / No, No by default."""
        answer = QMessageBox.question(
            self.parent, title, question, QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
            QMessageBox.StandardButton.No,
        )
        return answer == QMessageBox.StandardButton.Yes

    def open_file(self, title: str, folder: str, filters: str) -> Path | None:
        path, _ = QFileDialog.getOpenFileName(self.parent, title, folder, filters)
        return Path(path) if path else None

    def save_file(self, title: str, suggested: Path, filters: str) -> Path | None:
        """A file name to write; the caller asks before overwriting (so the CLI path asks too)."""
        path, _ = QFileDialog.getSaveFileName(
            self.parent, title, str(suggested), filters, options=QFileDialog.Option.DontConfirmOverwrite
        )
        return Path(path) if path else None

    def folder(self, title: str, folder: str) -> Path | None:
        path = QFileDialog.getExistingDirectory(self.parent, title, folder)
        return Path(path) if path else None

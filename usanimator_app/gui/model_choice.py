"""The Animate tab's model and device: loading a checkpoint (the bundled model by default) on the
application's device in the background, saying in words why none is usable, the model card.
A loaded model becomes the shared ``AppState.model``."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Callable, Iterator

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QDialog, QTextBrowser, QVBoxLayout, QWidget

from usanimator_app.core.errors import UserInputError
from usanimator_app.engine.animator import Animator
from usanimator_app.engine.pipeline import default_model_path
from usanimator_app.gui.context import TabContext
from usanimator_app.gui.controls import ModelPanel, device_status, model_card_markdown
from usanimator_app.gui.prompts import MODEL_FILTER
from usanimator_app.gui.workers import JobFunction, JobRunner

log = logging.getLogger(__name__)


def load_model_job(path: Path, device: str) -> JobFunction:
    def job(should_stop: Callable[[], bool]) -> Iterator[Animator]:
        yield Animator(path, device=device)

    return job


def is_bundled(path: Path) -> bool:
    try:
        return path.resolve() == default_model_path().resolve()
    except UserInputError:
        return False


class ModelChoice(QObject):
    """Drives the Model and device panel; loads run on the tab's ``jobs`` (one job at a time).

    ``ready(ok)`` after each load attempt: True when a new model is in use.
    """

    ready = Signal(bool)

    def __init__(self, context: TabContext, jobs: JobRunner, panel: ModelPanel, tab: QWidget):
        super().__init__(tab)
        self._context = context
        self._app = context.app
        self._jobs = jobs
        self._tab = tab
        self.panel = panel
        self._loaded: Animator | None = None
        self.open_action = QAction("Open model…", tab, shortcut=QKeySequence("Ctrl+M"))
        self.card_action = QAction("Model card", tab)
        panel.open_clicked.connect(self.open_dialog)
        panel.bundled_clicked.connect(lambda: self.load(None))
        panel.card_clicked.connect(self.show_card)
        panel.device_changed.connect(self._device_chosen)
        self.open_action.triggered.connect(self.open_dialog)
        self.card_action.triggered.connect(self.show_card)
        self._app.device_changed.subscribe(self._device_changed)
        self._app.model_requests.subscribe(self._requested)
        self._show_device()

    def load(self, path: Path | None) -> bool:
        """Load a checkpoint (None: the bundled model) in the background on the application's device;
        False (with a message) when that cannot start."""
        if not self._jobs.may_start("model"):
            return False
        if path is None:
            try:
                path = default_model_path()
            except UserInputError as exc:
                log.info("no bundled model: %s", exc)
                self._no_model("The bundled model is not installed. Choose a checkpoint file (.pt) with "
                               "Open… below or File ▸ Open model…", dialog=self._app.model is not None)
                return False
        self._jobs.start("model", load_model_job(Path(path), self._app.device), self._job_item, self._job_ended)
        self.panel.show_loading(Path(path))
        self._app.set_model_status(f"Loading model {Path(path).name}…")
        return True

    def set_enabled(self, idle: bool) -> None:
        """Choosing a model or device waits while a job runs; the card needs a model."""
        for widget in (self.panel.open_button, self.panel.bundled_button, self.panel.device, self.open_action):
            widget.setEnabled(idle)
        for widget in (self.panel.card_button, self.card_action):
            widget.setEnabled(self._app.model is not None)

    def open_dialog(self) -> None:
        settings = self._context.settings
        path = self._context.prompts.open_file("Open model checkpoint", settings.folder("model"), MODEL_FILTER)
        if path:
            settings.set_folder("model", path)
            self.load(path)

    def show_card(self) -> None:
        animator = self._app.model
        if animator is None:
            self._context.prompts.error("No model is loaded, so there is no model card to show.")
            return
        dialog = QDialog(self._tab)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.setWindowTitle(f"Model card: {animator.checkpoint_path.name}")
        browser = QTextBrowser(dialog)
        browser.setOpenExternalLinks(True)
        browser.setMarkdown(model_card_markdown(animator))
        QVBoxLayout(dialog).addWidget(browser)
        dialog.resize(720, 640)
        dialog.show()

    def _no_model(self, message: str, dialog: bool) -> None:
        """Say in words why no (new) model could be loaded; a model loaded before stays in use."""
        animator = self._app.model
        if animator is None:
            self.panel.show_problem(message)
            self._app.set_model_status("No model loaded: choose a checkpoint with File ▸ Open model…")
        else:
            self._app.set_model_status(_status(animator))
            self._show_model(animator)
        if dialog:
            self._context.prompts.error(message)
        self.ready.emit(False)

    def _job_item(self, animator: Animator) -> None:
        self._loaded = animator

    def _job_ended(self, outcome: str, message: str) -> None:
        animator, self._loaded = self._loaded, None
        if outcome != "finished" or animator is None:
            self._no_model(message, dialog=True)
            return
        path = animator.checkpoint_path
        self._context.settings.set("model/path", "" if is_bundled(path) else str(path))
        self._app.set_model(animator, _status(animator))
        self._show_model(animator)
        log.info("model %s loaded on %s", path, animator.device_choice.label)
        self.ready.emit(True)

    def _show_model(self, animator: Animator) -> None:
        self.panel.show_model(animator, is_bundled(animator.checkpoint_path))
        self._show_device()

    def _device_chosen(self, key: str) -> None:
        """The user chose a device: remember it and make it the application's."""
        self._context.settings.set("device", key)
        self._app.set_device(key)

    def _device_changed(self, key: str) -> None:
        """The application's device changed: the model moves there."""
        if self._app.model is not None:
            self.load(self._app.model.checkpoint_path)
        self._show_device()

    def _show_device(self) -> None:
        """The device choice and, when CUDA was asked for but is absent, why."""
        self.panel.device.blockSignals(True)
        self.panel.set_device_key(self._app.device)
        self.panel.device.blockSignals(False)
        self.panel.device_note.setText(device_status(self._app)[1])

    def _requested(self, path: Path) -> bool:
        """Another tab asks for ``path`` (e.g. Train's "Use in Animate"): load it and show this tab;
        False (with a message) when the load cannot start."""
        if not self.load(path):
            return False
        self._context.show_tab(self._tab)
        return True


def _status(animator: Animator) -> str:
    return f"Model: {animator.checkpoint_path.name}{' (bundled)' if is_bundled(animator.checkpoint_path) else ''}"

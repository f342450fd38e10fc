"""What a tab gets from the window (:class:`TabContext`), the base of the tabs (:class:`Tab`) and what
the command line asked for (:class:`Launch`)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from PySide6.QtWidgets import QWidget

from usanimator_app.gui.prompts import Prompts
from usanimator_app.gui.settings import Settings
from usanimator_app.gui.state import AppState
from usanimator_app.gui.workers import JobGate


@dataclass
class Launch:
    """What the command line asked for: ``usanimator gui --source ... --run --export OUT.mp4``."""

    source: Path | None = None
    driving: Path | None = None
    model: Path | None = None
    device: str | None = None
    run: bool = False
    export: Path | None = None
    quit_when_done: bool = False


@dataclass
class TabContext:
    """What a tab gets from the window: settings, dialogs, the shared :class:`AppState`, status bar
    and the :class:`JobGate` that every tab's jobs go through."""

    settings: Settings
    prompts: Prompts
    app: AppState
    show_message: Callable[[str], None]  # a passing message in the status bar
    jobs: JobGate
    show_tab: Callable[[QWidget], None] = lambda tab: None  # bring a tab to the front
    launch: Launch | None = None


TabFactory = Callable[[TabContext], QWidget]


class Tab(QWidget):
    """A tab of the window: titled ``title`` (its tab label), with the window's ``_context`` and,
    for short, its ``_settings``, ``_prompts`` and ``_app``."""

    def __init__(self, title: str, context: TabContext, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle(title)
        self._context = context
        self._settings, self._prompts, self._app = context.settings, context.prompts, context.app

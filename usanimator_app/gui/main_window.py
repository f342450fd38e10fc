"""The main window: menus, a status bar that always names the active device, and the tabs.

Tabs come from factories (``default_tab_factories``): a tab is a QWidget built from a
:class:`TabContext`; its ``windowTitle()`` is its tab label. Optionally it has
``menu_actions() -> {"File" | "View" | "Help": [QAction | None]}`` (None: a separator),
``shutdown()`` (called when the window closes) and a ``launch_done(int)`` signal.
Adding a tab is one more entry in ``default_tab_factories``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from PySide6.QtCore import QSize, Signal
from PySide6.QtGui import QCloseEvent, QKeySequence
from PySide6.QtWidgets import QLabel, QMainWindow, QTabWidget, QWidget

from usanimator_app import __version__
from usanimator_app.core.paths import user_data_dir
from usanimator_app.gui.prompts import Prompts
from usanimator_app.gui.settings import Settings

MENUS = ("File", "View", "Help")
FRAME_ROOM = QSize(16, 40)  # a window manager's title bar and borders


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
    """What a tab gets from the window."""

    settings: Settings
    prompts: Prompts
    show_message: Callable[[str], None]  # a passing message in the status bar
    set_device_status: Callable[[str, str], None]  # (device label, note) shown permanently
    set_model_status: Callable[[str], None]  # which model is in use, shown permanently
    launch: Launch | None = None
    tab: Callable[[str], QWidget | None] = lambda title: None  # another tab by its title (None: absent)


TabFactory = Callable[[TabContext], QWidget]


def default_tab_factories() -> list[TabFactory]:
    """The window's tabs, in order."""
    from usanimator_app.gui.animate_tab import AnimateTab
    from usanimator_app.gui.annotate_tab import AnnotateTab
    from usanimator_app.gui.train_tab import TrainTab

    return [AnimateTab, AnnotateTab, TrainTab]


class MainWindow(QMainWindow):
    """Menus, tabs and the status bar; window geometry persists in the settings."""

    launch_done = Signal(int)  # a tab finished what the command line asked (0: it worked)

    def __init__(
        self,
        settings: Settings,
        prompts: Prompts | None = None,
        tab_factories: list[TabFactory] | None = None,
        launch: Launch | None = None,
    ):
        super().__init__()
        self.setWindowTitle("USAnimator")
        self.settings = settings
        self.prompts = prompts or Prompts(self)
        self.model_label = QLabel("")
        self.device_label = QLabel("Device: …")
        self.statusBar().addPermanentWidget(self.model_label)
        self.statusBar().addPermanentWidget(self.device_label)
        self.tabs = QTabWidget()
        self.tabs.setDocumentMode(True)
        self.setCentralWidget(self.tabs)
        context = TabContext(
            settings, self.prompts, self.show_message, self.set_device_status, self.set_model_status, launch, self.tab
        )
        for factory in default_tab_factories() if tab_factories is None else tab_factories:
            tab = factory(context)
            self.tabs.addTab(tab, tab.windowTitle())
            if hasattr(tab, "launch_done"):
                tab.launch_done.connect(self.launch_done)
        self._build_menus()
        geometry = settings.blob("window/geometry")
        if geometry is None or not self.restoreGeometry(geometry):
            self.resize(self.first_size())
        self.tabs.setCurrentIndex(settings.integer("window/tab", 0))

    def first_size(self) -> QSize:
        """The size of a first start: up to 1500 x 900, within the screen's free area (a 1366 x 768
        laptop included) and leaving room for a window frame."""
        free = self.screen().availableGeometry()
        return QSize(min(1500, free.width() - FRAME_ROOM.width()), min(900, free.height() - FRAME_ROOM.height()))

    def tab(self, title: str) -> QWidget | None:
        """The tab labelled ``title`` (None when that tab is absent)."""
        for index in range(self.tabs.count()):
            if self.tabs.tabText(index) == title:
                return self.tabs.widget(index)
        return None

    def show_message(self, text: str) -> None:
        self.statusBar().showMessage(text, 8000)

    def set_device_status(self, label: str, note: str) -> None:
        self.device_label.setText(f"Device: {label}" + (f" — {note}" if note else ""))
        self.device_label.setToolTip(note or f"Animation runs on {label}")

    def set_model_status(self, text: str) -> None:
        self.model_label.setText(text)

    def _build_menus(self) -> None:
        menus = {name: self.menuBar().addMenu(f"&{name}") for name in MENUS}
        for index in range(self.tabs.count()):
            tab = self.tabs.widget(index)
            contributions = tab.menu_actions() if hasattr(tab, "menu_actions") else {}
            for name, actions in contributions.items():
                for action in actions:
                    if action is None:
                        menus[name].addSeparator()
                    else:
                        menus[name].addAction(action)
        menus["File"].addSeparator()
        quit_action = menus["File"].addAction("Quit")
        quit_action.setShortcut(QKeySequence.StandardKey.Quit)
        quit_action.triggered.connect(self.close)
        menus["Help"].addSeparator()
        menus["Help"].addAction("About USAnimator").triggered.connect(self._about)
        for menu in menus.values():
            if menu.isEmpty():
                menu.menuAction().setVisible(False)

    def _about(self) -> None:
        self.prompts.about(
            "About USAnimator",
            f"<b>USAnimator {__version__}</b><p>Animates a still ultrasound frame with the motion of a "
            "driving clip, after Liang et al., <i>Weakly-supervised high-fidelity ultrasound video "
            "synthesis with feature decoupling</i> (MICCAI 2022).</p>"
            "<p>Every output is <b>synthetic</b>: for teaching, never for diagnosis.</p>"
            f"<p>Log file: {user_data_dir() / 'logs'}</p>",
        )

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 (Qt override)
        for index in range(self.tabs.count()):
            tab = self.tabs.widget(index)
            if hasattr(tab, "shutdown"):
                tab.shutdown()
        self.settings.set("window/geometry", self.saveGeometry())
        self.settings.set("window/tab", self.tabs.currentIndex())
        self.settings.sync()
        event.accept()

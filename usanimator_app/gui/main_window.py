"""The main window: menus, a status bar that always names the active device, and the tabs.

Tabs come from factories (``default_tab_factories``): a tab is a QWidget (a :class:`context.Tab`)
built from a :class:`context.TabContext`; its ``windowTitle()`` is its tab label. Tabs share the model and the
device through ``TabContext.app`` (a :class:`state.AppState`), which the status bar shows, and start
their jobs through ``TabContext.jobs`` (a :class:`workers.JobGate`: one model job at a time in the
window, a refusal said in the status bar); they never look each other up. Optionally a tab has
``menu_actions() -> {"File" | "View" | "Help": [QAction | None]}`` (None: a separator),
``shutdown()`` (called when the window closes) and a ``launch_done(int)`` signal.
Adding a tab is one more entry in ``default_tab_factories``.
"""

from __future__ import annotations

from PySide6.QtCore import QSize, Signal
from PySide6.QtGui import QCloseEvent, QKeySequence
from PySide6.QtWidgets import QLabel, QMainWindow, QTabWidget, QWidget

from usanimator_app import __version__
from usanimator_app.core.paths import user_data_dir
from usanimator_app.gui.animate_tab import AnimateTab
from usanimator_app.gui.annotate_tab import AnnotateTab
from usanimator_app.gui.context import Launch, TabContext, TabFactory
from usanimator_app.gui.controls import device_status
from usanimator_app.gui.prompts import Prompts
from usanimator_app.gui.settings import Settings
from usanimator_app.gui.state import AppState
from usanimator_app.gui.study_tab import StudyTab
from usanimator_app.gui.train_tab import TrainTab
from usanimator_app.gui.workers import JobGate

__all__ = ["Launch", "MainWindow", "default_tab_factories"]
MENUS = ("File", "View", "Help")
FRAME_ROOM = QSize(16, 40)  # a window manager's title bar and borders


def default_tab_factories() -> list[TabFactory]:
    """The window's tabs, in order."""
    return [AnimateTab, AnnotateTab, TrainTab, StudyTab]


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
        self.app = AppState(device=(launch.device if launch else None) or settings.text("device", "auto"))
        self.app.model_changed.subscribe(self._show_state)
        self.app.device_changed.subscribe(lambda _device: self._show_state())
        context = TabContext(settings, self.prompts, self.app, self.show_message, JobGate(self.show_message),
                             self.tabs.setCurrentWidget, launch)
        for factory in default_tab_factories() if tab_factories is None else tab_factories:
            tab = factory(context)
            self.tabs.addTab(tab, tab.windowTitle())
            if hasattr(tab, "launch_done"):
                tab.launch_done.connect(self.launch_done)
        self._build_menus()
        self._show_state()
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
        """The tab labelled ``title`` (None when that tab is absent); for tests and scripts, never for tabs."""
        for index in range(self.tabs.count()):
            if self.tabs.tabText(index) == title:
                return self.tabs.widget(index)
        return None

    def show_message(self, text: str) -> None:
        self.statusBar().showMessage(text, 8000)

    def _show_state(self) -> None:
        """The status bar: the model in use and the active device (with why, when CUDA is missing)."""
        label, note = device_status(self.app)
        self.device_label.setText(f"Device: {label}" + (f" — {note}" if note else ""))
        self.device_label.setToolTip(note or f"Animation runs on {label}")
        self.model_label.setText(self.app.model_status)

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

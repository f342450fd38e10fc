"""Application setup: logging to a rotating file, the QApplication, the main window, the event loop."""

from __future__ import annotations

import gc
import logging
import sys
from logging.handlers import RotatingFileHandler
from pathlib import Path

from PySide6.QtWidgets import QApplication
from pyqtgraph.util.garbage_collector import GarbageCollector

from usanimator_app import __version__
from usanimator_app.core.paths import user_data_dir
from usanimator_app.gui.main_window import Launch, MainWindow
from usanimator_app.gui.prompts import APP_TITLE, Prompts
from usanimator_app.gui.settings import APPLICATION, ORGANISATION, Settings
from usanimator_app.gui.workers import describe_error

LOGGER_NAME = "usanimator_app"
log = logging.getLogger(__name__)


def log_file() -> Path:
    return user_data_dir() / "logs" / "usanimator.log"


def configure_logging() -> Path:
    """Send the app's log records (tracebacks included) to a rotating file; returns its path."""
    path = log_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    logger = logging.getLogger(LOGGER_NAME)
    if not any(isinstance(h, RotatingFileHandler) and Path(h.baseFilename) == path for h in logger.handlers):
        handler = RotatingFileHandler(path, maxBytes=1_000_000, backupCount=3, encoding="utf-8")
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s [%(threadName)s] %(message)s"))
        logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    return path


class ConsolePrompts(Prompts):
    """For ``--quit-when-done``: messages go to stderr and questions are answered No, so nothing waits."""

    def error(self, message: str, title: str = APP_TITLE) -> None:
        print(f"usanimator gui: error: {message}", file=sys.stderr)

    def ask(self, question: str, title: str = APP_TITLE) -> bool:
        print(f"usanimator gui: {question} (answered No)", file=sys.stderr)
        return False


def collect_garbage_in_gui_thread() -> GarbageCollector:
    """Qt objects must be destroyed in the GUI thread, and a garbage collection that a worker thread
    happens to trigger would destroy them there: collect on a GUI-thread timer instead (the timer
    stops with the returned object). Freezing what is loaded by now (torch, Qt, the window) keeps
    those collections short: a full one over torch's objects stalls the window for ~200 ms."""
    gc.freeze()
    return GarbageCollector(interval=1.0)


def create_application(argv: list[str]) -> QApplication:
    app = QApplication.instance() or QApplication(argv)
    app.setOrganizationName(ORGANISATION)
    app.setApplicationName(APPLICATION)
    app.setApplicationVersion(__version__)
    return app


def run_gui(argv: list[str], launch: Launch | None = None, settings: Settings | None = None) -> int:
    """Open the main window and run the event loop until it closes; returns the exit code."""
    path = configure_logging()
    log.info("USAnimator %s starting; log file %s", __version__, path)
    app = create_application(argv)
    quit_when_done = launch is not None and launch.quit_when_done
    window = MainWindow(settings or Settings(), ConsolePrompts() if quit_when_done else None, launch=launch)
    collector = collect_garbage_in_gui_thread()
    if quit_when_done:
        window.launch_done.connect(app.exit)

    def report(exc_type, exc, traceback) -> None:
        """A slot raised: log the traceback, tell the user in one line, keep running."""
        log.error("unhandled exception", exc_info=(exc_type, exc, traceback))
        window.prompts.error(describe_error(exc))

    previous_hook, sys.excepthook = sys.excepthook, report
    try:
        window.show()
        code = app.exec()
    finally:
        sys.excepthook = previous_hook
        if window.isVisible():
            window.close()
        collector.timer.stop()
    log.info("USAnimator exits with code %d", code)
    return code

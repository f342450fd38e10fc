"""GUI test fixtures: offscreen Qt, isolated settings and data folder, a tiny random checkpoint,
small generated inputs, recorded dialogs and helpers to drop files on widgets."""

from __future__ import annotations

import gc
import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from pathlib import Path  # noqa: E402

import cv2  # noqa: E402
import imageio.v2 as imageio  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QUrl  # noqa: E402
from PySide6.QtGui import QDragEnterEvent, QDropEvent  # noqa: E402
from PySide6.QtWidgets import QApplication, QWidget  # noqa: E402

from usanimator_app.gui.animate_tab import AnimateTab  # noqa: E402
from usanimator_app.gui.main_window import Launch, MainWindow  # noqa: E402
from usanimator_app.gui.prompts import Prompts  # noqa: E402
from usanimator_app.gui.settings import Settings  # noqa: E402


class RecordingPrompts(Prompts):
    """Dialogs that never block: errors and questions are recorded; questions get ``answer``."""

    def __init__(self):
        super().__init__(None)
        self.errors: list[str] = []
        self.questions: list[str] = []
        self.answer = False

    def error(self, message: str, title: str = "") -> None:
        self.errors.append(message)

    def about(self, title: str, text: str) -> None:
        self.errors.append(f"about: {title}")

    def ask(self, question: str, title: str = "") -> bool:
        self.questions.append(question)
        return self.answer


def textured_frame(width: int, height: int, shift: int = 0, seed: int = 0) -> np.ndarray:
    """A speckle-like gray frame with a bright disc, moved right by ``shift`` pixels."""
    rng = np.random.default_rng(seed)
    frame = cv2.GaussianBlur(rng.uniform(0, 255, (height, width)).astype(np.float32), (0, 0), 2)
    frame = cv2.normalize(frame, None, 20, 200, cv2.NORM_MINMAX).astype(np.uint8)
    cv2.circle(frame, (width // 2 + shift, height // 2), min(width, height) // 5, 240, -1)
    return frame


def write_clip(path: Path, frames: int, fps: float = 12.0, size=(96, 80)) -> Path:
    with imageio.get_writer(path, fps=fps, macro_block_size=1) as writer:
        for t in range(frames):
            gray = textured_frame(*size, shift=2 * t)
            writer.append_data(np.repeat(gray[:, :, None], 3, axis=2))
    return path


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory) -> Path:
    """A randomly initialised 'ptg' model at the 'tiny' size (64x64): seconds to run on a CPU."""
    from usanimator_app.engine.checkpoint import save_checkpoint
    from usanimator_app.engine.config import make_config
    from usanimator_app.engine.model import AnimationModel

    config = make_config("ptg", "tiny")
    path = tmp_path_factory.mktemp("model") / "tiny.pt"
    save_checkpoint(path, config, AnimationModel(config.model), step=0, metadata={"purpose": "gui tests"})
    return path


@pytest.fixture(scope="session")
def media(tmp_path_factory) -> dict[str, Path]:
    """Small inputs: a PNG source, a 5-frame and a 40-frame driving MP4, and a file that is no image."""
    root = tmp_path_factory.mktemp("media")
    source = root / "source.png"
    cv2.imwrite(str(source), textured_frame(120, 100, seed=1))
    bad = root / "broken.png"
    bad.write_text("not an image\n")
    return {
        "source": source,
        "driving": write_clip(root / "driving.mp4", 5),
        "long": write_clip(root / "long.mp4", 40),
        "bad": bad,
    }


@pytest.fixture(autouse=True)
def collect_in_gui_thread():
    """As in the app (``app.run_gui``): no automatic garbage collection, which a worker thread
    could trigger and so destroy Qt objects outside the GUI thread; collect here after each test."""
    gc.disable()
    yield
    gc.collect()
    gc.enable()


@pytest.fixture(autouse=True)
def data_dir(tmp_path, monkeypatch) -> Path:
    """Logs and caches go to a temporary folder, never the user's."""
    folder = tmp_path / "userdata"
    monkeypatch.setenv("USANIMATOR_DATA_DIR", str(folder))
    return folder


@pytest.fixture
def settings_path(tmp_path) -> Path:
    return tmp_path / "settings.ini"


@pytest.fixture
def prompts() -> RecordingPrompts:
    return RecordingPrompts()


@pytest.fixture
def open_window(qtbot, settings_path, prompts):
    """``open_window(launch=None, tab_factories=[AnimateTab])`` -> a shown MainWindow on isolated
    settings (closed at teardown); only the Animate tab unless told otherwise, so that these tests
    do not depend on the other tabs."""

    def open_(launch: Launch | None = None, tab_factories=None) -> MainWindow:
        window = MainWindow(Settings(settings_path), prompts, tab_factories=tab_factories or [AnimateTab], launch=launch)
        qtbot.addWidget(window)
        window.show()
        return window

    return open_


@pytest.fixture
def ready_window(open_window, qtbot, tiny_checkpoint):
    """A window with the tiny model loaded on the CPU."""
    window = open_window(Launch(model=tiny_checkpoint, device="cpu"))
    tab = window.tab("Animate")
    qtbot.waitUntil(lambda: tab.animator is not None and not tab.busy, timeout=30000)
    return window


@pytest.fixture
def drop_files():
    """``drop_files(widget, *paths)``: drag file URLs onto ``widget`` and drop them (real Qt events).

    Qt delivers a drop only to a widget that accepted the drag entering it, as in a real drag.
    """

    def drop(widget: QWidget, *paths: Path) -> QDropEvent:
        mime = QMimeData()
        mime.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
        rest = (Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
        try:
            enter = QDragEnterEvent(QPointF(10, 10), *rest)
        except TypeError:  # PySide6 before 6.12 takes only a QPoint
            enter = QDragEnterEvent(QPoint(10, 10), *rest)
        QApplication.sendEvent(widget, enter)
        assert enter.isAccepted(), "the widget refused the dragged files"
        event = QDropEvent(QPointF(10, 10), *rest)
        QApplication.sendEvent(widget, event)
        return event

    return drop

"""The main window: menus, tabs from factories, the status bar's device, settings that persist."""

from __future__ import annotations

import pytest
import torch
from PySide6.QtWidgets import QLabel

from usanimator_app.core.errors import UserInputError
from usanimator_app.engine.animator import MotionOptions, OutputOptions
from usanimator_app.gui import model_choice
from usanimator_app.gui.animate_tab import AnimateTab
from usanimator_app.gui.main_window import FRAME_ROOM, Launch, MainWindow, default_tab_factories
from usanimator_app.gui.settings import Settings


def _menu_texts(window: MainWindow) -> dict[str, list[str]]:
    menus = {}
    for action in window.menuBar().actions():
        if action.isVisible():
            menus[action.text().replace("&", "")] = [a.text() for a in action.menu().actions() if not a.isSeparator()]
    return menus


def test_menus_tabs_and_device_always_in_the_status_bar(ready_window):
    menus = _menu_texts(ready_window)
    assert menus["File"] == ["Open source…", "Open driving clip…", "Open sample", "Recent files", "Open model…", "Export…",
                             "Quit"]
    assert "Model card" in menus["Help"] and "About USAnimator" in menus["Help"]
    assert "Self-supervised keypoints" in menus["View"]
    assert [ready_window.tabs.tabText(i) for i in range(ready_window.tabs.count())] == ["Animate"]
    assert ready_window.device_label.text() == "Device: CPU"
    assert ready_window.model_label.text() == "Model: tiny.pt"


def test_the_window_fits_a_1366x768_screen(open_window, monkeypatch):
    monkeypatch.setattr(model_choice, "default_model_path", _no_bundled_model)
    window = open_window(tab_factories=default_tab_factories())
    needed = window.minimumSizeHint()
    assert needed.width() <= 1366 - FRAME_ROOM.width() and needed.height() <= 768 - FRAME_ROOM.height()
    free, first = window.screen().availableGeometry(), window.first_size()  # offscreen: an 800 x 800 screen
    assert (first.width(), first.height()) == (free.width() - FRAME_ROOM.width(), free.height() - FRAME_ROOM.height())


def test_tabs_come_from_factories(open_window, monkeypatch):
    monkeypatch.setattr(model_choice, "default_model_path", _no_bundled_model)
    window = open_window(tab_factories=[AnimateTab, lambda context: _titled(QLabel("extra"), "Extra")])
    assert [window.tabs.tabText(i) for i in range(window.tabs.count())] == ["Animate", "Extra"]
    assert window.tab("Train") is None


def test_missing_bundled_model_is_said_plainly(open_window, monkeypatch, prompts):
    monkeypatch.setattr(model_choice, "default_model_path", _no_bundled_model)
    window = open_window()
    tab = window.tab("Animate")
    assert "bundled model is not installed" in tab.model_panel.message.text()
    assert "Open model" in tab.model_panel.message.text()
    assert window.model_label.text().startswith("No model loaded")
    assert window.device_label.text().startswith("Device: ")
    assert not tab.run_box.run_button.isEnabled()
    assert prompts.errors == []  # said in the window, no dialog at start-up


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_asking_for_cuda_without_a_gpu_says_so(open_window, monkeypatch):
    monkeypatch.setattr(model_choice, "default_model_path", _no_bundled_model)
    window = open_window(Launch(device="cuda"))
    assert window.device_label.text().startswith("Device: CPU — CUDA was requested")
    assert "CUDA was requested" in window.tab("Animate").model_panel.device_note.text()


def test_settings_persist_between_windows(open_window, monkeypatch, settings_path, media, qtbot):
    monkeypatch.setattr(model_choice, "default_model_path", _no_bundled_model)
    window = open_window()
    tab = window.tab("Animate")
    tab.motion.set_options(MotionOptions(relative=True, adapt_scale=False, reference=3, gain=1.5), 7)
    tab.model_panel.set_device_key("cpu")
    tab.output.set_options(OutputOptions(mode="content", size=300, max_side=640))
    tab.load_source(media["source"])
    tab.load_driving(media["driving"])
    window.resize(window.minimumSizeHint().width(), 720)  # fits the offscreen screen (800 px high)
    size = window.size()
    window.close()

    again = open_window()
    tab = again.tab("Animate")
    assert tab.motion.options() == MotionOptions(relative=True, adapt_scale=False, reference=3, gain=1.5)
    assert tab.motion.frame_limit() == 7
    assert tab.model_panel.device_key() == "cpu"
    assert tab.output.options() == OutputOptions(mode="content", size=300, max_side=640)
    assert again.size() == size
    recent = Settings(settings_path).recent_files()
    assert recent == [("driving", str(media["driving"].resolve())), ("source", str(media["source"].resolve()))]
    assert Settings(settings_path).folder("source") == str(media["source"].parent)


def _no_bundled_model():
    raise UserInputError("models/manifest.json: no bundled model manifest")


def _titled(widget, title):
    widget.setWindowTitle(title)
    return widget

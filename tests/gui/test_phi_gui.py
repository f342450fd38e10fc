"""PHI through the window: a multi-frame DICOM whose header names a patient (name, ID, birth date,
institution, accession number), named after her in a folder named after her, with a model beside
it, is animated with edited motion and exported through the Export dialog as an MP4 and a PNG
sequence. No identifier appears in any byte or name of what was written beside the exports (the
clips, their settings files); none of the header's appears in any other file the app wrote (its
settings with the recent-files list, the log: the user's own, which may name her files), the window
title or any text shown."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import cv2
import numpy as np
import pydicom
import pytest
from PySide6.QtCore import QTimer
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QAbstractButton, QDialogButtonBox, QLabel, QLineEdit, QWidget

from usanimator_app.core.export import write_png_sequence
from usanimator_app.engine.animator import Animator
from usanimator_app.gui.app import LOGGER_NAME, configure_logging
from usanimator_app.gui.export_dialog import ExportDialog
from usanimator_app.gui.main_window import Launch
from usanimator_app.gui.study_tab import StudyTab

from ..phi import HEADER_FORMS, IDENTIFIERS, PATIENT_FILE, PATIENT_FOLDER, leaks, leaks_under
from .conftest import textured_frame

REPO = Path(__file__).resolve().parents[2]
FRAMES = 6


def _identified_clip(path: Path) -> Path:
    """A 6-frame 96x80 cine with the bundled sample's header and the patient identifiers."""
    header = pydicom.dcmread(REPO / "resources" / "sample_source.dcm")
    header.Rows, header.Columns = 80, 96
    header.NumberOfFrames = FRAMES
    header.FrameTime = "83.3"
    header.PixelData = np.stack([textured_frame(96, 80, shift=2 * t) for t in range(FRAMES)]).tobytes()
    for keyword, value in IDENTIFIERS.items():
        setattr(header, keyword, value)
    header.save_as(path)
    return path


@pytest.fixture
def app_log(data_dir):
    """The app's own log file (as ``run_gui`` sets it up), in the test's data folder."""
    path = configure_logging()
    yield path
    logger = logging.getLogger(LOGGER_NAME)
    for handler in [h for h in logger.handlers if getattr(h, "baseFilename", None) == str(path)]:
        logger.removeHandler(handler)
        handler.close()


def _export_through_the_dialog(tab, qtbot, kind: str, layout: str, target: Path) -> None:
    """Export… -> the dialog: format, layout and target set, Export pressed, as a user would."""

    def fill() -> None:
        dialog = next(d for d in tab.findChildren(ExportDialog) if d.isVisible())
        try:
            dialog.kind.setCurrentIndex(dialog.kind.findData(kind))
            dialog.layout_choice.setCurrentIndex(dialog.layout_choice.findData(layout))
            dialog.path.setText(str(target))
            dialog.findChild(QDialogButtonBox).button(QDialogButtonBox.StandardButton.Ok).click()
        finally:
            if dialog.isVisible():  # refused: close it so that the test does not wait on it
                dialog.reject()

    with qtbot.waitSignal(tab.export_ended, timeout=60000) as ended:
        QTimer.singleShot(0, fill)
        tab.open_export_dialog()
    assert ended.args == ["finished"]


def _shown_texts(window: QWidget) -> list[str]:
    """The window title, the status bar and every label, field, button and menu action's text and tip."""
    texts = [window.windowTitle(), window.statusBar().currentMessage()]
    for widget in window.findChildren(QWidget):
        texts += [widget.windowTitle(), widget.toolTip()]
        if isinstance(widget, (QLabel, QLineEdit, QAbstractButton)):
            texts.append(widget.text())
    for action in window.findChildren(QAction):
        texts += [action.text(), action.toolTip()]
    return texts


def test_patient_identifiers_reach_no_export_setting_log_or_window_text(app_log, open_window, qtbot, drop_files,
                                                                         tmp_path, settings_path, tiny_checkpoint):
    inputs = tmp_path / "inputs" / PATIENT_FOLDER
    inputs.mkdir(parents=True)
    clip = _identified_clip(inputs / f"{PATIENT_FILE}.dcm")
    assert all(value.encode() in clip.read_bytes() for value in IDENTIFIERS.values())  # the header carries them
    model = shutil.copy(tiny_checkpoint, inputs / f"{PATIENT_FILE}_model.pt")
    window = open_window(Launch(model=model, device="cpu"))
    tab = window.tab("Animate")
    qtbot.waitUntil(lambda: tab.animator is not None and not tab.busy, timeout=30000)
    drop_files(tab.source_panel, clip)
    drop_files(tab.driving_panel, clip)
    with qtbot.waitSignal(tab.run_ended, timeout=60000) as ended:
        assert tab.run()
    assert ended.args == ["finished"] and len(tab.results) == FRAMES
    with qtbot.waitSignal(tab.run_ended, timeout=60000) as ended:
        tab.motion_edits.scale.setValue(2.0)  # re-runs with the edited motion once the edits rest
    assert ended.args == ["finished"]
    out = tmp_path / "exports"
    _export_through_the_dialog(tab, qtbot, "mp4", "side-by-side", out / "clip.mp4")
    _export_through_the_dialog(tab, qtbot, "png", "overlays", out / "frames")
    window.settings.sync()

    assert (out / "clip.mp4").stat().st_size > 0 and len(list((out / "frames").glob("*.png"))) == FRAMES
    assert {p.name for p in out.glob("*.settings.json")} == {"clip.mp4.settings.json", "frames.settings.json"}
    assert leaks_under(out) == {}
    assert any(path.endswith(clip.name) for _, path in window.settings.recent_files())
    log = app_log.read_text(encoding="utf-8")
    assert "run finished" in log and "export finished" in log
    written = [path for path in tmp_path.rglob("*") if path.is_file() and inputs not in path.parents and out not in path.parents]
    assert settings_path in written and app_log in written
    for path in written:
        assert leaks(path.read_bytes(), HEADER_FORMS) == [], path
        assert leaks(str(path.relative_to(tmp_path))) == [], path
    assert [text for text in _shown_texts(window) if leaks(text, HEADER_FORMS)] == []


def test_a_study_made_from_patient_named_clips_names_none_of_them(open_window, qtbot, tmp_path, tiny_checkpoint):
    """The study folder a teacher shares with raters: a real clip (the identified DICOM), a synthetic
    clip given and a source, all named after the patient in a folder named after her, and a clip made
    from them; no identifier in any byte or name of any file of the folder, and the study plays."""
    inputs = tmp_path / "inputs" / PATIENT_FOLDER
    inputs.mkdir(parents=True)
    real = _identified_clip(inputs / f"{PATIENT_FILE}.dcm")
    synthetic = inputs / f"{PATIENT_FILE}_synthetic"
    write_png_sequence((textured_frame(96, 80, shift=3 * t) for t in range(4)), synthetic)
    source = inputs / f"{PATIENT_FILE}_still.png"
    cv2.imwrite(str(source), textured_frame(96, 80, seed=2))
    window = open_window(tab_factories=[StudyTab])
    window.app.set_model(Animator(tiny_checkpoint, device="cpu"), "Model: tiny.pt")
    tab = window.tab("Study")
    tab.setup.real.add_paths([real])
    tab.setup.synthetic.add_paths([synthetic])
    tab.setup.sources.add_paths([source])
    tab.setup.drivings.add_paths([real])
    tab.setup.raters.setValue(1)
    tab.setup.max_frames.setValue(3)
    folder = tmp_path / "study"
    tab.setup.folder.setText(str(folder))
    with qtbot.waitSignal(tab.study_opened, timeout=60000):
        assert tab.create_study()
    assert [clip.kind for clip in tab.study.clips] == ["real", "synthetic", "synthetic"]
    for _ in tab.study.clips:  # the study plays from its folder alone
        with qtbot.waitSignal(tab.rating.clip_shown, timeout=10000):
            if tab.pages.currentWidget() is tab.rating:
                tab.rating.scored.emit(3, "")
            else:
                assert tab.start_rating(1)
    tab.rating.scored.emit(4, "real")
    assert tab.study.next_clip(1) is None and len(tab.save_results()) == 3
    assert len(list((folder / "clips").glob("*.npz"))) == 3
    assert leaks_under(folder) == {}

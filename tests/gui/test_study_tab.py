"""The Study tab: a study made with the tiny model, rated by key presses with nothing that names a
clip on show, the results table, caption refusal, pause and resume."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QImage
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QAbstractButton, QLabel

from tests.gui.conftest import textured_frame
from usanimator_app.core.compose import CAPTION, compose_frame
from usanimator_app.core.export import write_png_sequence
from usanimator_app.core.identity import label
from usanimator_app.core.study import STUDY_FILE, has_caption, read_clip
from usanimator_app.engine.animator import Animator
from usanimator_app.gui.study_tab import StudyTab


def _png_clip(path: Path, frames: int, size=(96, 80)) -> Path:
    """A clip as a numbered PNG folder (read without ffmpeg: fast)."""
    write_png_sequence((textured_frame(*size, shift=2 * t) for t in range(frames)), path)
    return path


@pytest.fixture
def clips(tmp_path) -> dict[str, Path]:
    folder = tmp_path / "given"
    folder.mkdir()
    cv2.imwrite(str(folder / "source.png"), textured_frame(120, 100, seed=1))
    return {"source": folder / "source.png", "real_a": _png_clip(folder / "real_a", 4), "real_b": _png_clip(folder / "real_b", 3, size=(80, 96)),
            "synthetic_given": _png_clip(folder / "synthetic_given", 4), "driving": _png_clip(folder / "driving", 4)}


@pytest.fixture
def study_tab(open_window):
    window = open_window(tab_factories=[StudyTab])
    return window, window.tab("Study")


def _plan(tab: StudyTab, folder: Path, real: list[Path], synthetic: list[Path], raters: int = 2) -> None:
    tab.setup.real.add_paths(real)
    tab.setup.synthetic.add_paths(synthetic)
    tab.setup.raters.setValue(raters)
    tab.setup.seed.setValue(11)
    tab.setup.max_frames.setValue(4)
    tab.setup.folder.setText(str(folder))


def _shown_texts(window) -> str:
    """Every text a rater can see: labels, buttons, titles, tabs and the status bar."""
    texts = [window.windowTitle(), window.statusBar().currentMessage()]
    texts += [window.tabs.tabText(i) for i in range(window.tabs.count())]
    texts += [w.text() + w.toolTip() for w in window.findChildren(QLabel) + window.findChildren(QAbstractButton) if w.isVisible()]
    return "\n".join(texts)


def _answer(qtbot, tab: StudyTab, keys: list[Qt.Key], more: bool) -> None:
    """Press ``keys`` on the rating view; the last one scores (and, when ``more``, the next clip comes)."""
    for key in keys[:-1]:
        QTest.keyClick(tab.rating, key)
    if more:
        with qtbot.waitSignal(tab.rating.clip_shown, timeout=10000):
            QTest.keyClick(tab.rating, keys[-1])
    else:
        QTest.keyClick(tab.rating, keys[-1])


def test_a_scripted_blind_session_gives_the_table(study_tab, qtbot, clips, tiny_checkpoint, tmp_path):
    window, tab = study_tab
    window.app.set_model(Animator(tiny_checkpoint, device="cpu"), "Model: tiny.pt")
    folder = tmp_path / "study"
    _plan(tab, folder, [clips["real_a"], clips["real_b"]], [clips["synthetic_given"]])
    tab.setup.sources.add_paths([clips["source"]])
    tab.setup.drivings.add_paths([clips["driving"]])
    with qtbot.waitSignal(tab.study_opened, timeout=60000):
        QTest.mouseClick(tab.setup.create_button, Qt.MouseButton.LeftButton)
    study = tab.study
    kinds = [clip.kind for clip in study.clips]
    assert kinds == ["real", "real", "synthetic", "synthetic"] and study.seed == 11
    made = folder / "clips" / "clip_001.npz"
    assert study.clips[3].path == Path("clips/clip_001.npz") and made.is_file()
    assert study.clips[3].made_from == (label(clips["source"]), label(clips["driving"]))  # by content, not name
    # the clips given are copied into the folder under neutral names, and named by content
    assert [(c.path, c.content) for c in study.clips[:3]] == [
        (Path("clips/real_01.npz"), label(clips["real_a"])), (Path("clips/real_02.npz"), label(clips["real_b"])),
        (Path("clips/synthetic_01.npz"), label(clips["synthetic_given"]))]
    assert read_clip(folder / "clips" / "real_02.npz")[0].shape == (3, 96, 80)
    assert not any(name in (folder / STUDY_FILE).read_text() for name in ("given", "real_a", "synthetic_given"))
    frames, _fps = read_clip(made)
    assert frames.shape == (4, 100, 120) and not has_caption(frames[0])  # the source's size, no caption

    # rater 1 scores real 5, synthetic 2, and guesses right; rater 2 scores clip i with i + 1 and
    # guesses "real" every time except on clip 3, where they give no guess
    names = [path.name for path in clips.values()] + ["clip_001", "npz", str(folder)]
    for rater in (1, 2):
        assert tab.home.rater.value() == rater
        with qtbot.waitSignal(tab.rating.clip_shown, timeout=10000):
            QTest.mouseClick(tab.home.start_button, Qt.MouseButton.LeftButton)
        for position, clip in enumerate(study.orders[rater - 1], start=1):
            assert tab.rating.position.text() == f"Rater {rater} · clip {position} of 4"
            shown = _shown_texts(window)
            assert not any(name in shown for name in names) and CAPTION not in shown
            assert not has_caption(tab.rating.shown_frame()) and not tab.rating.screen_label.pixmap().isNull()
            if rater == 1:
                keys = [Qt.Key.Key_R if kinds[clip] == "real" else Qt.Key.Key_S,
                        Qt.Key.Key_5 if kinds[clip] == "real" else Qt.Key.Key_2]
            else:
                keys = ([] if clip == 3 else [Qt.Key.Key_R]) + [Qt.Key(Qt.Key.Key_1 + clip)]
            _answer(qtbot, tab, keys, more=position < 4)
            assert len(json.loads((folder / STUDY_FILE).read_text())["ratings"]) == 4 * (rater - 1) + position
        assert tab.pages.currentWidget() is tab.home
    assert not tab.home.start_button.isEnabled()

    QTest.mouseClick(tab.home.results_button, Qt.MouseButton.LeftButton)
    table = tab.results.table
    cells = [[table.item(row, column).text() for column in range(3)] for row in range(3)]
    # rater 1: real 5, 5; synthetic 2, 2. Rater 2: real 1, 2; synthetic 3, 4.
    assert cells == [["5.00", "1.50", "3.25"], ["2.00", "3.50", "2.75"], ["3.50", "2.50", "3.00"]]
    # 7 guesses, 6 right (rater 2 called clip 2 real); Wilson 6/7: 0.4869 ... 0.9743
    assert "6 of 7 (85.7 %; 95 % Wilson interval 48.7–97.4 %)" in tab.results.guesses.text()
    paths = tab.save_results()
    assert [p.name for p in paths] == ["results.csv", "results.md", "results.png"]
    assert "| Synthetic | 2.00 | 3.50 | 2.75 |" in (folder / "results.md").read_text()
    assert "correct_guess_rate,all,all,7,0.8571,0.4869,0.9743" in (folder / "results.csv").read_text()
    assert QImage(str(folder / "results.png")).width() == 640
    for path in paths:  # the results name no clip
        assert not any(clip.stem.encode() in path.read_bytes() for clip in clips.values()), path


def test_clips_dropped_on_a_list_are_added_once_each(study_tab, clips, drop_files):
    _window, tab = study_tab
    drop_files(tab.setup.real, clips["real_a"], clips["real_b"])
    drop_files(tab.setup.real, clips["real_a"])
    assert tab.setup.real.paths() == [clips["real_a"].resolve(), clips["real_b"].resolve()]
    assert tab.setup.synthetic.paths() == []


def test_a_synthetic_file_with_the_caption_is_refused(study_tab, clips, prompts, tmp_path):
    _window, tab = study_tab
    frames, _fps = read_clip(clips["synthetic_given"])
    captioned = tmp_path / "exported"
    write_png_sequence([compose_frame(frame) for frame in frames], captioned)  # exported with the caption on
    _plan(tab, tmp_path / "study", [clips["real_a"]], [captioned])
    assert not tab.create_study()
    assert len(prompts.errors) == 1 and "exported: this clip has the burned-in SYNTHETIC caption" in prompts.errors[0]
    assert not (tmp_path / "study" / STUDY_FILE).exists()


def test_a_paused_study_resumes_from_its_folder(study_tab, qtbot, clips, tmp_path):
    _window, tab = study_tab
    folder = tmp_path / "study"
    _plan(tab, folder, [clips["real_a"], clips["real_b"]], [clips["synthetic_given"]], raters=1)
    with qtbot.waitSignal(tab.study_opened, timeout=10000):
        assert tab.create_study()  # the clips given are copied into the folder (a background job)
    assert tab.setup.progress.value() == 3
    with qtbot.waitSignal(tab.rating.clip_shown, timeout=10000):
        tab.start_rating(1)
    _answer(qtbot, tab, [Qt.Key.Key_S, Qt.Key.Key_3], more=True)
    QTest.keyClick(tab.rating, Qt.Key.Key_R)  # a guess without a score is no answer
    tab.rating.pause()
    assert tab.pages.currentWidget() is tab.home and "Paused" in tab.home.message.text()
    tab.close_study()
    assert tab.open_study(folder)
    assert "rater 1: 1 / 3" in tab.home.summary.text() and tab.home.rater.value() == 1
    with qtbot.waitSignal(tab.rating.clip_shown, timeout=10000):
        QTest.mouseClick(tab.home.start_button, Qt.MouseButton.LeftButton)
    assert tab.rating.position.text() == "Rater 1 · clip 2 of 3" and tab.rating.guess == ""
    first = tab.study.orders[0][0]
    assert (tab.study.ratings[(1, first)].realism, tab.study.ratings[(1, first)].guess) == (3, "synthetic")

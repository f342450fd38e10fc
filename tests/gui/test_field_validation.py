"""The window's fields are checked before work starts, with ``core.validation``'s checks (the ones
``usanimator animate`` and ``usanimator train`` run on their options): one class of bad value per
test (a number out of range, text that is no finite number, a path that cannot be written), each
giving a one-line message that names the field and the value, no job, and a window still usable."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest
from PySide6.QtWidgets import QDialog, QDialogButtonBox

from usanimator_app.commands import animate as animate_command
from usanimator_app.commands.validate import check_animate_args
from usanimator_app.core.errors import UserInputError
from usanimator_app.core.validation import FPS_RANGE, GAIN_RANGE, OUTPUT_SIDE_RANGE
from usanimator_app.engine.animator import MotionOptions
from usanimator_app.gui.controls import MotionControls
from usanimator_app.gui.export_dialog import ExportDialog
from usanimator_app.gui.output_controls import OutputControls
from usanimator_app.gui.settings import Settings
from usanimator_app.gui.train_tab import DATASET_FILE_NAME, TrainTab


def _one_line(prompts, *words: str) -> str:
    assert len(prompts.errors) == 1, prompts.errors
    message = prompts.errors.pop()
    assert "\n" not in message and "Traceback" not in message, message
    for word in words:
        assert word in message, message
    return message


@pytest.fixture
def train_tab(open_window, tmp_path):
    """The Train tab with one dataset folder (its clips are never read: no run starts) and a run folder."""
    data = tmp_path / "data"
    (data / "clip_a").mkdir(parents=True)
    tab = open_window(tab_factories=[TrainTab]).tab("Train")
    assert tab.datasets.add_folder(data)
    tab.set_run_folder(tmp_path / "run")
    tab.run_settings.fine_tune.set_choice("scratch")
    return tab


def _nothing_started(tab, root: Path) -> None:
    assert not tab.running and tab.process is None
    assert list(root.rglob(DATASET_FILE_NAME)) == []  # written only when a run starts


def test_numbers_out_of_range_are_refused_as_the_command_line_refuses_them(train_tab, tmp_path, prompts, qtbot):
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    (run / "checkpoints" / "step_0000030.pt").write_bytes(b"")  # only its name is read before a resume
    train_tab.refresh_checkpoints()
    train_tab.run_settings.steps.setValue(30)
    assert not train_tab.resume()
    _one_line(prompts, "Steps", "step 30", "at least 31", "not 30")
    assert not train_tab.running
    train_tab.run_settings.steps.setValue(31)
    assert train_tab.run_settings.problem(30) == ""  # usable again: a higher Steps passes

    # Typed digits beyond a spin box's range do not get in; the ranges are the command line's.
    spin = train_tab.run_settings.batch
    spin.selectAll()
    qtbot.keyClicks(spin, "99999")
    assert spin.value() <= spin.maximum() == 4096
    window = train_tab.window()
    motion, output = MotionControls(window), OutputControls(window)
    assert (motion.gain.minimum(), motion.gain.maximum()) == GAIN_RANGE
    for side in (output.custom, output.max_side):
        assert (side.minimum(), side.maximum()) == OUTPUT_SIDE_RANGE
    parser = argparse.ArgumentParser()
    animate_command.add_animation_arguments(parser)
    for option, value in (("--max-side", OUTPUT_SIDE_RANGE[1] + 1), ("--output-size", OUTPUT_SIDE_RANGE[1] + 1),
                          ("--gain", GAIN_RANGE[1] + 1), ("--fps", FPS_RANGE[1] + 1)):
        args = parser.parse_args(["--source", "s", "--driving", "d", "--out", str(tmp_path / "o.mp4"), option, str(value)])
        with pytest.raises(UserInputError, match=option):
            check_animate_args(args)


def test_text_that_is_no_finite_number_in_range_is_refused(train_tab, tmp_path, prompts, qtbot, settings_path):
    for typed in ("nan", "inf", "-1", "0", "2", "fast", ""):
        train_tab.run_settings.learning_rate.setText(typed)
        assert not train_tab.start()
        _one_line(prompts, "Learning rate", f"not {typed}" if typed not in ("fast", "") else f"not {typed!r}")
        _nothing_started(train_tab, tmp_path)
    train_tab.run_settings.learning_rate.setText(" 2e-4 ")
    assert train_tab.run_settings.problem(None) == ""
    arguments = train_tab.run_settings.arguments(tmp_path / "d.yaml", resume=False)
    assert arguments[arguments.index("--lr") + 1] == "0.0002"

    # A settings file with nan / inf: a spin box would make nan its maximum; a typed field shows it, refused.
    stored = Settings(settings_path)
    stored.set("motion/gain", "nan")
    stored.set("train/lr", "inf")
    motion = MotionControls()
    qtbot.addWidget(motion)
    motion.load(stored)
    assert motion.gain.value() == 1.0  # the default, not the range's 10
    train_tab.run_settings.restore(stored)
    assert train_tab.run_settings.learning_rate.text() == "inf"
    assert not train_tab.start()
    _one_line(prompts, "Learning rate", "not inf")


def test_paths_that_cannot_be_written_are_named_before_anything_starts(train_tab, tmp_path, prompts, settings_path):
    in_the_way = tmp_path / "FILE"
    in_the_way.write_text("a regular file\n")
    for run, words in ((in_the_way, ("Run folder", "FILE", "is a file")),
                       (in_the_way / "run", ("Run folder", "FILE", "is a file, not a folder"))):
        train_tab.set_run_folder(run)
        assert not train_tab.start()
        _one_line(prompts, *words)
        _nothing_started(train_tab, tmp_path)
    train_tab.set_run_folder(tmp_path / "run")
    (tmp_path / "data" / "clip_a").rmdir()
    (tmp_path / "data").rmdir()
    assert not train_tab.start()
    _one_line(prompts, "Dataset folder", "data", "not found")
    _nothing_started(train_tab, tmp_path)

    dialog = ExportDialog(Settings(settings_path), prompts, (120, 100), 12.0, train_tab)
    export = dialog.findChild(QDialogButtonBox).button(QDialogButtonBox.StandardButton.Ok)
    for kind, target, words in (("mp4", in_the_way / "clip.mp4", ("Save to", "FILE", "is a file")),
                                ("mp4", tmp_path, ("Save to", "is a folder")),
                                ("png", in_the_way, ("Save to", "FILE", "is a file")),
                                ("png", "  ", ("Save to", "give a file name"))):
        dialog.kind.setCurrentIndex(dialog.kind.findData(kind))
        dialog.path.setText(str(target))
        dialog.show()
        export.click()
        _one_line(prompts, *words)
        assert dialog.isVisible() and dialog.result() != QDialog.DialogCode.Accepted  # it stays open to fix the path
    dialog.kind.setCurrentIndex(dialog.kind.findData("mp4"))
    dialog.path.setText(str(tmp_path / "clip.mp4"))
    export.click()
    assert dialog.result() == QDialog.DialogCode.Accepted and not dialog.isVisible() and prompts.errors == []
    assert dialog.options().path == tmp_path / "clip.mp4"


def test_the_reference_frame_number_stays_within_the_driving_clip(open_window, media):
    tab = open_window().tab("Animate")
    tab.motion.set_options(MotionOptions(reference=30), None)
    assert tab.load_driving(media["long"])
    assert tab.motion.reference_index.maximum() == 39 and tab.motion.options().reference == 30
    assert tab.load_driving(media["driving"])  # 5 frames
    assert tab.motion.reference_index.maximum() == 4 and tab.motion.options().reference == 4


def test_tissue_motion_and_kept_fan_are_on_by_default_and_remembered(qtbot, settings_path):
    motion, output = MotionControls(), OutputControls()
    qtbot.addWidget(motion)
    qtbot.addWidget(output)
    assert motion.options().tissue and motion.options().match_motion and output.options().keep_sector  # as the CLI's
    assert motion.options().lock_landmarks and motion.lock_landmarks.isEnabled()
    motion.tissue.setChecked(False)
    assert not motion.lock_landmarks.isEnabled()  # it corrects the tissue motion only
    motion.match_motion.setChecked(False)
    motion.lock_landmarks.setChecked(False)
    output.keep_sector.setChecked(False)
    stored = Settings(settings_path)
    motion.save(stored)
    output.save(stored)
    again_motion, again_output = MotionControls(), OutputControls()
    qtbot.addWidget(again_motion)
    qtbot.addWidget(again_output)
    again_motion.load(Settings(settings_path))
    again_output.load(Settings(settings_path))
    assert not again_motion.options().tissue and not again_motion.options().match_motion and not again_output.options().keep_sector
    assert not again_motion.options().lock_landmarks
    again_motion.mode.setCurrentIndex(again_motion.mode.findData(False))
    assert not again_motion.match_motion.isEnabled()  # it applies to relative motion only
    again_output.mode.setCurrentIndex(again_output.mode.findData("generated"))
    assert not again_output.keep_sector.isEnabled()  # it applies to the default mode only

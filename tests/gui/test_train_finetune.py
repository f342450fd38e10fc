"""The Train tab's side of fine-tuning in minutes: ``--minutes`` instead of ``--steps`` / ``--lr`` when
a run starts from a checkpoint, Resume of a fine-tune run with neither, the Validation box fed by a
(fake) trainer's validation and verdict reports or by a run folder's finetune.json, the verdict in
the status line, and 'Use kept model in Animate' asking for RUN/best.pt."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QWidget

from usanimator_app.engine.trainer import CHECKPOINT_DIR
from usanimator_app.gui.finetune_view import BETTER_COLOUR, NOT_BETTER_COLOUR
from usanimator_app.gui.state import FineTuneHistory
from usanimator_app.gui.train_settings import TIMED_TIP
from usanimator_app.gui.train_tab import TrainTab

SPLIT = "validation split: by clip, 2 of 9 clips held out: a.mp4, b.mp4"
BUDGET = "time budget 10.0 min: about 8.2 min of training, ~520 steps at 0.94 s a step; validation every 2.0 min"


def _validation(step: int, minutes: float, l1: float, best: bool) -> dict:
    return {"step": step, "minutes": minutes, "l1": l1, "identity_l1": 0.0168, "ratio": l1 / 0.0168,
            "folds": 0.0, "implausible": 0.001, "best": best}


START, SECOND, THIRD = _validation(0, 0.0, 0.0146, True), _validation(40, 2.0, 0.0140, True), _validation(80, 4.0, 0.0143, False)
BETTER = "better than the model you started from: validation L1 0.0140 vs 0.0146 at the start (identity 0.0168)"


def _line(**fields) -> dict:
    return {"step": 0, "total": 520, "losses": {}, "seconds": 0, **fields}


def _verdict(run: Path, better: bool, text: str, kept: dict) -> dict:
    return {"better": better, "text": text, "best": str(run / "best.pt"), "start": START, "kept": kept}


def _animate_stub(loaded: list):
    """A stand-in Animate tab that takes every model request and records it."""

    def factory(context) -> QWidget:
        tab = QWidget()
        tab.setWindowTitle("Animate")
        context.app.model_requests.subscribe(lambda path: loaded.append(path) or True)
        return tab

    return factory


@pytest.fixture
def tab(open_window, tmp_path) -> TrainTab:
    """A Train tab with an (empty) dataset folder, fine-tuning a checkpoint file into tmp/run."""
    tab = open_window(tab_factories=[TrainTab]).tab("Train")
    (tmp_path / "data").mkdir()
    tab.datasets.add_folder(tmp_path / "data")
    (tmp_path / "start.pt").write_bytes(b"a checkpoint")
    tab.run_settings.fine_tune.set_choice("file", tmp_path / "start.pt")
    tab.set_run_folder(tmp_path / "run")
    return tab


def test_a_fine_tune_passes_minutes_and_from_scratch_steps_and_lr(open_window, tab, tmp_path):
    run = tab.run_settings
    run.minutes.setValue(25)
    run.learning_rate.setText("not a number")  # the fine-tune recipe sets its own: not checked, not passed
    arguments = tab.train_arguments(resume=False)
    assert arguments[arguments.index("--minutes") + 1] == "25" and arguments[arguments.index("--init") + 1] == str(tmp_path / "start.pt")
    assert "--steps" not in arguments and "--lr" not in arguments and run.problem(None) == ""
    assert not run.steps.isEnabled() and not run.learning_rate.isEnabled() and run.minutes.isEnabled()
    assert run.steps.toolTip() == run.learning_rate.toolTip() == TIMED_TIP and tab.validation.isVisible()

    run.fine_tune.set_choice("scratch")
    assert "Learning rate" in run.problem(None)
    run.learning_rate.setText("2e-4")
    arguments = tab.train_arguments(resume=False)
    assert arguments[arguments.index("--steps") + 1] == str(run.steps.value()) and arguments[arguments.index("--lr") + 1] == "0.0002"
    assert "--minutes" not in arguments and "--init" not in arguments
    assert run.steps.isEnabled() and run.learning_rate.isEnabled() and not run.minutes.isEnabled()
    assert not tab.validation.isVisible()  # nothing to validate from scratch
    tab.window().close()
    again = open_window(tab_factories=[TrainTab]).tab("Train")  # the same settings file
    assert again.run_settings.minutes.value() == 25


def test_resume_of_a_fine_tune_run_passes_neither_minutes_nor_steps(tab, tmp_path):
    run = tmp_path / "run"
    (run / CHECKPOINT_DIR).mkdir(parents=True)
    (run / CHECKPOINT_DIR / "step_0000040.pt").write_bytes(b"")
    tab.refresh_checkpoints()
    tab.run_settings.steps.setValue(10)  # below the run's step: a run from scratch could not resume to it
    assert "Steps (the run is at step 40)" in tab.run_settings.problem(40)
    assert tab.run_settings.steps.isEnabled()  # Resume of this run (from scratch) goes by Steps

    (run / "finetune.json").write_text(json.dumps({"budget_minutes": 10, "split": {"mode": "clips", "text": SPLIT},
                                                   "validations": [START], "verdict": None}))
    tab.set_run_folder(run)
    arguments = tab.train_arguments(resume=True)
    assert "--resume" in arguments and not {"--minutes", "--steps", "--lr", "--init"} & set(arguments)
    assert tab.run_settings.problem(40) == "" and not tab.run_settings.steps.isEnabled()


def test_validation_and_verdict_reports_fill_the_view_and_the_button_loads_best_pt(open_window, qtbot, tmp_path,
                                                                                 monkeypatch):
    loaded: list[Path] = []
    window = open_window(tab_factories=[_animate_stub(loaded), TrainTab])
    tab = window.tab("Train")
    window.tabs.setCurrentWidget(tab)
    (tmp_path / "data").mkdir()
    tab.datasets.add_folder(tmp_path / "data")
    (tmp_path / "start.pt").write_bytes(b"a checkpoint")
    tab.run_settings.fine_tune.set_choice("file", tmp_path / "start.pt")
    run = tmp_path / "run"
    tab.set_run_folder(run)
    reports = [_line(message=SPLIT), _line(message=BUDGET), _line(validation=START),
               _line(step=40, validation=SECOND), _line(step=80, validation=THIRD),
               _line(step=80, verdict=_verdict(run, True, BETTER, SECOND))]
    lines = tmp_path / "reports.jsonl"
    lines.write_text("".join(json.dumps(report) + "\n" for report in reports))
    monkeypatch.setattr(tab, "train_arguments", lambda resume: ["-c", f"import sys; sys.stdout.write(open({str(lines)!r}).read())"])
    view = tab.validation
    assert not view.use_button.isEnabled()
    with qtbot.waitSignal(tab.run_ended, timeout=30000) as ended:
        assert tab.start()
    assert ended.args == ["finished"]

    plot = view.plot
    assert [list(values) for values in plot.curve.getData()] == [[0.0, 2.0, 4.0], [0.0146, 0.0140, 0.0143]]
    assert [list(values) for values in plot.start.getData()] == [[0.0], [0.0146]]
    assert [list(values) for values in plot.kept.getData()] == [[2.0], [0.0140]]
    assert [list(values) for values in plot.identity.getData()] == [[0.0, 10.0], [0.0168, 0.0168]]  # to the budget
    assert plot.identity.opts["pen"].style() == Qt.PenStyle.DashLine
    assert [label.text for _, label in plot.plotItem.legend.items] == ["validation", "identity", "start", "kept"]
    assert view.split_label.text() == SPLIT
    long = f"validation split: by clip, 30 of 120 clips held out: {', '.join(f'clip_{n:03d}.mp4' for n in range(30))}"
    view.take_report(_line(message=long))
    assert view.split_label.text().endswith("…") and len(view.split_label.text()) < len(long) == len(view.split_label.toolTip())
    assert view.verdict_label.text() == "Better than the start: validation L1 0.0140 vs 0.0146 (identity 0.0168); kept step 40"
    assert view.verdict_label.toolTip() == BETTER and BETTER_COLOUR in view.verdict_label.styleSheet()
    assert BETTER in tab.status_label.text() and tab.status_label.text().startswith("Training finished")
    assert BETTER in window.statusBar().currentMessage()
    log = tab.log.toPlainText()
    assert "step 0: validation of the starting model: L1 0.0146 (identity 0.0168), kept" in log
    assert "step 80: validation at 4.0 min: L1 0.0143" in log and f"verdict: {BETTER}" in log and SPLIT in log

    assert view.use_button.isEnabled()
    qtbot.mouseClick(view.use_button, Qt.MouseButton.LeftButton)
    assert loaded == [run / "best.pt"]


def test_a_run_folder_with_finetune_json_shows_its_history(tab, tmp_path):
    run = tmp_path / "done"
    run.mkdir()
    text = "no better than the model you started from: validation L1 0.0146 at the start; best.pt is the starting model"
    (run / "finetune.json").write_text(json.dumps({
        "budget_minutes": 6, "split": {"mode": "time", "text": "validation split: by time, the last 25 % of each clip"},
        "validations": [START, _validation(30, 3.0, 0.0150, False)], "verdict": _verdict(run, False, text, START)}))
    tab.run_settings.fine_tune.set_choice("scratch")
    tab.set_run_folder(run)
    view = tab.validation
    assert view.isVisible() and [list(values) for values in view.plot.curve.getData()] == [[0.0, 3.0], [0.0146, 0.0150]]
    assert [list(values) for values in view.plot.kept.getData()] == [[0.0], [0.0146]]
    assert view.split_label.text() == "validation split: by time, the last 25 % of each clip"
    assert view.verdict_label.text().startswith("No better than the start (validation L1 0.0146")
    assert view.verdict_label.toolTip() == text and NOT_BETTER_COLOUR in view.verdict_label.styleSheet()
    assert view.use_button.isEnabled() and view.kept_path() == run / "best.pt"

    tab.set_run_folder(tmp_path / "elsewhere")  # no finetune.json: nothing to show
    assert view.plot.curve.getData() == (None, None) and view.verdict_label.text() == ""  # pyqtgraph's empty curve
    assert not view.use_button.isEnabled() and not view.isVisible()


def test_the_history_keeps_one_validation_a_step_and_skips_what_it_cannot_read(tmp_path):
    history = FineTuneHistory()
    assert history.take(_line(validation=START)) and history.take(_line(validation=SECOND))
    assert history.summary() == "Kept so far: validation L1 0.0140 at 2.0 min (start 0.0146)"
    assert history.take(_line(validation={**SECOND, "l1": 0.0139}))  # validated again after a resume
    assert not history.take(_line(validation={"step": 9})) and not history.take(_line(message="device: cpu"))
    assert history.curve() == ([0.0, 2.0], [0.0146, 0.0139]) and history.better() is None
    (tmp_path / "finetune.json").write_text("{not json")
    history.load(tmp_path / "finetune.json")
    assert history.validations == [] and history.verdict is None and history.split == ""

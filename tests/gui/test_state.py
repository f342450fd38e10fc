"""The Qt-free GUI state (``usanimator_app.gui.state``), driven without any widget."""

from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from usanimator_app.core.annotations import Annotations, LandmarkPoint, load_annotations
from usanimator_app.core.errors import UserInputError
from usanimator_app.gui.state import (
    AnimationRun,
    AnnotationEdits,
    AppState,
    Observers,
    RunStart,
    TrainProgress,
    descent_notes,
    format_progress,
    format_speed,
    split_lines,
)

REPO = Path(__file__).resolve().parents[2]


def test_the_state_module_loads_neither_qt_nor_torch():
    check = "import sys, usanimator_app.gui.state; print(sorted({'PySide6', 'torch', 'pyqtgraph'} & set(sys.modules)))"
    result = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True, cwd=REPO,
                            env={**os.environ, "PYTHONPATH": str(REPO)}, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_observers_are_called_in_order_with_the_arguments_and_return_their_answers():
    observers, calls = Observers(), []
    observers.subscribe(lambda value: calls.append(("first", value)) or 1)
    second = lambda value: calls.append(("second", value))  # noqa: E731
    observers.subscribe(second)
    assert observers.notify(7) == [1, None] and calls == [("first", 7), ("second", 7)]
    observers.unsubscribe(second)
    assert len(observers) == 1 and observers.notify(8) == [1]


def test_app_state_shares_the_model_and_tells_every_subscriber():
    app, seen = AppState(), []
    app.model_changed.subscribe(lambda: seen.append((app.model, app.model_status)))
    app.set_model_status("Loading model tiny.pt…")
    model = SimpleNamespace(checkpoint_path=Path("tiny.pt"))
    app.set_model(model, "Model: tiny.pt")
    assert seen == [(None, "Loading model tiny.pt…"), (model, "Model: tiny.pt")]


def test_app_state_device_changes_once_and_refuses_unknown_devices():
    app, seen = AppState("gpu"), []
    assert app.device == "auto"  # an unknown saved value falls back
    app.device_changed.subscribe(seen.append)
    app.set_device("cpu")
    app.set_device("cpu")
    assert app.device == "cpu" and seen == ["cpu"]
    with pytest.raises(UserInputError, match="unknown device"):
        app.set_device("tpu")


def test_a_model_request_reaches_the_tab_that_loads_models():
    app = AppState()
    assert not app.request_model(Path("a.pt"))  # nobody loads models
    requested, busy = [], [True]
    app.model_requests.subscribe(lambda path: False if busy[0] else requested.append(path) is None)
    assert not app.request_model(Path("a.pt")) and requested == []
    busy[0] = False
    assert app.request_model("b.pt") and requested == [Path("b.pt")]


def test_train_progress_measures_speed_from_the_first_step_of_a_process(tmp_path):
    progress = TrainProgress()
    assert progress.step_done({"step": 1, "total": 10, "losses": {"l1": 0.5}, "seconds": 2.0}, now=100.0) == \
        "Step 1 / 10 · 0.50 steps/s · ETA 0:18"
    assert progress.step_done({"step": 3, "total": 10, "losses": {"l1": 0.0, "key": 1.0}}, now=102.0) == \
        "Step 3 / 10 · 0.75 steps/s · ETA 0:09"
    assert progress.last_step == 3 and progress.history["l1"][0] == [1, 3]
    assert math.isnan(progress.history["l1"][1][1])  # a zero is a gap on the log axis
    progress.restart()
    assert progress.last_step is None and progress.history["key"] == ([3], [1.0])

    metrics = tmp_path / "metrics.jsonl"
    metrics.write_text('{"step": 1, "seconds": 0.1, "time": 5, "l1": 0.4}\nnot json\n{"step": 2, "l1": 0.3}\n')
    progress.load_metrics(metrics)
    assert progress.history == {"l1": ([1, 2], [0.4, 0.3])}
    progress.load_metrics(tmp_path / "absent.jsonl")
    assert progress.history == {}
    assert format_speed(120, 1000, None) == "Step 120 / 1000"
    assert format_speed(0, 10_000, 1.0) == "Step 0 / 10000 · 1.00 steps/s · ETA 2:46:40"


def test_split_lines_keeps_an_unfinished_line_for_later():
    lines, rest = split_lines(b"", b'{"step": 1}\nhal')
    assert lines == ['{"step": 1}'] and rest == b"hal"
    assert split_lines(rest, "f\u00e9 \r\n".encode()) == (["half\u00e9"], b"")


def test_annotation_edits_save_every_change_and_undo_redo_it(tmp_path):
    sidecar = tmp_path / "clip.mp4.annotations.json"
    edits, changes = AnnotationEdits(Annotations(clip="clip.mp4"), sidecar), []
    edits.changed.subscribe(lambda: changes.append(load_annotations(sidecar)))
    assert not edits.can_undo and edits.undo_text == ""
    assert edits.edit("Place a", {(0, "symphysis_lower_edge"): LandmarkPoint(1, 2, "manual")})
    assert not edits.edit("Place a again", {(0, "symphysis_lower_edge"): LandmarkPoint(1, 2, "manual")})  # no change
    assert edits.edit("Move a, set b", {(0, "symphysis_lower_edge"): LandmarkPoint(3, 4, "manual"),
                                         (1, "bladder_neck"): LandmarkPoint(5, 6, "predicted")})
    assert edits.edit("Landmarks", {(1, "bladder_neck"): None}, landmarks=["symphysis_lower_edge"])
    assert len(changes) == 3 and changes[-1].landmarks == ["symphysis_lower_edge"] and changes[-1].point(1, "bladder_neck") is None
    assert edits.undo_text == "Landmarks"
    edits.undo()
    saved = load_annotations(sidecar)
    assert saved.landmarks == ["symphysis_lower_edge", "bladder_neck"] and saved.point(1, "bladder_neck").origin == "predicted"
    edits.undo()
    assert load_annotations(sidecar).point(0, "symphysis_lower_edge") == LandmarkPoint(1, 2, "manual")
    assert edits.can_redo and edits.redo_text == "Move a, set b"
    edits.redo()
    assert load_annotations(sidecar).point(0, "symphysis_lower_edge") == LandmarkPoint(3, 4, "manual")
    edits.edit("Delete a", {(0, "symphysis_lower_edge"): None})
    assert not edits.can_redo  # a new edit drops what was undone
    assert load_annotations(sidecar).point(0, "symphysis_lower_edge") is None


def test_annotation_edits_report_a_failed_save_and_keep_the_edit(tmp_path):
    (tmp_path / "not_a_folder").write_text("")
    edits, failures = AnnotationEdits(Annotations(clip="c"), tmp_path / "not_a_folder" / "c.annotations.json"), []
    edits.save_failed.subscribe(failures.append)
    assert edits.edit("Place", {(0, "bladder_neck"): LandmarkPoint(1, 1, "manual")})
    assert len(failures) == 1 and "cannot save the annotations" in failures[0]
    assert edits.annotations.point(0, "bladder_neck") is not None and edits.can_undo


def test_animation_run_keeps_the_results_and_words_the_progress():
    run = AnimationRun()
    run.begin(("bladder_neck",), fps=None)
    assert run.fps == 20.0 and run.names == ("bladder_neck",) and run.results == []
    run.add(RunStart(total=4, source="source"), now=10.0)
    assert not run.take_news()
    run.add("frame 0", now=10.5)
    run.add("frame 1", now=11.0)
    assert run.take_news() and not run.take_news() and run.source == "source"
    assert run.progress_text(now=11.0) == "2 / 4 frames · 2.0 frames/s · ETA 0:01"
    assert run.summary("cancelled", now=11.0) == "Cancelled after 2 of 4 frames"
    assert run.summary("finished", now=12.0) == "Animated 2 frames in 2.0 s"
    assert run.summary("failed", now=12.0) == "Animation failed"
    run.clear()
    assert run.results == [] and run.shown == 0
    assert format_progress(0, 5, 0.0) == "0 / 5 frames"


def test_descent_notes_say_what_is_missing():
    both = ["symphysis_lower_edge", "bladder_neck"]
    assert descent_notes(both, measured=True, rest=0, unit="mm") == []
    assert descent_notes(both, measured=False, rest=3, unit="px") == [
        "The rest frame (3) needs both points.", "No pixel spacing: descent shown in px."]
    assert descent_notes(["a"], measured=False, rest=0, unit="mm")[0].startswith("Descent needs the landmarks")

"""The Animate tab: choose a source frame, a driving clip and a model; animate, watch, export.

Inputs and controls are on the left, the live view on the right. Loading a model, animating and
exporting each run as a ``workers.Job``; the results of the last run stay in memory for playback
and export: each ``FrameResult`` holds the output frame (uint8, at the output size) and small
model-space views (uint8 images, the occlusion and displacement at the motion's resolution).
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Callable, Iterable, Iterator

import numpy as np
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QDialog,
    QHBoxLayout,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from usanimator_app.core.media import open_media
from usanimator_app.engine.animator import Animator, FrameResult, MotionOptions, OutputOptions
from usanimator_app.engine.pipeline import DrivingFrames, load_source_frame
from usanimator_app.gui.animate_inputs import Inputs
from usanimator_app.gui.context import Launch, Tab, TabContext
from usanimator_app.gui.controls import ModelPanel, MotionControls, RunBox
from usanimator_app.gui.export_dialog import (
    ExportDialog,
    ExportOptions,
    export_job,
    save_export_settings,
)
from usanimator_app.gui.live_view import LiveView
from usanimator_app.gui.model_choice import ModelChoice
from usanimator_app.gui.output_controls import OutputControls
from usanimator_app.gui.state import AnimationRun, RunStart
from usanimator_app.gui.trajectory_panel import TrajectoryPanel
from usanimator_app.gui.widgets import MediaPanel
from usanimator_app.gui.workers import JobFunction, JobRunner

log = logging.getLogger(__name__)
REFRESH_MS = 40  # the live view redraws at most 25 times a second, however fast frames arrive


class _UntilStopped:
    """Re-iterable frames that end early once ``should_stop()`` (so a 'best' reference search stops too)."""

    def __init__(self, frames: Iterable[np.ndarray], should_stop: Callable[[], bool]):
        self._frames = frames
        self._should_stop = should_stop

    def __iter__(self) -> Iterator[np.ndarray]:
        for frame in self._frames:
            if self._should_stop():
                return
            yield frame


def animation_job(
    animator: Animator,
    source: Path,
    source_index: int,
    driving: Path,
    options: MotionOptions,
    frame_limit: int | None,
    output: OutputOptions,
    driving_points: list[np.ndarray] | None = None,
) -> JobFunction:
    """Yields a :class:`RunStart`, then one FrameResult per driving frame (``frame`` rendered on the
    source's own pixels as ``output`` says); ``driving_points``: an edited trajectory's motion points
    per frame (model pixels), which then also bound the frames animated."""

    def job(should_stop: Callable[[], bool]) -> Iterator[object]:
        source_frame = load_source_frame(source, animator.image_size, source_index)
        limit = frame_limit if driving_points is None else min(frame_limit or len(driving_points), len(driving_points))
        frames = DrivingFrames(open_media(driving), animator.image_size, limit)
        yield RunStart(len(frames), source_frame.model_frame, frames.geometry)
        yield from animator.animate(source_frame.model_frame, _UntilStopped(frames, should_stop), options, should_stop,
                                    native=source_frame.native, output=output, driving_points=driving_points)

    return job


class AnimateTab(Tab):
    """Source + driving + model -> animation, shown live, played back and exported."""

    model_ready = Signal(bool)  # after each model load attempt: True when a model is usable
    run_ended = Signal(str)  # 'finished' | 'cancelled' | 'failed'
    export_ended = Signal(str)  # 'finished' | 'cancelled' | 'failed'
    launch_done = Signal(int)  # the command line's --run / --export are done: 0 when they worked

    def __init__(self, context: TabContext, parent: QWidget | None = None):
        super().__init__("Animate", context, parent)
        self.last_run = AnimationRun()
        self.jobs = JobRunner("animate", context.jobs, self)
        self.jobs.changed.connect(self._update_controls)
        self._export_path: Path | None = None
        self._launch: Launch | None = context.launch
        self._refresh_timer = QTimer(self)
        self._refresh_timer.setInterval(REFRESH_MS)
        self._refresh_timer.timeout.connect(self._refresh_run)
        self._build()
        self._restore(context.launch or Launch())

    # ------------------------------------------------------------------------------------ layout

    def _build(self) -> None:
        self.source_panel = MediaPanel("Source frame", "Drop a DICOM, PNG or JPEG here\n(or a clip: pick its frame)", pick_frame=True)
        self.driving_panel = MediaPanel("Driving clip", "Drop a clip here\n(MP4, AVI, DICOM cine, GIF…)")
        self.model_panel = ModelPanel()
        self.motion = MotionControls()
        self.output = OutputControls()
        self.run_box = RunBox()
        self.motion_edits = TrajectoryPanel(lambda: bool(self.results))
        self.motion_edits.rerun_requested.connect(self.run)
        self.live = LiveView()
        self.models = ModelChoice(self._context, self.jobs, self.model_panel, self)
        self.models.ready.connect(self._model_ready)
        self.inputs = Inputs(self._context, self.source_panel, self.driving_panel, self)
        self.inputs.changed.connect(self._inputs_changed)
        for signal in (self.inputs.changed, self.models.ready):
            signal.connect(lambda *_: self.motion_edits.state.clear())

        column = QWidget()
        column_layout = QVBoxLayout(column)
        column_layout.setContentsMargins(0, 0, 4, 0)
        for widget in (self.source_panel, self.driving_panel, self.model_panel, self.motion, self.motion_edits, self.output):
            column_layout.addWidget(widget)
        column_layout.addStretch(1)
        scroll = QScrollArea()
        scroll.setWidget(column)
        scroll.setWidgetResizable(True)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        left = QWidget()
        left.setFixedWidth(400)
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 0, 0)
        left_layout.addWidget(scroll, 1)
        left_layout.addWidget(self.run_box)  # always in sight, however long the controls above
        layout = QHBoxLayout(self)
        layout.addWidget(left)
        layout.addWidget(self.live, 1)

        self.export_action = QAction("Export…", self, shortcut=QKeySequence("Ctrl+E"))
        self.export_action.triggered.connect(self.open_export_dialog)
        self.run_box.run_button.clicked.connect(self.run)
        self.run_box.cancel_button.clicked.connect(self.cancel)
        self.run_box.export_button.clicked.connect(self.open_export_dialog)
        self.live.frame_selected.connect(self._show_index)

    def menu_actions(self) -> dict[str, list[QAction | None]]:
        """Actions this tab adds to the window's menus (None: a separator)."""
        return {
            "File": self.inputs.actions() + [None, self.models.open_action, self.export_action],
            "View": list(self.live.view_actions()),
            "Help": [self.models.card_action],
        }

    def _restore(self, launch: Launch) -> None:
        self.motion.load(self._settings)
        self.output.load(self._settings)
        for path, load in ((launch.source, self.inputs.load_source), (launch.driving, self.inputs.load_driving)):
            if path is not None:
                load(path)
        saved = self._settings.text("model/path")
        self.load_model(launch.model or (Path(saved) if saved and Path(saved).is_file() else None))
        self._update_controls()

    @property
    def animator(self) -> Animator | None:
        """The model in use (the application's, shared with the other tabs)."""
        return self._app.model

    @property
    def results(self) -> list[FrameResult]:
        """The last run's frames (kept for playback and export)."""
        return self.last_run.results

    @property
    def busy(self) -> bool:
        """True while a model loads, a run goes on or an export writes."""
        return self.jobs.busy

    # ------------------------------------------------------------------------------------ inputs

    def load_source(self, path: Path) -> bool:
        """Open a source file (any frame of it can be chosen); an unreadable file gives a dialog."""
        return self.inputs.load_source(path)

    def load_driving(self, path: Path) -> bool:
        """Open a driving clip; an unreadable file gives a dialog."""
        return self.inputs.load_driving(path)

    def _inputs_changed(self) -> None:
        """New inputs make the last run's results stale: show the inputs instead."""
        self._clear_results()
        if self.inputs.driving is not None:
            self.motion.set_clip_length(self.inputs.driving.info.frames)
        self.live.preview(self.inputs.source_frame, self.inputs.driving_frame)
        self._update_controls()

    # ------------------------------------------------------------------------------ model, device

    def load_model(self, path: Path | None) -> bool:
        """Load a checkpoint (None: the bundled model) in the background on the application's device;
        False (with a message) when that cannot start."""
        return self.models.load(path)

    def _model_ready(self, ok: bool) -> None:
        self.model_ready.emit(ok)
        self._continue_launch("model", ok)

    # ------------------------------------------------------------------------------- run, cancel

    def run(self) -> bool:
        """Start animating; False (with a message) when something is missing or a job may not start."""
        missing = [name for name, value in (("a model", self.animator), ("a source frame", self.inputs.source),
                                            ("a driving clip", self.inputs.driving)) if value is None]
        if missing:
            self._context.show_message(f"Cannot animate yet: choose {', '.join(missing)}.")
            return False
        if not self.jobs.may_start("run"):
            return False
        self._clear_results()
        self.motion.save(self._settings)
        self.output.save(self._settings)
        self.last_run.begin(self.animator.landmark_names, self.inputs.driving.info.fps)
        self.live.set_playback_fps(self.last_run.fps)
        self.run_box.show_progress(0, 0, "Preparing…")
        source, driving = self.inputs.source, self.inputs.driving
        run = dict(source=source.path, source_frame=self.source_panel.frame_index(), driving=driving.path, model=self.animator.checkpoint_path,
                   max_frames=self.motion.frame_limit(), motion=self.motion.options(), output=self.output.options())
        job = animation_job(self.animator, run["source"], run["source_frame"], run["driving"], run["motion"], run["max_frames"],
                            run["output"], self.motion_edits.run_started(run))
        self.jobs.start("run", job, self._run_item, self._run_job_ended)
        self._refresh_timer.start()
        log.info("run started: %s frame %d, %s", source.path.name, self.source_panel.frame_index(), driving.path.name)
        return True

    def cancel(self) -> None:
        if self.jobs.kind in ("run", "export"):
            self.jobs.cancel()
            self.run_box.progress_label.setText("Cancelling…")

    def _run_item(self, item: object) -> None:
        self.last_run.add(item, time.perf_counter())
        if isinstance(item, RunStart):
            self.run_box.progress.setRange(0, item.total)

    def _refresh_run(self) -> None:
        """Timer tick during a run: progress, and the newest frame when one arrived."""
        if not self.last_run.take_news():
            return
        count = len(self.results)
        self.run_box.progress.setValue(count)
        self.run_box.progress_label.setText(self.last_run.progress_text(time.perf_counter()))
        self.live.set_frame_count(count, follow=True)
        self._show_index(count - 1)

    def _run_job_ended(self, outcome: str, message: str) -> None:
        self._refresh_timer.stop()
        self._refresh_run()
        count = len(self.results)
        self.live.set_frame_count(count)
        text = self.last_run.summary(outcome, time.perf_counter())
        self.run_box.show_progress(count, max(1, self.last_run.total), text)
        if outcome == "failed":
            self._prompts.error(message)
        self._context.show_message(text)
        self.motion_edits.run_ended(outcome, self.last_run.names, self.results, self.inputs.driving, self.last_run.driving_geometry)
        log.info("run %s: %s", outcome, text)
        self.run_ended.emit(outcome)
        self._continue_launch("run", ok=outcome == "finished")

    def _show_index(self, index: int) -> None:
        if 0 <= index < len(self.results) and self.last_run.source is not None:
            self.live.show_result(self.last_run.source, self.results[index], self.last_run.names)

    def _clear_results(self) -> None:
        self.last_run.clear()
        self.live.set_frame_count(0)
        self.run_box.show_progress(0, 1, "")

    # ------------------------------------------------------------------------------------ export

    def open_export_dialog(self) -> None:
        if not self.results or not self.jobs.may_start("export"):
            return
        height, width = self.results[0].frame.shape
        dialog = ExportDialog(self._settings, self._prompts, (width, height), self.last_run.fps, self)
        if dialog.exec() == QDialog.DialogCode.Accepted:
            self.export(dialog.options())

    def export(self, options: ExportOptions) -> bool:
        """Write the last run's frames; asks before replacing anything. False when nothing started."""
        if not self.results or not self.jobs.may_start("export"):
            return False
        if options.target_exists() and not self._prompts.ask(f"{options.path} already exists. Replace it?"):
            return False
        save_export_settings(self._settings, options)
        options = self.motion_edits.export_options(options)
        job = export_job(list(self.results), options, self.last_run.names)
        if not self.jobs.start("export", job, self.run_box.progress.setValue, self._export_job_ended):
            return False
        self._export_path = options.path
        self.run_box.show_progress(0, len(self.results), f"Exporting to {options.path.name}…")
        return True

    def _export_job_ended(self, outcome: str, message: str) -> None:
        if outcome == "finished":
            text = f"Exported {len(self.results)} frames to {self._export_path}"
        elif outcome == "cancelled":
            text = "Export cancelled; nothing was written"
        else:
            text = "Export failed; nothing was written"
            self._prompts.error(message)
        self.run_box.progress.setValue(len(self.results) if outcome == "finished" else 0)
        self.run_box.progress_label.setText(text)
        self._context.show_message(text)
        log.info("export %s: %s", outcome, self._export_path)
        self.export_ended.emit(outcome)
        self._continue_launch("export", ok=outcome == "finished")

    # ---------------------------------------------------------------------------------- controls

    def _update_controls(self) -> None:
        busy = self.jobs.busy
        working = self.jobs.kind in ("run", "export")
        ready = self.animator is not None and self.inputs.source is not None and self.inputs.driving is not None
        self.run_box.run_button.setEnabled(not busy and ready)
        self.run_box.cancel_button.setEnabled(working)
        has_results = bool(self.results) and not busy
        self.run_box.export_button.setEnabled(has_results)
        self.export_action.setEnabled(has_results)
        self.inputs.set_locked(working)
        self.motion.setEnabled(not working)
        self.motion_edits.setEnabled(not working)
        self.output.setEnabled(not working)
        self.models.set_enabled(not busy)

    # ---------------------------------------------------------------------------- launch, close

    def _continue_launch(self, step: str, ok: bool) -> None:
        """Go on with the command line's --run / --export after ``step`` ('model', 'run', 'export')."""
        launch = self._launch
        if launch is None or not (launch.run or launch.quit_when_done):
            return
        if ok and step == "model" and launch.run:
            ok = self.run()
            if ok:
                return
        elif ok and step == "run" and launch.export is not None:
            ok = self.export(self._launch_export_options(launch.export))
            if ok:
                return
        self._launch = None
        QTimer.singleShot(0, lambda: self.launch_done.emit(0 if ok else 1))

    def _launch_export_options(self, path: Path) -> ExportOptions:
        kind = "mp4" if path.suffix.lower() == ".mp4" else "png"
        return ExportOptions(path=path, kind=kind, layout=self._settings.text("export/layout", "output"), fps=self.last_run.fps)

    def shutdown(self) -> None:
        """The window is closing: stop playback and any job, remember the motion and output options."""
        self.live.play_button.setChecked(False)
        self._refresh_timer.stop()
        self.jobs.shutdown()
        self.motion.save(self._settings)
        self.output.save(self._settings)

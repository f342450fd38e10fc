"""The Animate tab: choose a source frame, a driving clip and a model; animate, watch, export.

Inputs and controls are on the left, the live view on the right. Loading a model, animating and
exporting each run as a ``workers.Job``; the results of the last run stay in memory for playback
and export: each ``FrameResult`` holds the output frame (uint8, at the output size) and small
model-space views (uint8 images, the occlusion and displacement at the motion's resolution).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Iterator

import numpy as np
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QDialog,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QMenu,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from usanimator_app.core.errors import UserInputError
from usanimator_app.core.media import MediaSource, open_media
from usanimator_app.core.paths import resources_dir
from usanimator_app.engine.animator import Animator, FrameResult, MotionOptions, OutputOptions
from usanimator_app.engine.pipeline import DrivingFrames, default_model_path, load_source_frame
from usanimator_app.gui.context import Launch, TabContext
from usanimator_app.gui.controls import ModelPanel, MotionControls, device_status, model_card_markdown
from usanimator_app.gui.export_dialog import (
    DEFAULT_FPS,
    ExportDialog,
    ExportOptions,
    export_job,
    save_export_settings,
)
from usanimator_app.gui.live_view import LiveView
from usanimator_app.gui.output_controls import OutputControls
from usanimator_app.gui.prompts import MEDIA_FILTER, MODEL_FILTER
from usanimator_app.gui.widgets import MediaPanel
from usanimator_app.gui.workers import JobFunction, JobRunner

log = logging.getLogger(__name__)
REFRESH_MS = 40  # the live view redraws at most 25 times a second, however fast frames arrive
SAMPLE_SOURCE, SAMPLE_DRIVING = "sample_source.png", "sample_driving.mp4"  # in resources/


@dataclass
class RunStart:
    """First item of an animation job: how many frames will come and the source as the model sees it."""

    total: int
    source: np.ndarray


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
) -> JobFunction:
    """Yields a :class:`RunStart`, then one FrameResult per driving frame (``frame`` rendered on the
    source's own pixels as ``output`` says)."""

    def job(should_stop: Callable[[], bool]) -> Iterator[object]:
        source_frame = load_source_frame(source, animator.image_size, source_index)
        frames = DrivingFrames(open_media(driving), animator.image_size, frame_limit)
        yield RunStart(len(frames), source_frame.model_frame)
        yield from animator.animate(source_frame.model_frame, _UntilStopped(frames, should_stop), options, should_stop,
                                    native=source_frame.native, output=output)

    return job


def load_model_job(path: Path, device: str) -> JobFunction:
    def job(should_stop: Callable[[], bool]) -> Iterator[Animator]:
        yield Animator(path, device=device)

    return job


def format_progress(done: int, total: int, seconds: float) -> str:
    """'12 / 100 frames · 8.3 frames/s · ETA 0:11'."""
    if done == 0 or seconds <= 0:
        return f"{done} / {total} frames"
    rate = done / seconds
    eta = round(max(0, total - done) / rate)
    return f"{done} / {total} frames · {rate:.1f} frames/s · ETA {eta // 60}:{eta % 60:02d}"


class AnimateTab(QWidget):
    """Source + driving + model -> animation, shown live, played back and exported."""

    model_ready = Signal(bool)  # after each model load attempt: True when a model is usable
    run_ended = Signal(str)  # 'finished' | 'cancelled' | 'failed'
    export_ended = Signal(str)  # 'finished' | 'cancelled' | 'failed'
    launch_done = Signal(int)  # the command line's --run / --export are done: 0 when they worked

    def __init__(self, context: TabContext, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("Animate")
        self._context = context
        self._settings = context.settings
        self._prompts = context.prompts
        self._app = context.app
        self._loaded: Animator | None = None
        self._source: MediaSource | None = None
        self._source_frame: np.ndarray | None = None
        self._driving: MediaSource | None = None
        self._driving_frame: np.ndarray | None = None
        self.results: list[FrameResult] = []
        self._run_source: np.ndarray | None = None
        self._run_names: tuple[str, ...] = ()
        self._run_total = 0
        self._run_fps = DEFAULT_FPS
        self._run_clock = 0.0
        self._shown = 0
        self.jobs = JobRunner("animate", self)
        self.jobs.changed.connect(self._update_controls)
        self._export_path: Path | None = None
        self._launch: Launch | None = context.launch
        self._refresh_timer = QTimer(self)
        self._refresh_timer.setInterval(REFRESH_MS)
        self._refresh_timer.timeout.connect(self._refresh_run)
        self._build()
        self._app.device_changed.subscribe(self._device_changed)
        self._app.model_requests.subscribe(self._model_requested)
        self._restore(context.launch or Launch())

    # ------------------------------------------------------------------------------------ layout

    def _build(self) -> None:
        self.source_panel = MediaPanel("Source frame", "Drop a DICOM, PNG or JPEG here\n(or a clip: pick its frame)", pick_frame=True)
        self.driving_panel = MediaPanel("Driving clip", "Drop a clip here\n(MP4, AVI, DICOM cine, GIF…)")
        self.model_panel = ModelPanel()
        self.motion = MotionControls()
        self.output = OutputControls()
        self.run_button = QPushButton("Animate")
        self.run_button.setShortcut(QKeySequence("Ctrl+R"))
        self.run_button.setToolTip("Animate the source frame with the driving clip (Ctrl+R)")
        self.cancel_button = QPushButton("Cancel")
        self.export_button = QPushButton("Export…")
        self.progress = QProgressBar()
        self.progress.setFormat("%v / %m")
        self.progress_label = QLabel("")
        self.live = LiveView()

        run_box = QGroupBox("Run")
        buttons = QHBoxLayout()
        for button in (self.run_button, self.cancel_button, self.export_button):
            buttons.addWidget(button)
        run_layout = QVBoxLayout(run_box)
        run_layout.addLayout(buttons)
        run_layout.addWidget(self.progress)
        run_layout.addWidget(self.progress_label)

        column = QWidget()
        column_layout = QVBoxLayout(column)
        column_layout.setContentsMargins(0, 0, 4, 0)
        for widget in (self.source_panel, self.driving_panel, self.model_panel, self.motion, self.output):
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
        left_layout.addWidget(run_box)  # always in sight, however long the controls above
        layout = QHBoxLayout(self)
        layout.addWidget(left)
        layout.addWidget(self.live, 1)

        self.open_source_action = QAction("Open source…", self, shortcut=QKeySequence("Ctrl+O"))
        self.open_driving_action = QAction("Open driving clip…", self, shortcut=QKeySequence("Ctrl+D"))
        self.open_sample_action = QAction("Open sample", self)
        self.open_sample_action.setToolTip("Load the bundled sample source frame and driving clip")
        self.open_model_action = QAction("Open model…", self, shortcut=QKeySequence("Ctrl+M"))
        self.export_action = QAction("Export…", self, shortcut=QKeySequence("Ctrl+E"))
        self.model_card_action = QAction("Model card", self)
        self.recent_menu = QMenu("Recent files", self)
        self.recent_menu.setToolTipsVisible(True)
        self.recent_menu.aboutToShow.connect(self._fill_recent_menu)

        self.source_panel.file_dropped.connect(self.load_source)
        self.source_panel.open_clicked.connect(self._open_source_dialog)
        self.source_panel.frame_changed.connect(self._source_frame_changed)
        self.driving_panel.file_dropped.connect(self.load_driving)
        self.driving_panel.open_clicked.connect(self._open_driving_dialog)
        self.model_panel.open_clicked.connect(self._open_model_dialog)
        self.model_panel.bundled_clicked.connect(self._use_bundled_model)
        self.model_panel.card_clicked.connect(self.show_model_card)
        self.model_panel.device_changed.connect(self._device_chosen)
        self.open_source_action.triggered.connect(self._open_source_dialog)
        self.open_driving_action.triggered.connect(self._open_driving_dialog)
        self.open_sample_action.triggered.connect(self.open_sample)
        self.open_model_action.triggered.connect(self._open_model_dialog)
        self.export_action.triggered.connect(self.open_export_dialog)
        self.model_card_action.triggered.connect(self.show_model_card)
        self.run_button.clicked.connect(self.run)
        self.cancel_button.clicked.connect(self.cancel)
        self.export_button.clicked.connect(self.open_export_dialog)
        self.live.frame_selected.connect(self._show_index)

    def menu_actions(self) -> dict[str, list[QAction | None]]:
        """Actions this tab adds to the window's menus (None: a separator)."""
        return {
            "File": [self.open_source_action, self.open_driving_action, self.open_sample_action,
                     self.recent_menu.menuAction(), None, self.open_model_action, self.export_action],
            "View": list(self.live.view_actions()),
            "Help": [self.model_card_action],
        }

    def _restore(self, launch: Launch) -> None:
        self.motion.load(self._settings)
        self.output.load(self._settings)
        self._show_device()
        for path, load in ((launch.source, self.load_source), (launch.driving, self.load_driving)):
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
    def busy(self) -> bool:
        """True while a model loads, a run goes on or an export writes."""
        return self.jobs.busy

    # ------------------------------------------------------------------------------------ inputs

    def load_source(self, path: Path) -> bool:
        """Open a source file (any frame of it can be chosen); an unreadable file gives a dialog."""
        opened = self._open_media(Path(path), "source")
        if opened is None:
            return False
        self._source, self._source_frame = opened
        self.source_panel.show_media(Path(path), self._source.info, self._source_frame)
        self._inputs_changed()
        return True

    def load_driving(self, path: Path) -> bool:
        """Open a driving clip; an unreadable file gives a dialog."""
        opened = self._open_media(Path(path), "driving")
        if opened is None:
            return False
        self._driving, self._driving_frame = opened
        self.driving_panel.show_media(Path(path), self._driving.info, self._driving_frame)
        self._inputs_changed()
        return True

    def open_sample(self) -> bool:
        """Load the bundled sample source frame and driving clip in one step."""
        folder = resources_dir()
        return self.load_source(folder / SAMPLE_SOURCE) and self.load_driving(folder / SAMPLE_DRIVING)

    def _open_media(self, path: Path, role: str) -> tuple[MediaSource, np.ndarray] | None:
        if self.jobs.kind in ("run", "export"):
            self._context.show_message("Wait until the run or export has ended.")
            return None
        try:
            media = open_media(path)
            frame = media.read_frame(0)
        except UserInputError as exc:
            self._prompts.error(str(exc))
            return None
        self._settings.add_recent_file(role, path)
        self._settings.set_folder(role, path)
        self._context.show_message(f"Opened {path.name}")
        return media, frame

    def _source_frame_changed(self, index: int) -> None:
        if self._source is None:
            return
        try:
            self._source_frame = self._source.read_frame(index)
        except UserInputError as exc:
            self._prompts.error(str(exc))
            return
        self.source_panel.show_frame(self._source_frame)
        self._inputs_changed()

    def _inputs_changed(self) -> None:
        """New inputs make the last run's results stale: show the inputs instead."""
        self._clear_results()
        self.live.preview(self._source_frame, self._driving_frame)
        self._update_controls()

    def _open_source_dialog(self) -> None:
        path = self._prompts.open_file("Open source frame", self._settings.folder("source"), MEDIA_FILTER)
        if path:
            self.load_source(path)

    def _open_driving_dialog(self) -> None:
        path = self._prompts.open_file("Open driving clip", self._settings.folder("driving"), MEDIA_FILTER)
        if path:
            self.load_driving(path)

    def _fill_recent_menu(self) -> None:
        self.recent_menu.clear()
        entries = self._settings.recent_files()
        for role, path in entries:
            action = self.recent_menu.addAction(f"{'Source' if role == 'source' else 'Driving'}: {Path(path).name}")
            action.setToolTip(path)
            load = self.load_source if role == "source" else self.load_driving
            action.triggered.connect(lambda _checked=False, load=load, path=Path(path): load(path))
        if not entries:
            self.recent_menu.addAction("No recent files").setEnabled(False)
            return
        self.recent_menu.addSeparator()
        self.recent_menu.addAction("Clear recent files").triggered.connect(self._settings.clear_recent_files)

    # ------------------------------------------------------------------------------ model, device

    def load_model(self, path: Path | None) -> None:
        """Load a checkpoint (None: the bundled model) in the background on the chosen device."""
        if self.jobs.busy:
            self._context.show_message("Wait until the current job has ended.")
            return
        if path is None:
            try:
                path = default_model_path()
            except UserInputError as exc:
                log.info("no bundled model: %s", exc)
                self._no_model("The bundled model is not installed. Choose a checkpoint file (.pt) with "
                               "Open… below or File ▸ Open model…", dialog=self.animator is not None)
                return
        self.model_panel.show_loading(Path(path))
        self._app.set_model_status(f"Loading model {Path(path).name}…")
        self.jobs.start("model", load_model_job(Path(path), self._app.device), self._model_loaded, self._model_job_ended)

    def _no_model(self, message: str, dialog: bool) -> None:
        """Say in words why no (new) model could be loaded; a model loaded before stays in use."""
        if self.animator is None:
            self.model_panel.show_problem(message)
            self._app.set_model_status("No model loaded: choose a checkpoint with File ▸ Open model…")
        else:
            self._app.set_model_status(self._model_status(self.animator))
            self._show_model(self.animator)
        if dialog:
            self._prompts.error(message)
        self.model_ready.emit(False)
        self._continue_launch("model", ok=False)

    def _model_loaded(self, animator: Animator) -> None:
        self._loaded = animator

    def _model_job_ended(self, outcome: str, message: str) -> None:
        animator, self._loaded = self._loaded, None
        if outcome != "finished" or animator is None:
            self._no_model(message, dialog=True)
            return
        self._settings.set("model/path", "" if self._is_bundled(animator.checkpoint_path) else str(animator.checkpoint_path))
        self._app.set_model(animator, self._model_status(animator))
        self._show_model(animator)
        log.info("model %s loaded on %s", animator.checkpoint_path, animator.device_choice.label)
        self.model_ready.emit(True)
        self._continue_launch("model", ok=True)

    def _show_model(self, animator: Animator) -> None:
        self.model_panel.show_model(animator, self._is_bundled(animator.checkpoint_path))
        self._show_device()

    def _model_status(self, animator: Animator) -> str:
        return f"Model: {animator.checkpoint_path.name}{' (bundled)' if self._is_bundled(animator.checkpoint_path) else ''}"

    @staticmethod
    def _is_bundled(path: Path) -> bool:
        try:
            return path.resolve() == default_model_path().resolve()
        except UserInputError:
            return False

    def _open_model_dialog(self) -> None:
        path = self._prompts.open_file("Open model checkpoint", self._settings.folder("model"), MODEL_FILTER)
        if path:
            self._settings.set_folder("model", path)
            self.load_model(path)

    def _use_bundled_model(self) -> None:
        self.load_model(None)

    def _device_chosen(self, key: str) -> None:
        """The user chose a device: remember it and make it the application's."""
        self._settings.set("device", key)
        self._app.set_device(key)

    def _device_changed(self, key: str) -> None:
        """The application's device changed: the model moves there."""
        if self.animator is not None:
            self.load_model(self.animator.checkpoint_path)
        self._show_device()

    def _show_device(self) -> None:
        """The device choice and, when CUDA was asked for but is absent, why."""
        self.model_panel.device.blockSignals(True)
        self.model_panel.set_device_key(self._app.device)
        self.model_panel.device.blockSignals(False)
        self.model_panel.device_note.setText(device_status(self._app)[1])

    def _model_requested(self, path: Path) -> bool:
        """Another tab asks for ``path`` (e.g. Train's "Use in Animate"): load it and show this tab."""
        if self.busy:
            return False
        self.load_model(path)
        self._context.show_tab(self)
        return True

    def show_model_card(self) -> None:
        if self.animator is None:
            self._prompts.error("No model is loaded, so there is no model card to show.")
            return
        dialog = QDialog(self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.setWindowTitle(f"Model card: {self.animator.checkpoint_path.name}")
        browser = QTextBrowser(dialog)
        browser.setOpenExternalLinks(True)
        browser.setMarkdown(model_card_markdown(self.animator))
        QVBoxLayout(dialog).addWidget(browser)
        dialog.resize(720, 640)
        dialog.show()

    # ------------------------------------------------------------------------------- run, cancel

    def run(self) -> bool:
        """Start animating; False (with a message) when something is missing or a job is running."""
        missing = [name for name, value in (("a model", self.animator), ("a source frame", self._source),
                                            ("a driving clip", self._driving)) if value is None]
        if self.jobs.busy or missing:
            self._context.show_message(f"Cannot animate yet: choose {', '.join(missing)}." if missing else "Busy.")
            return False
        self._clear_results()
        self.motion.save(self._settings)
        self.output.save(self._settings)
        self._run_names = self.animator.landmark_names
        self._run_fps = self._driving.info.fps or DEFAULT_FPS
        self.live.set_playback_fps(self._run_fps)
        self.progress.setRange(0, 0)
        self.progress_label.setText("Preparing…")
        job = animation_job(self.animator, self._source.path, self.source_panel.frame_index(), self._driving.path,
                            self.motion.options(), self.motion.frame_limit(), self.output.options())
        self.jobs.start("run", job, self._run_item, self._run_job_ended)
        self._refresh_timer.start()
        log.info("run started: %s frame %d, %s", self._source.path.name, self.source_panel.frame_index(), self._driving.path.name)
        return True

    def cancel(self) -> None:
        if self.jobs.kind in ("run", "export"):
            self.jobs.cancel()
            self.progress_label.setText("Cancelling…")

    def _run_item(self, item: object) -> None:
        if isinstance(item, RunStart):
            self._run_total = item.total
            self._run_source = item.source
            self._run_clock = time.perf_counter()
            self.progress.setRange(0, item.total)
        else:
            self.results.append(item)

    def _refresh_run(self) -> None:
        """Timer tick during a run: progress, and the newest frame when one arrived."""
        count = len(self.results)
        if count == self._shown:
            return
        self._shown = count
        self.progress.setValue(count)
        self.progress_label.setText(format_progress(count, self._run_total, time.perf_counter() - self._run_clock))
        self.live.set_frame_count(count, follow=True)
        self._show_index(count - 1)

    def _run_job_ended(self, outcome: str, message: str) -> None:
        self._refresh_timer.stop()
        self._refresh_run()
        count = len(self.results)
        self.live.set_frame_count(count)
        self.progress.setRange(0, max(1, self._run_total))
        self.progress.setValue(count)
        seconds = time.perf_counter() - self._run_clock
        if outcome == "finished":
            text = f"Animated {count} frames in {seconds:.1f} s"
        elif outcome == "cancelled":
            text = f"Cancelled after {count} of {self._run_total} frames"
        else:
            text = "Animation failed"
            self._prompts.error(message)
        self.progress_label.setText(text)
        self._context.show_message(text)
        log.info("run %s: %d frames in %.1f s", outcome, count, seconds)
        self.run_ended.emit(outcome)
        self._continue_launch("run", ok=outcome == "finished")

    def _show_index(self, index: int) -> None:
        if 0 <= index < len(self.results) and self._run_source is not None:
            self.live.show_result(self._run_source, self.results[index], self._run_names)

    def _clear_results(self) -> None:
        self.results = []
        self._shown = 0
        self.live.set_frame_count(0)
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.progress_label.setText("")

    # ------------------------------------------------------------------------------------ export

    def open_export_dialog(self) -> None:
        if not self.results or self.jobs.busy:
            return
        height, width = self.results[0].frame.shape
        dialog = ExportDialog(self._settings, self._prompts, (width, height), self._run_fps, self)
        if dialog.exec() == QDialog.DialogCode.Accepted:
            self.export(dialog.options())

    def export(self, options: ExportOptions) -> bool:
        """Write the last run's frames; asks before replacing anything. False when nothing started."""
        if not self.results or self.jobs.busy:
            return False
        if options.target_exists() and not self._prompts.ask(f"{options.path} already exists. Replace it?"):
            return False
        save_export_settings(self._settings, options)
        self.progress.setRange(0, len(self.results))
        self.progress.setValue(0)
        self.progress_label.setText(f"Exporting to {options.path.name}…")
        self._export_path = options.path
        self.jobs.start("export", export_job(list(self.results), options, self._run_names), self.progress.setValue,
                        self._export_job_ended)
        return True

    def _export_job_ended(self, outcome: str, message: str) -> None:
        if outcome == "finished":
            text = f"Exported {len(self.results)} frames to {self._export_path}"
        elif outcome == "cancelled":
            text = "Export cancelled; nothing was written"
        else:
            text = "Export failed; nothing was written"
            self._prompts.error(message)
        self.progress.setValue(len(self.results) if outcome == "finished" else 0)
        self.progress_label.setText(text)
        self._context.show_message(text)
        log.info("export %s: %s", outcome, self._export_path)
        self.export_ended.emit(outcome)
        self._continue_launch("export", ok=outcome == "finished")

    # ---------------------------------------------------------------------------------- controls

    def _update_controls(self) -> None:
        busy = self.jobs.busy
        working = self.jobs.kind in ("run", "export")
        ready = self.animator is not None and self._source is not None and self._driving is not None
        self.run_button.setEnabled(not busy and ready)
        self.cancel_button.setEnabled(working)
        has_results = bool(self.results) and not busy
        self.export_button.setEnabled(has_results)
        self.export_action.setEnabled(has_results)
        self.source_panel.set_locked(working)
        self.driving_panel.set_locked(working)
        self.motion.setEnabled(not working)
        self.output.setEnabled(not working)
        for action in (self.open_source_action, self.open_driving_action, self.open_sample_action,
                       self.recent_menu.menuAction()):
            action.setEnabled(not working)
        for widget in (self.model_panel.open_button, self.model_panel.bundled_button, self.model_panel.device):
            widget.setEnabled(not busy)
        self.open_model_action.setEnabled(not busy)
        self.model_panel.card_button.setEnabled(self.animator is not None)
        self.model_card_action.setEnabled(self.animator is not None)

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
        return ExportOptions(path=path, kind=kind, layout=self._settings.text("export/layout", "output"), fps=self._run_fps)

    def shutdown(self) -> None:
        """The window is closing: stop playback and any job, remember the motion and output options."""
        self.live.play_button.setChecked(False)
        self._refresh_timer.stop()
        self.jobs.shutdown()
        self.motion.save(self._settings)
        self.output.save(self._settings)

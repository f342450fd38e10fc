"""The Train tab: pick dataset folders and weights, the checkpoint to fine-tune from, set up a run,
train in a ``usanimator train`` subprocess and watch it: loss curves, speed, preview images,
checkpoints; hand a checkpoint to the Animate tab.

Training runs as ``python -m usanimator_app train --data RUN/gui_dataset.yaml [--init CKPT] ...
--progress json`` (a crash cannot take the window down); each stdout line is one JSON report,
stderr lines go to the log pane. Stop sends SIGTERM, on which the trainer saves a checkpoint after
the current step and exits.
"""

from __future__ import annotations

import html
import json
import math
import sys
import time
from pathlib import Path

from PySide6.QtCore import QProcess, QProcessEnvironment, Qt, Signal
from PySide6.QtGui import QPixmap
from PySide6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QSplitter,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)
import pyqtgraph as pg  # after PySide6, so pyqtgraph uses it

from usanimator_app.engine.config import PRESETS, SIZES
from usanimator_app.engine.trainer import CHECKPOINT_DIR
from usanimator_app.gui.main_window import TabContext
from usanimator_app.gui.train_inputs import DatasetPanel, FineTuneChoice

PRESET_NOTES = {
    "fomm": "keypoints only (FOMM)",
    "p": "+ landmarks",
    "pt": "+ landmarks, two decoders",
    "ptg": "+ two decoders, GAN (paper)",
}
SAMPLE_NAMES = ("source", "driving", "content", "texture", "final", "occlusion")
SAMPLE_SIZE = 120
STOP_WAIT_MS = 30000  # on closing the window: how long the trainer may take to save its checkpoint
DATASET_FILE_NAME = "gui_dataset.yaml"  # in the run folder: the listed folders and weights, for --data


def format_speed(step: int, total: int, rate: float | None) -> str:
    """'Step 120 / 1000 · 2.31 steps/s · ETA 6:21'."""
    text = f"Step {step} / {total}"
    if rate:
        eta = round(max(0, total - step) / rate)
        hours, rest = divmod(eta, 3600)
        clock = f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"
        text += f" · {rate:.2f} steps/s · ETA {clock}"
    return text


class TrainTab(QWidget):
    """Dataset, run settings, Start / Stop / Resume of a training subprocess, live curves and previews."""

    run_ended = Signal(str)  # 'finished' | 'stopped' | 'failed'
    report_received = Signal(dict)  # each JSON report of the trainer

    def __init__(self, context: TabContext, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("Train")
        self._context = context
        self._settings = context.settings
        self._prompts = context.prompts
        self.process: QProcess | None = None
        self.history: dict[str, tuple[list[int], list[float]]] = {}
        self.curves: dict[str, pg.PlotDataItem] = {}
        self._stdout = b""
        self._stderr = b""
        self._stopping = False
        self._clock: tuple[float, int] | None = None  # (time, step) before the first step of this process
        self._last_step: int | None = None
        self._build()
        self._restore()

    # ------------------------------------------------------------------------------------ layout

    def _build(self) -> None:
        self.datasets = DatasetPanel(self._settings, self._prompts)
        self.fine_tune = FineTuneChoice(self._settings, self._prompts)

        self.preset = QComboBox()
        for name in PRESETS:
            self.preset.addItem(f"{name} — {PRESET_NOTES.get(name, '')}", name)
        self.size = QComboBox()
        for name, values in SIZES.items():
            self.size.addItem(f"{name} ({values.get('image_size', 256)} px)", name)
        self.steps = QSpinBox()
        self.steps.setRange(1, 10_000_000)
        self.steps.setToolTip("Total steps; with Resume, the run continues up to this step")
        self.batch = QSpinBox()
        self.batch.setRange(1, 1024)
        self.learning_rate = QDoubleSpinBox()
        self.learning_rate.setDecimals(6)
        self.learning_rate.setRange(1e-6, 1.0)
        self.learning_rate.setSingleStep(1e-5)
        self.device = QComboBox()
        for key, label in (("auto", "Automatic (CUDA if present)"), ("cpu", "CPU"), ("cuda", "CUDA")):
            self.device.addItem(label, key)
        self.sample_every = QSpinBox()
        self.sample_every.setRange(0, 1_000_000)
        self.sample_every.setSpecialValueText("never")
        self.sample_every.setSuffix(" steps")
        self.run_edit = QLineEdit()
        self.run_edit.setPlaceholderText("Folder for checkpoints, metrics and samples")
        self.run_button = QPushButton("Choose…")
        run_row = QHBoxLayout()
        run_row.addWidget(self.run_edit, 1)
        run_row.addWidget(self.run_button)
        self.start_button = QPushButton("Start")
        self.stop_button = QPushButton("Stop")
        self.stop_button.setToolTip("Stop after the current step; a checkpoint is saved")
        self.resume_button = QPushButton("Resume")
        self.resume_button.setToolTip("Continue the newest checkpoint of the run folder up to Steps")
        buttons = QHBoxLayout()
        for button in (self.start_button, self.stop_button, self.resume_button):
            buttons.addWidget(button)
        run_box = QGroupBox("Run")
        form = QFormLayout(run_box)
        form.addRow("Preset", self.preset)
        form.addRow("Size", self.size)
        form.addRow("Fine-tune from", self.fine_tune)
        form.addRow("Steps", self.steps)
        form.addRow("Batch size", self.batch)
        form.addRow("Learning rate", self.learning_rate)
        form.addRow("Device", self.device)
        form.addRow("Previews every", self.sample_every)
        form.addRow("Run folder", run_row)
        form.addRow(buttons)

        left = QWidget()
        left.setFixedWidth(420)
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 4, 0)
        left_layout.addWidget(self.datasets, 1)
        left_layout.addWidget(run_box)

        self.status_label = QLabel("Not running")
        self.progress = QProgressBar()
        self.progress.setTextVisible(False)
        self.loss_plot = pg.PlotWidget(background="k")
        self.loss_plot.setLogMode(y=True)
        self.loss_plot.setLabel("bottom", "step")
        self.loss_plot.setLabel("left", "loss")
        self.loss_plot.showGrid(x=True, y=True, alpha=0.25)
        self.loss_plot.addLegend(offset=(-10, 10), labelTextColor="#ddd", brush=(0, 0, 0, 170), colCount=3)

        samples = QWidget()
        sample_layout = QHBoxLayout(samples)
        sample_layout.setContentsMargins(0, 0, 0, 0)
        self.sample_labels: dict[str, QLabel] = {}
        for name in SAMPLE_NAMES:
            image = QLabel("—")
            image.setFixedSize(SAMPLE_SIZE, SAMPLE_SIZE)
            image.setAlignment(Qt.AlignmentFlag.AlignCenter)
            image.setStyleSheet("background: black; color: #666")
            caption = QLabel(name)
            caption.setAlignment(Qt.AlignmentFlag.AlignCenter)
            cell = QVBoxLayout()
            cell.addWidget(image)
            cell.addWidget(caption)
            sample_layout.addLayout(cell)
            self.sample_labels[name] = image
        sample_layout.addStretch(1)
        self.samples_box = QGroupBox("Previews")
        QVBoxLayout(self.samples_box).addWidget(samples)

        self.checkpoints = QListWidget()
        self.use_button = QPushButton("Use in Animate")
        self.use_button.setToolTip("Load the selected checkpoint (else the newest) in the Animate tab")
        checkpoint_box = QGroupBox("Checkpoints")
        checkpoint_layout = QVBoxLayout(checkpoint_box)
        checkpoint_layout.addWidget(self.checkpoints, 1)
        checkpoint_layout.addWidget(self.use_button)
        self.log = QPlainTextEdit()
        self.log.setReadOnly(True)
        self.log.setMaximumBlockCount(5000)
        log_box = QGroupBox("Log")
        QVBoxLayout(log_box).addWidget(self.log)
        bottom = QSplitter()
        bottom.addWidget(checkpoint_box)
        bottom.addWidget(log_box)
        bottom.setSizes([300, 600])

        right = QVBoxLayout()
        right.addWidget(self.status_label)
        right.addWidget(self.progress)
        right.addWidget(self.loss_plot, 3)
        right.addWidget(self.samples_box)
        right.addWidget(bottom, 2)
        layout = QHBoxLayout(self)
        layout.addWidget(left)
        layout.addLayout(right, 1)

        self.datasets.changed.connect(self._datasets_changed)
        self.fine_tune.changed.connect(self._update_controls)
        self.run_button.clicked.connect(self._choose_run_dialog)
        self.run_edit.editingFinished.connect(lambda: self.set_run_folder(self.run_edit.text()))
        self.start_button.clicked.connect(self.start)
        self.stop_button.clicked.connect(self.stop)
        self.resume_button.clicked.connect(self.resume)
        self.use_button.clicked.connect(self.use_in_animate)

    def _restore(self) -> None:
        settings = self._settings
        self.preset.setCurrentIndex(max(0, self.preset.findData(settings.text("train/preset", "ptg"))))
        self.size.setCurrentIndex(max(0, self.size.findData(settings.text("train/size", "cpu-128"))))
        self.steps.setValue(settings.integer("train/steps", 10000))
        self.batch.setValue(settings.integer("train/batch", 4))
        self.learning_rate.setValue(settings.number("train/lr", 2e-4))
        self.device.setCurrentIndex(max(0, self.device.findData(settings.text("train/device", "auto"))))
        self.sample_every.setValue(settings.integer("train/sample_every", 100))
        run = settings.text("train/run")  # before the dataset, which would suggest another folder
        if run:
            self.set_run_folder(run)
        self.datasets.restore()
        self._update_controls()

    def _save_settings(self) -> None:
        for key, value in (("preset", self.preset.currentData()), ("size", self.size.currentData()),
                           ("steps", self.steps.value()), ("batch", self.batch.value()),
                           ("lr", self.learning_rate.value()), ("device", self.device.currentData()),
                           ("sample_every", self.sample_every.value()), ("run", self.run_edit.text())):
            self._settings.set(f"train/{key}", value)

    @property
    def running(self) -> bool:
        return self.process is not None

    # ------------------------------------------------------------------------------------ dataset

    def _datasets_changed(self) -> None:
        """Suggest ``runs/<name>`` beside the first dataset folder when no run folder is chosen."""
        sources = self.datasets.sources()
        if sources and not self.run_edit.text():
            first = sources[0][0]
            self.set_run_folder(first.parent / "runs" / first.name)
        self._update_controls()

    # --------------------------------------------------------------------------------- run folder

    def set_run_folder(self, folder: str | Path) -> None:
        """Use ``folder`` for the run: show its checkpoints and the curves in its metrics.jsonl."""
        self.run_edit.setText(str(folder) if folder else "")
        self._settings.set("train/run", self.run_edit.text())
        if not self.running:
            self._load_history()
        self.refresh_checkpoints()
        self._update_controls()

    def _choose_run_dialog(self) -> None:
        folder = self._prompts.folder("Run folder", self._settings.folder("train_run"))
        if folder:
            self._settings.set_folder("train_run", folder)
            self.set_run_folder(folder)

    def run_folder(self) -> Path | None:
        text = self.run_edit.text().strip()
        return Path(text) if text else None

    def checkpoint_files(self) -> list[Path]:
        """The run folder's checkpoints, newest first."""
        run = self.run_folder()
        return sorted((run / CHECKPOINT_DIR).glob("step_*.pt"), reverse=True) if run else []

    def refresh_checkpoints(self) -> None:
        selected = self.checkpoints.currentItem().data(Qt.ItemDataRole.UserRole) if self.checkpoints.currentItem() else None
        self.checkpoints.clear()
        for path in self.checkpoint_files():
            stat = path.stat()
            item = QListWidgetItem(f"{path.name}  ·  {time.strftime('%H:%M:%S', time.localtime(stat.st_mtime))}"
                                   f"  ·  {stat.st_size / 1e6:.1f} MB")
            item.setData(Qt.ItemDataRole.UserRole, str(path))
            item.setToolTip(str(path))
            self.checkpoints.addItem(item)
            if str(path) == selected:
                self.checkpoints.setCurrentItem(item)
        self._update_controls()

    def _load_history(self) -> None:
        """Curves from the run folder's metrics.jsonl (what an earlier or resumed run logged)."""
        self._clear_curves()
        run = self.run_folder()
        path = run / "metrics.jsonl" if run else None
        if path is None or not path.is_file():
            return
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            try:
                record = json.loads(line)
                step = int(record["step"])
            except (ValueError, KeyError, TypeError):
                continue
            self._add_losses(step, {k: v for k, v in record.items() if k not in ("step", "seconds", "time")})
        self._draw_curves()

    # ------------------------------------------------------------------------------------ process

    def train_arguments(self, resume: bool) -> list[str]:
        """The ``usanimator train`` command line (after the Python executable); writes the dataset
        file it names (the listed folders and weights) into the run folder. A new run fine-tunes
        from the chosen checkpoint (``--init``); Resume continues its own checkpoint instead."""
        data = self.datasets.write_dataset_file(self.run_folder() / DATASET_FILE_NAME)
        init = None if resume else self.fine_tune.init_path()
        arguments = [
            "-m", "usanimator_app", "train",
            "--data", str(data),
            "--preset", self.preset.currentData(),
            "--size", self.size.currentData(),
            "--out", str(self.run_folder()),
            "--steps", str(self.steps.value()),
            "--batch", str(self.batch.value()),
            "--lr", repr(self.learning_rate.value()),
            "--device", self.device.currentData(),
            "--sample-every", str(self.sample_every.value()),
            "--progress", "json",
        ]
        return arguments + (["--init", str(init)] if init is not None else []) + (["--resume"] if resume else [])

    def start(self) -> bool:
        """Start a new run in the run folder; False (with a message) when something is missing."""
        return self._launch(resume=False)

    def resume(self) -> bool:
        """Continue the run folder's newest checkpoint up to Steps."""
        return self._launch(resume=True)

    def _launch(self, resume: bool) -> bool:
        problem = self._launch_problem(resume)
        if problem:
            self._prompts.error(problem)
            return False
        self._save_settings()
        if resume:
            self._load_history()
        else:
            self._clear_curves()
            for label in self.sample_labels.values():
                label.clear()
                label.setText("—")
        self._stdout = self._stderr = b""
        self._stopping = False
        self._clock = self._last_step = None
        process = QProcess(self)
        environment = QProcessEnvironment.systemEnvironment()
        environment.insert("PYTHONUNBUFFERED", "1")
        process.setProcessEnvironment(environment)
        process.readyReadStandardOutput.connect(self._read_stdout)
        process.readyReadStandardError.connect(self._read_stderr)
        process.finished.connect(self._finished)
        process.errorOccurred.connect(self._process_error)
        self.process = process
        arguments = self.train_arguments(resume)
        self._log(f"$ {Path(sys.executable).name} {' '.join(arguments)}")
        self.status_label.setText("Starting…")
        self.progress.setRange(0, 0)
        process.start(sys.executable, arguments)
        self._update_controls()
        return True

    def _launch_problem(self, resume: bool) -> str:
        if self.running:
            return "Training is already running."
        if not self.datasets.sources():
            return "Add a dataset folder first."
        if self.run_folder() is None:
            return "Choose a run folder first."
        has_run = bool(self.checkpoint_files())
        if resume and not has_run:
            return f"{self.run_folder()}: nothing to resume (no checkpoints yet). Start a new run instead."
        if not resume and has_run:
            return f"{self.run_folder()} already holds a run: Resume it, or choose another run folder."
        return "" if resume else self.fine_tune.problem()

    def stop(self) -> None:
        """Ask the trainer to stop: it saves a checkpoint after the current step, then exits."""
        if self.process is not None and not self._stopping:
            self._stopping = True
            self.status_label.setText(self.status_label.text() + " · stopping after this step…")
            self.process.terminate()
            self._update_controls()

    def _read_stdout(self) -> None:
        self._stdout += bytes(self.process.readAllStandardOutput())
        *lines, self._stdout = self._stdout.split(b"\n")
        for line in lines:
            text = line.decode("utf-8", errors="replace").strip()
            if not text:
                continue
            try:
                report = json.loads(text)
            except ValueError:
                self._log(text)
                continue
            if isinstance(report, dict):
                self._report(report)

    def _read_stderr(self) -> None:
        self._stderr += bytes(self.process.readAllStandardError())
        *lines, self._stderr = self._stderr.split(b"\n")
        for line in lines:
            text = line.decode("utf-8", errors="replace").rstrip()
            if text.strip():
                self._log(text, error=True)

    def _report(self, report: dict) -> None:
        step, total = int(report.get("step", 0)), int(report.get("total", 0))
        if report.get("message"):
            self._log(f"step {step}: {report['message']}")
        losses = report.get("losses") or {}
        if losses:
            now = time.perf_counter()
            if self._clock is None:
                self._clock = (now - float(report.get("seconds", 0.0)), step - 1)
            started, first = self._clock
            rate = (step - first) / (now - started) if now > started else None
            self._last_step = step
            self.status_label.setText(format_speed(step, total, rate))
            self.progress.setRange(0, max(total, 1))
            self.progress.setValue(step)
            self._add_losses(step, losses)
            self._draw_curves()
        if report.get("samples"):
            self._show_samples(report["samples"])
        if report.get("checkpoint"):
            self._log(f"step {step}: checkpoint {report['checkpoint']}")
            self.refresh_checkpoints()
        self.report_received.emit(report)

    def _finished(self, code: int, status: QProcess.ExitStatus) -> None:
        self._read_stdout()
        self._read_stderr()
        for rest in (self._stdout, self._stderr):
            if rest.strip():
                self._log(rest.decode("utf-8", errors="replace").strip())
        if code == 0 and status == QProcess.ExitStatus.NormalExit:
            outcome = "stopped" if self._stopping else "finished"
        else:
            outcome = "stopped" if self._stopping else "failed"
        text = {"finished": "Training finished", "stopped": "Training stopped",
                "failed": f"Training failed (exit code {code}, see the log)"}[outcome]
        self._end(outcome, text)

    def _process_error(self, error: QProcess.ProcessError) -> None:
        if error == QProcess.ProcessError.FailedToStart:
            self._log(f"cannot start {sys.executable}: {self.process.errorString()}", error=True)
            self._end("failed", "Training could not start; see the log")

    def _end(self, outcome: str, text: str) -> None:
        process, self.process = self.process, None
        if process is None:
            return
        process.deleteLater()
        if self._last_step is not None:
            text += f" at step {self._last_step}"
        self._log(text)
        self.status_label.setText(text)
        if self._last_step is None:
            self.progress.setRange(0, 1)
            self.progress.setValue(0)
        self.refresh_checkpoints()
        self._context.show_message(text)
        self._update_controls()
        self.run_ended.emit(outcome)

    # ----------------------------------------------------------------------------- curves, samples

    def _clear_curves(self) -> None:
        self.history = {}
        for curve in self.curves.values():
            self.loss_plot.removeItem(curve)
        self.curves = {}

    def _add_losses(self, step: int, losses: dict) -> None:
        for name, value in losses.items():
            steps, values = self.history.setdefault(name, ([], []))
            steps.append(step)
            value = float(value)
            values.append(value if value > 0 and math.isfinite(value) else math.nan)  # log axis: zeros are gaps

    def _draw_curves(self) -> None:
        for index, (name, (steps, values)) in enumerate(self.history.items()):
            curve = self.curves.get(name)
            if curve is None:
                curve = self.loss_plot.plot([], [], name=name, pen=pg.mkPen(pg.intColor(index, hues=9), width=1.5),
                                            connect="finite")
                self.curves[name] = curve
            curve.setData(steps, values, connect="finite")

    def _show_samples(self, samples: dict) -> None:
        for name, label in self.sample_labels.items():
            pixmap = QPixmap(samples.get(name, ""))
            if pixmap.isNull():
                label.clear()
                label.setText("—")
            else:
                label.setPixmap(pixmap.scaled(SAMPLE_SIZE, SAMPLE_SIZE, Qt.AspectRatioMode.KeepAspectRatio,
                                              Qt.TransformationMode.SmoothTransformation))
        step = Path(next(iter(samples.values()))).name.split("_")[1] if samples else ""
        self.samples_box.setTitle(f"Previews (step {int(step)})" if step.isdigit() else "Previews")

    def _log(self, text: str, error: bool = False) -> None:
        """A line of the log pane; the trainer's stderr in colour (red when it reports an error)."""
        if error:
            colour = "#c0392b" if "error" in text.lower() or "traceback" in text.lower() else "#a05a00"
            self.log.appendHtml(f"<span style='color:{colour}'>{html.escape(text)}</span>")
        else:
            self.log.appendPlainText(text)

    # -------------------------------------------------------------------------------- animate tab

    def use_in_animate(self) -> bool:
        """Load the selected checkpoint (else the newest) in the Animate tab and show that tab."""
        item = self.checkpoints.currentItem() or self.checkpoints.item(0)
        if item is None:
            self._context.show_message("No checkpoint in the run folder yet.")
            return False
        animate = self._context.tab("Animate")
        if animate is None or not hasattr(animate, "load_model"):
            self._context.show_message("There is no Animate tab to load the checkpoint in.")
            return False
        if getattr(animate, "busy", False):
            self._context.show_message("The Animate tab is busy: try again when its job has ended.")
            return False
        animate.load_model(Path(item.data(Qt.ItemDataRole.UserRole)))
        parent = animate.parentWidget()
        while parent is not None and not isinstance(parent, QTabWidget):
            parent = parent.parentWidget()
        if parent is not None:
            parent.setCurrentWidget(animate)
        return True

    # ----------------------------------------------------------------------------------- controls

    def _update_controls(self) -> None:
        running = self.running
        for widget in (self.datasets, self.fine_tune, self.steps, self.batch, self.learning_rate,
                       self.device, self.sample_every, self.run_edit, self.run_button):
            widget.setEnabled(not running)
        fine_tuning = self.fine_tune.init_path() is not None
        for widget in (self.preset, self.size):  # a fine-tuned run keeps its checkpoint's preset and size
            widget.setEnabled(not running and not fine_tuning)
            widget.setToolTip("From the checkpoint fine-tuned from" if fine_tuning else "")
        has_run = bool(self.checkpoints.count())
        has_data = bool(self.datasets.sources())
        self.start_button.setEnabled(not running and has_data)
        self.resume_button.setEnabled(not running and has_run and has_data)
        self.stop_button.setEnabled(running and not self._stopping)
        self.use_button.setEnabled(has_run)

    def shutdown(self) -> None:
        """The window is closing: stop the trainer (it saves a checkpoint), killing it if it takes too long."""
        self._save_settings()
        process = self.process
        if process is None:
            return
        process.finished.disconnect(self._finished)
        process.terminate()
        if not process.waitForFinished(STOP_WAIT_MS):
            process.kill()
            process.waitForFinished(5000)

"""The Train tab: pick dataset folders and weights, the checkpoint to fine-tune from, set up a run,
train in a ``usanimator train`` subprocess and watch it: loss curves, speed, preview images,
checkpoints, a fine-tune run's validations and verdict; hand a checkpoint (or a fine-tune run's kept
model) to the Animate tab.

Training runs as ``python -m usanimator_app train --data DATA/gui_dataset.yaml [--init CKPT] ...
--progress json`` (a crash cannot take the window down); each stdout line is one JSON report,
stderr lines go to the log pane. Stop sends SIGTERM, on which the trainer saves a checkpoint after
the current step and exits.
"""

from __future__ import annotations

import hashlib
import html
import sys
import time
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPlainTextEdit,
    QProgressBar,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from usanimator_app.core.paths import user_data_dir
from usanimator_app.engine.trainer import CHECKPOINT_DIR
from usanimator_app.gui.context import Tab, TabContext
from usanimator_app.gui.finetune_view import FineTuneView
from usanimator_app.gui.state import TrainProgress
from usanimator_app.gui.train_inputs import DatasetPanel
from usanimator_app.gui.train_monitor import LossPlot, SamplePreviews
from usanimator_app.gui.train_process import TrainProcess
from usanimator_app.gui.train_settings import RunSettings
from usanimator_app.gui.widgets import push_button, row

DATASET_FILE_NAME = "gui_dataset.yaml"  # the listed folders and weights, for --data (see dataset_file)


def dataset_file(run_folder: Path) -> Path:
    """Where the dataset file of a run goes: in the app's data folder, one per run folder (named by
    a hash of its path), not in the run folder, which a teacher may share: it names the dataset folders."""
    digest = hashlib.sha256(str(Path(run_folder).resolve()).encode("utf-8")).hexdigest()[:16]
    return user_data_dir() / "train" / digest / DATASET_FILE_NAME


def checkpoint_step(path: Path) -> int | None:
    """The step in a checkpoint's file name (``step_0000030.pt`` -> 30); None for another name."""
    digits = path.stem.removeprefix("step_")
    return int(digits) if digits.isdigit() else None


class TrainTab(Tab):
    """Dataset, run settings, Start / Stop / Resume of a training subprocess, live curves and previews."""

    run_ended = Signal(str)  # 'finished' | 'stopped' | 'failed'
    report_received = Signal(dict)  # each JSON report of the trainer

    def __init__(self, context: TabContext, parent: QWidget | None = None):
        super().__init__("Train", context, parent)
        self.process: TrainProcess | None = None
        self.progress_state = TrainProgress()
        self._build()
        self._restore()

    # ------------------------------------------------------------------------------------ layout

    def _build(self) -> None:
        self.datasets = DatasetPanel(self._settings, self._prompts)
        self.run_settings = RunSettings(self._settings, self._prompts, self._context.app)

        left = QWidget()
        left.setFixedWidth(420)
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 4, 0)
        left_layout.addWidget(self.datasets, 1)
        left_layout.addWidget(self.run_settings)

        self.status_label = QLabel("Not running")
        self.status_label.setWordWrap(True)
        self.progress = QProgressBar()
        self.progress.setTextVisible(False)
        self.loss_plot = LossPlot()
        self.validation = FineTuneView()
        self.previews = SamplePreviews()

        self.checkpoints = QListWidget()
        self.use_button = push_button("Use in Animate", "Load the selected checkpoint (else the newest) in the Animate tab")
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
        right.addLayout(row(self.loss_plot, self.validation), 3)
        right.addWidget(self.previews)
        right.addWidget(bottom, 2)
        layout = QHBoxLayout(self)
        layout.addWidget(left)
        layout.addLayout(right, 1)

        run = self.run_settings
        self.datasets.changed.connect(self._datasets_changed)
        run.fine_tune.changed.connect(self._update_controls)
        run.run_button.clicked.connect(self._choose_run_dialog)
        run.run_edit.editingFinished.connect(lambda: self.set_run_folder(run.run_edit.text()))
        run.start_button.clicked.connect(self.start)
        run.stop_button.clicked.connect(self.stop)
        run.resume_button.clicked.connect(self.resume)
        self.use_button.clicked.connect(self.use_in_animate)
        self.validation.use_button.clicked.connect(lambda: self._ask_animate(self.validation.kept_path()))

    def _restore(self) -> None:
        settings = self._settings
        self.run_settings.restore(settings)
        run = settings.text("train/run")  # before the dataset, which would suggest another folder
        if run:
            self.set_run_folder(run)
        self.datasets.restore()
        self._update_controls()

    @property
    def running(self) -> bool:
        return self.process is not None

    # ------------------------------------------------------------------------------------ dataset

    def _datasets_changed(self) -> None:
        """Suggest ``runs/<name>`` beside the first dataset folder when no run folder is chosen."""
        sources = self.datasets.sources()
        if sources and self.run_folder() is None:
            first = sources[0][0]
            self.set_run_folder(first.parent / "runs" / first.name)
        self._update_controls()

    # --------------------------------------------------------------------------------- run folder

    def set_run_folder(self, folder: str | Path) -> None:
        """Use ``folder`` for the run: show its checkpoints and the curves in its metrics.jsonl."""
        self.run_settings.run_edit.setText(str(folder) if folder else "")
        self._settings.set("train/run", self.run_settings.run_edit.text())
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
        return self.run_settings.run_folder()

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
        """Curves from the run folder's metrics.jsonl and finetune.json (what an earlier or resumed run logged)."""
        run = self.run_folder()
        if run is None:
            self.progress_state.clear()
        else:
            self.progress_state.load_metrics(run / "metrics.jsonl")
        self.loss_plot.show_history(self.progress_state.history)
        self.validation.show_run(run)

    # ------------------------------------------------------------------------------------ process

    def train_arguments(self, resume: bool) -> list[str]:
        """The ``usanimator train`` command line (after the Python executable); writes the dataset
        file it names (the listed folders and weights, ``dataset_file``)."""
        data = self.datasets.write_dataset_file(dataset_file(self.run_folder()))
        return ["-m", "usanimator_app", "train"] + self.run_settings.arguments(data, resume)

    def start(self) -> bool:
        """Start a new run in the run folder; False (with a message) when something is missing."""
        return self._launch(resume=False)

    def resume(self) -> bool:
        """Continue the run folder's newest checkpoint up to Steps."""
        return self._launch(resume=True)

    def _launch(self, resume: bool) -> bool:
        if not self.running and not self._context.jobs.admit(self, "train"):
            return False  # another tab runs a model (the user is told)
        problem = self._launch_problem(resume)
        if problem:
            self._prompts.error(problem)
            return False
        self.run_settings.save(self._settings)
        if resume:
            self._load_history()
        else:
            self.progress_state.clear()
            self.loss_plot.show_history({})
            self.previews.clear()
            self.validation.begin(self.run_folder())
        self.progress_state.restart()
        process = TrainProcess(self)
        process.report.connect(self._report)
        process.line.connect(self._log)
        process.ended.connect(self._end)
        self.process = process
        arguments = self.train_arguments(resume)
        self._log(f"$ {Path(sys.executable).name} {' '.join(arguments)}")
        self.status_label.setText("Starting…")
        self.progress.setRange(0, 0)
        process.start(arguments)
        self._context.jobs.started(self, "train")
        self._update_controls()
        return True

    def _launch_problem(self, resume: bool) -> str:
        """Why Start / Resume cannot go ahead ('' when it can): every field is checked first."""
        if self.running:
            return "Training is already running."
        if not self.datasets.sources():
            return "Add a dataset folder first."
        gone = [folder for folder, _ in self.datasets.sources() if not folder.is_dir()]
        if gone:
            return f"Dataset folder {gone[0]}: not found; remove it from the list, or add it again."
        if self.run_folder() is None:
            return "Choose a run folder first."
        checkpoints = self.checkpoint_files()
        if resume and not checkpoints:
            return f"{self.run_folder()}: nothing to resume (no checkpoints yet). Start a new run instead."
        if not resume and checkpoints:
            return f"{self.run_folder()} already holds a run: Resume it, or choose another run folder."
        problem = self.run_settings.problem(checkpoint_step(checkpoints[0]) if resume else None)
        return problem or ("" if resume else self.run_settings.fine_tune.problem())

    def stop(self) -> None:
        """Ask the trainer to stop: it saves a checkpoint after the current step, then exits."""
        if self.process is not None and not self.process.stopping:
            self.status_label.setText(self.status_label.text() + " · stopping after this step…")
            self.process.stop()
            self._update_controls()

    def _report(self, report: dict) -> None:
        step, total = int(report.get("step", 0)), int(report.get("total", 0))
        if report.get("message"):
            self._log(f"step {step}: {report['message']}")
        if report.get("losses"):
            self.status_label.setText(self.progress_state.step_done(report, time.perf_counter()))
            self.progress.setRange(0, max(total, 1))
            self.progress.setValue(step)
            self.loss_plot.show_history(self.progress_state.history)
        if report.get("samples"):
            self.previews.show_samples(report["samples"])
        if report.get("checkpoint"):
            self._log(f"step {step}: checkpoint {report['checkpoint']}")
            self.refresh_checkpoints()
        note = self.validation.take_report(report)
        if note:
            self._log(f"step {step}: {note}")
        self.report_received.emit(report)

    def _end(self, outcome: str, code: int) -> None:
        self._context.jobs.ended(self)
        process, self.process = self.process, None
        process.deleteLater()
        text = {"finished": "Training finished", "stopped": "Training stopped",
                "failed": f"Training failed (exit code {code}, see the log)" if code >= 0 else
                          "Training could not start; see the log"}[outcome]
        last_step = self.progress_state.last_step
        if last_step is not None:
            text += f" at step {last_step}"
        text += f": {self.validation.history.verdict_text()}" if self.validation.history.verdict else ""
        self._log(text)
        self.status_label.setText(text)
        if last_step is None:
            self.progress.setRange(0, 1)
            self.progress.setValue(0)
        self.refresh_checkpoints()
        self._context.show_message(text)
        self._update_controls()
        self.run_ended.emit(outcome)

    # ------------------------------------------------------------------------------------- log

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
        return self._ask_animate(Path(item.data(Qt.ItemDataRole.UserRole)))

    def _ask_animate(self, path: Path) -> bool:
        """Ask the Animate tab to load ``path`` (a checkpoint, or a fine-tune run's kept model)."""
        app = self._context.app
        if not len(app.model_requests):
            self._context.show_message("There is no Animate tab to load the checkpoint in.")
            return False
        return app.request_model(path)  # a refusal says why itself

    # ----------------------------------------------------------------------------------- controls

    def _update_controls(self) -> None:
        has_run = bool(self.checkpoints.count())
        has_data = bool(self.datasets.sources())
        self.datasets.setEnabled(not self.running)
        self.run_settings.set_running(self.running, self.running and self.process.stopping, has_data, has_run and has_data)
        self.use_button.setEnabled(has_run)
        self.validation.show_if(self.run_settings.fine_tune.init_path() is not None)

    def shutdown(self) -> None:
        """The window is closing: stop the trainer (it saves a checkpoint), killing it if it takes too long."""
        self.run_settings.save(self._settings)
        if self.process is not None:
            self.process.shutdown()

"""The Train tab's Run box: preset, size, fine-tune choice, steps, minutes (a fine-tune run's time
budget), batch, learning rate, device, previews, run folder and the Start / Stop / Resume buttons;
kept in the settings. The typed fields are checked with ``core.validation`` (as ``usanimator train``
checks its options) before a run starts."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import (
    QComboBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QWidget,
)

from usanimator_app.core.errors import UserInputError
from usanimator_app.core.validation import (
    BATCH_RANGE,
    MAX_LEARNING_RATE,
    learning_rate,
    output_folder,
    typed_number,
    whole_number,
)
from usanimator_app.engine.config import MODEL_SIZES, PRESETS
from usanimator_app.gui.controls import DeviceBox
from usanimator_app.gui.prompts import Prompts
from usanimator_app.gui.settings import Settings
from usanimator_app.engine.finetune import FINETUNE_FILE
from usanimator_app.gui.state import AppState
from usanimator_app.gui.train_inputs import FineTuneChoice
from usanimator_app.gui.widgets import push_button, row

STEPS_TIP = "Total steps; with Resume, the run continues up to this step"
LEARNING_RATE_TIP = (f"Adam learning rate: a number above 0 and at most {MAX_LEARNING_RATE:g}, "
                     "such as 2e-4 or 0.0002")
MINUTES_TIP = "Fine-tune time budget: the run validates every few minutes and keeps the best model as best.pt"
TIMED_TIP = "A fine-tune run trains for a number of minutes (Length), with the fine-tune recipe's own learning rate"
UNTIMED_TIP = "Minutes are a fine-tune run's time budget (Fine-tune from a checkpoint); from scratch a run trains for steps"
MINUTES_RANGE = (1, 240)

PRESET_NOTES = {
    "fomm": "keypoints only (FOMM)",
    "p": "+ landmarks",
    "pt": "+ landmarks, two decoders",
    "ptg": "+ two decoders, GAN (paper)",
}


class RunSettings(QGroupBox):
    """How a run trains; ``arguments`` turns it into ``usanimator train`` options. Its device is the
    application's (``AppState.device``, the one device setting), which the Animate tab shows too."""

    def __init__(self, settings: Settings, prompts: Prompts, app: AppState, parent: QWidget | None = None):
        super().__init__("Run", parent)
        self._settings = settings
        self._app = app
        self.fine_tune = FineTuneChoice(settings, prompts)
        self.preset = QComboBox()
        for name in PRESETS:
            self.preset.addItem(f"{name} — {PRESET_NOTES.get(name, '')}", name)
        self.size = QComboBox()
        for name, values in MODEL_SIZES.items():
            self.size.addItem(f"{name} ({values.get('image_size', 256)} px)", name)
        self.steps = QSpinBox()
        self.steps.setRange(1, 10_000_000)
        self.steps.setSuffix(" steps")
        self.minutes = QSpinBox()
        self.minutes.setRange(*MINUTES_RANGE)
        self.minutes.setSuffix(" min")
        self.batch = QSpinBox()
        self.batch.setRange(*BATCH_RANGE)  # as usanimator train --batch accepts
        self.learning_rate = QLineEdit()
        self.learning_rate.setPlaceholderText("e.g. 2e-4")
        self.device = DeviceBox()
        self.device.set_key(app.device)
        self.device.currentIndexChanged.connect(lambda _index: self._device_chosen())
        app.device_changed.subscribe(self._show_device)
        self.sample_every = QSpinBox()
        self.sample_every.setRange(0, 1_000_000)
        self.sample_every.setSpecialValueText("never")
        self.sample_every.setSuffix(" steps")
        self.run_edit = QLineEdit()
        self.run_edit.setPlaceholderText("Folder for checkpoints, metrics and samples")
        self.run_button = QPushButton("Choose…")
        self.start_button = QPushButton("Start")
        self.stop_button = push_button("Stop", "Stop after the current step; a checkpoint is saved")
        self.resume_button = push_button("Resume", "Continue the newest checkpoint of the run folder: up to Steps, "
                                         "or a fine-tune run for its time budget")
        buttons = QHBoxLayout()
        for button in (self.start_button, self.stop_button, self.resume_button):
            buttons.addWidget(button)
        form = QFormLayout(self)
        form.addRow("Preset", self.preset)
        form.addRow("Size", self.size)
        form.addRow("Fine-tune from", self.fine_tune)
        form.addRow("Length", row(self.steps, self.minutes))  # steps from scratch, minutes fine-tuning
        form.addRow("Batch size", self.batch)
        form.addRow("Learning rate", self.learning_rate)
        form.addRow("Device", self.device)
        form.addRow("Previews every", self.sample_every)
        form.addRow("Run folder", row(self.run_edit, self.run_button))
        form.addRow(buttons)

    def restore(self, settings: Settings) -> None:
        """The values of the last session (the run folder is the tab's to restore)."""
        self.preset.setCurrentIndex(max(0, self.preset.findData(settings.text("train/preset", "ptg"))))
        self.size.setCurrentIndex(max(0, self.size.findData(settings.text("train/size", "cpu-128"))))
        self.steps.setValue(settings.integer("train/steps", 10000))
        self.minutes.setValue(settings.integer("train/minutes", 10))
        self.batch.setValue(settings.integer("train/batch", 4))
        self.learning_rate.setText(settings.text("train/lr", "2e-4"))
        self.sample_every.setValue(settings.integer("train/sample_every", 100))

    def save(self, settings: Settings) -> None:
        for key, value in (("preset", self.preset.currentData()), ("size", self.size.currentData()),
                           ("steps", self.steps.value()), ("minutes", self.minutes.value()),
                           ("batch", self.batch.value()),
                           ("lr", self.learning_rate.text().strip()), ("sample_every", self.sample_every.value()),
                           ("run", self.run_edit.text())):
            settings.set(f"train/{key}", value)

    def _device_chosen(self) -> None:
        """The user chose a device here: remember it and make it the application's."""
        self._settings.set("device", self.device.key())
        self._app.set_device(self.device.key())

    def _show_device(self, key: str) -> None:
        self.device.blockSignals(True)
        self.device.set_key(key)
        self.device.blockSignals(False)

    def run_folder(self) -> Path | None:
        text = self.run_edit.text().strip()
        return Path(text) if text else None

    def timed(self, resume: bool) -> bool:
        """Whether the run trains for a time budget: a new run fine-tuning a checkpoint, or Resume of
        a fine-tune run (its run folder holds finetune.json)."""
        if not resume:
            return self.fine_tune.init_path() is not None
        run = self.run_folder()
        return run is not None and (run / FINETUNE_FILE).is_file()

    def learning_rate_value(self) -> float:
        """The typed learning rate; UserInputError when it is not a number in (0, MAX_LEARNING_RATE]."""
        return learning_rate("Learning rate", typed_number("Learning rate", self.learning_rate.text()))

    def problem(self, reached_step: int | None) -> str:
        """Why a run cannot start with these settings ('' when it can): the learning rate (unless the run
        is timed), the run folder (a file in the way, not creatable or not writable) and, for Resume of
        a run by steps, Steps beyond ``reached_step`` (the run's newest checkpoint)."""
        try:
            if not self.timed(resume=reached_step is not None):
                self.learning_rate_value()
            output_folder(self.run_folder(), "Run folder")
            if reached_step is not None and not self.timed(resume=True):
                whole_number(f"Steps (the run is at step {reached_step})", self.steps.value(), reached_step + 1)
        except UserInputError as exc:
            return str(exc)
        return ""

    def arguments(self, data: Path, resume: bool) -> list[str]:
        """``usanimator train`` options for the dataset file ``data``. A new run fine-tunes from the
        chosen checkpoint (``--init``) for ``--minutes`` (the recipe sets its learning rate), or trains
        from scratch for ``--steps`` at ``--lr``; Resume continues its own checkpoint instead, a
        fine-tune run without --minutes, --steps and --lr (its run folder holds them)."""
        init = None if resume else self.fine_tune.init_path()
        if not self.timed(resume):
            length = ["--steps", str(self.steps.value()), "--lr", repr(self.learning_rate_value())]
        else:
            length = [] if resume else ["--minutes", str(self.minutes.value())]
        arguments = [
            "--data", str(data),
            "--preset", self.preset.currentData(),
            "--size", self.size.currentData(),
            "--out", str(self.run_folder()),
            *length,
            "--batch", str(self.batch.value()),
            "--device", self.device.key(),
            "--sample-every", str(self.sample_every.value()),
            "--progress", "json",
        ]
        return arguments + (["--init", str(init)] if init is not None else []) + (["--resume"] if resume else [])

    def set_running(self, running: bool, stopping: bool, can_start: bool, can_resume: bool) -> None:
        """Lock the settings while a run goes on; a fine-tuned run keeps its checkpoint's preset and
        size and trains for minutes; steps and the learning rate serve a run from scratch (or its Resume)."""
        for widget in (self.fine_tune, self.batch, self.device, self.sample_every, self.run_edit, self.run_button):
            widget.setEnabled(not running)
        fine_tuning = self.fine_tune.init_path() is not None
        for widget in (self.preset, self.size):
            widget.setEnabled(not running and not fine_tuning)
            widget.setToolTip("From the checkpoint fine-tuned from" if fine_tuning else "")
        by_steps = not fine_tuning or (can_resume and not self.timed(resume=True))
        for widget, tip in ((self.steps, STEPS_TIP), (self.learning_rate, LEARNING_RATE_TIP)):
            widget.setEnabled(not running and by_steps)
            widget.setToolTip(tip if by_steps else TIMED_TIP)
        self.minutes.setEnabled(not running and fine_tuning)
        self.minutes.setToolTip(MINUTES_TIP if fine_tuning else UNTIMED_TIP)
        self.start_button.setEnabled(not running and can_start)
        self.resume_button.setEnabled(not running and can_resume)
        self.stop_button.setEnabled(running and not stopping)

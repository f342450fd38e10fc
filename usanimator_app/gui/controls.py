"""The left-hand control groups of the Animate tab: model & device, motion options, the Run box."""

from __future__ import annotations

import json
from pathlib import Path

from PySide6.QtCore import Signal
from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from usanimator_app.core.validation import GAIN_RANGE
from usanimator_app.engine.animator import Animator, MotionOptions
from usanimator_app.engine.device import DEVICE_CHOICES, DEVICE_LABELS, choose_device
from usanimator_app.engine.pipeline import MANIFEST_NAME
from usanimator_app.gui.settings import Settings
from usanimator_app.gui.state import AppState
from usanimator_app.gui.widgets import display_name, push_button, row, wrapped_label

MODEL_CARD_NAME = "MODEL_CARD.md"


def device_status(app: AppState) -> tuple[str, str]:
    """(the active device in words, a note when CUDA was asked for but is not there)."""
    choice = app.model.device_choice if app.model is not None else choose_device(app.device)
    return choice.label, choice.note if app.device == "cuda" and choice.device.type != "cuda" else ""


class DeviceBox(QComboBox):
    """The device choices of ``engine.device`` in its words; ``key()`` is the one chosen."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        for key in DEVICE_CHOICES:
            self.addItem(DEVICE_LABELS[key], key)

    def key(self) -> str:
        return self.currentData()

    def set_key(self, key: str) -> None:
        """Choose ``key`` (the first choice when it is unknown)."""
        self.setCurrentIndex(max(0, self.findData(key)))


def describe_model(animator: Animator) -> str:
    """Preset, size, keypoints, landmarks and training step of a loaded model, in one line."""
    config = animator.config
    landmarks = ", ".join(display_name(n) for n in animator.landmark_names) or "none"
    return (
        f"{config.train.preset} · {animator.image_size}×{animator.image_size} px · "
        f"{config.model.num_kp} keypoints · landmarks: {landmarks} · step {animator.step}"
    )


def model_card_markdown(animator: Animator) -> str:
    """The bundled MODEL_CARD.md next to the manifest, else what the checkpoint itself stores."""
    folder = animator.checkpoint_path.parent
    card = folder / MODEL_CARD_NAME
    if card.is_file() and (folder / MANIFEST_NAME).is_file():
        return card.read_text(encoding="utf-8")
    metadata = json.dumps(animator.metadata, indent=2, sort_keys=True, default=str)
    config = json.dumps(animator.config.to_dict(), indent=2, default=str)
    return (
        f"# {animator.checkpoint_path.name}\n\n"
        "No model card ships with this checkpoint; this is what the file stores.\n\n"
        f"- **File:** `{animator.checkpoint_path}`\n"
        f"- **Model:** {describe_model(animator)}\n\n"
        f"## Metadata\n\n```json\n{metadata}\n```\n\n## Configuration\n\n```json\n{config}\n```\n"
    )


class ModelPanel(QGroupBox):
    """Which checkpoint is loaded (or why none is), its buttons and the device choice."""

    open_clicked = Signal()
    bundled_clicked = Signal()
    card_clicked = Signal()
    device_changed = Signal(str)

    def __init__(self, parent: QWidget | None = None):
        super().__init__("Model and device", parent)
        self.name = wrapped_label("No model loaded")
        self.details = wrapped_label("")
        self.message = wrapped_label("")
        self.open_button = push_button("Open…", "Load a checkpoint file (.pt)")
        self.bundled_button = push_button("Bundled", "Use the model that ships with USAnimator")
        self.card_button = QPushButton("Model card")
        self.device = DeviceBox()
        self.device_note = wrapped_label("", "#b35900")
        self.open_button.clicked.connect(self.open_clicked)
        self.bundled_button.clicked.connect(self.bundled_clicked)
        self.card_button.clicked.connect(self.card_clicked)
        self.device.currentIndexChanged.connect(lambda _index: self.device_changed.emit(self.device_key()))
        layout = QGridLayout(self)
        layout.addWidget(self.name, 0, 0, 1, 3)
        layout.addWidget(self.details, 1, 0, 1, 3)
        layout.addWidget(self.message, 2, 0, 1, 3)
        layout.addWidget(self.open_button, 3, 0)
        layout.addWidget(self.bundled_button, 3, 1)
        layout.addWidget(self.card_button, 3, 2)
        layout.addWidget(QLabel("Device"), 4, 0)
        layout.addWidget(self.device, 4, 1, 1, 2)
        layout.addWidget(self.device_note, 5, 0, 1, 3)
        for button in (self.open_button, self.bundled_button, self.card_button):
            button.setMinimumWidth(0)

    def device_key(self) -> str:
        return self.device.key()

    def set_device_key(self, key: str) -> None:
        self.device.set_key(key)

    def show_loading(self, path: Path) -> None:
        self.name.setText(f"<b>{path.name}</b>")
        self.name.setToolTip(str(path))
        self.details.setText("")
        self._set_message("Loading…", "#444")

    def show_model(self, animator: Animator, bundled: bool) -> None:
        path = animator.checkpoint_path
        self.name.setText(f"<b>{path.name}</b>{' (bundled)' if bundled else ''}")
        self.name.setToolTip(str(path))
        self.details.setText(describe_model(animator))
        self._set_message(f"Ready on {animator.device_choice.label}.", "#1a7f37")

    def show_problem(self, text: str) -> None:
        """No usable model: say why, in words."""
        self.name.setText("<b>No model loaded</b>")
        self.name.setToolTip("")
        self.details.setText("")
        self._set_message(text, "#b00020")

    def _set_message(self, text: str, colour: str) -> None:
        self.message.setText(text)
        self.message.setStyleSheet(f"color: {colour};")


class MotionControls(QGroupBox):
    """MotionOptions (relative / absolute, adapt scale, reference, gain, tissue motion, matched strength, landmark lock) and the frame limit."""

    REFERENCES = (("first", "First frame"), ("best", "Best aligned frame"), ("index", "Frame number"))

    def __init__(self, parent: QWidget | None = None):
        super().__init__("Motion", parent)
        self.mode = QComboBox()
        self.mode.addItem("Relative", True)
        self.mode.addItem("Absolute", False)
        self.mode.setToolTip("Relative: the source moves as the driving clip moves away from its reference frame.\n"
                             "Absolute: the source takes the driving frame's keypoints as they are.")
        self.adapt_scale = QCheckBox("Adapt scale to the source")
        self.tissue = QCheckBox("Tissue motion (never folds)")
        self.tissue.setToolTip("The network's motion integrated as a velocity field, still at the fan's edge and smoothed\n"
                               "where it would crush or blow up tissue (usanimator animate --raw-motion turns it off)")
        self.match_motion = QCheckBox("Move as much as the driving clip")
        self.match_motion.setToolTip("The source moves as much as the driving clip moves its own reference frame\n"
                                     "(times the gain); off: the network's strength for this source\n"
                                     "(usanimator animate --no-match-motion)")
        self.lock_landmarks = QCheckBox("Lock the anatomical landmarks")
        self.lock_landmarks.setToolTip("Where the detector is sure of the landmarks on the source and the driving clip,\n"
                                       "the motion carries them exactly where the keypoints move them: the bladder neck\n"
                                       "descends as the driving clip's does (usanimator animate --no-lock-landmarks)")
        self.reference = QComboBox()
        for key, label in self.REFERENCES:
            self.reference.addItem(label, key)
        self.reference.setToolTip("The driving frame whose pose counts as 'no motion'")
        self.reference_index = QSpinBox()
        self.reference_index.setRange(0, 100000)
        self.gain = QDoubleSpinBox()
        self.gain.setRange(*GAIN_RANGE)  # as usanimator animate --gain accepts
        self.gain.setSingleStep(0.1)
        self.gain.setDecimals(2)
        self.gain.setToolTip("Scales the driving motion: 1 as driven, 0 still, 2 twice as much")
        self.max_frames = QSpinBox()
        self.max_frames.setRange(0, 100000)
        self.max_frames.setSpecialValueText("All")
        self.max_frames.setToolTip("Animate at most this many driving frames (All: the whole clip)")
        form = QFormLayout(self)
        form.addRow("Mode", self.mode)
        form.addRow("", self.adapt_scale)
        form.addRow("", self.tissue)
        form.addRow("", self.match_motion)
        form.addRow("", self.lock_landmarks)
        form.addRow("Reference", row(self.reference, self.reference_index))
        form.addRow("Motion gain", self.gain)
        form.addRow("Max frames", self.max_frames)
        self.mode.currentIndexChanged.connect(self._update_enabled)
        self.reference.currentIndexChanged.connect(self._update_enabled)
        self.tissue.toggled.connect(self._update_enabled)
        self.set_options(MotionOptions(), None)

    def options(self) -> MotionOptions:
        reference = self.reference.currentData()
        return MotionOptions(
            relative=bool(self.mode.currentData()),
            adapt_scale=self.adapt_scale.isChecked(),
            reference=self.reference_index.value() if reference == "index" else reference,
            gain=self.gain.value(),
            tissue=self.tissue.isChecked(),
            match_motion=self.match_motion.isChecked(),
            lock_landmarks=self.lock_landmarks.isChecked(),
        )

    def frame_limit(self) -> int | None:
        return self.max_frames.value() or None

    def set_options(self, options: MotionOptions, frame_limit: int | None) -> None:
        self.mode.setCurrentIndex(0 if options.relative else 1)
        self.adapt_scale.setChecked(options.adapt_scale)
        is_index = not isinstance(options.reference, str)
        self.reference.setCurrentIndex(self.reference.findData("index" if is_index else options.reference))
        if is_index:
            self.reference_index.setValue(int(options.reference))
        self.gain.setValue(options.gain)
        self.tissue.setChecked(options.tissue)
        self.match_motion.setChecked(options.match_motion)
        self.lock_landmarks.setChecked(options.lock_landmarks)
        self.max_frames.setValue(frame_limit or 0)
        self._update_enabled()

    def set_clip_length(self, frames: int) -> None:
        """Reference frame numbers run from 0 to the driving clip's last frame (``frames`` > 0)."""
        if frames > 0:
            self.reference_index.setMaximum(frames - 1)

    def load(self, settings: Settings) -> None:
        reference = settings.text("motion/reference", "first")
        self.set_options(
            MotionOptions(
                relative=settings.flag("motion/relative", True),
                adapt_scale=settings.flag("motion/adapt_scale", True),
                reference=int(reference) if reference.isdigit() else reference if reference in ("first", "best") else "first",
                gain=settings.number("motion/gain", 1.0),
                tissue=settings.flag("motion/tissue", True),
                match_motion=settings.flag("motion/match_motion", True),
                lock_landmarks=settings.flag("motion/lock_landmarks", True),
            ),
            settings.integer("motion/max_frames", 0),
        )

    def save(self, settings: Settings) -> None:
        options = self.options()
        settings.set("motion/relative", options.relative)
        settings.set("motion/adapt_scale", options.adapt_scale)
        settings.set("motion/reference", str(options.reference))
        settings.set("motion/gain", options.gain)
        settings.set("motion/tissue", options.tissue)
        settings.set("motion/match_motion", options.match_motion)
        settings.set("motion/lock_landmarks", options.lock_landmarks)
        settings.set("motion/max_frames", self.max_frames.value())

    def _update_enabled(self) -> None:
        relative = bool(self.mode.currentData())
        for widget in (self.adapt_scale, self.match_motion, self.reference, self.gain):
            widget.setEnabled(relative)
        self.reference_index.setEnabled(relative and self.reference.currentData() == "index")
        self.lock_landmarks.setEnabled(self.tissue.isChecked())  # the lock corrects the tissue motion


class RunBox(QGroupBox):
    """Animate (Ctrl+R), Cancel, Export…, the progress bar and its line."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__("Run", parent)
        self.run_button = QPushButton("Animate")
        self.run_button.setShortcut(QKeySequence("Ctrl+R"))
        self.run_button.setToolTip("Animate the source frame with the driving clip (Ctrl+R)")
        self.cancel_button = QPushButton("Cancel")
        self.export_button = QPushButton("Export…")
        self.progress = QProgressBar()
        self.progress.setFormat("%v / %m")
        self.progress_label = QLabel("")
        buttons = QHBoxLayout()
        for button in (self.run_button, self.cancel_button, self.export_button):
            buttons.addWidget(button)
        layout = QVBoxLayout(self)
        layout.addLayout(buttons)
        layout.addWidget(self.progress)
        layout.addWidget(self.progress_label)

    def show_progress(self, done: int, total: int, text: str) -> None:
        """``done`` of ``total`` (total 0: busy, no count yet) and a line of text."""
        self.progress.setRange(0, total)
        self.progress.setValue(done)
        self.progress_label.setText(text)

"""The Study tab's setup (clips, the clips to make, raters, seed, folder) and its home page
(progress per rater, start or resume a rater, results)."""

from __future__ import annotations

import random
from dataclasses import dataclass
from itertools import product
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from usanimator_app.core.study import Study
from usanimator_app.gui.prompts import MEDIA_FILTER, Prompts
from usanimator_app.gui.settings import Settings
from usanimator_app.gui.widgets import FileDrops, row, wrapped_label


@dataclass
class StudyPlan:
    """What the setup page asks for: the clips given, the (source, driving) pairs to animate, the rest."""

    real: list[Path]
    synthetic: list[Path]
    pairs: list[tuple[Path, Path]]
    raters: int
    seed: int
    max_frames: int | None
    folder: Path | None


class ClipList(QGroupBox):
    """A list of files: *Add…* (one at a time) or drop many; *Remove* the selected one."""

    changed = Signal()

    def __init__(self, title: str, prompts: Prompts, settings: Settings, parent: QWidget | None = None):
        super().__init__(title, parent)
        self._prompts, self._settings, self._title = prompts, settings, title
        FileDrops(self).dropped.connect(self.add_paths)
        self.list = QListWidget()
        self.list.setMinimumHeight(60)
        add, remove = QPushButton("Add…"), QPushButton("Remove")
        add.clicked.connect(self._add)
        remove.clicked.connect(self._remove)
        buttons = QHBoxLayout()
        buttons.addWidget(add)
        buttons.addWidget(remove)
        layout = QVBoxLayout(self)
        layout.addWidget(self.list, 1)
        layout.addLayout(buttons)

    def paths(self) -> list[Path]:
        return [Path(self.list.item(i).toolTip()) for i in range(self.list.count())]

    def add_paths(self, paths: list[Path]) -> None:
        known = set(self.paths())
        for path in paths:
            path = Path(path).resolve()
            if path not in known:
                known.add(path)
                self.list.addItem(path.name)
                self.list.item(self.list.count() - 1).setToolTip(str(path))
        self.changed.emit()

    def _add(self) -> None:
        path = self._prompts.open_file(f"Add to {self._title.lower()}", self._settings.folder("study"), MEDIA_FILTER)
        if path is not None:
            self._settings.set_folder("study", path)
            self.add_paths([path])

    def _remove(self) -> None:
        for item in self.list.selectedItems():
            self.list.takeItem(self.list.row(item))
        self.changed.emit()


class StudySetup(QWidget):
    """A new study: real and synthetic clips, sources x driving clips for the model to animate,
    raters, seed, frames per clip and the study folder; or open a study folder to resume it."""

    create_requested = Signal()
    open_requested = Signal()
    cancel_requested = Signal()

    def __init__(self, prompts: Prompts, settings: Settings, parent: QWidget | None = None):
        super().__init__(parent)
        self._prompts, self._settings = prompts, settings
        self.real = ClipList("Real clips", prompts, settings)
        self.synthetic = ClipList("Synthetic clips (uncaptioned)", prompts, settings)
        self.sources = ClipList("Sources", prompts, settings)
        self.drivings = ClipList("Driving clips", prompts, settings)
        self.model_note = wrapped_label("")
        self.pairs_note = QLabel("")
        make = QGroupBox("Synthetic clips made by the model in use (each source × each driving clip)")
        make_layout = QVBoxLayout(make)
        make_lists = QHBoxLayout()
        make_lists.addWidget(self.sources)
        make_lists.addWidget(self.drivings)
        make_layout.addLayout(make_lists, 1)
        make_layout.addWidget(self.model_note)
        make_layout.addWidget(self.pairs_note)
        for clip_list in (self.sources, self.drivings):
            clip_list.changed.connect(self._count_pairs)

        self.raters = QSpinBox(minimum=1, maximum=50, value=3)
        self.seed = QSpinBox(minimum=0, maximum=999_999, value=random.SystemRandom().randrange(1_000_000))
        self.max_frames = QSpinBox(minimum=0, maximum=10_000, value=0, specialValueText="All")
        self.folder = QLineEdit()
        self.folder.setPlaceholderText("an empty folder for study.json, copies of the clips and the results")
        choose = QPushButton("Choose…")
        choose.clicked.connect(self._choose_folder)
        self.create_button = QPushButton("Create study")
        self.open_button = QPushButton("Open study…")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.create_button.clicked.connect(self.create_requested)
        self.open_button.clicked.connect(self.open_requested)
        self.cancel_button.clicked.connect(self.cancel_requested)
        self.progress = QProgressBar()
        self.progress_label = QLabel("")
        form = QFormLayout()
        form.addRow("Raters", self.raters)
        form.addRow("Seed (shuffling)", self.seed)
        form.addRow("Frames per clip", self.max_frames)
        form.addRow("Study folder", row(self.folder, choose))
        buttons = QHBoxLayout()
        for button in (self.create_button, self.cancel_button, self.open_button):
            buttons.addWidget(button)
        study = QGroupBox("Study")
        study_layout = QVBoxLayout(study)
        study_layout.addLayout(form)
        study_layout.addLayout(buttons)
        study_layout.addWidget(self.progress)
        study_layout.addWidget(self.progress_label)
        study_layout.addStretch(1)

        given = QHBoxLayout()
        given.addWidget(self.real)
        given.addWidget(self.synthetic)
        left = QVBoxLayout()
        left.addLayout(given, 1)
        left.addWidget(make, 1)
        layout = QHBoxLayout(self)
        layout.addLayout(left, 2)
        layout.addWidget(study, 1)
        self._count_pairs()

    def plan(self) -> StudyPlan:
        folder = self.folder.text().strip()
        return StudyPlan(self.real.paths(), self.synthetic.paths(), list(product(self.sources.paths(), self.drivings.paths())),
                         self.raters.value(), self.seed.value(), self.max_frames.value() or None,
                         Path(folder) if folder else None)

    def set_model_status(self, text: str) -> None:
        self.model_note.setText(text or "No model loaded: load one in the Animate tab to make clips here.")

    def set_busy(self, busy: bool) -> None:
        """While clips are made: only Cancel."""
        for widget in (self.real, self.synthetic, self.sources, self.drivings, self.raters, self.seed,
                       self.max_frames, self.folder, self.create_button, self.open_button):
            widget.setEnabled(not busy)
        self.cancel_button.setEnabled(busy)

    def _count_pairs(self) -> None:
        count = len(self.sources.paths()) * len(self.drivings.paths())
        self.pairs_note.setText(f"{count} clip{'s' if count != 1 else ''} to make")

    def _choose_folder(self) -> None:
        folder = self._prompts.folder("Study folder", self._settings.folder("study"))
        if folder is not None:
            self.folder.setText(str(folder))


class StudyHome(QWidget):
    """An open study: its size and seed, each rater's progress, and Start / Results / Close."""

    start_requested = Signal(int)  # rater
    results_requested = Signal()
    close_requested = Signal()

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.summary = wrapped_label("")
        self.summary.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.message = QLabel("")
        self.message.setStyleSheet("QLabel { font-size: 16pt; }")
        self.rater = QSpinBox(minimum=1)
        self.start_button = QPushButton("Start rating")
        self.results_button = QPushButton("Results")
        close = QPushButton("Close study")
        self.start_button.clicked.connect(lambda: self.start_requested.emit(self.rater.value()))
        self.results_button.clicked.connect(self.results_requested)
        close.clicked.connect(self.close_requested)
        rater_row = QHBoxLayout()
        rater_row.addWidget(QLabel("Rater"))
        rater_row.addWidget(self.rater)
        rater_row.addWidget(self.start_button)
        rater_row.addStretch(1)
        rater_row.addWidget(self.results_button)
        rater_row.addWidget(close)
        layout = QVBoxLayout(self)
        layout.addWidget(self.summary)
        layout.addStretch(1)
        layout.addWidget(self.message, 0, Qt.AlignmentFlag.AlignCenter)
        layout.addStretch(1)
        layout.addLayout(rater_row)

    def show_study(self, study: Study, message: str = "") -> None:
        """The study's facts (no clip names or kinds: raters see this page) and who rates next."""
        progress = " · ".join(f"rater {r}: {study.answered(r)} / {len(study.clips)}" for r in range(1, study.raters + 1))
        self.summary.setText(f"<b>Study</b> {study.folder}<br>{len(study.clips)} clips, {study.raters} raters, "
                             f"seed {study.seed}<br>Rated so far: {progress}")
        rater = study.first_unfinished_rater()
        self.rater.setMaximum(study.raters)
        self.rater.setValue(rater or 1)
        self.start_button.setEnabled(rater is not None)
        self.message.setText(message or (f"Rater {rater}: press Start rating when ready." if rater else
                                         "Every rater has rated every clip."))

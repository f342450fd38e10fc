"""The Train tab's inputs: the dataset folders with a sampling weight each (written as one dataset
file for ``usanimator train --data FILE``) and the checkpoint a run fine-tunes from (``--init``)."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import yaml
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLineEdit,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from usanimator_app.core.annotations import SPLIT_FILE_NAME, load_annotations, load_split, sidecar_path
from usanimator_app.core.atomic import write_text_atomic
from usanimator_app.core.errors import UserInputError
from usanimator_app.engine.dataset import find_clips
from usanimator_app.engine.pipeline import default_model_path
from usanimator_app.gui.prompts import MODEL_FILTER, Prompts
from usanimator_app.gui.settings import Settings
from usanimator_app.gui.widgets import row, wrapped_label

FINE_TUNE_CHOICES = (("bundled", "The bundled model"), ("scratch", "From scratch (random weights)"),
                     ("file", "A checkpoint file"))


@dataclass
class ClipSummary:
    """One clip of a dataset folder, as the trainer will see it."""

    name: str
    split: str  # 'train' | 'test' | 'unused' (not listed in split.json)
    annotated: int  # frames with at least one confirmed point
    problem: str  # '' | 'no annotations' | 'unreadable annotations: ...'


def summarise_dataset(folder: Path) -> list[ClipSummary]:
    """The clips of a dataset folder with their split and annotated frame count (sidecars only)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise UserInputError(f"{folder}: dataset folder not found")
    split = load_split(folder) if (folder / SPLIT_FILE_NAME).exists() else None
    summaries = []
    for clip in find_clips(folder):
        role = "train" if split is None or clip.name in split["train"] else "test" if clip.name in split["test"] else "unused"
        sidecar, annotated, problem = sidecar_path(clip), 0, ""
        if not sidecar.exists():
            problem = "no annotations"
        else:
            try:
                annotated = len(load_annotations(sidecar).annotated_frames())
            except UserInputError as exc:
                problem = f"unreadable annotations: {exc}"
            if annotated == 0 and not problem:
                problem = "no annotations"
        summaries.append(ClipSummary(clip.name, role, annotated, problem))
    return summaries


def dataset_file_text(sources: list[tuple[Path, float]]) -> str:
    """A dataset file (``engine.dataset.parse_data_sources``) listing ``sources`` by absolute path."""
    entries = [{"path": str(Path(path).resolve()), "weight": float(weight)} for path, weight in sources]
    return "# Written by the USAnimator window at every Start / Resume of this run.\n" + yaml.safe_dump(
        {"sources": entries}, sort_keys=False)


class DatasetPanel(QGroupBox):
    """Dataset folders with a weight each (add / remove), and the clips they hold."""

    changed = Signal()  # a folder was added or removed

    def __init__(self, settings: Settings, prompts: Prompts, parent: QWidget | None = None):
        super().__init__("Datasets", parent)
        self._settings = settings
        self._prompts = prompts
        self._summaries: dict[Path, list[ClipSummary]] = {}
        self.folders = QTableWidget(0, 2)
        self.folders.setHorizontalHeaderLabels(["Folder", "Weight"])
        self.folders.verticalHeader().hide()
        self.folders.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.folders.setSelectionBehavior(QTableWidget.SelectionBehavior.SelectRows)
        self.folders.setSelectionMode(QTableWidget.SelectionMode.SingleSelection)
        self.folders.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.folders.setToolTip("Each folder's weight is its relative chance of giving a training pair")
        self.folders.setFixedHeight(96)  # about three folders in sight
        self.add_button = QPushButton("Add…")
        self.remove_button = QPushButton("Remove")
        self.clips = QTableWidget(0, 4)
        self.clips.setHorizontalHeaderLabels(["Folder", "Clip", "Split", "Annotated"])
        self.clips.verticalHeader().hide()
        self.clips.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.clips.setSelectionMode(QTableWidget.SelectionMode.NoSelection)
        self.clips.setMinimumHeight(96)
        header = self.clips.horizontalHeader()
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        for column in (0, 2, 3):
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.ResizeToContents)
        self.summary = wrapped_label("Add one or more folders of clips (sidecars and split.json optional).")
        self.warning = wrapped_label("", "#c90")
        buttons = QHBoxLayout()
        buttons.addWidget(self.add_button)
        buttons.addWidget(self.remove_button)
        buttons.addStretch(1)
        layout = QVBoxLayout(self)
        layout.addWidget(self.folders)
        layout.addLayout(buttons)
        layout.addWidget(self.clips, 1)
        layout.addWidget(self.summary)
        layout.addWidget(self.warning)
        self.add_button.clicked.connect(self._add_dialog)
        self.remove_button.clicked.connect(self.remove_selected)

    def sources(self) -> list[tuple[Path, float]]:
        """(folder, weight) of every listed folder, in order."""
        return [(Path(self.folders.item(row, 0).data(Qt.ItemDataRole.UserRole)), self.folders.cellWidget(row, 1).value())
                for row in range(self.folders.rowCount())]

    def add_folder(self, folder: Path, weight: float = 1.0) -> bool:
        """List a dataset folder (again: only its weight changes); False (with a message) when unusable."""
        folder = Path(folder)
        try:
            self._summaries[folder] = summarise_dataset(folder)
        except UserInputError as exc:
            self._prompts.error(str(exc))
            return False
        rows = [row for row, (path, _) in enumerate(self.sources()) if path == folder]
        if rows:
            self.folders.cellWidget(rows[0], 1).setValue(weight)
        else:
            row = self.folders.rowCount()
            self.folders.insertRow(row)
            item = QTableWidgetItem(folder.name)
            item.setData(Qt.ItemDataRole.UserRole, str(folder))
            item.setToolTip(str(folder))
            self.folders.setItem(row, 0, item)
            spin = QDoubleSpinBox()
            spin.setRange(0.01, 1000.0)
            spin.setValue(weight)
            spin.valueChanged.connect(self._save)
            self.folders.setCellWidget(row, 1, spin)
        self._refresh()
        return True

    def remove_selected(self) -> None:
        row = self.folders.currentRow()
        if 0 <= row < self.folders.rowCount():
            self._summaries.pop(Path(self.folders.item(row, 0).data(Qt.ItemDataRole.UserRole)), None)
            self.folders.removeRow(row)
            self._refresh()

    def write_dataset_file(self, path: Path) -> Path:
        """Write the listed folders and weights as a dataset file at ``path`` (folders created)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        write_text_atomic(path, dataset_file_text(self.sources()))
        return path

    def restore(self) -> None:
        """The folders listed last time (or the single folder of older versions) that still exist."""
        try:
            saved = [(Path(e["path"]), float(e["weight"])) for e in json.loads(self._settings.text("train/sources", "[]"))]
        except (ValueError, TypeError, KeyError):
            saved = []
        if not saved and self._settings.text("train/data"):
            saved = [(Path(self._settings.text("train/data")), 1.0)]
        for folder, weight in saved:
            if folder.is_dir():
                self.add_folder(folder, weight if math.isfinite(weight) else 1.0)  # a spin box makes nan its maximum

    def _save(self) -> None:
        self._settings.set("train/sources", json.dumps([{"path": str(p), "weight": w} for p, w in self.sources()]))

    def _add_dialog(self) -> None:
        folder = self._prompts.folder("Add a dataset folder", self._settings.folder("train_data"))
        if folder:
            self._settings.set_folder("train_data", folder)
            self.add_folder(folder)

    def _refresh(self) -> None:
        """The clip table, the summary and the warnings over all listed folders."""
        self._save()
        rows = [(folder, clip) for folder, _ in self.sources() for clip in self._summaries.get(folder, [])]
        self.clips.setRowCount(len(rows))
        for row, (folder, clip) in enumerate(rows):
            count = QTableWidgetItem(str(clip.annotated) if not clip.problem.startswith("unreadable") else "?")
            count.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            for column, item in enumerate((QTableWidgetItem(folder.name), QTableWidgetItem(clip.name),
                                           QTableWidgetItem(clip.split), count)):
                item.setToolTip(clip.problem)
                self.clips.setItem(row, column, item)
        clips = [clip for _, clip in rows]
        training = [c for c in clips if c.split == "train"]
        folders = len(self._summaries)
        counts = [f"{len(training)} train"] + [f"{n} {label}" for n, label in (
            (sum(c.split == "test" for c in clips), "test"), (sum(c.split == "unused" for c in clips), "not in split.json")) if n]
        self.summary.setText(
            f"{folders} folder{'s' if folders != 1 else ''}, {len(clips)} clips ({', '.join(counts)}); "
            f"{sum(c.annotated for c in training)} annotated frames for training."
            if folders else "Add one or more folders of clips (sidecars and split.json optional).")
        warnings = []
        bare = [c.name for c in training if c.problem == "no annotations"]
        if bare:
            warnings.append(f"{len(bare)} training clip{'s' if len(bare) > 1 else ''} without annotations: "
                            "they train keypoints, motion and generator (self-supervised), not the landmark heads.")
        broken = [c.name for c in clips if c.problem.startswith("unreadable")]
        if broken:
            warnings.append(f"Unreadable annotations in {', '.join(broken)}: training stops on them; "
                            "fix them in the Annotate tab.")
        empty = [folder.name for folder, summaries in self._summaries.items() if not summaries]
        if empty:
            warnings.append(f"No clips (videos, DICOM files or image folders) in {', '.join(empty)}.")
        self.warning.setText(" ".join(warnings))
        self.remove_button.setEnabled(self.folders.rowCount() > 0)
        self.changed.emit()


class FineTuneChoice(QWidget):
    """Where a new run's networks start: the bundled model (default), random weights, or a checkpoint."""

    changed = Signal()

    def __init__(self, settings: Settings, prompts: Prompts, parent: QWidget | None = None):
        super().__init__(parent)
        self._settings = settings
        self._prompts = prompts
        self.choice = QComboBox()
        for key, label in FINE_TUNE_CHOICES:
            self.choice.addItem(label, key)
        self.choice.setToolTip("Fine-tuning keeps the checkpoint's preset and size and starts a fresh optimiser")
        self.path = QLineEdit()
        self.path.setReadOnly(True)
        self.browse = QPushButton("Choose…")
        try:
            self._bundled: Path | None = default_model_path()
            self.choice.setItemData(0, str(self._bundled), Qt.ItemDataRole.ToolTipRole)
        except UserInputError:
            self._bundled = None
            self.choice.model().item(0).setEnabled(False)
            self.choice.setItemText(0, "The bundled model (not installed)")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.choice)
        layout.addLayout(row(self.path, self.browse))
        key = settings.text("train/init", "bundled")
        if key not in dict(FINE_TUNE_CHOICES) or (key == "bundled" and self._bundled is None):
            key = "scratch"
        self.path.setText(settings.text("train/init_file"))
        self.choice.setCurrentIndex(self.choice.findData(key))
        self.choice.currentIndexChanged.connect(self._choice_changed)
        self.browse.clicked.connect(self._browse)
        self._update()

    def init_path(self) -> Path | None:
        """The checkpoint for ``--init`` (None: from scratch, or a file not chosen yet)."""
        key = self.choice.currentData()
        if key == "bundled":
            return self._bundled
        if key == "file" and self.path.text():
            return Path(self.path.text())
        return None

    def problem(self) -> str:
        """Why a new run cannot start with this choice ('' when it can)."""
        path = self.init_path()
        if self.choice.currentData() == "file" and (path is None or not path.is_file()):
            return "Choose the checkpoint to fine-tune from (Fine-tune from ▸ Choose…), or train from scratch."
        return ""

    def set_choice(self, key: str, path: Path | None = None) -> None:
        """'bundled' | 'scratch' | 'file' (with ``path``)."""
        if path is not None:
            self.path.setText(str(path))
        self.choice.setCurrentIndex(self.choice.findData(key))
        self._update()

    def _choice_changed(self) -> None:
        if self.choice.currentData() == "file" and not self.path.text():
            self._browse()
        self._update()

    def _browse(self) -> None:
        path = self._prompts.open_file("Fine-tune from checkpoint", self._settings.folder("model"), MODEL_FILTER)
        if path:
            self.path.setText(str(path))
        self._update()

    def _update(self) -> None:
        key = self.choice.currentData()
        self.path.setVisible(key == "file")
        self.browse.setVisible(key == "file")
        self._settings.set("train/init", key)
        self._settings.set("train/init_file", self.path.text())
        self.changed.emit()

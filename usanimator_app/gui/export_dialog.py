"""Export: the options dialog and the background job that writes an MP4 or a PNG sequence.

Frames are written at the run's output size (``FrameResult.frame``: the source's resolution by
default, as set under Output before the run). File names never come from the input files (a DICOM's
name may hold patient data): the default is ``usanimator_<timestamp>.mp4``, and ``core.export``
writes no metadata. The dialog checks its target as ``usanimator animate --out`` does and stays open
until it can be written.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Callable, Iterator, Sequence

import numpy as np
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QWidget,
)

from usanimator_app.core.compose import CAPTION, compose_frame
from usanimator_app.core.errors import UserInputError
from usanimator_app.core.export import Mp4Writer, write_png_sequence, write_settings
from usanimator_app.core.validation import FPS_RANGE, output_file, output_folder
from usanimator_app.engine.animator import FrameResult
from usanimator_app.gui.prompts import Prompts
from usanimator_app.gui.settings import Settings
from usanimator_app.gui.state import DEFAULT_FPS
from usanimator_app.gui.widgets import display_name, row
from usanimator_app.gui.workers import Cancelled, JobFunction

KINDS = (("mp4", "MP4 video (H.264)"), ("png", "PNG sequence (lossless)"))
LAYOUTS = (("output", "Output only"), ("side-by-side", "Driving | output"), ("overlays", "Driving | output with keypoints"))


@dataclass
class ExportOptions:
    path: Path  # an .mp4 file, or the folder of a PNG sequence
    kind: str = "mp4"
    layout: str = "output"
    fps: float = DEFAULT_FPS
    caption: bool = True
    caption_text: str = CAPTION  # core.compose.EDITED_CAPTION when the motion was edited
    settings: dict | None = None  # written beside the export (core.trajectory.remake_settings)

    def target_exists(self) -> bool:
        """True when writing would replace something (a file, or a folder that is not empty)."""
        if self.kind == "mp4":
            return self.path.exists()
        return (self.path.is_dir() and any(self.path.iterdir())) or self.path.is_file()


def default_export_path(folder: str | Path, kind: str) -> Path:
    """``usanimator_<timestamp>.mp4`` (or ``..._frames`` for PNGs) in ``folder``."""
    stamp = datetime.now().strftime("%Y%m%d_%H%M%S")
    return Path(folder) / (f"usanimator_{stamp}.mp4" if kind == "mp4" else f"usanimator_{stamp}_frames")


def export_frame(result: FrameResult, options: ExportOptions, landmark_names: Sequence[str]) -> np.ndarray:
    """One frame as written by ``core.compose``: the output frame at its own size (the driving frame
    scaled to its height beside it), overlays in its pixels."""
    return compose_frame(
        result.frame,
        result.driving,
        layout=options.layout,
        caption=options.caption,
        caption_text=options.caption_text,
        keypoints=result.frame_keypoints,
        landmarks=result.frame_landmarks,
        landmark_names=tuple(display_name(n) for n in landmark_names),
    )


def export_job(results: Sequence[FrameResult], options: ExportOptions, landmark_names: Sequence[str]) -> JobFunction:
    """A job writing ``results`` (then ``options.settings`` beside them); it yields the number of
    frames written so far."""

    def frames(should_stop: Callable[[], bool]) -> Iterator[np.ndarray]:
        for result in results:
            if should_stop():
                raise Cancelled()
            yield export_frame(result, options, landmark_names)

    def job(should_stop: Callable[[], bool]) -> Iterator[int]:
        if options.kind == "png":
            yield write_png_sequence(frames(should_stop), options.path)
        else:
            with Mp4Writer(options.path, options.fps) as writer:
                for frame in frames(should_stop):
                    writer.write(frame)
                    yield writer.frames_written
        if options.settings is not None:
            write_settings(options.path, options.settings)

    return job


class ExportDialog(QDialog):
    """Format, layout, fps, caption and target of an export; ``frame_size`` (width, height) is the
    run's output size, which the export keeps."""

    def __init__(self, settings: Settings, prompts: Prompts, frame_size: tuple[int, int], fps: float,
                 parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("Export")
        self._settings = settings
        self._prompts = prompts
        self.kind = QComboBox()
        for key, label in KINDS:
            self.kind.addItem(label, key)
        self.layout_choice = QComboBox()
        for key, label in LAYOUTS:
            self.layout_choice.addItem(label, key)
        self.size_note = QLabel(f"{frame_size[0]}×{frame_size[1]} px output (set under Output before the run)")
        self.fps = QDoubleSpinBox()
        self.fps.setRange(*FPS_RANGE)  # as usanimator animate --fps accepts
        self.fps.setDecimals(2)
        self.fps.setValue(fps)
        self.caption = QCheckBox('Burn in the "SYNTHETIC" caption')
        self.caption.setChecked(True)
        self.path = QLineEdit()
        self.path.setMinimumWidth(420)
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Export")
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form = QFormLayout(self)
        form.addRow("Format", self.kind)
        form.addRow("Layout", self.layout_choice)
        form.addRow("Size", self.size_note)
        form.addRow("Frames per second", self.fps)
        form.addRow("", self.caption)
        form.addRow("Save to", row(self.path, browse))
        form.addRow(buttons)
        _select(self.kind, settings.text("export/kind", "mp4"))
        _select(self.layout_choice, settings.text("export/layout", "output"))
        self.path.setText(str(default_export_path(settings.folder("export"), self.kind.currentData())))
        self.kind.currentIndexChanged.connect(self._kind_changed)

    def options(self) -> ExportOptions:
        return ExportOptions(
            path=Path(self.path.text()).expanduser(),
            kind=self.kind.currentData(),
            layout=self.layout_choice.currentData(),
            fps=self.fps.value(),
            caption=self.caption.isChecked(),
        )

    def problem(self) -> str:
        """Why nothing can be written at 'Save to' ('' when it can): no name, a file or folder in
        the way, a folder that cannot be created or written."""
        if not self.path.text().strip():
            return "Save to: give a file name (Browse… picks one)"
        options = self.options()
        try:
            if options.kind == "mp4":
                output_file(options.path, "Save to")
            else:
                output_folder(options.path, "Save to")
        except UserInputError as exc:
            return str(exc)
        return ""

    def accept(self) -> None:
        """Export: close only when the target can be written, else say why and stay open."""
        problem = self.problem()
        if problem:
            self._prompts.error(problem)
            return
        super().accept()

    def _kind_changed(self) -> None:
        self.path.setText(str(default_export_path(Path(self.path.text()).parent, self.kind.currentData())))

    def _browse(self) -> None:
        current = Path(self.path.text())
        if self.kind.currentData() == "mp4":
            chosen = self._prompts.save_file("Export MP4", current, "MP4 video (*.mp4)")
            if chosen and chosen.suffix.lower() != ".mp4":
                chosen = chosen.with_suffix(".mp4")
        else:
            parent = self._prompts.folder("Folder for the PNG sequence", str(current.parent))
            chosen = parent / current.name if parent else None
        if chosen:
            self.path.setText(str(chosen))


def save_export_settings(settings: Settings, options: ExportOptions) -> None:
    """Remember format, layout and folder (not the caption: it is on by default every time)."""
    settings.set("export/kind", options.kind)
    settings.set("export/layout", options.layout)
    settings.set_folder("export", options.path.parent)


def _select(combo: QComboBox, value) -> None:
    index = combo.findData(value)
    if index >= 0:
        combo.setCurrentIndex(index)

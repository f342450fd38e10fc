"""Opening a clip for the Annotate tab: its sidecar is read first (an unreadable one refuses the
clip, so it is never overwritten), then its frames are decoded once, in gray, by a background job."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
from PySide6.QtCore import QObject, Signal

from usanimator_app.core.annotations import Annotations, load_annotations, sidecar_path
from usanimator_app.core.errors import UserInputError
from usanimator_app.core.media import MediaSource, open_media
from usanimator_app.gui.annotate_panels import ClipBox
from usanimator_app.gui.context import TabContext
from usanimator_app.gui.workers import JobFunction, JobRunner


@dataclass
class LoadedClip:
    path: Path
    annotations: Annotations | None  # None: no sidecar yet
    media: MediaSource | None = None
    frames: list[np.ndarray] | None = None


def load_frames_job(path: Path) -> JobFunction:
    """Yields the opened MediaSource, then every frame in gray (H, W) uint8."""

    def job(should_stop: Callable[[], bool]) -> Iterator[object]:
        media = open_media(path)
        yield media
        yield from media.iter_gray()

    return job


class ClipLoader(QObject):
    """Loads one clip at a time on the tab's ``jobs``, with its progress in the Clip box;
    ``loaded(LoadedClip)`` when it worked, ``loaded(None)`` when not (the user was told why)."""

    loaded = Signal(object)

    def __init__(self, context: TabContext, jobs: JobRunner, box: ClipBox, parent: QObject | None = None):
        super().__init__(parent)
        self._context = context
        self._jobs = jobs
        self._box = box
        self._incoming: LoadedClip | None = None

    def load(self, path: Path) -> bool:
        """Start loading a clip and its sidecar; False (with a message) when that cannot start."""
        if not self._jobs.may_start("load"):
            return False
        path = Path(path)
        sidecar = sidecar_path(path)
        try:
            annotations = load_annotations(sidecar) if sidecar.exists() else None
        except (UserInputError, KeyError, ValueError, TypeError, IndexError) as exc:  # a sidecar edited by hand
            problem = str(exc) if isinstance(exc, UserInputError) else f"{sidecar}: not a valid annotation file ({exc!r})"
            self._context.prompts.error(f"{problem}. Fix or move that file, then open the clip again.")
            self.loaded.emit(None)
            return False
        self._context.settings.set_folder("annotate", path)
        self._incoming = LoadedClip(path, annotations, frames=[])
        self._box.load_progress.setRange(0, 0)
        self._box.load_progress.show()
        self._jobs.start("load", load_frames_job(path), self._item, self._ended)
        return True

    def _item(self, item: object) -> None:
        if isinstance(item, MediaSource):
            self._incoming.media = item
            self._box.load_progress.setRange(0, item.info.frames)
        else:
            self._incoming.frames.append(item)
            self._box.load_progress.setValue(len(self._incoming.frames))

    def _ended(self, outcome: str, message: str) -> None:
        clip, self._incoming = self._incoming, None
        self._box.load_progress.hide()
        if outcome == "failed":
            self._context.prompts.error(message)
        worked = outcome == "finished" and clip.media is not None and bool(clip.frames)
        self.loaded.emit(clip if worked else None)

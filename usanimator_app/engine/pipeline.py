"""Files -> model-space frames for the animator; shared by ``usanimator animate`` and the GUI.

    source = load_source_frame("source.dcm", size=animator.image_size)
    driving = DrivingFrames(open_media("clip.mp4"), size=animator.image_size, max_frames=100)
    for result in animator.animate(source.model_frame, driving, options, native=source.native): ...
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np

from usanimator_app.core.errors import UserInputError
from usanimator_app.core.jsonfile import read_json
from usanimator_app.core.media import MediaSource, open_media
from usanimator_app.core.paths import models_dir
from usanimator_app.core.preprocess import FrameGeometry, fit_geometry, to_gray_uint8

MANIFEST_NAME = "manifest.json"


@dataclass
class SourceFrame:
    media: MediaSource
    index: int
    original: np.ndarray  # the frame as stored (uint8 (H, W) or (H, W, 3)), for display
    geometry: FrameGeometry  # original pixels <-> model pixels
    model_frame: np.ndarray  # (S, S) uint8, what the model sees
    gray: np.ndarray  # (H, W) uint8, the frame as stored in gray: the pixels the output is rendered on

    @property
    def native(self) -> tuple[np.ndarray, FrameGeometry]:
        """What ``Animator.animate(..., native=...)`` takes to render at the source's resolution."""
        return self.gray, self.geometry


def load_source_frame(path: str | Path, size: int, index: int = 0) -> SourceFrame:
    """Read frame ``index`` of any readable file and map it into the model's square."""
    media = open_media(path)
    if not 0 <= index < media.info.frames:
        raise UserInputError(f"{path}: frame {index} does not exist (the file has {media.info.frames} frames)")
    original = media.read_frame(index)
    gray = to_gray_uint8(original)
    geometry = fit_geometry(gray, size=size, crop_borders=True)
    return SourceFrame(media, index, original, geometry, geometry.to_model(gray), gray)


class DrivingFrames:
    """Re-iterable model-space frames (S, S) uint8 of a driving clip, geometry fitted on frame 0."""

    def __init__(self, media: MediaSource, size: int, max_frames: int | None = None):
        if media.info.frames < 1:
            raise UserInputError(f"{media.path}: the driving clip has no frames")
        self.media = media
        self.size = size
        self.count = media.info.frames if max_frames is None else max(0, min(max_frames, media.info.frames))
        first = next(iter(media.iter_gray()))
        self.geometry = fit_geometry(first, size=size, crop_borders=True)

    def __len__(self) -> int:
        return self.count

    def __iter__(self) -> Iterator[np.ndarray]:
        for index, gray in enumerate(self.media.iter_gray()):
            if index >= self.count:
                return
            yield self.geometry.to_model(gray)


def read_manifest(folder: Path | None = None) -> dict:
    """The shipped models' manifest (``models/manifest.json``)."""
    path = (folder or models_dir()) / MANIFEST_NAME
    return read_json(path, f"{path}: no bundled model manifest; pass a checkpoint with --model",
                     f"{path}: unreadable model manifest")


def default_model_path() -> Path:
    """The bundled default model named in the manifest; a clear error when it is missing."""
    manifest = read_manifest()
    path = models_dir() / manifest["default"]
    if not path.is_file():
        raise UserInputError(f"{path}: the bundled model named in the manifest is missing; pass a checkpoint with --model")
    return path

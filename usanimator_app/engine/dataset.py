"""Training data: a folder of clips with annotation sidecars and a ``split.json``.

Each clip is decoded once, converted to the model's grayscale square (``core.preprocess``) and kept
in memory as uint8 (F, S, S); its landmarks are mapped to normalised model coordinates. A training
sample is a (source, driving) pair of frames of one clip, with the same light augmentation (gain and
gamma) applied to both.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from usanimator_app.core.annotations import SIDECAR_SUFFIX, SPLIT_FILE_NAME, load_annotations, load_split, sidecar_path
from usanimator_app.core.errors import UserInputError
from usanimator_app.core.media import open_media
from usanimator_app.core.preprocess import FrameGeometry, fit_geometry
from usanimator_app.engine.coords import pixels_to_normalized

CLIP_SUFFIXES = {".mp4", ".avi", ".mov", ".mpeg", ".mpg", ".gif", ".dcm"}


@dataclass
class Clip:
    name: str
    frames: torch.Tensor  # (F, S, S) uint8
    landmarks: torch.Tensor  # (F, L, 2) float32 in [-1, 1]
    annotated: torch.Tensor  # (F, L) bool
    geometry: FrameGeometry  # original pixels <-> model pixels
    pixel_spacing_mm: tuple[float, float] | None  # of the original frames (x, y), from the sidecar or file


@dataclass
class Batch:
    source: torch.Tensor  # (B, 1, S, S) float32 in [0, 1]
    driving: torch.Tensor  # (B, 1, S, S)
    source_landmarks: torch.Tensor  # (B, L, 2)
    source_annotated: torch.Tensor  # (B, L) bool
    driving_landmarks: torch.Tensor  # (B, L, 2)
    driving_annotated: torch.Tensor  # (B, L) bool

    def to(self, device: torch.device) -> "Batch":
        return Batch(*(getattr(self, f).to(device) for f in self.__dataclass_fields__))


def find_clips(data_dir: Path) -> list[Path]:
    """Clip files and numbered-image folders of a dataset folder, sorted by name."""
    clips = []
    for path in sorted(Path(data_dir).iterdir()):
        if path.name.endswith(SIDECAR_SUFFIX) or path.name == SPLIT_FILE_NAME or path.name.startswith("."):
            continue
        if path.is_dir() or path.suffix.lower() in CLIP_SUFFIXES:
            clips.append(path)
    return clips


def split_clips(data_dir: Path, split: str) -> list[Path]:
    """The clips of ``split`` ('train' | 'test' | 'all'); without split.json every clip is 'train'."""
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise UserInputError(f"{data_dir}: dataset folder not found")
    clips = find_clips(data_dir)
    if not clips:
        raise UserInputError(f"{data_dir}: no clips (video, DICOM or image folders) in the dataset folder")
    if split == "all":
        return clips
    if not (data_dir / SPLIT_FILE_NAME).exists():
        return clips if split == "train" else []
    names = set(load_split(data_dir)[split])
    return [clip for clip in clips if clip.name in names]


def load_clip(path: Path, image_size: int, landmark_names: tuple[str, ...]) -> Clip:
    """Decode a clip at model size and read its sidecar (if any) for the named landmarks."""
    media = open_media(path)
    geometry = None
    frames = []
    for gray in media.iter_gray():
        if geometry is None:
            geometry = fit_geometry(gray, size=image_size, crop_borders=True)
        frames.append(geometry.to_model(gray))
    count = len(frames)
    landmarks = np.zeros((count, len(landmark_names), 2), dtype=np.float32)
    annotated = np.zeros((count, len(landmark_names)), dtype=bool)
    sidecar = sidecar_path(path)
    spacing = media.info.pixel_spacing_mm
    if sidecar.exists():
        annotations = load_annotations(sidecar)
        spacing = annotations.pixel_spacing_mm or spacing
        for index in annotations.annotated_frames():
            if index >= count:
                continue
            points = annotations.training_points(index)
            for slot, name in enumerate(landmark_names):
                if name in points:
                    model_xy = geometry.points_to_model(np.array([points[name]], dtype=np.float64))[0]
                    landmarks[index, slot] = pixels_to_normalized(model_xy, image_size)
                    annotated[index, slot] = True
    return Clip(
        path.name, torch.from_numpy(np.stack(frames)), torch.from_numpy(landmarks), torch.from_numpy(annotated), geometry, spacing
    )


class PairDataset:
    """Random (source, driving) pairs from the clips of one split."""

    def __init__(
        self,
        data_dir: str | Path,
        image_size: int,
        landmark_names: tuple[str, ...],
        split: str = "train",
        progress: Callable[[int, int], None] | None = None,
    ):
        paths = split_clips(Path(data_dir), split)
        if not paths:
            raise UserInputError(f"{data_dir}: the {split!r} split has no clips")
        self.clips = []
        for i, path in enumerate(paths):
            self.clips.append(load_clip(path, image_size, landmark_names))
            if progress:
                progress(i + 1, len(paths))
        self.clips = [clip for clip in self.clips if clip.frames.shape[0] >= 2]
        if not self.clips:
            raise UserInputError(f"{data_dir}: every clip of the {split!r} split has fewer than 2 frames")

    @property
    def annotated_frames(self) -> int:
        return int(sum(clip.annotated.any(dim=1).sum() for clip in self.clips))

    def sample(self, batch_size: int, generator: torch.Generator, augment: bool = True) -> Batch:
        """A batch of pairs; all randomness comes from ``generator`` (so a resumed run repeats it)."""
        items = []
        for _ in range(batch_size):
            clip = self.clips[int(torch.randint(len(self.clips), (1,), generator=generator))]
            count = clip.frames.shape[0]
            first, second = torch.randperm(count, generator=generator)[:2].tolist()
            pair = torch.stack([clip.frames[first], clip.frames[second]]).float()[:, None] / 255.0
            if augment:
                gain = 0.8 + 0.4 * float(torch.rand((), generator=generator))
                gamma = math.exp(0.3 * (float(torch.rand((), generator=generator)) - 0.5))
                pair = (pair.clamp(min=0.0) ** gamma * gain).clamp(0.0, 1.0)
            items.append((pair, clip.landmarks[[first, second]], clip.annotated[[first, second]]))
        pairs = torch.stack([item[0] for item in items])  # (B, 2, 1, S, S)
        landmarks = torch.stack([item[1] for item in items])  # (B, 2, L, 2)
        annotated = torch.stack([item[2] for item in items])  # (B, 2, L)
        return Batch(pairs[:, 0], pairs[:, 1], landmarks[:, 0], annotated[:, 0], landmarks[:, 1], annotated[:, 1])

"""Training data: one or more folders of clips, each optionally with annotation sidecars and a
``split.json``, mixed with a sampling weight per folder.

A folder without ``split.json`` is all training clips; a clip without a sidecar trains every loss
but L_key (its frames count as unannotated). A dataset file (YAML or JSON) lists folders and
weights, relative paths being relative to the file::

    sources:
      - {path: ../shared/data/ultrasound_train, weight: 1.0}
      - {path: data/phantom256, weight: 1.0}

Each clip is decoded once, converted to the model's grayscale square (``core.preprocess``) and kept
in memory as uint8 (F, S, S); its landmarks are mapped to normalised model coordinates. A training
sample is a (source, driving) pair of frames of one clip, with the same light augmentation (gain and
gamma) applied to both.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from usanimator_app.core.annotations import SIDECAR_SUFFIX, SPLIT_FILE_NAME, load_annotations, load_split, sidecar_path
from usanimator_app.core.errors import UserInputError
from usanimator_app.core.media import CLIP_KINDS, media_kind, open_media
from usanimator_app.core.preprocess import FrameGeometry, fit_geometry
from usanimator_app.engine.coords import pixels_to_normalized

DATASET_FILE_SUFFIXES = {".yaml", ".yml", ".json"}


@dataclass(frozen=True)
class DataSource:
    """One dataset folder and its sampling weight (the chance of drawing a pair from it, relative)."""

    path: Path
    weight: float = 1.0


def _read_dataset_file(path: Path) -> list[DataSource]:
    import yaml

    try:
        text = path.read_text(encoding="utf-8")
        data = json.loads(text) if path.suffix.lower() == ".json" else yaml.safe_load(text)
    except (OSError, ValueError, yaml.YAMLError) as exc:
        raise UserInputError(f"{path}: cannot read the dataset file ({str(exc).splitlines()[0]})") from None
    entries = data.get("sources") if isinstance(data, dict) else None
    if not isinstance(entries, list) or not entries:
        raise UserInputError(f"{path}: a dataset file needs a non-empty 'sources' list of {{path, weight}}")
    sources = []
    for number, entry in enumerate(entries, 1):
        if not isinstance(entry, dict) or not isinstance(entry.get("path"), str):
            raise UserInputError(f"{path}: source {number} needs a 'path' (a folder name)")
        weight = entry.get("weight", 1.0)
        if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not math.isfinite(weight) or weight <= 0:
            raise UserInputError(f"{path}: source {number} has weight {weight!r}; it must be a number > 0")
        folder = Path(entry["path"]).expanduser()
        sources.append(DataSource(folder if folder.is_absolute() else path.parent / folder, float(weight)))
    return sources


def parse_data_sources(items: "str | Path | DataSource | list") -> list[DataSource]:
    """``--data`` values (folders and/or dataset files, or ready DataSources) -> DataSources."""
    if isinstance(items, (str, Path, DataSource)):
        items = [items]
    sources: list[DataSource] = []
    for item in items:
        if isinstance(item, DataSource):
            sources.append(item)
            continue
        path = Path(item)
        if path.is_file() and path.suffix.lower() in DATASET_FILE_SUFFIXES:
            sources.extend(_read_dataset_file(path))
        elif path.is_file():
            raise UserInputError(f"{path}: not a dataset folder or a dataset file (.yaml / .json)")
        else:
            sources.append(DataSource(path))
    if not sources:
        raise UserInputError("no training data given")
    return sources


@dataclass(frozen=True)
class Holdout:
    """What a fine-tune keeps out of training for validation (engine/finetune.py): whole clips
    (resolved paths), and/or the last ``tail`` share of every clip's frames."""

    clips: frozenset[Path] = frozenset()
    tail: float = 0.0

    def training_frames(self, count: int) -> int:
        """How many of a clip's first frames train."""
        return count - int(round(self.tail * count)) if self.tail else count


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
        """On ``device``, frames channels-last (what the trainer's networks use: 27% faster here)."""
        moved = {f: getattr(self, f).to(device) for f in self.__dataclass_fields__}
        for name in ("source", "driving"):
            moved[name] = moved[name].contiguous(memory_format=torch.channels_last)
        return Batch(**moved)


@dataclass(frozen=True)
class FolderContents:
    """A dataset folder's clips and the files it holds that are not clips."""

    clips: list[Path]  # clip files (any format Animate opens as a clip) and image folders, sorted by name
    skipped: list[tuple[Path, str]]  # (file, why it is not a clip); the dataset's own files are not listed


def scan_folder(data_dir: Path) -> FolderContents:
    """Sort a dataset folder's entries into clips (video, DICOM with or without a suffix, numbered-image
    folders: ``core.media.media_kind``) and skipped files; sidecars, split.json and hidden files are neither."""
    clips, skipped = [], []
    for path in sorted(Path(data_dir).iterdir()):
        if path.name.endswith(SIDECAR_SUFFIX) or path.name == SPLIT_FILE_NAME or path.name.startswith("."):
            continue
        kind = media_kind(path)
        if kind in CLIP_KINDS:
            clips.append(path)
        else:
            skipped.append((path, "a single image, not a clip" if kind == "image" else "not a clip"))
    return FolderContents(clips, skipped)


def find_clips(data_dir: Path) -> list[Path]:
    """Clip files and numbered-image folders of a dataset folder, sorted by name."""
    return scan_folder(data_dir).clips


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
    """Random (source, driving) pairs from the clips of one split of one or more dataset folders.

    A pair is drawn from a folder chosen by weight, then from a clip of that folder chosen uniformly.
    ``skipped`` lists the folders' files that do not train, with why: not a clip, or under 2 frames.
    """

    def __init__(
        self,
        data: "str | Path | DataSource | list",
        image_size: int,
        landmark_names: tuple[str, ...],
        split: str = "train",
        progress: Callable[[int, int], None] | None = None,
        holdout: Holdout = Holdout(),
    ):
        self.sources = parse_data_sources(data)
        paths = [(number, path) for number, source in enumerate(self.sources) for path in split_clips(source.path, split)
                 if path.resolve() not in holdout.clips]
        if not paths:
            raise UserInputError(f"{', '.join(str(s.path) for s in self.sources)}: the {split!r} split has no clips")
        self.clips: list[Clip] = []
        self.clips_per_source: list[list[int]] = [[] for _ in self.sources]
        self.skipped = [item for source in self.sources for item in scan_folder(source.path).skipped]
        for i, (number, path) in enumerate(paths):
            clip = load_clip(path, image_size, landmark_names)
            kept = holdout.training_frames(clip.frames.shape[0])
            clip.frames, clip.landmarks, clip.annotated = clip.frames[:kept], clip.landmarks[:kept], clip.annotated[:kept]
            if clip.frames.shape[0] >= 2:
                self.clips_per_source[number].append(len(self.clips))
                self.clips.append(clip)
            else:
                self.skipped.append((path, "fewer than 2 frames"))
            if progress:
                progress(i + 1, len(paths))
        if not self.clips:
            raise UserInputError(f"every clip of the {split!r} split has fewer than 2 frames")
        kept = [n for n, members in enumerate(self.clips_per_source) if members]
        self._source_weights = torch.tensor([self.sources[n].weight if n in kept else 0.0 for n in range(len(self.sources))])

    @property
    def annotated_frames(self) -> int:
        return int(sum(clip.annotated.any(dim=1).sum() for clip in self.clips))

    def summary(self) -> str:
        """One line per folder: clips, frames, annotated frames, weight."""
        lines = []
        for source, members in zip(self.sources, self.clips_per_source):
            clips = [self.clips[i] for i in members]
            frames = sum(c.frames.shape[0] for c in clips)
            annotated = int(sum(c.annotated.any(dim=1).sum() for c in clips))
            lines.append(f"{source.path}: {len(clips)} clips, {frames} frames, {annotated} with landmarks, weight {source.weight:g}")
        return "; ".join(lines)

    def _draw_clip(self, generator: torch.Generator) -> Clip:
        if len(self.sources) == 1:
            return self.clips[int(torch.randint(len(self.clips), (1,), generator=generator))]
        number = int(torch.multinomial(self._source_weights, 1, generator=generator))
        members = self.clips_per_source[number]
        return self.clips[members[int(torch.randint(len(members), (1,), generator=generator))]]

    def sample(self, batch_size: int, generator: torch.Generator, augment: bool = True) -> Batch:
        """A batch of pairs; all randomness comes from ``generator`` (so a resumed run repeats it)."""
        items = []
        for _ in range(batch_size):
            clip = self._draw_clip(generator)
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

"""The project's annotation format: one JSON sidecar per clip.

Example ``clip_0001.mp4.annotations.json``::

    {
      "format": "usanimator-annotations",
      "version": 1,
      "clip": "clip_0001.mp4",
      "landmarks": ["symphysis_lower_edge", "bladder_neck"],
      "image_size": [256, 256],                 # width, height of the original frames
      "pixel_spacing_mm": [0.35, 0.35],         # x, y; null when unknown
      "frames": {                               # frames without annotation are simply absent
        "0": {"symphysis_lower_edge": {"xy": [101.2, 88.0], "origin": "ground_truth"},
              "bladder_neck":         {"xy": [140.5, 120.3], "origin": "manual"}}
      },
      "metadata": {}                            # free-form (the phantom stores its parameters here)
    }

Coordinates are pixels of the original frames, x to the right, y down, (0, 0) the centre of the
top-left pixel. ``origin`` is one of ``ORIGINS``; points whose origin is ``predicted`` (the model's
landmark heads) or ``tracked`` (carried from another frame by ``core.landmark_tracking``) are not
ground truth and the trainer ignores them until a user confirms them (``UNCONFIRMED_ORIGINS``).
"""

from __future__ import annotations

import copy
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

from usanimator_app.core.atomic import write_text_atomic
from usanimator_app.core.errors import UserInputError
from usanimator_app.core.jsonfile import read_json

FORMAT_NAME = "usanimator-annotations"
FORMAT_VERSION = 1
DEFAULT_LANDMARKS = ("symphysis_lower_edge", "bladder_neck")
ORIGINS = ("manual", "ground_truth", "interpolated", "predicted", "tracked")
UNCONFIRMED_ORIGINS = ("predicted", "tracked")  # not supervision until a user confirms them
SIDECAR_SUFFIX = ".annotations.json"
SPLIT_FILE_NAME = "split.json"


def sidecar_path(clip_path: str | Path) -> Path:
    """``clip.mp4`` -> ``clip.mp4.annotations.json`` (a PNG folder ``clip/`` -> ``clip.annotations.json``)."""
    clip_path = Path(clip_path)
    return clip_path.parent / (clip_path.name + SIDECAR_SUFFIX)


@dataclass
class LandmarkPoint:
    """One landmark on one frame, in original-frame pixels."""

    x: float
    y: float
    origin: str = "manual"

    def __post_init__(self) -> None:
        if self.origin not in ORIGINS:
            raise ValueError(f"unknown landmark origin {self.origin!r}; expected one of {ORIGINS}")


@dataclass
class Annotations:
    """All landmarks of one clip. ``frames[i][name]`` is a :class:`LandmarkPoint`."""

    clip: str
    landmarks: list[str] = field(default_factory=lambda: list(DEFAULT_LANDMARKS))
    image_size: tuple[int, int] | None = None
    pixel_spacing_mm: tuple[float, float] | None = None
    frames: dict[int, dict[str, LandmarkPoint]] = field(default_factory=dict)
    metadata: dict = field(default_factory=dict)

    def set_point(self, frame: int, name: str, x: float, y: float, origin: str = "manual") -> None:
        if name not in self.landmarks:
            raise KeyError(f"landmark {name!r} is not in this project's set {self.landmarks}")
        self.frames.setdefault(int(frame), {})[name] = LandmarkPoint(float(x), float(y), origin)

    def remove_point(self, frame: int, name: str) -> None:
        points = self.frames.get(int(frame), {})
        points.pop(name, None)
        if not points:
            self.frames.pop(int(frame), None)

    def point(self, frame: int, name: str) -> LandmarkPoint | None:
        return self.frames.get(int(frame), {}).get(name)

    def training_points(self, frame: int) -> dict[str, tuple[float, float]]:
        """Points usable as supervision on ``frame`` (everything except unconfirmed predicted and tracked points)."""
        return {
            name: (p.x, p.y)
            for name, p in self.frames.get(int(frame), {}).items()
            if p.origin not in UNCONFIRMED_ORIGINS
        }

    def annotated_frames(self, include_predicted: bool = False) -> list[int]:
        """Sorted frame indices with at least one point (optionally counting unconfirmed predicted and tracked ones)."""
        return sorted(
            i for i, pts in self.frames.items()
            if include_predicted or any(p.origin not in UNCONFIRMED_ORIGINS for p in pts.values())
        )

    def copy(self) -> "Annotations":
        return copy.deepcopy(self)

    def to_dict(self) -> dict:
        return {
            "format": FORMAT_NAME,
            "version": FORMAT_VERSION,
            "clip": self.clip,
            "landmarks": list(self.landmarks),
            "image_size": list(self.image_size) if self.image_size else None,
            "pixel_spacing_mm": list(self.pixel_spacing_mm) if self.pixel_spacing_mm else None,
            "frames": {
                str(i): {name: {"xy": [round(p.x, 3), round(p.y, 3)], "origin": p.origin} for name, p in pts.items()}
                for i, pts in sorted(self.frames.items())
                if pts
            },
            "metadata": self.metadata,
        }

    @classmethod
    def from_dict(cls, data: dict, source: str = "annotations") -> "Annotations":
        """Build from a sidecar's JSON, checking it against the format; a wrong shape or value is a
        UserInputError that names ``source``, the field and the value."""
        if not isinstance(data, dict):
            raise UserInputError(f"{source}: not a USAnimator annotation file (the top level is not an object)")
        if data.get("format") != FORMAT_NAME:
            raise UserInputError(f"{source}: not a USAnimator annotation file (format {data.get('format')!r})")
        if data.get("version") != FORMAT_VERSION:
            raise UserInputError(f"{source}: annotation format version {data.get('version')!r} is not supported")
        landmarks = data.get("landmarks") or list(DEFAULT_LANDMARKS)
        if not isinstance(landmarks, list) or not all(isinstance(name, str) and name for name in landmarks):
            raise UserInputError(f"{source}: 'landmarks' must be a list of names, not {_short(landmarks)}")
        size = _number_pair(data.get("image_size"), source, "image_size", whole=True)
        spacing = _number_pair(data.get("pixel_spacing_mm"), source, "pixel_spacing_mm")
        frames_data = data.get("frames") or {}
        if not isinstance(frames_data, dict):
            raise UserInputError(f"{source}: 'frames' must be an object of frame number -> points, not {_short(frames_data)}")
        frames: dict[int, dict[str, LandmarkPoint]] = {}
        for key, points in frames_data.items():
            if not (isinstance(key, str) and key.isdigit()):
                raise UserInputError(f"{source}: frame key {_short(key)} is not a frame number (0, 1, ...)")
            if not isinstance(points, dict):
                raise UserInputError(f"{source}: frame {key} must be an object of landmark -> point, not {_short(points)}")
            frames[int(key)] = {name: _point(p, size, f"{source}: frame {key}, {name!r}") for name, p in points.items()}
        for index, points in frames.items():
            unknown = set(points) - set(landmarks)
            if unknown:
                raise UserInputError(f"{source}: frame {index} names {sorted(unknown)}, which are not in 'landmarks' {landmarks}")
        metadata = data.get("metadata") or {}
        if not isinstance(metadata, dict):
            raise UserInputError(f"{source}: 'metadata' must be an object, not {_short(metadata)}")
        return cls(
            clip=str(data.get("clip", "")),
            landmarks=list(landmarks),
            image_size=size,
            pixel_spacing_mm=spacing,
            frames=frames,
            metadata=dict(metadata),
        )


def _short(value) -> str:
    """A value for a message: its JSON-ish repr, cut to 60 characters."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _finite_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _number_pair(value, source: str, field: str, whole: bool = False) -> tuple | None:
    """``null`` or two positive finite numbers (whole ones for a size)."""
    if value is None:
        return None
    if (
        not isinstance(value, list)
        or len(value) != 2
        or not all(_finite_number(v) and v > 0 and (not whole or v == int(v)) for v in value)
    ):
        kind = "whole numbers" if whole else "numbers"
        raise UserInputError(f"{source}: '{field}' must be two positive {kind} or null, not {_short(value)}")
    return tuple(int(v) for v in value) if whole else tuple(float(v) for v in value)


def _point(data, size: tuple[int, int] | None, where: str) -> LandmarkPoint:
    """One ``{"xy": [x, y], "origin": ...}``; x, y finite and (when the image size is known) on the image."""
    if not isinstance(data, dict) or "xy" not in data:
        raise UserInputError(f"{where}: a point must be an object with 'xy', not {_short(data)}")
    xy = data["xy"]
    if not isinstance(xy, list) or len(xy) != 2 or not all(_finite_number(v) for v in xy):
        raise UserInputError(f"{where}: 'xy' must be two finite numbers, not {_short(xy)}")
    if size is not None and not (-1.0 <= xy[0] <= size[0] and -1.0 <= xy[1] <= size[1]):  # half a pixel of slack
        raise UserInputError(f"{where}: point {_short(xy)} is outside the {size[0]}x{size[1]} image")
    origin = data.get("origin", "manual")
    if origin not in ORIGINS:
        raise UserInputError(f"{where}: origin {_short(origin)} is not one of {', '.join(ORIGINS)}")
    return LandmarkPoint(float(xy[0]), float(xy[1]), origin)


def save_annotations(annotations: Annotations, path: str | Path) -> None:
    """Write the sidecar atomically (a crash mid-write leaves the previous file intact)."""
    write_text_atomic(path, json.dumps(annotations.to_dict(), indent=1) + "\n")


def load_annotations(path: str | Path) -> Annotations:
    """Read a sidecar; raises :class:`UserInputError` with the file name on any problem."""
    path = Path(path)
    data = read_json(path, f"{path}: annotation file not found", f"{path}: cannot read annotations")
    return Annotations.from_dict(data, source=str(path))


def load_split(dataset_dir: str | Path) -> dict[str, list[str]]:
    """Read ``split.json`` (``{"version": 1, "train": [...], "test": [...]}``, clip file names);
    every name must be a clip in the folder and in one split only."""
    path = Path(dataset_dir) / SPLIT_FILE_NAME
    data = read_json(path, f"{path}: no split file in the dataset folder", f"{path}: cannot read the split file")
    if not isinstance(data, dict):
        raise UserInputError(f'{path}: the split file must be an object like {{"train": [...], "test": [...]}}, not {_short(data)}')
    split = {}
    for name in ("train", "test"):
        clips = data.get(name, [])
        if not isinstance(clips, list) or not all(isinstance(clip, str) and clip for clip in clips):
            raise UserInputError(f"{path}: {name!r} must be a list of clip names, not {_short(clips)}")
        missing = [clip for clip in clips if not (Path(dataset_dir) / clip).exists()]
        if missing:
            raise UserInputError(
                f"{path}: {name!r} names {len(missing)} clip(s) that are not in the folder "
                f"({', '.join(missing[:3])}{', ...' if len(missing) > 3 else ''}); fix the split file"
            )
        split[name] = list(clips)
    both = sorted(set(split["train"]) & set(split["test"]))
    if both:
        raise UserInputError(f"{path}: {', '.join(both[:3])} is in both 'train' and 'test'; fix the split file")
    return split


def save_split(dataset_dir: str | Path, train: list[str], test: list[str]) -> None:
    payload = {"version": 1, "train": sorted(train), "test": sorted(test)}
    write_text_atomic(Path(dataset_dir) / SPLIT_FILE_NAME, json.dumps(payload, indent=1) + "\n")

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
top-left pixel. ``origin`` is one of ``ORIGINS``; points whose origin is ``predicted`` are not
ground truth and the trainer ignores them until a user confirms them.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field
from pathlib import Path

from usanimator_app.core.atomic import write_text_atomic
from usanimator_app.core.errors import UserInputError

FORMAT_NAME = "usanimator-annotations"
FORMAT_VERSION = 1
DEFAULT_LANDMARKS = ("symphysis_lower_edge", "bladder_neck")
ORIGINS = ("manual", "ground_truth", "interpolated", "predicted")
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
        """Points usable as supervision on ``frame`` (everything except unconfirmed predictions)."""
        return {
            name: (p.x, p.y)
            for name, p in self.frames.get(int(frame), {}).items()
            if p.origin != "predicted"
        }

    def annotated_frames(self, include_predicted: bool = False) -> list[int]:
        """Sorted frame indices with at least one point (optionally counting predictions)."""
        return sorted(
            i for i, pts in self.frames.items()
            if include_predicted or any(p.origin != "predicted" for p in pts.values())
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
        if data.get("format") != FORMAT_NAME:
            raise UserInputError(f"{source}: not a USAnimator annotation file (format {data.get('format')!r})")
        if data.get("version") != FORMAT_VERSION:
            raise UserInputError(f"{source}: annotation format version {data.get('version')!r} is not supported")
        landmarks = list(data.get("landmarks") or DEFAULT_LANDMARKS)
        frames: dict[int, dict[str, LandmarkPoint]] = {}
        for key, points in (data.get("frames") or {}).items():
            frames[int(key)] = {
                name: LandmarkPoint(float(p["xy"][0]), float(p["xy"][1]), p.get("origin", "manual"))
                for name, p in points.items()
            }
        size = data.get("image_size")
        spacing = data.get("pixel_spacing_mm")
        return cls(
            clip=data.get("clip", ""),
            landmarks=landmarks,
            image_size=tuple(size) if size else None,
            pixel_spacing_mm=tuple(spacing) if spacing else None,
            frames=frames,
            metadata=dict(data.get("metadata") or {}),
        )


def save_annotations(annotations: Annotations, path: str | Path) -> None:
    """Write the sidecar atomically (a crash mid-write leaves the previous file intact)."""
    write_text_atomic(path, json.dumps(annotations.to_dict(), indent=1) + "\n")


def load_annotations(path: str | Path) -> Annotations:
    """Read a sidecar; raises :class:`UserInputError` with the file name on any problem."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UserInputError(f"{path}: annotation file not found") from None
    except (OSError, ValueError) as exc:
        raise UserInputError(f"{path}: cannot read annotations ({exc})") from None
    return Annotations.from_dict(data, source=str(path))


def load_split(dataset_dir: str | Path) -> dict[str, list[str]]:
    """Read ``split.json`` (``{"version": 1, "train": [...], "test": [...]}``, clip file names)."""
    path = Path(dataset_dir) / SPLIT_FILE_NAME
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UserInputError(f"{path}: no split file in the dataset folder") from None
    except (OSError, ValueError) as exc:
        raise UserInputError(f"{path}: cannot read the split file ({exc})") from None
    return {"train": list(data.get("train", [])), "test": list(data.get("test", []))}


def save_split(dataset_dir: str | Path, train: list[str], test: list[str]) -> None:
    payload = {"version": 1, "train": sorted(train), "test": sorted(test)}
    write_text_atomic(Path(dataset_dir) / SPLIT_FILE_NAME, json.dumps(payload, indent=1) + "\n")

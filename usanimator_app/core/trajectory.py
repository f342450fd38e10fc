"""A driving clip's motion-point track and a teacher's edits of its bladder-neck trajectory
(Qt-free, numpy only).

The track is what the model reads on each driving frame: (F, K + L, 2) points (x, y) in
driving-frame pixels, the K self-supervised keypoints then the L anatomical landmarks. The edits
act on the bladder neck's position relative to the symphysis lower edge, r = neck - symphysis,
whose vertical part gives the descent (as in ``annotation_tools.bladder_neck_descent``: descent =
h0 - h, h = r_y, frame 0 = rest, positive = caudal). The symphysis stays as detected, so the
probe's motion is left alone. In this order:

- ``shift``: the motion happens ``shift`` frames later (negative: earlier); the ends hold.
- ``smooth``: a centred moving average over ``smooth`` frames (odd, 1 = none), ends repeated.
- ``scale``: r's change from frame 0 times ``scale`` (the descent x0.5 ... x3).
- ``drags``: frame -> descent in px (relative to the detected frame 0); sets that frame's r_y.

With ``keypoints_follow`` the self-supervised keypoints move too, by the part of their motion that
goes with the neck's: each keypoint's displacement from frame 0 is fitted over the clip as a
linear function of r's and of the symphysis's own displacement (least squares, so the probe's
motion is told apart), and the edit's change of r goes through the r part of that function. Without it only the landmarks change, and the bundled model's output hardly
follows (benchmarks/bench_trajectory_edit.py): its dense motion is led by the keypoints.

    trajectory = Trajectory(("symphysis_lower_edge", "bladder_neck"), points, spacing_y_mm=0.35)
    trajectory.edits = TrajectoryEdits(scale=2.0)
    trajectory.edited_points()   # (F, K + L, 2), what drives the animation
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np

from usanimator_app.core.annotation_tools import BLADDER_NECK, SYMPHYSIS
from usanimator_app.core.errors import UserInputError
from usanimator_app.core.identity import identify

FORMAT = "usanimator-trajectory-edits"
SETTINGS_FORMAT = "usanimator-export-settings"
VERSION = 1
SETTINGS_VERSION = 2  # 2: inputs named by content hash (1 held their paths)
SCALE_RANGE = (0.5, 3.0)


@dataclass
class TrajectoryEdits:
    """The edits as parameters (see the module docstring); the defaults change nothing."""

    scale: float = 1.0
    shift: int = 0  # frames
    smooth: int = 1  # frames, odd
    drags: dict[int, float] = field(default_factory=dict)  # frame -> descent, px
    keypoints_follow: bool = True

    def __post_init__(self) -> None:
        if not SCALE_RANGE[0] <= self.scale <= SCALE_RANGE[1]:
            raise UserInputError(f"descent scale {self.scale} is out of range ({SCALE_RANGE[0]} ... {SCALE_RANGE[1]})")
        if self.smooth < 1 or self.smooth % 2 == 0:
            raise UserInputError(f"the smoothing window must be an odd number of frames >= 1, not {self.smooth}")

    @property
    def changed(self) -> bool:
        """True when these edits change a track."""
        return self != TrajectoryEdits()

    def to_json(self) -> dict:
        return {"format": FORMAT, "version": VERSION, "scale": self.scale, "shift_frames": self.shift,
                "smooth_frames": self.smooth, "drags_descent_px": {str(f): d for f, d in sorted(self.drags.items())},
                "keypoints_follow": self.keypoints_follow}

    @classmethod
    def from_json(cls, data: dict) -> "TrajectoryEdits":
        """Edits from :meth:`to_json`'s dict, or from an export's settings (its ``trajectory``)."""
        data = data.get("trajectory", data)
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise UserInputError(f"not a trajectory-edits file (expected format {FORMAT!r})")
        if data.get("version") != VERSION:
            raise UserInputError(f"trajectory edits version {data.get('version')!r} is not supported (expected {VERSION})")
        try:
            drags = {int(frame): float(descent) for frame, descent in data.get("drags_descent_px", {}).items()}
            return cls(float(data.get("scale", 1.0)), int(data.get("shift_frames", 0)), int(data.get("smooth_frames", 1)), drags,
                       bool(data.get("keypoints_follow", True)))
        except (TypeError, ValueError, AttributeError) as exc:
            raise UserInputError(f"unreadable trajectory edits ({exc})") from None


def load_edits(path: str | Path) -> TrajectoryEdits:
    """Read edits from a JSON file: an edits file or the settings written beside an export."""
    try:
        return TrajectoryEdits.from_json(json.loads(Path(path).read_text(encoding="utf-8")))
    except (OSError, ValueError) as exc:
        raise UserInputError(f"{path}: cannot read trajectory edits ({exc})") from None


def _shifted(values: np.ndarray, shift: int) -> np.ndarray:
    """(F, ...) -> values[clip(f - shift)] per frame f."""
    frames = np.clip(np.arange(len(values)) - shift, 0, len(values) - 1)
    return values[frames]


def _smoothed(values: np.ndarray, window: int) -> np.ndarray:
    """(F, 2) -> centred moving average over ``window`` frames, the ends repeated."""
    half = window // 2
    padded = np.concatenate([np.repeat(values[:1], half, 0), values, np.repeat(values[-1:], half, 0)])
    kernel = np.ones(window) / window
    return np.stack([np.convolve(padded[:, axis], kernel, mode="valid") for axis in range(values.shape[1])], axis=1)


class Trajectory:
    """Detected motion points (F, K + L, 2) of a driving clip, in its pixels, and their edits;
    ``names`` are the L landmarks'."""

    def __init__(self, names: tuple[str, ...], points: np.ndarray, spacing_y_mm: float | None = None):
        points = np.asarray(points, dtype=np.float64)
        names = tuple(names)
        if points.ndim != 3 or points.shape[1] < len(names) or points.shape[2] != 2 or len(points) == 0:
            raise ValueError(f"expected (F, K + {len(names)}, 2) points with F >= 1, got {points.shape}")
        if SYMPHYSIS not in names or BLADDER_NECK not in names:
            raise UserInputError(f"the motion can be edited only with the {SYMPHYSIS} and {BLADDER_NECK} landmarks; "
                                 f"this model has {', '.join(names) or 'none'}")
        self.names = names
        self.points = points
        self.spacing_y_mm = spacing_y_mm
        self.edits = TrajectoryEdits()
        self.num_kp = points.shape[1] - len(names)
        self._anchor, self._neck = self.num_kp + names.index(SYMPHYSIS), self.num_kp + names.index(BLADDER_NECK)

    def __len__(self) -> int:
        return len(self.points)

    @property
    def unit(self) -> str:
        """The unit of :meth:`descent_shown`: 'mm' when the pixel spacing is known, else 'px'."""
        return "mm" if self.spacing_y_mm else "px"

    def reset(self) -> None:
        self.edits = TrajectoryEdits()

    def edited_points(self) -> np.ndarray:
        """(F, K + L, 2) float64: the detected points with the edits applied."""
        edits = self.edits
        detected = self.points[:, self._neck] - self.points[:, self._anchor]  # (F, 2) r
        relative = _shifted(detected, edits.shift)
        if edits.smooth > 1:
            relative = _smoothed(relative, edits.smooth)
        relative = relative[0] + edits.scale * (relative - relative[0])
        for frame, descent in edits.drags.items():
            if 0 <= frame < len(self):
                relative[frame, 1] = detected[0, 1] - descent
        change = relative - detected  # (F, 2) how the edit moves the neck
        edited = self.points.copy()
        edited[:, self._neck] += change
        if edits.keypoints_follow and self.num_kp:
            edited[:, :self.num_kp] += (change @ self._keypoint_coupling).reshape(len(self), self.num_kp, 2)
        return edited

    @cached_property
    def _keypoint_coupling(self) -> np.ndarray:
        """(2, 2K): B of the least-squares fit (keypoints_f - keypoints_0) ~ (r_f - r_0) B + (a_f - a_0) C
        over the clip, a the symphysis (fitted once: the detected points do not change)."""
        anchor = self.points[:, self._anchor]
        relative = self.points[:, self._neck] - anchor
        keypoints = self.points[:, :self.num_kp].reshape(len(self), -1)
        design = np.concatenate([relative - relative[0], anchor - anchor[0]], axis=1)  # (F, 4)
        return np.linalg.lstsq(design, keypoints - keypoints[0], rcond=None)[0][:2]

    def descent(self, points: np.ndarray | None = None) -> np.ndarray:
        """(F,) bladder-neck descent in px of ``points`` (default: the detected ones), relative to the
        detected frame 0."""
        points = self.points if points is None else points
        heights = points[:, self._neck, 1] - points[:, self._anchor, 1]
        return (self.points[0, self._neck, 1] - self.points[0, self._anchor, 1]) - heights

    def descent_shown(self, edited: bool) -> np.ndarray:
        """(F,) descent of the detected (``edited`` False) or edited track in :attr:`unit`."""
        return self.descent(self.edited_points() if edited else None) * (self.spacing_y_mm or 1.0)

    def drag(self, frame: int, descent_shown: float) -> None:
        """Set the edited descent at ``frame`` to ``descent_shown`` (in :attr:`unit`)."""
        if not 0 <= frame < len(self):
            raise ValueError(f"frame {frame} is outside the track (0 ... {len(self) - 1})")
        self.edits.drags[int(frame)] = float(descent_shown) / (self.spacing_y_mm or 1.0)


def remake_settings(
    source: str | Path,
    source_frame: int,
    driving: str | Path,
    model: str | Path,
    max_frames: int | None,
    motion: dict,
    output: dict,
    export: dict,
    edits: TrajectoryEdits,
) -> dict:
    """What remakes an export of edited motion (written beside it, ``core.export.write_settings``).

    The source, driving clip and model are named by content (``core.identity``), never by path: the
    file travels with the clip, and a path may hold the patient's name. ``motion``: MotionOptions'
    fields (relative, adapt_scale, reference, gain); ``output``: OutputOptions' (mode, size,
    max_side); ``export``: layout, fps, caption. ``command`` is the ``usanimator remake`` line that
    remakes it, finding the inputs by hash under the folders given with ``--search``.
    """
    return {"format": SETTINGS_FORMAT, "version": SETTINGS_VERSION, "source": identify(source, "source"),
            "source_frame": source_frame, "driving": identify(driving, "driving"), "model": identify(model, "model"),
            "max_frames": max_frames, "motion": motion, "output": output, "export": export,
            "trajectory": edits.to_json(),
            "command": ["usanimator", "remake", "SETTINGS.json", "--search", "FOLDER", "--out", "OUT.mp4"]}


def read_settings(path: str | Path) -> dict:
    """The settings written beside an export, checked for format and version."""
    try:
        settings = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise UserInputError(f"{path}: cannot read export settings ({exc})") from None
    if not isinstance(settings, dict) or settings.get("format") != SETTINGS_FORMAT:
        raise UserInputError(f"{path}: not an export's settings file (expected format {SETTINGS_FORMAT!r})")
    if settings.get("version") != SETTINGS_VERSION:
        raise UserInputError(f"{path}: export settings version {settings.get('version')!r} cannot be remade (expected "
                             f"{SETTINGS_VERSION}); animate again with --trajectory {Path(path).name} and the files")
    return settings

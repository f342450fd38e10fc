"""Qt-free helpers for editing annotations: landmark sets, gap filling, CSV exchange, descent.

Points are keyed ``(frame, landmark)``; an edit is a ``{key: LandmarkPoint | None}`` mapping (None
removes the point). Coordinates are original-frame pixels, as in ``core.annotations``.
"""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

from usanimator_app.core.annotations import ORIGINS, Annotations, LandmarkPoint
from usanimator_app.core.atomic import write_text_atomic
from usanimator_app.core.errors import UserInputError

PointKey = tuple[int, str]
ANCHOR_ORIGINS = ("manual", "ground_truth")  # what a person (or the phantom) placed
CSV_COLUMNS = ("frame", "landmark", "x", "y", "origin")
SYMPHYSIS = "symphysis_lower_edge"
BLADDER_NECK = "bladder_neck"
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")


def parse_landmark_names(text: str) -> list[str]:
    """'symphysis_lower_edge, bladder_neck' -> the list; names separated by commas or spaces."""
    names = [name for name in re.split(r"[,\s]+", text) if name]
    if not names:
        raise UserInputError("name at least one landmark")
    bad = [name for name in names if not _NAME.match(name)]
    if bad:
        raise UserInputError(f"landmark names are letters, digits and '_', starting with a letter: {', '.join(bad)}")
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise UserInputError(f"landmark names must differ: {', '.join(repeated)} appears more than once")
    return names


def interpolate_gaps(annotations: Annotations) -> dict[PointKey, LandmarkPoint]:
    """Linear points on the frames between two anchor frames of each landmark.

    Anchors are points whose origin is manual or ground truth; a frame between them is filled when
    it has no point for that landmark or an interpolated one (predictions are left for the user).
    Returns only the points that change.
    """
    filled: dict[PointKey, LandmarkPoint] = {}
    for name in annotations.landmarks:
        anchors = sorted(
            frame for frame, points in annotations.frames.items()
            if name in points and points[name].origin in ANCHOR_ORIGINS
        )
        for first, last in zip(anchors, anchors[1:]):
            start, end = annotations.point(first, name), annotations.point(last, name)
            for frame in range(first + 1, last):
                current = annotations.point(frame, name)
                if current is not None and current.origin != "interpolated":
                    continue
                t = (frame - first) / (last - first)
                point = LandmarkPoint(start.x + t * (end.x - start.x), start.y + t * (end.y - start.y), "interpolated")
                if point != current:
                    filled[(frame, name)] = point
    return filled


def prediction_slots(annotations: Annotations, frame_count: int) -> dict[int, list[str]]:
    """Frame -> the landmarks a prediction may fill there: those without a point or with a predicted one."""
    slots = {}
    for frame in range(frame_count):
        names = [
            name for name in annotations.landmarks
            if (point := annotations.point(frame, name)) is None or point.origin == "predicted"
        ]
        if names:
            slots[frame] = names
    return slots


def confirm_frame(annotations: Annotations, frame: int) -> dict[PointKey, LandmarkPoint]:
    """The frame's predicted, tracked and interpolated points, made manual (the user vouches for them)."""
    return {
        (frame, name): LandmarkPoint(point.x, point.y, "manual")
        for name, point in annotations.frames.get(frame, {}).items()
        if point.origin not in ANCHOR_ORIGINS
    }


def frame_states(annotations: Annotations, frame_count: int) -> list[str]:
    """Per frame, its least trusted point: 'predicted', 'tracked', 'interpolated', else 'annotated' (every
    landmark placed) or 'partial'; 'none' without points. For the timeline."""
    states = []
    for frame in range(frame_count):
        points = annotations.frames.get(frame, {})
        origins = {point.origin for point in points.values()}
        if not points:
            states.append("none")
        elif "predicted" in origins:
            states.append("predicted")
        elif "tracked" in origins:
            states.append("tracked")
        elif "interpolated" in origins:
            states.append("interpolated")
        else:
            states.append("annotated" if all(name in points for name in annotations.landmarks) else "partial")
    return states


def export_csv(annotations: Annotations, path: str | Path) -> int:
    """Write every point as ``frame,landmark,x,y,origin`` (atomic); returns the number of rows."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    rows = 0
    for frame in sorted(annotations.frames):
        for name in annotations.landmarks:
            point = annotations.point(frame, name)
            if point is not None:
                writer.writerow([frame, name, f"{point.x:.3f}", f"{point.y:.3f}", point.origin])
                rows += 1
    write_text_atomic(path, buffer.getvalue())
    return rows


def import_csv(path: str | Path, landmarks: list[str], frame_count: int | None = None) -> dict[PointKey, LandmarkPoint]:
    """Read ``frame,landmark,x,y[,origin]`` rows (a header row is required; origin defaults to manual).

    Every problem is a :class:`UserInputError` naming the file and line: an unknown landmark, a
    frame outside the clip, a number that is not one, an unknown origin.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise UserInputError(f"{path}: cannot read the file ({exc.strerror})") from None
    reader = csv.DictReader(io.StringIO(text))
    missing = [c for c in CSV_COLUMNS[:4] if c not in (reader.fieldnames or [])]
    if missing:
        raise UserInputError(f"{path}: the header must name the columns {','.join(CSV_COLUMNS)} (missing {', '.join(missing)})")
    points: dict[PointKey, LandmarkPoint] = {}
    for row in reader:
        where = f"{path}, line {reader.line_num}"
        name = (row["landmark"] or "").strip()
        if name not in landmarks:
            raise UserInputError(f"{where}: landmark {name!r} is not in this clip's set ({', '.join(landmarks)})")
        origin = (row.get("origin") or "").strip() or "manual"
        if origin not in ORIGINS:
            raise UserInputError(f"{where}: origin {origin!r} is not one of {', '.join(ORIGINS)}")
        try:
            frame, x, y = int(row["frame"]), float(row["x"]), float(row["y"])
        except (TypeError, ValueError):
            raise UserInputError(f"{where}: frame, x and y must be numbers") from None
        if frame < 0 or (frame_count is not None and frame >= frame_count):
            raise UserInputError(f"{where}: frame {frame} is outside the clip (0..{(frame_count or 1) - 1})")
        points[(frame, name)] = LandmarkPoint(x, y, origin)
    return points


def bladder_neck_descent(annotations: Annotations, rest_frame: int, spacing_y_mm: float | None = None) -> dict[int, float]:
    """Bladder-neck descent per frame relative to ``rest_frame``, as the phantom defines it.

    The change of the bladder neck's vertical distance from the horizontal line through the
    symphysis lower edge: ``(h[rest] - h[f]) * spacing`` with ``h = y_neck - y_symphysis``;
    positive = caudal (the neck moves towards the probe). In mm with ``spacing_y_mm``, else in
    pixels. Frames lacking either point are absent; empty when the rest frame lacks one.
    """

    def height(frame: int) -> float | None:
        neck, margin = annotations.point(frame, BLADDER_NECK), annotations.point(frame, SYMPHYSIS)
        return None if neck is None or margin is None else neck.y - margin.y

    rest = height(rest_frame)
    if rest is None:
        return {}
    scale = spacing_y_mm or 1.0
    return {frame: (rest - h) * scale for frame in sorted(annotations.frames) if (h := height(frame)) is not None}

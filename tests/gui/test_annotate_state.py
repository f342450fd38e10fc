"""The Annotate tab's Qt-free state without widgets: tracking, Confirm, Delete tracked from here on
and undo/redo over all of them, with the sidecar written at every change; the module imports no Qt."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import numpy as np

from usanimator_app.core.annotations import sidecar_path
from usanimator_app.core.landmark_tracking import optical_flow_step, track
from usanimator_app.core.media import MediaInfo
from usanimator_app.gui import annotate_state
from usanimator_app.gui.annotate_state import AnnotationSession
from tests.core.test_landmark_tracking import SHIFT, shifted_texture


def _session(tmp_path: Path, frames: list[np.ndarray]) -> AnnotationSession:
    info = MediaInfo(path="clip", kind="image_folder", frames=len(frames), width=96, height=96, fps=None,
                     pixel_spacing_mm=(0.5, 0.5), modality=None, photometric=None)
    session = AnnotationSession(["symphysis_lower_edge", "bladder_neck"])
    session.open(tmp_path / "clip", None, info, frames)
    return session


def _saved(tmp_path: Path) -> dict[int, dict[str, str]]:
    data = json.loads(sidecar_path(tmp_path / "clip").read_text())
    return {int(frame): {name: point["origin"] for name, point in points.items()} for frame, points in data["frames"].items()}


def test_tracking_confirm_delete_from_here_and_undo(tmp_path):
    frames = shifted_texture(8)
    session = _session(tmp_path, frames)
    session.go_to(3)
    assert session.place("symphysis_lower_edge", 40.0, 50.0)
    request = session.track_request(0, 7, "both")
    assert request.names == ["symphysis_lower_edge"] and len(request.steps) == 7
    found = dict(track(optical_flow_step(), session.frames, request))
    assert session.add_tracked(request, found, "optical flow") == 7
    assert _saved(tmp_path) == {f: {"symphysis_lower_edge": "manual" if f == 3 else "tracked"} for f in range(8)}
    for frame in range(8):
        point = session.annotations.point(frame, "symphysis_lower_edge")
        assert np.hypot(*(np.array([point.x, point.y]) - [40, 50] - SHIFT * (frame - 3))) < 1.0
    assert session.document.undo_text == "Track symphysis lower edge from frame 3 (optical flow)"

    session.go_to(5)
    assert session.confirm() and _saved(tmp_path)[5]["symphysis_lower_edge"] == "manual"
    session.go_to(4)
    assert session.delete_tracked_from_here() == 3  # frames 4, 6 and 7; 5 is manual now
    assert sorted(_saved(tmp_path)) == [0, 1, 2, 3, 5]
    assert session.delete_tracked_from_here() == 0  # nothing left: no edit
    session.go_to(1)
    assert session.place("symphysis_lower_edge", 10.0, 10.0, verb="Move")  # a drag confirms too
    assert _saved(tmp_path)[1]["symphysis_lower_edge"] == "manual"

    for expected in ("Move symphysis lower edge on frame 1", "Delete tracked symphysis lower edge from frame 4 on",
                     "Confirm points on frame 5", "Track symphysis lower edge from frame 3 (optical flow)"):
        session.document.undo()
        assert session.document.redo_text == expected
    assert _saved(tmp_path) == {3: {"symphysis_lower_edge": "manual"}}
    for _ in range(4):
        session.document.redo()
    assert sorted(_saved(tmp_path)) == [0, 1, 2, 3, 5] and _saved(tmp_path)[5]["symphysis_lower_edge"] == "manual"


def test_delete_from_here_leaves_the_other_landmark_and_earlier_frames(tmp_path):
    session = _session(tmp_path, shifted_texture(5))
    session.place("symphysis_lower_edge", 30.0, 30.0)
    session.place("bladder_neck", 60.0, 40.0)
    request = session.track_request(0, 4, "forward")
    session.add_tracked(request, dict(track(optical_flow_step(), session.frames, request)), "optical flow")
    session.go_to(2)
    session.chosen = 1  # bladder_neck
    assert session.delete_tracked_from_here() == 3
    saved = _saved(tmp_path)
    assert saved[1] == {"symphysis_lower_edge": "tracked", "bladder_neck": "tracked"}
    assert all(saved[f] == {"symphysis_lower_edge": "tracked"} for f in (2, 3, 4))


def test_the_session_module_imports_no_qt_and_no_torch():
    """Read from the source: only the standard library, numpy, core and the Qt-free gui.state."""
    tree = ast.parse(Path(annotate_state.__file__).read_text(encoding="utf-8"))
    imported = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    imported |= {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    allowed = {"__future__", "pathlib", "numpy", "usanimator_app.gui.state"}
    assert {name for name in imported if not name.startswith("usanimator_app.core.")} <= allowed, imported

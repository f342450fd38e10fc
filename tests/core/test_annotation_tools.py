"""Annotation helpers: landmark names, interpolation, prediction slots, CSV round trip, descent."""

from __future__ import annotations

import numpy as np
import pytest

from usanimator_app.core.annotation_tools import (
    bladder_neck_descent,
    confirm_frame,
    export_csv,
    frame_states,
    import_csv,
    interpolate_gaps,
    parse_landmark_names,
    prediction_slots,
)
from usanimator_app.core.annotations import Annotations, LandmarkPoint, load_annotations
from usanimator_app.core.errors import UserInputError
from usanimator_app.core.paths import resources_dir


def _clip() -> Annotations:
    annotations = Annotations(clip="clip.mp4")
    annotations.set_point(0, "bladder_neck", 10, 20)
    annotations.set_point(4, "bladder_neck", 30, 40, origin="ground_truth")
    annotations.set_point(2, "bladder_neck", 0, 0, origin="predicted")
    annotations.set_point(3, "bladder_neck", 0, 0, origin="interpolated")
    annotations.set_point(1, "symphysis_lower_edge", 5, 5)
    return annotations


def test_landmark_names_are_parsed_and_checked():
    assert parse_landmark_names(" symphysis_lower_edge, bladder_neck  urethra ") == [
        "symphysis_lower_edge", "bladder_neck", "urethra"]
    for text, problem in (("", "at least one"), ("a, 2b", "2b"), ("a, b, a", "differ")):
        with pytest.raises(UserInputError, match=problem):
            parse_landmark_names(text)


def test_interpolation_fills_empty_and_interpolated_slots_between_anchors_only():
    filled = interpolate_gaps(_clip())
    assert filled == {
        (1, "bladder_neck"): LandmarkPoint(15, 25, "interpolated"),
        (3, "bladder_neck"): LandmarkPoint(25, 35, "interpolated"),
    }  # frame 2 keeps its prediction; one anchor of symphysis_lower_edge gives nothing
    annotations = _clip()
    for (frame, name), point in filled.items():
        annotations.set_point(frame, name, point.x, point.y, point.origin)
    assert interpolate_gaps(annotations) == {}


def test_prediction_slots_and_confirmation():
    annotations = _clip()
    slots = prediction_slots(annotations, 6)
    assert slots[0] == ["symphysis_lower_edge"] and slots[2] == ["symphysis_lower_edge", "bladder_neck"]
    assert slots[1] == ["bladder_neck"] and slots[5] == ["symphysis_lower_edge", "bladder_neck"]
    assert 4 in slots and slots[4] == ["symphysis_lower_edge"]
    assert confirm_frame(annotations, 2) == {(2, "bladder_neck"): LandmarkPoint(0, 0, "manual")}
    assert confirm_frame(annotations, 4) == {}
    annotations.set_point(4, "symphysis_lower_edge", 1, 1)
    assert frame_states(annotations, 6) == ["partial", "partial", "predicted", "interpolated", "annotated", "none"]


def test_csv_round_trip_and_clear_errors(tmp_path):
    annotations = _clip()
    path = tmp_path / "points.csv"
    assert export_csv(annotations, path) == 5
    assert path.read_text().splitlines()[:2] == ["frame,landmark,x,y,origin", "0,bladder_neck,10.000,20.000,manual"]
    points = import_csv(path, annotations.landmarks, frame_count=5)
    assert points == {(f, n): p for f, pts in annotations.frames.items() for n, p in pts.items()}

    bad = tmp_path / "bad.csv"
    for body, problem in (
        ("frame,landmark,x,y\n0,urethra,1,2\n", "line 2: landmark 'urethra'"),
        ("frame,landmark,x,y\n9,bladder_neck,1,2\n", "frame 9 is outside"),
        ("frame,landmark,x,y\n0,bladder_neck,one,2\n", "must be numbers"),
        ("frame,landmark,x,y,origin\n0,bladder_neck,1,2,guess\n", "origin 'guess'"),
        ("frame,name,x,y\n", "missing landmark"),
    ):
        bad.write_text(body)
        with pytest.raises(UserInputError, match=problem):
            import_csv(bad, annotations.landmarks, frame_count=5)
    bad.write_text("frame,landmark,x,y\n0,bladder_neck,1,2\n")
    assert import_csv(bad, annotations.landmarks) == {(0, "bladder_neck"): LandmarkPoint(1, 2, "manual")}


def test_descent_matches_the_phantom_definition():
    """The bundled phantom clip stores its own descent (mm, rest frame 0): the helper reproduces it."""
    annotations = load_annotations(resources_dir() / "sample_driving.mp4.annotations.json")
    expected = np.array(annotations.metadata["descent_mm"])
    descent = bladder_neck_descent(annotations, 0, annotations.pixel_spacing_mm[1])
    assert sorted(descent) == list(range(len(expected)))
    np.testing.assert_allclose([descent[f] for f in sorted(descent)], expected, atol=0.01)
    assert expected.max() > 10  # a real descent, positive (caudal)

    in_pixels = bladder_neck_descent(annotations, 5)
    assert in_pixels[5] == 0.0
    assert in_pixels[20] == pytest.approx((descent[20] - descent[5]) / annotations.pixel_spacing_mm[1], abs=1e-6)
    assert bladder_neck_descent(Annotations(clip="x"), 0) == {}

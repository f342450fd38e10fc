"""core.preprocess: gray conversion, border crop, and the exact original <-> model mapping."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from usanimator_app.core.preprocess import FrameGeometry, find_content_box, fit_geometry, to_gray_uint8


def _fan_frame(width: int = 640, height: int = 480, seed: int = 0) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """A speckled sector on black with white text and noise in the borders; returns (frame, fan box)."""
    rng = np.random.default_rng(seed)
    mask = np.zeros((height, width), np.uint8)
    apex = (width // 2, 60)
    cv2.ellipse(mask, apex, (360, 360), 90, -35, 35, 1, thickness=-1)
    mask[:60] = 0
    speckle = rng.gamma(2.0, 40.0, (height, width)).clip(15, 255).astype(np.uint8)
    frame = (speckle * mask).astype(np.uint8)
    frame[250:300, 250:380] *= 0  # an anechoic (black) region inside the fan
    frame[250:300, 250:380] += 3
    ys, xs = np.nonzero(mask)
    fan_box = (int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1)
    cv2.putText(frame, "GE  C1-5  12 cm", (10, 30), cv2.FONT_HERSHEY_SIMPLEX, 0.8, 255, 2)
    cv2.putText(frame, "FR 25", (width - 90, height - 15), cv2.FONT_HERSHEY_SIMPLEX, 0.6, 230, 1)
    noise = rng.random((height, width)) < 0.002
    frame[noise & (mask == 0)] = 200
    return np.dstack([frame] * 3), fan_box


def _blob(width: int, height: int, x: float, y: float, sigma: float = 4.0) -> np.ndarray:
    yy, xx = np.mgrid[0:height, 0:width]
    return np.rint(255 * np.exp(-((xx - x) ** 2 + (yy - y) ** 2) / (2 * sigma**2))).astype(np.uint8)


def _centroid(image: np.ndarray) -> np.ndarray:
    weights = image.astype(np.float64)
    yy, xx = np.mgrid[0 : image.shape[0], 0 : image.shape[1]]
    return np.array([(weights * xx).sum(), (weights * yy).sum()]) / weights.sum()


def test_to_gray_uint8():
    gray = np.arange(12, dtype=np.uint8).reshape(3, 4)
    assert to_gray_uint8(gray) is gray
    np.testing.assert_array_equal(to_gray_uint8(gray[:, :, None]), gray)
    np.testing.assert_array_equal(to_gray_uint8(np.dstack([gray] * 3)), gray)  # gray pixels keep their value
    rgba = np.zeros((1, 3, 4), np.uint8)
    rgba[0, :, :3] = [(255, 0, 0), (0, 255, 0), (0, 0, 255)]
    np.testing.assert_array_equal(to_gray_uint8(rgba), [[76, 150, 29]])  # BT.601 luma, alpha ignored
    with pytest.raises(ValueError):
        to_gray_uint8(gray.astype(np.float32))
    with pytest.raises(ValueError):
        to_gray_uint8(np.zeros((3, 4, 2), np.uint8))


def test_content_box_ignores_text_and_noise():
    frame, fan_box = _fan_frame()
    box = find_content_box(frame)
    assert np.abs(np.array(box) - np.array(fan_box)).max() <= 2, (box, fan_box)


def test_content_box_of_a_black_or_full_frame():
    assert find_content_box(np.zeros((40, 60), np.uint8)) == (0, 0, 60, 40)
    assert find_content_box(np.full((40, 60), 100, np.uint8)) == (0, 0, 60, 40)


def test_fit_geometry_crops_scales_and_pads():
    frame, fan_box = _fan_frame()
    geometry = fit_geometry(frame, size=256)
    x0, y0, x1, y1 = geometry.crop
    assert geometry.original_size == (640, 480)
    assert geometry.scale == pytest.approx(256 / max(x1 - x0, y1 - y0))
    model = geometry.to_model(frame)
    assert model.shape == (256, 256) and model.dtype == np.uint8
    # The crop is wider than tall: black bands above and below, content reaching left and right.
    assert geometry.pad[0] == 0 and geometry.pad[1] > 0
    assert model[: geometry.pad[1] - 1].max() == 0 and model[256 - geometry.pad[1] + 1 :].max() == 0
    whole = fit_geometry(frame, size=128, crop_borders=False)
    assert whole.crop == (0, 0, 640, 480) and whole.scale == pytest.approx(0.2) and whole.pad == (0, 16)


@pytest.mark.parametrize(
    ("original_size", "crop", "size"),
    [
        ((640, 480), (70, 40, 570, 460), 256),  # shrink, non-integer scale, padded in x
        ((300, 500), (10, 20, 290, 480), 128),  # portrait: padded in x
        ((400, 200), (0, 0, 400, 200), 256),  # shrink, padded in y
        ((120, 90), (5, 7, 113, 85), 256),  # enlarge
    ],
)
def test_a_dot_lands_where_points_to_model_says(original_size, crop, size):
    width, height = original_size
    content = np.zeros((height, width), np.uint8)
    content[crop[1] : crop[3], crop[0] : crop[2]] = 60
    geometry = fit_geometry(content, size=size)
    assert geometry.crop == crop
    rng = np.random.default_rng(1)
    margin = 12
    for _ in range(4):
        x = rng.uniform(crop[0] + margin, crop[2] - margin)
        y = rng.uniform(crop[1] + margin, crop[3] - margin)
        dot = _blob(width, height, x, y)
        expected = geometry.points_to_model(np.array([[x, y]]))[0]
        model = geometry.to_model(dot)
        assert np.abs(_centroid(model) - expected).max() < 0.1, (x, y, _centroid(model), expected)
        back = geometry.points_to_original(_centroid(model)[None])[0]
        assert np.abs(back - [x, y]).max() < 0.1 / geometry.scale


def test_points_round_trip_exactly():
    frame, _ = _fan_frame()
    geometry = fit_geometry(frame, size=256)
    points = np.random.default_rng(2).uniform(-5, 700, (50, 2))
    np.testing.assert_allclose(geometry.points_to_original(geometry.points_to_model(points)), points, atol=1e-9)
    np.testing.assert_allclose(geometry.points_to_model(geometry.points_to_original(points)), points, atol=1e-9)
    # Pixel-centre convention: model pixel centre i <-> original (i - pad + 0.5) / scale - 0.5 + crop offset.
    i = np.array([[0.0, 0.0], [255.0, 255.0]])
    expected = (i - geometry.pad + 0.5) / geometry.scale - 0.5 + geometry.crop[:2]
    np.testing.assert_allclose(geometry.points_to_original(i), expected)


def test_geometry_json_round_trip():
    frame, _ = _fan_frame()
    geometry = fit_geometry(frame, size=192)
    restored = FrameGeometry.from_json(json.loads(json.dumps(geometry.to_json())))
    assert restored == geometry
    np.testing.assert_array_equal(restored.to_model(frame), geometry.to_model(frame))


def test_to_model_rejects_a_frame_of_another_size():
    geometry = fit_geometry(np.full((40, 60), 80, np.uint8), size=32)
    with pytest.raises(ValueError, match="60x40"):
        geometry.to_model(np.zeros((41, 60), np.uint8))

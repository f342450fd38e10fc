"""From an original frame to what the model sees, and back, with exact point mapping.

The model sees a ``(size, size)`` uint8 gray image: the original frame in gray, cropped to its
ultrasound content (black borders removed), resized keeping the aspect ratio and padded with black
to a square. :class:`FrameGeometry` holds that mapping; it is computed once per clip
(:func:`fit_geometry`) and applied to every frame.

Coordinates use pixel centres: pixel ``(i, j)`` of an image covers ``[i - 0.5, i + 0.5]`` in x and
``[j - 0.5, j + 0.5]`` in y, so ``(0, 0)`` is the centre of the top-left pixel (the same convention
as ``core.annotations``). A point ``x`` of the original frame lands at
``(x - crop_x0 + 0.5) * scale - 0.5 + pad_x`` in the model image, which is exactly how
``cv2.resize`` samples when it is given the scale factor itself.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


def to_gray_uint8(frame: np.ndarray) -> np.ndarray:
    """(H, W), (H, W, 1), (H, W, 3) RGB or (H, W, 4) RGBA uint8 -> (H, W) uint8.

    Colour uses the ITU-R BT.601 luma, ``0.299 R + 0.587 G + 0.114 B`` (OpenCV's RGB2GRAY):
    a gray pixel (R = G = B) keeps its value exactly; alpha is ignored.
    """
    frame = np.asarray(frame)
    if frame.dtype != np.uint8:
        raise ValueError(f"expected a uint8 frame, got {frame.dtype}")
    if frame.ndim == 2:
        return frame
    if frame.ndim == 3 and frame.shape[2] == 1:
        return frame[:, :, 0]
    if frame.ndim == 3 and frame.shape[2] == 3:
        return cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)
    if frame.ndim == 3 and frame.shape[2] == 4:
        return cv2.cvtColor(frame, cv2.COLOR_RGBA2GRAY)
    raise ValueError(f"expected a (H, W) or (H, W, 3|4) frame, got shape {frame.shape}")


def find_content_box(frame: np.ndarray, threshold: int = 10) -> tuple[int, int, int, int]:
    """Bounding box ``(x0, y0, x1, y1)`` (x1, y1 exclusive) of the ultrasound content of a frame.

    Pixels brighter than ``threshold`` are closed with a square of about 1 % of the frame's
    smaller side (so the speckle of a fan forms one region), and the box covers every connected
    region at least a tenth as large as the largest one. Text, calibration marks and compression
    noise in the borders form small regions and are left out. A frame without a region of at least
    1 % of its area gives the whole frame.
    """
    gray = to_gray_uint8(frame)
    height, width = gray.shape
    mask = (gray > threshold).astype(np.uint8)
    side = max(3, round(min(height, width) / 100)) | 1
    mask = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, np.ones((side, side), np.uint8))
    count, _labels, stats, _centroids = cv2.connectedComponentsWithStats(mask, connectivity=8)
    areas = stats[1:, cv2.CC_STAT_AREA]
    if count <= 1 or areas.max() < 0.01 * height * width:
        return (0, 0, width, height)
    kept = stats[1:][areas >= 0.1 * areas.max()]
    x0 = kept[:, cv2.CC_STAT_LEFT].min()
    y0 = kept[:, cv2.CC_STAT_TOP].min()
    x1 = (kept[:, cv2.CC_STAT_LEFT] + kept[:, cv2.CC_STAT_WIDTH]).max()
    y1 = (kept[:, cv2.CC_STAT_TOP] + kept[:, cv2.CC_STAT_HEIGHT]).max()
    return (int(x0), int(y0), int(x1), int(y1))


@dataclass(frozen=True)
class FrameGeometry:
    """Crop + uniform scale + pad that turns an original frame into the ``(size, size)`` model image.

    ``crop``: ``(x0, y0, x1, y1)`` in original pixels (x1, y1 exclusive); ``scale``: model pixels
    per original pixel; ``pad``: ``(x, y)`` black columns / rows before the resized crop;
    ``original_size``: ``(width, height)`` of the original frames.
    """

    crop: tuple[int, int, int, int]
    scale: float
    pad: tuple[int, int]
    size: int
    original_size: tuple[int, int]

    def to_model(self, frame: np.ndarray) -> np.ndarray:
        """Original frame (H, W) or (H, W, 3|4) uint8 -> model image (size, size) uint8."""
        gray = to_gray_uint8(frame)
        if (gray.shape[1], gray.shape[0]) != tuple(self.original_size):
            raise ValueError(
                f"frame is {gray.shape[1]}x{gray.shape[0]}, the geometry was fitted to "
                f"{self.original_size[0]}x{self.original_size[1]}"
            )
        x0, y0, x1, y1 = self.crop
        return self.crop_to_model(gray[y0:y1, x0:x1])

    @property
    def resized_size(self) -> tuple[int, int]:
        """(width, height) of the crop inside the model image (the rest is black padding)."""
        x0, y0, x1, y1 = self.crop
        return int(np.rint((x1 - x0) * self.scale)), int(np.rint((y1 - y0) * self.scale))

    def crop_to_model(self, cropped: np.ndarray) -> np.ndarray:
        """The content box as an image of any resolution (h, w) uint8 -> model image (size, size) uint8.

        At the original resolution this is exactly :meth:`to_model`; other resolutions (e.g. an
        output rendered at a capped size) are resized to the same place.
        """
        x0, y0, x1, y1 = self.crop
        width, height = self.resized_size
        native = cropped.shape[:2] == (y1 - y0, x1 - x0)
        scale = self.scale if native else width / cropped.shape[1]
        interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
        if native:
            # dsize=(0, 0) with fx = fy = scale makes cv2 sample at exactly (i + 0.5) / scale - 0.5.
            resized = cv2.resize(cropped, (0, 0), fx=self.scale, fy=self.scale, interpolation=interpolation)
        else:
            resized = cv2.resize(cropped, (width, height), interpolation=interpolation)
        model = np.zeros((self.size, self.size), np.uint8)
        pad_x, pad_y = self.pad
        model[pad_y:pad_y + resized.shape[0], pad_x:pad_x + resized.shape[1]] = resized
        return model

    def model_content(self, model_image: np.ndarray) -> np.ndarray:
        """The content box of a model image (size, size) -> (h, w), padding removed."""
        width, height = self.resized_size
        pad_x, pad_y = self.pad
        return model_image[pad_y:pad_y + height, pad_x:pad_x + width]

    def points_to_model(self, xy: np.ndarray) -> np.ndarray:
        """(N, 2) original-frame pixels (x, y) -> (N, 2) model-image pixels (float64)."""
        xy = np.asarray(xy, dtype=np.float64)
        offset = np.array(self.crop[:2], dtype=np.float64)
        return (xy - offset + 0.5) * self.scale - 0.5 + np.array(self.pad, dtype=np.float64)

    def points_to_original(self, xy: np.ndarray) -> np.ndarray:
        """(N, 2) model-image pixels (x, y) -> (N, 2) original-frame pixels (float64)."""
        xy = np.asarray(xy, dtype=np.float64)
        offset = np.array(self.crop[:2], dtype=np.float64)
        return (xy - np.array(self.pad, dtype=np.float64) + 0.5) / self.scale - 0.5 + offset

    def to_json(self) -> dict:
        """A JSON-ready dict (see :meth:`from_json`)."""
        return {
            "crop": list(self.crop),
            "scale": self.scale,
            "pad": list(self.pad),
            "size": self.size,
            "original_size": list(self.original_size),
        }

    @classmethod
    def from_json(cls, data: dict) -> "FrameGeometry":
        return cls(
            crop=tuple(int(v) for v in data["crop"]),
            scale=float(data["scale"]),
            pad=tuple(int(v) for v in data["pad"]),
            size=int(data["size"]),
            original_size=tuple(int(v) for v in data["original_size"]),
        )


def fit_geometry(frame: np.ndarray, size: int = 256, crop_borders: bool = True) -> FrameGeometry:
    """The geometry that maps frames like ``frame`` (H, W[, C]) uint8 to ``(size, size)`` model images.

    With ``crop_borders`` the crop is :func:`find_content_box` of ``frame`` (pass a typical frame,
    e.g. the first, or the maximum over a few frames); otherwise the whole frame. The crop's longer
    side becomes ``size``; the shorter side is centred between black bands.
    """
    gray = to_gray_uint8(frame)
    height, width = gray.shape
    crop = find_content_box(gray) if crop_borders else (0, 0, width, height)
    crop_w, crop_h = crop[2] - crop[0], crop[3] - crop[1]
    scale = size / max(crop_w, crop_h)
    # cv2.resize rounds the output size half-to-even (lrint), as np.rint does.
    resized_w, resized_h = int(np.rint(crop_w * scale)), int(np.rint(crop_h * scale))
    if min(resized_w, resized_h) < 1:
        raise ValueError(f"crop {crop} is too thin to resize to {size} pixels")
    pad = ((size - resized_w) // 2, (size - resized_h) // 2)
    return FrameGeometry(crop=crop, scale=scale, pad=pad, size=size, original_size=(width, height))

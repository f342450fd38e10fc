"""Lazy readers for ultrasound clips: DICOM, video, single images and folders of numbered images.

``open_media(path)`` reads only the header (and decodes the first and last frame to check that the
pixel data is there); frames are decoded one at a time while you iterate. Every problem with the
input becomes a :class:`UserInputError` whose one-line message names the file. The rules for colour,
bit depth, pixel spacing and frame rate are in docs/MEDIA.md.
"""

from __future__ import annotations

import contextlib
import io
import logging
import math
import os
import re
import struct
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

# OpenCV refuses images above this many pixels before decoding them (its default is 1 Gpx).
os.environ.setdefault("OPENCV_IO_MAX_IMAGE_PIXELS", "64000000")

import cv2  # noqa: E402 (after the pixel limit above)
import imageio_ffmpeg
import numpy as np
import pydicom
from pydicom.pixels import apply_color_lut, apply_modality_lut, iter_pixels, pixel_array

from usanimator_app.core.errors import UserInputError
from usanimator_app.core.preprocess import to_gray_uint8

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")
VIDEO_SUFFIXES = (".mp4", ".m4v", ".mov", ".avi", ".mpeg", ".mpg", ".gif")
DICOM_SUFFIXES = (".dcm", ".dicom")
MEDIA_SUFFIXES = DICOM_SUFFIXES + IMAGE_SUFFIXES + VIDEO_SUFFIXES  # what the file dialogs offer
CLIP_KINDS = ("dicom", "video", "image_folder")  # media kinds that hold a clip, as training takes them
SUPPORTED = "DICOM, MP4/MOV/AVI/MPEG/GIF video, PNG/JPEG/BMP/TIFF image or a folder of images"

# Budgets, checked before anything is decoded: one frame's samples (width x height x channels),
# the frame count, and the ranges outside which a frame rate or pixel spacing is taken as unknown.
MAX_FRAME_SAMPLES = 64_000_000
MAX_FRAMES = 100_000
FPS_RANGE = (0.1, 1000.0)
SPACING_RANGE_MM = (1e-3, 100.0)
PHOTOMETRIC_SAMPLES = {
    "MONOCHROME1": 1, "MONOCHROME2": 1, "PALETTE COLOR": 1, "RGB": 3, "YBR_FULL": 3, "YBR_FULL_422": 3,
    "YBR_RCT": 3, "YBR_ICT": 3, "YBR_PARTIAL_420": 3,
}

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class MediaInfo:
    """What a clip is. ``pixel_spacing_mm`` is (x, y) in mm per pixel; ``fps`` None when unknown."""

    path: str
    kind: str  # 'dicom' | 'video' | 'image' | 'image_folder'
    frames: int
    width: int
    height: int
    fps: float | None
    pixel_spacing_mm: tuple[float, float] | None  # (x, y)
    modality: str | None
    photometric: str | None

    def as_dict(self) -> dict:
        """JSON-ready dict (without the path), as ``usanimator info`` prints it."""
        return {
            "kind": self.kind,
            "frames": self.frames,
            "width": self.width,
            "height": self.height,
            "fps": self.fps,
            "pixel_spacing_mm": list(self.pixel_spacing_mm) if self.pixel_spacing_mm else None,
            "modality": self.modality,
            "photometric": self.photometric,
        }


class MediaSource:
    """An opened clip. Frames are decoded on demand, never all at once.

    ``iter_frames()`` starts a new pass from frame 0 on every call and yields the original frames
    for display: uint8 (H, W) gray or (H, W, 3) RGB. ``iter_gray()`` yields what the model sees:
    uint8 (H, W) (``preprocess.to_gray_uint8`` of each frame).
    """

    def __init__(self, path: Path, info: MediaInfo) -> None:
        self.path = path
        self.info = info

    def __len__(self) -> int:
        return self.info.frames

    def iter_frames(self) -> Iterator[np.ndarray]:
        raise NotImplementedError

    def read_frame(self, index: int) -> np.ndarray:
        """Frame ``index`` (0-based) as ``iter_frames`` would yield it."""
        raise NotImplementedError

    def iter_gray(self) -> Iterator[np.ndarray]:
        for frame in self.iter_frames():
            yield to_gray_uint8(frame)

    def _check_index(self, index: int) -> None:
        if not 0 <= index < self.info.frames:
            raise IndexError(f"frame {index} is out of range: {self.path} has {self.info.frames} frames")


def open_media(path: str | Path) -> MediaSource:
    """Open a DICOM file, a video, an image or a folder of images, chosen by content, then extension."""
    path = Path(path)
    if not path.exists():
        raise UserInputError(f"{path}: no such file or folder")
    if path.is_dir():
        return _open_image_folder(path)
    if not path.is_file():
        raise UserInputError(f"{path}: not a regular file")
    try:
        with open(path, "rb") as handle:
            head = handle.read(132)
    except OSError as exc:
        raise UserInputError(f"{path}: cannot read the file ({exc.strerror})") from exc
    if not head:
        raise UserInputError(f"{path}: the file is empty")
    kind = _kind(path, head)
    if kind == "dicom":
        return _open_dicom(path, has_preamble=head[128:132] == b"DICM")
    if kind == "video":
        return _open_video(path)
    if kind == "image":
        return _open_images(path, [path], kind="image")
    raise UserInputError(f"{path}: unsupported file type (expected {SUPPORTED})")


def media_kind(path: str | Path) -> str | None:
    """What :func:`open_media` opens ``path`` as ('dicom' | 'video' | 'image' | 'image_folder'),
    without decoding it: a folder, else the file's first bytes (a DICOM file without a suffix, as
    scanners write them, has 'DICM' at byte 128), else its suffix. None when it is none of these."""
    path = Path(path)
    if path.is_dir():
        return "image_folder"
    try:
        with open(path, "rb") as handle:
            head = handle.read(132)
    except OSError:
        return None
    return _kind(path, head) if head else None


def _kind(path: Path, head: bytes) -> str | None:
    return _kind_from_content(head) or _kind_from_suffix(path)


def _kind_from_content(head: bytes) -> str | None:
    if head[128:132] == b"DICM":
        return "dicom"
    if head.startswith((b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"II*\x00", b"MM\x00*", b"BM")):
        return "image"
    if head.startswith((b"GIF87a", b"GIF89a")):
        return "video"
    return None


def _kind_from_suffix(path: Path) -> str | None:
    suffix = path.suffix.lower()
    if suffix in DICOM_SUFFIXES:
        return "dicom"
    if suffix in VIDEO_SUFFIXES:
        return "video"
    if suffix in IMAGE_SUFFIXES:
        return "image"
    return None


@contextlib.contextmanager
def _reading(path: Path, problem: str) -> Iterator[None]:
    """Turn any exception from a decoder into a UserInputError in the app's words; the decoder's
    own message goes to the log."""
    try:
        yield
    except UserInputError:
        raise
    except MemoryError as exc:
        raise UserInputError(f"{path}: {problem} (not enough memory; the file may be damaged)") from exc
    except Exception as exc:  # the reader boundary: decoders raise many types for bad files
        log.info("%s: %s: %s: %s", path, problem, type(exc).__name__, _reason(exc))
        raise UserInputError(f"{path}: {problem} (the file is damaged or in an encoding the app cannot read)") from exc


def _reason(exc: BaseException) -> str:
    """The last non-empty line of an exception's message (ffmpeg puts the cause last)."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    reason = lines[-1] if lines else type(exc).__name__
    return reason if len(reason) <= 200 else reason[:197] + "..."


def _scale_to_uint8(data: np.ndarray, window: tuple[float, float] | None = None) -> np.ndarray:
    """Data wider than 8 bits -> uint8: linear DICOM window (centre, width) when given, else the
    frame's own min..max to 0..255 (all channels together, so colours keep their hue).
    A constant frame becomes black."""
    values = data.astype(np.float64)
    if window is not None:
        centre, width = window
        scaled = ((values - (centre - 0.5)) / max(width - 1.0, 1.0) + 0.5) * 255.0
    else:
        low, high = float(values.min()), float(values.max())
        scaled = (values - low) * (255.0 / (high - low)) if high > low else np.zeros_like(values)
    return np.rint(np.clip(scaled, 0, 255)).astype(np.uint8)


# ---------------------------------------------------------------------------------------- DICOM


class _BoundedFile(io.BufferedReader):
    """A file whose ``read(n)`` never asks for more than the bytes left: a corrupted length in a
    DICOM header would otherwise make pydicom allocate up to 4 GB before it finds the file shorter."""

    def __init__(self, path: Path) -> None:
        super().__init__(io.FileIO(str(path), "rb"))
        self._size = os.fstat(self.fileno()).st_size

    def read(self, size: int | None = -1) -> bytes:
        if size is not None and size > 0:
            size = max(min(size, self._size - self.tell()), 0)
        return super().read(size)


class _DicomSource(MediaSource):
    def __init__(self, path: Path, info: MediaInfo, header: pydicom.Dataset) -> None:
        super().__init__(path, info)
        self._header = header
        self._palette = _palette_table(header) if info.photometric == "PALETTE COLOR" else None

    def iter_frames(self) -> Iterator[np.ndarray]:
        with _BoundedFile(self.path) as handle:
            raw_frames = iter_pixels(handle)
            try:
                for index in range(self.info.frames):
                    with _reading(self.path, f"cannot decode frame {index}"):
                        frame = self._for_display(next(raw_frames))
                    yield frame
            finally:
                raw_frames.close()

    def read_frame(self, index: int) -> np.ndarray:
        self._check_index(index)
        with _reading(self.path, f"cannot decode frame {index}"), _BoundedFile(self.path) as handle:
            return self._for_display(pixel_array(handle, index=index))

    def _for_display(self, raw: np.ndarray) -> np.ndarray:
        """Decoded frame (YBR already converted to RGB by pydicom) -> uint8 (H, W) or (H, W, 3)."""
        if self._palette is not None:
            return np.take(self._palette, raw.astype(np.intp), axis=0, mode="clip")
        if raw.dtype == np.uint8:
            frame = raw
        elif raw.ndim == 3:
            frame = _scale_to_uint8(raw)
        else:
            values = apply_modality_lut(raw, self._header)
            if not np.all(np.isfinite(values)):  # an absurd RescaleSlope/Intercept: use the stored values
                values = raw
            frame = _scale_to_uint8(values, _dicom_window(self._header))
        if self.info.photometric == "MONOCHROME1":
            frame = 255 - frame
        return np.ascontiguousarray(frame)


def _open_dicom(path: Path, has_preamble: bool) -> MediaSource:
    with _reading(path, "cannot read the DICOM header"):
        # pydicom reports a file that ends inside an element only as a warning: catch it.
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            # Values over 4 KB (the pixel data) stay on disk until asked for.
            with _BoundedFile(path) as handle:
                header = pydicom.dcmread(handle, defer_size="4 KB", force=not has_preamble)
        if any("End of file" in str(warning.message) for warning in caught):
            raise UserInputError(f"{path}: the DICOM file is cut short (it ends inside an element)")
        if len(header) == 0:
            problem = "the DICOM file is cut short or damaged" if has_preamble else "not a DICOM file"
            raise UserInputError(f"{path}: {problem}")
        if "PixelData" not in header:
            raise UserInputError(f"{path}: the DICOM file has no pixel data (not an image, or the file is incomplete)")
        pixel_data = header.get_item("PixelData", keep_deferred=True)
        if pixel_data.length != 0xFFFFFFFF and pixel_data.value_tell + pixel_data.length > path.stat().st_size:
            raise UserInputError(f"{path}: the DICOM file is cut short (pixel data incomplete)")
        frames, rows, columns, samples, photometric = _check_dicom_image(path, header)
        if pixel_data.length == 0xFFFFFFFF:
            _check_fragments(path, pixel_data.value_tell, frames, rows, columns)
        else:
            _check_native_length(path, header, pixel_data.length, frames, rows, columns, samples, photometric)
        info = MediaInfo(
            path=str(path),
            kind="dicom",
            frames=frames,
            width=columns,
            height=rows,
            fps=_dicom_fps(path, header),
            pixel_spacing_mm=_dicom_spacing(path, header),
            modality=_text_value(header, "Modality"),
            photometric=photometric,
        )
        source = _DicomSource(path, info, header)
    source.read_frame(0)
    if info.frames > 1:
        source.read_frame(info.frames - 1)
    return source


def _int_value(path: Path, header: pydicom.Dataset, keyword: str, default: int | None = None) -> int:
    """A header integer; absent or empty -> ``default`` (a refusal when there is none)."""
    try:
        value = header.get(keyword)
        if value is None or value == "":
            if default is None:
                raise UserInputError(f"{path}: the DICOM header has no {keyword}")
            return default
        number = float(value[0] if isinstance(value, pydicom.multival.MultiValue) else value)
    except (TypeError, ValueError, IndexError, OverflowError):
        raise UserInputError(f"{path}: the DICOM header's {keyword} is not a number") from None
    if not math.isfinite(number) or number != int(number):
        raise UserInputError(f"{path}: the DICOM header's {keyword} ({number:g}) is not a whole number")
    return int(number)


def _text_value(header: pydicom.Dataset, keyword: str) -> str | None:
    value = header.get(keyword)
    return str(value).strip() or None if value is not None else None


def _check_dicom_image(path: Path, header: pydicom.Dataset) -> tuple[int, int, int, int, str]:
    """The header values the readers use, checked: (frames, rows, columns, samples, photometric)."""
    frames = _int_value(path, header, "NumberOfFrames", default=1)
    rows = _int_value(path, header, "Rows", default=0)
    columns = _int_value(path, header, "Columns", default=0)
    samples = _int_value(path, header, "SamplesPerPixel", default=1)
    bits = _int_value(path, header, "BitsAllocated", default=0)
    stored = _int_value(path, header, "BitsStored", default=bits)
    if rows < 1 or columns < 1:
        raise UserInputError(f"{path}: the DICOM file has no image size (Rows/Columns)")
    if not 1 <= frames <= MAX_FRAMES:
        raise UserInputError(f"{path}: the DICOM header's NumberOfFrames ({frames}) is out of range (1 to {MAX_FRAMES})")
    if samples not in (1, 3):
        raise UserInputError(f"{path}: the DICOM header's SamplesPerPixel ({samples}) is not 1 or 3")
    if bits not in (1, 8, 16, 32) or not 1 <= stored <= bits:
        raise UserInputError(f"{path}: the DICOM header's BitsAllocated/BitsStored ({bits}/{stored}) are not supported")
    if rows * columns * samples > MAX_FRAME_SAMPLES:
        raise UserInputError(
            f"{path}: a frame of {columns}x{rows}x{samples} is larger than the app reads ({MAX_FRAME_SAMPLES // 1_000_000} M samples)"
        )
    photometric = _text_value(header, "PhotometricInterpretation") or ("MONOCHROME2" if samples == 1 else "RGB")
    if photometric not in PHOTOMETRIC_SAMPLES:
        raise UserInputError(f"{path}: photometric interpretation {photometric[:40]!r} is not supported")
    if PHOTOMETRIC_SAMPLES[photometric] != samples:
        raise UserInputError(f"{path}: photometric interpretation {photometric} does not fit SamplesPerPixel {samples}")
    if photometric == "PALETTE COLOR" and stored > 16:
        raise UserInputError(f"{path}: a PALETTE COLOR image with {stored} stored bits is not supported")
    return frames, rows, columns, samples, photometric


def _check_native_length(path, header, length, frames, rows, columns, samples, photometric) -> None:
    """Uncompressed pixel data must hold the frames the header declares."""
    bits = int(header.BitsAllocated)
    values = rows * columns * (2 if photometric == "YBR_FULL_422" else samples)
    needed = math.ceil(frames * values * bits / 8)
    if length < needed:
        held = length * 8 // max(values * bits, 1)
        raise UserInputError(
            f"{path}: the pixel data holds {held} of the {frames} frames of {columns}x{rows} the header declares "
            "(damaged file or wrong NumberOfFrames)"
        )


def _check_fragments(path: Path, offset: int, frames: int, rows: int, columns: int) -> None:
    """Walk the encapsulated pixel data's items (without reading them) and check every JPEG /
    JPEG-LS / JPEG 2000 codestream's declared size against the header before anything decodes it."""
    size = path.stat().st_size
    fragments = 0
    with open(path, "rb") as handle:
        handle.seek(offset)
        while True:
            item = handle.read(8)
            if len(item) < 8:
                raise UserInputError(f"{path}: the DICOM file is cut short (pixel data incomplete)")
            group, element, length = struct.unpack("<HHI", item)
            if (group, element) == (0xFFFE, 0xE0DD):
                break
            if (group, element) != (0xFFFE, 0xE000) or length == 0xFFFFFFFF:
                raise UserInputError(f"{path}: the compressed pixel data is damaged (bad item)")
            start = handle.tell()
            if start + length > size:
                raise UserInputError(f"{path}: the DICOM file is cut short (pixel data incomplete)")
            if start > offset + 8:  # the first item is the offset table
                fragments += 1
                declared = _declared_size(path, handle.read(min(length, 65536)))
                if declared is not None:
                    width, height, components = declared
                    if width * height * max(components, 1) > MAX_FRAME_SAMPLES:
                        raise UserInputError(
                            f"{path}: a compressed frame declares {width}x{height}x{components}, larger than the app reads"
                        )
                    if (width, height) != (columns, rows):
                        raise UserInputError(
                            f"{path}: a compressed frame declares {width}x{height}, the header says {columns}x{rows} (damaged file)"
                        )
            handle.seek(start + length)
    if fragments < frames:
        raise UserInputError(f"{path}: the pixel data holds {fragments} compressed fragments for {frames} frames (damaged file)")


def _declared_size(path: Path, data: bytes) -> tuple[int, int, int] | None:
    """(width, height, components) a JPEG, JPEG-LS or JPEG 2000 codestream declares, or None."""
    if data[4:8] == b"jP  ":  # a JP2 file: the codestream follows its boxes
        data = data[max(data.find(b"\xff\x4f\xff\x51"), 0) :]
    if data.startswith(b"\xff\x4f\xff\x51") and len(data) >= 42:  # J2K: SOC, SIZ
        x, y, x0, y0, tile_x, tile_y, tile_x0, tile_y0 = struct.unpack(">IIIIIIII", data[8:40])
        components = struct.unpack(">H", data[40:42])[0]
        tiles = math.ceil(max(x - tile_x0, 0) / max(tile_x, 1)) * math.ceil(max(y - tile_y0, 0) / max(tile_y, 1))
        if tiles > 65535:  # the standard's limit; tiny tiles make the decoder's bookkeeping explode
            raise UserInputError(f"{path}: a compressed frame declares {tiles} tiles (damaged file)")
        return max(x - x0, 0), max(y - y0, 0), components
    if not data.startswith(b"\xff\xd8"):
        return None
    position = 2
    while position + 4 <= len(data):  # JPEG markers up to the first SOF
        if data[position] != 0xFF:
            return None
        marker = data[position + 1]
        if marker == 0xFF:
            position += 1
            continue
        length = struct.unpack(">H", data[position + 2 : position + 4])[0]
        if marker in (0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF, 0xF7):
            if position + 10 > len(data):
                return None
            height, width = struct.unpack(">HH", data[position + 5 : position + 9])
            return width, height, data[position + 9]
        position += 2 + length
    return None


def _dicom_number(header: pydicom.Dataset, keyword: str) -> float | None:
    """A header number, or None when absent or not a number."""
    try:
        value = header.get(keyword)
        return None if value is None or value == "" else float(value)
    except (TypeError, ValueError, OverflowError):
        return None


def _dicom_fps(path: Path, header: pydicom.Dataset) -> float | None:
    """FrameTime (ms per frame), else CineRate, else RecommendedDisplayFrameRate; a value outside
    ``FPS_RANGE`` (inf, 0, negative, absurd) is taken as unknown, with a warning in the log."""
    frame_time = _dicom_number(header, "FrameTime")
    candidates = [("FrameTime", 1000.0 / frame_time if frame_time else None)]
    candidates += [(keyword, _dicom_number(header, keyword)) for keyword in ("CineRate", "RecommendedDisplayFrameRate")]
    for keyword, fps in candidates:
        if fps is None:
            continue
        if math.isfinite(fps) and FPS_RANGE[0] <= fps <= FPS_RANGE[1]:
            return fps
        log.warning("%s: ignoring the frame rate from %s (%g fps is out of range)", path, keyword, fps)
    return None


def _plausible_spacing(values: tuple[float, float]) -> bool:
    return all(math.isfinite(v) and SPACING_RANGE_MM[0] <= v <= SPACING_RANGE_MM[1] for v in values)


def _dicom_spacing(path: Path, header: pydicom.Dataset) -> tuple[float, float] | None:
    """(x, y) mm per pixel: PixelSpacing (row, column order in the file), else the first ultrasound
    region whose physical units are cm in both directions (PhysicalDeltaX/Y are cm per pixel).
    A value outside ``SPACING_RANGE_MM`` (inf, 0, 1e308, ...) is taken as unknown, with a warning."""
    try:
        spacing = header.get("PixelSpacing")
        if spacing is not None and len(spacing) == 2:
            values = (float(spacing[1]), float(spacing[0]))
            if _plausible_spacing(values):
                return values
            log.warning("%s: ignoring PixelSpacing %s (out of range)", path, values)
        for region in header.get("SequenceOfUltrasoundRegions") or []:
            if region.get("PhysicalUnitsXDirection") == 3 and region.get("PhysicalUnitsYDirection") == 3:
                values = (abs(float(region.PhysicalDeltaX)) * 10.0, abs(float(region.PhysicalDeltaY)) * 10.0)
                if _plausible_spacing(values):
                    return values
                log.warning("%s: ignoring the ultrasound region's spacing %s (out of range)", path, values)
    except (TypeError, ValueError, AttributeError, OverflowError):
        log.warning("%s: ignoring a pixel spacing that is not a number", path)
    return None


def _dicom_window(header: pydicom.Dataset) -> tuple[float, float] | None:
    """The first (WindowCenter, WindowWidth) pair, or None (also when it is not usable)."""
    try:
        centre, width = _first_value(header.get("WindowCenter")), _first_value(header.get("WindowWidth"))
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if not (math.isfinite(centre) and math.isfinite(width) and width > 0):
        return None
    return centre, width


def _first_value(value) -> float:
    return float(value[0]) if isinstance(value, pydicom.multival.MultiValue) else float(value)


def _palette_table(header: pydicom.Dataset) -> np.ndarray:
    """(2**BitsStored, 3) uint8 RGB for every possible stored value of a PALETTE COLOR image.

    16-bit LUT entries keep their high byte, except in a LUT whose entries all fit in 8 bits
    (some files declare 16-bit entries but store 8-bit values): those are used as they are.
    """
    bits = int(header.BitsStored)
    entries = apply_color_lut(np.arange(2**bits, dtype=np.uint16 if bits > 8 else np.uint8), header)
    if entries.max() > 255:
        entries = entries >> 8
    return entries.astype(np.uint8)


# ---------------------------------------------------------------------------------------- video

# Passthrough: one output picture per decoded frame (no duplicated or dropped frames), as counted.
_FFMPEG_OUTPUT = ["-map", "0:v:0", "-fps_mode", "passthrough"]


class _VideoSource(MediaSource):
    def __init__(self, path: Path, info: MediaInfo, gray: bool) -> None:
        super().__init__(path, info)
        self._pix_fmt, self._bits_per_pixel = ("gray", 8) if gray else ("rgb24", 24)
        self._shape = (info.height, info.width) if gray else (info.height, info.width, 3)

    def iter_frames(self) -> Iterator[np.ndarray]:
        yield from self._decode([], self.info.frames, "frame")

    def read_frame(self, index: int) -> np.ndarray:
        self._check_index(index)
        # ffmpeg decodes up to the frame and hands over only that one.
        frames = self._decode(["-vf", f"select=eq(n\\,{index})", "-frames:v", "1"], 1, f"frame {index}")
        try:
            return next(frames)
        finally:
            frames.close()

    def _decode(self, output_params: list[str], count: int, what: str) -> Iterator[np.ndarray]:
        """Run ffmpeg and yield ``count`` frames; a shorter stream is an error naming the file."""
        with _reading(self.path, f"cannot decode the video {what}"):
            frames = imageio_ffmpeg.read_frames(
                str(self.path),
                pix_fmt=self._pix_fmt,
                bits_per_pixel=self._bits_per_pixel,
                output_params=_FFMPEG_OUTPUT + output_params,
            )
            next(frames)  # the metadata dict
        try:
            for index in range(count):
                with _reading(self.path, f"cannot decode the video {what}"):
                    data = next(frames, None)
                    if data is None:
                        raise UserInputError(f"{self.path}: the video ended after {index} of {count} frames")
                    frame = np.frombuffer(data, np.uint8).reshape(self._shape).copy()
                yield frame
        finally:
            frames.close()


def _open_video(path: Path) -> MediaSource:
    with _reading(path, "cannot read the video"):
        try:
            frames_gen = imageio_ffmpeg.read_frames(str(path), output_params=_FFMPEG_OUTPUT)
            meta = next(frames_gen)
            frames_gen.close()
            count, _seconds = imageio_ffmpeg.count_frames_and_secs(str(path))
        except (OSError, RuntimeError) as exc:
            if "does not contain any stream" in str(exc) or "matches no streams" in str(exc):
                raise UserInputError(f"{path}: the file has no video frames") from exc
            raise
    if count == 0:
        raise UserInputError(f"{path}: the file has no video frames")
    width, height = meta["size"]
    if width * height * 3 > MAX_FRAME_SAMPLES:
        raise UserInputError(f"{path}: a frame of {width}x{height} is larger than the app reads")
    fps = float(meta["fps"]) if meta.get("fps") else None
    if fps is not None and not (math.isfinite(fps) and FPS_RANGE[0] <= fps <= FPS_RANGE[1]):
        log.warning("%s: ignoring the video's frame rate (%g fps is out of range)", path, fps)
        fps = None
    info = MediaInfo(
        path=str(path),
        kind="video",
        frames=int(count),
        width=int(width),
        height=int(height),
        fps=fps,
        pixel_spacing_mm=None,
        modality=None,
        photometric=None,
    )
    return _VideoSource(path, info, gray=str(meta.get("pix_fmt", "")).startswith("gray"))


# ---------------------------------------------------------------------------------------- images


class _ImageSource(MediaSource):
    """One image file (1 frame) or a folder's images in natural order (one frame each)."""

    def __init__(self, path: Path, info: MediaInfo, files: list[Path]) -> None:
        super().__init__(path, info)
        self._files = files

    def iter_frames(self) -> Iterator[np.ndarray]:
        for index in range(self.info.frames):
            yield self.read_frame(index)

    def read_frame(self, index: int) -> np.ndarray:
        self._check_index(index)
        frame = _read_image(self._files[index])
        if (frame.shape[1], frame.shape[0]) != (self.info.width, self.info.height):
            raise UserInputError(
                f"{self._files[index]}: image is {frame.shape[1]}x{frame.shape[0]}, "
                f"the clip's first image is {self.info.width}x{self.info.height}"
            )
        return frame


def _read_image(path: Path) -> np.ndarray:
    """PNG/JPEG/BMP/TIFF (8/16-bit, gray/RGB/RGBA) -> uint8 (H, W) or (H, W, 3) RGB; alpha dropped."""
    with _reading(path, "cannot read the image"):
        data = cv2.imdecode(np.fromfile(path, np.uint8), cv2.IMREAD_UNCHANGED)
        if data is None:
            raise UserInputError(f"{path}: not a readable image")
        if data.ndim == 3 and data.shape[2] == 4:
            data = cv2.cvtColor(data, cv2.COLOR_BGRA2RGB)
        elif data.ndim == 3 and data.shape[2] == 3:
            data = cv2.cvtColor(data, cv2.COLOR_BGR2RGB)
        return data if data.dtype == np.uint8 else _scale_to_uint8(data)


def _open_images(path: Path, files: list[Path], kind: str) -> MediaSource:
    first = _read_image(files[0])
    info = MediaInfo(
        path=str(path),
        kind=kind,
        frames=len(files),
        width=int(first.shape[1]),
        height=int(first.shape[0]),
        fps=None,
        pixel_spacing_mm=None,
        modality=None,
        photometric=None,
    )
    source = _ImageSource(path, info, files)
    if len(files) > 1:
        source.read_frame(len(files) - 1)
    return source


def _natural_key(path: Path) -> list:
    """``img2.png`` before ``img10.png``: digit runs compare as numbers."""
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", path.name)]


def _open_image_folder(path: Path) -> MediaSource:
    try:
        files = [
            entry for entry in path.iterdir()
            if entry.is_file() and not entry.name.startswith(".") and entry.suffix.lower() in IMAGE_SUFFIXES
        ]
    except OSError as exc:
        raise UserInputError(f"{path}: cannot list the folder ({exc.strerror})") from exc
    if not files:
        raise UserInputError(f"{path}: the folder has no images (PNG/JPEG/BMP/TIFF)")
    return _open_images(path, sorted(files, key=_natural_key), kind="image_folder")

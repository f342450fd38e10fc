"""Lazy readers for ultrasound clips: DICOM, video, single images and folders of numbered images.

``open_media(path)`` reads only the header (and decodes the first and last frame to check that the
pixel data is there); frames are decoded one at a time while you iterate. Every problem with the
input becomes a :class:`UserInputError` whose one-line message names the file. The rules for colour,
bit depth, pixel spacing and frame rate are in docs/MEDIA.md.
"""

from __future__ import annotations

import contextlib
import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import cv2
import imageio_ffmpeg
import numpy as np
import pydicom
from pydicom.pixels import apply_color_lut, apply_modality_lut, iter_pixels, pixel_array

from usanimator_app.core.errors import UserInputError
from usanimator_app.core.preprocess import to_gray_uint8

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")
VIDEO_SUFFIXES = (".mp4", ".m4v", ".mov", ".avi", ".mpeg", ".mpg", ".gif")
DICOM_SUFFIXES = (".dcm", ".dicom")
SUPPORTED = "DICOM, MP4/MOV/AVI/MPEG/GIF video, PNG/JPEG/BMP/TIFF image or a folder of images"


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
    kind = _kind_from_content(head) or _kind_from_suffix(path)
    if kind == "dicom":
        return _open_dicom(path, has_preamble=head[128:132] == b"DICM")
    if kind == "video":
        return _open_video(path)
    if kind == "image":
        return _open_images(path, [path], kind="image")
    raise UserInputError(f"{path}: unsupported file type (expected {SUPPORTED})")


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
    """Turn any exception from a decoder into a UserInputError: ``"<path>: <problem> (<reason>)"``."""
    try:
        yield
    except UserInputError:
        raise
    except Exception as exc:  # the reader boundary: decoders raise many types for bad files
        raise UserInputError(f"{path}: {problem} ({_reason(exc)})") from exc


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


class _DicomSource(MediaSource):
    def __init__(self, path: Path, info: MediaInfo, header: pydicom.Dataset) -> None:
        super().__init__(path, info)
        self._header = header
        self._palette = _palette_table(header) if info.photometric == "PALETTE COLOR" else None

    def iter_frames(self) -> Iterator[np.ndarray]:
        raw_frames = iter_pixels(self.path)
        try:
            for index in range(self.info.frames):
                with _reading(self.path, f"cannot decode frame {index}"):
                    frame = self._for_display(next(raw_frames))
                yield frame
        finally:
            raw_frames.close()

    def read_frame(self, index: int) -> np.ndarray:
        self._check_index(index)
        with _reading(self.path, f"cannot decode frame {index}"):
            return self._for_display(pixel_array(self.path, index=index))

    def _for_display(self, raw: np.ndarray) -> np.ndarray:
        """Decoded frame (YBR already converted to RGB by pydicom) -> uint8 (H, W) or (H, W, 3)."""
        if self._palette is not None:
            return np.take(self._palette, raw.astype(np.intp), axis=0, mode="clip")
        if raw.dtype == np.uint8:
            frame = raw
        elif raw.ndim == 3:
            frame = _scale_to_uint8(raw)
        else:
            frame = _scale_to_uint8(apply_modality_lut(raw, self._header), _dicom_window(self._header))
        if self.info.photometric == "MONOCHROME1":
            frame = 255 - frame
        return np.ascontiguousarray(frame)


def _open_dicom(path: Path, has_preamble: bool) -> MediaSource:
    with _reading(path, "cannot read the DICOM header"):
        # pydicom reports a file that ends inside an element only as a warning: catch it.
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            # Values over 4 KB (the pixel data) stay on disk until asked for.
            header = pydicom.dcmread(path, defer_size="4 KB", force=not has_preamble)
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
        if not header.get("Rows") or not header.get("Columns"):
            raise UserInputError(f"{path}: the DICOM file has no image size (Rows/Columns)")
        info = MediaInfo(
            path=str(path),
            kind="dicom",
            frames=int(header.get("NumberOfFrames") or 1),
            width=int(header.Columns),
            height=int(header.Rows),
            fps=_dicom_fps(header),
            pixel_spacing_mm=_dicom_spacing(header),
            modality=header.get("Modality") or None,
            photometric=header.get("PhotometricInterpretation") or None,
        )
        source = _DicomSource(path, info, header)
    source.read_frame(0)
    if info.frames > 1:
        source.read_frame(info.frames - 1)
    return source


def _dicom_fps(header: pydicom.Dataset) -> float | None:
    """FrameTime (ms per frame), else CineRate, else RecommendedDisplayFrameRate."""
    frame_time = header.get("FrameTime")
    if frame_time and float(frame_time) > 0:
        return 1000.0 / float(frame_time)
    for keyword in ("CineRate", "RecommendedDisplayFrameRate"):
        rate = header.get(keyword)
        if rate and float(rate) > 0:
            return float(rate)
    return None


def _dicom_spacing(header: pydicom.Dataset) -> tuple[float, float] | None:
    """(x, y) mm per pixel: PixelSpacing (row, column order in the file), else the first ultrasound
    region whose physical units are cm in both directions (PhysicalDeltaX/Y are cm per pixel)."""
    spacing = header.get("PixelSpacing")
    if spacing and len(spacing) == 2 and float(spacing[0]) > 0 and float(spacing[1]) > 0:
        return (float(spacing[1]), float(spacing[0]))
    for region in header.get("SequenceOfUltrasoundRegions") or []:
        if region.get("PhysicalUnitsXDirection") == 3 and region.get("PhysicalUnitsYDirection") == 3:
            delta_x, delta_y = abs(float(region.PhysicalDeltaX)), abs(float(region.PhysicalDeltaY))
            if delta_x > 0 and delta_y > 0:
                return (delta_x * 10.0, delta_y * 10.0)
    return None


def _dicom_window(header: pydicom.Dataset) -> tuple[float, float] | None:
    """The first (WindowCenter, WindowWidth) pair, or None."""
    centre, width = header.get("WindowCenter"), header.get("WindowWidth")
    if centre is None or width is None:
        return None
    return _first_value(centre), _first_value(width)


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
    info = MediaInfo(
        path=str(path),
        kind="video",
        frames=int(count),
        width=int(width),
        height=int(height),
        fps=float(meta["fps"]) if meta.get("fps") else None,
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

"""Writers for results and generated clips: MP4 (H.264), numbered PNGs, DICOM multi-frame cine,
and the settings JSON written beside an export of edited motion (``write_settings``).

Every writer is atomic: it writes to a temporary file or folder next to the target and renames it
into place only when complete, so a crash never leaves a half-written result. Frames are uint8
(H, W) grey or (H, W, 3) RGB.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Iterable

import cv2
import imageio_ffmpeg
import numpy as np
import pydicom
from pydicom.dataset import FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, UltrasoundMultiFrameImageStorage, generate_uid

from usanimator_app.core.atomic import atomic_path, write_text_atomic

_PNG_DIGITS = 5


def _check_frame(frame: np.ndarray) -> np.ndarray:
    frame = np.asarray(frame)
    if frame.dtype != np.uint8 or not (frame.ndim == 2 or (frame.ndim == 3 and frame.shape[2] == 3)):
        raise ValueError(f"expected a uint8 (H, W) or (H, W, 3) frame, got {frame.dtype} {frame.shape}")
    return frame


class Mp4Writer:
    """H.264 / yuv420p MP4 written frame by frame, without metadata, renamed into place on close.

    ``with Mp4Writer("out.mp4", fps=20) as writer: writer.write(frame)``. All frames must share one
    size and colour layout; odd widths/heights are padded with one black column/row (right/bottom).
    """

    def __init__(self, path: str | os.PathLike, fps: float, *, crf: int = 18) -> None:
        if fps <= 0:
            raise ValueError(f"fps must be positive, got {fps}")
        self.path = Path(path)
        self.fps = float(fps)
        self.crf = int(crf)
        self.frames_written = 0
        self._stack = contextlib.ExitStack()
        self._tmp = self._stack.enter_context(atomic_path(self.path))
        self._encoder = None
        self._shape: tuple[int, ...] | None = None

    def _start(self, shape: tuple[int, ...]) -> None:
        height, width = shape[:2]
        size = (width + width % 2, height + height % 2)
        output_params = [
            "-crf", str(self.crf),
            "-preset", "medium",
            "-map_metadata", "-1",
            "-metadata:s:v:0", "encoder=",
            "-fflags", "+bitexact",
            "-flags:v", "+bitexact",
            "-bsf:v", "filter_units=remove_types=6",  # drop the x264 SEI (encoder name and settings)
            "-movflags", "+faststart",
        ]
        self._encoder = imageio_ffmpeg.write_frames(
            str(self._tmp), size,
            pix_fmt_in="gray" if len(shape) == 2 else "rgb24",
            pix_fmt_out="yuv420p", fps=self.fps, quality=None, codec="libx264",
            macro_block_size=1, ffmpeg_log_level="error", output_params=output_params,
        )
        self._encoder.send(None)
        self._shape = shape

    def write(self, frame: np.ndarray) -> None:
        """Append one uint8 (H, W) or (H, W, 3) frame."""
        frame = _check_frame(frame)
        if self._encoder is None:
            self._start(frame.shape)
        elif frame.shape != self._shape:
            raise ValueError(f"frame {self.frames_written} has shape {frame.shape}, expected {self._shape}")
        height, width = frame.shape[:2]
        if height % 2 or width % 2:
            pad = ((0, height % 2), (0, width % 2)) + ((0, 0),) * (frame.ndim - 2)
            frame = np.pad(frame, pad)
        self._encoder.send(np.ascontiguousarray(frame))
        self.frames_written += 1

    def close(self) -> None:
        """Finish the file and rename it into place (a writer with no frames is an error)."""
        if self._encoder is None:
            error = ValueError(f"{self.path}: no frames were written")
            self._discard(error)
            raise error
        self._encoder.close()
        self._encoder = None
        self._stack.close()

    def _discard(self, error: BaseException) -> None:
        """Stop the encoder and remove the temporary file; the target is left untouched."""
        if self._encoder is not None:
            with contextlib.suppress(Exception):
                self._encoder.close()
            self._encoder = None
        self._stack.__exit__(type(error), error, error.__traceback__)

    def __enter__(self) -> "Mp4Writer":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self._discard(exc)


def write_mp4(frames: Iterable[np.ndarray], path: str | os.PathLike, fps: float, *, crf: int = 18) -> int:
    """Write ``frames`` (iterable of uint8 (H, W) or (H, W, 3)) as an MP4; returns the frame count."""
    with Mp4Writer(path, fps, crf=crf) as writer:
        for frame in frames:
            writer.write(frame)
    return writer.frames_written


def write_png_sequence(frames: Iterable[np.ndarray], folder: str | os.PathLike, *, prefix: str = "frame_") -> int:
    """Write lossless ``<prefix>00000.png`` ... into ``folder`` (replaced as a whole); returns the count."""
    folder = Path(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", suffix=".tmp", dir=folder.parent))
    try:
        count = 0
        for count, frame in enumerate(frames, start=1):
            frame = _check_frame(frame)
            if frame.ndim == 3:
                frame = cv2.cvtColor(frame, cv2.COLOR_RGB2BGR)
            ok, data = cv2.imencode(".png", frame)
            if not ok:
                raise OSError(f"{folder}: PNG encoding failed for frame {count - 1}")
            (tmp / f"{prefix}{count - 1:0{_PNG_DIGITS}d}.png").write_bytes(data.tobytes())
        os.chmod(tmp, 0o755)  # mkdtemp creates 0700; an exported folder is for sharing
        if folder.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", suffix=".old", dir=folder.parent))
            os.replace(folder, old / folder.name)
            os.replace(tmp, folder)
            shutil.rmtree(old)
        else:
            os.replace(tmp, folder)
        return count
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)


def write_dicom_cine(
    frames: Iterable[np.ndarray],
    path: str | os.PathLike,
    *,
    fps: float,
    pixel_spacing_mm: float | tuple[float, float],
) -> None:
    """Write an Ultrasound Multi-frame Image (MONOCHROME2, 8 bit) without identifying attributes.

    ``frames``: uint8 (H, W) frames (RGB frames are converted to grey). ``pixel_spacing_mm``: one
    value or (x, y); it is stored in the ultrasound region (PhysicalDeltaX/Y, cm).
    """
    stack = []
    for frame in frames:
        frame = _check_frame(frame)
        stack.append(cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY) if frame.ndim == 3 else frame)
    if not stack:
        raise ValueError(f"{path}: no frames to write")
    if any(f.shape != stack[0].shape for f in stack):
        raise ValueError(f"{path}: frames differ in size")
    pixels = np.ascontiguousarray(np.stack(stack))
    n_frames, rows, cols = pixels.shape
    spacing_x, spacing_y = (
        (float(pixel_spacing_mm),) * 2 if np.isscalar(pixel_spacing_mm) else map(float, pixel_spacing_mm)
    )

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = UltrasoundMultiFrameImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian

    ds = pydicom.Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = UltrasoundMultiFrameImageStorage
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID = generate_uid()
    ds.SeriesInstanceUID = generate_uid()
    ds.Modality = "US"
    ds.ImageType = ["DERIVED", "SECONDARY"]
    ds.SeriesNumber = 1
    ds.InstanceNumber = 1
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = 8
    ds.BitsStored = 8
    ds.HighBit = 7
    ds.PixelRepresentation = 0
    ds.Rows = rows
    ds.Columns = cols
    ds.NumberOfFrames = n_frames
    ds.FrameTime = f"{1000.0 / fps:.4f}"
    ds.CineRate = int(round(fps))
    ds.RecommendedDisplayFrameRate = int(round(fps))
    ds.FrameIncrementPointer = pydicom.tag.Tag("FrameTime")

    region = pydicom.Dataset()
    region.RegionSpatialFormat = 1  # 2D tissue image
    region.RegionDataType = 1
    region.RegionFlags = 0
    region.RegionLocationMinX0 = 0
    region.RegionLocationMinY0 = 0
    region.RegionLocationMaxX1 = cols - 1
    region.RegionLocationMaxY1 = rows - 1
    region.PhysicalUnitsXDirection = 3  # cm
    region.PhysicalUnitsYDirection = 3
    region.PhysicalDeltaX = spacing_x / 10.0
    region.PhysicalDeltaY = spacing_y / 10.0
    ds.SequenceOfUltrasoundRegions = [region]

    ds.PixelData = pixels.tobytes()
    with atomic_path(path) as tmp:
        ds.save_as(tmp, enforce_file_format=True)


def settings_path(output: str | os.PathLike) -> Path:
    """Where the settings of an export go: ``clip.mp4`` -> ``clip.mp4.settings.json`` beside it."""
    output = Path(output)
    return output.with_name(output.name + ".settings.json")


def write_settings(output: str | os.PathLike, settings: dict) -> Path:
    """Write the settings that remake the export ``output`` beside it, atomically; returns the path."""
    path = settings_path(output)
    write_text_atomic(path, json.dumps(settings, indent=2) + "\n")
    return path

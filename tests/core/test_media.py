"""core.media: every reader, the colour / bit-depth / spacing / fps rules, and bad inputs."""

from __future__ import annotations

import importlib.metadata
import re
import subprocess
import warnings
from pathlib import Path

import cv2
import imageio.v3 as iio
import imageio_ffmpeg
import numpy as np
import pydicom
import pydicom.examples
import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, UltrasoundMultiFrameImageStorage, generate_uid

from usanimator_app.core.errors import UserInputError
from usanimator_app.core.media import MediaInfo, open_media

US_SOP_CLASSES = {
    "1.2.840.10008.5.1.4.1.1.3",  # Ultrasound Multi-frame Image Storage (retired)
    "1.2.840.10008.5.1.4.1.1.3.1",  # Ultrasound Multi-frame Image Storage
    "1.2.840.10008.5.1.4.1.1.6",  # Ultrasound Image Storage (retired)
    "1.2.840.10008.5.1.4.1.1.6.1",  # Ultrasound Image Storage
    "1.2.840.10008.5.1.4.1.1.6.2",  # Enhanced US Volume Storage
}


def _dicom_folders() -> list[Path]:
    """pydicom's own example/test files, and pydicom-data's files when that package is installed."""
    folders = [Path(pydicom.examples.ct.filename).parent]
    try:
        folders.append(Path(importlib.metadata.distribution("pydicom-data").locate_file("data_store/data")))
    except importlib.metadata.PackageNotFoundError:
        pass
    return folders


def _us_dicom_files() -> list[Path]:
    found = []
    for folder in _dicom_folders():
        for path in sorted(folder.glob("*.dcm")):
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    header = pydicom.dcmread(path, stop_before_pixels=True)
            except Exception:  # pydicom's test folder holds deliberately broken files
                continue
            if header.get("Modality") == "US" or str(header.get("SOPClassUID", "")) in US_SOP_CLASSES:
                found.append(path)
    return found


US_DICOM_FILES = _us_dicom_files()
PYDICOM_DATA_FILES = {p.name: p for p in US_DICOM_FILES if p.parent.name == "data" and p.parent.parent.name == "data_store"}


def _needs_pydicom_data(*names: str) -> list[Path]:
    if not all(name in PYDICOM_DATA_FILES for name in names):
        pytest.skip("pydicom-data is not installed")
    return [PYDICOM_DATA_FILES[name] for name in names]


def _check_frame(frame: np.ndarray, info: MediaInfo) -> None:
    assert frame.dtype == np.uint8
    assert frame.shape in ((info.height, info.width), (info.height, info.width, 3))


# ---------------------------------------------------------------------------------------- DICOM


def test_all_us_dicom_files_are_found():
    # pydicom's folder alone holds 5 US files; with pydicom-data there are 21.
    expected = 21 if any(p.parent.name == "data" for p in US_DICOM_FILES) else 5
    assert len(US_DICOM_FILES) == expected, [p.name for p in US_DICOM_FILES]


@pytest.mark.parametrize("path", US_DICOM_FILES, ids=lambda p: p.name)
def test_us_dicom_decodes_every_frame(path):
    source = open_media(path)
    header = pydicom.dcmread(path, stop_before_pixels=True)
    assert source.info.kind == "dicom"
    assert source.info.frames == int(header.get("NumberOfFrames") or 1)
    assert (source.info.width, source.info.height) == (header.Columns, header.Rows)
    assert source.info.photometric == header.PhotometricInterpretation
    assert source.info.modality == "US"
    count = 0
    for frame in source.iter_frames():
        _check_frame(frame, source.info)
        count += 1
    assert count == source.info.frames
    np.testing.assert_array_equal(source.read_frame(count - 1), frame)
    gray = next(source.iter_gray())
    assert gray.shape == (source.info.height, source.info.width) and gray.dtype == np.uint8


def test_dicom_fps_and_spacing_from_the_examples():
    info = open_media(pydicom.examples.ybr_color.filename).info
    assert info.frames == 30
    assert info.fps == pytest.approx(1000 / 33.333)  # FrameTime 33.333 ms
    # SequenceOfUltrasoundRegions: PhysicalDeltaX/Y 0.05104970559477806 cm per pixel
    assert info.pixel_spacing_mm == pytest.approx((0.5104970559477806, 0.5104970559477806))
    assert open_media(pydicom.examples.rgb_color.filename).info.pixel_spacing_mm is None


def test_ybr_is_converted_to_rgb():
    frame = open_media(pydicom.examples.ybr_color.filename).read_frame(0).astype(int)
    # B-mode is gray: after YBR -> RGB most pixels have R == G == B (up to JPEG error). Left in
    # YBR, the chroma planes would sit near 128 while luma varies.
    near_gray = (np.abs(frame[..., 0] - frame[..., 1]) < 10) & (np.abs(frame[..., 1] - frame[..., 2]) < 10)
    assert near_gray.mean() > 0.9


def test_same_image_in_different_encodings_reads_the_same():
    little, big, rle = _needs_pydicom_data("OBXXXX1A.dcm", "OBXXXX1A_expb.dcm", "OBXXXX1A_rle.dcm")
    reference = open_media(little).read_frame(0)
    assert reference.shape == (600, 800, 3)  # PALETTE COLOR applied
    np.testing.assert_array_equal(open_media(big).read_frame(0), reference)
    np.testing.assert_array_equal(open_media(rle).read_frame(0), reference)
    aloka, aloka_big = _needs_pydicom_data("gdcm-US-ALOKA-16.dcm", "gdcm-US-ALOKA-16_big.dcm")  # 16-bit palette
    np.testing.assert_array_equal(open_media(aloka).read_frame(0), open_media(aloka_big).read_frame(0))
    rgb, j2k_lossless = _needs_pydicom_data("US1_UNCR.dcm", "US1_J2KR.dcm")  # RGB vs YBR_RCT JPEG 2000
    np.testing.assert_array_equal(open_media(rgb).read_frame(0), open_media(j2k_lossless).read_frame(0))
    planar, interleaved = _needs_pydicom_data("color-pl.dcm", "color-px.dcm")
    np.testing.assert_array_equal(open_media(planar).read_frame(0), open_media(interleaved).read_frame(0))


def _write_dicom(path: Path, pixels: np.ndarray, **elements) -> Path:
    """An uncompressed single- or multi-frame US DICOM; ``pixels`` (frames, H, W) uint8/uint16."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = UltrasoundMultiFrameImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = meta.MediaStorageSOPClassUID
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.Modality = "US"
    ds.Rows, ds.Columns = pixels.shape[1:]
    ds.NumberOfFrames = pixels.shape[0]
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = ds.BitsStored = pixels.itemsize * 8
    ds.HighBit = ds.BitsStored - 1
    ds.PixelRepresentation = 0
    for keyword, value in elements.items():
        setattr(ds, keyword, value)
    ds.PixelData = pixels.tobytes()
    ds.save_as(path, enforce_file_format=True)
    return path


def _region(units_x: int, units_y: int, delta_x: float, delta_y: float) -> Dataset:
    region = Dataset()
    region.RegionSpatialFormat = 1
    region.PhysicalUnitsXDirection, region.PhysicalUnitsYDirection = units_x, units_y
    region.PhysicalDeltaX, region.PhysicalDeltaY = delta_x, delta_y
    return region


def test_dicom_16bit_window_and_monochrome1(tmp_path):
    pixels = np.array([[[0, 1000, 1500, 2000, 4000]]], dtype=np.uint16)
    windowed = open_media(_write_dicom(tmp_path / "w.dcm", pixels, WindowCenter=1500, WindowWidth=1001))
    # Linear window 1000..2000 (DICOM: (x - (c - 0.5)) / (w - 1) + 0.5) -> 0..255
    np.testing.assert_array_equal(windowed.read_frame(0), [[0, 0, 128, 255, 255]])
    minmax = open_media(_write_dicom(tmp_path / "m.dcm", pixels))
    np.testing.assert_array_equal(minmax.read_frame(0), [[0, 64, 96, 128, 255]])
    inverted = open_media(_write_dicom(tmp_path / "i.dcm", pixels, PhotometricInterpretation="MONOCHROME1"))
    np.testing.assert_array_equal(inverted.read_frame(0), [[255, 191, 159, 127, 0]])


def test_dicom_8bit_multiframe_is_used_as_stored(tmp_path):
    pixels = np.arange(4 * 6 * 8, dtype=np.uint8).reshape(4, 6, 8)
    source = open_media(_write_dicom(tmp_path / "cine.dcm", pixels, FrameTime=40.0))
    assert (source.info.frames, source.info.fps) == (4, 25.0)
    np.testing.assert_array_equal(np.stack(list(source.iter_frames())), pixels)
    np.testing.assert_array_equal(source.read_frame(2), pixels[2])


@pytest.mark.parametrize(
    ("elements", "fps", "spacing"),
    [
        ({"CineRate": 30}, 30.0, None),
        ({"RecommendedDisplayFrameRate": 12}, 12.0, None),
        ({"FrameTime": 50.0, "CineRate": 30}, 20.0, None),
        ({"PixelSpacing": [0.2, 0.3]}, None, (0.3, 0.2)),  # (row, column) in the file -> (x, y)
        ({"SequenceOfUltrasoundRegions": [_region(3, 3, 0.01, 0.02)]}, None, (0.1, 0.2)),  # cm -> mm
        ({"SequenceOfUltrasoundRegions": [_region(4, 7, 0.01, 0.5), _region(3, 3, 0.03, 0.03)]}, None, (0.3, 0.3)),
        ({"SequenceOfUltrasoundRegions": [_region(0, 0, 0.01, 0.01)]}, None, None),  # units unknown
    ],
)
def test_dicom_fps_and_spacing_rules(tmp_path, elements, fps, spacing):
    info = open_media(_write_dicom(tmp_path / "x.dcm", np.zeros((2, 4, 4), np.uint8), **elements)).info
    assert info.fps == (pytest.approx(fps) if fps else None)
    assert info.pixel_spacing_mm == (pytest.approx(spacing) if spacing else None)
    assert info.as_dict()["pixel_spacing_mm"] == (pytest.approx(list(spacing)) if spacing else None)


# ---------------------------------------------------------------------------------------- video


def _moving_square(count: int = 12, width: int = 64, height: int = 48) -> list[np.ndarray]:
    """RGB frames: gray background, a bright 12x12 square moving 4 px right per frame."""
    frames = []
    for index in range(count):
        frame = np.full((height, width, 3), 40, np.uint8)
        frame[18:30, 4 + 4 * index:16 + 4 * index] = (230, 200, 170)
        frames.append(frame)
    return frames


def _write_video(path: Path, frames: list[np.ndarray], codec: str | None, pix_fmt_out: str) -> Path:
    height, width = frames[0].shape[:2]
    writer = imageio_ffmpeg.write_frames(
        str(path), (width, height), fps=10, codec=codec, pix_fmt_out=pix_fmt_out, macro_block_size=1
    )
    writer.send(None)
    for frame in frames:
        writer.send(frame)
    writer.close()
    return path


def _square_x(frame: np.ndarray) -> float:
    gray = frame if frame.ndim == 2 else frame.mean(axis=2)
    columns = np.flatnonzero(gray[24] > 120)
    return float(columns.mean())


@pytest.mark.parametrize(
    ("name", "codec", "pix_fmt_out"),
    [("clip.mp4", None, "yuv420p"), ("clip.avi", "mjpeg", "yuvj444p"), ("clip.mov", None, "yuv420p")],
)
def test_written_videos_read_back(tmp_path, name, codec, pix_fmt_out):
    frames = _moving_square()
    source = open_media(_write_video(tmp_path / name, frames, codec, pix_fmt_out))
    assert (source.info.kind, source.info.frames, source.info.width, source.info.height) == ("video", 12, 64, 48)
    assert source.info.fps == pytest.approx(10.0)
    decoded = list(source.iter_frames())
    assert len(decoded) == 12
    for index, frame in enumerate(decoded):
        _check_frame(frame, source.info)
        assert _square_x(frame) == pytest.approx(9.5 + 4 * index, abs=1.0)
    np.testing.assert_array_equal(source.read_frame(7), decoded[7])
    assert len(list(source.iter_frames())) == 12  # a second pass starts again at frame 0
    assert [g.shape for g in source.iter_gray()] == [(48, 64)] * 12


def test_gif_reads_back(tmp_path):
    frames = _moving_square(count=8)
    path = tmp_path / "clip.gif"
    iio.imwrite(path, frames, extension=".gif", duration=100, loop=0)
    source = open_media(path)
    assert (source.info.kind, source.info.frames) == ("video", 8)
    decoded = list(source.iter_frames())
    assert [_square_x(f) for f in decoded] == pytest.approx([9.5 + 4 * i for i in range(8)], abs=1.0)
    np.testing.assert_array_equal(source.read_frame(5), decoded[5])


def test_gray_video_gives_gray_frames(tmp_path):
    gray_frames = [f[:, :, 0].copy() for f in _moving_square(count=5)]
    path = tmp_path / "gray.avi"
    height, width = gray_frames[0].shape
    writer = imageio_ffmpeg.write_frames(
        str(path), (width, height), pix_fmt_in="gray", pix_fmt_out="gray", fps=10, codec="ffv1", macro_block_size=1
    )
    writer.send(None)
    for frame in gray_frames:
        writer.send(frame)
    writer.close()
    source = open_media(path)
    np.testing.assert_array_equal(np.stack(list(source.iter_frames())), np.stack(gray_frames))  # ffv1 is lossless


def _ffmpeg_frame_count(path: Path) -> int:
    """Frames in the first video stream, counted by ffmpeg without decoding (``-c copy``)."""
    result = subprocess.run(
        [imageio_ffmpeg.get_ffmpeg_exe(), "-i", str(path), "-map", "0:v:0", "-c", "copy", "-f", "null", "-"],
        capture_output=True, text=True, check=True,
    )
    return int(re.findall(r"frame=\s*(\d+)", result.stderr)[-1])


def test_real_clips_frame_counts(shared_clips):
    for clip in shared_clips:
        source = open_media(clip)
        decoded_count, _seconds = imageio_ffmpeg.count_frames_and_secs(str(clip))
        assert source.info.frames == _ffmpeg_frame_count(clip) == decoded_count, clip.name
        count = 0
        for frame in source.iter_frames():
            count += 1
        _check_frame(frame, source.info)
        assert count == source.info.frames, clip.name
        assert source.info.fps and source.info.fps > 0


def test_real_clip_random_access_matches_iteration(shared_clips):
    source = open_media(min(shared_clips, key=lambda clip: clip.stat().st_size))
    picked = (0, source.info.frames // 2, source.info.frames - 1)
    frames = {index: frame for index, frame in enumerate(source.iter_frames()) if index in picked}
    for index in picked:
        np.testing.assert_array_equal(source.read_frame(index), frames[index])
    with pytest.raises(IndexError):
        source.read_frame(source.info.frames)


# ---------------------------------------------------------------------------------------- images


def _rgb_test_image(height: int = 20, width: int = 30) -> np.ndarray:
    y, x = np.mgrid[0:height, 0:width]
    return np.stack([x * 8, y * 12, (x + y) * 4], axis=-1).astype(np.uint8)


@pytest.mark.parametrize(
    ("suffix", "channels"),
    [(suffix, channels) for suffix in (".png", ".bmp", ".tif", ".jpg") for channels in (1, 3, 4)
     if not (channels == 4 and suffix in (".bmp", ".jpg"))],  # no alpha in BMP / JPEG
)
def test_8bit_images(tmp_path, suffix, channels):
    rgb = _rgb_test_image()
    path = tmp_path / f"image{suffix}"
    if channels == 1:
        expected = rgb[:, :, 0]
        cv2.imwrite(str(path), expected)
    elif channels == 3:
        expected = rgb
        cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    else:
        expected = rgb  # alpha is dropped
        rgba = np.dstack([rgb, np.full(rgb.shape[:2], 128, np.uint8)])
        cv2.imwrite(str(path), cv2.cvtColor(rgba, cv2.COLOR_RGBA2BGRA))
    source = open_media(path)
    assert (source.info.kind, source.info.frames, source.info.width, source.info.height) == ("image", 1, 30, 20)
    assert source.info.fps is None
    frame = source.read_frame(0)
    assert frame.shape == expected.shape and frame.dtype == np.uint8
    tolerance = 12 if suffix == ".jpg" else 0
    assert np.abs(frame.astype(int) - expected).max() <= tolerance
    assert [f.shape for f in source.iter_frames()] == [expected.shape]


@pytest.mark.parametrize("suffix", [".png", ".tif"])
@pytest.mark.parametrize("channels", [1, 3, 4])
def test_16bit_images_use_the_frames_min_max(tmp_path, suffix, channels):
    ramp = np.linspace(1000, 5000, 30 * 20).reshape(20, 30).astype(np.uint16)
    data = ramp if channels == 1 else np.dstack([ramp] * channels)
    path = tmp_path / f"image16{suffix}"
    cv2.imwrite(str(path), data)
    frame = open_media(path).read_frame(0)
    expected = np.rint((ramp.astype(float) - 1000) * 255 / 4000).astype(np.uint8)
    if channels > 1:
        expected = np.dstack([expected] * 3)
    np.testing.assert_array_equal(frame, expected)


def test_numbered_folder_in_natural_order(tmp_path):
    folder = tmp_path / "clip"
    folder.mkdir()
    for number in (1, 2, 10, 3):
        cv2.imwrite(str(folder / f"frame_{number}.png"), np.full((8, 12), number * 10, np.uint8))
    (folder / "notes.txt").write_text("ignored")
    (folder / "clip.annotations.json").write_text("{}")
    source = open_media(folder)
    assert (source.info.kind, source.info.frames, source.info.width, source.info.height) == ("image_folder", 4, 12, 8)
    assert [int(f[0, 0]) for f in source.iter_frames()] == [10, 20, 30, 100]
    assert int(source.read_frame(3)[0, 0]) == 100
    assert [int(g[0, 0]) for g in source.iter_gray()] == [10, 20, 30, 100]


def test_folder_with_a_mismatched_image(tmp_path):
    folder = tmp_path / "clip"
    folder.mkdir()
    cv2.imwrite(str(folder / "1.png"), np.zeros((8, 12), np.uint8))
    cv2.imwrite(str(folder / "2.png"), np.zeros((9, 12), np.uint8))
    cv2.imwrite(str(folder / "3.png"), np.zeros((8, 12), np.uint8))
    source = open_media(folder)
    with pytest.raises(UserInputError, match=r"2\.png: image is 12x9"):
        list(source.iter_frames())


def test_colour_frames_become_bt601_luma(tmp_path):
    rgb = np.zeros((2, 4, 3), np.uint8)
    rgb[0, 0], rgb[0, 1], rgb[0, 2], rgb[0, 3] = (255, 0, 0), (0, 255, 0), (0, 0, 255), (90, 90, 90)
    path = tmp_path / "colours.png"
    cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    source = open_media(path)
    np.testing.assert_array_equal(source.read_frame(0), rgb)  # originals kept for display
    gray = next(source.iter_gray())
    np.testing.assert_array_equal(gray[0], [76, 150, 29, 90])  # 0.299 R + 0.587 G + 0.114 B


# ---------------------------------------------------------------------------------------- bad input


def test_bad_inputs_give_one_line_naming_the_file(bad_media_files):
    for kind, path in bad_media_files.items():
        with pytest.raises(UserInputError) as caught:
            open_media(path)
        message = str(caught.value)
        assert str(path) in message, (kind, message)
        assert "\n" not in message and len(message) < 400, (kind, message)


def test_bad_input_messages_say_what_is_wrong(bad_media_files):
    expected = {
        "missing": "no such file",
        "empty": "empty",
        "truncated_dicom": "cut short",
        "dicom_without_pixels": "no pixel data",
        "zero_frame_video": "no video frames",
        "folder_without_images": "no images",
        "unsupported": "unsupported file type",
        "text_as_mp4": "cannot read the video",
        "text_as_png": "not a readable image",
    }
    for kind, words in expected.items():
        with pytest.raises(UserInputError, match=words):
            open_media(bad_media_files[kind])


def test_truncated_video_and_encapsulated_dicom(tmp_path):
    video = _write_video(tmp_path / "clip.mp4", _moving_square(), None, "yuv420p")
    cut_video = tmp_path / "cut.mp4"
    cut_video.write_bytes(video.read_bytes()[:600])
    with pytest.raises(UserInputError, match="cut.mp4"):
        open_media(cut_video)
    jpeg_dicom = Path(pydicom.examples.ybr_color.filename).read_bytes()
    cut_dicom = tmp_path / "cut_jpeg.dcm"
    cut_dicom.write_bytes(jpeg_dicom[: len(jpeg_dicom) // 3])
    with pytest.raises(UserInputError, match="cut_jpeg.dcm: the DICOM file is cut short"):
        open_media(cut_dicom)

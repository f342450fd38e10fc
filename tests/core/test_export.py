"""core.export: MP4 (H.264, yuv420p, even size, no metadata), PNG sequences, DICOM cine; all atomic."""

from __future__ import annotations

import re
import subprocess

import cv2
import imageio.v3 as iio
import imageio_ffmpeg
import numpy as np
import pydicom
import pytest

from usanimator_app.core.export import Mp4Writer, write_dicom_cine, write_mp4, write_png_sequence


def _frames(n: int, height: int, width: int, rgb: bool = False) -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    base = cv2.GaussianBlur(rng.integers(0, 255, (height, width), dtype=np.uint8), (0, 0), 2)
    frames = [np.roll(base, 2 * i, axis=1) for i in range(n)]
    return [np.stack([f, 255 - f, f // 2], axis=-1) for f in frames] if rgb else frames


def _probe(path) -> str:
    """ffmpeg's description of a file (stderr of ``ffmpeg -i``)."""
    result = subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-i", str(path)],
                            capture_output=True, text=True)
    return result.stderr


def test_mp4_frames_size_codec_and_pixel_format(tmp_path):
    path = tmp_path / "clip.mp4"
    assert write_mp4(_frames(12, 64, 80), path, fps=20) == 12
    info = _probe(path)
    assert re.search(r"Video: h264 .*yuv420p.*80x64", info), info
    assert re.search(r"\b20 fps\b", info)
    reader = imageio_ffmpeg.read_frames(str(path))
    header = next(reader)
    assert header["size"] == (80, 64)
    assert sum(1 for _ in reader) == 12


def test_mp4_odd_size_is_padded_by_one_black_row_and_column(tmp_path):
    path = tmp_path / "odd.mp4"
    frame = np.full((33, 45, 3), 200, np.uint8)
    write_mp4([frame] * 3, path, fps=10)
    reader = imageio_ffmpeg.read_frames(str(path))
    header = next(reader)
    assert header["size"] == (46, 34)
    first = np.frombuffer(next(reader), np.uint8).reshape(34, 46, 3)
    assert first[:33, :45].mean() > 190
    assert first[33, 5:40].mean() < 30 and first[5:28, 45].mean() < 30


def test_mp4_has_no_metadata_and_plays_from_the_start(tmp_path):
    path = tmp_path / "clip.mp4"
    write_mp4(_frames(4, 32, 32, rgb=True), path, fps=25)
    info = _probe(path)
    for tag in ("title", "comment", "encoder", "creation_time", "artist"):
        assert not re.search(rf"^\s*{tag}\s*:", info, re.MULTILINE), info
    data = path.read_bytes()
    assert b"x264" not in data and b"Lavf" not in data
    assert data.find(b"moov") < data.find(b"mdat")  # faststart


def test_mp4_writer_is_atomic(tmp_path):
    path = tmp_path / "clip.mp4"
    with pytest.raises(RuntimeError):
        with Mp4Writer(path, fps=10) as writer:
            writer.write(_frames(1, 16, 16)[0])
            raise RuntimeError("crash mid-clip")
    assert list(tmp_path.iterdir()) == []
    with Mp4Writer(path, fps=10) as writer:
        for frame in _frames(3, 16, 16):
            writer.write(frame)
    assert writer.frames_written == 3
    assert [p.name for p in tmp_path.iterdir()] == ["clip.mp4"]
    with pytest.raises(ValueError):
        with Mp4Writer(tmp_path / "other.mp4", fps=10) as writer:
            writer.write(np.zeros((16, 16), np.float32))
    assert [p.name for p in tmp_path.iterdir()] == ["clip.mp4"]


def test_png_sequence_round_trip(tmp_path):
    folder = tmp_path / "frames"
    grey, rgb = _frames(3, 20, 30), _frames(2, 20, 30, rgb=True)
    assert write_png_sequence(grey, folder) == 3
    names = sorted(p.name for p in folder.iterdir())
    assert names == ["frame_00000.png", "frame_00001.png", "frame_00002.png"]
    for name, frame in zip(names, grey):
        np.testing.assert_array_equal(iio.imread(folder / name), frame)
    assert write_png_sequence(rgb, folder, prefix="f") == 2  # replaces the folder as a whole
    assert sorted(p.name for p in folder.iterdir()) == ["f00000.png", "f00001.png"]
    np.testing.assert_array_equal(iio.imread(folder / "f00001.png"), rgb[1])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["frames"]


def test_png_sequence_crash_leaves_no_folder(tmp_path):
    def broken():
        yield np.zeros((8, 8), np.uint8)
        raise RuntimeError("crash")

    with pytest.raises(RuntimeError):
        write_png_sequence(broken(), tmp_path / "frames")
    assert list(tmp_path.iterdir()) == []


def test_dicom_cine_round_trip_without_identifying_tags(tmp_path):
    path = tmp_path / "cine.dcm"
    frames = _frames(5, 40, 50)
    write_dicom_cine(frames, path, fps=20, pixel_spacing_mm=0.6)
    ds = pydicom.dcmread(path)
    np.testing.assert_array_equal(ds.pixel_array, np.stack(frames))
    assert ds.Modality == "US"
    assert ds.SOPClassUID == "1.2.840.10008.5.1.4.1.1.3.1"
    assert ds.file_meta.MediaStorageSOPClassUID == ds.SOPClassUID
    assert ds.PhotometricInterpretation == "MONOCHROME2" and ds.BitsAllocated == 8
    assert int(ds.NumberOfFrames) == 5
    assert float(ds.FrameTime) == pytest.approx(50.0) and int(ds.CineRate) == 20
    region = ds.SequenceOfUltrasoundRegions[0]
    assert region.PhysicalUnitsXDirection == 3 and region.PhysicalUnitsYDirection == 3
    assert float(region.PhysicalDeltaX) == pytest.approx(0.06) and float(region.PhysicalDeltaY) == pytest.approx(0.06)
    for keyword in ("PatientName", "PatientID", "PatientBirthDate", "PatientSex", "StudyDate", "SeriesDate",
                    "ContentDate", "AcquisitionDate", "StudyTime", "ContentTime", "InstitutionName",
                    "ReferringPhysicianName", "AccessionNumber", "StudyID", "OperatorsName"):
        assert keyword not in ds, keyword
    other = tmp_path / "other.dcm"
    write_dicom_cine(frames, other, fps=20, pixel_spacing_mm=(0.5, 0.7))
    second = pydicom.dcmread(other)
    assert second.SOPInstanceUID != ds.SOPInstanceUID and second.StudyInstanceUID != ds.StudyInstanceUID
    assert float(second.SequenceOfUltrasoundRegions[0].PhysicalDeltaY) == pytest.approx(0.07)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cine.dcm", "other.dcm"]

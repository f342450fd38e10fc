"""Hostile DICOM headers and codestreams, built at test time: a clear refusal, or a usable result
with the absurd value dropped (and a warning). Never a crash, a decompression bomb or garbage."""

from __future__ import annotations

import json
import logging
import resource
import struct
from pathlib import Path

import data_store
import pydicom
import pydicom.examples
import pytest

from usanimator_app.core.errors import UserInputError
from usanimator_app.core.media import open_media

US_FILES = Path(data_store.__file__).parent / "data"


def _with(tmp_path: Path, name: str, source, **values) -> Path:
    """A copy of ``source`` (a Dataset or a path) with header values set, validation off."""
    header = pydicom.dcmread(source) if not isinstance(source, pydicom.Dataset) else source
    for keyword, (vr, value) in values.items():
        header.add_new(pydicom.datadict.tag_for_keyword(keyword), vr, value)
    path = tmp_path / name
    with pydicom.config.disable_value_validation():
        header.save_as(path)
    return path


def _clean_error(path: Path, words: str) -> str:
    with pytest.raises(UserInputError) as caught:
        source = open_media(path)
        list(zip(range(2), source.iter_frames()))
    message = str(caught.value)
    assert str(path) in message and "\n" not in message and len(message) < 400, message
    assert words in message, message
    return message


@pytest.mark.parametrize("frames", ["-1", "-2147483648", "0", "2147483647"])
def test_absurd_number_of_frames_is_refused(tmp_path, frames):
    path = _with(tmp_path, "frames.dcm", pydicom.examples.ybr_color.filename, NumberOfFrames=("IS", frames))
    _clean_error(path, "NumberOfFrames")


def test_photometric_and_samples_the_readers_do_not_handle_are_refused(tmp_path):
    for value in ("CMYK", "HSV", "ARGB"):
        path = _with(tmp_path, f"{value}.dcm", pydicom.examples.rgb_color.filename, PhotometricInterpretation=("CS", value))
        _clean_error(path, "photometric interpretation")
    path = _with(tmp_path, "mono3.dcm", pydicom.examples.rgb_color.filename, PhotometricInterpretation=("CS", "MONOCHROME2"))
    _clean_error(path, "does not fit SamplesPerPixel")
    path = _with(tmp_path, "bits.dcm", pydicom.examples.rgb_color.filename, BitsAllocated=("US", 12))
    _clean_error(path, "BitsAllocated")


def test_more_frames_than_the_pixel_data_holds_is_refused(tmp_path):
    path = _with(tmp_path, "many.dcm", US_FILES / "OBXXXX1A_2frame.dcm", NumberOfFrames=("IS", "40"))
    _clean_error(path, "holds 2 of the 40 frames")


@pytest.mark.parametrize("spacing", [["inf", "inf"], ["1e308", "1e308"], ["1e-320", "1e-320"], ["0", "0"], ["nan", "1"]])
def test_absurd_spacing_and_frame_rate_are_dropped_with_a_warning(tmp_path, caplog, spacing):
    path = _with(tmp_path, "odd.dcm", pydicom.examples.rgb_color.filename,
                 PixelSpacing=("DS", spacing), FrameTime=("DS", "1e-300"))
    with caplog.at_level(logging.WARNING, logger="usanimator_app.core.media"):
        info = open_media(path).info
    assert info.pixel_spacing_mm is None and info.fps is None
    json.dumps(info.as_dict(), allow_nan=False)
    assert "PixelSpacing" in caplog.text and "frame rate" in caplog.text
    for frame_time in ("0", "-1", "inf", "nan"):
        path = _with(tmp_path, "fps.dcm", pydicom.examples.rgb_color.filename, FrameTime=("DS", frame_time))
        assert open_media(path).info.fps is None


def _j2k_with_siz(tmp_path: Path, offset: int, value: bytes) -> Path:
    """US1_J2KR.dcm with bytes of its JPEG 2000 SIZ segment replaced (the header still says 640x480)."""
    data = bytearray((US_FILES / "US1_J2KR.dcm").read_bytes())
    start = data.find(b"\xff\x4f\xff\x51")
    data[start + offset : start + offset + len(value)] = value
    path = tmp_path / "bomb.dcm"
    path.write_bytes(bytes(data))
    return path


def test_a_codestream_declaring_a_huge_frame_is_refused_before_decoding(tmp_path):
    limit = resource.getrlimit(resource.RLIMIT_AS)
    path = _j2k_with_siz(tmp_path, 8, struct.pack(">II", 30000, 25000))  # Xsiz, Ysiz: 750 Mpx
    _clean_error(path, "larger than the app reads")
    path = _j2k_with_siz(tmp_path, 40, struct.pack(">H", 16000))  # Csiz: 16000 components of 640x480
    _clean_error(path, "larger than the app reads")
    path = _j2k_with_siz(tmp_path, 8, struct.pack(">I", 700))  # a different width than the header's
    _clean_error(path, "the header says 640x480")
    assert resource.getrlimit(resource.RLIMIT_AS) == limit


def test_a_corrupted_length_does_not_make_the_reader_allocate_it(tmp_path):
    """A Specific Character Set whose length says 4 GB (pydicom never defers that element)."""
    header = pydicom.dcmread(pydicom.examples.ybr_color.filename)
    header.SpecificCharacterSet = "ISO_IR 100"
    path = tmp_path / "charset.dcm"
    header.save_as(path)
    data = bytearray(path.read_bytes())
    tag = data.find(b"\x08\x00\x05\x00CS")
    data[tag + 6 : tag + 8] = b"\xff\xff"  # explicit VR: a 2-byte length; make the VR 'UN' with a 4-byte one
    data[tag + 4 : tag + 12] = b"UN\x00\x00" + struct.pack("<I", 0xFFFFFFF0)
    path.write_bytes(bytes(data))
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    try:
        resource.setrlimit(resource.RLIMIT_AS, (8 * 2**30, hard))
        with pytest.raises(UserInputError) as caught:
            open_media(path)
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))
    assert str(path) in str(caught.value) and "memory" not in str(caught.value)


def test_decoder_errors_are_in_the_apps_words(tmp_path, caplog):
    """A damaged JPEG frame: the message names the file and the frame, the decoder's text is in the log."""
    data = bytearray(Path(pydicom.examples.ybr_color.filename).read_bytes())
    first = data.find(b"\xff\xda")  # the first scan of the first frame
    data[first + 20 : first + 400] = bytes(380)
    path = tmp_path / "damaged.dcm"
    path.write_bytes(bytes(data))
    with caplog.at_level(logging.INFO, logger="usanimator_app.core.media"):
        try:
            source = open_media(path)
            list(source.iter_frames())
        except UserInputError as exc:
            assert "broadcast" not in str(exc) and str(path) in str(exc)

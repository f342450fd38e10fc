"""Fixtures shared by the whole test suite. Keep this file small."""

from __future__ import annotations

import subprocess
from pathlib import Path

import imageio_ffmpeg
import pydicom.examples
import pytest

from usanimator_app.core.media import VIDEO_SUFFIXES

REPO_ROOT = Path(__file__).resolve().parents[1]
# Real clips, read-only, never copied into the repository (see ../shared/data/ultrasound/SOURCES.md).
SHARED_ULTRASOUND_DIR = REPO_ROOT / ".." / "shared" / "data" / "ultrasound"
# Run first: with ``pytest -n auto`` (``make test``) one worker trains this 300-step model while the
# others run everything else, so the suite takes about as long as this one test.
LONGEST_TEST = "test_overfit_one_clip_learns_motion_and_landmarks"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Move the longest test to the front of the run (a stable sort: the rest keep their order)."""
    items.sort(key=lambda item: item.name != LONGEST_TEST)


@pytest.fixture(scope="session")
def shared_clips() -> list[Path]:
    """The real ultrasound clips in ``../shared/data/ultrasound``; skips where the folder is absent."""
    clips = sorted(p for p in SHARED_ULTRASOUND_DIR.glob("*") if p.suffix.lower() in VIDEO_SUFFIXES)
    if not clips:
        pytest.skip(f"no real ultrasound clips in {SHARED_ULTRASOUND_DIR.resolve()}")
    return clips


@pytest.fixture(scope="session")
def bad_media_files(tmp_path_factory) -> dict[str, Path]:
    """One file (or folder) per kind of bad input that ``open_media`` must reject with a one-line message."""
    root = tmp_path_factory.mktemp("bad_media")
    good_dicom = Path(pydicom.examples.palette_color.filename).read_bytes()
    files = {
        "missing": root / "missing.mp4",
        "empty": root / "empty.dcm",
        "truncated_dicom": root / "truncated.dcm",
        "text_as_mp4": root / "notes.mp4",
        "text_as_png": root / "notes.png",
        "dicom_without_pixels": root / "plan.dcm",
        "zero_frame_video": root / "zero_frames.mp4",
        "folder_without_images": root / "no_images",
        "unsupported": root / "notes.txt",
    }
    files["empty"].write_bytes(b"")
    files["truncated_dicom"].write_bytes(good_dicom[: len(good_dicom) // 2])
    files["text_as_mp4"].write_text("this is not a video\n")
    files["text_as_png"].write_text("this is not an image\n")
    files["dicom_without_pixels"].write_bytes(Path(pydicom.examples.rt_plan.filename).read_bytes())
    # ffmpeg drops a video stream with no frames: what remains is a container without video.
    subprocess.run(
        [imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-f", "lavfi", "-i", "color=c=black:s=32x32:d=1",
         "-frames:v", "0", str(files["zero_frame_video"])],
        check=True,
    )
    files["folder_without_images"].mkdir()
    (files["folder_without_images"] / "readme.txt").write_text("no images here\n")
    files["unsupported"].write_text("plain text\n")
    return files

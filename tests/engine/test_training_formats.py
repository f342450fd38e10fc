"""Training takes every clip format Animate opens (``core.media``), DICOM without a suffix included,
and says which files of the folder it skipped."""

from __future__ import annotations

import json
import os

import imageio.v2 as imageio
import numpy as np

from usanimator_app.cli import main
from usanimator_app.core.export import write_dicom_cine
from usanimator_app.engine.dataset import scan_folder
from usanimator_app.engine.trainer import latest_checkpoint

from .conftest import moving_disc_clip


def _clip_folder(folder):
    """An .m4v clip, a .dicom clip, a DICOM clip without a suffix (as scanners write them), a note."""
    folder.mkdir()
    frames, _ = moving_disc_clip(frames=6, size=64, seed=1)
    with imageio.get_writer(folder / "a.mp4", fps=10, macro_block_size=1) as writer:
        for frame in frames:
            writer.append_data(np.repeat(frame[:, :, None], 3, axis=2))
    os.replace(folder / "a.mp4", folder / "a.m4v")  # an .m4v is an MP4 container
    write_dicom_cine(frames, folder / "b.dicom", fps=10.0, pixel_spacing_mm=0.3)
    write_dicom_cine(frames, folder / "IM000001", fps=10.0, pixel_spacing_mm=0.3)
    (folder / "notes.txt").write_text("not a clip\n")
    return folder


def test_a_folder_of_m4v_dicom_and_suffixless_dicom_clips_trains_and_lists_what_it_skipped(tmp_path, backbone_cache,
                                                                                         capsys):
    data = _clip_folder(tmp_path / "clips")
    contents = scan_folder(data)
    assert [p.name for p in contents.clips] == ["IM000001", "a.m4v", "b.dicom"]
    assert contents.skipped == [(data / "notes.txt", "not a clip")]

    run = tmp_path / "run"
    code = main(["train", "--data", str(data), "--size", "tiny", "--steps", "2", "--batch", "1", "--device", "cpu",
                 "--sample-every", "0", "--out", str(run), "--progress", "json"])
    assert code == 0
    messages = [json.loads(line).get("message", "") for line in capsys.readouterr().out.splitlines()]
    assert any(m.startswith("data: 3 training clips") for m in messages)
    assert f"skipped 1 files: {data / 'notes.txt'} (not a clip)" in messages
    assert latest_checkpoint(run) is not None

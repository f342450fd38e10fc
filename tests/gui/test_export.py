"""Export: H.264 MP4 with the chosen layout at the source's resolution, PNG sequences, never overwriting without asking,
file names that never come from the inputs; and the command line's --run --export --quit-when-done."""

from __future__ import annotations

import argparse
import re
import subprocess

import imageio.v2 as imageio
import imageio_ffmpeg
import numpy as np

from usanimator_app.commands import gui as gui_command
from usanimator_app.gui.export_dialog import ExportDialog, ExportOptions, default_export_path
from usanimator_app.gui.main_window import Launch
from usanimator_app.gui.settings import Settings


def _run(tab, qtbot, media, drop_files):
    drop_files(tab.source_panel, media["source"])
    drop_files(tab.driving_panel, media["driving"])
    with qtbot.waitSignal(tab.run_ended, timeout=60000):
        tab.run()


def _export(tab, qtbot, options) -> str:
    with qtbot.waitSignal(tab.export_ended, timeout=60000) as ended:
        assert tab.export(options)
    return ended.args[0]


def _probe(path) -> str:
    """ffmpeg's description of the video stream."""
    result = subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-i", str(path)], capture_output=True, text=True)
    return next(line for line in result.stderr.splitlines() if "Video:" in line)


def test_mp4_side_by_side_is_h264_with_every_frame(ready_window, media, qtbot, tmp_path, prompts, drop_files):
    tab = ready_window.tab("Animate")
    _run(tab, qtbot, media, drop_files)
    target = tmp_path / "clip.mp4"
    options = ExportOptions(path=target, layout="side-by-side", fps=12.0)
    assert _export(tab, qtbot, options) == "finished"
    stream = _probe(target)
    assert "h264" in stream and "yuv420p" in stream
    reader = imageio.get_reader(target)
    assert reader.count_frames() == 5
    frame = reader.get_data(0)
    height, width = frame.shape[:2]
    assert height == 100 and width == 100 + 4 + 120  # driving (64x64 scaled to 100) | 4 px gap | the 120x100 output
    assert frame[:, :, :].max() > 200  # the caption is burned in white/yellow
    reader.close()

    before = target.read_bytes()
    prompts.answer = False
    assert not tab.export(options)  # asked, answered No: nothing happens
    assert prompts.questions and target.read_bytes() == before
    prompts.answer = True
    assert _export(tab, qtbot, ExportOptions(path=target, layout="output")) == "finished"
    assert imageio.get_reader(target).get_data(0).shape[:2] == (100, 120)  # the source's resolution


def test_png_sequence_is_lossless_at_the_source_resolution(ready_window, media, qtbot, tmp_path, drop_files):
    tab = ready_window.tab("Animate")
    _run(tab, qtbot, media, drop_files)
    folder = tmp_path / "frames"
    assert _export(tab, qtbot, ExportOptions(path=folder, kind="png", layout="output", caption=False)) == "finished"
    files = sorted(folder.glob("*.png"))
    assert len(files) == 5
    np.testing.assert_array_equal(imageio.imread(files[3])[:, :, 0], tab.results[3].frame)


def test_overlays_are_drawn_in_the_frame_pixels_under_the_caption(ready_window, media, qtbot, tmp_path, drop_files):
    tab = ready_window.tab("Animate")
    _run(tab, qtbot, media, drop_files)
    folder = tmp_path / "overlays"
    assert _export(tab, qtbot, ExportOptions(path=folder, kind="png", layout="overlays")) == "finished"
    frame = imageio.imread(sorted(folder.glob("*.png"))[0])
    assert frame.shape == (100, 100 + 4 + 120, 3)
    output = frame[:, 104:].astype(int)
    colourful = output.max(axis=2) - output.min(axis=2) > 100  # the frame itself is gray
    inside = [(x, y) for x, y in np.round(tab.results[0].frame_landmarks).astype(int) if 6 <= x < 114 and 30 <= y < 94]
    assert inside  # a random model's soft-argmax lands near the middle, below the caption
    for x, y in inside:
        assert colourful[y - 4:y + 5, x - 4:x + 5].any()  # the landmark's cross where the frame's pixels put it
    caption = frame[:20, :80].astype(int)
    assert ((caption[..., 0] > 200) & (caption[..., 1] > 200) & (caption[..., 2] < 80)).any()  # yellow "SYNTHETIC"


def test_export_dialog_defaults_and_names(ready_window, media, qtbot, settings_path, prompts, drop_files):
    tab = ready_window.tab("Animate")
    _run(tab, qtbot, media, drop_files)
    dialog = ExportDialog(Settings(settings_path), prompts, (120, 100), 12.0, tab)
    assert dialog.size_note.text().startswith("120×100 px")
    options = dialog.options()
    assert options.caption is True and options.fps == 12.0 and options.kind == "mp4"
    assert re.fullmatch(r"usanimator_\d{8}_\d{6}\.mp4", options.path.name)
    assert re.fullmatch(r"usanimator_\d{8}_\d{6}_frames", default_export_path("/x", "png").name)


def test_command_line_runs_exports_and_quits(open_window, media, qtbot, tiny_checkpoint, tmp_path):
    parser = argparse.ArgumentParser()
    gui_command.add_parser(parser.add_subparsers())
    out = tmp_path / "cli.mp4"
    args = parser.parse_args(["gui", "--source", str(media["source"]), "--driving", str(media["driving"]),
                              "--model", str(tiny_checkpoint), "--device", "cpu", "--export", str(out), "--quit-when-done"])
    launch = Launch(source=args.source, driving=args.driving, model=args.model, device=args.device,
                    run=True, export=args.export, quit_when_done=args.quit_when_done)
    with qtbot.waitSignal(open_window(launch).launch_done, timeout=60000) as done:
        pass
    assert done.args == [0]
    assert imageio.get_reader(out).count_frames() == 5

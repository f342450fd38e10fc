"""The Animate tab: inputs by drag and drop, a run on a tiny random model, native output and the
output settings, cancel, playback, the bundled sample, errors."""

from __future__ import annotations

import numpy as np

from usanimator_app.core.paths import resources_dir
from usanimator_app.engine.animator import OutputOptions
from usanimator_app.gui.controls import model_card_markdown
from usanimator_app.gui.live_view import warped_grid


def _animate(tab, qtbot, media, drop_files):
    drop_files(tab.source_panel, media["source"])
    drop_files(tab.driving_panel, media["driving"])
    with qtbot.waitSignal(tab.run_ended, timeout=60000) as ended:
        assert tab.run()
    return ended.args[0]


def test_dropped_files_show_their_facts(ready_window, media, drop_files):
    tab = ready_window.tab("Animate")
    drop_files(tab.source_panel, media["source"])
    drop_files(tab.driving_panel, media["driving"])
    assert "source.png" in tab.source_panel.facts.text() and "120×100 px" in tab.source_panel.facts.text()
    assert "5 frames" in tab.driving_panel.facts.text() and "12 fps" in tab.driving_panel.facts.text()
    assert not tab.source_panel.thumbnail.pixmap().isNull()
    assert tab.run_box.run_button.isEnabled()


def test_unreadable_file_gives_a_one_line_dialog_and_the_tab_stays_usable(ready_window, media, prompts, drop_files):
    tab = ready_window.tab("Animate")
    drop_files(tab.source_panel, media["bad"])
    assert len(prompts.errors) == 1 and "broken.png" in prompts.errors[0] and "\n" not in prompts.errors[0]
    assert tab.load_source(media["source"])
    assert "source.png" in tab.source_panel.facts.text()


def test_a_clip_as_source_lets_the_user_pick_the_frame(ready_window, media, drop_files):
    tab = ready_window.tab("Animate")
    drop_files(tab.source_panel, media["driving"])
    assert tab.source_panel.frame_slider.maximum() == 4
    first = tab.source_panel.thumbnail.pixmap().toImage()
    tab.source_panel.frame_slider.setValue(4)
    assert tab.source_panel.frame_index() == 4
    assert tab.source_panel.thumbnail.pixmap().toImage() != first


def test_run_shows_every_frame_with_overlays_then_plays_back(ready_window, media, qtbot, drop_files):
    tab = ready_window.tab("Animate")
    assert _animate(tab, qtbot, media, drop_files) == "finished"
    assert [r.index for r in tab.results] == [0, 1, 2, 3, 4]
    assert tab.run_box.progress.value() == 5 and tab.run_box.progress_label.text().startswith("Animated 5 frames")
    live = tab.live
    assert live.output_view.image.image.shape == (100, 120)  # the 120x100 source's own resolution
    assert live.output_view.title.text.endswith("120×100 px")
    assert live.driving_view.image.image.shape == (64, 64)  # the other views are model space
    assert live.output_view.box.geometry().right() <= live.output_view.width()  # laid out inside its widget
    assert len(live.output_view.landmarks.data) == 2 and len(live.output_view.keypoints.data) == 4
    assert live.output_view._labels[0].toPlainText() == "symphysis lower edge"
    assert live.occlusion_view.image.image.shape == (32, 32)

    live.slider.setValue(2)
    result = tab.results[2]
    np.testing.assert_array_equal(live.output_view.image.image, result.frame)
    np.testing.assert_allclose(live.output_view.keypoints.data["x"], result.frame_keypoints[:, 0] + 0.5)
    np.testing.assert_allclose(live.output_view.landmarks.data["y"], result.frame_landmarks[:, 1] + 0.5)
    # the model-space points, mapped by the source's geometry (scale 64/120, 5 px of padding above)
    np.testing.assert_allclose(result.frame_keypoints, (result.output_keypoints - [0, 5] + 0.5) * 120 / 64 - 0.5, atol=1e-3)
    np.testing.assert_array_equal(live.driving_view.image.image, result.driving)
    live.landmarks_action.setChecked(False)
    assert not live.output_view.landmarks.isVisible() and not live.output_view._labels[0].isVisible()
    live.play_button.setChecked(True)
    qtbot.waitUntil(lambda: live.slider.value() != 2, timeout=5000)
    live.play_button.setChecked(False)
    assert tab.run_box.export_button.isEnabled()


def test_kept_results_grow_by_the_uint8_output_frame_only(ready_window, media, qtbot, drop_files):
    """Playback keeps every FrameResult: the output frame in uint8, the rest at the model's small size."""
    tab = ready_window.tab("Animate")
    _animate(tab, qtbot, media, drop_files)
    result = tab.results[0]
    arrays = {name: v for name, v in vars(result).items() if isinstance(v, np.ndarray)}
    images = {name for name, a in arrays.items() if min(a.shape[:2]) > 4} - {"occlusion", "displacement"}
    assert images == {"frame", "output", "content", "texture", "driving"}
    assert all(arrays[name].dtype == np.uint8 for name in images)
    assert result.occlusion.shape == result.displacement.shape[:2] == (32, 32)  # floats at the motion's resolution
    rest = sum(a.nbytes for name, a in arrays.items() if name != "frame")
    assert rest <= 4 * 64 * 64 + 3 * 32 * 32 * 4 + 1000  # four model-size uint8 images, two small float maps, points


def test_output_settings_reach_the_animator(ready_window, media, qtbot, drop_files, monkeypatch):
    tab = ready_window.tab("Animate")
    animate, seen = tab.animator.animate, []

    def recording_animate(*args, **kwargs):
        seen.append(kwargs)
        return animate(*args, **kwargs)

    monkeypatch.setattr(tab.animator, "animate", recording_animate)
    output = tab.output
    output.size.setCurrentIndex(output.size.findData("custom"))
    output.custom.setValue(90)
    output.mode.setCurrentIndex(output.mode.findData("generated"))
    assert not output.max_side.isEnabled()  # the cap is for native output only
    assert _animate(tab, qtbot, media, drop_files) == "finished"
    assert seen[0]["output"] == OutputOptions(mode="generated", size=90, max_side=1024)
    assert seen[0]["native"][0].shape == (100, 120)  # rendered on the source's own pixels
    assert tab.results[0].frame.shape == (75, 90) and tab.live.output_view.image.image.shape == (75, 90)

    output.size.setCurrentIndex(output.size.findData("native"))
    output.max_side.setValue(60)
    assert _animate(tab, qtbot, media, drop_files) == "finished"
    assert seen[1]["output"] == OutputOptions(mode="generated", size="native", max_side=60)
    assert tab.results[0].frame.shape == (50, 60)


def test_open_sample_loads_the_bundled_real_or_phantom_still_and_the_driving_clip(ready_window, qtbot):
    tab = ready_window.tab("Animate")
    entries = [action.text() for action in tab.inputs.sample_menu.actions()]
    assert entries == ["Real pelvic-floor still", "Phantom still"]
    with qtbot.waitSignals([tab.inputs.changed, tab.inputs.changed], timeout=5000):
        tab.inputs.open_sample_action.trigger()
    assert "sample_real_pfus1_a.png" in tab.source_panel.facts.text()
    assert "sample_driving.mp4" in tab.driving_panel.facts.text()
    assert tab.inputs.source.path == resources_dir() / "sample_real_pfus1_a.png" and tab.run_box.run_button.isEnabled()
    with qtbot.waitSignal(tab.inputs.changed, timeout=5000):
        tab.inputs.open_phantom_sample_action.trigger()
    assert tab.inputs.source.path == resources_dir() / "sample_source.png"
    assert tab.inputs.driving.path == resources_dir() / "sample_driving.mp4"


def test_cancel_midway_stops_within_a_frame(ready_window, media, qtbot, drop_files):
    tab = ready_window.tab("Animate")
    drop_files(tab.source_panel, media["source"])
    drop_files(tab.driving_panel, media["long"])
    seen = []

    def cancel_at_second_frame(item):
        seen.append(item)
        if len(seen) == 3:  # RunStart, frame 0, frame 1
            tab.cancel()

    with qtbot.waitSignal(tab.run_ended, timeout=60000) as ended:
        tab.run()
        tab.jobs.job.produced.connect(cancel_at_second_frame)
    assert ended.args[0] == "cancelled"
    assert 2 <= len(tab.results) < 40  # the worker-level bound (one frame) is in test_workers.py
    assert tab.run_box.progress_label.text().startswith(f"Cancelled after {len(tab.results)} of 40")
    assert tab.run_box.run_button.isEnabled() and tab.run_box.export_button.isEnabled()


def test_incompatible_checkpoint_gives_a_dialog_and_keeps_the_model(ready_window, tmp_path, qtbot, prompts):
    tab = ready_window.tab("Animate")
    wrong = tmp_path / "wrong.pt"
    wrong.write_bytes(b"\x00not a checkpoint")
    with qtbot.waitSignal(tab.model_ready, timeout=30000) as ready:
        tab.load_model(wrong)
    assert ready.args == [False]
    assert len(prompts.errors) == 1 and "wrong.pt" in prompts.errors[0]
    assert tab.animator is not None and tab.animator.checkpoint_path.name == "tiny.pt"
    assert "tiny.pt" in tab.model_panel.name.text()


def test_model_card_of_a_checkpoint_without_one_shows_what_it_stores(ready_window):
    card = model_card_markdown(ready_window.tab("Animate").animator)
    assert "· step 0" in card and '"purpose": "gui tests"' in card and '"image_size": 64' in card


def test_warped_grid_of_zero_displacement_is_the_regular_grid():
    x, y = warped_grid(np.zeros((8, 8, 2), np.float32), size=64, lines=3)
    finite = np.isfinite(x)
    assert set(np.round(x[finite], 3)) >= {0.0, 63.0} and np.nanmax(y) == 63.0
    assert np.isnan(x).sum() == 6  # 3 rows + 3 columns, each ended by a gap

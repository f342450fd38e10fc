"""The pelvic-floor phantom: determinism, landmarks on their anatomy, speckle physics, motion, dataset, CLI."""

from __future__ import annotations

import argparse
import json

import numpy as np
import pytest

from usanimator_app.commands import phantom as phantom_command
from usanimator_app.core.annotations import load_annotations, load_split, sidecar_path
from usanimator_app.core.errors import UserInputError
from usanimator_app.core.phantom import (PhantomParams, PhantomSimulator, generate_dataset, simulate_clip,
                                         simulate_transfer_pair, transfer_params)
from usanimator_app.core.phantom_imaging import BeamImager, FanGeometry
from usanimator_app.core.phantom_motion import _GRID_SHAPE, _GRID_STEP, corner_jacobians


def _mm_to_px(clip, mm: float) -> int:
    return max(1, int(round(mm / clip.pixel_spacing_mm)))


def test_same_seed_gives_identical_frames_and_landmarks():
    params = PhantomParams(size=64, frames=4, seed=3, peak_descent_mm=15.0)
    first, second = simulate_clip(params), simulate_clip(params)
    assert first.frames.shape == (4, 64, 64) and first.frames.dtype == np.uint8
    np.testing.assert_array_equal(first.frames, second.frames)
    for name in ("symphysis_lower_edge", "bladder_neck"):
        assert first.landmarks[name].shape == (4, 2)
        np.testing.assert_array_equal(first.landmarks[name], second.landmarks[name])
    other = simulate_clip(PhantomParams(size=64, frames=4, seed=4, peak_descent_mm=15.0))
    assert not np.array_equal(first.frames, other.frames)


def test_outside_the_fan_is_black_and_spacing_is_exact():
    clip = simulate_clip(PhantomParams(size=128, frames=1, manoeuvre="rest", seed=1))
    frame = clip.frames[0]
    assert frame[0].max() == 0 and frame[-1].max() == 0 and frame[:, 0].max() == 0 and frame[:, -1].max() == 0
    assert frame[:20, :20].max() == 0 and frame[:20, -20:].max() == 0  # above the sector's edges
    assert frame[40:80, 55:75].mean() > 10
    geometry = FanGeometry(128)
    assert clip.pixel_spacing_mm == pytest.approx(geometry.pixel_spacing_mm)
    # 90 mm depth plus the probe curvature spans the fan's height in pixels
    rows = np.flatnonzero(frame.max(axis=1) > 0)
    top = geometry.radius_mm * np.cos(geometry.half_angle) - geometry.radius_mm
    assert (rows[-1] - rows[0] + 1) * clip.pixel_spacing_mm == pytest.approx(90.0 - top, abs=2 * clip.pixel_spacing_mm)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_landmarks_sit_on_their_anatomy(seed):
    clip = simulate_clip(PhantomParams(size=256, frames=1, manoeuvre="rest", seed=seed))
    frame = clip.frames[0].astype(float)
    tissue = np.median(frame[frame > 0])

    x, y = np.round(clip.landmarks["symphysis_lower_edge"][0]).astype(int)
    above = frame[y - _mm_to_px(clip, 3.0): y, x - 1: x + 2]
    below = frame[y + _mm_to_px(clip, 2.5): y + _mm_to_px(clip, 5.0), x - 1: x + 2]
    assert above.max() > 2.0 * tissue, "bright bone just above the symphysis margin"
    assert below.mean() < 0.7 * above.max(), "no bright bone below the margin"

    x, y = np.round(clip.landmarks["bladder_neck"][0]).astype(int)
    inside = frame[y + _mm_to_px(clip, 4.0): y + _mm_to_px(clip, 9.0), x - 2: x + 3]
    assert inside.mean() < 0.6 * tissue, "the bladder lumen (dark) starts just cranial of the bladder neck"
    assert clip.landmarks["bladder_neck"][0][1] > clip.landmarks["symphysis_lower_edge"][0][1], "neck cranial of the margin"


def test_speckle_envelope_is_rayleigh():
    imager = BeamImager(FanGeometry(128))
    rng = np.random.default_rng(0)
    xy = imager.sample_positions(rng, per_cell=1.2, margin_mm=5.0, margin_deg=5.0)
    amplitude = np.where(rng.random(len(xy)) < 0.5, -1.0, 1.0).astype(np.float32)
    envelope = imager.envelope(xy, amplitude)
    region = envelope[imager.n_range // 5: -imager.n_range // 5, imager.n_beams // 5: -imager.n_beams // 5]
    assert region.mean() / region.std() == pytest.approx(1.913, rel=0.10)


def test_simulator_envelope_is_exposed_before_log_compression():
    sim = PhantomSimulator(PhantomParams(size=64, frames=2, seed=0))
    envelope = sim.envelope(0)
    assert envelope.shape == (sim.imager.n_range, sim.imager.n_beams) and envelope.dtype == np.float32
    np.testing.assert_array_equal(sim.frame(0), sim.imager.scan_convert(sim.imager.compress(envelope)))


def _correlation(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a.astype(float).ravel(), b.astype(float).ravel()
    return float(np.corrcoef(a, b)[0, 1])


def test_speckle_moves_with_tissue_and_is_stable_where_tissue_is_still():
    sim = PhantomSimulator(PhantomParams(size=256, frames=48, fps=20, peak_descent_mm=30.0, seed=5))
    speed = np.abs(np.diff(sim.motion.strength))
    frame = int(np.argmax(speed))  # fastest part of the Valsalva ramp
    a, b = sim.frame(frame), sim.frame(frame + 1)
    neck = np.round(sim.landmarks_px()["bladder_neck"][frame]).astype(int)
    margin = np.round(sim.landmarks_px()["symphysis_lower_edge"][frame]).astype(int)
    half = 10
    # still: perineal tissue 2-8 mm under the probe face, ventral of the symphysis
    x_mm = sim.anatomy.symphysis_margin[0] - 8.0
    face_mm = np.sqrt(sim.params.probe_radius_mm**2 - x_mm**2) - sim.params.probe_radius_mm
    x0, y0 = np.round(sim.geometry.mm_to_px(np.array([x_mm, face_mm + 2.0]))).astype(int)
    still = (slice(y0, y0 + half), slice(x0 - half, x0 + half))
    moving = (slice(neck[1] - half, neck[1] + half), slice(neck[0] - half, neck[0] + half))
    assert a[still].mean() > 10
    still_corr, moving_corr = _correlation(a[still], b[still]), _correlation(a[moving], b[moving])
    assert still_corr > 0.9
    assert moving_corr < still_corr - 0.1


@pytest.mark.parametrize(("manoeuvre", "peak"), [("valsalva", 8.0), ("valsalva", 32.0), ("contraction", 9.0)])
def test_measured_peak_descent_matches_the_request(manoeuvre, peak):
    clip = simulate_clip(PhantomParams(size=96, frames=24, manoeuvre=manoeuvre, peak_descent_mm=peak, seed=11))
    neck, margin = clip.landmarks["bladder_neck"], clip.landmarks["symphysis_lower_edge"]
    height_mm = (neck[:, 1] - margin[:, 1]) * clip.pixel_spacing_mm
    descent = height_mm[0] - height_mm
    np.testing.assert_allclose(descent, clip.descent_mm, atol=1e-3)
    assert descent[0] == 0.0
    measured = descent.max() if manoeuvre == "valsalva" else -descent.min()
    assert measured == pytest.approx(peak, rel=0.10)
    assert np.abs(np.diff(neck, axis=0)).max() * clip.pixel_spacing_mm < 0.5 * peak, "smooth motion"
    symphysis_travel = np.linalg.norm(margin - margin[0], axis=1).max() * clip.pixel_spacing_mm
    push = 0.3 * peak if manoeuvre == "valsalva" else 0.0  # the bulging perineum pushes the probe back
    assert symphysis_travel < push + 1.5, "the symphysis moves only with the probe push and jitter"
    if manoeuvre == "valsalva":
        peak_frame = int(np.argmax(descent))
        assert neck[peak_frame, 0] > neck[0, 0], "Valsalva moves the bladder neck dorsally (image right)"


def test_motion_never_folds():
    """Seeds 0-9 x peak descents 5, 20, 40 mm, every frame: no cell of the motion grid in the sector folds."""
    for seed in range(10):
        for peak in (5.0, 20.0, 40.0):
            sim = PhantomSimulator(PhantomParams(size=32, frames=48, peak_descent_mm=peak, seed=seed))
            folded = [sim.folded_cells(frame) for frame in range(48)]
            assert max(folded) == 0, f"seed {seed}, {peak} mm: {max(folded)} folded cells"


def test_fold_measure_counts_a_folding_map():
    displacement = np.zeros(_GRID_SHAPE + (2,), np.float32)
    displacement[10, 10, 0] = 3.0 * _GRID_STEP  # one node pushed across its neighbour
    folded = corner_jacobians(displacement).min(axis=-1) <= 0
    assert folded[10, 10] and folded.sum() <= 4
    assert corner_jacobians(np.zeros_like(displacement)).min() == pytest.approx(1.0)


@pytest.mark.parametrize("params", [
    PhantomParams(manoeuvre="cough"),
    PhantomParams(manoeuvre="contraction", peak_descent_mm=20.0),
    PhantomParams(peak_descent_mm=41.0),
    PhantomParams(size=8),
])
def test_params_are_validated(params):
    with pytest.raises(ValueError):
        simulate_clip(params)


def test_rest_clip_barely_moves():
    clip = simulate_clip(PhantomParams(size=64, frames=12, manoeuvre="rest", seed=2))
    assert np.abs(clip.descent_mm).max() < 1.0


def test_generate_dataset_writes_clips_sidecars_and_split(tmp_path):
    calls = []
    paths = generate_dataset(tmp_path / "ds", clips=5, frames=3, size=48, seed=9, fmt="png",
                             test_fraction=0.4, progress=lambda done, total: calls.append((done, total)))
    assert [p.name for p in paths] == [f"clip_{i:04d}" for i in range(1, 6)]
    assert calls[-1] == (5, 5)
    split = load_split(tmp_path / "ds")
    assert len(split["test"]) == 2 and sorted(split["train"] + split["test"]) == [p.name for p in paths]
    annotations = load_annotations(sidecar_path(paths[0]))
    assert annotations.image_size == (48, 48)
    assert annotations.annotated_frames() == [0, 1, 2]
    point = annotations.point(2, "bladder_neck")
    assert point.origin == "ground_truth"
    meta = annotations.metadata
    assert meta["params"]["seed"] != 9 and len(meta["descent_mm"]) == 3 and meta["pixel_spacing_mm"] > 0
    assert len(list(paths[0].glob("*.png"))) == 3
    kinds = {load_annotations(sidecar_path(p)).metadata["params"]["manoeuvre"] for p in paths}
    assert "valsalva" in kinds


def _run_cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    phantom_command.add_parser(parser.add_subparsers(dest="command"))
    return phantom_command.run(parser.parse_args(["phantom", *argv]))


def test_cli_writes_a_deterministic_dataset(tmp_path, capsys):
    for name in ("a", "b"):
        assert _run_cli(["--out", str(tmp_path / name), "--clips", "2", "--frames", "3", "--size", "48",
                         "--seed", "4", "--format", "dcm", "--descent-mm", "10:20"]) == 0
    assert "2/2 clips" in capsys.readouterr().err
    import pydicom

    for clip in ("clip_0001.dcm", "clip_0002.dcm"):
        first, second = (pydicom.dcmread(tmp_path / name / clip).pixel_array for name in ("a", "b"))
        np.testing.assert_array_equal(first, second)
        sidecar = json.loads(sidecar_path(tmp_path / "a" / clip).read_text())
        assert sidecar["frames"]["0"]["symphysis_lower_edge"]["origin"] == "ground_truth"


@pytest.mark.parametrize("argv", [
    ["--clips", "2"],
    ["--out", "x", "--clips", "0"],
    ["--out", "x", "--descent-mm", "20"],
    ["--out", "x", "--descent-mm", "30:10"],
    ["--out", "x", "--size", "8"],
    ["--out", "x", "--frames", "1"],
    ["--out", "x", "--transfer-pairs", "501"],
    ["--samples", "--transfer-pairs", "2"],
])
def test_cli_rejects_bad_options(argv, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(UserInputError):
        _run_cli(argv)
    assert not (tmp_path / "x").exists()


def test_transfer_truth_starts_as_the_source_and_follows_the_driving_descent():
    anatomy = PhantomParams(size=64, frames=24, seed=900000)
    motion = PhantomParams(size=64, frames=24, manoeuvre="valsalva", peak_descent_mm=25.0, seed=900001)
    params = transfer_params(anatomy, motion)
    assert (params.seed, params.motion_seed, params.peak_descent_mm, params.frames) == (900000, 900001, 25.0, 24)
    driving, truth = simulate_transfer_pair(anatomy, motion)
    own = simulate_clip(anatomy)
    np.testing.assert_array_equal(truth.frames[0], own.frames[0])
    np.testing.assert_array_equal(driving.frames, simulate_clip(motion).frames)
    for name in ("symphysis_lower_edge", "bladder_neck"):
        np.testing.assert_array_equal(truth.landmarks[name][0], own.landmarks[name][0])
    assert not np.array_equal(truth.frames[0], driving.frames[0]), "another subject"
    np.testing.assert_allclose(truth.descent_mm, driving.descent_mm, atol=0.5)
    assert truth.descent_mm.max() == pytest.approx(25.0, rel=0.01)
    neck, margin = truth.landmarks["bladder_neck"], truth.landmarks["symphysis_lower_edge"]
    measured = ((neck[0, 1] - margin[0, 1]) - (neck[:, 1] - margin[:, 1])) * truth.pixel_spacing_mm
    np.testing.assert_allclose(measured, truth.descent_mm, atol=1e-3)
    chained = transfer_params(anatomy, transfer_params(PhantomParams(seed=5), motion))
    assert chained.motion_seed == 900001, "the motion's stream travels with it"


def test_cli_writes_transfer_pairs(tmp_path, capsys):
    out = tmp_path / "pairs"
    assert _run_cli(["--transfer-pairs", "2", "--out", str(out), "--frames", "6", "--size", "48", "--seed", "3"]) == 0
    assert "2/2 pairs" in capsys.readouterr().err
    summary = json.loads((out / "pairs.json").read_text())
    assert [p["name"] for p in summary["pairs"]] == ["pair_001", "pair_002"]
    assert [(p["anatomy_seed"], p["motion_seed"]) for p in summary["pairs"]] == [(903000, 903001), (903002, 903003)]
    for name in ("source.png", "driving.mp4", "truth.mp4"):
        assert (out / "pair_001" / name).is_file() and sidecar_path(out / "pair_001" / name).is_file()
    source = load_annotations(sidecar_path(out / "pair_001" / "source.png"))
    truth = load_annotations(sidecar_path(out / "pair_001" / "truth.mp4"))
    assert source.point(0, "bladder_neck") == truth.point(0, "bladder_neck")
    with pytest.raises(UserInputError):
        _run_cli(["--transfer-pairs", "0", "--out", str(out)])

"""Fine-tuning in minutes (engine/finetune.py): the split, the schedule, best.pt, the verdict, resume."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from usanimator_app.core.errors import UserInputError
from usanimator_app.engine import finetune as FT
from usanimator_app.engine.checkpoint import read_checkpoint
from usanimator_app.engine.config import make_config
from usanimator_app.engine.dataset import Holdout, PairDataset
from usanimator_app.engine.trainer import latest_checkpoint, learning_rate_at, train_steps

from .conftest import moving_disc_clip, write_png_clip

MINUTES = 0.1  # 6 s: setup, validations and a few dozen steps of the tiny model
MOCKED_MINUTES = 0.04  # where validation is replaced by a stand-in that takes no time


@pytest.fixture(scope="module")
def clips_and_model(tmp_path_factory):
    """A folder of 4 tiny clips and a tiny model trained 2 steps on them (the 'starting model')."""
    import os

    folder = tmp_path_factory.mktemp("finetune")
    os.environ.setdefault("USANIMATOR_DATA_DIR", str(folder / "userdata"))
    data = folder / "data"
    data.mkdir()
    for seed in range(4):
        frames, points = moving_disc_clip(frames=10, size=64, seed=seed)
        write_png_clip(data / f"clip_{seed}", frames, points, annotate_every=2)
    config = make_config("ptg", "tiny", steps=2, batch_size=2, checkpoint_every=2, sample_every=0)
    list(train_steps(data, folder / "base", config, device="cpu"))
    return data, latest_checkpoint(folder / "base")


def test_split_is_by_clip_from_three_clips_and_by_time_below(tmp_path):
    clips = [tmp_path / f"patient_{n:02d}.mp4" for n in range(23)]
    split = FT.make_split(clips)
    assert split.mode == "clips" and len(split.validation) == 4 and len(split.training) == 19
    assert not set(split.validation) & set(split.training)
    assert FT.make_split(clips[:3]).mode == "clips" and len(FT.make_split(clips[:3]).validation) == 1
    two = FT.make_split(clips[:2])
    assert two.mode == "time" and two.validation == two.training == sorted(clips[:2])
    assert "by time" in two.text() and "patient_02.mp4" in split.text()


def test_split_record_names_clips_by_content_not_by_name(clips_and_model):
    data, _ = clips_and_model
    record = FT.make_split(FT.data_clips(data)).record()
    assert "clip_" not in json.dumps(record)
    assert all(name.startswith("sha256:") for name in record["training"] + record["validation"])


def test_holdout_keeps_validation_clips_and_tails_out_of_training(clips_and_model):
    data, _ = clips_and_model
    split = FT.make_split(FT.data_clips(data))
    dataset = PairDataset(data, 64, (), holdout=split.holdout())
    assert sorted(c.name for c in dataset.clips) == sorted(p.name for p in split.training)
    tails = PairDataset(data, 64, (), holdout=Holdout(tail=0.25))
    assert {c.frames.shape[0] for c in tails.clips} == {10 - 2}  # round(0.25 * 10) = 2 frames validate
    by_time = FT.make_split(FT.data_clips(data)[:2])
    assert [len(clip.frames) for clip in FT.validation_clips(by_time)] == [2, 2]  # the frames training leaves out


def test_learning_rate_warms_up_then_decays_over_the_budget():
    train = make_config("ptg", "tiny", learning_rate=1e-3, warmup_steps=10, time_budget_seconds=100.0).train
    assert learning_rate_at(train, 0, 0.0) == pytest.approx(1e-4)
    assert learning_rate_at(train, 9, 0.0) == pytest.approx(1e-3)
    assert learning_rate_at(train, 50, 50.0) == pytest.approx(0.5e-3)
    assert learning_rate_at(train, 99, 100.0) == pytest.approx(0.0, abs=1e-12)
    constant = make_config("ptg", "tiny", learning_rate=1e-3).train
    assert learning_rate_at(constant, 0, 0.0) == learning_rate_at(constant, 500, 1e6) == 1e-3


def test_nothing_better_keeps_the_starting_model(tmp_path, clips_and_model, monkeypatch):
    data, start = clips_and_model
    worse = iter([0.10, 0.12, 0.11, 0.13, 0.12, 0.14, 0.15, 0.16])

    def figures(checkpoint, clips, device="auto"):
        return {"l1": next(worse), "identity_l1": 0.11, "ratio": 1.0, "folds": 0.0, "implausible": 0.0, "seconds": 0.1}

    monkeypatch.setattr(FT, "validate", figures)
    reports = list(FT.finetune_steps(data, tmp_path / "run", init=start, minutes=MOCKED_MINUTES, device="cpu"))
    assert not reports[-1].verdict["better"]
    assert reports[-1].message.startswith("no better than the model you started from")
    assert (tmp_path / "run" / FT.BEST_FILE).read_bytes() == Path(start).read_bytes()


def test_implausible_checkpoints_are_never_kept(tmp_path, clips_and_model, monkeypatch):
    data, start = clips_and_model
    calls = []

    def figures(checkpoint, clips, device="auto"):
        calls.append(checkpoint)
        folds = 0.0 if len(calls) == 1 else 0.05  # every trained checkpoint folds 5 %
        return {"l1": 0.1 / len(calls), "identity_l1": 0.11, "ratio": 1.0, "folds": folds, "implausible": folds, "seconds": 0.1}

    monkeypatch.setattr(FT, "validate", figures)
    reports = list(FT.finetune_steps(data, tmp_path / "run", init=start, minutes=MOCKED_MINUTES, device="cpu"))
    assert len(calls) >= 2 and not reports[-1].verdict["better"]


def test_stop_resume_and_a_kill_before_the_last_validation(tmp_path, clips_and_model):
    """Stop, then resume to the verdict without a second start; then as if killed -9 after the last
    checkpoint but before its validation: resume validates it and ends."""
    data, start = clips_and_model
    steps = []
    for report in FT.finetune_steps(data, tmp_path / "run", init=start, minutes=MINUTES, device="cpu",
                                    should_stop=lambda: len(steps) >= 3):
        if report.losses:
            steps.append(report.step)
    assert report.message == "stopped on request" and report.verdict is None
    with pytest.raises(UserInputError, match="already holds a run"):
        list(FT.finetune_steps(data, tmp_path / "run", init=start, minutes=MINUTES, device="cpu"))
    resumed = list(FT.finetune_steps(data, tmp_path / "run", resume=True, device="cpu"))
    assert resumed[-1].verdict is not None
    assert min(r.step for r in resumed if r.losses) == 4
    path = tmp_path / "run" / FT.FINETUNE_FILE
    record = json.loads(path.read_text())
    assert [v["step"] for v in record["validations"]].count(0) == 1
    last = record["validations"].pop()
    record["verdict"], record["kept_step"] = None, 0
    path.write_text(json.dumps(record))
    again = list(FT.finetune_steps(data, tmp_path / "run", resume=True, device="cpu"))
    assert [r.validation["step"] for r in again if r.validation] == [last["step"]]
    assert not [r for r in again if r.losses] and again[-1].verdict is not None


def test_cli_minutes_needs_init_and_refuses_steps(tmp_path, clips_and_model):
    from usanimator_app.cli import build_parser
    from usanimator_app.commands.train import _check_finetune_args

    data, start = clips_and_model
    base = ["train", "--data", str(data), "--out", str(tmp_path / "run")]
    for extra, message in ((["--minutes", "1", "--init", str(start), "--steps", "5"], "--steps"),
                           (["--minutes", "0", "--init", str(start)], "above 0"),
                           (["--resume", "--minutes", "3"], "leave out --minutes")):
        with pytest.raises(UserInputError, match=message):
            _check_finetune_args(build_parser().parse_args(base + extra))
    done = subprocess.run([sys.executable, "-m", "usanimator_app"] + base + ["--minutes", "1"], capture_output=True, text=True)
    assert done.returncode == 2 and "--init" in done.stderr, done.stderr


def test_cli_fine_tune_keeps_the_best_validated_model_and_says_so(tmp_path, clips_and_model):
    data, start = clips_and_model
    run = tmp_path / "run"
    done = subprocess.run([sys.executable, "-m", "usanimator_app", "train", "--data", str(data), "--out", str(run),
                           "--init", str(start), "--minutes", str(MINUTES), "--device", "cpu", "--progress", "json"],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    assert lines[0]["message"].startswith("validation split: by clip, 1 of 4")
    validations = [line["validation"] for line in lines if "validation" in line]
    assert validations[0]["step"] == 0 and validations[0]["best"] and len(validations) >= 2
    assert any(line.get("message", "").startswith("time budget") for line in lines)
    assert any("warp_l1" in line["losses"] and "rec_vgg" not in line["losses"] for line in lines if line["losses"])
    record = json.loads((run / FT.FINETUNE_FILE).read_text())
    verdict = lines[-1]["verdict"]
    assert verdict == record["verdict"] and record["budget_minutes"] == MINUTES and verdict["best"] == str(run / FT.BEST_FILE)
    kept = min(record["validations"], key=lambda v: v["l1"])
    assert verdict["kept"]["l1"] == kept["l1"] and verdict["better"] == (kept["step"] != 0)
    assert verdict["text"].startswith("better than" if verdict["better"] else "no better than the model you started from")
    assert read_checkpoint(run / FT.BEST_FILE)["step"] == (kept["step"] if kept["step"] else read_checkpoint(start)["step"])
    assert "clip_" not in json.dumps(record)  # clips by content hash, not by (patient) name


@pytest.mark.parametrize("recipe, trained", [
    ("motion", {"keypoint_detector", "dense_motion.hourglass", "dense_motion.mask_head", "dense_motion.occlusion_head"}),
    ("fill", {"generator", "discriminator", "dense_motion.occlusion_head"}),
])
def test_a_recipe_trains_its_networks_only(tmp_path, clips_and_model, recipe, trained):
    """The motion recipe leaves the generator and discriminator as they were; the fill recipe the
    keypoint detector and the deformation's part of the dense motion (weights and batch statistics)."""
    data, start = clips_and_model
    config = make_config(batch_size=2, steps=2, checkpoint_every=2, sample_every=0, networks=recipe)
    reports = [r for r in train_steps(data, tmp_path / "run", config, device="cpu", init=start) if r.losses]
    losses = set(reports[-1].losses)
    assert ("eq1" in losses) == (recipe == "motion") and ("rec_vgg" in losses) == (recipe == "fill") and "warp_l1" in losses
    before, after = read_checkpoint(start)["networks"], read_checkpoint(latest_checkpoint(tmp_path / "run"))["networks"]
    parts = {}  # network, or dense_motion's part -> changed?
    for network, state in before.items():
        for key, value in state.items():
            part = f"{network}.{key.split('.')[0]}" if network == "dense_motion" else network
            parts[part] = parts.get(part, False) or not torch.equal(value, after[network][key])
    assert {part for part, changed in parts.items() if changed} == trained, parts


def test_the_recipe_is_recorded_and_a_bad_one_refused(tmp_path, clips_and_model, monkeypatch):
    data, start = clips_and_model
    with pytest.raises(UserInputError, match="recipe"):
        next(FT.finetune_steps(data, tmp_path / "bad", init=start, minutes=MOCKED_MINUTES, device="cpu", recipe="texture"))
    monkeypatch.setattr(FT, "validate", lambda *a, **k: {"l1": 0.1, "identity_l1": 0.11, "ratio": 1.0, "folds": 0.0,
                                                          "implausible": 0.0, "seconds": 0.1})
    reports = list(FT.finetune_steps(data, tmp_path / "run", init=start, minutes=MOCKED_MINUTES, device="cpu", recipe="fill"))
    assert json.loads((tmp_path / "run" / FT.FINETUNE_FILE).read_text())["recipe"] == "fill"
    assert any("fill recipe" in (r.message or "") for r in reports)
    assert all("eq1" not in r.losses for r in reports)

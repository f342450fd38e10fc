"""evaluate --task transfer and animate --motion-out, end to end on a tiny model and tiny clips."""

import json

import cv2
import numpy as np
import pytest

from usanimator_app.cli import main
from usanimator_app.engine.checkpoint import save_checkpoint
from usanimator_app.engine.config import make_config
from usanimator_app.engine.model import AnimationModel
from usanimator_app.evaluation.plausibility import jacobian_determinant

from .conftest import moving_disc_clip, write_png_clip


@pytest.fixture()
def tiny_model(tmp_path):
    config = make_config("ptg", "tiny")
    return save_checkpoint(tmp_path / "tiny.pt", config, AnimationModel(config.model).eval(), step=0)


def _clips(folder, count=2, frames=6):
    folder.mkdir()
    for seed in range(count):
        clip, points = moving_disc_clip(frames=frames, size=64, seed=seed)
        write_png_clip(folder / f"clip_{seed}", clip, points)
    return folder


def test_transfer_scores_every_ordered_pair_and_every_still_with_its_raw_baseline(tmp_path, tiny_model, backbone_cache, capsys):
    data = _clips(tmp_path / "data")
    still = tmp_path / "still.png"
    frames, _ = moving_disc_clip(frames=1, size=64, seed=7)
    cv2.imwrite(str(still), frames[0])
    out = tmp_path / "transfer"
    assert main(["evaluate", "--task", "transfer", "--model", f"tiny={tiny_model}", "--data", str(data), "--source", str(still),
                 "--driving", str(data / "clip_0"), "--raw-too", "--out", str(out), "--device", "cpu", "--window", "5"]) == 0
    report = json.loads((out / "transfer.json").read_text())
    assert set(report["summary"]) == {"tiny", "tiny:raw"}
    rows = (out / "transfer.csv").read_text().splitlines()
    pairs = {line.split(",")[1] for line in rows[1:]}
    assert pairs == {"clip_0 <- clip_1", "clip_1 <- clip_0", "still <- clip_0"}
    assert report["summary"]["tiny"]["folds"] == 0.0  # the default motion cannot fold
    assert {"identity", "tiny", "tiny:raw"} <= set(report["fid"])
    assert cv2.imread(str(out / "transfer_worst_tiny.png")) is not None
    assert "motion_kept" in (out / "transfer.md").read_text()


def test_transfer_without_pairs_or_with_a_lone_still_is_refused(tmp_path, tiny_model, capsys):
    out = str(tmp_path / "out")
    assert main(["evaluate", "--task", "transfer", "--model", str(tiny_model), "--out", out]) == 2
    assert "needs pairs" in capsys.readouterr().err
    still = tmp_path / "still.png"
    cv2.imwrite(str(still), np.zeros((32, 32), np.uint8))
    assert main(["evaluate", "--task", "transfer", "--model", str(tiny_model), "--source", str(still), "--out", out]) == 2
    assert "need --driving" in capsys.readouterr().err


def test_motion_out_writes_the_fields_of_every_frame(tmp_path, tiny_model):
    data = _clips(tmp_path / "data", count=1, frames=4)
    frames, _ = moving_disc_clip(frames=1, size=64, seed=3)
    still = tmp_path / "still.png"
    cv2.imwrite(str(still), frames[0])
    motion = tmp_path / "motion.npz"
    assert main(["animate", "--source", str(still), "--driving", str(data / "clip_0"), "--out", str(tmp_path / "a.mp4"),
                 "--model", str(tiny_model), "--device", "cpu", "--motion-out", str(motion)]) == 0
    fields = np.load(motion)
    frames_count, height, width, _ = fields["displacement"].shape
    assert frames_count == 4 and fields["displacement"].dtype == np.float32
    assert fields["occlusion"].shape == (4, height, width) and fields["source"].dtype == np.uint8
    assert fields["keypoints"].shape[0] == 4 and list(fields["landmark_names"]) == ["symphysis_lower_edge", "bladder_neck"]
    size = fields["source"].shape[0]
    assert all((jacobian_determinant(d, size) > 0).all() for d in fields["displacement"])

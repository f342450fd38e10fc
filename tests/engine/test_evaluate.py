"""The evaluation protocol end to end on a tiny model and a tiny dataset."""

import csv

import cv2
import numpy as np

from usanimator_app.cli import main
from usanimator_app.core.annotations import save_split
from usanimator_app.engine.checkpoint import save_checkpoint
from usanimator_app.engine.config import make_config
from usanimator_app.engine.model import AnimationModel

from .conftest import moving_disc_clip, write_png_clip


def test_evaluate_writes_paper_style_tables(tmp_path, backbone_cache, capsys):
    data = tmp_path / "data"
    data.mkdir()
    for seed in range(2):
        frames, points = moving_disc_clip(frames=20, size=64, seed=seed)
        write_png_clip(data / f"clip_{seed}", frames, points)
    save_split(data, train=[], test=["clip_0", "clip_1"])
    config = make_config("ptg", "tiny")
    model = save_checkpoint(tmp_path / "tiny.pt", config, AnimationModel(config.model).eval(), step=0)
    out = tmp_path / "eval"
    assert main(["evaluate", "--model", f"tinyptg={model}", "--data", str(data), "--out", str(out), "--device", "cpu",
                 "--window", "17", "--fid-frame-stride", "8"]) == 0
    rows = list(csv.reader((out / "evaluation.csv").open()))
    header = rows[0]
    table = {row[0]: dict(zip(header, row)) for row in rows[1:]}
    assert header[0] == "Method" and list(table) == ["identity", "tinyptg", "tinyptg:model", "tinyptg:content"]
    identity, tiny = table["identity"], table["tinyptg"]
    # identity reproduces the source exactly, so on its own source frame it is perfect: L1 > 0 overall but finite
    assert 0 < float(identity["Recon L1"]) < 1 and np.isfinite(float(identity["Recon FID"]))
    assert float(identity["Recon FVD"]) >= 0 and float(tiny["Predi FID"]) >= 0
    assert identity["Recon LPIPS"] == "n/a"
    assert float(tiny["Recon landmark_px"]) >= 0 and float(identity["Recon landmark_px"]) > 0 and float(tiny["Recon AKD_px"]) >= 0
    low, high = (float(v) for v in identity["Recon FID_CI"].split("-"))
    assert low <= high
    per_clip = list(csv.DictReader((out / "evaluation_per_clip.csv").open()))
    assert {(r["method"], r["clip"]) for r in per_clip} >= {("identity", "clip_0"), ("tinyptg:model", "clip_1")}
    assert all(r["frames"] == "16" for r in per_clip)  # a 17-frame window, the source frame not scored
    text = (out / "evaluation.md").read_text()
    assert "| identity |" in text and "LPIPS" in text and "unavailable" in text and "wins vs identity" in text
    figure = cv2.imread(str(out / "samples.png"))
    assert figure.shape[0] == 2 * 256  # one row per task, every tile at the fixed 256 x 256 evaluation size


def test_carry_points_inverts_a_constant_displacement():
    from usanimator_app.evaluation.metrics import carry_points

    displacement = np.zeros((16, 16, 2))
    displacement[..., 0], displacement[..., 1] = -3.0, 2.0  # each output pixel samples the source at (x - 3, y + 2)
    carried = carry_points(displacement, np.array([[30.0, 20.0], [10.5, 40.0]]), size=64)
    assert np.allclose(carried, [[33.0, 18.0], [13.5, 38.0]], atol=1e-6)

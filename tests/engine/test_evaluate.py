"""The evaluation protocol end to end on a tiny model and a tiny dataset."""

import csv

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
        frames, points = moving_disc_clip(frames=16, size=64, seed=seed)
        write_png_clip(data / f"clip_{seed}", frames, points)
    save_split(data, train=[], test=["clip_0", "clip_1"])
    config = make_config("ptg", "tiny")
    model = save_checkpoint(tmp_path / "tiny.pt", config, AnimationModel(config.model).eval(), step=0)
    out = tmp_path / "eval"
    assert main(["evaluate", "--model", f"tinyptg={model}", "--data", str(data), "--out", str(out), "--device", "cpu"]) == 0
    rows = list(csv.reader((out / "evaluation.csv").open()))
    header, identity, tiny = rows[0], dict(zip(rows[0], rows[1])), dict(zip(rows[0], rows[2]))
    assert header[0] == "Method" and identity["Method"] == "identity" and tiny["Method"] == "tinyptg"
    # identity reproduces the source exactly, so on its own source frame it is perfect: L1 > 0 overall but finite
    assert 0 < float(identity["Recon L1"]) < 1 and np.isfinite(float(identity["Recon FID"]))
    assert float(identity["Recon FVD"]) >= 0 and float(tiny["Predi FID"]) >= 0
    assert identity["Recon LPIPS"] == "n/a"
    assert float(tiny["Recon landmark_err_px"]) >= 0 and float(tiny["Recon AKD_px"]) >= 0
    text = (out / "evaluation.md").read_text()
    assert "| identity |" in text and "LPIPS" in text and "unavailable" in text
    assert (out / "samples.png").stat().st_size > 1000

"""Bad input through the CLI, one case per class of issue 14, built at test time: each gives exit
code 2 and one line on stderr that names the file or option, before any work is done."""

from __future__ import annotations

import json
from pathlib import Path

import pydicom
import pytest
import torch

from usanimator_app.cli import main
from usanimator_app.core.annotations import sidecar_path
from usanimator_app.engine.checkpoint import save_checkpoint
from usanimator_app.engine.config import make_config
from usanimator_app.engine.model import AnimationModel

from .conftest import moving_disc_clip, write_png_clip

REPO = Path(__file__).resolve().parents[2]
SOURCE = REPO / "resources" / "sample_source.dcm"
DRIVING = REPO / "resources" / "sample_driving.mp4"


def _fails_cleanly(argv: list[str], capsys, *words: str) -> str:
    """Run the CLI in-process; assert exit code 2 and one clean stderr line containing ``words``."""
    code = main(argv)
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("usanimator ")]
    assert code == 2, err
    assert len(lines) == 1 and "Traceback" not in err and "\x1b" not in err and "weights_only" not in err, err
    for word in words:
        assert word in lines[0], err
    return lines[0]


@pytest.fixture()
def tiny_model(tmp_path) -> tuple[Path, dict]:
    config = make_config("ptg", "tiny")
    path = save_checkpoint(tmp_path / "tiny.pt", config, AnimationModel(config.model).eval(), step=0)
    return path, torch.load(path, weights_only=True)


@pytest.fixture()
def a_file(tmp_path) -> Path:
    path = tmp_path / "FILE"
    path.write_text("a regular file where a folder should be\n")
    return path


def test_animate_options_are_checked_before_work(tmp_path, capsys, a_file):
    base = ["animate", "--source", str(SOURCE), "--driving", str(DRIVING), "--device", "cpu"]
    _fails_cleanly(base + ["--out", str(a_file / "x.mp4")], capsys, "FILE", "is a file")
    _fails_cleanly(base + ["--out", str(a_file / "frames")], capsys, "FILE", "is a file")
    for option, value, words in (("--fps", "-5", "--fps"), ("--fps", "nan", "--fps"), ("--fps", "inf", "--fps"),
                                 ("--gain", "nan", "--gain"), ("--gain", "-1", "--gain"), ("--max-frames", "0", "--max-frames")):
        _fails_cleanly(base + ["--out", str(tmp_path / "o.mp4"), option, value], capsys, words)
    assert not (tmp_path / "o.mp4").exists()


def test_driving_dicom_with_infinite_fps_falls_back(tmp_path, capsys, tiny_model):
    header = pydicom.dcmread(pydicom.examples.ybr_color.filename)
    header.add_new(pydicom.datadict.tag_for_keyword("FrameTime"), "DS", "1e-300")
    driving = tmp_path / "driving.dcm"
    with pydicom.config.disable_value_validation():
        header.save_as(driving)
    assert main(["info", str(driving)]) == 0
    out = capsys.readouterr().out
    assert json.loads(out)["fps"] is None and "Infinity" not in out
    code = main(["animate", "--source", str(SOURCE), "--driving", str(driving), "--out", str(tmp_path / "o.mp4"),
                 "--model", str(tiny_model[0]), "--device", "cpu", "--max-frames", "2"])
    assert code == 0 and (tmp_path / "o.mp4").stat().st_size > 0


def test_train_options_are_checked(tmp_path, capsys, a_file, tiny_dataset):
    base = ["train", "--data", str(tiny_dataset), "--size", "tiny", "--steps", "1", "--device", "cpu"]
    _fails_cleanly(base + ["--out", str(a_file)], capsys, "FILE", "is a file")
    _fails_cleanly(base + ["--out", str(a_file / "run")], capsys, "FILE", "is a file")
    for option, value in (("--lr", "nan"), ("--lr", "-1"), ("--lr", "inf"), ("--batch", "0"), ("--seed", "-1")):
        _fails_cleanly(base + ["--out", str(tmp_path / "run"), option, value], capsys, option)
    text_png = tmp_path / "text.png"
    text_png.write_text("not weights\n")
    message = _fails_cleanly(base + ["--out", str(tmp_path / "run"), "--vgg19", str(text_png)], capsys, "text.png")
    assert "pop from empty list" not in message
    assert not (tmp_path / "run" / "checkpoints").exists()


def _write_sidecar(clip: Path, data) -> None:
    sidecar_path(clip).write_text(json.dumps(data))


GOOD_POINT = {"xy": [10.0, 12.0], "origin": "manual"}
BAD_SIDECARS = {
    "a list": ([], "top level"),
    "no xy": ({"frames": {"0": {"bladder_neck": {"origin": "manual"}}}}, "'xy'"),
    "xy strings": ({"frames": {"0": {"bladder_neck": {"xy": ["1", "2"]}}}}, "two finite numbers"),
    "frame first": ({"frames": {"first": {"bladder_neck": GOOD_POINT}}}, "'first'"),
    "origin robot": ({"frames": {"0": {"bladder_neck": {"xy": [1, 2], "origin": "robot"}}}}, "'robot'"),
    "NaN": ({"frames": {"0": {"bladder_neck": {"xy": [float("nan"), 2]}}}}, "two finite numbers"),
    "off image": ({"frames": {"0": {"bladder_neck": {"xy": [1e6, 2]}}}}, "outside the 64x64 image"),
}


@pytest.mark.parametrize("case", list(BAD_SIDECARS))
def test_bad_sidecars_are_named_with_field_and_value(tmp_path, capsys, tiny_dataset, case):
    data, words = BAD_SIDECARS[case]
    if isinstance(data, dict):
        data = {"format": "usanimator-annotations", "version": 1, "image_size": [64, 64],
                "landmarks": ["symphysis_lower_edge", "bladder_neck"], **data}
    _write_sidecar(tiny_dataset / "clip_0", data)
    argv = ["train", "--data", str(tiny_dataset), "--size", "tiny", "--steps", "1", "--device", "cpu",
            "--out", str(tmp_path / f"run_{case.replace(' ', '_')}")]
    _fails_cleanly(argv, capsys, "clip_0.annotations.json", words)


def test_bad_split_files(tmp_path, capsys, tiny_dataset):
    argv = ["train", "--data", str(tiny_dataset), "--size", "tiny", "--steps", "1", "--device", "cpu",
            "--out", str(tmp_path / "run")]
    (tiny_dataset / "split.json").write_text(json.dumps(["clip_0", "clip_1"]))
    _fails_cleanly(argv, capsys, "split.json", "must be an object")
    (tiny_dataset / "split.json").write_text(json.dumps({"version": 1, "train": ["clip_0", "clip_9"], "test": ["clip_2"]}))
    _fails_cleanly(argv, capsys, "split.json", "clip_9", "not in the folder")


def test_evaluate_checks_before_work(tmp_path, capsys, a_file, tiny_dataset, tiny_model):
    model = str(tiny_model[0])
    _fails_cleanly(["evaluate", "--model", model, "--data", str(tiny_dataset), "--out", str(a_file)], capsys, "is a file")
    # the fixture's test split has one clip: FVD cannot be computed
    _fails_cleanly(["evaluate", "--model", model, "--data", str(tiny_dataset), "--out", str(tmp_path / "eval")],
                   capsys, "1 clip", "at least 2")
    assert not (tmp_path / "eval").exists()


def test_broken_checkpoints_are_refused_on_load(tmp_path, capsys, tiny_model, tiny_dataset):
    path, payload = tiny_model
    cases = {}
    nan = json.loads(json.dumps(payload["config"]))
    broken = dict(payload, networks={k: dict(v) for k, v in payload["networks"].items()})
    weight = next(iter(broken["networks"]["generator"]))
    broken["networks"]["generator"][weight] = broken["networks"]["generator"][weight].clone().fill_(float("nan"))
    cases["nan.pt"] = (broken, "non-finite weights")
    for name, value, words in (("size0.pt", 0, "image_size is 0"), ("big.pt", "big", "image_size is 'big'"),
                               ("size256.pt", 256, "do not fit the config's size tiny")):
        config = json.loads(json.dumps(nan))
        config["model"]["image_size"] = value
        cases[name] = (dict(payload, config=config), words)
    for name, (data, words) in cases.items():
        torch.save(data, tmp_path / name)
        out = tmp_path / f"{name}.mp4"
        _fails_cleanly(["animate", "--source", str(SOURCE), "--driving", str(DRIVING), "--out", str(out),
                        "--model", str(tmp_path / name), "--device", "cpu"], capsys, name, words)
        assert not out.exists()
    (tiny_dataset / "split.json").write_text(json.dumps({"version": 1, "train": ["clip_0"], "test": ["clip_1", "clip_2"]}))
    _fails_cleanly(["evaluate", "--model", str(tmp_path / "nan.pt"), "--data", str(tiny_dataset), "--out",
                    str(tmp_path / "eval"), "--device", "cpu"], capsys, "nan.pt", "non-finite weights")


class _Evil:
    def __reduce__(self):
        return (print, ("this must never run",))


def test_malicious_checkpoint_message_is_the_apps_own(tmp_path, capsys):
    torch.save({"format": "usanimator-checkpoint", "x": _Evil()}, tmp_path / "evil.pt")
    message = _fails_cleanly(["animate", "--source", str(SOURCE), "--driving", str(DRIVING),
                              "--out", str(tmp_path / "o.mp4"), "--model", str(tmp_path / "evil.pt")], capsys, "evil.pt")
    assert "weights_only" not in message and "must never run" not in capsys.readouterr().out


def _run_folder(tmp_path: Path, step: int, training_state: bool) -> Path:
    run = tmp_path / "run"
    config = make_config("ptg", "tiny", steps=step)
    model = AnimationModel(config.model)
    extra = {"optimizers": {"generator": {}}, "rng": {"torch": torch.get_rng_state()}} if training_state else {}
    save_checkpoint(run / "checkpoints" / f"step_{step:07d}.pt", config, model, step, **extra)
    (run / "config.yaml").write_text("the run's config\n")
    return run


def test_resume_without_training_state_points_to_init(tmp_path, capsys, tiny_dataset):
    run = _run_folder(tmp_path, 30, training_state=False)
    _fails_cleanly(["train", "--data", str(tiny_dataset), "--out", str(run), "--resume", "--steps", "60"],
                   capsys, "step_0000030.pt", "without its training state", "--init")


def test_resume_that_would_do_nothing_says_so(tmp_path, capsys, tiny_dataset):
    run = _run_folder(tmp_path, 30, training_state=True)
    stale = run / "checkpoints" / ".step_0000031.abcd.tmp.pt"
    stale.write_bytes(b"")
    for steps in (["--steps", "1"], ["--steps", "30"], []):
        _fails_cleanly(["train", "--data", str(tiny_dataset), "--out", str(run), "--resume", *steps],
                       capsys, "already at step 30", "--steps above 30")
    assert (run / "config.yaml").read_text() == "the run's config\n"
    assert not stale.exists()
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["step_0000030.pt"]


def test_a_good_sidecar_still_loads(tmp_path):
    """No false refusals: a sidecar as the app writes it passes the checks."""
    frames, points = moving_disc_clip(frames=4, size=32, seed=3)
    clip = write_png_clip(tmp_path / "ok_clip", frames, points)
    from usanimator_app.core.annotations import load_annotations

    annotations = load_annotations(sidecar_path(clip))
    assert annotations.annotated_frames() == [0, 1, 2, 3]


def test_gui_options_are_checked_before_the_window_opens(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("QT_QPA_PLATFORM", "offscreen")
    in_the_way = tmp_path / "notes.txt"
    in_the_way.write_text("a file, not a folder")
    _fails_cleanly(["gui", "--source", str(SOURCE), "--driving", str(DRIVING), "--export", str(in_the_way / "x.mp4")],
                   capsys, "--export", "is a file")
    _fails_cleanly(["gui", "--source", str(tmp_path / "missing.dcm")], capsys, "--source", "no such file")

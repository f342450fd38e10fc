"""PHI from the CLI: a DICOM source whose header names a patient, and a source, driving clip, model
and folders named after the patient (name, record number, birth date), animated with edited motion
and exported as MP4 (bundled model) and PNGs (a model of the user's): no identifier appears in any
byte or name of any file written beside the output, nor a header identifier in the messages. The
settings file remakes the export from files found by hash, and refuses a file of other content."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pydicom

from usanimator_app.cli import main
from usanimator_app.core.trajectory import TrajectoryEdits
from usanimator_app.engine.checkpoint import save_checkpoint
from usanimator_app.engine.config import make_config
from usanimator_app.engine.model import AnimationModel

from ..phi import HEADER_FORMS, IDENTIFIERS, PATIENT_FILE, PATIENT_FOLDER, leaks, leaks_under

REPO = Path(__file__).resolve().parents[2]
FAST = ["--device", "cpu", "--max-frames", "3", "--output-size", "model"]


def _identified_source(path: Path) -> Path:
    header = pydicom.dcmread(REPO / "resources" / "sample_source.dcm")
    for keyword, value in IDENTIFIERS.items():
        setattr(header, keyword, value)
    header.save_as(path)
    return path


def _patient_inputs(root: Path) -> dict[str, Path]:
    """Source, driving clip and a (tiny) model in a folder named after the patient, named after her."""
    folder = root / PATIENT_FOLDER
    folder.mkdir(parents=True)
    driving = folder / f"{PATIENT_FILE}_cine.mp4"
    shutil.copy(REPO / "resources" / "sample_driving.mp4", driving)
    config = make_config("ptg", "tiny")
    model = save_checkpoint(folder / f"{PATIENT_FILE}_model.pt", config, AnimationModel(config.model).eval(), step=0)
    return {"source": _identified_source(folder / f"{PATIENT_FILE}.dcm"), "driving": driving, "model": model}


def _animate(inputs: dict[str, Path], out: Path, *extra: str) -> int:
    return main(["animate", "--source", str(inputs["source"]), "--driving", str(inputs["driving"]), "--out", str(out),
                 "--layout", "side-by-side", *FAST, *extra])


def test_no_identifier_reaches_any_output_file_name_or_message(tmp_path, capsys):
    inputs = _patient_inputs(tmp_path / "inputs")
    assert all(value.encode() in inputs["source"].read_bytes() for value in IDENTIFIERS.values())
    edits = tmp_path / "edits.json"
    edits.write_text(json.dumps(TrajectoryEdits(scale=2.0).to_json()))
    out = tmp_path / "out"
    assert _animate(inputs, out / "clip.mp4", "--trajectory", str(edits)) == 0  # the bundled model
    assert _animate(inputs, out / "frames", "--trajectory", str(edits), "--model", str(inputs["model"])) == 0
    assert _animate(inputs, out / "plain.mp4", "--model", str(inputs["model"])) == 0
    messages = capsys.readouterr()

    assert {p.name for p in out.iterdir()} == {"clip.mp4", "clip.mp4.settings.json", "frames", "frames.settings.json",
                                                "plain.mp4"}
    assert len(list((out / "frames").glob("*.png"))) == 3
    assert leaks_under(out) == {}
    settings = json.loads((out / "frames.settings.json").read_text())
    assert settings["model"]["role"] == "model" and "bundled" not in settings["model"]
    assert json.loads((out / "clip.mp4.settings.json").read_text())["model"]["bundled"] == "usanimator-ptg-cpu128.pt"
    assert leaks(messages.out + messages.err, HEADER_FORMS) == []  # the terminal may name the user's own files


def test_the_settings_remake_the_export_from_files_found_by_hash_and_refuse_others(tmp_path, capsys):
    inputs = _patient_inputs(tmp_path / "inputs")
    edits = tmp_path / "edits.json"
    edits.write_text(json.dumps(TrajectoryEdits(scale=2.0, smooth=3).to_json()))
    assert _animate(inputs, tmp_path / "first.mp4", "--trajectory", str(edits), "--model", str(inputs["model"])) == 0
    settings_file = tmp_path / "first.mp4.settings.json"
    remake = ["remake", str(settings_file), "--device", "cpu"]

    assert main(remake + ["--search", str(tmp_path / "elsewhere"), "--search", str(tmp_path / "inputs"),
                          "--out", str(tmp_path / "again.mp4")]) == 0
    assert (tmp_path / "again.mp4").stat().st_size > 0
    assert json.loads((tmp_path / "again.mp4.settings.json").read_text()) == json.loads(settings_file.read_text())
    capsys.readouterr()

    other = tmp_path / "other.dcm"
    shutil.copy(REPO / "resources" / "sample_source.dcm", other)  # the same picture, another header: other content
    assert main(remake + ["--source", str(other), "--search", str(tmp_path / "inputs"), "--out", str(tmp_path / "x.mp4")]) == 2
    assert "does not match the source (sha256" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert main(remake + ["--search", str(tmp_path / "empty"), "--out", str(tmp_path / "x.mp4")]) == 2
    assert "was not found by its content" in capsys.readouterr().err
    assert not (tmp_path / "x.mp4").exists()


def test_a_run_folder_names_no_file_or_folder_of_the_user(tmp_path, tiny_dataset):
    folder = tmp_path / PATIENT_FOLDER
    folder.mkdir()
    data = shutil.move(tiny_dataset, folder / f"{PATIENT_FILE}_clips")
    config = make_config("ptg", "tiny")
    init = save_checkpoint(folder / f"{PATIENT_FILE}_model.pt", config, AnimationModel(config.model), step=0)
    run = tmp_path / "run"
    assert main(["train", "--data", str(data), "--init", str(init), "--out", str(run), "--steps", "2", "--batch", "1",
                 "--checkpoint-every", "2", "--sample-every", "1", "--device", "cpu"]) == 0
    assert {p.name for p in run.iterdir()} == {"config.yaml", "metrics.jsonl", "checkpoints", "samples"}
    assert leaks_under(run) == {}  # the config, the metrics, the checkpoints' bytes, the previews
    assert "init_from: sha256:" in (run / "config.yaml").read_text()

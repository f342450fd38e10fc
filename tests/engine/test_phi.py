"""PHI: a DICOM source whose header names a patient, animated and exported as MP4 and PNGs from the
CLI: none of the identifiers appears in any output file's bytes, any file name or the messages."""

from __future__ import annotations

from pathlib import Path

import pydicom

from usanimator_app.cli import main
from usanimator_app.engine.checkpoint import save_checkpoint
from usanimator_app.engine.config import make_config
from usanimator_app.engine.model import AnimationModel

from ..phi import IDENTIFIERS, leaks

REPO = Path(__file__).resolve().parents[2]


def _identified_source(path: Path) -> Path:
    header = pydicom.dcmread(REPO / "resources" / "sample_source.dcm")
    for keyword, value in IDENTIFIERS.items():
        setattr(header, keyword, value)
    header.save_as(path)
    return path


def test_no_identifier_reaches_any_output(tmp_path, capsys):
    source = _identified_source(tmp_path / "source.dcm")
    assert all(value.encode() in source.read_bytes() for value in IDENTIFIERS.values())
    config = make_config("ptg", "tiny")
    model = save_checkpoint(tmp_path / "tiny.pt", config, AnimationModel(config.model).eval(), step=0)
    out = tmp_path / "out"
    for target in (out / "clip.mp4", out / "frames"):
        assert main(["animate", "--source", str(source), "--driving", str(source), "--out", str(target),
                     "--model", str(model), "--device", "cpu", "--layout", "side-by-side"]) == 0
    messages = capsys.readouterr()
    files = [p for p in out.rglob("*") if p.is_file()]
    assert len(files) >= 2
    for path in files:
        assert leaks(path.read_bytes()) == [], path
        assert leaks(str(path.relative_to(tmp_path)).encode()) == [], path
    assert leaks((messages.out + messages.err).encode()) == []

"""``usanimator demo`` runs the animate command, then (with a display) the gui command, by their own
functions: no call back into ``cli.main``."""

from __future__ import annotations

from pathlib import Path

from usanimator_app.cli import main
from usanimator_app.commands import animate, gui


def _recorder(seen: dict, name: str):
    """A command's ``run`` that records its arguments under ``name`` and succeeds."""

    def run(args) -> int:
        seen[name] = args
        return 0

    return run


def test_demo_animates_the_sample_then_opens_the_window_on_it(monkeypatch, tmp_path):
    seen = {}
    monkeypatch.setattr(animate, "run", _recorder(seen, "animate"))
    monkeypatch.setattr(gui, "run", _recorder(seen, "gui"))
    monkeypatch.setenv("DISPLAY", ":0")
    out = tmp_path / "demo.mp4"
    assert main(["demo", "--out", str(out), "--device", "cpu"]) == 0
    made, shown = seen["animate"], seen["gui"]
    assert made.out == out and made.device == "cpu" and made.layout == "side-by-side" and made.overwrite
    assert Path(made.source).is_file() and Path(made.driving).is_file()
    assert (Path(made.source).name, Path(made.driving).name) == ("sample_real_pfus1_a.png", "sample_driving.mp4")
    assert (shown.source, shown.driving, shown.device) == (made.source, made.driving, "cpu")

    seen.clear()
    assert main(["demo", "--out", str(out), "--no-gui"]) == 0
    assert "gui" not in seen and seen["animate"].device == "auto"


def test_demo_does_not_import_the_cli():
    source = (Path(__file__).resolve().parents[1] / "usanimator_app" / "commands" / "demo.py").read_text()
    assert "usanimator_app.cli" not in source and "importlib" not in source

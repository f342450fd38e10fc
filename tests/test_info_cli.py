"""``usanimator info``: one JSON line for good input, exit 2 and one stderr line for bad input."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pydicom.examples
import pytest

from usanimator_app import cli
from usanimator_app.commands import info
from usanimator_app.core.errors import UserInputError

REPO_ROOT = Path(__file__).resolve().parents[1]
KEYS = {"kind", "frames", "width", "height", "fps", "pixel_spacing_mm", "modality", "photometric"}


def test_every_command_module_loads_into_the_parser(capsys):
    """A missing or broken command module fails here (it is never skipped)."""
    parser = cli.build_parser()
    for name in cli.COMMANDS:
        with pytest.raises(SystemExit) as exited:
            parser.parse_args([name, "--help"])
        assert exited.value.code == 0 and f"usage: usanimator {name}" in capsys.readouterr().out


def _run_module(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "usanimator_app", *args], capture_output=True, text=True, cwd=REPO_ROOT, env=env, timeout=120
    )


def test_info_module_prints_one_json_line(capsys, tmp_path):
    parser = argparse.ArgumentParser()
    info.add_parser(parser.add_subparsers(dest="command"))
    path = tmp_path / "frame.png"
    cv2.imwrite(str(path), np.zeros((10, 20), np.uint8))
    assert info.run(parser.parse_args(["info", str(path)])) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 1
    assert json.loads(lines[0]) == {
        "kind": "image", "frames": 1, "width": 20, "height": 10, "fps": None,
        "pixel_spacing_mm": None, "modality": None, "photometric": None,
    }
    with pytest.raises(UserInputError, match="missing.png"):
        info.run(parser.parse_args(["info", str(tmp_path / "missing.png")]))


def test_cli_info_on_a_dicom(capsys):
    assert cli.main(["info", pydicom.examples.ybr_color.filename]) == 0
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 1
    data = json.loads(out[0])
    assert set(data) == KEYS
    assert (data["kind"], data["frames"], data["photometric"], data["modality"]) == ("dicom", 30, "YBR_FULL_422", "US")
    assert data["fps"] == pytest.approx(30.0, abs=0.01)
    assert data["pixel_spacing_mm"] == pytest.approx([0.5105, 0.5105], abs=1e-4)


def test_cli_info_bad_inputs_exit_2_with_one_line(capsys, bad_media_files):
    for kind, path in bad_media_files.items():
        assert cli.main(["info", str(path)]) == 2, kind
        captured = capsys.readouterr()
        assert captured.out == "", kind
        lines = captured.err.splitlines()
        assert len(lines) == 1 and str(path) in lines[0], (kind, captured.err)
        assert "Traceback" not in captured.err


def test_python_m_usanimator_info(bad_media_files):
    good = _run_module("info", pydicom.examples.palette_color.filename)
    assert good.returncode == 0, good.stderr
    assert good.stdout.count("\n") == 1 and set(json.loads(good.stdout)) == KEYS
    assert json.loads(good.stdout)["photometric"] == "PALETTE COLOR"
    for kind in ("text_as_mp4", "truncated_dicom"):
        bad = _run_module("info", str(bad_media_files[kind]))
        assert bad.returncode == 2, (kind, bad.stderr)
        assert bad.stdout == ""
        lines = bad.stderr.splitlines()
        assert len(lines) == 1 and str(bad_media_files[kind]) in lines[0] and "Traceback" not in bad.stderr, bad.stderr

"""The desktop bundle (packaging/): its smoke check when it is built, and the packaging files' own rules.

Build the bundle with ``make bundle`` (or ``packaging/build.sh``); the slow test then runs its smoke check.
"""

from __future__ import annotations

import configparser
import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
PACKAGING = REPO_ROOT / "packaging"
BUNDLE_EXE = PACKAGING / "dist" / "usanimator" / "usanimator"


def bundle_env() -> dict[str, str]:
    """The environment without this interpreter's Python variables (the bundle brings its own Python)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    env.setdefault("USANIMATOR_SMOKE_TIMEOUT", "540")
    return env


@pytest.mark.slow
def test_bundle_smoke_check_exports_frames(tmp_path):
    if not (BUNDLE_EXE.is_file() and os.access(BUNDLE_EXE, os.X_OK)):
        pytest.skip(f"the bundle is not built ({BUNDLE_EXE} missing): run `make bundle`")
    env = bundle_env()
    env["HOME"] = str(tmp_path)  # whatever the check might write goes here, not into the user's home
    if sys.platform.startswith("linux") and not (env.get("DISPLAY") or env.get("WAYLAND_DISPLAY")):
        env["QT_QPA_PLATFORM"] = "offscreen"
    result = subprocess.run([str(BUNDLE_EXE), "--smoke"], env=env, cwd=tmp_path, capture_output=True, text=True,
                            timeout=600)
    assert result.returncode == 0, f"exit {result.returncode}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    assert "usanimator --smoke: OK:" in result.stdout
    frames = int(result.stdout.split("OK:", 1)[1].split()[0])
    assert frames > 0


def test_desktop_entry_is_complete():
    entry = configparser.ConfigParser(interpolation=None)
    entry.optionxform = str  # keys are case-sensitive
    entry.read(PACKAGING / "usanimator.desktop", encoding="utf-8")
    fields = entry["Desktop Entry"]
    assert fields["Type"] == "Application"
    assert fields["Exec"].split()[0] == "usanimator"
    assert fields["Icon"] == "usanimator"
    assert fields["Terminal"] == "false"
    assert fields["Categories"].endswith(";")
    assert (REPO_ROOT / "resources" / "icon.png").is_file()
    assert (REPO_ROOT / "resources" / "icon.svg").is_file()


def test_bundle_requirements_leave_out_what_inference_does_not_need():
    names = {
        line.split("==")[0].strip().lower()
        for line in (PACKAGING / "requirements-bundle.txt").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    assert not names & {"torch", "torchvision", "pytest", "pytest-qt", "scikit-image", "h5py", "tensorboard"}
    assert {"pyside6-essentials", "pyqtgraph", "imageio-ffmpeg", "pyinstaller"} <= names


def test_smoke_entry_rejects_other_arguments(capsys):
    spec = importlib.util.spec_from_file_location("usanimator_packaging_entry", PACKAGING / "entry.py")
    entry = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(entry)
    assert entry.main(["--smoke", "--source", "x.png"]) == 2
    assert "only --keep" in capsys.readouterr().err


def test_executable_stands_in_for_python_dash_m():
    """The GUI starts training as ``[sys.executable, "-m", "usanimator_app", "train", ...]``."""
    spec = importlib.util.spec_from_file_location("usanimator_packaging_entry", PACKAGING / "entry.py")
    entry = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(entry)
    assert entry.python_compat(["-m", "usanimator_app", "train", "--data", "d"]) == ["train", "--data", "d"]
    assert entry.python_compat(["-u", "-m", "usanimator_app"]) == []
    assert entry.python_compat(["gui", "--run"]) == ["gui", "--run"]

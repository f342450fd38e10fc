"""Layer boundaries (docs/ARCHITECTURE.md): core loads neither torch nor Qt; engine and nets load no Qt.

Each check runs in a fresh interpreter and imports every module of the package found by pkgutil,
so it grows with the packages.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]

CHECK = """
import importlib, pkgutil, sys
forbidden = sys.argv[1].split(",")
imported = []
for name in sys.argv[2].split(","):
    package = importlib.import_module(name)
    imported.append(name)
    for module in pkgutil.walk_packages(package.__path__, name + "."):
        importlib.import_module(module.name)
        imported.append(module.name)
loaded = [root for root in forbidden if root in sys.modules]
print(" ".join(imported))
if loaded:
    sys.exit("loaded " + ", ".join(loaded))
"""


def _check(packages: list[str], forbidden: list[str]) -> list[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    result = subprocess.run(
        [sys.executable, "-c", CHECK, ",".join(forbidden), ",".join(packages)],
        capture_output=True, text=True, cwd=REPO_ROOT, env=env, timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout.split()


def test_core_loads_neither_torch_nor_qt():
    imported = _check(["usanimator_app.core"], ["torch", "PySide6"])
    assert "usanimator_app.core.media" in imported and "usanimator_app.core.preprocess" in imported


@pytest.mark.parametrize("package", ["usanimator_app.engine", "usanimator_app.nets", "usanimator_app.evaluation"])
def test_engine_and_nets_load_no_qt(package):
    imported = _check([package], ["PySide6"])
    assert imported[0] == package

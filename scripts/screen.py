"""What the screenshot scripts share: save the whole Xvfb screen with ImageMagick's ``import``, then quit."""

from __future__ import annotations

import subprocess
from pathlib import Path

from PySide6.QtWidgets import QApplication


def shoot_and_quit(out: Path) -> None:
    QApplication.processEvents()
    subprocess.run(["import", "-window", "root", str(out)], check=True)
    print(f"wrote {out}")
    QApplication.quit()

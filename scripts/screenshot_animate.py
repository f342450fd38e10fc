"""The README's Animate screenshot: a still animated by the bundled model in the real window.

Opens the window on SOURCE with the bundled driving clip (or DRIVING) and model, runs, shows frame
FRAME (0-based) when the run has ended, and saves the whole screen with ImageMagick's ``import``:

    xvfb-run -a -s "-screen 0 1366x768x24" .venv/bin/python scripts/screenshot_animate.py \\
        ../shared/reference/pelvic_floor_stills/pfus1_a.png docs/screenshots/animate.png 27 [DRIVING]
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from PySide6.QtCore import QTimer  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402
from screen import shoot_and_quit  # noqa: E402  (scripts/screen.py)

from usanimator_app.gui.app import run_gui  # noqa: E402
from usanimator_app.gui.main_window import Launch  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


def main() -> int:
    source, out, frame = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])
    driving = Path(sys.argv[4]) if len(sys.argv) > 4 else REPO / "resources" / "sample_driving.mp4"

    def hook() -> None:
        window = next(w for w in QApplication.topLevelWidgets() if hasattr(w, "tabs"))
        tab = window.tab("Animate")
        window.tabs.setCurrentWidget(tab)  # the window reopens on the tab last used

        def ended(outcome: str) -> None:
            tab.live.slider.setValue(frame)
            QTimer.singleShot(1500, lambda: shoot_and_quit(out))

        tab.run_ended.connect(ended)

    QTimer.singleShot(0, hook)
    launch = Launch(source=source, driving=driving,
                    model=REPO / "models" / "usanimator-ptg-cpu128.pt", device="cpu", run=True)
    return run_gui(sys.argv[:1], launch)


if __name__ == "__main__":
    sys.exit(main())

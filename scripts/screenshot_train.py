"""The Train tab's screenshot: the bundled model fine-tuned in minutes in the real window.

Opens the window on the Train tab, lists DATA, fine-tunes the bundled model for MINUTES into RUN on
the CPU, and when the run has ended (verdict shown) saves the whole screen with ImageMagick's
``import``:

    xvfb-run -a -s "-screen 0 1366x768x24" .venv/bin/python scripts/screenshot_train.py \\
        DATA RUN MINUTES docs/screenshots/train_finetune.png

MINUTES 0: no run; the window shows RUN as it is (a finished fine-tune's curves and verdict).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from PySide6.QtCore import QTimer  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402
from screen import shoot_and_quit  # noqa: E402  (scripts/screen.py)

from usanimator_app.gui.app import create_application, run_gui  # noqa: E402


def main() -> int:
    data, run, minutes, out = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3]), Path(sys.argv[4])

    def hook() -> None:
        window = next(w for w in QApplication.topLevelWidgets() if hasattr(w, "tabs"))
        tab = window.tab("Train")
        window.tabs.setCurrentWidget(tab)
        while tab.datasets.sources():  # folders listed by an earlier session
            tab.datasets.folders.selectRow(0)
            tab.datasets.remove_selected()
        tab.datasets.add_folder(data)
        settings = tab.run_settings
        settings.fine_tune.set_choice("bundled")
        settings.minutes.setValue(minutes or settings.minutes.value())
        settings.device.setCurrentIndex(settings.device.findData("cpu"))
        tab.set_run_folder(run)
        if not minutes:
            QTimer.singleShot(3000, lambda: shoot_and_quit(out))
            return
        tab.run_ended.connect(lambda outcome: QTimer.singleShot(1500, lambda: shoot_and_quit(out)))
        start_when_free(tab, 60)

    def start_when_free(tab, tries: int) -> None:
        """Start once no other job (the Animate tab loading its model at launch) holds the cores."""
        if tab._context.jobs.refusal(tab, "train") and tries:
            QTimer.singleShot(1000, lambda: start_when_free(tab, tries - 1))
        elif not tab.start():
            print("the run did not start; see the window", file=sys.stderr)
            QApplication.quit()

    create_application(sys.argv[:1])  # the timer below needs the application's event loop
    QTimer.singleShot(500, hook)
    return run_gui(sys.argv[:1])


if __name__ == "__main__":
    sys.exit(main())

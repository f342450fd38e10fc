"""The bundle's entry point: the ``usanimator`` command, plus ``--smoke``.

    usanimator                      the window (as ``usanimator gui``)
    usanimator COMMAND ...          the subcommands, as in a checkout (``usanimator --help``)
    usanimator -m usanimator_app …  the same as without ``-m usanimator_app`` (the GUI's training subprocess)
    usanimator --smoke [--keep]     the packaging check: open the window (offscreen when there is no
    usanimator gui --smoke          display), animate a few frames of the bundled sample with the bundled
                                    model on the CPU, export an MP4 to a temporary folder, check that it
                                    has frames; exit 0 when all of that worked

``USANIMATOR_STARTUP_TIMING=1`` prints, for any window, how long after the process started its first
paint came (stderr). Everything here runs in a checkout too: ``python packaging/entry.py --smoke``.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

SMOKE_FRAMES = 8  # driving frames the smoke check animates (the sample clip has 48)
SMOKE_TIMEOUT_S = float(os.environ.get("USANIMATOR_SMOKE_TIMEOUT", "600"))
_ENTRY_TIME = time.monotonic()


def process_age() -> float:
    """Seconds since this process started (the bootloader included), where /proc tells; else since entry."""
    try:
        fields = Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()
        started = int(fields[19]) / os.sysconf("SC_CLK_TCK")  # field 22: starttime, in ticks after boot
        uptime = float(Path("/proc/uptime").read_text().split()[0])
        return max(0.0, uptime - started)
    except (OSError, ValueError, IndexError):
        return time.monotonic() - _ENTRY_TIME


def has_display() -> bool:
    return not sys.platform.startswith("linux") or bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def install_startup_timer(report: list[float]) -> None:
    """Record (and print) the process age at the main window's first paint."""
    from PySide6.QtCore import QEvent, QObject
    from PySide6.QtWidgets import QApplication, QMainWindow

    class FirstPaint(QObject):
        def eventFilter(self, watched, event):  # noqa: N802 (Qt override)
            if not report and event.type() == QEvent.Type.Paint and isinstance(watched, QMainWindow):
                report.append(process_age())
                print(f"usanimator: window painted {report[0]:.2f} s after the process started", file=sys.stderr)
                QApplication.instance().removeEventFilter(self)
            return False

    app = QApplication.instance()
    app._usanimator_first_paint = FirstPaint(app)  # kept alive by the app
    app.installEventFilter(app._usanimator_first_paint)


def prepare_application(timing: list[float] | None) -> None:
    """Create the QApplication early: icon, desktop-file name, and the optional first-paint timer.

    ``usanimator_app.gui.app.create_application`` reuses an existing instance and names it.
    """
    from PySide6.QtGui import QGuiApplication, QIcon
    from PySide6.QtWidgets import QApplication

    from usanimator_app.core.paths import resources_dir

    QGuiApplication.setDesktopFileName("usanimator")
    app = QApplication.instance() or QApplication(sys.argv[:1])
    icon = resources_dir() / "icon.png"
    if icon.is_file():
        app.setWindowIcon(QIcon(str(icon)))
    if timing is not None:
        install_startup_timer(timing)


def wants_window(argv: list[str]) -> bool:
    """True when the arguments open the window (no subcommand, or ``gui``) and Qt has somewhere to draw."""
    if argv and argv[0] != "gui":
        return False
    if any(arg in ("-h", "--help", "--version") for arg in argv):
        return False
    return has_display() or bool(os.environ.get("QT_QPA_PLATFORM"))


def smoke(keep: bool) -> int:
    """Animate the bundled sample through the window and export it; 0 when the MP4 has frames."""
    started = time.monotonic()
    if not has_display():
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
    work = Path(tempfile.mkdtemp(prefix="usanimator-smoke-"))
    # The user's settings, logs and caches stay untouched: the check uses its own, seeded with a frame limit.
    os.environ["XDG_CONFIG_HOME"] = str(work / "config")
    os.environ["USANIMATOR_DATA_DIR"] = str(work / "data")
    settings = work / "config" / "USAnimator" / "USAnimator.conf"
    settings.parent.mkdir(parents=True)
    settings.write_text(f"[motion]\nmax_frames={SMOKE_FRAMES}\n", encoding="utf-8")

    def give_up() -> None:
        print(f"usanimator --smoke: FAILED: no result after {SMOKE_TIMEOUT_S:.0f} s", file=sys.stderr, flush=True)
        os._exit(3)

    watchdog = threading.Timer(SMOKE_TIMEOUT_S, give_up)
    watchdog.daemon = True
    watchdog.start()

    from usanimator_app.cli import main as cli_main
    from usanimator_app.core.paths import models_dir, resources_dir
    from usanimator_app.engine.pipeline import default_model_path

    from usanimator_app.core.errors import UserInputError

    try:
        model = default_model_path()
    except UserInputError as exc:
        print(f"usanimator --smoke: FAILED: {exc}", file=sys.stderr)
        return 2
    source = resources_dir() / "sample_source.png"
    driving = resources_dir() / "sample_driving.mp4"
    out = work / "smoke.mp4"
    platform = os.environ.get("QT_QPA_PLATFORM") or ("wayland" if os.environ.get("WAYLAND_DISPLAY") else "xcb")
    print(f"usanimator --smoke: Qt platform {platform}; model {model}; models folder {models_dir()}", file=sys.stderr)
    timing: list[float] = []
    prepare_application(timing)
    code = cli_main(["gui", "--source", str(source), "--driving", str(driving), "--device", "cpu",
                     "--export", str(out), "--quit-when-done"])
    watchdog.cancel()

    problems = []
    if code != 0:
        problems.append(f"the window's run/export ended with code {code}")
    frames = 0
    if out.is_file():
        from usanimator_app.core.media import open_media

        frames = open_media(out).info.frames
        if frames <= 0:
            problems.append(f"{out} has no frames")
    else:
        problems.append(f"{out} was not written")
    seconds = time.monotonic() - started
    if problems:
        print("usanimator --smoke: FAILED: " + "; ".join(problems) + f" (files kept in {work})", file=sys.stderr)
        return 1
    painted = f"window painted at {timing[0]:.2f} s, " if timing else ""
    print(f"usanimator --smoke: OK: {frames} frames exported to {out} "
          f"({out.stat().st_size} bytes; {painted}{process_age():.2f} s in all, {seconds:.2f} s in the check)")
    if not keep:
        import shutil

        shutil.rmtree(work, ignore_errors=True)
    return 0


def python_compat(argv: list[str]) -> list[str]:
    """Let the executable stand in for ``python -m usanimator_app ...`` (what ``sys.executable`` is here).

    The GUI starts training as ``[sys.executable, "-m", "usanimator_app", "train", ...]``: inside the bundle
    ``sys.executable`` is this program, so those two arguments are dropped, and ``PYTHONUNBUFFERED``
    (which the bundled interpreter does not read) is honoured by hand.
    """
    if os.environ.get("PYTHONUNBUFFERED"):
        for stream in (sys.stdout, sys.stderr):
            if stream is not None and hasattr(stream, "reconfigure"):
                stream.reconfigure(write_through=True)
    while argv[:1] == ["-u"]:
        argv = argv[1:]
    if argv[:2] == ["-m", "usanimator_app"]:
        argv = argv[2:]
    return argv


def main(argv: list[str] | None = None) -> int:
    argv = python_compat(sys.argv[1:] if argv is None else list(argv))
    if "--smoke" in argv and argv[:1] in (["--smoke"], ["gui"]):
        rest = [arg for arg in argv if arg not in ("gui", "--smoke", "--keep")]
        if rest:
            print(f"usanimator --smoke: unexpected arguments {' '.join(rest)} (only --keep goes with it)", file=sys.stderr)
            return 2
        return smoke(keep="--keep" in argv)
    if wants_window(argv):
        prepare_application([] if os.environ.get("USANIMATOR_STARTUP_TIMING") else None)
    from usanimator_app.cli import main as cli_main

    return cli_main(argv)


if __name__ == "__main__":
    multiprocessing.freeze_support()  # harmless on Linux; needed where spawn re-runs the executable
    sys.exit(main())

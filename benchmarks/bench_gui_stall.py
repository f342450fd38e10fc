"""How long does the GUI thread stall while the Animate tab runs a model?

A 10 ms QTimer records the gaps between its ticks while the window animates a clip (the model
runs in its worker thread, the window shows every frame); a responsive window keeps the longest
gap far below the ~100 ms a user notices. Prints the idle gaps first as the baseline.

    QT_QPA_PLATFORM=offscreen .venv/bin/python benchmarks/bench_gui_stall.py [--model CKPT] [--frames 48] [--source-side 512]

Without --model it builds a randomly initialised 'ptg' model at --size (default cpu-128, the
shipped model's size): the stall does not depend on the weights. The synthetic source is 320x240
unless ``--source-side N`` makes it N x N; the tab renders at its default output size (native).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # as `usanimator gui` sets it

import cv2  # noqa: E402
import imageio.v2 as imageio  # noqa: E402
import numpy as np  # noqa: E402
from PySide6.QtCore import QEventLoop, QTimer  # noqa: E402

from usanimator_app.gui.app import ConsolePrompts, collect_garbage_in_gui_thread, create_application  # noqa: E402
from usanimator_app.gui.main_window import Launch, MainWindow  # noqa: E402
from usanimator_app.gui.settings import Settings  # noqa: E402


class GapMeter:
    """Gaps between the ticks of a 10 ms timer, in milliseconds."""

    def __init__(self):
        self.gaps: list[float] = []
        self._last = time.perf_counter()
        self.timer = QTimer()
        self.timer.setInterval(10)
        self.timer.timeout.connect(self._tick)

    def start(self) -> None:
        self.gaps.clear()
        self._last = time.perf_counter()
        self.timer.start()

    def stop(self) -> list[float]:
        self.timer.stop()
        return list(self.gaps)

    def _tick(self) -> None:
        now = time.perf_counter()
        self.gaps.append((now - self._last) * 1000.0)
        self._last = now


def make_inputs(folder: Path, frames: int, size: str, source_side: int | None) -> tuple[Path, Path, Path]:
    from usanimator_app.engine.checkpoint import save_checkpoint
    from usanimator_app.engine.config import make_config
    from usanimator_app.engine.model import AnimationModel

    rng = np.random.default_rng(0)
    shape = (source_side, source_side) if source_side else (240, 320)
    base = cv2.GaussianBlur(rng.uniform(0, 255, shape).astype(np.float32), (0, 0), 3)
    base = cv2.normalize(base, None, 10, 220, cv2.NORM_MINMAX).astype(np.uint8)
    source = folder / "source.png"
    cv2.imwrite(str(source), base)
    driving = folder / "driving.mp4"
    with imageio.get_writer(driving, fps=20, macro_block_size=1) as writer:
        for t in range(frames):
            shifted = np.roll(base, int(8 * np.sin(t / 5)), axis=0)
            writer.append_data(np.repeat(shifted[:, :, None], 3, axis=2))
    config = make_config("ptg", size)
    model = folder / f"random-{size}.pt"
    save_checkpoint(model, config, AnimationModel(config.model), step=0)
    return source, driving, model


def summary(name: str, gaps: list[float]) -> str:
    if not gaps:
        return f"{name}: no ticks"
    ordered = sorted(gaps)
    p99 = ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]
    return (f"{name}: {len(gaps)} ticks, median {statistics.median(gaps):.1f} ms, p99 {p99:.1f} ms, "
            f"longest {max(gaps):.1f} ms, gaps > 100 ms: {sum(g > 100 for g in gaps)}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, help="checkpoint (default: a random one at --size)")
    parser.add_argument("--size", default="cpu-128", help="size preset of the random model")
    parser.add_argument("--frames", type=int, default=48, help="driving frames to animate")
    parser.add_argument("--source-side", type=int, default=None, help="a square N x N source (default 320x240)")
    args = parser.parse_args()
    app = create_application(sys.argv[:1])
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        os.environ["USANIMATOR_DATA_DIR"] = str(folder / "data")
        source, driving, model = make_inputs(folder, args.frames, args.size, args.source_side)
        window = MainWindow(Settings(folder / "settings.ini"), ConsolePrompts(),
                            launch=Launch(source=source, driving=driving, model=args.model or model, device="auto"))
        collector = collect_garbage_in_gui_thread()  # as in app.run_gui
        window.resize(1500, 900)
        window.show()
        tab = window.tab("Animate")
        meter = GapMeter()

        def wait(condition, seconds: float) -> None:
            deadline = time.perf_counter() + seconds
            while not condition() and time.perf_counter() < deadline:
                app.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 50)

        wait(lambda: tab.animator is not None and not tab.busy, 120)
        meter.start()
        wait(lambda: False, 2.0)
        idle = meter.stop()
        ended = []
        tab.run_ended.connect(ended.append)
        meter.start()
        started = time.perf_counter()
        if not tab.run():
            print("could not start the run", file=sys.stderr)
            return 1
        wait(lambda: bool(ended), 600)
        running = meter.stop()
        seconds = time.perf_counter() - started
        height, width = tab.results[0].frame.shape if tab.results else (0, 0)
        print(f"device: {tab.animator.device_choice.label}; model {tab.animator.image_size} px; output {width}x{height}; "
              f"{len(tab.results)} frames in {seconds:.1f} s ({len(tab.results) / seconds:.1f} frames/s), run {ended[0]}")
        print(summary("idle", idle))
        print(summary("during the run", running) + f"; load average {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
        window.close()
        collector.timer.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())

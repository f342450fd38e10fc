"""Training speed: steps/s of the real training loop (``engine.trainer.train_steps``) on real data.

    .venv/bin/python benchmarks/bench_train_step.py --data data/phantom256 --data ../shared/data/ultrasound_train \
        [--preset ptg] [--size cpu-128] [--batch 4] [--steps 20] [--threads 2] [--profile]

The first steps are warm-up and are not timed. ``--profile`` prints torch.profiler's table of the
operators that took the most CPU time over the timed steps. The load average is printed because
other work may share the CPU: compare figures only from one run or from runs on an idle machine.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

WARM_UP = 3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, action="append", required=True)
    parser.add_argument("--preset", default="ptg")
    parser.add_argument("--size", default="cpu-128")
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--warped-source-l1", type=float, default=10.0, help="its weight (0: the paper's losses only)")
    parser.add_argument("--repo", type=Path, default=None, help="measure the code of another checkout (e.g. before a change)")
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.repo is not None:
        import sys

        sys.path.insert(0, str(args.repo.resolve()))
    from usanimator_app.engine.config import make_config
    from usanimator_app.engine.trainer import train_steps

    config = make_config(args.preset, args.size, batch_size=args.batch, sample_every=0, checkpoint_every=10**9)
    if hasattr(config.losses, "warped_source_l1"):
        config.losses.warped_source_l1 = args.warped_source_l1
    print(f"threads {args.threads}; OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY', '(unset)')}; "
          f"load average {os.getloadavg()}")
    with tempfile.TemporaryDirectory() as tmp:
        data = args.data[0] if len(args.data) == 1 else args.data  # one folder: also runs on older trainers
        reports = train_steps(data, Path(tmp) / "run", config, device="cpu", steps=WARM_UP + args.steps)
        seconds = []
        profiler = None
        started = None
        for report in reports:
            if report.message:
                print(report.message)
                continue
            if report.step == WARM_UP:
                started = time.perf_counter()
                if args.profile:
                    profiler = torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU])
                    profiler.__enter__()
            elif report.step > WARM_UP:
                seconds.append(report.seconds)
        wall = time.perf_counter() - started
        if profiler is not None:
            profiler.__exit__(None, None, None)
            print(profiler.key_averages().table(sort_by="self_cpu_time_total", row_limit=25))
    print(f"{args.preset} {args.size} batch {args.batch}: {np.mean(seconds):.3f} s/step in the step "
          f"({1 / np.mean(seconds):.2f} steps/s), {wall / len(seconds):.3f} s/step wall incl. data; "
          f"load average after {os.getloadavg()}")


if __name__ == "__main__":
    main()

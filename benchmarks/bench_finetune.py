"""Minutes of this CPU a fine-tune needs to beat identity on clips of the same kind (issue 12).

A teacher adapts the bundled model to their own scanner with a few clips. This fine-tunes a model
(``--init``, fresh optimiser state, as ``usanimator train --init``) on the clips matching
``--train-glob`` and, before the first step and at every checkpoint, scores its default output on
the clips matching ``--eval-glob`` with the evaluation's reconstruction protocol (256x256, windows
centred on the source frame): mean L1 against identity's, and the clips where it is lower.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_finetune.py \\
        --train-data ../shared/data/ultrasound_train --train-glob 'Reg_*' \\
        --eval-data ../shared/data/ultrasound --eval-glob 'Reg_*' --steps 150 --every 50

The scored clips are only measured: nothing is chosen from them. Minutes are the wall time and the
process CPU time of training only (scoring excluded).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from usanimator_app.engine.animator import Animator
from usanimator_app.engine.config import make_config
from usanimator_app.engine.dataset import find_clips
from usanimator_app.engine.trainer import train_steps
from usanimator_app.evaluation import metrics as M
from usanimator_app.evaluation.protocol import DEFAULT_WINDOW, EvalClip, load_eval_clip, render_clip

REPO = Path(__file__).resolve().parents[1]


def matching(folder: Path, pattern: str) -> list[Path]:
    clips = [p for p in find_clips(folder) if p.match(pattern)]
    if not clips:
        raise SystemExit(f"no clips matching {pattern!r} in {folder}")
    return clips


def linked_folder(clips: list[Path]) -> Path:
    """A temporary dataset folder of symbolic links to ``clips`` (nothing is copied)."""
    folder = Path(tempfile.mkdtemp(prefix="finetune_data_"))
    for clip in clips:
        (folder / clip.name).symlink_to(clip.resolve())
    return folder


def score(checkpoint: Path, clips: list[EvalClip]) -> tuple[float, float, int]:
    """(mean L1 of the default output, mean L1 of identity, clips where the output is lower)."""
    animator = Animator(checkpoint, device="cpu")
    outputs, identities, wins = [], [], 0
    for clip in clips:
        keep = np.arange(len(clip.frames)) != clip.source_index
        real = clip.frames[keep] / 255.0
        frames = np.stack(render_clip(animator, clip, clip, relative=False).outputs[""])[keep] / 255.0
        output = M.l1_per_frame(frames, real)
        identity = M.l1_per_frame(np.repeat(clip.frames[clip.source_index][None] / 255.0, len(real), 0), real)
        outputs.append(output)
        identities.append(identity)
        wins += int(output.mean() < identity.mean())
    return float(np.concatenate(outputs).mean()), float(np.concatenate(identities).mean()), wins


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--init", type=Path, default=REPO / "models" / "usanimator-ptg-cpu128.pt")
    parser.add_argument("--train-data", type=Path, required=True)
    parser.add_argument("--train-glob", default="*")
    parser.add_argument("--eval-data", type=Path, required=True)
    parser.add_argument("--eval-glob", default="*")
    parser.add_argument("--steps", type=int, default=150)
    parser.add_argument("--every", type=int, default=50, help="score every N steps")
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--window", type=int, default=DEFAULT_WINDOW)
    args = parser.parse_args()

    train_clips = matching(args.train_data, args.train_glob)
    eval_paths = matching(args.eval_data, args.eval_glob)
    clips = [load_eval_clip(p, args.window, ()) for p in eval_paths]
    print(f"fine-tune {args.init.name} on {len(train_clips)} clips ({args.train_glob} of {args.train_data}); "
          f"score on {len(clips)} clips ({args.eval_glob} of {args.eval_data}); {torch.get_num_threads()} threads")
    print(f"{'step':>5s} {'wall min':>8s} {'CPU min':>8s} {'L1':>7s} {'identity':>8s} {'ratio':>6s} {'wins':>5s}")

    def report(step: int, wall: float, cpu: float, checkpoint: Path) -> None:
        output, identity, wins = score(checkpoint, clips)
        print(f"{step:5d} {wall / 60:8.1f} {cpu / 60:8.1f} {output:7.4f} {identity:8.4f} {output / identity:6.3f} "
              f"{wins:>2d}/{len(clips)}", flush=True)

    report(0, 0.0, 0.0, args.init)
    run_dir = Path(tempfile.mkdtemp(prefix="finetune_run_")) / "run"
    config = make_config("ptg", "cpu-128", steps=args.steps, batch_size=args.batch, checkpoint_every=args.every,
                         sample_every=0)
    wall = cpu = 0.0
    started, started_cpu = time.perf_counter(), time.process_time()
    for step_report in train_steps(linked_folder(train_clips), run_dir, config, device="cpu", init=args.init):
        if step_report.checkpoint and step_report.losses:
            wall += time.perf_counter() - started
            cpu += time.process_time() - started_cpu
            report(step_report.step, wall, cpu, Path(step_report.checkpoint))
            started, started_cpu = time.perf_counter(), time.process_time()


if __name__ == "__main__":
    main()

"""Fine-tuning in minutes (issue 23): the kept model's L1 on clips it never saw, per time budget.

For each ``--minutes`` budget this runs the app's fine-tune (``engine.finetune.finetune_steps``, as
``usanimator train --init MODEL --minutes N``: validation split made inside the training clips,
motion recipe, best model on validation kept) on the clips matching ``--train-glob``, then scores
the starting model and each kept model on the clips matching ``--eval-glob`` with the evaluation's
reconstruction protocol (256x256, windows of 96 frames centred on the source frame): mean L1 of the
default output against identity's, and the clips where it is lower.

    OMP_WAIT_POLICY=PASSIVE .venv/bin/python benchmarks/bench_finetune.py \\
        --train-data ../shared/data/ultrasound_train --train-glob 'Reg_*' \\
        --eval-data ../shared/data/ultrasound --eval-glob 'Reg_*' --minutes 5 10 20

The scored clips are only measured: nothing is chosen from them. Each budget is wall time of the
whole fine-tune (setup, validations and training), runs one after another on this machine.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from usanimator_app.engine.animator import Animator
from usanimator_app.engine.dataset import find_clips
from usanimator_app.engine.finetune import BEST_FILE, FINETUNE_FILE, finetune_steps
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
    parser.add_argument("--minutes", type=float, nargs="+", default=[5, 10, 20])
    parser.add_argument("--window", type=int, default=DEFAULT_WINDOW)
    parser.add_argument("--out", type=Path, default=None, help="keep the run folders here (default: a temporary folder)")
    args = parser.parse_args()

    data = linked_folder(matching(args.train_data, args.train_glob))
    clips = [load_eval_clip(p, args.window, ()) for p in matching(args.eval_data, args.eval_glob)]
    out = args.out or Path(tempfile.mkdtemp(prefix="finetune_runs_"))
    print(f"fine-tune {args.init.name} on {len(list(data.iterdir()))} clips ({args.train_glob} of {args.train_data}); "
          f"score on {len(clips)} clips ({args.eval_glob} of {args.eval_data}); {torch.get_num_threads()} threads")
    start_l1, identity, wins = score(args.init, clips)
    print(f"{'budget':>7s} {'wall min':>8s} {'kept step':>9s} {'val ratio':>9s} {'start val':>9s} {'test L1':>8s} "
          f"{'identity':>8s} {'ratio':>6s} {'wins':>5s}")
    print(f"{'start':>7s} {'':>8s} {'':>9s} {'':>9s} {'':>9s} {start_l1:8.4f} {identity:8.4f} {start_l1 / identity:6.3f} "
          f"{wins:>2d}/{len(clips)}", flush=True)
    for minutes in args.minutes:
        run_dir = out / f"minutes_{minutes:g}"
        started = time.perf_counter()
        for _ in finetune_steps(data, run_dir, init=args.init, minutes=minutes, device="cpu"):
            pass
        wall = (time.perf_counter() - started) / 60
        verdict = json.loads((run_dir / FINETUNE_FILE).read_text())["verdict"]
        l1, identity, wins = score(run_dir / BEST_FILE, clips)
        print(f"{minutes:7g} {wall:8.1f} {verdict['kept']['step']:9d} {verdict['kept']['ratio']:9.3f} "
              f"{verdict['start']['ratio']:9.3f} {l1:8.4f} {identity:8.4f} {l1 / identity:6.3f} {wins:>2d}/{len(clips)}",
              flush=True)


if __name__ == "__main__":
    main()

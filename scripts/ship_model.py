"""Turn a training run's checkpoint into the shipped model: fp16 weights, no optimizer state, plus
``models/manifest.json`` (sha256, config, the commands that made data and model, steps, wall time).

    .venv/bin/python scripts/ship_model.py --run runs/ptg-cpu128 --name usanimator-ptg-cpu128.pt \
        --data-command "..." --train-command "..." --trained-on "..." [--default] [--replace OLD.pt]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shlex
import sys
from pathlib import Path

import torch

from usanimator_app.core.atomic import write_text_atomic
from usanimator_app.engine.checkpoint import load_model, save_checkpoint
from usanimator_app.engine.trainer import latest_checkpoint

MODELS = Path(__file__).resolve().parents[1] / "models"


def wall_time_hours(run: Path, last_step: int) -> float:
    lines = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines() if line]
    return sum(entry["seconds"] for entry in lines if entry["step"] <= last_step) / 3600.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, required=True)
    parser.add_argument("--checkpoint", type=Path, default=None, help="default: the run's newest checkpoint")
    parser.add_argument("--name", required=True, help="file name under models/")
    parser.add_argument("--data-command", required=True)
    parser.add_argument("--train-command", required=True)
    parser.add_argument("--trained-on", required=True, help="one line on the training data, stored in the file's metadata")
    parser.add_argument("--default", action="store_true", help="make it the app's default model")
    parser.add_argument("--dtype", default="float16", choices=("float16", "float32"), help="weights' precision in the file")
    parser.add_argument("--replace", default=None, help="a shipped model file this one replaces (removed with its manifest entry)")
    args = parser.parse_args()

    checkpoint = args.checkpoint or latest_checkpoint(args.run)
    config, model, payload = load_model(checkpoint)
    model.discriminator = None  # not needed to animate
    target = MODELS / args.name
    save_checkpoint(target, config, model, payload["step"], dtype=getattr(torch, args.dtype),
                    metadata={"trained_on": args.trained_on, "source_checkpoint": checkpoint.name})
    digest = hashlib.sha256(target.read_bytes()).hexdigest()
    manifest_path = MODELS / "manifest.json"
    manifest = json.loads(manifest_path.read_text()) if manifest_path.exists() else {"models": {}}
    if args.replace and args.replace != args.name:
        manifest["models"].pop(args.replace, None)
        (MODELS / args.replace).unlink(missing_ok=True)
    manifest["models"][args.name] = {
        "sha256": digest,
        "bytes": target.stat().st_size,
        "preset": config.train.preset,
        "size": config.train.size,
        "steps": payload["step"],
        "train_wall_time_hours": round(wall_time_hours(args.run, payload["step"]), 2),
        "perceptual_backbone": config.train.perceptual_backbone,
        "trained_on": args.trained_on,
        "data_command": args.data_command,
        "train_command": args.train_command,
        "ship_command": "python " + " ".join(shlex.quote(a) for a in sys.argv),
        "config": config.to_dict(),
    }
    if args.default or "default" not in manifest:
        manifest["default"] = args.name
    write_text_atomic(manifest_path, json.dumps(manifest, indent=1) + "\n")
    print(f"{target}: {target.stat().st_size / 1e6:.1f} MB, sha256 {digest[:16]}..., step {payload['step']}")


if __name__ == "__main__":
    main()

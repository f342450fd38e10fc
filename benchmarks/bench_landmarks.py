"""Training-split figures behind the model card (the test split is left to ``usanimator evaluate``).

    .venv/bin/python benchmarks/bench_landmarks.py --data data/phantom256 [--model models/usanimator-ptg-cpu128.pt]

Prints (1) the L1 floor of the data: the mean |frame t+1 - frame t| of the first 30 training clips at
the model's size, beside the identity L1 against each clip's middle frame; (2) the model's landmark
error in model pixels on every frame of the last 10 training clips.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from usanimator_app.engine.checkpoint import load_model
from usanimator_app.engine.coords import normalized_to_pixels
from usanimator_app.engine.dataset import load_clip, split_clips
from usanimator_app.engine.pipeline import default_model_path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="phantom dataset folder (with split.json)")
    parser.add_argument("--model", type=Path, default=None, help="checkpoint (default: the bundled model)")
    args = parser.parse_args()

    config, model, payload = load_model(args.model or default_model_path())
    model.eval()
    size, names = config.model.image_size, config.model.landmark_names
    train = [load_clip(path, size, names) for path in split_clips(args.data, "train")]

    consecutive, identity = [], []
    for clip in train[:30]:
        frames = clip.frames.float() / 255.0
        consecutive.append(float((frames[1:] - frames[:-1]).abs().mean()))
        identity.append(float((frames - frames[len(frames) // 2]).abs().mean()))
    print(f"L1 between consecutive frames: mean {np.mean(consecutive):.4f}, min {np.min(consecutive):.4f}; "
          f"identity L1 vs the middle frame: {np.mean(identity):.4f} ({len(consecutive)} training clips, {size} px)")

    errors = []
    for clip in train[-10:]:
        with torch.no_grad():
            landmarks = model.keypoint_detector(clip.frames.float()[:, None] / 255.0).landmarks
        distance = np.linalg.norm(normalized_to_pixels(landmarks.numpy(), size) - normalized_to_pixels(clip.landmarks.numpy(), size), axis=-1)
        errors.append(distance[clip.annotated.numpy()])
    errors = np.concatenate(errors)
    print(f"landmark error (step {payload['step']}): mean {errors.mean():.2f} px, median {np.median(errors):.2f} px "
          f"over {errors.size} annotated points of 10 training clips ({size} px)")


if __name__ == "__main__":
    main()

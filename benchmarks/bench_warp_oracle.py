"""How far can moving the source's own pixels go? An optical-flow oracle on the evaluation protocol.

For every clip, the same window and 256x256 square as ``usanimator evaluate`` (reconstruction task:
the middle frame is the source, every other frame of the window a driving frame). The oracle sees the
driving frame itself: an optical flow from the driving frame to the source gives, for each output
pixel, where to read the source, and ``cv2.remap`` moves the source's pixels there. Two flows:

- ``smooth``: Farneback with a 21-px window, a smooth field like the ones a 10-keypoint motion
  model can express;
- ``pixel``: DIS (medium preset), a per-pixel field that can also match the speckle itself.

This is a ceiling for methods that warp the source (a keypoint model only sees the driving frame
through its keypoints), not a method: it says which L1 a warp of a given smoothness could reach.

    .venv/bin/python benchmarks/bench_warp_oracle.py --data ../shared/data/ultrasound_train

Run it on training clips: figures from it choose nothing, but the test split stays unread.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np

from usanimator_app.engine.dataset import find_clips
from usanimator_app.evaluation.protocol import DEFAULT_WINDOW, load_eval_clip


FLOWS = ("smooth", "pixel")


def oracle_flow(source: np.ndarray, driving: np.ndarray, kind: str) -> np.ndarray:
    """(H, W, 2) flow: for each driving pixel, the offset of the source pixel it shows."""
    if kind == "smooth":
        return cv2.calcOpticalFlowFarneback(driving, source, None, pyr_scale=0.5, levels=4, winsize=21,
                                            iterations=5, poly_n=7, poly_sigma=1.5, flags=0)
    return cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM).calc(driving, source, None)


def oracle_warp(source: np.ndarray, driving: np.ndarray, kind: str) -> np.ndarray:
    """(H, W) uint8 source moved onto the (H, W) uint8 driving frame by the oracle flow ``kind``."""
    flow = oracle_flow(source, driving, kind)
    height, width = source.shape
    grid_x, grid_y = np.meshgrid(np.arange(width, dtype=np.float32), np.arange(height, dtype=np.float32))
    return cv2.remap(source, grid_x + flow[..., 0], grid_y + flow[..., 1], cv2.INTER_LINEAR,
                     borderMode=cv2.BORDER_REPLICATE)


def clip_scores(path: Path, window: int) -> dict[str, float]:
    """Mean L1 (0-1 scale) of identity, the oracle warp and the next-frame floor over one clip's window."""
    clip = load_eval_clip(path, window, ())
    source = clip.frames[clip.source_index]
    errors: dict[str, list[float]] = {name: [] for name in ("identity", *FLOWS)}
    for index, driving in enumerate(clip.frames):
        if index == clip.source_index:
            continue
        errors["identity"].append(np.abs(source.astype(np.float32) - driving).mean() / 255.0)
        for kind in FLOWS:
            errors[kind].append(np.abs(oracle_warp(source, driving, kind).astype(np.float32) - driving).mean() / 255.0)
    consecutive = [np.abs(a.astype(np.float32) - b).mean() / 255.0 for a, b in zip(clip.frames[:-1], clip.frames[1:])]
    return {name: float(np.mean(values)) for name, values in errors.items()} | {"consecutive": float(np.mean(consecutive))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="folder of clips (use training clips)")
    parser.add_argument("--window", type=int, default=DEFAULT_WINDOW)
    parser.add_argument("--limit", type=int, default=0, help="score only the first N clips (0: all)")
    args = parser.parse_args()
    paths = find_clips(Path(args.data))
    if args.limit:
        paths = paths[: args.limit]
    rows = []
    print(f"{'clip':40s} {'identity':>9s} {'smooth':>7s} {'pixel':>7s} {'next-frame':>10s}  (warps as x identity)")
    for path in paths:
        scores = clip_scores(path, args.window)
        rows.append(scores)
        print(f"{path.name[:40]:40s} {scores['identity']:9.4f} {scores['smooth'] / scores['identity']:7.2f} "
              f"{scores['pixel'] / scores['identity']:7.2f} {scores['consecutive']:10.4f}", flush=True)
    means = {name: float(np.mean([r[name] for r in rows])) for name in rows[0]}
    print(f"\n{len(rows)} clips of {args.data}, 256x256, windows of at most {args.window} frames; mean L1:")
    print(f"  identity {means['identity']:.4f}; next-frame floor {means['consecutive']:.4f}")
    for kind in FLOWS:
        wins = sum(r[kind] < r["identity"] for r in rows)
        print(f"  oracle {kind} warp {means[kind]:.4f} ({means[kind] / means['identity']:.2f}x identity), "
              f"below identity on {wins}/{len(rows)} clips")


if __name__ == "__main__":
    main()

"""Small synthetic clips for engine tests: a textured disc moving over a static textured background."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from usanimator_app.core.annotations import Annotations, save_annotations, save_split, sidecar_path


def moving_disc_clip(frames: int = 8, size: int = 64, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(F, S, S) uint8 frames and (F, 2, 2) landmark pixels (disc centre, a point on its rim)."""
    rng = np.random.default_rng(seed)
    background = cv2.GaussianBlur(rng.uniform(0, 1, (size, size)).astype(np.float32), (0, 0), 1.0)
    background = 40 + 80 * (background - background.min()) / np.ptp(background)
    texture = cv2.GaussianBlur(rng.uniform(0, 1, (size, size)).astype(np.float32), (0, 0), 0.8)
    texture = 150 + 100 * (texture - texture.min()) / np.ptp(texture)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    radius = size * 0.18
    clip, points = [], []
    for t in range(frames):
        phase = 2 * np.pi * t / frames
        cx, cy = size * (0.5 + 0.18 * np.sin(phase)), size * (0.5 + 0.12 * np.cos(phase))
        inside = (xx - cx) ** 2 + (yy - cy) ** 2 < radius**2
        moved = cv2.warpAffine(texture, np.float32([[1, 0, cx - size / 2], [0, 1, cy - size / 2]]), (size, size))
        frame = np.where(inside, moved, background)
        clip.append(np.clip(frame, 0, 255).astype(np.uint8))
        points.append([[cx, cy], [cx, cy + radius]])
    return np.stack(clip), np.array(points)


def write_png_clip(folder: Path, frames: np.ndarray, points: np.ndarray | None, annotate_every: int = 1) -> Path:
    folder.mkdir(parents=True)
    for i, frame in enumerate(frames):
        cv2.imwrite(str(folder / f"frame_{i:03d}.png"), frame)
    if points is not None:
        annotations = Annotations(clip=folder.name, image_size=(frames.shape[2], frames.shape[1]))
        for i in range(0, len(frames), annotate_every):
            annotations.set_point(i, "symphysis_lower_edge", *points[i, 0], origin="ground_truth")
            annotations.set_point(i, "bladder_neck", *points[i, 1], origin="ground_truth")
        save_annotations(annotations, sidecar_path(folder))
    return folder


@pytest.fixture(scope="session")
def backbone_cache(tmp_path_factory):
    """One converted perceptual backbone for the whole session (the conversion runs once)."""
    import os

    folder = tmp_path_factory.mktemp("userdata")
    old = os.environ.get("USANIMATOR_DATA_DIR")
    os.environ["USANIMATOR_DATA_DIR"] = str(folder)
    yield folder
    if old is None:
        os.environ.pop("USANIMATOR_DATA_DIR")
    else:
        os.environ["USANIMATOR_DATA_DIR"] = old


@pytest.fixture()
def tiny_dataset(tmp_path, backbone_cache) -> Path:
    """A dataset folder with two annotated PNG-folder clips in 'train' and one in 'test'."""
    data = tmp_path / "data"
    data.mkdir()
    names = []
    for seed in range(3):
        frames, points = moving_disc_clip(frames=8, size=64, seed=seed)
        write_png_clip(data / f"clip_{seed}", frames, points, annotate_every=2)
        names.append(f"clip_{seed}")
    save_split(data, train=names[:2], test=names[2:])
    return data


@pytest.fixture(autouse=True)
def _deterministic_threads():
    torch.manual_seed(0)
    yield

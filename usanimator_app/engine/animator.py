"""Streaming animation: one result per driving frame (paper Fig. 1; FOMM's animate loop).

The source frame's keypoints and encoding are computed once; each driving frame then costs one
keypoint detection, one dense-motion pass and one generator pass. Memory stays flat in clip
length because frames are consumed and results yielded one at a time.

    animator = Animator("models/usanimator-ptg-cpu128.pt")
    for result in animator.animate(source_uint8, driving_frames_uint8, MotionOptions()):
        ...  # result.output (S, S) uint8, keypoints, occlusion, deformation
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Iterator

import numpy as np
import torch

from usanimator_app.core.errors import UserInputError
from usanimator_app.engine.checkpoint import load_model
from usanimator_app.engine.coords import normalized_to_pixels
from usanimator_app.engine.device import choose_device, inference_autocast
from usanimator_app.engine.motion import best_aligned_index, relative_keypoints
from usanimator_app.nets.blocks import make_coordinate_grid
from usanimator_app.nets.keypoint_detector import KeypointOutput


@dataclass
class MotionOptions:
    """How driving motion is transferred. ``reference``: 'first', 'best' or a driving frame index."""

    relative: bool = True
    adapt_scale: bool = True
    reference: str | int = "first"
    gain: float = 1.0


@dataclass
class FrameResult:
    """One animated frame; images are model-space (S, S), points are model pixels (x, y)."""

    index: int  # driving frame index
    output: np.ndarray  # (S, S) uint8, the generated frame
    content: np.ndarray  # (S, S) uint8, the content decoder's image
    texture: np.ndarray | None  # (S, S) uint8, texture residual + 0.5 (None with one decoder)
    driving: np.ndarray  # (S, S) uint8, the driving frame as the model saw it
    source_keypoints: np.ndarray  # (K, 2)
    driving_keypoints: np.ndarray  # (K, 2) detected on the driving frame
    source_landmarks: np.ndarray  # (L, 2)
    driving_landmarks: np.ndarray  # (L, 2) detected on the driving frame
    output_keypoints: np.ndarray  # (K, 2) where the motion puts the source keypoints in the output
    output_landmarks: np.ndarray  # (L, 2) where the motion puts the source landmarks in the output
    occlusion: np.ndarray  # (h, w) float32 in [0, 1]
    displacement: np.ndarray  # (h, w, 2) float32, model pixels: where each output pixel samples the source, minus itself
    seconds: float  # compute time of this frame


def _to_tensor(frame: np.ndarray, size: int, device: torch.device) -> torch.Tensor:
    """(S, S) uint8 -> (1, 1, S, S) float in [0, 1] (channels-last for speed)."""
    frame = np.asarray(frame)
    if frame.shape != (size, size) or frame.dtype != np.uint8:
        raise UserInputError(f"frames for the model must be uint8 {size}x{size} grayscale, got {frame.dtype} {frame.shape}")
    tensor = torch.from_numpy(np.ascontiguousarray(frame)).to(device).float().div_(255.0)[None, None]
    return tensor.contiguous(memory_format=torch.channels_last)


def _uint8(image: torch.Tensor) -> np.ndarray:
    return (image[0, 0].float().clamp(0, 1).cpu().numpy() * 255.0 + 0.5).astype(np.uint8)


class Animator:
    """A trained model ready to animate, rebuilt from a checkpoint file."""

    def __init__(self, checkpoint: str | Path, device: str = "auto", fast_precision: bool = True):
        self.checkpoint_path = Path(checkpoint)
        self.config, model, payload = load_model(self.checkpoint_path)
        self.step = payload.get("step", 0)
        self.metadata = payload.get("metadata", {})
        self.device_choice = choose_device(device)
        self.device = self.device_choice.device
        model.discriminator = None  # not needed to animate
        self.model = model.to(self.device).to(memory_format=torch.channels_last).eval()
        self.fast_precision = fast_precision

    @property
    def image_size(self) -> int:
        return self.config.model.image_size

    @property
    def landmark_names(self) -> tuple[str, ...]:
        return tuple(self.config.model.landmark_names)

    @torch.inference_mode()
    def keypoints(self, frame: np.ndarray) -> KeypointOutput:
        """Keypoints of one (S, S) uint8 frame (normalised coordinates)."""
        with inference_autocast(self.device, self.fast_precision):
            return self.model.keypoint_detector(_to_tensor(frame, self.image_size, self.device))

    def to_pixels(self, points: torch.Tensor) -> np.ndarray:
        """(1, N, 2) normalised -> (N, 2) model pixels."""
        return normalized_to_pixels(points[0].float().cpu().numpy(), self.image_size).astype(np.float32)

    def find_best_reference(self, source_frame: np.ndarray, driving_frames: Iterable[np.ndarray]) -> tuple[int, KeypointOutput]:
        """The driving frame whose keypoint layout best matches the source's: (index, its keypoints)."""
        source_points = self.keypoints(source_frame).motion_points()[0].float().cpu().numpy()
        driving_kps = [self.keypoints(f) for f in driving_frames]
        if not driving_kps:
            raise UserInputError("the driving clip has no frames")
        index = best_aligned_index(source_points, [kp.motion_points()[0].float().cpu().numpy() for kp in driving_kps])
        return index, driving_kps[index]

    @torch.inference_mode()
    def animate(
        self,
        source_frame: np.ndarray,
        driving_frames: Iterable[np.ndarray],
        options: MotionOptions | None = None,
        should_stop: Callable[[], bool] = lambda: False,
    ) -> Iterator[FrameResult]:
        """Yield one :class:`FrameResult` per driving frame (S, S) uint8; stops when ``should_stop()``.

        ``options.reference`` 'best' needs the driving frames twice: pass a re-iterable (a list or
        a ``MediaSource``-backed iterable), or resolve it first with :meth:`find_best_reference`.
        """
        options = options or MotionOptions()
        reference_kp = self._reference_keypoints(source_frame, driving_frames, options)
        size = self.image_size
        model = self.model
        identity_grid = None
        with inference_autocast(self.device, self.fast_precision):
            source = _to_tensor(source_frame, size, self.device)
            source_kp = model.keypoint_detector(source)
            source_features = model.generator.encode(source)
            for index, frame in enumerate(driving_frames):
                if should_stop():
                    return
                started = time.perf_counter()
                driving = _to_tensor(frame, size, self.device)
                driving_kp = model.keypoint_detector(driving)
                if reference_kp is None and options.relative:
                    reference_kp = driving_kp
                motion_kp = (
                    relative_keypoints(source_kp, driving_kp, reference_kp, options.adapt_scale, options.gain)
                    if options.relative
                    else driving_kp
                )
                motion, generated = model.animate_step(source, source_features, source_kp, motion_kp)
                if identity_grid is None:
                    identity_grid = make_coordinate_grid(*motion.deformation.shape[1:3], self.device)
                displacement = (motion.deformation[0].float() - identity_grid) * ((size - 1) / 2.0)
                if self.device.type == "cuda":
                    torch.cuda.synchronize(self.device)
                yield FrameResult(
                    index=index,
                    output=_uint8(generated.prediction),
                    content=_uint8(generated.content),
                    texture=None if generated.texture is None else _uint8(generated.texture + 0.5),
                    driving=np.asarray(frame),
                    source_keypoints=self.to_pixels(source_kp.keypoints),
                    driving_keypoints=self.to_pixels(driving_kp.keypoints),
                    source_landmarks=self.to_pixels(source_kp.landmarks),
                    driving_landmarks=self.to_pixels(driving_kp.landmarks),
                    output_keypoints=self.to_pixels(motion_kp.keypoints),
                    output_landmarks=self.to_pixels(motion_kp.landmarks),
                    occlusion=motion.occlusion[0, 0].float().cpu().numpy(),
                    displacement=displacement.cpu().numpy(),
                    seconds=time.perf_counter() - started,
                )

    def _reference_keypoints(
        self, source_frame: np.ndarray, driving_frames: Iterable[np.ndarray], options: MotionOptions
    ) -> KeypointOutput | None:
        """Keypoints of the relative-motion reference frame; None: the first driving frame (or absolute motion)."""
        if not options.relative or options.reference == "first":
            return None
        if options.reference == "best":
            return self.find_best_reference(source_frame, driving_frames)[1]
        try:
            index = int(options.reference)
        except (TypeError, ValueError):
            raise UserInputError(f"reference must be 'first', 'best' or a frame index, not {options.reference!r}") from None
        if index < 0:
            raise UserInputError(f"reference frame index must be >= 0, got {index}")
        for position, frame in enumerate(driving_frames):
            if position == index:
                return self.keypoints(frame)
        raise UserInputError(f"reference frame {index} is beyond the end of the driving clip")

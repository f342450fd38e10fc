"""Streaming animation: one result per driving frame (paper Fig. 1; FOMM's animate loop).

The source frame's keypoints and encoding are computed once; each driving frame then costs one
keypoint detection, one dense-motion pass and one generator pass at the model's resolution, and
the rendering of the output frame (``engine.render``): by default the source's own pixels moved by
the predicted motion at the source's resolution, the generated frame filling what the occlusion
map says the source cannot show. Memory stays flat in clip length because frames are consumed and
results yielded one at a time.

    animator = Animator("models/usanimator-ptg-cpu128.pt")
    source = load_source_frame("still.png", animator.image_size)          # engine.pipeline
    for result in animator.animate(source.model_frame, driving_frames, MotionOptions(),
                                   native=(source.gray, source.geometry)):
        ...  # result.frame (H, W) uint8 at the source's resolution; result.output (S, S) the paper's frame
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Iterator, Sequence

import numpy as np
import torch
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

from usanimator_app.core.errors import UserInputError
from usanimator_app.core.preprocess import FrameGeometry
from usanimator_app.core.validation import DEFAULT_MAX_SIDE, output_side
from usanimator_app.engine.checkpoint import load_model
from usanimator_app.engine.coords import normalized_to_pixels, pixels_to_normalized
from usanimator_app.engine.device import choose_device, inference_autocast
from usanimator_app.engine.model import AnimationModel
from usanimator_app.engine.motion import adapt_scale, best_aligned_index, relative_keypoints
from usanimator_app.engine.render import NativeRenderer, output_geometry
from usanimator_app.engine.tissue_motion import (LANDMARK_CONFIDENT_SPREAD, MOTION_MATCH_EVERY, MotionMatch, landmark_spread,
                                                 lock_landmarks, motion_region, shown_weight, tissue_deformation)
from usanimator_app.nets.blocks import DownBlock2d, ResBlock2d, SameBlock2d, UpBlock2d, make_coordinate_grid
from usanimator_app.nets.keypoint_detector import KeypointOutput


@dataclass
class MotionOptions:
    """How driving motion is transferred. ``reference``: 'first', 'best' or a driving frame index.
    ``tissue``: make the network's motion fold-free and area-bounded inside the source's imaging
    sector (``engine.tissue_motion``); off gives the network's raw deformation. ``match_motion``
    (relative motion only): the source moves as much as the driving clip moves its own reference
    frame, times ``gain`` (``tissue_motion.MotionMatch``). ``lock_landmarks`` (with ``tissue``): where the
    detector is sure of the anatomical landmarks on the source and on the driving clip's first or
    reference frame, the motion carries each source landmark exactly where the keypoints move it
    (``tissue_motion.lock_landmarks``): the bladder neck descends as the driving clip's does."""

    relative: bool = True
    adapt_scale: bool = True
    reference: str | int = "first"
    gain: float = 1.0
    tissue: bool = True
    match_motion: bool = True
    lock_landmarks: bool = True


OUTPUT_MODES = ("default", "generated", "content")


@dataclass
class OutputOptions:
    """What ``FrameResult.frame`` shows, and at what size.

    ``mode``: 'default' (the source's pixels moved by the motion, the generated frame filling
    occlusions), 'generated' (the paper's generated frame G_f) or 'content' (the content decoder's
    image), each resampled to the output grid. ``size``: 'native' (the source's content box at its
    own resolution, longest side at most ``max_side``), 'model' (the model's scale) or N (longest side N px).
    ``keep_sector`` (default mode): the source's imaging sector and everything outside it stay as in the
    source, and the fill is never brighter than the source around it (``engine.render``).
    """

    mode: str = "default"
    size: str | int = "native"
    max_side: int = DEFAULT_MAX_SIDE
    keep_sector: bool = True

    def __post_init__(self) -> None:
        if self.mode not in OUTPUT_MODES:
            raise UserInputError(f"unknown output mode {self.mode!r}; choose one of {', '.join(OUTPUT_MODES)}")
        if self.size not in ("native", "model"):
            try:
                self.size = int(self.size)
            except (TypeError, ValueError):
                raise UserInputError(f"output size must be native, model or a number of pixels, not {self.size!r}") from None
            output_side("the output size in px", self.size)
        output_side("the longest output side in px", int(self.max_side))


@dataclass
class FrameResult:
    """One animated frame. ``frame`` is the output at the output grid (see :class:`OutputOptions`),
    ``frame_*`` points are its pixels; the other images are model-space (S, S), points model pixels (x, y)."""

    index: int  # driving frame index
    frame: np.ndarray  # (H, W) uint8, the output frame at the output grid (native resolution by default)
    frame_keypoints: np.ndarray  # (K, 2) output_keypoints in frame pixels
    frame_landmarks: np.ndarray  # (L, 2) output_landmarks in frame pixels
    output: np.ndarray  # (S, S) uint8, the generated frame (the paper's output)
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


class MotionRecord:
    """The motion of an animation, frame by frame, for ``animate --motion-out FILE.npz``.

    The file holds ``displacement`` (F, h, w, 2) float32 (model pixels on the motion grid, as
    :attr:`FrameResult.displacement`), ``occlusion`` (F, h, w) float32, ``source`` (S, S) uint8 (the
    model-space source), ``source_keypoints`` (K, 2), ``source_landmarks`` (L, 2), ``keypoints`` /
    ``landmarks`` (F, K|L, 2) where the motion puts them in the output, ``driving_keypoints`` /
    ``driving_landmarks`` (F, K|L, 2) as detected or edited, all model pixels, ``landmark_names`` and
    ``frame_index`` (F,). No file names or paths.
    """

    FIELDS = ("displacement", "occlusion", "output_keypoints", "output_landmarks", "driving_keypoints", "driving_landmarks")

    def __init__(self, source: np.ndarray, landmark_names: Sequence[str]):
        self.source = np.asarray(source, np.uint8)
        self.landmark_names = list(landmark_names)
        self.source_points: tuple[np.ndarray, np.ndarray] | None = None  # (keypoints, landmarks) of the source
        self.fields: dict[str, list[np.ndarray]] = {name: [] for name in self.FIELDS}
        self.frame_index: list[int] = []

    def add(self, result: FrameResult) -> None:
        """Keep one frame's motion (its small arrays only: the images are not held, so memory stays
        at the motion's size, about 35 kB a frame for a 64 x 64 grid)."""
        if self.source_points is None:
            self.source_points = (result.source_keypoints, result.source_landmarks)
        for name in self.FIELDS:
            self.fields[name].append(np.asarray(getattr(result, name), np.float32))
        self.frame_index.append(result.index)

    def arrays(self) -> dict[str, np.ndarray]:
        if self.source_points is None:
            raise UserInputError("no frames were animated: there is no motion to write")
        stacked = {name: np.stack(values) for name, values in self.fields.items()}
        return {
            "displacement": stacked["displacement"], "occlusion": stacked["occlusion"], "source": self.source,
            "source_keypoints": self.source_points[0], "source_landmarks": self.source_points[1],
            "keypoints": stacked["output_keypoints"], "landmarks": stacked["output_landmarks"],
            "driving_keypoints": stacked["driving_keypoints"], "driving_landmarks": stacked["driving_landmarks"],
            "landmark_names": np.array(self.landmark_names, dtype=str), "frame_index": np.array(self.frame_index),
        }

    def write(self, path: str | Path) -> Path:
        """Write the .npz atomically (compressed); returns the path."""
        import io

        from usanimator_app.core.atomic import write_bytes_atomic

        path = Path(path)
        if path.suffix.lower() != ".npz":
            raise UserInputError(f"{path}: the motion file must end in .npz")
        buffer = io.BytesIO()
        np.savez_compressed(buffer, **self.arrays())
        write_bytes_atomic(path, buffer.getvalue())
        return path


def frame_tensor(frame: np.ndarray, size: int, device: torch.device) -> torch.Tensor:
    """(S, S) uint8 -> (1, 1, S, S) float in [0, 1] (channels-last for speed)."""
    frame = np.asarray(frame)
    if frame.shape != (size, size) or frame.dtype != np.uint8:
        raise UserInputError(f"frames for the model must be uint8 {size}x{size} grayscale, got {frame.dtype} {frame.shape}")
    tensor = torch.from_numpy(np.ascontiguousarray(frame)).to(device).float().div_(255.0)[None, None]
    return tensor.contiguous(memory_format=torch.channels_last)


def _uint8(image: torch.Tensor) -> np.ndarray:
    """(1, 1, H, W) float -> (H, W) uint8, round(clamp(x, 0, 1) * 255)."""
    return image[0, 0].float().clamp(0, 1).mul_(255.0).add_(0.5).to(torch.uint8).cpu().numpy()


def fold_batch_norms(model: nn.Module) -> nn.Module:
    """Fold every eval-mode BatchNorm that directly follows a convolution into that convolution.

    conv -> norm in DownBlock2d, UpBlock2d and SameBlock2d, conv1 -> norm2 in ResBlock2d (its
    pre-activation norm1 follows a sum and stays). For inference only: outputs change by float rounding.
    """
    for module in model.modules():
        if isinstance(module, (DownBlock2d, UpBlock2d, SameBlock2d)):
            module.conv, module.norm = fuse_conv_bn_eval(module.conv, module.norm), nn.Identity()
        elif isinstance(module, ResBlock2d):
            module.conv1, module.norm2 = fuse_conv_bn_eval(module.conv1, module.norm2), nn.Identity()
    return model


def prepare_for_inference(model: AnimationModel, device: torch.device) -> AnimationModel:
    """The model as the animator runs it: no discriminator, eval mode, batch norms folded, on
    ``device`` in channels-last layout (oneDNN's fast path on the CPU, above all under bf16)."""
    model.discriminator = None  # not needed to animate
    return fold_batch_norms(model.eval()).to(device).to(memory_format=torch.channels_last)


def _identity_geometry(size: int) -> FrameGeometry:
    """The geometry of a frame that already is the (size, size) model image."""
    return FrameGeometry(crop=(0, 0, size, size), scale=1.0, pad=(0, 0), size=size, original_size=(size, size))


class Animator:
    """A trained model ready to animate, rebuilt from a checkpoint file."""

    def __init__(self, checkpoint: str | Path, device: str = "auto", fast_precision: bool = True):
        self.checkpoint_path = Path(checkpoint)
        self.config, model, payload = load_model(self.checkpoint_path)
        self.step = payload.get("step", 0)
        self.metadata = payload.get("metadata", {})
        self.device_choice = choose_device(device)
        self.device = self.device_choice.device
        self.model = prepare_for_inference(model, self.device)
        self.fast_precision = fast_precision

    @property
    def image_size(self) -> int:
        return self.config.model.image_size

    def precision(self):
        """The precision context for this animator's model calls (``engine.device.inference_autocast``).
        Enter it around model calls, never across a ``yield``: at each yield the generator wrapper of
        ``torch.inference_mode`` restores the thread's dispatch state, which turns autocast off."""
        return inference_autocast(self.device, self.fast_precision)

    @property
    def landmark_names(self) -> tuple[str, ...]:
        return tuple(self.config.model.landmark_names)

    @torch.inference_mode()
    def keypoints(self, frame: np.ndarray) -> KeypointOutput:
        """Keypoints of one (S, S) uint8 frame (normalised coordinates)."""
        with self.precision():
            return self.model.keypoint_detector(frame_tensor(frame, self.image_size, self.device))

    def point_track(self, frames: Iterable[np.ndarray]) -> Iterator[np.ndarray]:
        """The motion points of each (S, S) uint8 frame: one (K + L, 2) model-pixel array per frame
        (the self-supervised keypoints, then the landmark heads' reading)."""
        for frame in frames:
            yield self.to_pixels(self.keypoints(frame).motion_points())

    def to_pixels(self, points: torch.Tensor) -> np.ndarray:
        """(1, N, 2) normalised -> (N, 2) model pixels."""
        return normalized_to_pixels(points[0].float().cpu().numpy(), self.image_size).astype(np.float32)

    def find_best_reference(
        self, source_frame: np.ndarray, driving_frames: Iterable[np.ndarray]
    ) -> tuple[int, KeypointOutput, np.ndarray]:
        """The driving frame whose keypoint layout best matches the source's: (index, its keypoints,
        the (S, S) frame itself), in one pass over the driving frames."""
        source_points = self.keypoints(source_frame).motion_points()[0].float().cpu().numpy()
        frames = [np.asarray(f) for f in driving_frames]
        driving_kps = [self.keypoints(f) for f in frames]
        if not driving_kps:
            raise UserInputError("the driving clip has no frames")
        index = best_aligned_index(source_points, [kp.motion_points()[0].float().cpu().numpy() for kp in driving_kps])
        return index, driving_kps[index], frames[index]

    @torch.inference_mode()
    def animate(
        self,
        source_frame: np.ndarray,
        driving_frames: Iterable[np.ndarray],
        options: MotionOptions | None = None,
        should_stop: Callable[[], bool] = lambda: False,
        native: tuple[np.ndarray, FrameGeometry] | None = None,
        output: OutputOptions | None = None,
        driving_points: Sequence[np.ndarray] | None = None,
    ) -> Iterator[FrameResult]:
        """Yield one :class:`FrameResult` per driving frame (S, S) uint8; stops when ``should_stop()``.

        ``native``: the source as stored, in gray (H0, W0) uint8, and the geometry that made
        ``source_frame`` from it; the output is then rendered on the source's own pixels. Without
        it the model-size ``source_frame`` is the source. ``options.reference`` 'best' needs the
        driving frames twice: pass a re-iterable (a list or a ``MediaSource``-backed iterable), or
        resolve it first with :meth:`find_best_reference`. ``driving_points``: per driving frame the
        (K + L, 2) motion points (keypoints, then landmarks) in model pixels to use instead of the
        detected ones, for the reference frame too (an edited trajectory, ``core.trajectory``).
        """
        options = options or MotionOptions()
        output = output or OutputOptions()
        reference = self._reference_keypoints(source_frame, driving_frames, options)
        reference_kp = None if reference is None else self._points_from(driving_points, *reference[:2])
        reference_frame = None if reference is None else reference[2]  # (S, S) uint8, for match_motion
        relative_scale = None  # engine.motion.adapt_scale of the source and the reference (or 1), once the reference is known
        match_motion = options.relative and options.match_motion
        matcher = None  # tissue_motion.MotionMatch, made at the first frame
        lock = None  # whether the landmarks are locked (options.lock_landmarks and a sure detector), decided at the first frame
        size = self.image_size
        model = self.model
        identity_grid = None
        source_gray, geometry = native if native is not None else (np.asarray(source_frame), _identity_geometry(size))
        grid = output_geometry(geometry, output.size, output.max_side)
        renderer = NativeRenderer(source_gray, geometry, grid, self.device, output.keep_sector)
        region = None  # the source's sector on the motion grid (engine.tissue_motion), made at the first frame
        with self.precision():  # entered per frame below, never held across the yield
            source = frame_tensor(source_frame, size, self.device)
            source_kp = model.keypoint_detector(source)
            source_features = model.generator.encode(source)
        for index, frame in enumerate(driving_frames):
            if should_stop():
                return
            started = time.perf_counter()
            with self.precision():
                driving = frame_tensor(frame, size, self.device)
                driving_kp = self._points_from(driving_points, index, model.keypoint_detector(driving))
                if reference_kp is None and options.relative:
                    reference_kp, reference_frame = driving_kp, np.asarray(frame)
                if relative_scale is None and options.relative:  # fixed for the clip: source and reference
                    relative_scale = adapt_scale(source_kp, reference_kp) if options.adapt_scale else 1.0
                motion_kp = (  # shown, and where the landmark lock carries the landmarks
                    relative_keypoints(source_kp, driving_kp, reference_kp, relative_scale, options.gain)
                    if options.relative
                    else driving_kp
                )
                scale = matcher.scale if matcher is not None else 1.0  # 1 until MotionMatch observed a frame
                network_kp = motion_kp if scale == 1.0 else relative_keypoints(  # the keypoints' motion scaled, the network answers it
                    source_kp, driving_kp, reference_kp, relative_scale, options.gain * scale)
                motion = model.dense_motion(source, source_kp, network_kp)
                if region is None:  # the first frame
                    grid_size = motion.deformation.shape[1:3]
                    region = motion_region(source_frame, *grid_size, self.device)
                if options.tissue:
                    motion = motion._replace(deformation=tissue_deformation(motion.deformation, region))
                if match_motion and index % MOTION_MATCH_EVERY == 0:
                    if matcher is None:
                        own_source = frame_tensor(reference_frame, size, self.device)
                        own_region = motion_region(reference_frame, *grid_size, self.device)
                        matcher = MotionMatch(options.gain)
                    own = model.dense_motion(own_source, reference_kp, driving_kp)  # the driving clip moving itself
                    if options.tissue:
                        own = own._replace(deformation=tissue_deformation(own.deformation, own_region))
                    matcher.observe(motion.deformation, shown_weight(motion, region), own.deformation, shown_weight(own, own_region), scale)
                if options.tissue:
                    if lock is None:
                        lock = options.lock_landmarks and self._landmarks_sure(source_kp, driving_kp if reference_kp is None else reference_kp)
                    if lock:
                        locked = lock_landmarks(motion.deformation, source_kp.landmarks[0].float(),
                                                motion_kp.landmarks[0].float(), region.inside)
                        motion = motion._replace(deformation=locked)
                generated = model.generator(source_features, motion)
            if not bool(torch.isfinite(generated.prediction).all()):
                raise UserInputError(
                    f"{self.checkpoint_path}: the model produced non-finite values at driving frame {index}; "
                    "the checkpoint is broken - retrain it or choose another model"
                )
            if output.mode == "default":
                frame_image = renderer.render(motion, generated.prediction)[0]
            else:
                image = generated.prediction if output.mode == "generated" else generated.content
                frame_image = renderer.resample(image)
            if identity_grid is None:
                identity_grid = make_coordinate_grid(*motion.deformation.shape[1:3], self.device)
            displacement = (motion.deformation[0].float() - identity_grid) * ((size - 1) / 2.0)
            if self.device.type == "cuda":
                torch.cuda.synchronize(self.device)
            output_keypoints = self.to_pixels(motion_kp.keypoints)
            output_landmarks = self.to_pixels(motion_kp.landmarks)
            yield FrameResult(
                index=index,
                frame=_uint8(frame_image),
                frame_keypoints=grid.points_from_model(geometry, output_keypoints).astype(np.float32),
                frame_landmarks=grid.points_from_model(geometry, output_landmarks).astype(np.float32),
                output=_uint8(generated.prediction),
                content=_uint8(generated.content),
                texture=None if generated.texture is None else _uint8(generated.texture + 0.5),
                driving=np.asarray(frame),
                source_keypoints=self.to_pixels(source_kp.keypoints),
                driving_keypoints=self.to_pixels(driving_kp.keypoints),
                source_landmarks=self.to_pixels(source_kp.landmarks),
                driving_landmarks=self.to_pixels(driving_kp.landmarks),
                output_keypoints=output_keypoints,
                output_landmarks=output_landmarks,
                occlusion=motion.occlusion[0, 0].float().cpu().numpy(),
                displacement=displacement.cpu().numpy(),
                seconds=time.perf_counter() - started,
            )

    @staticmethod
    def _landmarks_sure(*keypoints: KeypointOutput) -> bool:
        """Whether every landmark heatmap of these frames is at most ``LANDMARK_CONFIDENT_SPREAD`` wide
        (False for a model without landmarks)."""
        spreads = [landmark_spread(kp.landmark_heatmaps) for kp in keypoints]
        return all(s.numel() > 0 and bool((s <= LANDMARK_CONFIDENT_SPREAD).all()) for s in spreads)

    def _points_from(self, points: Sequence[np.ndarray] | None, index: int, keypoints: KeypointOutput) -> KeypointOutput:
        """``keypoints`` of driving frame ``index`` with its keypoints and landmarks taken from
        ``points`` ((K + L, 2) model pixels per frame; the Jacobians stay); unchanged when None."""
        if points is None:
            return keypoints
        if index >= len(points):
            raise UserInputError(f"the edited trajectory has {len(points)} frames; the driving clip has more")
        frame_points = np.asarray(points[index], dtype=np.float32)
        num_kp = keypoints.keypoints.shape[1]
        if frame_points.shape != (num_kp + keypoints.landmarks.shape[1], 2):
            raise UserInputError(f"edited points of frame {index} have shape {frame_points.shape}, "
                                 f"the model has {num_kp} keypoints and {keypoints.landmarks.shape[1]} landmarks")
        normalised = torch.from_numpy(pixels_to_normalized(frame_points, self.image_size))[None].to(keypoints.landmarks)
        return keypoints._replace(keypoints=normalised[:, :num_kp], landmarks=normalised[:, num_kp:])

    def _reference_keypoints(
        self, source_frame: np.ndarray, driving_frames: Iterable[np.ndarray], options: MotionOptions
    ) -> tuple[int, KeypointOutput, np.ndarray] | None:
        """(index, keypoints, the (S, S) frame) of the relative-motion reference frame; None: the first
        driving frame (or absolute motion)."""
        if not options.relative or options.reference == "first":
            return None
        if options.reference == "best":
            return self.find_best_reference(source_frame, driving_frames)
        try:
            index = int(options.reference)
        except (TypeError, ValueError):
            raise UserInputError(f"reference must be 'first', 'best' or a frame index, not {options.reference!r}") from None
        if index < 0:
            raise UserInputError(f"reference frame index must be >= 0, got {index}")
        for position, frame in enumerate(driving_frames):
            if position == index:
                return index, self.keypoints(frame), np.asarray(frame)
        raise UserInputError(f"reference frame {index} is beyond the end of the driving clip")

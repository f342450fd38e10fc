"""Rendering the animated frame: the source's own pixels moved by the predicted motion, the
generated frame filling what the source cannot show.

The networks work at the model's resolution (e.g. 128 x 128) for motion. The default output is
rendered at the source's own resolution instead:

    frame = occlusion * warp(source_native, deformation) + (1 - occlusion) * fill

where the deformation and occlusion maps are resampled (bilinearly) from model resolution to the
output grid and ``fill`` is the generated frame (content + texture decoders), upsampled. The
speckle and edges of the output are then the source's real ones wherever the source can show
them.

With ``keep_sector`` (the default) the source's imaging sector (``core.sector``) stays fixed:

    visible = occlusion * warp(sector, deformation)      # a sample from outside the fan shows no tissue
    fill    = min(fill, warp(ceiling, deformation))      # ceiling: the local mean of the source's tissue
    frame   = rim * (visible * warp(source) + (1 - visible) * fill) + (1 - rim) * source

where ``rim`` (:func:`rim_weight`) is 0 outside the sector and rises to 1 over a thin band inside its
edge, the band over which the motion fades to zero (engine.tissue_motion). So the fan's outline, the
black and the scanner's text outside it are the source's, and what the generator fills in is never
brighter than the mean of the anatomy that the motion brings to that pixel (:func:`fill_ceiling`). :func:`composite_at_model_size` is the same formula at model size; training can add an L1
loss on it (``LossWeights.warped_source_l1``), which teaches the occlusion map to be that selector.

Coordinates: the engine's normalised model coordinates have -1 / 1 at the centres of the border
pixels of the (S, S) model square (``align_corners=True``); ``FrameGeometry`` maps original pixels
to model pixels by one scale and offset per axis, so the mapping between the output grid and the
model square is affine and is composed once per clip (:class:`NativeRenderer`).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from usanimator_app.core.preprocess import FrameGeometry
from usanimator_app.core.validation import DEFAULT_MAX_SIDE
from usanimator_app.core.sector import edge_ramp, sector_mask
from usanimator_app.nets.blocks import make_coordinate_grid, sample
from usanimator_app.nets.dense_motion import DenseMotionOutput

CEILING_BLUR = 0.015  # of the crop's shorter side: the Gaussian blur of the source for the fill ceiling
RIM_WIDTH = 0.04  # of the crop's shorter side: the band inside the sector's edge over which the output fades to the source


def resize_deformation(deformation: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """(B, h, w, 2) sampling grid -> (B, height, width, 2), bilinear (align_corners=True keeps -1/1 fixed)."""
    if deformation.shape[1:3] == (height, width):
        return deformation
    grid = F.interpolate(deformation.permute(0, 3, 1, 2).float(), size=(height, width), mode="bilinear", align_corners=True)
    return grid.permute(0, 2, 3, 1)


def composite_at_model_size(source: torch.Tensor, motion: DenseMotionOutput, fill: torch.Tensor) -> torch.Tensor:
    """occlusion * warp(source) + (1 - occlusion) * fill; source, fill (B, C, S, S) -> (B, C, S, S)."""
    height, width = source.shape[2:]
    warped = sample(source, resize_deformation(motion.deformation, height, width))
    occlusion = F.interpolate(motion.occlusion.float(), size=(height, width), mode="bilinear", align_corners=True)
    return occlusion * warped + (1.0 - occlusion) * fill.float()


@dataclass(frozen=True)
class OutputGeometry:
    """Where output pixels lie: the source's content box ``crop`` (original pixels, x1/y1 exclusive)
    at ``scale`` output pixels per original pixel; ``size`` = (width, height) of the output."""

    crop: tuple[int, int, int, int]
    scale: float
    size: tuple[int, int]

    def points_from_model(self, geometry: FrameGeometry, model_xy: np.ndarray) -> np.ndarray:
        """(N, 2) model pixels -> (N, 2) output pixels (for drawing keypoints on the output)."""
        original = geometry.points_to_original(model_xy)
        return (original - np.array(self.crop[:2], dtype=np.float64) + 0.5) * self.scale - 0.5


def output_geometry(geometry: FrameGeometry, output_size: str | int = "native", max_side: int = DEFAULT_MAX_SIDE) -> OutputGeometry:
    """The output grid for ``output_size``: 'native' (the content box at the source's resolution,
    longest side at most ``max_side``), 'model' (the model's own size) or N (longest side N px)."""
    x0, y0, x1, y1 = geometry.crop
    longest = max(x1 - x0, y1 - y0)
    if output_size == "native":
        scale = min(1.0, max_side / longest)
    elif output_size == "model":
        scale = geometry.scale
    else:
        scale = int(output_size) / longest
    width, height = max(1, round((x1 - x0) * scale)), max(1, round((y1 - y0) * scale))
    return OutputGeometry(geometry.crop, scale, (width, height))


def _model_to_crop_normalised(size: int, pad: int, scale: float, extent: int) -> tuple[float, float]:
    """(a, b) with crop_normalised = a * model_normalised + b along one axis.

    model-normalised n -> model pixel (n + 1) (size - 1) / 2 -> crop pixel (m - pad + 0.5) / scale - 0.5
    -> crop-normalised 2 c / (extent - 1) - 1 (align_corners=True).
    """

    def crop_normalised(n: float) -> float:
        model_px = (n + 1.0) * (size - 1) / 2.0
        crop_px = (model_px - pad + 0.5) / scale - 0.5
        return 2.0 * crop_px / max(extent - 1, 1) - 1.0

    low, high = crop_normalised(-1.0), crop_normalised(1.0)
    return (high - low) / 2.0, (high + low) / 2.0


def fill_ceiling(gray: np.ndarray, sector: np.ndarray) -> np.ndarray:
    """The brightest a fill may be, before the motion moves it, (H, W) float32 in [0, 1]: the local
    mean of a (H, W) uint8 source's tissue, a Gaussian of ``CEILING_BLUR`` of its shorter side over
    the pixels of its (H, W) bool ``sector`` only (the black beyond the fan neither darkens its edge
    nor counts as tissue; farther beyond the fan, the mean of all its tissue).
    Warped with the source, it caps the fill at the mean brightness of the tissue that lands on each
    output pixel, not at its speckle peaks."""
    sigma = max(1.0, CEILING_BLUR * min(gray.shape))
    inside = sector.astype(np.float32)
    image = gray.astype(np.float32) / 255.0 * inside
    weight = cv2.GaussianBlur(inside, (0, 0), sigma)
    local_mean = cv2.GaussianBlur(image, (0, 0), sigma) / np.maximum(weight, 1e-6)
    return np.where(weight > 0.05, local_mean, image[sector].mean()).astype(np.float32)


def rim_weight(sector: np.ndarray) -> np.ndarray:
    """The weight of the animated frame (H, W) float32 in [0, 1] for a (H, W) bool sector: 0 outside it
    and on its edge, rising over ``RIM_WIDTH`` of the shorter side inwards (``core.sector.edge_ramp``).
    The velocity fades to zero there too (engine.tissue_motion), so the fan's rim is the source's own:
    neither the motion nor the generated fill moves or darkens its outline."""
    return edge_ramp(sector, RIM_WIDTH * min(sector.shape))


class NativeRenderer:
    """Renders model-resolution motion on the source's own pixels at an :class:`OutputGeometry`.

    Built once per (source, output grid): holds the source crop (1, 1, H, W) and the output grid's
    coordinates, model-normalised and source-crop-normalised; :meth:`render` then costs three
    bilinear samplings per frame at the output size (motion maps, fill, source).
    """

    def __init__(
        self, source_gray: np.ndarray, geometry: FrameGeometry, output: OutputGeometry, device: torch.device, keep_sector: bool = True
    ):
        x0, y0, x1, y1 = output.crop
        crop = np.ascontiguousarray(source_gray[y0:y1, x0:x1])
        self.output = output
        self.source = torch.from_numpy(crop).to(device).float().div_(255.0)[None, None]  # (1, 1, h0, w0)
        sector = sector_mask(crop)
        self.keep_sector = keep_sector and bool(sector.any())
        width, height = output.size
        # Output pixel centre u -> original pixel x0 + (u + 0.5) / scale - 0.5 -> model pixel -> normalised.
        us = torch.arange(width, device=device, dtype=torch.float64)
        vs = torch.arange(height, device=device, dtype=torch.float64)
        original_x = x0 + (us + 0.5) / output.scale - 0.5
        original_y = y0 + (vs + 0.5) / output.scale - 0.5
        size = geometry.size
        model_x = (original_x - x0 + 0.5) * geometry.scale - 0.5 + geometry.pad[0]
        model_y = (original_y - y0 + 0.5) * geometry.scale - 0.5 + geometry.pad[1]
        norm_x = model_x * (2.0 / (size - 1)) - 1.0
        norm_y = model_y * (2.0 / (size - 1)) - 1.0
        grid_y, grid_x = torch.meshgrid(norm_y, norm_x, indexing="ij")
        self.model_grid = torch.stack([grid_x, grid_y], dim=-1).float()[None]  # (1, H, W, 2)
        # Model-normalised source coordinates -> normalised coordinates of the source crop: affine per axis.
        scale_x, offset_x = _model_to_crop_normalised(size, geometry.pad[0], geometry.scale, x1 - x0)
        scale_y, offset_y = _model_to_crop_normalised(size, geometry.pad[1], geometry.scale, y1 - y0)
        self._scale = torch.tensor([scale_x, scale_y], device=device)  # (2,)
        self.crop_grid = self.model_grid * self._scale + torch.tensor([offset_x, offset_y], device=device)  # (1, H, W, 2)
        if self.keep_sector:
            sector_crop = torch.from_numpy(sector.astype(np.float32)).to(device)[None, None]
            rim_crop = torch.from_numpy(rim_weight(sector)).to(device)[None, None]
            # source and sector warped together per frame, the ceiling beside them (beyond the crop: its border's);
            # source and rim weight on the output grid, once.
            self.source_and_sector = torch.cat([self.source, sector_crop], dim=1)  # (1, 2, h0, w0)
            self.ceiling = torch.from_numpy(fill_ceiling(crop, sector)).to(device)[None, None]  # (1, 1, h0, w0)
            fixed = sample(torch.cat([self.source, rim_crop], dim=1), self.crop_grid, padding_mode="border")
            self.source_out, self.rim_out = fixed[:, :1], fixed[:, 1:2]

    def still(self) -> torch.Tensor:
        """The source itself on the output grid, (1, 1, H, W) in [0, 1] (what zero motion renders)."""
        return sample(self.source, self.crop_grid, padding_mode="border")

    def resample(self, image: torch.Tensor) -> torch.Tensor:
        """A model-size image (1, C, S, S) -> (1, C, H, W) at the output grid (bilinear)."""
        return sample(image.float(), self.model_grid, padding_mode="border").clamp_(0.0, 1.0)

    def render(self, motion: DenseMotionOutput, fill: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """motion of one frame (batch 1), fill (1, 1, S, S) -> (frame, occlusion), each (1, 1, H, W) in [0, 1]."""
        # Resample the displacement (deformation - identity), not the deformation itself, so that
        # output pixels beyond the model image's outermost pixel centres extrapolate the identity.
        # The displacement is scaled to source-crop units at model resolution (h, w), before it is
        # resampled: sampling is linear, and the full-size grid then costs one addition.
        height, width = motion.deformation.shape[1:3]
        identity = make_coordinate_grid(height, width, motion.deformation.device)
        displacement = ((motion.deformation.float() - identity) * self._scale).permute(0, 3, 1, 2)  # (1, 2, h, w)
        maps = sample(torch.cat([displacement, motion.occlusion.float()], dim=1), self.model_grid, padding_mode="border")
        source_grid = self.crop_grid + maps[:, :2].permute(0, 2, 3, 1)  # (1, H, W, 2) source-crop normalised
        fill_native = self.resample(fill)
        occlusion = maps[:, 2:3]
        if not self.keep_sector:
            warped = sample(self.source, source_grid, padding_mode="border")
            # occlusion * warped + (1 - occlusion) * fill, in place on the warped frame.
            frame = warped.sub_(fill_native).mul_(occlusion).add_(fill_native)
            return frame.clamp_(0.0, 1.0), occlusion
        warped_both = sample(self.source_and_sector, source_grid, padding_mode="zeros")
        warped, landed = warped_both[:, :1], warped_both[:, 1:2]
        occlusion = occlusion * landed  # visible: taken from the source and from inside its sector
        fill_native = torch.minimum(fill_native, sample(self.ceiling, source_grid, padding_mode="border"))
        frame = warped.sub_(fill_native).mul_(occlusion).add_(fill_native)
        # rim * frame + (1 - rim) * source, in place.
        frame = frame.sub_(self.source_out).mul_(self.rim_out).add_(self.source_out)
        return frame.clamp_(0.0, 1.0), occlusion

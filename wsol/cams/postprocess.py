"""From per-layer raw maps to the final map: resize, per-map min-max normalisation, fusion of several layers.

Conventions (``upsample``):

* ``"bilinear"`` / ``"bicubic"`` / ``"nearest"``: resize with ``F.interpolate`` (``align_corners=False``),
  fuse, then min-max normalise each map at the output resolution (``(m - min) / (max - min)``; a constant
  map becomes all zeros, as ``wsol.models.normalize_per_map`` and the evaluator do). ``"bicubic"`` is the
  wsolevaluation convention for evaluation.
* ``"cv2-bilinear"``: the pytorch-grad-cam (PyPI ``grad-cam``) convention, which reproduces its maps to
  ~1e-6: each layer's map is normalised at feature resolution as ``(m - min) / (max(m - min) + 1e-7)``,
  resized with half-pixel bilinear interpolation (what ``cv2.resize`` ``INTER_LINEAR`` does on float32;
  ``F.interpolate(..., "bilinear", align_corners=False)`` equals it to 2e-7), the layers are averaged, and
  the result is normalised again with the same formula.

For ONE layer, ``"bilinear"`` and ``"cv2-bilinear"`` give the same normalised map (bilinear weights sum to one
and min-max is invariant to positive affine changes, so normalising before the resize changes nothing once
the result is renormalised). They differ for SEVERAL layers: pytorch-grad-cam normalises each layer before
upsampling (its maps then miss exact 0 / 1 at the upsampled extremes), ``"bilinear"`` after it (up to ~3e-2
apart on a ResNet-18 with layer3 + layer4).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

UPSAMPLE_MODES = ("bilinear", "bicubic", "nearest", "cv2-bilinear")
FUSE_MODES = ("mean", "max")


def minmax(maps: Tensor, eps: float | None = None) -> Tensor:
    """Min-max normalise over the last two dims (differentiable, input not mutated).

    ``eps=None``: ``(m - min) / (max - min)``, constant maps → 0. ``eps`` given: pytorch-grad-cam's
    ``(m - min) / (max(m - min) + eps)``.
    """
    flat = maps.flatten(-2)
    shifted = flat - flat.amin(-1, keepdim=True)
    span = shifted.amax(-1, keepdim=True)
    if eps is not None:
        out = shifted / (span + eps)
    else:
        out = torch.where(span > 0, shifted / span.clamp_min(torch.finfo(maps.dtype).tiny), torch.zeros_like(flat))
    return out.view_as(maps)


def resize(maps: Tensor, size: tuple[int, int], mode: str) -> Tensor:
    """Resize (B, K, h, w) maps; a no-op when the size already matches."""
    if tuple(maps.shape[-2:]) == tuple(size):
        return maps
    if mode == "nearest":
        return F.interpolate(maps, size=size, mode="nearest")
    return F.interpolate(maps, size=size, mode="bicubic" if mode == "bicubic" else "bilinear", align_corners=False)


def output_size(size: str | tuple[int, int], image_hw: tuple[int, int], maps: Sequence[Tensor]) -> tuple[int, int]:
    """``"input"`` → the images' (H, W); ``"feature"`` → the largest layer map's (h, w); or an explicit (h, w)."""
    if size == "input":
        return (int(image_hw[0]), int(image_hw[1]))
    if size == "feature":
        return max((tuple(m.shape[-2:]) for m in maps), key=lambda s: s[0] * s[1])  # type: ignore[return-value]
    if isinstance(size, (tuple, list)) and len(size) == 2 and all(int(s) > 0 for s in size):
        return (int(size[0]), int(size[1]))
    raise ValueError(f"size must be 'input', 'feature' or a (height, width) pair, got {size!r}")


def finalize(maps: Sequence[Tensor], size: tuple[int, int], normalize: bool, upsample: str, fuse: str) -> Tensor:
    """Per-layer (B, K, h_l, w_l) maps → one (B, K, H, W) map following the ``upsample`` convention."""
    if upsample not in UPSAMPLE_MODES:
        raise ValueError(f"upsample must be one of {UPSAMPLE_MODES}, got {upsample!r}")
    if fuse not in FUSE_MODES:
        raise ValueError(f"fuse must be one of {FUSE_MODES}, got {fuse!r}")
    if upsample == "cv2-bilinear" and normalize:
        layers = [resize(minmax(m, eps=1e-7), size, "bilinear") for m in maps]
        stacked = torch.stack(layers, 0)
        fused = stacked.mean(0) if fuse == "mean" else stacked.amax(0)
        return minmax(fused.clamp_min(0), eps=1e-7)
    layers = [resize(m, size, upsample) for m in maps]
    if len(layers) > 1 and normalize:  # layers have different scales: put them on [0, 1] before fusing
        layers = [minmax(m) for m in layers]
    stacked = torch.stack(layers, 0)
    fused = stacked.mean(0) if fuse == "mean" else stacked.amax(0)
    return minmax(fused) if normalize else fused

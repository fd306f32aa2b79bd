"""Score-map post-processing shared by evaluation and export: upsampling, normalisation, thresholds.

Conventions follow wsolevaluation (Choe et al., "Evaluating Weakly Supervised Object Localization Methods
Right", CVPR 2020, https://arxiv.org/abs/2001.07437): maps are upsampled bicubically to the 224 x 224 input,
min-max normalised to [0, 1], quantised as ``uint8(map * 255)`` and thresholded *relative to the map's maximum*:
pixel ``p`` is foreground at threshold ``tau`` iff ``q[p] > int(tau * max(q))``.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, TypeVar

import numba
import numpy as np

if TYPE_CHECKING:  # torch is imported only by the functions given tensors: score-map evaluation needs none
    import torch

EVAL_SIZE = 224
# a batch of maps keeps its type through resizing and normalisation: tensor in, tensor out; array in, array out
Maps = TypeVar("Maps", "torch.Tensor", np.ndarray)


def threshold_list(interval: float) -> np.ndarray:
    """wsolevaluation's CAM thresholds ``np.arange(0, 1, interval)`` (float64, same floating-point values)."""
    if not 0 < interval < 1:
        raise ValueError(f"cam_curve_interval must be in (0, 1), got {interval}")
    return np.arange(0, 1, interval)


def upsample_maps(maps: Maps, size: tuple[int, int] = (EVAL_SIZE, EVAL_SIZE)) -> Maps:
    """Bicubic resizing of (B, h, w) maps to (B, H, W) on the maps' device, as cv2.INTER_CUBIC (see
    :func:`bicubic_matrix`); ``size`` is (H, W). float64 maps stay float64, anything else becomes float32.
    A numpy array gives a numpy array (no torch involved).

    Evaluation passes float64: wsolevaluation resizes its CAMs with cv2 as float64 (its ``t2n`` casts them), and in
    float64 this gives cv2's values to about 1e-15, so the quantised maps are the same pixel for pixel (in float32
    a few pixels per million land one grey level off). Bicubic resizing is separable: two small matrix products
    ``Wy @ m @ Wx^T``, faster on CPU than ``F.interpolate``'s bicubic kernel.
    """
    if maps.ndim != 3:
        raise ValueError(f"expected maps of shape (B, h, w), got {tuple(maps.shape)}")
    if isinstance(maps, np.ndarray):
        arr: np.ndarray = maps if maps.dtype == np.float64 else maps.astype(np.float32)
        if tuple(arr.shape[-2:]) == tuple(size):
            same: np.ndarray = arr.copy()
            return same
        rows = bicubic_matrix(arr.shape[1], int(size[0])).astype(arr.dtype)
        cols = bicubic_matrix(arr.shape[2], int(size[1])).astype(arr.dtype)
        resized: np.ndarray = np.matmul(np.matmul(rows, arr), cols.T)
        return resized
    import torch

    t = maps if maps.dtype == torch.float64 else maps.float()
    if tuple(t.shape[-2:]) == tuple(size):
        return t.clone()
    rows_t = torch.tensor(bicubic_matrix(t.shape[1], int(size[0])), dtype=t.dtype, device=t.device)
    cols_t = torch.tensor(bicubic_matrix(t.shape[2], int(size[1])), dtype=t.dtype, device=t.device)
    return torch.matmul(torch.matmul(rows_t, t), cols_t.T)


@functools.lru_cache(maxsize=32)
def bicubic_matrix(n_in: int, n_out: int) -> np.ndarray:
    """(n_out, n_in) float64 matrix of 1-D bicubic resizing as cv2.INTER_CUBIC builds it: source coordinate
    ``(i + 0.5) * n_in / n_out - 0.5`` and Keys' cubic (a = -0.75) evaluated in float32, the last tap ``1 - the
    other three``, taps beyond the border clamped to it. With cv2's float32 coefficients the result equals cv2's to
    about 1e-15 at every scale (torch's bicubic, which keeps float64 coefficients, is 1e-6 off at scales that are
    not powers of two)."""
    out = np.arange(n_out)
    src = ((out + 0.5) * (n_in / n_out) - 0.5).astype(np.float32)
    base = np.floor(src).astype(np.int64)
    t = src - base.astype(np.float32)
    a, one = np.float32(-0.75), np.float32(1)
    w0 = ((a * (t + one) - 5 * a) * (t + one) + 8 * a) * (t + one) - 4 * a
    w1 = ((a + 2) * t - (a + 3)) * t * t + one
    w2 = ((a + 2) * (one - t) - (a + 3)) * (one - t) * (one - t) + one
    weights = np.stack([w0, w1, w2, one - w0 - w1 - w2], axis=1).astype(np.float64)
    matrix = np.zeros((n_out, n_in))
    for k in range(4):
        np.add.at(matrix, (out, np.clip(base - 1 + k, 0, n_in - 1)), weights[:, k])
    matrix.flags.writeable = False  # shared by the cache
    return matrix


def _describe(names: Sequence[str] | None, index: int) -> str:
    return repr(names[index]) if names is not None else f"#{index}"


def check_finite(maps: torch.Tensor | np.ndarray, names: Sequence[str] | None = None) -> None:
    """Raise ValueError naming the first map (image id when ``names`` is given) holding NaN or inf."""
    if isinstance(maps, np.ndarray):
        bad = ~np.isfinite(maps.reshape(len(maps), -1)).all(axis=1)
        idx = np.flatnonzero(bad)
    else:
        import torch

        bad = ~torch.isfinite(maps.reshape(len(maps), -1)).all(dim=1)
        idx = torch.nonzero(bad).flatten().cpu().numpy()
    if len(idx):
        raise ValueError(f"score map of image {_describe(names, int(idx[0]))} contains NaN or inf values")


def normalize_maps(maps: Maps, names: Sequence[str] | None = None) -> Maps:
    """Min-max normalise every map of a (B, H, W) batch to [0, 1]: ``(m - min) / max(m - min)``.

    Returns a new array/tensor of the same type (the input is never modified). A constant map has no
    foreground information and becomes all zeros (wsolevaluation's choice; its boxes are then [0, 0, 0, 0]).
    NaN or inf raise ValueError naming the image (wsolevaluation silently zeroes NaN maps instead).
    """
    # one pass for min and max; NaN and inf reach them, so only a bad batch pays for locating the bad map
    if isinstance(maps, np.ndarray):
        flat = maps.reshape(len(maps), -1)
        low, high = flat.min(axis=1, keepdims=True), flat.max(axis=1, keepdims=True)
        if not (np.isfinite(low).all() and np.isfinite(high).all()):
            check_finite(maps, names)
        peak = high - low  # == max(m - min): rounding of m - min is monotone in m
        out: np.ndarray = flat - low
        out /= np.where(peak > 0, peak, 1)  # a constant map is all zeros already
        return out.reshape(maps.shape)
    import torch

    flat_t = maps.reshape(len(maps), -1)
    low_t, high_t = torch.aminmax(flat_t, dim=1, keepdim=True)
    if not bool(torch.isfinite(low_t).all() & torch.isfinite(high_t).all()):
        check_finite(maps, names)
    peak_t = high_t - low_t
    out_t = flat_t - low_t
    out_t /= torch.where(peak_t > 0, peak_t, torch.ones_like(peak_t))
    return out_t.reshape(maps.shape)


def quantize_maps(norm_maps: torch.Tensor | np.ndarray, parallel: bool = True) -> np.ndarray:
    """``uint8(norm_map * 255)`` with truncation, as wsolevaluation builds the image it thresholds.

    ``parallel=False`` stays on the calling thread (callers that already run one worker per core)."""
    if not isinstance(norm_maps, np.ndarray):  # a torch tensor
        import torch

        if norm_maps.device.type != "cpu":
            return (norm_maps * 255).to(torch.uint8).cpu().numpy()
        norm_maps = norm_maps.detach().numpy()
    norm_maps = np.ascontiguousarray(norm_maps)
    if norm_maps.dtype not in (np.float32, np.float64):
        return (norm_maps * 255).astype(np.uint8)
    out = np.empty(norm_maps.shape, np.uint8)
    src, dst = norm_maps.reshape(-1), out.reshape(-1)
    # memory-bound: a batch of float64 maps is read at the speed of one core's memory traffic unless split
    parts = max(1, min(os.cpu_count() or 1, src.size >> 20)) if parallel else 1
    if parts == 1:
        _quantize(src, dst)
        return out
    bounds = np.linspace(0, src.size, parts + 1).astype(np.int64)
    with ThreadPoolExecutor(parts) as pool:
        list(pool.map(lambda lo, hi: _quantize(src[lo:hi], dst[lo:hi]), bounds[:-1], bounds[1:]))
    return out


def prepare_eval_maps(maps: torch.Tensor, names: Sequence[str] | None = None) -> tuple[torch.Tensor, np.ndarray]:
    """wsolevaluation's pre-processing of (B, h, w) class maps, the one place evaluation and the picture tools take
    it from: bicubic resizing to 224 in float64 (:func:`upsample_maps`), min-max normalisation, quantisation.
    Returns the normalised maps (float64, on the maps' device) and the quantised ones (uint8, on the host)."""
    norm = normalize_maps(upsample_maps(maps.double(), (EVAL_SIZE, EVAL_SIZE)), names)
    return norm, quantize_maps(norm)


@numba.njit(cache=True, nogil=True)
def _quantize(src: np.ndarray, dst: np.ndarray) -> None:
    """``dst = uint8(src * 255)`` in one pass (numpy's version makes a float temporary of the whole batch)."""
    for i in range(src.size):
        dst[i] = np.uint8(src[i] * src.dtype.type(255))


def threshold_levels(q_max: np.ndarray | int, thresholds: np.ndarray) -> np.ndarray:
    """Integer cut levels ``int(tau * max(q))`` per map and threshold: shape (B, T) for (B,) maxima.

    Foreground at threshold ``tau`` is ``q > level`` (cv2.THRESH_BINARY is strict).
    """
    q_max = np.atleast_1d(np.asarray(q_max)).astype(np.float64)
    return np.floor(q_max[:, None] * np.asarray(thresholds, np.float64)[None, :]).astype(np.int64)

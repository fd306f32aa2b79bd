"""Pseudo-masks and connected regions of a normalised map at a fixed threshold (for export).

The same rule as the box evaluation (wsolevaluation, Choe et al. CVPR 2020): quantise ``q = uint8(map * 255)``
and keep ``q > int(tau * max(q))`` (strict), so exported regions are exactly the evaluated ones. Regions are
8-connected, like the foreground of cv2.findContours.
"""

from __future__ import annotations

import cv2
import numpy as np

from wsol.data.records import IGNORE_VALUE


def _foreground(norm_map: np.ndarray, threshold: float) -> np.ndarray:
    norm_map = np.asarray(norm_map)
    if norm_map.ndim != 2:
        raise ValueError(f"expected one normalised map (H, W), got shape {norm_map.shape}")
    if not np.isfinite(norm_map).all():
        raise ValueError("normalised map contains NaN or inf values")
    if norm_map.size and (norm_map.min() < 0 or norm_map.max() > 1):
        raise ValueError(f"normalised map must lie in [0, 1], got [{norm_map.min()}, {norm_map.max()}]")
    if not 0 <= threshold <= 1:
        raise ValueError(f"threshold must lie in [0, 1], got {threshold}")
    q = (norm_map * 255).astype(np.uint8)
    return q > int(threshold * q.max())


def regions_at_threshold(norm_map: np.ndarray, threshold: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Connected regions of ``norm_map > threshold`` (relative to the map's maximum, strict).

    Returns ``labels`` (H, W) int32 (0 = background, k = region k), ``boxes`` (K, 4) int64 inclusive pixel
    ``x0, y0, x1, y1`` (region k at row k - 1) and ``areas`` (K,) pixel counts. Inclusive boxes are one pixel
    narrower than wsolevaluation's contour boxes (``x + w``); see
    :func:`wsol.localization.boxes.contour_box_from_extent`.
    """
    fg = _foreground(norm_map, threshold).astype(np.uint8)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(fg, connectivity=8, ltype=cv2.CV_32S)
    stats = stats[1:].astype(np.int64)
    boxes = np.stack([stats[:, 0], stats[:, 1], stats[:, 0] + stats[:, 2] - 1, stats[:, 1] + stats[:, 3] - 1], 1)
    return labels.astype(np.int32), boxes.reshape(-1, 4), stats[:, 4].copy()


def pseudo_mask(norm_map: np.ndarray, threshold: float, ignore_threshold: float | None = None) -> np.ndarray:
    """uint8 pseudo-mask: 1 where ``map > threshold``, else 0.

    With ``ignore_threshold < threshold``, pixels in the uncertain band ``ignore_threshold < map <= threshold``
    get ``IGNORE_VALUE`` (255) so that training on the pseudo-labels skips them (the usual "ignore band" of
    CAM-seeded segmentation, e.g. Ahn & Kwak, CVPR 2018, https://arxiv.org/abs/1803.10464).
    """
    mask = _foreground(norm_map, threshold).astype(np.uint8)
    if ignore_threshold is not None:
        if not ignore_threshold < threshold:
            raise ValueError(f"ignore_threshold ({ignore_threshold}) must be below threshold ({threshold})")
        band = _foreground(norm_map, ignore_threshold) & (mask == 0)
        mask[band] = IGNORE_VALUE
    return mask

"""wsolevaluation's box IoU for the numba kernels, on scalars only (a numba call taking arrays inside a hot loop
pays reference-count updates per call; scalar calls are free once inlined by LLVM)."""

from __future__ import annotations

import numba


@numba.njit(cache=True, nogil=True)
def iou_inclusive(ax0, ay0, ax1, ay1, bx0, by0, bx1, by1):
    """wsolevaluation's inclusive IoU: widths are x1 - x0 + 1; a non-positive union gives 0."""
    iw = min(ax1, bx1) - max(ax0, bx0) + 1
    ih = min(ay1, by1) - max(ay0, by0) + 1
    inter = max(0, iw) * max(0, ih)
    union = (ax1 - ax0 + 1) * (ay1 - ay0 + 1) + (bx1 - bx0 + 1) * (by1 - by0 + 1) - inter
    if union <= 0:
        return 0.0
    return inter / union


@numba.njit(cache=True, nogil=True)
def cover_ratio(ax0, ay0, ax1, ay1, bx0, by0, bx1, by1):
    """|A ∩ B| / |B| (inclusive pixels): an upper bound of the IoU of B with any box inside A.

    A hole's contour box lies inside its region's box, so holes cannot beat the regions' best IoU where this bound
    does not exceed it, and the hole sweep may skip such levels.
    """
    iw = min(ax1, bx1) - max(ax0, bx0) + 1
    ih = min(ay1, by1) - max(ay0, by0) + 1
    if iw <= 0 or ih <= 0:
        return 0.0
    return iw * ih / ((bx1 - bx0 + 1) * (by1 - by0 + 1))

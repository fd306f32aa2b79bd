"""Shared pieces of the component-tree kernels: union–find, wsolevaluation's IoU, level grouping, scratch."""

from __future__ import annotations

import numba
import numpy as np


@numba.njit(cache=True, nogil=True, inline="always")
def uf_find(parent, i):
    root = i
    while parent[root] != root:
        root = parent[root]
    while parent[i] != root:
        nxt = parent[i]
        parent[i] = root
        i = nxt
    return root

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
def best_iou(x0, y0, x1, y1, gt, n_gt):
    best = 0.0
    for g in range(n_gt):
        v = iou_inclusive(x0, y0, x1, y1, gt[g, 0], gt[g, 1], gt[g, 2], gt[g, 3])
        if v > best:
            best = v
    return best

@numba.njit(cache=True, nogil=True)
def inside_bound(x0, y0, x1, y1, gt, n_gt):
    """Upper bound of the IoU with the GT boxes of any box inside (x0, y0, x1, y1): max_g |R ∩ g| / |g|.

    A hole's contour box lies inside its region's box, so holes cannot beat the regions' IoU when this bound
    does not exceed it, and the hole pass may stop below such levels.
    """
    best = 0.0
    for g in range(n_gt):
        iw = min(x1, gt[g, 2]) - max(x0, gt[g, 0]) + 1
        ih = min(y1, gt[g, 3]) - max(y0, gt[g, 1]) + 1
        if iw > 0 and ih > 0:
            v = iw * ih / ((gt[g, 2] - gt[g, 0] + 1) * (gt[g, 3] - gt[g, 1] + 1))
            if v > best:
                best = v
    return best

@numba.njit(cache=True, nogil=True)
def distinct_levels(levels):
    """Distinct values of a non-decreasing level array and, for each, its first and last index."""
    m = 0
    for j in range(levels.shape[0]):
        if j == 0 or levels[j] != levels[j - 1]:
            m += 1
    values = np.empty(m, np.int64)
    lo = np.empty(m, np.int64)
    hi = np.empty(m, np.int64)
    k = -1
    for j in range(levels.shape[0]):
        if j == 0 or levels[j] != levels[j - 1]:
            k += 1
            values[k] = levels[j]
            lo[k] = j
        hi[k] = j
    return values, lo, hi

@numba.njit(cache=True, nogil=True)
def bucket_order(q, values, foreground):
    """Pixels grouped by the distinct level at which they join (raster order inside a group, for locality).

    Foreground: pixel v joins at the highest level below it, ``max{k : values[k] < v}`` (never if none).
    Background: at the lowest level at or above it, ``min{k : values[k] >= v}`` (never if none).
    Returns (order, starts) with group k = order[starts[k]:starts[k + 1]].
    """
    m = values.shape[0]
    lut = np.full(256, -1, np.int64)
    for v in range(256):
        if foreground:
            for k in range(m - 1, -1, -1):
                if values[k] < v:
                    lut[v] = k
                    break
        else:
            for k in range(m):
                if values[k] >= v:
                    lut[v] = k
                    break
    starts = np.zeros(m + 1, np.int64)
    for i in range(q.size):
        k = lut[q[i]]
        if k >= 0:
            starts[k + 1] += 1
    for k in range(m):
        starts[k + 1] += starts[k]
    fill = starts[:m].copy()
    order = np.empty(starts[m], np.int64)
    for i in range(q.size):
        k = lut[q[i]]
        if k >= 0:
            order[fill[k]] = i
            fill[k] += 1
    return order, starts

@numba.njit(cache=True, nogil=True)
def workspace(n):
    """Per-pixel scratch reused across maps, one row per pixel so a pixel's fields share a cache line (the
    pixels are visited in value order, i.e. scattered in memory; fresh allocations would page-fault per map).
    ``n`` counts the pixels of the padded frame."""
    return np.empty((n, 12), np.int32)

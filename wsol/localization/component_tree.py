"""Boxes and IoUs at every threshold in one pass per map (component tree + union–find), same figures as the
per-threshold cv2.findContours loop of wsolevaluation (:mod:`wsol.localization.reference`).

Why: a per-threshold contour loop costs in proportion to the number of thresholds (1,000 by default in
wsolevaluation). Here each map is visited twice (foreground in decreasing order, background in increasing
order) whatever the number of thresholds; see :mod:`wsol.localization._tree` for the algorithm. The rare
thresholds where cv2's choice of "largest contour" cannot be decided from region statistics (a region with holes
whose exact contour area could change the winner) are decided by cv2 on a crop around the candidate regions, so
results stay identical.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import NamedTuple

import numpy as np

from wsol.localization import _tree
from wsol.localization.maps import threshold_levels


class ThresholdIoUs(NamedTuple):
    """Per map and threshold: v1 box (largest contour), its best IoU with GT, and the best IoU of any contour."""

    boxes_v1: np.ndarray  # (B, T, 4) int64, wsolevaluation's box convention
    iou_v1: np.ndarray  # (B, T) float64
    iou_v2: np.ndarray  # (B, T) float64 (copy of iou_v1 when multi_contour is False)
    fallbacks: int  # distinct (map, level) pairs decided by cv2 on a crop (largest contour not decidable)


def default_threads() -> int:
    return max(1, min(os.cpu_count() or 1, 32))


def _pad_gt(gt_boxes: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    n = np.array([len(g) for g in gt_boxes], np.int64)
    padded = np.zeros((len(gt_boxes), max(1, int(n.max(initial=1))), 4), np.int64)
    for i, g in enumerate(gt_boxes):
        padded[i, : len(g)] = np.asarray(g, np.int64).reshape(-1, 4)
    return padded, n


def threshold_ious(
    qs: np.ndarray,
    thresholds: np.ndarray,
    gt_boxes: Sequence[np.ndarray],
    multi_contour: bool = True,
    num_threads: int | None = None,
) -> ThresholdIoUs:
    """Best IoU with the GT boxes at every threshold for a batch of quantised maps ``qs`` (B, H, W) uint8.

    ``gt_boxes[i]`` are map ``i``'s GT boxes (G_i >= 1, int, inclusive, eval frame). v1 = largest contour by
    cv2.contourArea (MaxBoxAcc); v2 = best over every contour, hole contours included (MaxBoxAccV2).
    """
    qs = np.ascontiguousarray(qs, dtype=np.uint8)
    if qs.ndim != 3:
        raise ValueError(f"expected quantised maps (B, H, W), got shape {qs.shape}")
    if max(qs.shape[1:]) >= 1 << 15:
        raise ValueError(f"maps of shape {qs.shape[1:]} are too large (coordinates are packed in 15-bit lanes)")
    if len(gt_boxes) != len(qs):
        raise ValueError(f"{len(qs)} maps but {len(gt_boxes)} GT box sets")
    b, t = len(qs), len(thresholds)
    if t and not np.all(np.asarray(thresholds) >= 0):
        raise ValueError(f"CAM thresholds must be >= 0 (wsolevaluation uses [0, 1)), got {np.min(thresholds)}")
    # a level >= max(q) leaves no foreground, exactly as 255 does; the kernels index 256 grey levels
    levels = np.minimum(threshold_levels(qs.reshape(b, -1).max(axis=1), thresholds), 255)
    gts, n_gts = _pad_gt(gt_boxes)
    boxes = np.zeros((b, t, 4), np.int64)
    undecided = np.zeros((b, t), np.bool_)
    iou_v1 = np.zeros((b, t), np.float64)
    iou_v2 = np.zeros((b, t), np.float64)
    threads = max(1, min(num_threads or default_threads(), b))
    bounds = np.linspace(0, b, threads + 1).astype(int)

    def run(lo: int, hi: int) -> int:
        """Kernel, then the undecided cases with cv2 (which releases the GIL), on maps ``lo:hi``."""
        if hi <= lo:
            return 0
        sl = slice(lo, hi)
        _tree.batch_pass(
            qs[sl], levels[sl], gts[sl], n_gts[sl], multi_contour, boxes[sl], undecided[sl], iou_v1[sl], iou_v2[sl]
        )
        if not undecided[sl].any():
            return 0
        count = _resolve_undecided(qs[sl], levels[sl], undecided[sl], boxes[sl])
        rows, cols = np.nonzero(undecided[sl])
        iou_v1[sl][rows, cols] = _best_iou(boxes[sl][rows, cols], gts[sl][rows], n_gts[sl][rows])
        if not multi_contour:
            iou_v2[sl][rows, cols] = iou_v1[sl][rows, cols]
        return count

    if threads == 1:
        fallbacks = run(0, b)
    else:
        with ThreadPoolExecutor(threads) as pool:
            fallbacks = sum(pool.map(run, bounds[:-1], bounds[1:]))
    return ThresholdIoUs(boxes, iou_v1, iou_v2, fallbacks)


def _best_iou(boxes: np.ndarray, gts: np.ndarray, n_gts: np.ndarray) -> np.ndarray:
    """Best inclusive IoU of each box (E, 4) with its own padded GT set (E, G, 4), the first ``n_gts`` valid."""
    b = boxes[:, None, :]
    iw = np.minimum(b[..., 2], gts[..., 2]) - np.maximum(b[..., 0], gts[..., 0]) + 1
    ih = np.minimum(b[..., 3], gts[..., 3]) - np.maximum(b[..., 1], gts[..., 1]) + 1
    inter = np.clip(iw, 0, None) * np.clip(ih, 0, None)

    def area(x: np.ndarray) -> np.ndarray:
        pixels: np.ndarray = (x[..., 2] - x[..., 0] + 1) * (x[..., 3] - x[..., 1] + 1)
        return pixels

    union = area(b) + area(gts) - inter
    iou = np.where(union > 0, inter / np.maximum(union, 1), 0.0)
    iou[np.arange(gts.shape[1])[None, :] >= n_gts[:, None]] = 0.0
    best: np.ndarray = iou.max(axis=1)
    return best


def _resolve_undecided(qs: np.ndarray, levels: np.ndarray, undecided: np.ndarray, boxes: np.ndarray) -> int:
    """Decide with cv2 the v1 boxes the kernel could not (a holed region whose exact contour area matters).

    The kernel left in ``boxes`` the union of the candidate regions; cv2.findContours runs on that crop grown by
    one pixel (see ``_tree._candidate_union`` for why this is exact), once per distinct (map, level).
    """
    import cv2  # imported here: most batches need no fallback, and cv2 costs start-up time

    rows, cols = np.nonzero(undecided)
    keys = rows.astype(np.int64) * 256 + levels[rows, cols]
    uniq, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
    h, w = qs.shape[1:]
    decided = np.empty((len(uniq), 4), np.int64)
    for k, e in enumerate(first):
        i, j = rows[e], cols[e]
        x0, y0, x1, y1 = boxes[i, j]
        ox, oy = max(x0 - 1, 0), max(y0 - 1, 0)
        crop = np.ascontiguousarray(qs[i, oy : min(y1 + 2, h), ox : min(x1 + 2, w)])
        _, binary = cv2.threshold(crop, int(levels[i, j]), 255, cv2.THRESH_BINARY)
        contours = cv2.findContours(binary, cv2.RETR_TREE, cv2.CHAIN_APPROX_SIMPLE)[0]
        bx, by, bw, bh = cv2.boundingRect(max(contours, key=cv2.contourArea))
        decided[k] = [bx + ox, by + oy, min(bx + ox + bw, w - 1), min(by + oy + bh, h - 1)]
    boxes[rows, cols] = decided[inverse.ravel()]
    return len(uniq)


def warm_up() -> None:
    """Load the numba kernels of the box pass from numba's cache (about 0.5 s: numba's code generator starts),
    or compile them in a fresh environment (about 12 s of one core), on a 4 x 4 map. Callers run this in a
    background thread while they read their inputs, so that the kernels are ready when the first maps are."""
    q = np.zeros((1, 4, 4), np.uint8)
    q[0, 1:3, 1:3] = 200
    threshold_ious(q, np.array([0.5]), [np.array([[0, 0, 1, 1]])], multi_contour=True, num_threads=1)


def boxes_at_thresholds(q: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """v1 boxes (T, 4) of one quantised map (H, W) at every threshold (wsolevaluation's box convention)."""
    dummy = [np.zeros((1, 4), np.int64)]
    boxes: np.ndarray = threshold_ious(q[None], thresholds, dummy, multi_contour=False, num_threads=1).boxes_v1[0]
    return boxes

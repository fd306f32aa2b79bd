"""The faithful slow reference: one cv2.findContours call per threshold, exactly as wsolevaluation does it.

Kept for tests and the benchmarks only (``tools/bench/localization.py``); evaluation uses the component-tree path in
:mod:`wsol.localization.component_tree`, which must give the same figures. Steps per threshold ``tau``
(Choe et al., CVPR 2020, https://arxiv.org/abs/2001.07437, ``evaluation.py``): binary image
``uint8(map * 255) > int(tau * max)``; contours with ``RETR_TREE`` / ``CHAIN_APPROX_SIMPLE`` (holes included);
v1 keeps ``max(contours, key=cv2.contourArea)`` (first on ties); each contour's box is cv2.boundingRect's
``(x, y, x + w, y + h)`` clipped to ``(W - 1, H - 1)``; no contour gives ``[0, 0, 0, 0]``.
"""

from __future__ import annotations

import cv2
import numpy as np

from wsol.localization.boxes import box_iou


def contour_boxes(q: np.ndarray, level: int, multi_contour: bool) -> np.ndarray:
    """Boxes (K, 4) of the contours of ``q > level`` (v1: only the one of largest cv2.contourArea)."""
    height, width = q.shape
    _, binary = cv2.threshold(q, int(level), 255, cv2.THRESH_BINARY)
    contours = cv2.findContours(binary, cv2.RETR_TREE, cv2.CHAIN_APPROX_SIMPLE)[0]
    if len(contours) == 0:
        return np.zeros((1, 4), np.int64)
    if not multi_contour:
        contours = [max(contours, key=cv2.contourArea)]
    boxes = []
    for contour in contours:
        x, y, w, h = cv2.boundingRect(contour)
        boxes.append([x, y, min(x + w, width - 1), min(y + h, height - 1)])
    return np.asarray(boxes, np.int64)


def reference_boxes(norm_map: np.ndarray, thresholds: np.ndarray, multi_contour: bool = False) -> list[np.ndarray]:
    """Per threshold, the boxes wsolevaluation derives from one normalised map (H, W) in [0, 1]."""
    q = (norm_map * 255).astype(np.uint8)
    q_max = q.max()
    return [contour_boxes(q, int(t * q_max), multi_contour) for t in thresholds]


def reference_best_iou(
    norm_map: np.ndarray, thresholds: np.ndarray, gt_boxes: np.ndarray, multi_contour: bool = False
) -> np.ndarray:
    """Per threshold, the best inclusive IoU between the map's boxes and the GT boxes (T,)."""
    return np.array([box_iou(b, gt_boxes).max() for b in reference_boxes(norm_map, thresholds, multi_contour)])


def wsolevaluation_boxes(
    q: np.ndarray, thresholds: np.ndarray, multi_contour: bool, as_written: bool = False
) -> tuple[list[np.ndarray | list[list[int]]], list[int]]:
    """wsolevaluation's ``compute_bboxes_from_scoremaps`` step for step on a quantised map ``q`` (H, W) uint8:
    per threshold, cv2.threshold + findContours, then contourArea (v1: the largest contour only) and
    boundingRect. Returns the boxes and the number of boxes per threshold.

    One deviation, in the reference's favour: ``max(q)`` is computed once, not once per threshold.
    ``as_written`` keeps wsolevaluation's per-threshold costs instead (for the benchmark): the maximum of the
    image at every threshold, an (H, W, 1) image, each threshold's boxes as a Python list.
    """
    height, width = q.shape
    image = q[:, :, None] if as_written else q
    q_max = int(q.max())
    boxes: list[np.ndarray | list[list[int]]] = []
    counts: list[int] = []
    for t in thresholds:
        level = int(t * np.max(image)) if as_written else int(t * q_max)
        _, binary = cv2.threshold(image, level, 255, cv2.THRESH_BINARY)
        contours = cv2.findContours(binary, cv2.RETR_TREE, cv2.CHAIN_APPROX_SIMPLE)[0]
        if len(contours) == 0:
            boxes.append(np.zeros((1, 4), np.int64))
            counts.append(1)
            continue
        if not multi_contour:
            contours = [max(contours, key=cv2.contourArea)]
        found = []
        for contour in contours:
            x, y, w, h = cv2.boundingRect(contour)
            found.append([x, y, min(x + w, width - 1), min(y + h, height - 1)])
        boxes.append(found if as_written else np.asarray(found, np.int64))
        counts.append(len(found))
    return boxes, counts


def wsolevaluation_ious(
    norm_map: np.ndarray, thresholds: np.ndarray, gt_boxes: np.ndarray, multi_contour: bool
) -> np.ndarray:
    """Best IoU per threshold (T,) as wsolevaluation's ``BoxEvaluator.accumulate`` gets it: the boxes of every
    threshold concatenated, one vectorised IoU against the GT boxes, then the max over each threshold's slice.
    wsolevaluation runs this once with ``multi_contour_eval=False`` (MaxBoxAcc) and once with True (MaxBoxAccV2).
    """
    boxes, counts = wsolevaluation_boxes((norm_map * 255).astype(np.uint8), thresholds, multi_contour)
    best = box_iou(np.concatenate(boxes), gt_boxes).max(axis=1)
    return np.maximum.reduceat(best, np.cumsum([0] + counts[:-1]))


def wsolevaluation_as_written_ious(
    norm_map: np.ndarray, thresholds: np.ndarray, gt_boxes: np.ndarray, multi_contour: bool
) -> np.ndarray:
    """:func:`wsolevaluation_ious` with wsolevaluation's per-threshold costs kept, for the benchmark only.

    Its ``BoxEvaluator.accumulate`` path also validates the map, and per threshold reduces the whole
    (boxes x GT) IoU matrix before slicing it and takes the slice's max with Python's ``max``. Same figures.
    """
    if np.isnan(norm_map).any() or norm_map.min() < 0 or norm_map.max() > 1:
        raise ValueError("score map must be finite and in [0, 1]")
    boxes, counts = wsolevaluation_boxes((norm_map * 255).astype(np.uint8), thresholds, multi_contour, True)
    ious = box_iou(np.array(np.concatenate(boxes, axis=0)), np.array(gt_boxes))
    best, start = [], 0
    for count in counts:
        best.append(max(ious.max(1)[start : start + count]))
        start += count
    return np.asarray(best, np.float64)


def reference_threshold_ious(
    norm_map: np.ndarray, thresholds: np.ndarray, gt_boxes: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(v1, v2) best IoU per threshold from ONE findContours call per threshold serving both metrics.

    Cheaper than wsolevaluation, which evaluates MaxBoxAcc and MaxBoxAccV2 in two separate runs (two
    findContours per threshold, see :func:`wsolevaluation_ious`); the benchmark reports both references.
    """
    q = (norm_map * 255).astype(np.uint8)
    height, width = q.shape
    q_max = q.max()
    v1 = np.empty(len(thresholds))
    v2 = np.empty(len(thresholds))
    for j, t in enumerate(thresholds):
        _, binary = cv2.threshold(q, int(t * q_max), 255, cv2.THRESH_BINARY)
        contours = cv2.findContours(binary, cv2.RETR_TREE, cv2.CHAIN_APPROX_SIMPLE)[0]
        if len(contours) == 0:
            v1[j] = v2[j] = box_iou(np.zeros((1, 4)), gt_boxes).max()
            continue
        boxes = []
        for contour in contours:
            x, y, w, h = cv2.boundingRect(contour)
            boxes.append([x, y, min(x + w, width - 1), min(y + h, height - 1)])
        largest = max(range(len(contours)), key=lambda k: cv2.contourArea(contours[k]))
        ious = box_iou(np.asarray(boxes), gt_boxes).max(axis=1)
        v1[j] = ious[largest]
        v2[j] = ious.max()
    return v1, v2


def synthetic_cams(num: int, seed: int = 0) -> tuple[np.ndarray, list[np.ndarray]]:
    """Normalised (num, 224, 224) float64 maps from random 14x14 / 28x28 ReLU blobs, and one GT box each.

    float64 like wsolevaluation's score maps (its ``t2n`` casts the CAMs to ``np.float`` before the cv2 resize).
    The input of the localization benchmarks and of the tests that compare them with wsolevaluation."""
    import torch  # only here: the references themselves need cv2 and numpy alone

    from wsol.localization.maps import EVAL_SIZE, normalize_maps, upsample_maps

    rng = np.random.default_rng(seed)
    maps = np.empty((num, EVAL_SIZE, EVAL_SIZE))
    gts = []
    for i in range(num):
        r = int(rng.choice([14, 28]))
        yy, xx = np.mgrid[:r, :r]
        feat = rng.normal(0, 0.1, (r, r))
        blobs = []
        for _ in range(int(rng.integers(1, 4))):
            cy, cx = rng.uniform(0.15 * r, 0.85 * r, 2)
            s = rng.uniform(0.06, 0.2) * r
            weight = rng.uniform(0.4, 1.0)
            blobs.append((weight, cy, cx, s))
            feat += weight * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * s * s))
        up = upsample_maps(torch.from_numpy(np.maximum(feat, 0))[None].float())
        maps[i] = normalize_maps(up.double().numpy())[0]
        _, cy, cx, s = max(blobs)  # GT box: about +-2 sigma around the strongest blob, jittered
        scale = EVAL_SIZE / r
        half = 2 * s * scale * rng.uniform(0.8, 1.25, 2)
        box = np.array([cx * scale - half[0], cy * scale - half[1], cx * scale + half[0], cy * scale + half[1]])
        gts.append(np.clip(box, 0, EVAL_SIZE - 1).astype(np.int64)[None])
    return maps, gts

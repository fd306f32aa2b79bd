"""Why a localization failed: one category per image, from its predicted box, GT boxes and top-1 class.

Categories are decided in this precedence order (the first rule that holds wins):

1. ``wrong class`` — the top-1 class is not the GT class (whatever the box).
2. ``correct`` — right class and ``IoU >= IOU_CORRECT`` (0.5) with some GT box: a Top-1 Loc hit.
3. ``missed`` — no region at the threshold, or the predicted box overlaps no GT box at all.
4. ``several instances`` — at least two GT boxes and the predicted box covers at least ``SPAN_COVER`` (50 %)
   of the area of two or more of them (one box around several objects).
5. ``too large`` — some GT box lies mostly (``>= CONTAIN``, 80 % of its area) inside the predicted box.
6. ``part only`` — the predicted box lies mostly (``>= CONTAIN`` of its area) inside some GT box (the CAM
   found only the most discriminative part, the failure ACoL targets: Zhang et al., CVPR 2018,
   https://arxiv.org/abs/1804.06962).
7. ``misplaced`` — anything else (partial overlap, shifted box).

Boxes follow the evaluation's conventions: eval-frame pixels, inclusive ``+1`` areas and IoU
(:func:`wsol.localization.box_iou`; Choe et al., CVPR 2020, https://arxiv.org/abs/2001.07437), so category 2 is
exactly the evaluator's Top-1 Loc at IoU 0.5. Every rule is computed for all images at once on GT boxes padded
to ``(N, G, 4)``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

IOU_CORRECT = 0.5  # IoU at which a box counts as correct (GT-known / Top-1 Loc)
CONTAIN = 0.8  # share of a box's area that must lie inside the other box for "mostly inside"
SPAN_COVER = 0.5  # share of a GT box's area the predicted box must cover for that instance to count as spanned
MIN_SPANNED = 2  # instances spanned for "several instances"

CORRECT, WRONG_CLASS, MISSED, SEVERAL, TOO_LARGE, PART_ONLY, MISPLACED = range(7)
CATEGORIES = ("correct", "wrong class", "missed", "several instances", "too large", "part only", "misplaced")


def pad_boxes(boxes: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Per-image box sets → ``(N, G, 4)`` float64 (zeros beyond each set) and a ``(N, G)`` validity mask."""
    counts = np.array([len(np.asarray(b).reshape(-1, 4)) for b in boxes], np.int64)
    g = max(1, int(counts.max(initial=1)))
    padded = np.zeros((len(boxes), g, 4), np.float64)
    for i, b in enumerate(boxes):
        padded[i, : counts[i]] = np.asarray(b, np.float64).reshape(-1, 4)
    return padded, np.arange(g)[None, :] < counts[:, None]


def _area(boxes: np.ndarray) -> np.ndarray:
    return (boxes[..., 2] - boxes[..., 0] + 1.0) * (boxes[..., 3] - boxes[..., 1] + 1.0)


def overlap_stats(pred: np.ndarray, gt: np.ndarray, valid: np.ndarray) -> dict[str, np.ndarray]:
    """Inclusive intersection shares between each image's predicted box (N, 4) and its GT boxes (N, G, 4).

    Returns (N, G) arrays ``iou``, ``pred_in_gt`` (|P ∩ G| / |P|) and ``gt_in_pred`` (|P ∩ G| / |G|), zero
    where ``valid`` is False.
    """
    p = np.asarray(pred, np.float64).reshape(-1, 1, 4)
    iw = np.maximum(0.0, np.minimum(p[..., 2], gt[..., 2]) - np.maximum(p[..., 0], gt[..., 0]) + 1.0)
    ih = np.maximum(0.0, np.minimum(p[..., 3], gt[..., 3]) - np.maximum(p[..., 1], gt[..., 1]) + 1.0)
    inter = iw * ih
    area_p, area_g = _area(p), _area(gt)
    union = area_p + area_g - inter
    out = {
        "iou": np.where(union > 0, inter / np.where(union > 0, union, 1.0), 0.0),
        "pred_in_gt": np.where(area_p > 0, inter / np.where(area_p > 0, area_p, 1.0), 0.0),
        "gt_in_pred": np.where(area_g > 0, inter / np.where(area_g > 0, area_g, 1.0), 0.0),
    }
    return {k: np.where(valid, v, 0.0) for k, v in out.items()}


def classify(
    pred_boxes: np.ndarray,
    gt_boxes: Sequence[np.ndarray],
    class_correct: np.ndarray,
    has_region: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Category code per image (indices into :data:`CATEGORIES`) and the best IoU with a GT box.

    ``pred_boxes`` (N, 4) eval-frame inclusive boxes; ``gt_boxes[i]`` (G_i, 4), G_i >= 1; ``class_correct`` (N,)
    top-1 hit; ``has_region`` (N,) False when the map had no foreground at the threshold (default: all True).
    """
    pred = np.asarray(pred_boxes, np.float64).reshape(-1, 4)
    n = len(pred)
    if len(gt_boxes) != n:
        raise ValueError(f"{n} predicted boxes but {len(gt_boxes)} GT box sets")
    gt, valid = pad_boxes(gt_boxes)
    if n and not valid[:, 0].all():
        raise ValueError(f"image #{int(np.argmin(valid[:, 0]))} has no GT box; the taxonomy needs at least one")
    cls_ok = np.asarray(class_correct, bool).reshape(n)
    region = np.ones(n, bool) if has_region is None else np.asarray(has_region, bool).reshape(n)
    s = overlap_stats(pred, gt, valid)
    iou = s["iou"].max(axis=1) if n else np.zeros(0)
    touches = (s["iou"] > 0).any(axis=1)
    spanned = (s["gt_in_pred"] >= SPAN_COVER).sum(axis=1)
    conditions = [
        ~cls_ok,
        iou >= IOU_CORRECT,
        ~region | ~touches,
        (valid.sum(axis=1) >= 2) & (spanned >= MIN_SPANNED),
        (s["gt_in_pred"] >= CONTAIN).any(axis=1),
        (s["pred_in_gt"] >= CONTAIN).any(axis=1),
    ]
    codes = np.select(conditions, [WRONG_CLASS, CORRECT, MISSED, SEVERAL, TOO_LARGE, PART_ONLY], MISPLACED)
    return codes.astype(np.int64), iou


def category_names(codes: np.ndarray) -> list[str]:
    """Category codes → their names."""
    return [CATEGORIES[int(c)] for c in np.asarray(codes).reshape(-1)]


def count_categories(names: Sequence[str]) -> dict[str, int]:
    """Images per category, every category listed (zeros included) in :data:`CATEGORIES` order."""
    counts = dict.fromkeys(CATEGORIES, 0)
    for name in names:
        if name not in counts:
            raise ValueError(f"unknown failure category {name!r}; known: {', '.join(CATEGORIES)}")
        counts[name] += 1
    return counts

"""Box conventions, IoU and ground-truth box rescaling.

Boxes are ``x0, y0, x1, y1``. With ``inclusive=True`` (wsolevaluation, Choe et al. CVPR 2020) coordinates index
pixels and a box covers ``(x1 - x0 + 1) * (y1 - y0 + 1)`` pixels; with ``inclusive=False`` boxes are continuous
and cover ``(x1 - x0) * (y1 - y0)``. IoU = |A ∩ B| / |A ∪ B|; a box counts as correct when IoU >= delta.
"""

from __future__ import annotations

import numpy as np

from wsol.localization.maps import EVAL_SIZE

PROTOCOLS = ("resize", "resize_crop")


def box_iou(boxes_a: np.ndarray, boxes_b: np.ndarray, inclusive: bool = True) -> np.ndarray:
    """Pairwise IoU (A, B) of two box sets. A non-positive union gives 0 (wsolevaluation's degenerate rule)."""
    a = np.asarray(boxes_a, np.float64).reshape(-1, 4)[:, None, :]
    b = np.asarray(boxes_b, np.float64).reshape(-1, 4)[None, :, :]
    one = 1.0 if inclusive else 0.0
    iw = np.maximum(0.0, np.minimum(a[..., 2], b[..., 2]) - np.maximum(a[..., 0], b[..., 0]) + one)
    ih = np.maximum(0.0, np.minimum(a[..., 3], b[..., 3]) - np.maximum(a[..., 1], b[..., 1]) + one)
    inter = iw * ih
    area_a = (a[..., 2] - a[..., 0] + one) * (a[..., 3] - a[..., 1] + one)
    area_b = (b[..., 2] - b[..., 0] + one) * (b[..., 3] - b[..., 1] + one)
    union = area_a + area_b - inter
    safe = np.where(union > 0, union, 1.0)
    return np.where(union > 0, inter / safe, 0.0)


def check_boxes(boxes: np.ndarray, what: str) -> np.ndarray:
    """Validate an (N, 4) xyxy array: non-negative, x1 >= x0, y1 >= y0; ``what`` names it in the error."""
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4) if np.size(boxes) else np.zeros((0, 4))
    if len(boxes) == 0:
        raise ValueError(f"{what}: no ground-truth boxes (box evaluation needs at least one per image)")
    if (boxes < 0).any() or (boxes[:, 2] < boxes[:, 0]).any() or (boxes[:, 3] < boxes[:, 1]).any():
        raise ValueError(f"{what}: boxes must be non-negative x0,y0,x1,y1 with x1>=x0, y1>=y0; got {boxes.tolist()}")
    return boxes


def rescale_gt_boxes(
    boxes: np.ndarray,
    image_size: tuple[int, int],
    protocol: str = "resize",
    eval_size: int = EVAL_SIZE,
    resize_size: int = 256,
) -> np.ndarray:
    """Map GT boxes (original pixels) into the eval frame, as int64 inclusive pixel boxes.

    ``resize`` (wsolevaluation): ``int(x * eval_size / width)`` per coordinate (truncation).
    ``resize_crop`` (CAM/ACoL papers: resize to ``resize_size``, centre crop ``eval_size``): scale to
    ``resize_size``, shift by the crop offset ``(resize_size - eval_size) / 2``, clip to the crop, truncate.
    ``image_size`` is (width, height).
    """
    width, height = map(float, image_size)
    if width <= 0 or height <= 0:
        raise ValueError(f"image size must be positive, got {image_size}")
    b = np.asarray(boxes, np.float64).reshape(-1, 4)
    if protocol == "resize":
        # same operation order as wsolevaluation (x * new_w / w) so truncation agrees bit for bit
        resized: np.ndarray = (b * float(eval_size) / np.array([width, height, width, height])).astype(np.int64)
        return resized
    if protocol == "resize_crop":
        scale = np.array([resize_size / width, resize_size / height] * 2)
        offset = (resize_size - eval_size) / 2.0
        out = np.clip(b * scale - offset, 0, eval_size - 1)
        cropped: np.ndarray = out.astype(np.int64)
        return cropped
    raise ValueError(f"unknown evaluation protocol {protocol!r}; known: {', '.join(PROTOCOLS)}")


def contour_box_from_extent(
    x_min: int, y_min: int, x_max: int, y_max: int, width: int, height: int
) -> tuple[int, int, int, int]:
    """wsolevaluation's box of a contour: ``(x, y, x + w, y + h)`` of cv2.boundingRect, clipped to the map.

    This is one pixel wider than the inclusive extent, except where it is clipped at the right/bottom edge.
    """
    return x_min, y_min, min(x_max + 1, width - 1), min(y_max + 1, height - 1)

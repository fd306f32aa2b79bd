"""One image's class maps → pseudo-labels: boxes, RLE masks, a class-id PNG mask and its score map.

Pipeline per requested class ``k`` (the top-k predicted classes, or the GT class):

1. the (224, 224) min-max normalised map ``M_k`` (bicubic upsampling then normalisation, as wsolevaluation);
2. the connected regions (8-connectivity) of ``M_k > tau`` at the fixed threshold ``tau`` chosen on val
   (:func:`wsol.localization.regions_at_threshold`); ``boxes="all"`` keeps every region, ``"largest"`` the one
   with most pixels (CAM's single-box protocol, Zhou et al. CVPR 2016, https://arxiv.org/abs/1512.04150);
3. each region ``R`` becomes one annotation with

   ``score = p_k * mean_{x in R} M_k(x)``

   where ``p_k`` is the softmax probability of class ``k``: a confident class with a strongly activated region
   ranks first, which is what COCOeval's precision-recall sweep needs;
4. the region's 224-frame inclusive box ``[x0, y0, x1, y1]`` maps to original pixels as
   ``[x0 * W/224, y0 * H/224, (x1 + 1) * W/224, (y1 + 1) * H/224]`` (continuous COCO box), and its mask is
   resized to the original size by nearest neighbour at pixel centres; regions whose resized mask is empty
   (images smaller than 224 px) are dropped.

The PNG class mask gives every pixel the id (class index + 1) of the best-ranked class whose kept regions cover
it; with ``ignore_below`` set, uncovered pixels where the top class's map exceeds ``ignore_below`` are marked
with the ignore value (uncertain band between the two thresholds).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from wsol.export.writers import class_mask_dtype, encode_rle, ignore_value, write_png_mask, write_scoremap
from wsol.localization import regions_at_threshold

BOX_MODES = ("all", "largest")
BOX_DECIMALS = 2
SCORE_DECIMALS = 6


@dataclass(frozen=True)
class PostprocessSettings:
    """Everything that decides the exported labels (part of the export fingerprint)."""

    threshold: float
    num_classes: int
    boxes: str = "all"
    ignore_below: float | None = None
    write_masks: bool = True
    write_scoremaps: bool = True

    def __post_init__(self) -> None:
        if not 0.0 <= self.threshold < 1.0:
            raise ValueError(f"threshold must be in [0, 1), got {self.threshold}")
        if self.boxes not in BOX_MODES:
            raise ValueError(f"boxes must be one of {BOX_MODES}, got {self.boxes!r}")
        if self.ignore_below is not None and not 0.0 <= self.ignore_below < self.threshold:
            raise ValueError(f"ignore_below must be in [0, threshold={self.threshold}), got {self.ignore_below}")
        class_mask_dtype(self.num_classes)  # validates the class count early


def find_regions(norm_map: np.ndarray, threshold: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(labels (H, W) int32 with 0 = background and i + 1 = region i, boxes (K, 4) inclusive xyxy, areas (K,)):
    exactly the evaluated foreground ``uint8(M * 255) > int(tau * max)`` (see wsol.localization.masks)."""
    labels, boxes, areas = regions_at_threshold(norm_map, threshold)
    return np.asarray(labels, np.int32), np.asarray(boxes, np.int64).reshape(-1, 4), np.asarray(areas, np.int64)


def nearest_indices(src: int, dst: int) -> np.ndarray:
    """Source index of each of ``dst`` output pixels for a nearest resize sampling at pixel centres."""
    idx = np.floor((np.arange(dst) + 0.5) * (src / dst)).astype(np.int64)
    clipped: np.ndarray = np.clip(idx, 0, src - 1)
    return clipped


def resize_labels(labels: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Nearest-neighbour resize of an integer label map to ``size`` = (width, height)."""
    w, h = size
    resized: np.ndarray = labels[nearest_indices(labels.shape[0], h)][:, nearest_indices(labels.shape[1], w)]
    return resized


def _keep(areas: np.ndarray, mode: str) -> np.ndarray:
    """Indices of the kept regions: all by descending area (stable), or only the largest."""
    order = np.argsort(-areas, kind="stable")
    return order[:1] if mode == "largest" else order


def _region_means(norm_map: np.ndarray, labels: np.ndarray, count: int) -> np.ndarray:
    """Mean map value per region label 1..count (one bincount, no loop over pixels)."""
    flat = labels.ravel()
    sums = np.bincount(flat, weights=norm_map.ravel().astype(np.float64), minlength=count + 1)
    sizes = np.bincount(flat, minlength=count + 1)
    return sums[1:] / np.maximum(sizes[1:], 1)


def image_labels(
    norm_maps: np.ndarray, classes: np.ndarray, probs: np.ndarray, size: tuple[int, int], settings: PostprocessSettings
) -> tuple[list[dict[str, Any]], np.ndarray]:
    """Annotations (without ids) and the (H, W) class-id mask of one image.

    ``norm_maps`` (K, 224, 224) normalised maps of ``classes`` (K,) with probabilities ``probs`` (K,);
    ``size`` = original (width, height).
    """
    w, h = int(size[0]), int(size[1])
    map_h, map_w = norm_maps.shape[-2:]
    scale = np.array([w / map_w, h / map_h, w / map_w, h / map_h])
    dtype = class_mask_dtype(settings.num_classes)
    class_mask = np.zeros((h, w), dtype)
    anns: list[dict[str, Any]] = []
    for k, cls in enumerate(classes.tolist()):
        labels, boxes, areas = find_regions(norm_maps[k], settings.threshold)
        if len(areas) == 0:
            continue
        means = _region_means(norm_maps[k], labels, len(areas))
        big = resize_labels(labels, (w, h))
        lut = np.zeros(len(areas) + 1, dtype)
        for r in _keep(areas, settings.boxes).tolist():
            region = big == r + 1
            if not region.any():
                continue
            x0, y0, x1, y1 = (np.array([*boxes[r, :2], *(boxes[r, 2:] + 1)]) * scale).tolist()
            x1, y1 = min(x1, w), min(y1, h)
            anns.append(
                {
                    "category_id": int(cls) + 1,
                    "bbox": [round(v, BOX_DECIMALS) for v in (x0, y0, x1 - x0, y1 - y0)],
                    "score": round(float(probs[k]) * float(means[r]), SCORE_DECIMALS),
                    "area": int(region.sum()),
                    "segmentation": encode_rle(region),
                    "rank": k,
                }
            )
            lut[r + 1] = int(cls) + 1
        values = lut[big]
        class_mask = np.where((class_mask == 0) & (values > 0), values, class_mask)
    if settings.ignore_below is not None:
        band = resize_labels(find_regions(norm_maps[0], settings.ignore_below)[0], (w, h)) > 0
        class_mask[(class_mask == 0) & band] = ignore_value(dtype)
    return anns, class_mask


def process_image(
    out_dir: str | Path,
    image_id: str,
    norm_maps: np.ndarray,
    classes: np.ndarray,
    probs: np.ndarray,
    size: tuple[int, int],
    settings: PostprocessSettings,
) -> list[dict[str, Any]]:
    """:func:`image_labels` + the image's PNG mask and score map (of its first class) written under ``out_dir``."""
    anns, class_mask = image_labels(norm_maps, classes, probs, size, settings)
    if settings.write_masks:
        write_png_mask(out_dir, image_id, class_mask)
    if settings.write_scoremaps:
        write_scoremap(out_dir, image_id, norm_maps[0].astype(np.float32))
    return anns

"""Evaluate a folder of saved score maps, as wsolevaluation's ``evaluation.py`` does (drop-in replacement).

Score maps are ``<scoremap_root>/<image_id>.npy`` (wsolevaluation's code appends ``.npy`` to the image id;
``<image_id without extension>.npy`` is accepted too), float arrays of shape 224 x 224 with values in [0, 1].
They are read as float64 (as wsolevaluation's loader does) and quantised ``uint8(map * 255)``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from tqdm import tqdm

from wsol.data.records import ImageRecord
from wsol.evaluation.base import EvalBatch, EvaluatorGroup
from wsol.evaluation.box import BoxEvaluator
from wsol.evaluation.mask import MaskEvaluator
from wsol.evaluation.metadata import load_gt_mask
from wsol.fileio import safe_join
from wsol.localization.boxes import check_boxes, rescale_gt_boxes
from wsol.localization.maps import EVAL_SIZE, normalize_maps, quantize_maps, threshold_list


def scoremap_path(root: str | Path, image_id: str) -> Path:
    """Path of an image's score map; raises FileNotFoundError naming the image when it is missing."""
    primary = safe_join(root, image_id + ".npy")
    if primary.is_file():
        return primary
    alternative = safe_join(root, os.path.splitext(image_id)[0] + ".npy")
    if alternative.is_file():
        return alternative
    raise FileNotFoundError(f"missing score map for image {image_id!r}: expected {primary}")


def load_scoremap(root: str | Path, image_id: str, normalize: bool = False) -> np.ndarray:
    """One validated 224 x 224 float64 map; bad shape, NaN/inf or values outside [0, 1] name the image."""
    path = scoremap_path(root, image_id)
    try:
        cam = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as err:
        raise ValueError(f"score map {path} of image {image_id!r} is unreadable: {err}") from None
    if cam.shape != (EVAL_SIZE, EVAL_SIZE) or not np.issubdtype(cam.dtype, np.number):
        raise ValueError(f"score map of image {image_id!r} has shape {cam.shape} and dtype {cam.dtype}; "
                         f"expected a ({EVAL_SIZE}, {EVAL_SIZE}) float array")
    cam = cam.astype(np.float64)
    if not np.isfinite(cam).all():
        raise ValueError(f"score map of image {image_id!r} contains NaN or inf values")
    if normalize:
        return normalize_maps(cam[None], [image_id])[0]
    if cam.min() < 0 or cam.max() > 1:
        raise ValueError(f"score map of image {image_id!r} has values in [{cam.min()}, {cam.max()}], outside [0, 1] "
                         "(pass --normalize to min-max normalise maps)")
    return cam


def evaluate_scoremaps(scoremap_root: str | Path, records: Sequence[ImageRecord], *, mask_root: str | Path | None,
                       cam_curve_interval: float = 0.001, iou_thresholds: Sequence[int] = (30, 50, 70),
                       multi_contour: bool = True, fixed_threshold: float | None = None, normalize: bool = False,
                       protocol: str = "resize", batch_size: int = 64, num_threads: int | None = None,
                       progress: bool = True) -> dict[str, Any]:
    """Box metrics when the records have boxes, mask metrics (PxAP, PIoU) when they have masks; plus curves."""
    if not records:
        raise ValueError("the metadata lists no image")
    thresholds = threshold_list(cam_curve_interval)
    use_masks = all(r.has_mask for r in records)
    evaluators: list[Any] = []
    if use_masks:
        if mask_root is None:
            raise ValueError("the metadata has masks: pass --mask-root")
        evaluators.append(MaskEvaluator(thresholds, fixed_threshold))
    else:
        evaluators.append(BoxEvaluator(thresholds, iou_thresholds, multi_contour, fixed_threshold, num_threads))
    group = EvaluatorGroup(evaluators)
    for lo in tqdm(range(0, len(records), batch_size), desc="evaluate score maps", disable=not progress):
        chunk = records[lo: lo + batch_size]
        ids = [r.image_id for r in chunk]
        maps = np.stack([load_scoremap(scoremap_root, i, normalize) for i in ids])
        batch = EvalBatch(image_ids=ids, labels=np.array([r.label for r in chunk]))
        if use_masks:
            batch.norm_maps = torch.from_numpy(maps)
            batch.masks = torch.from_numpy(np.stack([load_gt_mask(mask_root, r) for r in chunk]))
        else:
            batch.q_maps = quantize_maps(maps)
            batch.gt_boxes = [rescale_gt_boxes(check_boxes(r.boxes, f"image {r.image_id!r}"), r.size, protocol)
                              for r in chunk]
        group.process(batch)
    result = group.evaluate()
    if "oracle/maxboxacc_threshold" in result:
        result.update(chosen_threshold=result["oracle/maxboxacc_threshold"], chosen_threshold_metric="maxboxacc")
    else:
        result.update(chosen_threshold=result["oracle/piou_threshold"], chosen_threshold_metric="piou")
    result.update(num_images=len(records), cam_curve_interval=cam_curve_interval, protocol=protocol,
                  curves=group.curves())
    return result

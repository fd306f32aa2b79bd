"""COCO files for pseudo-labels, and their quality as a detector would see it (pycocotools COCOeval).

* results json (``loadRes`` format, https://cocodataset.org/#format-results): a list of
  ``{"image_id", "category_id", "bbox": [x, y, w, h], "score", "segmentation": RLE}``;
* dataset json (https://cocodataset.org/#format-data): ``images`` (id, file_name = wsol image id, width,
  height), ``categories`` (id = class index + 1, name), ``annotations`` (+ id, area = mask pixels, iscrowd 0):
  a detector can be trained on it directly;
* ground truth from a split: one box annotation per GT box (original pixels, xyxy → xywh) and, when the split
  has masks, one segmentation annotation per image (the union foreground; ignore pixels count as background
  because COCO has no per-pixel ignore).

COCOeval's AP is the mean over IoU thresholds 0.50:0.05:0.95 of the 101-point interpolated precision,
AP50 the same at IoU 0.5, AR the recall with at most 100 detections per image (Lin et al., ECCV 2014,
https://arxiv.org/abs/1405.0312).
"""

from __future__ import annotations

import contextlib
import io
from typing import Any, Sequence

import numpy as np
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from wsol.export.writers import encode_rle

RESULT_KEYS = ("image_id", "category_id", "bbox", "score", "segmentation")


def categories(class_names: Sequence[str]) -> list[dict[str, Any]]:
    """COCO categories: id = class index + 1 (COCO ids start at 1; 0 is the PNG background)."""
    return [{"id": i + 1, "name": str(name), "supercategory": "object"} for i, name in enumerate(class_names)]


def results_json(annotations: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The loadRes list: only the result keys, in a fixed key order."""
    return [{key: ann[key] for key in RESULT_KEYS} for ann in annotations]


def dataset_json(images: Sequence[dict[str, Any]], annotations: Sequence[dict[str, Any]],
                 class_names: Sequence[str], info: dict[str, Any] | None = None) -> dict[str, Any]:
    """A full COCO instances dataset of the pseudo-labels (annotations must carry ``id`` and ``image_id``)."""
    anns = [{"id": a["id"], "image_id": a["image_id"], "category_id": a["category_id"], "bbox": a["bbox"],
             "area": a["area"], "iscrowd": 0, "segmentation": a["segmentation"], "score": a["score"]}
            for a in annotations]
    imgs = [{"id": im["id"], "file_name": im["file_name"], "width": im["width"], "height": im["height"]}
            for im in images]
    return {"info": dict(info or {}), "images": imgs, "categories": categories(class_names), "annotations": anns}


def coco_from_dict(data: dict[str, Any]) -> COCO:
    """A pycocotools COCO object from an in-memory dataset dict (quietly: no index-building chatter)."""
    coco = COCO()
    coco.dataset = data
    with contextlib.redirect_stdout(io.StringIO()):
        coco.createIndex()
    return coco


def gt_box_dataset(images: Sequence[dict[str, Any]], gt_boxes: Sequence[np.ndarray], labels: Sequence[int],
                   class_names: Sequence[str]) -> dict[str, Any]:
    """GT COCO dataset of boxes: ``gt_boxes[i]`` (N_i, 4) xyxy original pixels of ``images[i]``, class labels[i]."""
    anns = []
    for im, boxes, label in zip(images, gt_boxes, labels):
        for x0, y0, x1, y1 in np.asarray(boxes, np.float64).reshape(-1, 4).tolist():
            w, h = max(x1 - x0, 0.0), max(y1 - y0, 0.0)
            anns.append({"id": len(anns) + 1, "image_id": im["id"], "category_id": int(label) + 1,
                         "bbox": [x0, y0, w, h], "area": w * h, "iscrowd": 0})
    return {"images": list(images), "categories": categories(class_names), "annotations": anns}


def gt_mask_dataset(images: Sequence[dict[str, Any]], masks: Sequence[np.ndarray], labels: Sequence[int],
                    class_names: Sequence[str]) -> dict[str, Any]:
    """GT COCO dataset of masks: one annotation per image from its (H, W) 0/1/255 mask (1 = foreground)."""
    anns = []
    for im, mask, label in zip(images, masks, labels):
        fg = np.asarray(mask) == 1
        if not fg.any():
            continue
        ys, xs = np.nonzero(fg)
        bbox = [float(xs.min()), float(ys.min()), float(xs.max() - xs.min() + 1), float(ys.max() - ys.min() + 1)]
        anns.append({"id": len(anns) + 1, "image_id": im["id"], "category_id": int(label) + 1, "bbox": bbox,
                     "area": float(fg.sum()), "iscrowd": 0, "segmentation": encode_rle(fg)})
    return {"images": list(images), "categories": categories(class_names), "annotations": anns}


def coco_eval(gt: dict[str, Any], results: Sequence[dict[str, Any]], iou_type: str) -> dict[str, float]:
    """COCOeval ``iou_type`` ("bbox" or "segm") of ``results`` against ``gt``: AP, AP50, AP75, AR@1/10/100.

    With no results every figure is 0 (pycocotools refuses an empty result list).
    """
    keys = ("AP", "AP50", "AP75", "AR1", "AR10", "AR100")
    if not results or not gt["annotations"]:
        return {k: 0.0 for k in keys}
    coco_gt = coco_from_dict(gt)
    img_ids = {im["id"] for im in gt["images"]}
    dets = [dict(r) for r in results if r["image_id"] in img_ids]
    if not dets:
        return {k: 0.0 for k in keys}
    if iou_type == "bbox":  # loadRes derives bbox results' areas from the box; keep masks out of it
        dets = [{k: v for k, v in d.items() if k != "segmentation"} for d in dets]
    with contextlib.redirect_stdout(io.StringIO()):
        coco_dt = coco_gt.loadRes(dets)
        ev = COCOeval(coco_gt, coco_dt, iou_type)
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    stats = ev.stats  # -1 means "no GT in this area range"; report it as 0
    picked = {"AP": stats[0], "AP50": stats[1], "AP75": stats[2], "AR1": stats[6], "AR10": stats[7],
              "AR100": stats[8]}
    return {k: round(max(float(v), 0.0), 6) for k, v in picked.items()}

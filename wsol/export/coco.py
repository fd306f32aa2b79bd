"""COCO files for pseudo-labels, and their quality as a detector would see it (pycocotools COCOeval).

* results json (``loadRes`` format, https://cocodataset.org/#format-results): a list of
  ``{"image_id", "category_id", "bbox": [x, y, w, h], "score", "segmentation": RLE}``;
* dataset json (https://cocodataset.org/#format-data): ``images`` (id, file_name = wsol image id, width,
  height), ``categories`` (id = class index + 1, name), ``annotations`` (+ id, area = mask pixels, iscrowd 0):
  a detector can be trained on it directly;
* ground truth from a split (``gt_bbox.json``, ``gt_segm.json``; re-run COCOeval on them without code): one box
  annotation per GT box (original pixels, xyxy → xywh) and, when the split has masks, one segmentation
  annotation per object where the format keeps objects apart (COCO annotations, one mask file per object in
  wsolevaluation's metadata), with the ignore region as an ``iscrowd`` annotation (detections on it are not
  counted); else one per image, the union foreground (ignore pixels count as background).

Segmentations (``SEGMENTATION_FORMATS``): compressed RLE (what pycocotools writes and ``loadRes`` reads; the
results file always uses it), ``"rle-uncompressed"`` (``counts`` as run lengths, column-major, starting with a
background run) or ``"polygon"`` (outer contours through pixel corners, one list per connected region; holes
are lost), for readers that call ``frPyObjects`` (torchvision's detection reference scripts).

COCOeval's AP is the mean over IoU thresholds 0.50:0.05:0.95 of the 101-point interpolated precision,
AP50 the same at IoU 0.5, AR the recall with at most 100 detections per image (Lin et al., ECCV 2014,
https://arxiv.org/abs/1405.0312).
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Sequence
from typing import Any

import cv2
import numpy as np
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from wsol.export.writers import decode_rle, encode_rle

RESULT_KEYS = ("image_id", "category_id", "bbox", "score", "segmentation")
SEGMENTATION_FORMATS = ("rle", "rle-uncompressed", "polygon")
GT_BOX_FILE, GT_SEGM_FILE = "gt_bbox.json", "gt_segm.json"


def uncompressed_rle(mask: np.ndarray) -> dict[str, Any]:
    """(H, W) bool mask → ``{"size": [H, W], "counts": [run lengths]}``, column-major, background run first."""
    flat = np.asarray(mask, bool).T.ravel()
    edges = np.flatnonzero(flat[1:] != flat[:-1]) + 1
    runs = np.diff(np.concatenate([[0], edges, [flat.size]])).tolist()
    if flat.size and flat[0]:
        runs = [0] + runs
    return {"size": [int(mask.shape[0]), int(mask.shape[1])], "counts": [int(r) for r in runs]}


def mask_polygons(mask: np.ndarray) -> list[list[float]]:
    """Outer contours of an (H, W) bool mask as COCO polygons ``[x0, y0, x1, y1, ...]`` along pixel corners.

    The contour is traced on the mask upsampled 2x and padded by one: the boundary sub-pixel ``p`` of pixel
    ``r`` is ``2r + 1`` (top / left) or ``2r + 2`` (bottom / right), so ``p // 2`` is the pixel corner ``r`` or
    ``r + 1``; the polygon then encloses exactly the region's pixel centres (a lone pixel is its unit square).
    """
    up: np.ndarray = np.pad(np.kron(np.asarray(mask, np.uint8), np.ones((2, 2), np.uint8)), 1)
    contours, _ = cv2.findContours(up, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    polygons = []
    for c in contours:
        pts = c[:, 0, :] // 2
        keep = np.any(pts != np.roll(pts, 1, axis=0), axis=1)  # corners reached twice collapse to one
        pts = pts[keep] if keep.any() else pts[:1]
        if len(pts) >= 3:
            polygons.append([float(v) for v in pts.ravel()])
    return polygons


def convert_segmentation(segmentation: Any, fmt: str) -> Any:
    """A compressed-RLE segmentation in ``fmt`` (one of ``SEGMENTATION_FORMATS``)."""
    if fmt == "rle":
        return segmentation
    if fmt not in SEGMENTATION_FORMATS:
        raise ValueError(f"segmentation format must be one of {SEGMENTATION_FORMATS}, got {fmt!r}")
    mask = decode_rle(segmentation).astype(bool)
    return uncompressed_rle(mask) if fmt == "rle-uncompressed" else mask_polygons(mask)


def categories(class_names: Sequence[str]) -> list[dict[str, Any]]:
    """COCO categories: id = class index + 1 (COCO ids start at 1; 0 is the PNG background)."""
    return [{"id": i + 1, "name": str(name), "supercategory": "object"} for i, name in enumerate(class_names)]


def results_json(annotations: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The loadRes list: only the result keys, in a fixed key order."""
    return [{key: ann[key] for key in RESULT_KEYS} for ann in annotations]


def dataset_json(
    images: Sequence[dict[str, Any]],
    annotations: Sequence[dict[str, Any]],
    class_names: Sequence[str],
    info: dict[str, Any] | None = None,
    segmentation: str = "rle",
) -> dict[str, Any]:
    """A full COCO instances dataset of the pseudo-labels (annotations must carry ``id`` and ``image_id``),
    segmentations in ``segmentation`` format."""
    anns = [
        {
            "id": a["id"],
            "image_id": a["image_id"],
            "category_id": a["category_id"],
            "bbox": a["bbox"],
            "area": a["area"],
            "iscrowd": 0,
            "segmentation": convert_segmentation(a["segmentation"], segmentation),
            "score": a["score"],
        }
        for a in annotations
    ]
    imgs = [
        {"id": im["id"], "file_name": im["file_name"], "width": im["width"], "height": im["height"]} for im in images
    ]
    return {"info": dict(info or {}), "images": imgs, "categories": categories(class_names), "annotations": anns}


def coco_from_dict(data: dict[str, Any]) -> COCO:
    """A pycocotools COCO object from an in-memory dataset dict (quietly: no index-building chatter)."""
    coco = COCO()
    coco.dataset = data
    with contextlib.redirect_stdout(io.StringIO()):
        coco.createIndex()
    return coco


def gt_box_dataset(
    images: Sequence[dict[str, Any]], gt_boxes: Sequence[np.ndarray], labels: Sequence[int], class_names: Sequence[str]
) -> dict[str, Any]:
    """GT COCO dataset of boxes: ``gt_boxes[i]`` (N_i, 4) xyxy original pixels of ``images[i]``, class labels[i]."""
    anns: list[dict[str, Any]] = []
    for im, boxes, label in zip(images, gt_boxes, labels):
        for x0, y0, x1, y1 in np.asarray(boxes, np.float64).reshape(-1, 4).tolist():
            w, h = max(x1 - x0, 0.0), max(y1 - y0, 0.0)
            anns.append(
                {
                    "id": len(anns) + 1,
                    "image_id": im["id"],
                    "category_id": int(label) + 1,
                    "bbox": [x0, y0, w, h],
                    "area": w * h,
                    "iscrowd": 0,
                }
            )
    return {"images": list(images), "categories": categories(class_names), "annotations": anns}


def _mask_annotation(ann_id: int, image_id: int, label: int, mask: np.ndarray, crowd: bool) -> dict[str, Any]:
    ys, xs = np.nonzero(mask)
    bbox = [float(xs.min()), float(ys.min()), float(xs.max() - xs.min() + 1), float(ys.max() - ys.min() + 1)]
    return {
        "id": ann_id,
        "image_id": image_id,
        "category_id": int(label) + 1,
        "bbox": bbox,
        "area": float(mask.sum()),
        "iscrowd": int(crowd),
        "segmentation": encode_rle(mask),
    }


def gt_mask_dataset(
    images: Sequence[dict[str, Any]], masks: Sequence[np.ndarray], labels: Sequence[int], class_names: Sequence[str]
) -> dict[str, Any]:
    """GT COCO dataset of masks: one annotation per image from its (H, W) 0/1/255 mask (1 = foreground)."""
    anns: list[dict[str, Any]] = []
    for im, mask, label in zip(images, masks, labels):
        fg = np.asarray(mask) == 1
        if fg.any():
            anns.append(_mask_annotation(len(anns) + 1, im["id"], label, fg, crowd=False))
    return {"images": list(images), "categories": categories(class_names), "annotations": anns}


def gt_instance_dataset(
    images: Sequence[dict[str, Any]],
    instances: Sequence[tuple[Sequence[np.ndarray], np.ndarray | None]],
    labels: Sequence[int],
    class_names: Sequence[str],
) -> dict[str, Any]:
    """GT COCO dataset of masks, one annotation per object; ``instances[i]`` = (bool masks, ignore or None).
    The ignore region becomes an ``iscrowd`` annotation: COCOeval neither rewards nor penalises detections on
    it."""
    anns: list[dict[str, Any]] = []
    for im, (masks, ignore), label in zip(images, instances, labels):
        for m in masks:
            if np.any(m):
                anns.append(_mask_annotation(len(anns) + 1, im["id"], label, np.asarray(m, bool), crowd=False))
        if ignore is not None and np.any(ignore):
            anns.append(_mask_annotation(len(anns) + 1, im["id"], label, np.asarray(ignore, bool), crowd=True))
    return {"images": list(images), "categories": categories(class_names), "annotations": anns}


def with_segmentation_format(data: dict[str, Any], fmt: str) -> dict[str, Any]:
    """A copy of a COCO dataset dict whose non-crowd segmentations are in ``fmt`` (crowd regions stay RLE,
    as COCO requires)."""
    anns = [
        {**a, "segmentation": convert_segmentation(a["segmentation"], fmt)}
        if "segmentation" in a and not a.get("iscrowd")
        else a
        for a in data["annotations"]
    ]
    return {**data, "annotations": anns}


def coco_eval(gt: dict[str, Any], results: Sequence[dict[str, Any]], iou_type: str) -> dict[str, float]:
    """COCOeval ``iou_type`` ("bbox" or "segm") of ``results`` against ``gt``: AP, AP50, AP75, AR@1/10/100.

    With no results every figure is 0 (pycocotools refuses an empty result list).
    """
    keys = ("AP", "AP50", "AP75", "AR1", "AR10", "AR100")
    if not results or not gt["annotations"]:
        return dict.fromkeys(keys, 0.0)
    coco_gt = coco_from_dict(gt)
    img_ids = {im["id"] for im in gt["images"]}
    dets = [dict(r) for r in results if r["image_id"] in img_ids]
    if not dets:
        return dict.fromkeys(keys, 0.0)
    if iou_type == "bbox":  # loadRes derives bbox results' areas from the box; keep masks out of it
        dets = [{k: v for k, v in d.items() if k != "segmentation"} for d in dets]
    with contextlib.redirect_stdout(io.StringIO()):
        coco_dt = coco_gt.loadRes(dets)
        ev = COCOeval(coco_gt, coco_dt, iou_type)
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    stats = ev.stats  # -1 means "no GT in this area range"; report it as 0
    picked = {"AP": stats[0], "AP50": stats[1], "AP75": stats[2], "AR1": stats[6], "AR10": stats[7], "AR100": stats[8]}
    return {k: round(max(float(v), 0.0), 6) for k, v in picked.items()}

"""Quality of exported pseudo-labels against the dataset's ground truth.

Two views side by side: the detector's (COCOeval AP / AP50 / AR of the exported boxes and masks, see
:mod:`wsol.export.coco`) and the WSOL field's, at the one fixed threshold of the export:

* ``top1_cls`` = share of images whose predicted top-1 class is the GT class;
* ``gt_known_loc`` = share of images with an exported box of the GT class whose IoU with a GT box is >= 0.5
  (GT-known Loc, Singh & Lee, ICCV 2017, https://arxiv.org/abs/1704.04232, at a fixed threshold). Only
  exported classes have boxes: export with ``--use-gt-class`` for the field's GT-known figure; with top-k
  predicted classes it counts images whose GT class is among the k;
* ``top1_loc`` = share with both (top-1 Loc, Russakovsky et al., IJCV 2015).

IoU is on continuous boxes in original pixels.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from wsol.export.coco import coco_eval, gt_box_dataset, gt_instance_dataset, gt_mask_dataset
from wsol.export.shards import Record
from wsol.localization.boxes import box_iou

LOC_IOU = 0.5


@dataclass
class GroundTruth:
    """Labels and boxes (xyxy original pixels) per image id, optionally a mask reader (0/1/255 masks) and an
    instance reader ((bool masks per object, ignore region) or None where the format keeps only the union)."""

    labels: dict[str, int]
    boxes: dict[str, np.ndarray]
    load_mask: Callable[[str], np.ndarray | None] | None = None
    extras: dict[str, Any] = field(default_factory=dict)
    load_instances: Callable[[str], tuple[list[np.ndarray], np.ndarray | None] | None] | None = None

    @classmethod
    def from_split(cls, split: Any) -> GroundTruth:
        """From a ``wsol.data.SplitInfo``: every record's label and boxes; masks when the split has them."""
        index = {rec.image_id: i for i, rec in enumerate(split.records)}
        labels = {rec.image_id: int(rec.label) for rec in split.records}
        boxes = {rec.image_id: np.asarray(rec.boxes, np.float64).reshape(-1, 4) for rec in split.records}
        loader = (lambda image_id: split.load_mask(index[image_id])) if split.has_masks else None
        instances = (lambda image_id: split.load_instances(index[image_id])) if split.has_masks else None
        return cls(labels, boxes, loader, load_instances=instances)


def localization_scores(images: Sequence[Record], annotations: Sequence[Record], gt: GroundTruth) -> dict[str, float]:
    """``top1_cls``, ``gt_known_loc``, ``top1_loc`` (in %) over the exported images that have GT boxes."""
    by_image: dict[int, list[Record]] = {}
    for a in annotations:
        by_image.setdefault(a["image_id"], []).append(a)
    n = cls_ok = known_ok = top1_ok = 0
    for im in images:
        label = gt.labels.get(im["file_name"], -1)
        gt_boxes = gt.boxes.get(im["file_name"])
        if label < 0 or gt_boxes is None or len(gt_boxes) == 0:
            continue
        n += 1
        right_class = im["pred"] == label
        boxes = [a["bbox"] for a in by_image.get(im["id"], []) if a["category_id"] == label + 1]
        hit = False
        if boxes:
            xyxy = np.asarray(boxes, np.float64)
            xyxy[:, 2:] += xyxy[:, :2]
            hit = bool((box_iou(xyxy, gt_boxes, inclusive=False) >= LOC_IOU).any())
        cls_ok += right_class
        known_ok += hit
        top1_ok += hit and right_class
    scale = 100.0 / max(n, 1)
    return {
        "images": n,
        "top1_cls": round(cls_ok * scale, 4),
        "gt_known_loc": round(known_ok * scale, 4),
        "top1_loc": round(top1_ok * scale, 4),
        "iou": LOC_IOU,
    }


def ground_truth_datasets(
    images: Sequence[Record], class_names: Sequence[str], gt: GroundTruth
) -> tuple[dict[str, Any], dict[str, Any] | None, str | None]:
    """(box GT, mask GT or None, ``"instances"`` / ``"union"`` / None): the COCO ground truth of the exported
    images. Masks are per object when every masked image's format keeps objects apart, else one union per
    image."""
    coco_images = [
        {"id": im["id"], "file_name": im["file_name"], "width": im["width"], "height": im["height"]} for im in images
    ]
    labels = [gt.labels.get(im["file_name"], -1) for im in images]
    boxes = [gt.boxes.get(im["file_name"], np.zeros((0, 4))) for im in images]
    keep = [i for i, label in enumerate(labels) if label >= 0]
    box_gt = gt_box_dataset(
        [coco_images[i] for i in keep], [boxes[i] for i in keep], [labels[i] for i in keep], class_names
    )
    if gt.load_mask is None:
        return box_gt, None, None
    if gt.load_instances is not None:
        load_instances = gt.load_instances
        inst = [(i, v) for i in keep if (v := load_instances(coco_images[i]["file_name"])) is not None]
        if inst:
            return (
                box_gt,
                gt_instance_dataset(
                    [coco_images[i] for i, _ in inst], [v for _, v in inst], [labels[i] for i, _ in inst], class_names
                ),
                "instances",
            )
    load_mask = gt.load_mask
    masks = [(i, m) for i in keep if (m := load_mask(coco_images[i]["file_name"])) is not None]
    return (
        box_gt,
        gt_mask_dataset(
            [coco_images[i] for i, _ in masks], [m for _, m in masks], [labels[i] for i, _ in masks], class_names
        ),
        "union",
    )


def quality_report(
    images: Sequence[Record],
    annotations: Sequence[Record],
    results: Sequence[Record],
    class_names: Sequence[str],
    gt: GroundTruth,
    datasets: tuple[dict[str, Any], dict[str, Any] | None, str | None] | None = None,
) -> dict[str, Any]:
    """COCOeval bbox (and segm when masks exist) + the localization scores; ``images`` carry ``classes``.
    ``segm_gt`` says whether masks were scored per object (``"instances"``) or per image (``"union"``)."""
    box_gt, mask_gt, kind = datasets or ground_truth_datasets(images, class_names, gt)
    report: dict[str, Any] = {
        "images": len(images),
        "bbox": coco_eval(box_gt, results, "bbox"),
        "segm": None,
        "segm_gt": kind,
    }
    if mask_gt is not None:
        report["segm"] = coco_eval(mask_gt, results, "segm")
        report["segm_gt_annotations"] = sum(1 for a in mask_gt["annotations"] if not a["iscrowd"])
    report["localization"] = localization_scores(images, annotations, gt)
    return report


def format_report(report: dict[str, Any]) -> str:
    """A few readable lines: detector view next to the WSOL view."""
    lines = []
    for kind in ("bbox", "segm"):
        r = report.get(kind)
        if r:
            lines.append(
                f"COCO {kind:<4}: AP {100 * r['AP']:.1f}  AP50 {100 * r['AP50']:.1f}  AR100 {100 * r['AR100']:.1f}"
            )
    loc = report.get("localization") or {}
    if loc:
        lines.append(
            f"WSOL @ fixed threshold: top-1 cls {loc['top1_cls']:.1f}  top-1 loc {loc['top1_loc']:.1f}  "
            f"GT-known loc {loc['gt_known_loc']:.1f}  ({loc['images']} images; exported boxes, continuous "
            "IoU in original pixels — `wsol evaluate` gives the field's 224-px contour-box figures)"
        )
    return "\n".join(lines)

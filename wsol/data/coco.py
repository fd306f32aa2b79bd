"""Reader of COCO instances json (Lin et al., ECCV 2014, https://arxiv.org/abs/1405.0312) via pycocotools.

WSOL needs one label per image, COCO has many instances, so this reader derives it:

- **label** = the category with the largest total instance ``area`` among the image's non-crowd
  annotations (ties: the smaller category id); class index = rank of the category id in sorted order;
- **boxes** = the non-crowd instances of that category, ``[x, y, w, h]`` converted to ``x0, y0, x0+w, y0+h``;
  boxes that overshoot the image by at most 1 px (COCO rounding) are clipped, larger overshoots are errors;
- **mask** (``with_masks=True``) = union of those instances' masks (``COCO.annToMask``), with the
  category's crowd regions as ignore (255) outside the foreground;
- images without non-crowd annotations cannot get a label and are left out; their count is reported in
  ``SplitInfo.extras["images_without_annotations"]``.

Layout: ``root/annotations/instances_<split>.json`` with images in ``root/<split>/`` (COCO 2017), else
``root/images/<split>/``, else ``root``; or ``root`` is the json file itself (images next to it unless
``image_root`` is given).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import warnings
from pathlib import Path

import numpy as np

from wsol.data.errors import DatasetError, check_box
from wsol.data.records import IGNORE_VALUE, ImageRecord
from wsol.data.split import SplitInfo

MASK_PREFIX = "coco-ann:"  # mask_paths of COCO records name annotation ids, not files


def _paths(root: Path, split: str, image_root: str | os.PathLike | None) -> tuple[Path, Path]:
    if root.is_file():
        ann = root
        default = root.parent
    else:
        ann = root / "annotations" / f"instances_{split}.json"
        default = next((p for p in (root / split, root / "images" / split) if p.is_dir()), root)
    return ann, Path(image_root) if image_root else default


def _load(ann: Path):
    from pycocotools.coco import COCO

    try:
        data = json.loads(ann.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DatasetError(f"{ann}: COCO annotation file is missing") from None
    except json.JSONDecodeError as exc:
        raise DatasetError(f"{ann}:{exc.lineno}: malformed JSON ({exc.msg}, column {exc.colno})") from None
    for key in ("images", "annotations", "categories"):
        if not isinstance(data.get(key), list):
            raise DatasetError(f"{ann}: field {key!r} is missing or not a list; expected COCO instances json")
    coco = COCO()
    coco.dataset = data
    with contextlib.redirect_stdout(io.StringIO()):  # pycocotools prints progress lines
        coco.createIndex()
    return coco


def read_coco_split(
    root: str | os.PathLike, split: str, image_root: str | os.PathLike | None = None, with_masks: bool = True
) -> SplitInfo:
    ann, img_root = _paths(Path(root), split, image_root)
    coco = _load(ann)
    cat_ids = sorted(coco.cats)
    index = {c: i for i, c in enumerate(cat_ids)}
    records, origins, chosen = [], [], {}
    skipped = 0
    for img_id in sorted(coco.imgs):
        info = coco.imgs[img_id]
        at = f"{ann} (image id {img_id})"
        try:
            size = (int(info["width"]), int(info["height"]))
            file_name = str(info["file_name"])
        except (KeyError, TypeError, ValueError):
            raise DatasetError(f"{at}: expected 'file_name', 'width' and 'height' fields") from None
        anns = [a for a in coco.imgToAnns.get(img_id, []) if not a.get("iscrowd", 0)]
        for a in coco.imgToAnns.get(img_id, []):
            if a.get("category_id") not in index:
                raise DatasetError(
                    f"{ann} (annotation id {a.get('id')}): unknown class id "
                    f"{a.get('category_id')}; expected one of the categories {cat_ids}"
                )
        if not anns:
            skipped += 1
            continue
        totals: dict[int, float] = {}
        for a in anns:
            totals[a["category_id"]] = totals.get(a["category_id"], 0.0) + float(a.get("area", 0.0))
        cat = min(totals, key=lambda c: (-totals[c], c))
        boxes = [_box(a, size, ann) for a in anns if a["category_id"] == cat]
        mine = [a for a in coco.imgToAnns[img_id] if a["category_id"] == cat]
        masks = tuple(f"{MASK_PREFIX}{a['id']}" for a in mine if not a.get("iscrowd", 0) and a.get("segmentation"))
        records.append(
            ImageRecord(
                file_name, index[cat], size, np.asarray(boxes, np.float32).reshape(-1, 4), masks if with_masks else ()
            )
        )
        origins.append(at)
        chosen[file_name] = [a["id"] for a in mine]
    names = [str(coco.cats[c].get("name", c)) for c in cat_ids]
    return SplitInfo(
        records=records,
        image_root=img_root,
        mask_root=None,
        class_names=names,
        num_classes=len(names),
        name=split,
        fmt="coco",
        origins=origins,
        mask_reader=_mask_reader(coco, chosen) if with_masks else None,
        instance_reader=_instance_reader(coco, chosen) if with_masks else None,
        extras={"images_without_annotations": skipped},
    )


def _box(a: dict, size: tuple[int, int], ann: Path) -> list[float]:
    at = f"{ann} (annotation id {a.get('id')})"
    bbox = a.get("bbox")
    if not isinstance(bbox, list) or len(bbox) != 4:
        raise DatasetError(f"{at}: expected 'bbox' = [x, y, width, height], got {bbox!r}")
    x, y, w, h = (float(v) for v in bbox)
    if w < 0 or h < 0:
        raise DatasetError(f"{at}: negative bbox width/height ({w:g}, {h:g}); expected >= 0")
    box = [x, y, x + w, y + h]
    W, H = size
    if -1 <= box[0] and -1 <= box[1] and box[2] <= W + 1 and box[3] <= H + 1:
        box = [max(box[0], 0.0), max(box[1], 0.0), min(box[2], float(W)), min(box[3], float(H))]
    check_box(tuple(box), size, at)
    return box


def _instance_reader(coco, chosen: dict[str, list[int]]):
    """Per record: the label category's non-crowd instance masks, and its crowd regions minus them."""

    def read(rec: ImageRecord) -> tuple[list[np.ndarray], np.ndarray]:
        w, h = rec.size
        masks, crowd = [], np.zeros((h, w), bool)
        for ann_id in chosen[rec.image_id]:
            a = coco.anns[ann_id]
            if not a.get("iscrowd", 0) and not a.get("segmentation"):
                continue
            with warnings.catch_warnings():  # pycocotools' decode trips a numpy 2 copy= DeprecationWarning
                warnings.simplefilter("ignore", DeprecationWarning)
                m = coco.annToMask(a).astype(bool)
            if m.shape != (h, w):
                raise DatasetError(
                    f"annotation id {ann_id}: mask is {m.shape[1]}x{m.shape[0]}; expected the image size {w}x{h}"
                )
            if a.get("iscrowd", 0):
                crowd |= m
            else:
                masks.append(m)
        for m in masks:
            crowd &= ~m
        return masks, crowd

    return read


def _mask_reader(coco, chosen: dict[str, list[int]]):
    instances = _instance_reader(coco, chosen)

    def read(rec: ImageRecord) -> np.ndarray:
        w, h = rec.size
        masks, crowd = instances(rec)
        fg = np.zeros((h, w), bool)
        for m in masks:
            fg |= m
        out = fg.astype(np.uint8)
        out[crowd & ~fg] = IGNORE_VALUE
        return out

    return read

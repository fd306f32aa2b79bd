"""Ground-truth COCO files of an evaluated split, per-instance mask scoring, polygon / uncompressed RLE."""

from __future__ import annotations

import contextlib
import io
import json

import numpy as np
import pytest
from pycocotools import mask as mask_utils
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval
from scipy.ndimage import binary_fill_holes

from wsol.cli.export import main
from wsol.export.coco import (
    coco_eval,
    convert_segmentation,
    gt_instance_dataset,
    gt_mask_dataset,
    mask_polygons,
    uncompressed_rle,
)
from wsol.export.writers import encode_rle

IMAGE = [{"id": 1, "file_name": "a.png", "width": 20, "height": 10}]


def random_masks(seed: int, count: int):
    rng = np.random.default_rng(seed)
    for _ in range(count):
        h, w = rng.integers(2, 16, 2)
        m = np.zeros((h, w), bool)
        for _ in range(rng.integers(1, 4)):  # unions of rectangles: touching, diagonal, separate regions
            y, x = rng.integers(0, h), rng.integers(0, w)
            m[y : y + rng.integers(1, 5), x : x + rng.integers(1, 5)] = True
        yield m


def test_export_uncompressed_rle_and_polygons_rasterise_back_exactly():
    for m in random_masks(0, 200):
        h, w = m.shape
        rle = uncompressed_rle(m)
        assert sum(rle["counts"]) == m.size and all(isinstance(c, int) for c in rle["counts"])
        np.testing.assert_array_equal(mask_utils.decode(mask_utils.frPyObjects(rle, h, w)), m)
        polygons = mask_polygons(m)
        back = mask_utils.decode(mask_utils.merge(mask_utils.frPyObjects(polygons, h, w)))
        np.testing.assert_array_equal(back, m)
    assert uncompressed_rle(np.array([[1, 1], [0, 1]], bool))["counts"] == [0, 1, 1, 2]  # column-major
    assert mask_polygons(np.pad(np.ones((1, 1), bool), 1)) == [[1.0, 1.0, 1.0, 2.0, 2.0, 2.0, 2.0, 1.0]]
    ring = np.ones((5, 5), bool)
    ring[2, 2] = False
    filled = convert_segmentation(encode_rle(ring), "polygon")  # COCO polygons have no holes
    assert mask_utils.decode(mask_utils.frPyObjects(filled, 5, 5)).sum() == 25
    with pytest.raises(ValueError, match="segmentation format"):
        convert_segmentation(encode_rle(ring), "png")


def _det(mask, score):
    ys, xs = np.nonzero(mask)
    return {
        "image_id": 1,
        "category_id": 1,
        "score": score,
        "segmentation": encode_rle(mask),
        "bbox": [float(xs.min()), float(ys.min()), float(np.ptp(xs) + 1), float(np.ptp(ys) + 1)],
    }


def test_export_instances_score_per_object_and_crowd_regions_are_ignored():
    left, right = np.zeros((10, 20), bool), np.zeros((10, 20), bool)
    left[2:8, 1:7], right[2:8, 12:18] = True, True  # two objects of 36 px
    inst = gt_instance_dataset(IMAGE, [([left, right], None)], [0], ["obj"])
    union = gt_mask_dataset(IMAGE, [(left | right).astype(np.uint8)], [0], ["obj"])
    found = [_det(left, 0.9)]
    per_object = coco_eval(inst, found, "segm")
    # one of two objects found exactly: recall 0.5 at every IoU, precision 1 → 51 of the 101 recall points
    assert per_object["AP"] == pytest.approx(51 / 101, abs=1e-6) and per_object["AR100"] == pytest.approx(0.5)
    merged = coco_eval(union, found, "segm")  # IoU with the union = 36 / 72: a hit at 0.50 only
    assert merged["AP50"] == pytest.approx(1.0) and merged["AP75"] == 0.0
    ignore = np.zeros((10, 20), bool)
    ignore[0:2, 8:12] = True
    crowd = gt_instance_dataset(IMAGE, [([left], ignore)], [0], ["obj"])
    assert [a["iscrowd"] for a in crowd["annotations"]] == [0, 1]
    # a confident detection on the ignore region is neither a hit nor a false positive
    assert coco_eval(crowd, [_det(ignore, 0.95), _det(left, 0.9)], "segm")["AP"] == pytest.approx(1.0)
    plain = gt_instance_dataset(IMAGE, [([left], None)], [0], ["obj"])
    assert coco_eval(plain, [_det(ignore, 0.95), _det(left, 0.9)], "segm")["AP"] < 0.6


def _cocoeval_from_files(gt_path, results_path, iou_type):
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO(str(gt_path))
        results = json.loads(results_path.read_text())
        if iou_type == "bbox":
            results = [{k: v for k, v in r.items() if k != "segmentation"} for r in results]
        ev = COCOeval(gt, gt.loadRes(results), iou_type)
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return float(ev.stats[0]), float(ev.stats[1])


def test_export_writes_gt_files_that_reproduce_quality_json(checkpoint, synthetic_root, tmp_path):
    out = tmp_path / "poly"
    assert (
        main(
            [
                "--checkpoint",
                str(checkpoint),
                "--data",
                str(synthetic_root),
                "--split",
                "test",
                "--out",
                str(out),
                "--workers",
                "0",
                "--threads",
                "1",
                "--no-progress",
                "--segmentation",
                "polygon",
            ]
        )
        == 0
    )
    quality = json.loads((out / "quality.json").read_text())
    assert quality["segm_gt"] == "instances" and quality["segm_gt_annotations"] >= 9
    for kind, name in (("bbox", "gt_bbox.json"), ("segm", "gt_segm.json")):
        ap, ap50 = _cocoeval_from_files(out / name, out / "results.json", kind)
        assert ap == pytest.approx(max(quality[kind]["AP"], 0.0), abs=1e-6)
        assert ap50 == pytest.approx(max(quality[kind]["AP50"], 0.0), abs=1e-6)
    with contextlib.redirect_stdout(io.StringIO()):  # the GT file as detections scores AP 1 on itself
        gt = COCO(str(out / "gt_segm.json"))
        perfect = [
            {"image_id": a["image_id"], "category_id": a["category_id"], "score": 1.0, "segmentation": gt.annToRLE(a)}
            for a in gt.dataset["annotations"]
            if not a["iscrowd"]
        ]
        ev = COCOeval(gt, gt.loadRes(perfect), "segm")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    assert ev.stats[0] == pytest.approx(1.0)
    dataset = json.loads((out / "dataset.json").read_text())
    results = json.loads((out / "results.json").read_text())  # same annotations, compressed RLE
    assert dataset["info"]["segmentation"] == "polygon" and len(results) == len(dataset["annotations"])
    for ann, res in zip(dataset["annotations"], results):  # what torchvision's ConvertCocoPolysToMask does
        assert isinstance(ann["segmentation"], list)
        h, w = res["segmentation"]["size"]
        poly = mask_utils.decode(mask_utils.merge(mask_utils.frPyObjects(ann["segmentation"], h, w))).astype(bool)
        rle = mask_utils.decode({"size": [h, w], "counts": res["segmentation"]["counts"].encode()}).astype(bool)
        np.testing.assert_array_equal(poly, binary_fill_holes(rle))  # exact, up to the holes polygons lack

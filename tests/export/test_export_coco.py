"""COCO writer and COCOeval: RLE round trips, loadRes, hand-computed AP on tiny sets."""

from __future__ import annotations

import contextlib
import io

import numpy as np
import pytest

from wsol.export.coco import coco_eval, coco_from_dict, dataset_json, gt_box_dataset, gt_mask_dataset, results_json
from wsol.export.writers import decode_rle, encode_rle

IMAGES = [
    {"id": 1, "file_name": "x/a.jpg", "width": 40, "height": 30},
    {"id": 2, "file_name": "x/b.jpg", "width": 50, "height": 20},
]
NAMES = ["cat", "dog"]


@pytest.mark.parametrize("seed", [0, 1])
def test_export_rle_round_trip(seed):
    rng = np.random.default_rng(seed)
    for mask in (rng.random((17, 23)) > 0.5, np.zeros((5, 7), bool), np.ones((9, 4), bool)):
        rle = encode_rle(mask)
        assert isinstance(rle["counts"], str) and rle["size"] == list(mask.shape)
        np.testing.assert_array_equal(decode_rle(rle), mask.astype(np.uint8))


def test_export_rle_rejects_non_2d():
    with pytest.raises(ValueError, match="expected an"):
        encode_rle(np.zeros((2, 3, 4)))


def _det(image_id, box, score, cat=1, size=(30, 40)):
    x, y, w, h = box
    mask = np.zeros(size, bool)
    mask[int(y) : int(y + h), int(x) : int(x + w)] = True
    return {
        "image_id": image_id,
        "category_id": cat,
        "bbox": list(box),
        "score": score,
        "segmentation": encode_rle(mask),
        "area": int(mask.sum()),
    }


def test_export_results_load_with_pycocotools():
    gt = gt_box_dataset(IMAGES[:1], [np.array([[5, 5, 25, 15]])], [0], NAMES)
    results = results_json([_det(1, (5, 5, 20, 10), 0.9)])
    assert list(results[0]) == ["image_id", "category_id", "bbox", "score", "segmentation"]
    with contextlib.redirect_stdout(io.StringIO()):
        dt = coco_from_dict(gt).loadRes(results)
    ann = dt.loadAnns(dt.getAnnIds())[0]
    assert ann["area"] == 200 and ann["image_id"] == 1


def test_export_perfect_boxes_and_masks_give_ap_1():
    gt = gt_box_dataset(
        IMAGES, [np.array([[5, 5, 25, 15]]), np.array([[0, 0, 10, 10], [20, 5, 40, 15]])], [0, 1], NAMES
    )
    dets = [
        _det(1, (5, 5, 20, 10), 0.9),
        _det(2, (0, 0, 10, 10), 0.8, cat=2, size=(20, 50)),
        _det(2, (20, 5, 20, 10), 0.7, cat=2, size=(20, 50)),
    ]
    box = coco_eval(gt, dets, "bbox")
    assert box["AP"] == pytest.approx(1.0) and box["AP50"] == pytest.approx(1.0)
    assert box["AR100"] == pytest.approx(1.0)
    masks = [np.zeros((30, 40), np.uint8), np.zeros((20, 50), np.uint8)]
    masks[0][5:15, 5:25] = 1
    masks[1][0:10, 0:10] = 1
    segm_gt = gt_mask_dataset(IMAGES, masks, [0, 1], NAMES)
    segm = coco_eval(
        segm_gt, [_det(1, (5, 5, 20, 10), 0.9), _det(2, (0, 0, 10, 10), 0.8, cat=2, size=(20, 50))], "segm"
    )
    assert segm["AP"] == pytest.approx(1.0)


def test_export_half_correct_ap_by_hand():
    """Two GT objects, one perfect and one wrong detection. Precision is 1 up to recall 0.5, so the 101-point
    AP is 51/101 when the right box scores higher; 0.5 * 51/101 when the wrong one ranks first."""
    gt = gt_box_dataset(IMAGES, [np.array([[5, 5, 25, 15]]), np.array([[0, 0, 10, 10]])], [0, 0], NAMES)
    right, wrong = _det(1, (5, 5, 20, 10), 0.9), _det(2, (30, 8, 10, 10), 0.8, size=(20, 50))
    first = coco_eval(gt, [right, wrong], "bbox")
    assert first["AP"] == pytest.approx(51 / 101, abs=1e-6)
    assert first["AR100"] == pytest.approx(0.5)
    right["score"], wrong["score"] = 0.8, 0.9
    assert coco_eval(gt, [right, wrong], "bbox")["AP"] == pytest.approx(0.5 * 51 / 101, abs=1e-6)
    assert coco_eval(gt, [], "bbox")["AP"] == 0.0


def test_export_dataset_json_is_a_coco_dataset():
    anns = [{**_det(1, (5, 5, 20, 10), 0.9), "id": 1}, {**_det(2, (1, 1, 3, 3), 0.5, cat=2, size=(20, 50)), "id": 2}]
    data = dataset_json(IMAGES, anns, NAMES, {"threshold": 0.3})
    coco = coco_from_dict(data)
    assert sorted(coco.getCatIds()) == [1, 2] and coco.loadCats(2)[0]["name"] == "dog"
    ann = coco.loadAnns([2])[0]
    assert ann["iscrowd"] == 0 and ann["area"] == 9
    np.testing.assert_array_equal(coco.annToMask(ann), decode_rle(anns[1]["segmentation"]))


def test_export_localization_scores_by_hand():
    """Image 1: predicted right, box exact → all three hit. Image 2: predicted wrong, but the exported box of
    its GT class has IoU 50/75 = 0.667 → GT-known hit only. So top-1 cls 50, GT-known 100, top-1 loc 50."""
    from wsol.export.quality import GroundTruth, localization_scores

    gt = GroundTruth(
        labels={"x/a.jpg": 0, "x/b.jpg": 1},
        boxes={"x/a.jpg": np.array([[5, 5, 25, 15]]), "x/b.jpg": np.array([[0, 0, 10, 5]])},
    )
    images = [{**IMAGES[0], "pred": 0, "classes": [0]}, {**IMAGES[1], "pred": 0, "classes": [0, 1]}]
    anns = [
        {"image_id": 1, "category_id": 1, "bbox": [5, 5, 20, 10]},
        {"image_id": 2, "category_id": 1, "bbox": [0, 0, 10, 5]},  # wrong class: does not count
        {"image_id": 2, "category_id": 2, "bbox": [0, 0, 15, 5]},
    ]  # IoU 50 / 75
    scores = localization_scores(images, anns, gt)
    assert scores == {"images": 2, "top1_cls": 50.0, "gt_known_loc": 100.0, "top1_loc": 50.0, "iou": 0.5}
    anns[2]["bbox"] = [0, 0, 30, 5]  # IoU 50 / 150 < 0.5
    assert localization_scores(images, anns, gt)["gt_known_loc"] == 50.0

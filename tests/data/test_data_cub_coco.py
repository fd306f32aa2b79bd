"""Native CUB-200-2011 and COCO instances readers on fixtures written by the tests."""

from __future__ import annotations

import json

import numpy as np
import pytest

from wsol.data import DatasetError, WSOLDataset, build_transform, collate_samples, load_split
from wsol.data.records import IGNORE_VALUE


def test_cub_splits_labels_and_xywh_boxes(cub_native):
    test = load_split(cub_native, "test")
    assert test.fmt == "cub" and test.class_names == ["001.Albatross", "002.Auklet"]
    # train_test_split: 1 1 1 0 1 1 0 0 -> test = images 4, 7, 8
    assert [r.image_id for r in test.records] == ["001.cls1/img_4.jpg", "002.cls2/img_7.jpg", "002.cls2/img_8.jpg"]
    assert [r.label for r in test.records] == [0, 1, 1]  # 1-based class ids -> 0-based
    # image 4 (k=3): "3.5 2.0 10.0 20.25" -> x0 3.5, y0 2, x1 13.5, y1 22.25; image 4 is 63 x 40
    np.testing.assert_allclose(test.records[0].boxes, [[3.5, 2.0, 13.5, 22.25]])
    assert test.records[0].size == (63, 40)
    assert test.origin(0).endswith("images.txt:4")


def test_cub_val_is_deterministic_per_class_holdout(cub_native):
    # official train: class 1 -> images 1, 2, 3; class 2 -> images 5, 6
    tv = [r.image_id for r in load_split(cub_native, "trainval", "cub").records]
    val = [r.image_id for r in load_split(cub_native, "val", "cub", val_fraction=0.4).records]
    train = [r.image_id for r in load_split(cub_native, "train", "cub", val_fraction=0.4).records]
    # ceil(0.4 * 3) = 2 last of class 1, ceil(0.4 * 2) = 1 last of class 2
    assert val == ["001.cls1/img_2.jpg", "001.cls1/img_3.jpg", "002.cls2/img_6.jpg"]
    assert train == ["001.cls1/img_1.jpg", "002.cls2/img_5.jpg"] and sorted(train + val) == sorted(tv)
    assert load_split(cub_native, "val", "cub", val_fraction=0.0).records == []


def test_cub_dataset_items(cub_native):
    ds = WSOLDataset(load_split(cub_native, "test"), build_transform("eval", 32))
    batch = collate_samples([ds[0], ds[1]])
    assert batch["image"].shape == (2, 3, 32, 32) and batch["orig_size"].tolist() == [[63, 40], [66, 40]]
    np.testing.assert_allclose(
        batch["boxes"][0].numpy(), [[3.5 * 32 / 63, 2 * 32 / 40, 13.5 * 32 / 63, 22.25 * 32 / 40]], rtol=1e-5
    )


@pytest.mark.parametrize(
    "name,line,text,message",
    [
        ("image_class_labels.txt", 2, "2 3", "image_class_labels.txt:2: unknown class id 3; expected 1..2"),
        ("bounding_boxes.txt", 4, "4 3.5 2.0 -1 20", "bounding_boxes.txt:4: negative box width"),
        (
            "bounding_boxes.txt",
            4,
            "4 60 2.0 10 20",
            "bounding_boxes.txt:4: box (x0=60, y0=2, x1=70, y1=22) lies outside the image of size 63x40",
        ),
        ("bounding_boxes.txt", 4, "4 a b c d", "bounding_boxes.txt:4: expected 4 numbers"),
        ("train_test_split.txt", 3, "3 yes", "train_test_split.txt:3: is_training_image must be 0 or 1"),
        ("images.txt", 2, "x", "images.txt:2: expected <image_id> <relative path>"),
    ],
)
def test_cub_bad_lines(cub_native, name, line, text, message):
    path = cub_native / name
    lines = path.read_text().splitlines()
    lines[line - 1] = text
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(DatasetError) as err:
        load_split(cub_native, "test")
    assert message in str(err.value)


def test_cub_missing_image_fails_per_item(cub_native):
    (cub_native / "images" / "002.cls2" / "img_7.jpg").unlink()
    info = load_split(cub_native, "test")
    assert info.records[1].size == (0, 0)
    with pytest.raises(DatasetError, match=r"img_7\.jpg: image file is missing \(listed at .*images\.txt:7\)"):
        WSOLDataset(info)[1]


def test_coco_label_rule_boxes_and_masks(coco_json):
    info = load_split(coco_json, "val")
    assert info.fmt == "coco" and info.class_names == ["car", "person"]  # sorted by category id: 3, 7
    assert info.extras["images_without_annotations"] == 1
    p, q = info.records
    # p: cars total area 24 > person 20 -> label car (index 0); crowd car excluded from boxes
    assert (p.image_id, p.label) == ("p.png", 0)
    np.testing.assert_allclose(p.boxes, [[0, 0, 4, 3], [10, 5, 14, 8]])
    assert (q.label, q.boxes.tolist()) == (1, [[2, 2, 8.5, 7]])
    mask = info.load_mask(0)
    assert mask.shape == (10, 20)
    assert (mask[0:3, 0:4] == 1).all() and (mask[5:8, 10:14] == 1).all()
    assert (mask[0:5, 15:20] == IGNORE_VALUE).all()  # crowd region of the label's category
    assert (mask[0:5, 5:9] == 0).all()  # the person is not the label
    ds = WSOLDataset(info, build_transform("eval", 20))
    batch = collate_samples([ds[0], ds[1]])
    assert batch["mask"].shape == (2, 20, 20) and batch["image_id"] == ["p.png", "q.png"]


def test_coco_instances_kept_apart_with_crowd_as_ignore(coco_json):
    info = load_split(coco_json, "val")
    masks, crowd = info.load_instances(0)
    assert len(masks) == 2 and [int(m.sum()) for m in masks] == [12, 12]  # the two cars, not their union
    assert (masks[0][0:3, 0:4]).all() and (masks[1][5:8, 10:14]).all() and not (masks[0] & masks[1]).any()
    union = np.logical_or.reduce(masks)
    np.testing.assert_array_equal(union, info.load_mask(0) == 1)
    np.testing.assert_array_equal(crowd, info.load_mask(0) == IGNORE_VALUE)


def test_coco_json_file_root_and_errors(coco_json):
    ann = coco_json / "annotations" / "instances_val.json"
    info = load_split(ann, "val", "coco", image_root=coco_json / "val", with_masks=False)
    assert len(info) == 2 and not info.has_masks
    data = json.loads(ann.read_text())
    data["annotations"][0]["category_id"] = 99
    ann.write_text(json.dumps(data))
    with pytest.raises(DatasetError, match=r"annotation id 10\): unknown class id 99"):
        load_split(coco_json, "val")
    data["annotations"][0]["category_id"] = 3
    data["annotations"][0]["bbox"] = [18, 0, 5, 3]
    ann.write_text(json.dumps(data))
    with pytest.raises(DatasetError, match=r"annotation id 10\): box .* lies outside the image of size 20x10"):
        load_split(coco_json, "val")
    ann.write_text('{"images": [],\n "annotations": [,]}')
    with pytest.raises(DatasetError, match=r"instances_val\.json:2: malformed JSON"):
        load_split(coco_json, "val")


def test_inspect_on_cub_and_coco(cub_native, coco_json, capsys):
    from wsol.cli import inspect_dataset

    assert inspect_dataset.main([str(cub_native), "--split", "test"]) == 0
    out = capsys.readouterr().out
    assert "format cub" in out and "images 3  classes 2 (2 present)  boxes 3" in out
    assert "  001.Albatross: 1" in out and "  002.Auklet: 2" in out
    assert inspect_dataset.main([str(coco_json), "--split", "val"]) == 0
    out = capsys.readouterr().out
    assert "format coco" in out and "boxes (objects) per image: 1: 1  2: 1" in out
    assert "images with masks 2" in out and "mask ignore fraction" in out
    (cub_native / "images" / "001.cls1" / "img_4.jpg").write_bytes(b"broken")
    assert inspect_dataset.main([str(cub_native), "--split", "test"]) == 1
    assert "img_4.jpg: unreadable or corrupt image (listed at" in capsys.readouterr().out

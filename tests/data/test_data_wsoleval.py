"""wsolevaluation metadata reader: CUB/ILSVRC boxes, OpenImages masks, and every bad-input error."""

from __future__ import annotations

import numpy as np
import pytest
from datatest_helpers import rgb, write_png

from wsol.data import DatasetError, WSOLDataset, build_transform, collate_samples, load_split
from wsol.data.records import IGNORE_VALUE


def test_boxes_layout_reads_every_box(wsoleval_boxes):
    info = load_split(wsoleval_boxes, "test")
    assert info.fmt == "wsolevaluation" and info.name == "test"
    assert info.class_names == ["cat", "dog", "bird"] and info.num_classes == 3
    a, b, c = info.records
    assert (a.image_id, a.label, a.size) == ("imgs/a.png", 0, (40, 30))
    np.testing.assert_array_equal(a.boxes, [[1, 2, 10, 12], [20, 5, 39, 29]])
    assert b.label == 2 and c.label == 1 and not a.has_mask
    assert info.origin(1).endswith("image_ids.txt:2")


def test_dataset_item_layout_and_resize(wsoleval_boxes):
    ds = WSOLDataset(load_split(wsoleval_boxes, "test"), build_transform("eval", 20))
    item = ds[0]
    assert item["image"].shape == (3, 20, 20) and item["mask"] is None
    assert item["orig_size"] == (40, 30) and item["image_id"] == "imgs/a.png"
    # x scale 20/40, y scale 20/30
    np.testing.assert_allclose(item["boxes"], [[0.5, 4 / 3, 5, 8], [10, 10 / 3, 19.5, 58 / 3]], rtol=1e-5)
    np.testing.assert_array_equal(item["orig_boxes"], [[1, 2, 10, 12], [20, 5, 39, 29]])
    batch = collate_samples([ds[i] for i in range(3)])
    assert batch["image"].shape == (3, 3, 20, 20) and batch["label"].tolist() == [0, 2, 1]
    assert [b.shape[0] for b in batch["boxes"]] == [2, 1, 1] and batch["mask"] is None
    assert batch["orig_size"].tolist() == [[40, 30], [50, 20], [30, 30]]


def test_openimages_masks_union_and_ignore(wsoleval_masks):
    info = load_split(wsoleval_masks, "test")
    assert info.num_classes == 2 and info.class_names == ["0", "1"]  # from the largest label, no names file
    x = info.records[0]
    assert x.mask_paths == ("masks/x_m1.png", "masks/x_m2.png") and x.ignore_path == "masks/x_ign.png"
    assert info.records[1].ignore_path is None and len(x.boxes) == 0
    mask = info.load_mask(0)
    expected = np.zeros((6, 8), np.uint8)
    expected[0:4, 0:4] = IGNORE_VALUE
    expected[1:3, 1:3] = 1  # foreground wins over ignore
    expected[4:6, 5:8] = 1
    np.testing.assert_array_equal(mask, expected)
    ds = WSOLDataset(info, build_transform("eval", 16))
    batch = collate_samples([ds[0], ds[1]])
    assert batch["mask"].shape == (2, 16, 16) and batch["mask"].dtype.is_floating_point is False
    assert set(np.unique(batch["mask"][0].numpy())) == {0, 1, IGNORE_VALUE}
    # nearest neighbour 8x6 -> 16x16: output row r reads source row floor(r * 6 / 16), column c reads c // 2,
    # so source rows 1..2 / cols 1..2 (foreground) become rows 3..7 / cols 2..5; row 2 reads row 0 (ignore)
    assert (batch["mask"][0, 3:8, 2:6] == 1).all()
    assert (batch["mask"][0, 2, 2:6] == IGNORE_VALUE).all() and batch["mask"][0, 8, 2] == IGNORE_VALUE


def _break(root, name, text):
    (root / "metadata" / "test" / name).write_text(text)


@pytest.mark.parametrize(
    "name,text,message",
    [
        ("localization.txt", "imgs/a.png,1,2,10,12\nimgs/a.png,1,2,10\n", "localization.txt:2: expected 5 fields"),
        ("localization.txt", "imgs/a.png,1,2,10,12\nimgs/b.png,9,0,3,5\n", "localization.txt:2: box"),
        (
            "localization.txt",
            "imgs/a.png,1,2,41,12\n",
            "localization.txt:1: box (x0=1, y0=2, x1=41, y1=12) lies outside the image of size 40x30",
        ),
        ("localization.txt", "imgs/a.png,1,two,10,12\n", "localization.txt:1: y0 'two' is not a number"),
        ("localization.txt", "imgs/zzz.png,1,2,10,12\n", "localization.txt:1: image id 'imgs/zzz.png' is not listed"),
        (
            "class_labels.txt",
            "imgs/a.png,0\nimgs/b.png,3\nimgs/c.png,1\n",
            "class_labels.txt:2: unknown class id 3; expected an index in [0, 3)",
        ),
        ("class_labels.txt", "imgs/a.png,0\nimgs/b.png\nimgs/c.png,1\n", "class_labels.txt:2: expected 2 fields"),
        (
            "image_sizes.txt",
            "imgs/a.png,40,30\nimgs/b.png,50,x\nimgs/c.png,30,30\n",
            "image_sizes.txt:2: height 'x' is not an integer",
        ),
        ("image_sizes.txt", "imgs/a.png,40,30\nimgs/c.png,30,30\n", "image_ids.txt:2: image 'imgs/b.png' has no line"),
        ("image_ids.txt", "imgs/a.png\nimgs/b.png\nimgs/a.png\n", "image_ids.txt:3: image id 'imgs/a.png' repeats"),
        ("image_ids.txt", "imgs/a.png\n../escape.png\n", "image_ids.txt:2"),
    ],
)
def test_malformed_metadata_names_file_and_line(wsoleval_boxes, name, text, message):
    _break(wsoleval_boxes, name, text)
    with pytest.raises(DatasetError) as err:
        load_split(wsoleval_boxes, "test")
    assert message in str(err.value)


def test_x1_smaller_than_x0_is_rejected(wsoleval_boxes):
    _break(wsoleval_boxes, "localization.txt", "imgs/a.png,1,2,10,12\nimgs/c.png,9,0,3,5\n")
    with pytest.raises(DatasetError, match=r"localization\.txt:2: .*x1 < x0"):
        load_split(wsoleval_boxes, "test")


def test_missing_and_corrupt_images_name_file_and_metadata_line(wsoleval_boxes):
    (wsoleval_boxes / "imgs" / "b.png").unlink()
    (wsoleval_boxes / "imgs" / "c.png").write_bytes(b"\x89PNG\r\n\x1a\n not really a png")
    ds = WSOLDataset(load_split(wsoleval_boxes, "test"), build_transform("eval", 16))
    with pytest.raises(DatasetError, match=r"b\.png: image file is missing \(listed at .*image_ids\.txt:2\)"):
        ds[1]
    with pytest.raises(DatasetError, match=r"c\.png: unreadable or corrupt image \(listed at .*image_ids\.txt:3\)"):
        ds[2]


def test_image_size_disagreeing_with_metadata(wsoleval_boxes):
    write_png(wsoleval_boxes / "imgs" / "a.png", rgb(41, 30))
    ds = WSOLDataset(load_split(wsoleval_boxes, "test"))
    with pytest.raises(DatasetError, match=r"image is 41x30 .*image_ids\.txt:1 states 40x30"):
        ds[0]


def test_mask_of_wrong_size(wsoleval_masks):
    write_png(wsoleval_masks / "masks" / "x_m2.png", np.zeros((6, 6), np.uint8))
    ds = WSOLDataset(load_split(wsoleval_masks, "test"))
    with pytest.raises(
        DatasetError,
        match=r"x_m2\.png: mask has size 6x6 .*image_ids\.txt:1.* expected the image "
        r"size 8x6",
    ):
        ds[0]


def test_mask_with_same_aspect_is_resized_nearest(wsoleval_masks):
    big = np.zeros((12, 16), np.uint8)
    big[8:12, 10:16] = 255  # same region as x_m2 at twice the resolution
    write_png(wsoleval_masks / "masks" / "x_m2.png", big)
    assert (load_split(wsoleval_masks, "test").load_mask(0)[4:6, 5:8] == 1).all()


def test_skip_bad_counts_and_evaluation_does_not_skip(wsoleval_boxes):
    (wsoleval_boxes / "imgs" / "b.png").unlink()
    info = load_split(wsoleval_boxes, "test")
    train = WSOLDataset(info, build_transform("train", 16), skip_bad=True)
    with pytest.warns(RuntimeWarning, match=r"skipping bad image: .*b\.png"):
        items = [train[i] for i in range(len(train))]
    assert [it["image_id"] for it in items] == ["imgs/a.png", "imgs/c.png", "imgs/c.png"]
    assert train.skipped == 1 and train.skipped_ids == ["imgs/b.png"]
    with pytest.raises(DatasetError):
        WSOLDataset(info, build_transform("eval", 16))[1]


def test_auto_detection_and_unknown_split(wsoleval_boxes):
    assert load_split(wsoleval_boxes, "test", fmt="wsolevaluation").records
    with pytest.raises(DatasetError, match="cannot detect the dataset format"):
        load_split(wsoleval_boxes, "train")
    with pytest.raises(DatasetError, match="unknown dataset format"):
        load_split(wsoleval_boxes, "test", fmt="voc")


@pytest.mark.parametrize(
    "text,message",
    [
        (
            "test/x.png,masks/x_m1.png\n",
            "localization.txt:1: expected 5 fields <image_id>,<x0>,<y0>,<x1>,<y1> (boxes) "
            "or 3 fields <image_id>,<mask_path>,<ignore_path> (masks), got 2",
        ),
        ("test/x.png,masks/x_m1.png,\ntest/y.png,masks/y_m1.png\n", "localization.txt:2: expected 3 fields"),
        (
            "test/x.png,masks/x_m1.png,masks/x_ign.png\ntest/x.png,masks/x_m2.png,masks/x_ign.png\n",
            "localization.txt:2: a second ignore mask for 'test/x.png'",
        ),
        ("test/x.png,,masks/x_ign.png\n", "localization.txt:1: expected 3 fields"),
    ],
)
def test_malformed_mask_listing(wsoleval_masks, text, message):
    (wsoleval_masks / "metadata" / "test" / "localization.txt").write_text(text)
    with pytest.raises(DatasetError) as err:
        load_split(wsoleval_masks, "test")
    assert message in str(err.value)


def test_missing_mask_file_names_metadata_line(wsoleval_masks):
    (wsoleval_masks / "masks" / "y_m1.png").unlink()
    ds = WSOLDataset(load_split(wsoleval_masks, "test"))
    with pytest.raises(DatasetError, match=r"y_m1\.png: mask file is missing \(listed at .*image_ids\.txt:2\)"):
        ds[1]


def test_separate_mask_root(wsoleval_masks, tmp_path):
    moved = tmp_path / "elsewhere"
    (wsoleval_masks / "masks").rename(moved)
    info = load_split(wsoleval_masks, "test", mask_root=tmp_path)
    assert info.mask_root == tmp_path
    (wsoleval_masks / "metadata" / "test" / "localization.txt").write_text(
        "test/x.png,elsewhere/x_m1.png,elsewhere/x_ign.png\ntest/y.png,elsewhere/y_m1.png,\n"
    )
    assert (load_split(wsoleval_masks, "test", mask_root=tmp_path).load_mask(0)[1:3, 1:3] == 1).all()


def test_masks_straight_to_the_eval_frame_skip_the_input_size(wsoleval_masks):
    """``mask_size``: the original mask goes straight to 224 by nearest neighbour (wsolevaluation's
    cv2.resize), not through the 16-px input transform whose detour would lose detail."""
    info = load_split(wsoleval_masks, "test")
    ds = WSOLDataset(info, build_transform("eval", 16), mask_size=224)
    item = ds[0]
    assert item["image"].shape == (3, 16, 16) and item["mask"].shape == (224, 224)
    src = info.load_mask(0)  # 6 x 8 (h x w): output (r, c) reads source (floor(r * 6 / 224), floor(c * 8 / 224))
    r, c = np.meshgrid(np.arange(224), np.arange(224), indexing="ij")
    np.testing.assert_array_equal(item["mask"].numpy(), src[(r * 6) // 224, (c * 8) // 224])
    via_input = WSOLDataset(info, build_transform("eval", 16))[0]["mask"]
    assert via_input.shape == (16, 16)  # the default keeps masks in the input frame

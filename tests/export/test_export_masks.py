"""PNG class masks, score maps, path safety and the per-image post-processing on hand-made maps."""

from __future__ import annotations

import numpy as np
import pytest

from wsol.export.postprocess import PostprocessSettings, image_labels, process_image, resize_labels
from wsol.export.writers import (
    class_mask_dtype,
    decode_rle,
    ignore_value,
    mask_path,
    read_png_mask,
    scoremap_path,
    write_png_mask,
    write_scoremap,
)


def test_export_png_uint8_and_uint16_round_trip(tmp_path):
    assert class_mask_dtype(254) == np.uint8 and class_mask_dtype(255) == np.uint16
    assert ignore_value(np.uint8) == 255 and ignore_value(np.uint16) == 65535
    rng = np.random.default_rng(0)
    small = rng.integers(0, 255, (13, 17)).astype(np.uint8)
    big = rng.integers(0, 301, (13, 17)).astype(np.uint16)
    big[0, 0] = ignore_value(np.uint16)
    for name, mask in (("u8/img.jpg", small), ("u16/img.jpg", big)):
        path = write_png_mask(tmp_path, name, mask)
        assert path == mask_path(tmp_path, name) and path.name == "img.jpg.png"
        back = read_png_mask(path)
        assert back.dtype == mask.dtype
        np.testing.assert_array_equal(back, mask)
    with pytest.raises(ValueError, match="at most"):
        class_mask_dtype(70000)


def test_export_scoremap_layout(tmp_path):
    cam = np.linspace(0, 1, 224 * 224, dtype=np.float64).reshape(224, 224)
    path = write_scoremap(tmp_path, "val/n01/x.JPEG", cam)
    assert path == tmp_path.resolve() / "scoremaps" / "val" / "n01" / "x.JPEG.npy"
    back = np.load(path)
    assert back.dtype == np.float32 and back.shape == (224, 224)
    np.testing.assert_allclose(back, cam, atol=1e-7)


@pytest.mark.parametrize("bad", ["../escape.jpg", "/abs/x.jpg", "a/../../b.jpg"])
def test_export_path_escape_rejected(tmp_path, bad):
    for make in (mask_path, scoremap_path):
        with pytest.raises(ValueError, match="unsafe output name"):
            make(tmp_path / "out", bad)


def test_export_resize_labels_nearest_at_centres():
    labels = np.array([[1, 2], [3, 4]], np.int32)
    np.testing.assert_array_equal(resize_labels(labels, (4, 2)), [[1, 1, 2, 2], [3, 3, 4, 4]])
    np.testing.assert_array_equal(resize_labels(np.arange(4).reshape(1, 4), (2, 1)), [[1, 3]])


def _two_blobs() -> np.ndarray:
    m = np.zeros((224, 224), np.float32)
    m[20:60, 30:90] = 1.0  # region A: 40 x 60 px, mean 1.0
    m[100:120, 150:200] = 0.6  # region B: 20 x 50 px, mean 0.6
    return m


def test_export_boxes_scores_and_masks_by_hand():
    """Original image 448 x 112: x scales by 2, y by 0.5. A's inclusive box x 30..89, y 20..59 maps to
    [60, 10, 180, 30]; B's x 150..199, y 100..119 to [300, 50, 400, 60]; score = p * mean map in region."""
    post = PostprocessSettings(threshold=0.5, num_classes=3, boxes="all")
    anns, class_mask = image_labels(_two_blobs()[None], np.array([2]), np.array([0.5]), (448, 112), post)
    assert [a["bbox"] for a in anns] == [[60.0, 10.0, 120.0, 20.0], [300.0, 50.0, 100.0, 10.0]]
    assert [a["score"] for a in anns] == [pytest.approx(0.5), pytest.approx(0.3)]
    assert all(a["category_id"] == 3 for a in anns)
    assert anns[0]["area"] == 120 * 20 and anns[1]["area"] == 100 * 10
    first = decode_rle(anns[0]["segmentation"])
    assert first.shape == (112, 448) and first[10:30, 60:180].all() and first.sum() == 2400
    assert class_mask.dtype == np.uint8 and set(np.unique(class_mask)) == {0, 3}
    assert (class_mask == 3).sum() == 2400 + 1000
    largest, _ = image_labels(
        _two_blobs()[None],
        np.array([2]),
        np.array([0.5]),
        (448, 112),
        PostprocessSettings(threshold=0.5, num_classes=3, boxes="largest"),
    )
    assert len(largest) == 1 and largest[0]["bbox"] == anns[0]["bbox"]
    high, _ = image_labels(
        _two_blobs()[None],
        np.array([2]),
        np.array([0.5]),
        (448, 112),
        PostprocessSettings(threshold=0.7, num_classes=3),
    )
    assert len(high) == 1  # 0.6 * 255 = 153 is not above int(0.7 * 255) = 178


def test_export_topk_priority_and_ignore_band():
    """Class ranked first wins overlapping pixels; the band above ignore_below but outside the kept regions
    of the first class is marked with the ignore value."""
    a = np.zeros((224, 224), np.float32)
    a[0:112, :] = 1.0
    a[112:168, :] = 0.4  # band: above 0.2, not above 0.5
    b = np.zeros((224, 224), np.float32)
    b[56:224, :] = 1.0
    post = PostprocessSettings(threshold=0.5, num_classes=300, ignore_below=0.2)
    anns, class_mask = image_labels(np.stack([a, b]), np.array([4, 299]), np.array([0.6, 0.3]), (224, 224), post)
    assert [x["category_id"] for x in anns] == [5, 300] and anns[0]["rank"] == 0
    assert class_mask.dtype == np.uint16
    assert (class_mask[:112] == 5).all() and (class_mask[112:] == 300).all()
    post_b = PostprocessSettings(threshold=0.5, num_classes=300, ignore_below=0.2)
    _, only_a = image_labels(a[None], np.array([4]), np.array([0.6]), (224, 224), post_b)
    assert (only_a[112:168] == 65535).all() and (only_a[168:] == 0).all()


def test_export_settings_are_checked():
    with pytest.raises(ValueError, match="threshold"):
        PostprocessSettings(threshold=1.5, num_classes=3)
    with pytest.raises(ValueError, match="boxes"):
        PostprocessSettings(threshold=0.5, num_classes=3, boxes="some")
    with pytest.raises(ValueError, match="ignore_below"):
        PostprocessSettings(threshold=0.5, num_classes=3, ignore_below=0.6)


def test_export_process_image_writes_files(tmp_path):
    post = PostprocessSettings(threshold=0.5, num_classes=3)
    anns = process_image(tmp_path, "sub/im.png", _two_blobs()[None], np.array([0]), np.array([1.0]), (224, 224), post)
    assert len(anns) == 2
    mask = read_png_mask(tmp_path / "masks" / "sub" / "im.png.png")
    assert mask.shape == (224, 224) and (mask == 1).sum() == 40 * 60 + 20 * 50
    np.testing.assert_array_equal(np.load(tmp_path / "scoremaps" / "sub" / "im.png.npy"), _two_blobs())

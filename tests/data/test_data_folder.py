"""ImageFolderDataset: recursive listing, relative ids, unreadable files reported (not silently dropped)."""

from __future__ import annotations

import numpy as np
import pytest
from datatest_helpers import rgb, write_png

from wsol.data import DatasetError, ImageFolderDataset, build_transform, collate_samples


def test_folder_items_and_bad_images(tmp_path):
    write_png(tmp_path / "b" / "two.png", rgb(30, 20))
    write_png(tmp_path / "a.png", rgb(10, 40))
    (tmp_path / "notes.txt").write_text("not an image")
    (tmp_path / "b" / "broken.jpg").write_bytes(b"\xff\xd8 truncated")
    with pytest.warns(RuntimeWarning, match=r"1 unreadable image\(s\) left out: b/broken\.jpg"):
        ds = ImageFolderDataset(tmp_path, build_transform("eval", 16))
    assert ds.image_ids == ["a.png", "b/two.png"] and len(ds) == 2
    assert [bad for bad, _ in ds.bad_images] == ["b/broken.jpg"]
    batch = collate_samples([ds[0], ds[1]])
    assert batch["image"].shape == (2, 3, 16, 16) and batch["label"].tolist() == [-1, -1]
    assert batch["orig_size"].tolist() == [[10, 40], [30, 20]] and batch["mask"] is None
    assert [b.shape for b in batch["boxes"]] == [(0, 4), (0, 4)]


def test_folder_decode_failure_raises(tmp_path):
    write_png(tmp_path / "a.png", rgb(10, 10))
    ds = ImageFolderDataset(tmp_path)
    (tmp_path / "a.png").unlink()
    with pytest.raises(DatasetError, match=r"a\.png: image file is missing"):
        ds[0]
    with pytest.raises(DatasetError, match="does not exist"):
        ImageFolderDataset(tmp_path / "nope")


def test_grey_and_rgba_images_become_rgb(tmp_path):
    write_png(tmp_path / "grey.png", np.full((5, 6), 77, np.uint8))
    rgba = np.zeros((5, 6, 4), np.uint8)
    rgba[..., 2] = 200  # cv2 writes BGRA: blue channel
    import cv2

    cv2.imwrite(str(tmp_path / "rgba.png"), rgba)
    from wsol.data.imageio import read_image

    assert read_image(tmp_path / "grey.png").shape == (5, 6, 3)
    assert (read_image(tmp_path / "grey.png") == 77).all()
    rgb_img = read_image(tmp_path / "rgba.png")
    assert rgb_img.shape == (5, 6, 3) and (rgb_img[..., 0] == 200).all() and (rgb_img[..., 2] == 0).all()

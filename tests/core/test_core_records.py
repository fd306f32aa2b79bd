import numpy as np
import torch

from wsol.data.records import IGNORE_VALUE, ImageRecord, collate_samples


def _item(n_boxes, with_mask=True, image_id="a.png"):
    return {
        "image": torch.zeros(3, 8, 8),
        "label": 3,
        "boxes": np.arange(4 * n_boxes, dtype=np.float32).reshape(n_boxes, 4),
        "orig_boxes": np.ones((n_boxes, 4), np.float32),
        "orig_size": (20, 10),
        "image_id": image_id,
        "mask": np.full((8, 8), IGNORE_VALUE, np.uint8) if with_mask else None,
    }


def test_collate_keeps_box_sets_per_image():
    batch = collate_samples([_item(1), _item(3, image_id="b.png")])
    assert batch["image"].shape == (2, 3, 8, 8)
    assert batch["label"].tolist() == [3, 3]
    assert [b.shape for b in batch["boxes"]] == [(1, 4), (3, 4)]
    assert batch["boxes"][1][2].tolist() == [8, 9, 10, 11]
    assert batch["orig_size"].tolist() == [[20, 10], [20, 10]]
    assert batch["image_id"] == ["a.png", "b.png"]
    assert batch["mask"].dtype == torch.uint8 and int(batch["mask"].max()) == IGNORE_VALUE


def test_collate_without_masks_and_empty_boxes():
    batch = collate_samples([_item(0, with_mask=False), _item(2, with_mask=True)])
    assert batch["mask"] is None
    assert batch["boxes"][0].shape == (0, 4)


def test_record_defaults():
    rec = ImageRecord("x.png", 1, (4, 5))
    assert rec.boxes.shape == (0, 4) and not rec.has_mask

"""Box-aware transforms against hand-computed coordinates, and the pure protocol geometry."""

from __future__ import annotations

import albumentations as A
import numpy as np
import pytest

from wsol.data import boxes_to_input, boxes_to_original, build_transform
from wsol.data.dataset import apply_transform
from wsol.data.transforms import bbox_params

BOX = np.array([[30, 10, 40, 20]], np.float32)  # on a 200 x 100 (w x h) image


def image_and_mask(w=200, h=100):
    img = np.random.default_rng(0).integers(0, 255, (h, w, 3), dtype=np.uint8)
    mask = np.zeros((h, w), np.uint8)
    mask[10:20, 30:40] = 1  # pixels 30..39 x 10..19: exactly the box [30, 10, 40, 20) in continuous coordinates
    return img, mask


def run(transforms, boxes=BOX, w=200, h=100):
    img, mask = image_and_mask(w, h)
    out = A.Compose(transforms, bbox_params=bbox_params())(
        image=img, bboxes=np.concatenate([boxes, np.arange(len(boxes))[:, None]], 1), mask=mask
    )
    return np.asarray(out["bboxes"], np.float64).reshape(-1, 5), out["mask"]


def fg_box(mask):
    ys, xs = np.nonzero(np.asarray(mask) == 1)
    return [xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]


def test_flip_hand_computed():
    boxes, mask = run([A.HorizontalFlip(p=1.0)])
    np.testing.assert_allclose(boxes[:, :4], [[160, 10, 170, 20]], atol=1e-4)  # x -> 200 - x
    assert fg_box(mask) == [160, 10, 170, 20]


def test_crop_clips_and_drops_boxes():
    two = np.array([[30, 10, 40, 20], [150, 60, 190, 90]], np.float32)
    boxes, mask = run([A.Crop(x_min=35, y_min=5, x_max=135, y_max=55)], boxes=two)
    # first box shifted by (-35, -5) and clipped at x=0; the second lies outside the crop and is dropped
    np.testing.assert_allclose(boxes, [[0, 5, 5, 15, 0]], atol=1e-4)
    assert fg_box(mask) == [0, 5, 5, 15]


def test_resize_protocol_hand_computed():
    boxes, mask = run(build_transform("eval", 224).transforms[:-2])  # geometry only
    np.testing.assert_allclose(boxes[:, :4], [[33.6, 22.4, 44.8, 44.8]], rtol=1e-5)  # x * 224/200, y * 224/100
    np.testing.assert_allclose(boxes_to_input(BOX, (200, 100), 224, "resize"), [[33.6, 22.4, 44.8, 44.8]], rtol=1e-6)


def test_resize_crop_protocol_hand_computed():
    boxes, mask = run(build_transform("eval", 224, "resize_crop", 256).transforms[:-2])
    # resize to 256: x * 1.28, y * 2.56; centre crop offset (256 - 224) // 2 = 16
    expected = [[30 * 1.28 - 16, 10 * 2.56 - 16, 40 * 1.28 - 16, 20 * 2.56 - 16]]  # 22.4, 9.6, 35.2, 35.2
    np.testing.assert_allclose(boxes[:, :4], expected, rtol=1e-5)
    np.testing.assert_allclose(boxes_to_input(BOX, (200, 100), 224, "resize_crop", 256), expected, rtol=1e-5)
    x0, y0, x1, y1 = fg_box(mask)
    assert abs(x0 - 22.4) <= 1 and abs(y0 - 9.6) <= 1 and abs(x1 - 35.2) <= 1 and abs(y1 - 35.2) <= 1


@pytest.mark.parametrize("protocol", ["resize", "resize_crop"])
def test_back_mapping_round_trip(protocol):
    boxes = np.array([[30, 10, 40, 20], [20.5, 14, 180, 88]], np.float32)
    fwd = boxes_to_input(boxes, (200, 100), 224, protocol, 256)
    np.testing.assert_allclose(boxes_to_original(fwd, (200, 100), 224, protocol, 256), boxes, atol=1e-4)


def test_back_mapping_hand_computed_and_clipped():
    # input-frame box (0, 0, 224, 224) under resize_crop covers original x in [16/1.28, 240/1.28] = [12.5, 187.5]
    out = boxes_to_original(np.array([[0, 0, 224, 224]]), (200, 100), 224, "resize_crop", 256)
    np.testing.assert_allclose(out, [[12.5, 6.25, 187.5, 93.75]])
    # a box cut away by the centre crop maps to a degenerate clipped box
    np.testing.assert_allclose(boxes_to_input(np.array([[0, 0, 5, 5]]), (200, 100), 224, "resize_crop"), [[0, 0, 0, 0]])
    np.testing.assert_allclose(
        boxes_to_original(np.array([[-50, 0, 300, 10]]), (200, 100), 224, "resize"),
        [[0, 0, 200, 100 * 10 / 224]],
        rtol=1e-6,
    )


def test_train_transform_keeps_boxes_and_masks_in_step():
    img, mask = image_and_mask()
    t = build_transform("train", 64)
    seen = 0
    for _ in range(20):
        image, boxes, out_mask = apply_transform(t, img, BOX, mask)
        assert image.shape == (3, 64, 64) and out_mask.shape == (64, 64)
        if (out_mask == 1).any():
            seen += 1
            assert len(boxes) == 1
            x0, y0, x1, y1 = fg_box(out_mask.numpy())
            # nearest-neighbour mask vs exact box: within one output pixel (+ scale rounding)
            np.testing.assert_allclose(boxes[0], [x0, y0, x1, y1], atol=1.6)
    assert seen > 0


def test_eval_output_is_normalised_tensor():
    img = np.full((10, 20, 3), 255, np.uint8)
    out = build_transform("eval", 8)(image=img, bboxes=np.zeros((0, 4)))
    # (1 - mean) / std for the red channel
    assert out["image"].shape == (3, 8, 8)
    np.testing.assert_allclose(out["image"][0].numpy(), (1 - 0.485) / 0.229, rtol=1e-5)


def test_bad_arguments():
    with pytest.raises(ValueError, match="unknown eval protocol"):
        build_transform("eval", protocol="crop")
    with pytest.raises(ValueError, match="resize_size"):
        build_transform("eval", 224, "resize_crop", 200)
    with pytest.raises(ValueError, match="unknown transform kind"):
        build_transform("test")


def test_dataset_refuses_a_pipeline_that_ignores_boxes(tiny_synthetic):
    from wsol.data import WSOLDataset, load_split

    with pytest.raises(ValueError, match="does not move boxes"):
        WSOLDataset(load_split(tiny_synthetic, "val"), A.Compose([A.Resize(8, 8)]))

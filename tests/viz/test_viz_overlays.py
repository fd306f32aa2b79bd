import cv2
import numpy as np
import pytest
import torch

from wsol.viz import denormalize_image, draw_boxes, heatmap_overlay, make_grid, render_localization, save_png
from wsol.viz.overlays import GT_COLOR, IMAGENET_MEAN, IMAGENET_STD


def test_denormalize_inverts_normalisation():
    rgb = np.random.default_rng(0).integers(0, 256, (5, 6, 3)).astype(np.uint8)
    t = torch.from_numpy(rgb).permute(2, 0, 1).float() / 255
    t = (t - torch.tensor(IMAGENET_MEAN).view(3, 1, 1)) / torch.tensor(IMAGENET_STD).view(3, 1, 1)
    assert np.array_equal(denormalize_image(t), rgb)


def test_boxes_drawn_on_copy_at_given_pixels():
    img = np.zeros((20, 20, 3), np.uint8)
    out = draw_boxes(img, np.array([[2, 3, 10, 12]]), GT_COLOR)
    assert img.sum() == 0  # input untouched
    assert tuple(out[3, 5]) == GT_COLOR and tuple(out[12, 10]) == GT_COLOR  # top edge and bottom-right corner
    assert out[7, 6].sum() == 0  # inside stays empty


def test_heatmap_overlay_resizes_and_rejects_nan():
    img = np.full((16, 16, 3), 128, np.uint8)
    out = heatmap_overlay(img, np.eye(4, dtype=np.float32))
    assert out.shape == img.shape and not np.array_equal(out, img)
    with pytest.raises(ValueError, match="NaN"):
        heatmap_overlay(img, np.full((4, 4), np.nan))


def test_grid_layout_and_png_round_trip(tmp_path):
    tiles = [np.full((4, 5, 3), v, np.uint8) for v in (10, 20, 30)]
    grid = make_grid(tiles, ncols=2, pad=1)
    assert grid.shape == (2 * 5 + 1, 2 * 6 + 1, 3)
    assert grid[1, 1, 0] == 10 and grid[1, 7, 0] == 20 and grid[6, 1, 0] == 30 and grid[6, 7, 0] == 255
    path = save_png(tmp_path / "g.png", grid)
    back = cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)
    assert np.array_equal(back, grid)


def test_render_localization_panel():
    img = np.zeros((32, 32, 3), np.uint8)
    cam = np.zeros((8, 8), np.float32)
    cam[2:4, 2:4] = 1
    mask = np.zeros((32, 32), np.uint8)
    mask[8:20, 8:20] = 1
    panel = render_localization(img, cam, np.array([[4, 4, 20, 20]]), np.array([[8, 8, 16, 16]]), [0.25], mask)
    assert panel.shape == (32, 32, 3) and panel.any()

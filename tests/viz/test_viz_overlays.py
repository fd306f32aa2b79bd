import cv2
import numpy as np
import pytest
import torch

from wsol.drawing import GT_COLOR, IMAGENET_MEAN, IMAGENET_STD
from wsol.viz import denormalize_image, draw_boxes, heatmap_overlay, make_grid, render_localization, save_png


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
    """Every layer at pixels known by hand: a black image under a zero map is JET's darkest blue (0, 0, 128)
    at half weight; the mask outline (cyan), GT box (green) and predicted box (red) sit on their pixels; the IoU
    caption is a red box with white ink whose size is cv2's text metrics at the smallest label scale (a 32 px tile
    is too small for the larger ones) and changes nothing outside it."""
    from wsol.drawing import FONT, LABEL_PAD, LABEL_SCALES, MASK_COLOR, PRED_COLOR

    img = np.zeros((32, 32, 3), np.uint8)
    cam = np.zeros((8, 8), np.float32)
    cam[2:4, 2:4] = 1
    mask = np.zeros((32, 32), np.uint8)
    mask[8:20, 8:20] = 1
    gt, pred = np.array([[4, 4, 20, 20]]), np.array([[8, 8, 16, 16]])
    plain = render_localization(img, cam, gt, pred, None, mask)
    assert plain.shape == (32, 32, 3) and plain.dtype == np.uint8
    expected = {
        (0, 0): (0, 0, 64),
        (28, 28): (0, 0, 64),
        (31, 0): (0, 0, 64),  # (row, col): RGB
        (19, 12): MASK_COLOR,
        (12, 19): MASK_COLOR,
        (8, 18): MASK_COLOR,  # mask rows/cols 8..19
        (4, 12): GT_COLOR,
        (20, 12): GT_COLOR,
        (12, 4): GT_COLOR,
        (12, 20): GT_COLOR,
        (8, 12): PRED_COLOR,
        (16, 12): PRED_COLOR,
        (12, 16): PRED_COLOR,
        (12, 8): PRED_COLOR,
    }
    assert {p: tuple(int(v) for v in plain[p]) for p in expected} == expected

    panel = render_localization(img, cam, gt, pred, [0.25], mask)
    scale = LABEL_SCALES[-1]
    (text_w, _), _ = cv2.getTextSize("0.25", FONT, scale, 1)
    (_, text_h), base = cv2.getTextSize("Hg", FONT, scale, 1)
    x0 = y0 = 9  # one pixel inside the predicted box's corner
    x1, y1 = x0 + text_w + 2 * LABEL_PAD - 1, y0 + (text_h + base + 1) + LABEL_PAD - 1
    changed = np.argwhere((panel != plain).any(2))
    assert changed.min(0).tolist() == [y0, x0] and changed.max(0).tolist() == [y1, x1]
    box = panel[y0 : y1 + 1, x0 : x1 + 1].astype(int)
    assert tuple(box[0, 0]) == PRED_COLOR and tuple(box[-1, -1]) == PRED_COLOR
    # anti-aliased white ink on red: red channel >= 230, green == blue, and some pixels nearly white
    assert (box[..., 0] >= 230).all() and (box[..., 1] == box[..., 2]).all() and (box[..., 1] > 200).any()


@pytest.mark.parametrize("size", [(64, 64), (128, 96), (40, 200)])
def test_long_captions_wrap_inside_their_tile_and_keep_every_character(size):
    from wsol.drawing import caption_layout, put_label

    h, w = size
    text = "c03_checkerboard_large>c07_concentric_rings_with_a_very_long_name several instances"
    scale, lines, line_h = caption_layout(text, w, h)
    assert "".join(lines).replace(" ", "") == text.replace(" ", "")  # wrapped, not cut
    tile = np.full((h, w, 3), 40, np.uint8)
    canvas = np.zeros((h + 40, w + 40, 3), np.uint8)  # the tile in the middle of a grid
    box = put_label(tile, text, (0, h), (255, 255, 255), anchor="bottom")
    canvas[20 : 20 + h, 20 : 20 + w] = tile
    drawn = np.argwhere((canvas != 0).any(2))
    assert drawn[:, 0].min() >= 20 and drawn[:, 0].max() < 20 + h and drawn[:, 1].min() >= 20
    assert drawn[:, 1].max() < 20 + w
    x0, y0, x1, y1 = box
    assert 0 <= x0 <= x1 < w and 0 <= y0 <= y1 < h
    # the text's own pixels (dark ink on the white box) stay off the box border: no glyph is clipped
    ink = np.argwhere((tile[y0 : y1 + 1, x0 : x1 + 1] < 128).all(2))
    assert len(ink) and ink[:, 1].max() < x1 - x0 and ink[:, 0].min() > 0
    assert len(lines) * line_h <= y1 - y0 + 1


def test_caption_is_drawn_once_on_a_box_readable_on_red():
    from wsol.drawing import PRED_COLOR, put_label

    red = np.zeros((40, 80, 3), np.uint8)
    red[:] = (200, 0, 0)  # JET's hot end
    x0, y0, x1, y1 = put_label(red, "0.62", (10, 5), PRED_COLOR)
    patch = red[y0 : y1 + 1, x0 : x1 + 1].reshape(-1, 3).astype(int)
    assert patch.max(0).tolist() == [255, 255, 255]  # white ink on the red box: strong luminance contrast
    darkest = patch[patch[:, 1] <= PRED_COLOR[1]]  # the box behind the anti-aliased ink: one flat colour
    assert len(darkest) > patch.shape[0] // 3 and set(map(tuple, darkest)) == {tuple(PRED_COLOR)}
    assert (red[:y0] == (200, 0, 0)).all() and (red[y1 + 1 :] == (200, 0, 0)).all()  # drawn once, no halo

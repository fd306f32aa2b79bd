import numpy as np
import pytest

from wsol.localization import box_iou, check_boxes, contour_box_from_extent, rescale_gt_boxes


def test_iou_hand_computed_inclusive():
    # A covers x 1..5, y 2..6 (25 px); B covers x 3..4, y 1..5 (10 px); overlap x 3..4, y 2..5 = 8 px
    assert box_iou([[1, 2, 5, 6]], [[3, 1, 4, 5]])[0, 0] == pytest.approx(8 / 27)


def test_iou_continuous_flag():
    # continuous: A 4x4=16, B 1x4=4, overlap 1x3=3 -> 3 / 17
    assert box_iou([[1, 2, 5, 6]], [[3, 1, 4, 5]], inclusive=False)[0, 0] == pytest.approx(3 / 17)


def test_iou_identity_and_shape():
    a = np.array([[1, 1, 3, 3], [4, 4, 5, 5]])
    assert np.array_equal(box_iou(a, a), np.eye(2))
    assert box_iou(np.zeros((3, 4)), np.zeros((5, 4))).shape == (3, 5)
    # degenerate single-pixel boxes at the same place cover one pixel each: IoU 1 (wsolevaluation)
    assert np.all(box_iou(np.zeros((3, 4)), np.zeros((5, 4))) == 1.0)
    # continuous degenerate boxes have zero union: IoU 0 by convention
    assert box_iou([[2, 2, 2, 2]], [[2, 2, 2, 2]], inclusive=False)[0, 0] == 0.0


def test_rescale_resize_truncates_like_wsolevaluation():
    # 10x20 image to 35x35: x 1*35/10 = 3.5 -> 3, 4*35/10 = 14; y 2*35/20 = 3.5 -> 3, 3*35/20 = 5.25 -> 5
    out = rescale_gt_boxes(np.array([[1, 2, 4, 3]]), (10, 20), "resize", eval_size=35)
    assert out.dtype == np.int64
    assert out.tolist() == [[3, 3, 14, 5]]
    assert rescale_gt_boxes(np.array([[1, 2, 1, 2]]), (3, 3), "resize", eval_size=3).tolist() == [[1, 2, 1, 2]]
    # 500x375 image to 224: 100*224/500 = 44.8 -> 44 ; 300*224/375 = 179.2 -> 179
    assert rescale_gt_boxes(np.array([[100, 0, 499, 300]]), (500, 375)).tolist() == [[44, 0, 223, 179]]


def test_rescale_resize_crop():
    # 512x512 -> 256 (x0.5) -> crop offset 16: 100 -> 50 - 16 = 34; 500 -> 250 - 16 = 234 -> clipped 223; 0 -> 0
    out = rescale_gt_boxes(np.array([[100, 0, 500, 40]]), (512, 512), "resize_crop")
    assert out.tolist() == [[34, 0, 223, 4]]
    with pytest.raises(ValueError, match="unknown evaluation protocol"):
        rescale_gt_boxes(np.array([[0, 0, 1, 1]]), (4, 4), "squash")


def test_check_boxes_errors_name_the_image():
    with pytest.raises(ValueError, match="img_7.*no ground-truth boxes"):
        check_boxes(np.zeros((0, 4)), "image 'img_7'")
    with pytest.raises(ValueError, match="x1>=x0"):
        check_boxes(np.array([[3, 0, 1, 2]]), "image 'a'")


def test_contour_box_convention():
    # cv2.boundingRect x + w is one past the last pixel, clipped to the last column/row
    assert contour_box_from_extent(2, 3, 5, 6, 10, 10) == (2, 3, 6, 7)
    assert contour_box_from_extent(2, 3, 9, 9, 10, 10) == (2, 3, 9, 9)

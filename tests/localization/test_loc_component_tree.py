"""The component-tree box pass against hand-computed boxes and against the per-threshold cv2 reference."""

import numpy as np
import pytest

from tests.localization.conftest import make_map, random_gt
from wsol.localization import boxes_at_thresholds, threshold_ious, threshold_list
from wsol.localization.reference import reference_best_iou, reference_boxes

THR5 = np.arange(0, 1, 0.2)  # 0, .2, .4, .6, .8 as in wsolevaluation's tests


def _q(m):
    return (np.asarray(m, np.float64) * 255).astype(np.uint8)


def test_unimodal_map_boxes_at_each_threshold():
    m = np.array(
        [[0.0, 0.0, 0.0, 0.0, 0.0], [0.0, 0.4, 0.4, 0.4, 0.6], [0.0, 0.4, 1.0, 0.8, 0.6], [0.0, 0.4, 0.4, 0.4, 0.6]]
    )
    # levels int(t * 255) = 0, 51, 102, 153, 204 over q = 0, 102, 153, 204, 255:
    # >0 and >51: the 3x4 block x1..4 -> box (1,1, 4+1 clipped to 4, 3+1 clipped to 3)
    # >102: 0.6 column + 1.0 + 0.8 -> x2..4, y1..3 ; >153: 1.0, 0.8 -> x2..3, y2 -> (2,2,4,3)
    # >204: the single 1.0 pixel at (2,2) -> (2,2,3,3)
    expected = [[1, 1, 4, 3], [1, 1, 4, 3], [2, 1, 4, 3], [2, 2, 4, 3], [2, 2, 3, 3]]
    assert boxes_at_thresholds(_q(m), THR5).tolist() == expected
    assert [b[0].tolist() for b in reference_boxes(m, THR5)] == expected


def test_multimodal_map_largest_contour_by_cv2_area():
    m = np.array(
        [[0.4, 0.0, 0.2, 0.2, 0.2], [0.4, 0.4, 0.0, 0.4, 0.0], [0.0, 0.0, 0.0, 0.4, 0.0], [1.0, 0.6, 0.8, 0.2, 0.2]]
    )
    expected = [[0, 0, 4, 3], [0, 0, 2, 2], [0, 3, 3, 3], [2, 3, 3, 3], [0, 3, 1, 3]]
    assert boxes_at_thresholds(_q(m), THR5).tolist() == expected


def test_zero_map_gives_empty_box_everywhere():
    assert boxes_at_thresholds(np.zeros((3, 3), np.uint8), THR5).tolist() == [[0, 0, 0, 0]] * 5


def test_area_ties_follow_cv2_contour_order():
    # four isolated pixels: every contour has area 0; cv2 lists the last discovered (bottom-most) first
    q = np.zeros((9, 9), np.uint8)
    for y, x in [(1, 1), (1, 6), (7, 2), (7, 5)]:
        q[y, x] = 255
    assert boxes_at_thresholds(q, np.array([0.5])).tolist() == [[5, 7, 6, 8]]


def test_component_with_hole_is_compared_by_filled_area():
    # a 5x5 ring (16 px, contour area 16) against a solid 3x5 bar (15 px, contour area 8): cv2 picks the ring
    q = np.zeros((12, 12), np.uint8)
    q[1:6, 1:6] = 255
    q[2:5, 2:5] = 0
    q[8:11, 2:7] = 255
    got = boxes_at_thresholds(q, np.array([0.5]))
    assert got.tolist() == [[1, 1, 6, 6]]
    assert got.tolist() == [reference_boxes(q / 255.0, np.array([0.5]))[0][0].tolist()]


@pytest.mark.parametrize("kind", ["blobs", "smooth", "relu", "noise"])
@pytest.mark.parametrize("shape", [(1, 1), (1, 9), (9, 1), (2, 6), (5, 7), (16, 16), (40, 29)])
def test_fast_equals_reference_on_random_maps(rng, kind, shape):
    thresholds = threshold_list(0.01)
    for _ in range(6 if shape[0] > 1 else 1):
        m = make_map(rng, shape, kind)
        gt = random_gt(rng, shape)
        q = _q(m)
        before = q.copy()
        fast = threshold_ious(q[None], thresholds, [gt], multi_contour=True, num_threads=1)
        assert np.array_equal(q, before)  # input not modified
        ref_boxes = np.stack([b[0] for b in reference_boxes(m, thresholds)])
        assert np.array_equal(fast.boxes_v1[0], ref_boxes)
        assert np.array_equal(fast.iou_v1[0], reference_best_iou(m, thresholds, gt, multi_contour=False))
        assert np.array_equal(fast.iou_v2[0], reference_best_iou(m, thresholds, gt, multi_contour=True))


def test_batch_and_threads_give_identical_results(rng):
    maps = [make_map(rng, (24, 24), k) for k in ("blobs", "relu", "noise", "smooth") * 3]
    qs = np.stack([_q(m) for m in maps])
    gts = [random_gt(rng, (24, 24), n=int(rng.integers(1, 4))) for _ in maps]
    thresholds = threshold_list(0.001)
    one = threshold_ious(qs, thresholds, gts, True, num_threads=1)
    two = threshold_ious(qs, thresholds, gts, True, num_threads=2)
    assert np.array_equal(one.boxes_v1, two.boxes_v1)
    assert np.array_equal(one.iou_v2, two.iou_v2)
    for i in range(len(maps)):
        single = threshold_ious(qs[i : i + 1], thresholds, gts[i : i + 1], True, num_threads=1)
        assert np.array_equal(single.iou_v1[0], one.iou_v1[i])


def test_bad_input_shapes():
    with pytest.raises(ValueError, match=r"\(B, H, W\)"):
        threshold_ious(np.zeros((4, 4), np.uint8), THR5, [np.zeros((1, 4))])
    with pytest.raises(ValueError, match="GT box sets"):
        threshold_ious(np.zeros((2, 4, 4), np.uint8), THR5, [np.zeros((1, 4))])
    with pytest.raises(ValueError, match="15-bit"):
        threshold_ious(np.zeros((1, 2, 1 << 15), np.uint8), THR5, [np.zeros((1, 4))])


@pytest.mark.parametrize("kind", ["relu", "noise"])
def test_undecided_largest_contours_are_decided_exactly_on_crops(rng, kind):
    """Holed regions whose exact contour area decides v1 go to cv2 on a crop; the boxes equal the full-map loop,
    and the case is really exercised (fallbacks > 0), with several GT boxes per map."""
    thresholds = threshold_list(0.005)
    fallbacks = 0
    for shape in [(12, 12), (20, 31), (48, 48)]:
        maps = [make_map(rng, shape, kind) for _ in range(8)]
        gts = [random_gt(rng, shape, n=int(rng.integers(1, 4))) for _ in maps]
        fast = threshold_ious(np.stack([_q(m) for m in maps]), thresholds, gts, multi_contour=False, num_threads=1)
        fallbacks += fast.fallbacks
        for i, m in enumerate(maps):
            assert np.array_equal(fast.boxes_v1[i], np.stack([b[0] for b in reference_boxes(m, thresholds)]))
            assert np.array_equal(fast.iou_v1[i], reference_best_iou(m, thresholds, gts[i], multi_contour=False))
            assert np.array_equal(fast.iou_v2[i], fast.iou_v1[i])
    assert fallbacks > 0

"""The component-tree sweeps against wsolevaluation's own per-metric loop (two runs: v1 and multi-contour)."""

import numpy as np
import pytest

from tests.localization.conftest import make_map, random_gt
from wsol.localization import threshold_ious, threshold_list
from wsol.localization._tree import counting_sort
from wsol.localization.reference import reference_threshold_ious, wsolevaluation_boxes, wsolevaluation_ious


def _q(m):
    return (np.asarray(m, np.float64) * 255).astype(np.uint8)


def test_counting_sort_matches_stable_argsort(rng):
    q = rng.integers(0, 256, (7, 11)).astype(np.uint8)
    hist = np.empty(257, np.int64)
    order = np.empty(q.size, np.int64)
    counting_sort(q.ravel(), 7, 11, hist, order)
    x, y = order & 0xFFFF, (order >> 16) & 0xFFFF  # lanes (x, y, 32767 - x, 32767 - y)
    assert np.array_equal(y * 11 + x, np.argsort(q.ravel(), kind="stable"))
    assert np.array_equal(order >> 32, (32767 - x) | ((32767 - y) << 16))
    assert np.array_equal(np.diff(hist), np.bincount(q.ravel(), minlength=256))


def test_packed_box_union_equals_lane_wise_min_max(rng):
    """box_max (SWAR) against the obvious per-field min / max, edge values included."""
    from wsol.localization._tree import box_max

    def pack(x0, y0, x1, y1):
        return np.uint64(x1 | (y1 << 16) | ((32767 - x0) << 32) | ((32767 - y0) << 48))

    boxes = rng.integers(0, 32768, (500, 2, 4))
    boxes[:50] = rng.choice([0, 1, 32766, 32767], (50, 2, 4))
    for a, b in boxes:
        got = int(box_max(pack(*a), pack(*b)))
        lanes = [got & 0xFFFF, (got >> 16) & 0xFFFF, 32767 - ((got >> 32) & 0xFFFF), 32767 - (got >> 48)]
        assert lanes == [max(a[2], b[2]), max(a[3], b[3]), min(a[0], b[0]), min(a[1], b[1])]


def test_wsolevaluation_port_on_a_hand_made_map():
    # two blobs: a 3x3 square (contour area 4) and a 2x2 square (area 1); levels int(t * 255) = 0 and 127
    q = np.zeros((8, 8), np.uint8)
    q[1:4, 1:4] = 255
    q[5:7, 5:7] = 100
    boxes, counts = wsolevaluation_boxes(q, np.array([0.0, 0.5]), multi_contour=True)
    assert counts == [2, 1]
    assert sorted(map(tuple, boxes[0].tolist())) == [(1, 1, 4, 4), (5, 5, 7, 7)]
    v1, _ = wsolevaluation_boxes(q, np.array([0.0]), multi_contour=False)
    assert v1[0].tolist() == [[1, 1, 4, 4]]  # the larger contour
    gt = np.array([[5, 5, 7, 7]])
    assert wsolevaluation_ious(q / 255.0, np.array([0.0, 0.5]), gt, True).tolist() == [1.0, 0.0]


@pytest.mark.parametrize("kind", ["blobs", "relu", "noise", "smooth"])
def test_fast_equals_wsolevaluation_runs(rng, kind):
    thresholds = threshold_list(0.01)
    for shape in [(12, 17), (31, 24)]:
        maps = [make_map(rng, shape, kind) for _ in range(4)]
        gts = [random_gt(rng, shape, n=int(rng.integers(1, 4))) for _ in maps]
        qs = np.stack([_q(m) for m in maps])
        both = threshold_ious(qs, thresholds, gts, multi_contour=True, num_threads=2)
        v1_only = threshold_ious(qs, thresholds, gts, multi_contour=False, num_threads=1)
        for i, (m, gt) in enumerate(zip(maps, gts)):
            ref_v1 = wsolevaluation_ious(m, thresholds, gt, multi_contour=False)
            ref_v2 = wsolevaluation_ious(m, thresholds, gt, multi_contour=True)
            assert np.array_equal(both.iou_v1[i], ref_v1)
            assert np.array_equal(both.iou_v2[i], ref_v2)
            assert np.array_equal(v1_only.iou_v1[i], ref_v1)
            assert np.array_equal(v1_only.iou_v2[i], ref_v1)  # no multi-contour: v2 repeats v1
            combined = reference_threshold_ious(m, thresholds, gt)
            assert np.array_equal(combined[0], ref_v1) and np.array_equal(combined[1], ref_v2)


def test_unsorted_and_repeated_thresholds(rng):
    m = make_map(rng, (20, 20), "blobs")
    gt = random_gt(rng, (20, 20))
    thresholds = np.array([0.7, 0.1, 0.7, 0.0, 0.45, 0.1])
    fast = threshold_ious(_q(m)[None], thresholds, [gt], multi_contour=True, num_threads=1)
    assert np.array_equal(fast.iou_v1[0], wsolevaluation_ious(m, thresholds, gt, multi_contour=False))
    assert np.array_equal(fast.iou_v2[0], wsolevaluation_ious(m, thresholds, gt, multi_contour=True))


def test_thresholds_at_or_above_one_and_negative(rng):
    m = make_map(rng, (9, 9), "blobs")
    gt = random_gt(rng, (9, 9))
    thresholds = np.array([0.5, 1.0, 3.0])  # int(t * max) >= max: no foreground, box [0, 0, 0, 0]
    fast = threshold_ious(_q(m)[None], thresholds, [gt], multi_contour=True, num_threads=1)
    assert fast.boxes_v1[0, 1:].tolist() == [[0, 0, 0, 0]] * 2
    assert np.array_equal(fast.iou_v2[0], wsolevaluation_ious(m, thresholds, gt, multi_contour=True))
    with pytest.raises(ValueError, match=">= 0"):
        threshold_ious(_q(m)[None], np.array([-0.1, 0.5]), [gt])


def test_as_written_port_gives_the_same_figures(rng):
    """The benchmark's slower, step-for-step port must agree with the reference it is timed against."""
    from wsol.localization.reference import wsolevaluation_as_written_ious

    thresholds = threshold_list(0.05)
    for kind in ("blobs", "noise"):
        m = make_map(rng, (20, 26), kind)
        gt = random_gt(rng, (20, 26), n=2)
        for multi in (False, True):
            assert np.array_equal(
                wsolevaluation_as_written_ious(m, thresholds, gt, multi), wsolevaluation_ious(m, thresholds, gt, multi)
            )
    with pytest.raises(ValueError, match="finite"):
        wsolevaluation_as_written_ious(np.full((4, 4), np.nan), thresholds, gt, True)

"""Failure taxonomy on hand-made boxes (inclusive pixel convention: a box [a, b] spans b - a + 1 pixels)."""

from __future__ import annotations

import numpy as np
import pytest

from wsol.localization import box_iou
from wsol.viz.taxonomy import CATEGORIES, category_names, classify, count_categories, pad_boxes

GT = np.array([[10, 10, 29, 29]])  # 20 x 20 = 400 px
TWO = np.array([[0, 0, 9, 9], [30, 0, 39, 9]])  # two 10 x 10 instances, 20 px apart


def test_one_image_per_category_with_hand_ious():
    cases = [  # (pred box, GT boxes, class right, region, expected category, expected IoU)
        ([10, 10, 29, 29], GT, True, True, "correct", 1.0),
        ([10, 10, 29, 29], GT, False, True, "wrong class", 1.0),
        ([40, 40, 50, 50], GT, True, True, "missed", 0.0),
        ([0, 0, 0, 0], GT, True, False, "missed", 0.0),
        ([12, 12, 21, 21], GT, True, True, "part only", 100 / 400),
        ([0, 0, 49, 49], GT, True, True, "too large", 400 / 2500),
        ([0, 0, 39, 9], TWO, True, True, "several instances", 100 / 400),
        ([20, 20, 39, 39], GT, True, True, "misplaced", 100 / 700),
    ]
    codes, iou = classify(
        np.array([c[0] for c in cases]),
        [c[1] for c in cases],
        np.array([c[2] for c in cases]),
        np.array([c[3] for c in cases]),
    )
    assert category_names(codes) == [c[4] for c in cases]
    np.testing.assert_allclose(iou, [c[5] for c in cases])
    # the IoU is the project's inclusive box_iou, best over the GT boxes
    for (pred, gt, *_), value in zip(cases, iou):
        assert value == pytest.approx(box_iou(np.array([pred]), gt).max())


def test_inclusive_edges_decide_touching():
    # x1 = 30 starts right after the GT's last column 29: no shared pixel → missed; x0 = 29 shares one column
    codes, iou = classify(np.array([[30, 10, 40, 29], [29, 10, 40, 29]]), [GT, GT], np.ones(2, bool))
    assert category_names(codes) == ["missed", "misplaced"]
    assert iou[0] == 0 and iou[1] == pytest.approx(20 / (400 + 12 * 20 - 20))


def test_precedence_and_thresholds():
    # IoU exactly 0.5 is correct (>=); a box around both instances that is also "too large" → several instances
    half = np.array([[10, 10, 29, 19]])  # 200 px inside the 400 px GT: IoU 0.5, also "part only"
    around = np.array([[0, 0, 39, 9]])
    codes, iou = classify(np.concatenate([half, around]), [GT, TWO], np.ones(2, bool))
    assert iou[0] == 0.5 and category_names(codes) == ["correct", "several instances"]
    # one instance covered, the other only touched (< 50 %): too large, not several instances
    codes, _ = classify(np.array([[0, 0, 31, 9]]), [TWO], np.ones(1, bool))
    assert category_names(codes) == ["too large"]
    # the same box with one GT instance only is "too large"
    codes, _ = classify(around, [TWO[:1]], np.ones(1, bool))
    assert category_names(codes) == ["too large"]


def test_padding_counts_and_errors():
    padded, valid = pad_boxes([TWO, GT])
    assert padded.shape == (2, 2, 4) and valid.tolist() == [[True, True], [True, False]]
    counts = count_categories(["correct", "missed", "correct"])
    assert list(counts) == list(CATEGORIES) and counts["correct"] == 2 and counts["missed"] == 1
    with pytest.raises(ValueError, match="unknown failure category"):
        count_categories(["nope"])
    with pytest.raises(ValueError, match="no GT box"):
        classify(np.zeros((1, 4)), [np.zeros((0, 4))], np.ones(1, bool))


def test_region_count_uses_the_evaluators_quantised_rule():
    """'missed' and the region count follow q > int(tau * max q) with 8-connectivity, as the evaluator's contours."""
    from wsol.viz.per_image import count_regions

    q = np.zeros((2, 6, 6), np.uint8)
    q[0, 0, 0] = 200
    q[0, 1, 1] = 101  # diagonal neighbour: one 8-connected region with the first at level int(0.5 * 200) = 100
    q[0, 4, 4] = 150
    q[1, 2, 2] = 3  # max 3: level int(0.5 * 3) = 1, so 3 > 1 is foreground...
    q[1, 4, 4] = 1  # ...and 1 is not (strict >)
    assert count_regions(q, np.array([0.5])).tolist() == [2, 1]
    assert count_regions(q, np.array([0.75])).tolist() == [1, 1]  # level 150: only 200 (150 is not > 150); 3 > 2
    assert count_regions(np.zeros((1, 4, 4), np.uint8), np.array([0.0])).tolist() == [0]  # nothing above 0: missed

"""Evaluators on hand-computed cases, fixed-size state, oracle vs fixed threshold, bad input."""

import numpy as np
import pytest
import torch

from wsol.data.records import IGNORE_VALUE
from wsol.evaluation import BoxEvaluator, ClassificationEvaluator, EvalBatch, EvaluatorGroup, MaskEvaluator

THR5 = np.arange(0, 1, 0.2)
UNIMODAL = np.array(
    [[0.0, 0.0, 0.0, 0.0, 0.0], [0.0, 0.4, 0.4, 0.4, 0.6], [0.0, 0.4, 1.0, 0.8, 0.6], [0.0, 0.4, 0.4, 0.4, 0.6]]
)
GT = np.array([[2, 2, 3, 3]])  # 4 pixels


def _box_batch(topk=None):
    # map 0: boxes (1,1,4,3) (1,1,4,3) (2,1,4,3) (2,2,4,3) (2,2,3,3) -> IoU 4/12, 4/12, 4/9, 4/6, 1
    # map 1: all zero -> box (0,0,0,0) -> IoU 0 everywhere
    q = (np.stack([UNIMODAL, np.zeros_like(UNIMODAL)]) * 255).astype(np.uint8)
    return EvalBatch(image_ids=["a", "b"], labels=np.array([2, 0]), q_maps=q, gt_boxes=[GT, GT], topk=topk)


def test_box_evaluator_hand_computed_oracle_and_fixed():
    topk = np.array([[1, 2, 0, 3, 4], [0, 1, 2, 3, 4]])  # image a: GT class 2 is 2nd (top-5 only); b: top-1
    ev = BoxEvaluator(THR5, (30, 50, 70), multi_contour=True, fixed_threshold=0.4)
    ev.process(_box_batch(topk))
    out = ev.evaluate()
    assert out["oracle/maxboxacc"] == 50.0 and out["oracle/maxboxacc_threshold"] == pytest.approx(0.6)
    assert out["oracle/gt_known_loc"] == 50.0
    assert out["oracle/top1_loc"] == 0.0  # a localises but is not top-1; b is top-1 but misses
    assert out["oracle/top5_loc"] == 50.0
    assert out["oracle/maxboxacc_v2_iou30"] == 50.0 and out["oracle/maxboxacc_v2_iou30_threshold"] == 0.0
    assert out["oracle/maxboxacc_v2_iou70"] == 50.0 and out["oracle/maxboxacc_v2_iou70_threshold"] == pytest.approx(0.8)
    assert out["oracle/maxboxacc_v2"] == pytest.approx(50.0)
    # fixed threshold 0.4: IoU 4/9 -> passes IoU 30 only
    assert out["fixed/threshold"] == pytest.approx(0.4)
    assert out["fixed/boxacc"] == 0.0 and out["fixed/boxacc_v2_iou30"] == 50.0
    assert out["fixed/boxacc_v2"] == pytest.approx(50.0 / 3)
    curves = ev.curves()
    assert curves["boxacc_v1_iou50"] == [0.0, 0.0, 0.0, 50.0, 50.0]


def test_box_evaluator_state_is_fixed_size():
    ev = BoxEvaluator(np.arange(0, 1, 0.01), multi_contour=True)
    ev.process(_box_batch())
    size = ev.state_nbytes()
    for _ in range(20):
        ev.process(_box_batch())
    assert ev.state_nbytes() == size
    assert ev.count == 42
    assert ev.evaluate()["oracle/maxboxacc"] == 50.0
    ev.reset()
    assert ev.count == 0 and ev.correct_v1.sum() == 0


def test_box_evaluator_bad_input():
    ev = BoxEvaluator(THR5)
    batch = _box_batch()
    batch.gt_boxes = [GT, np.zeros((0, 4))]
    with pytest.raises(ValueError, match="'b' has no ground-truth box"):
        ev.process(batch)
    with pytest.raises(RuntimeError, match="no image"):
        BoxEvaluator(THR5).evaluate()
    with pytest.raises(ValueError, match="fixed threshold"):
        BoxEvaluator(THR5, fixed_threshold=1.5)


def _mask_batch(maps, masks):
    return EvalBatch(
        image_ids=[f"m{i}" for i in range(len(maps))],
        labels=np.zeros(len(maps), int),
        norm_maps=torch.as_tensor(maps),
        masks=torch.as_tensor(masks, dtype=torch.uint8),
    )


def _random_masks(rng, n=3, size=16):
    masks = (rng.random((n, size, size)) < 0.3).astype(np.uint8)
    masks[rng.random((n, size, size)) < 0.1] = IGNORE_VALUE
    return masks


def test_pxap_perfect_and_constant_maps():
    masks = _random_masks(np.random.default_rng(0))
    thr = np.arange(0, 1, 0.01)
    for ignore_score in (0.0, 1.0):
        perfect = (masks == 1).astype(np.float64)
        perfect[masks == IGNORE_VALUE] = ignore_score
        ev = MaskEvaluator(thr)
        ev.process(_mask_batch(perfect, masks))
        out = ev.evaluate()
        assert out["pxap"] == pytest.approx(100.0) and out["oracle/piou"] == pytest.approx(100.0)
    share = 100.0 * (masks == 1).sum() / ((masks == 1).sum() + (masks == 0).sum())
    for value in (0.0, 0.5, 1.0):
        ev = MaskEvaluator(thr)
        ev.process(_mask_batch(np.full(masks.shape, value), masks))
        assert ev.evaluate()["pxap"] == pytest.approx(share)


def _pxap_slow(maps, masks, thr):
    """Direct transcription of the formula with np.histogram per image (the obvious path)."""
    edges = np.append(thr, [1.0, 2.0, 3.0])
    fg = sum(np.histogram(m[k == 1], bins=edges)[0] for m, k in zip(maps, masks)).astype(float)
    bg = sum(np.histogram(m[k == 0], bins=edges)[0] for m, k in zip(maps, masks)).astype(float)
    tp, fp = fg[::-1].cumsum(), bg[::-1].cumsum()
    prec = np.divide(tp, tp + fp, out=np.zeros_like(tp), where=tp + fp > 0)
    rec = tp / fg.sum()
    ap = 100 * (prec[1:] * np.diff(rec))[(tp + fp)[1:] != 0].sum()
    iou = [100 * fg[i:].sum() / (fg.sum() + bg[i:].sum()) for i in range(len(thr))]
    return ap, max(iou), iou


def test_pxap_piou_match_slow_path_and_fixed_threshold():
    rng = np.random.default_rng(3)
    masks = _random_masks(rng, n=4, size=20)
    maps = np.clip(0.5 * (masks == 1) + 0.6 * rng.random(masks.shape), 0, 1)
    thr = np.arange(0, 1, 0.05)
    ev = MaskEvaluator(thr, fixed_threshold=0.3)
    for i in range(len(maps)):  # one image at a time: pooled histograms
        ev.process(_mask_batch(maps[i : i + 1], masks[i : i + 1]))
    out = ev.evaluate()
    ap, piou, curve = _pxap_slow(maps, masks, thr)
    assert out["pxap"] == pytest.approx(ap, abs=1e-9)
    assert out["oracle/piou"] == pytest.approx(piou, abs=1e-9)
    assert out["fixed/piou"] == pytest.approx(curve[6], abs=1e-9)  # thr[6] = 0.3
    assert ev.state_nbytes() == 2 * 8 * (len(thr) + 2)


def test_mask_evaluator_errors():
    ev = MaskEvaluator(np.arange(0, 1, 0.1))
    ev.process(_mask_batch(np.zeros((1, 4, 4)), np.zeros((1, 4, 4))))
    with pytest.raises(RuntimeError, match="empty mask set"):
        ev.evaluate()
    with pytest.raises(ValueError, match="do not match"):
        ev.process(_mask_batch(np.zeros((1, 4, 4)), np.zeros((1, 5, 5))))


def test_classification_and_group_collisions():
    cls = ClassificationEvaluator()
    cls.process(_box_batch(np.array([[1, 2, 0, 3, 4], [0, 1, 2, 3, 4]])))
    assert cls.evaluate() == {"top1_cls": 50.0, "top5_cls": 100.0}
    group = EvaluatorGroup([ClassificationEvaluator(), BoxEvaluator(THR5, fixed_threshold=0.2)])
    group.process(_box_batch(np.array([[2, 1, 0, 3, 4], [0, 1, 2, 3, 4]])))
    out = group.evaluate()
    assert out["top1_cls"] == 100.0 and out["oracle/top1_loc"] == 50.0 and "fixed/boxacc" in out
    dup = EvaluatorGroup([ClassificationEvaluator(), ClassificationEvaluator()])
    dup.process(_box_batch(np.array([[2, 1, 0, 3, 4], [0, 1, 2, 3, 4]])))
    with pytest.raises(KeyError, match="top1_cls"):
        dup.evaluate()

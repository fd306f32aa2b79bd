"""Box metrics at every CAM threshold with per-threshold counters (memory independent of the dataset size).

Definitions (Choe et al., "Evaluating Weakly Supervised Object Localization Methods Right", CVPR 2020,
https://arxiv.org/abs/2001.07437; wsolevaluation conventions):

* ``BoxAcc(tau, delta) = 100 * #{i : max_{b in B_i(tau), g in G_i} IoU(b, g) >= delta} / N`` where ``B_i(tau)``
  are the boxes of map ``i`` at CAM threshold ``tau`` and ``G_i`` its GT boxes (inclusive +1-pixel IoU).
* MaxBoxAcc = ``max_tau BoxAcc(tau, 0.5)`` with ``B_i(tau)`` = the box of the largest contour (v1).
* MaxBoxAccV2 = ``mean_{delta in {.3, .5, .7}} max_tau BoxAcc(tau, delta)`` with ``B_i(tau)`` = the boxes of
  every contour, holes included (multi-contour), each delta with its own best tau.
* GT-known Loc = BoxAcc(tau, 0.5) of the GT-class map (v1 box); Top-1 / Top-5 Loc additionally require the GT
  class to be the top-1 / among the top-5 predictions (Zhou et al., CAM, CVPR 2016, https://arxiv.org/abs/1512.04150).
  The map is always the GT class's, so a top-k hit plus a GT-known hit is a top-k Loc hit.

``oracle/...`` figures take the best threshold on the evaluated split; ``fixed/...`` use ``fixed_threshold``
(chosen on val). Top-1/Top-5 Loc (oracle) use the MaxBoxAcc threshold.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from wsol.evaluation.base import EvalBatch, threshold_index
from wsol.evaluation.classification import topk_hits
from wsol.localization.component_tree import ThresholdIoUs, threshold_ious


class BoxEvaluator:
    """MaxBoxAcc (v1), MaxBoxAccV2, GT-known / top-1 / top-5 Loc, their best thresholds and curves."""

    def __init__(
        self,
        thresholds: np.ndarray,
        iou_thresholds: Sequence[int] = (30, 50, 70),
        multi_contour: bool = True,
        fixed_threshold: float | None = None,
        num_threads: int | None = None,
    ):
        self.thresholds = np.asarray(thresholds, np.float64)
        self.v2_deltas = [int(d) for d in iou_thresholds]  # MaxBoxAccV2 averages over these
        if not self.v2_deltas or any(not 0 < d <= 100 for d in self.v2_deltas):
            raise ValueError(f"IoU thresholds must be percentages in (0, 100], got {list(iou_thresholds)}")
        # MaxBoxAcc and GT-known Loc are defined at IoU 0.5, whatever the V2 list
        self.iou_thresholds = sorted(set(self.v2_deltas) | {50})
        self.multi_contour = multi_contour
        self.fixed_index = None if fixed_threshold is None else threshold_index(self.thresholds, fixed_threshold)
        self.num_threads = num_threads
        self.reset()

    def reset(self) -> None:
        d, t = len(self.iou_thresholds), len(self.thresholds)
        self.count = 0
        self.cls_count = 0
        self.correct_v1 = np.zeros((d, t), np.int64)
        self.correct_v2 = np.zeros((d, t), np.int64)
        self.top1_loc = np.zeros(t, np.int64)
        self.top5_loc = np.zeros(t, np.int64)
        self.fallbacks = 0

    def state_nbytes(self) -> int:
        """Bytes of accumulated state (constant: it does not grow with the number of images)."""
        return sum(a.nbytes for a in (self.correct_v1, self.correct_v2, self.top1_loc, self.top5_loc))

    def process(self, batch: EvalBatch) -> None:
        if batch.q_maps is None or batch.gt_boxes is None:
            raise ValueError("box evaluation needs quantised maps and GT boxes")
        self.add(self.ious(batch.q_maps, batch.gt_boxes, batch.image_ids), batch.topk, batch.labels)

    def ious(
        self,
        q_maps: np.ndarray,
        gt_boxes: Sequence[np.ndarray],
        image_ids: Sequence[str],
        num_threads: int | None = None,
    ) -> ThresholdIoUs:
        """Per map and threshold IoUs of a batch (:func:`threshold_ious`); pure, so it may run in a worker."""
        for image_id, boxes in zip(image_ids, gt_boxes):
            if len(boxes) == 0:
                raise ValueError(f"image {image_id!r} has no ground-truth box")
        threads = self.num_threads if num_threads is None else num_threads
        return threshold_ious(q_maps, self.thresholds, gt_boxes, self.multi_contour, threads)

    def add(self, res: ThresholdIoUs, topk: np.ndarray | None = None, labels: np.ndarray | None = None) -> None:
        """Count the hits of one batch's IoUs (from :meth:`ious`) at every IoU and CAM threshold."""
        self.fallbacks += res.fallbacks
        for k, delta in enumerate(self.iou_thresholds):
            self.correct_v1[k] += (res.iou_v1 >= delta / 100).sum(axis=0)
            self.correct_v2[k] += (res.iou_v2 >= delta / 100).sum(axis=0)
        self.count += len(res.iou_v1)
        if topk is not None and labels is not None:
            hit50 = res.iou_v1 >= 0.5
            self.top1_loc += (hit50 & topk_hits(topk, labels, 1)[:, None]).sum(axis=0)
            self.top5_loc += (hit50 & topk_hits(topk, labels, 5)[:, None]).sum(axis=0)
            self.cls_count += len(res.iou_v1)

    def curves(self) -> dict[str, Any]:
        """BoxAcc-vs-threshold curves (percent), for plots and the JSON report."""
        out: dict[str, Any] = {"thresholds": self.thresholds.tolist()}
        for k, delta in enumerate(self.iou_thresholds):
            out[f"boxacc_v1_iou{delta}"] = (100.0 * self.correct_v1[k] / max(self.count, 1)).tolist()
            if self.multi_contour:
                out[f"boxacc_v2_iou{delta}"] = (100.0 * self.correct_v2[k] / max(self.count, 1)).tolist()
        return out

    def evaluate(self) -> dict[str, Any]:
        if self.count == 0:
            raise RuntimeError("box evaluator saw no image")
        acc_v1 = 100.0 * self.correct_v1 / self.count
        acc_v2 = 100.0 * self.correct_v2 / self.count
        k50 = self.iou_thresholds.index(50)
        best = int(np.argmax(acc_v1[k50]))  # first best, as numpy's max/argmax
        out: dict[str, Any] = {
            "oracle/maxboxacc": float(acc_v1[k50, best]),
            "oracle/maxboxacc_threshold": float(self.thresholds[best]),
            "oracle/gt_known_loc": float(acc_v1[k50, best]),
        }
        if self.cls_count:
            out["oracle/top1_loc"] = 100.0 * float(self.top1_loc[best]) / self.cls_count
            out["oracle/top5_loc"] = 100.0 * float(self.top5_loc[best]) / self.cls_count
        if self.multi_contour:
            per_delta = []
            for k, delta in enumerate(self.iou_thresholds):
                j = int(np.argmax(acc_v2[k]))
                if delta in self.v2_deltas:
                    per_delta.append(acc_v2[k, j])
                out[f"oracle/maxboxacc_v2_iou{delta}"] = float(acc_v2[k, j])
                out[f"oracle/maxboxacc_v2_iou{delta}_threshold"] = float(self.thresholds[j])
            out["oracle/maxboxacc_v2"] = float(np.mean(per_delta))
        if self.fixed_index is not None:
            out.update(self._fixed(acc_v1[k50], acc_v2))
        out["box_cv2_fallbacks"] = self.fallbacks
        return out

    def _fixed(self, acc_v1_50: np.ndarray, acc_v2: np.ndarray) -> dict[str, Any]:
        j = self.fixed_index
        out: dict[str, Any] = {
            "fixed/threshold": float(self.thresholds[j]),
            "fixed/boxacc": float(acc_v1_50[j]),
            "fixed/gt_known_loc": float(acc_v1_50[j]),
        }
        if self.cls_count:
            out["fixed/top1_loc"] = 100.0 * float(self.top1_loc[j]) / self.cls_count
            out["fixed/top5_loc"] = 100.0 * float(self.top5_loc[j]) / self.cls_count
        if self.multi_contour:
            for k, delta in enumerate(self.iou_thresholds):
                out[f"fixed/boxacc_v2_iou{delta}"] = float(acc_v2[k, j])
            rows = [self.iou_thresholds.index(d) for d in self.v2_deltas]
            out["fixed/boxacc_v2"] = float(np.mean(acc_v2[rows, j]))
        return out

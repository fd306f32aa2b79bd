"""Pixel metrics from foreground/background score histograms pooled over the dataset (fixed-size state).

PxAP (Choe et al., CVPR 2020, https://arxiv.org/abs/2001.07437), with wsolevaluation's bins: thresholds
``tau_0 < ... < tau_{T-1}`` plus right edges 1, 2, 3 give bins ``[tau_0, tau_1), ..., [tau_{T-1}, 1), [1, 2),
[2, 3]``. Cumulating the bins from the top gives, for ``k = 0..T+1``, ``TP_k`` and ``FP_k`` (pixels with score
at least the bin's left edge), ``precision_k = TP_k / (TP_k + FP_k)``, ``recall_k = TP_k / #fg`` and
``PxAP = 100 * sum_{k>=1, TP_k+FP_k>0} precision_k * (recall_k - recall_{k-1})``.

PIoU (Choe et al., "Evaluation for WSOL: Protocol, Metrics, and Datasets", TPAMI 2022,
https://arxiv.org/abs/2007.04178): pixel IoU of the pooled mask ``score >= tau`` with the GT foreground,
``IoU(tau) = TP / (TP + FP + FN)``; the oracle PIoU is its maximum over tau. Ignore pixels (255) count nowhere.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from wsol.data.records import IGNORE_VALUE
from wsol.evaluation.base import EvalBatch, threshold_index


class MaskEvaluator:
    """PxAP and PIoU (oracle and fixed threshold) from two histograms of ``T + 2`` bins."""

    def __init__(self, thresholds: np.ndarray, fixed_threshold: float | None = None):
        self.thresholds = np.asarray(thresholds, np.float64)
        self.edges = np.append(self.thresholds, [1.0, 2.0, 3.0])
        self.fixed_index = None if fixed_threshold is None else threshold_index(self.thresholds, fixed_threshold)
        self.reset()

    def reset(self) -> None:
        self.fg_hist = np.zeros(len(self.edges) - 1, np.int64)
        self.bg_hist = np.zeros(len(self.edges) - 1, np.int64)
        self.count = 0

    def state_nbytes(self) -> int:
        return self.fg_hist.nbytes + self.bg_hist.nbytes

    def process(self, batch: EvalBatch) -> None:
        if batch.masks is None or batch.norm_maps is None:
            raise ValueError("mask evaluation needs GT masks and normalised maps")
        fg, bg = self.histograms(batch.norm_maps, batch.masks, batch.image_ids)
        self.add(fg, bg, len(batch.image_ids))

    def add(self, fg_hist: np.ndarray, bg_hist: np.ndarray, count: int) -> None:
        """Accumulate histograms computed elsewhere (:meth:`histograms`, e.g. in a worker thread)."""
        self.fg_hist += fg_hist
        self.bg_hist += bg_hist
        self.count += count

    def histograms(self, maps: Any, masks: Any, image_ids: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """Foreground and background score histograms of (B, H, W) maps in [0, 1] and 0/1/255 masks, with
        np.histogram's rule: bin k holds ``edges[k] <= s < edges[k + 1]`` (the last bin is closed). numpy arrays
        stay in numpy (no torch import); tensors are binned on their own device."""
        if tuple(masks.shape) != tuple(maps.shape):
            raise ValueError(f"masks of shape {tuple(masks.shape)} do not match maps {tuple(maps.shape)}")
        nbins = len(self.edges) - 1
        if isinstance(maps, np.ndarray) and isinstance(masks, np.ndarray):
            idx = np.clip(np.searchsorted(self.edges, maps.ravel(), side="right") - 1, 0, nbins - 1)
            flat = masks.ravel()
            fg = np.bincount(idx[flat == 1], minlength=nbins)
            bg = np.bincount(idx[flat == 0], minlength=nbins)
            bad = bool(((flat != 0) & (flat != 1) & (flat != IGNORE_VALUE)).any())
        else:
            import torch

            maps = torch.as_tensor(maps)
            masks = torch.as_tensor(masks).to(maps.device)
            edges = torch.as_tensor(self.edges, dtype=torch.float64, device=maps.device)
            tidx = (torch.bucketize(maps.double().flatten(), edges, right=True) - 1).clamp_(0, nbins - 1)
            tflat = masks.flatten()
            fg = torch.bincount(tidx[tflat == 1], minlength=nbins).cpu().numpy()
            bg = torch.bincount(tidx[tflat == 0], minlength=nbins).cpu().numpy()
            bad = bool(((tflat != 0) & (tflat != 1) & (tflat != IGNORE_VALUE)).any())
        if bad:
            raise ValueError(f"masks of images {image_ids} hold values other than 0, 1 and {IGNORE_VALUE}")
        return fg.astype(np.int64), bg.astype(np.int64)

    def _cumulative(self) -> tuple[np.ndarray, np.ndarray, float]:
        tp = self.fg_hist[::-1].cumsum().astype(np.float64)
        fp = self.bg_hist[::-1].cumsum().astype(np.float64)
        n_fg = float(self.fg_hist.sum())
        if n_fg <= 0:
            raise RuntimeError("no foreground pixel in the ground-truth masks of the evaluated set (empty mask set)")
        if (tp + fp <= 0).all():
            raise RuntimeError("no pixel was scored: the evaluated set has no valid mask pixel")
        return tp, fp, n_fg

    def curves(self) -> dict[str, Any]:
        tp, fp, n_fg = self._cumulative()
        with np.errstate(invalid="ignore", divide="ignore"):
            precision = np.where(tp + fp > 0, tp / (tp + fp), np.nan)
        # None (JSON null) where nothing is predicted positive and precision is undefined
        return {
            "pr_precision": [None if np.isnan(v) else float(v) for v in precision],
            "pr_recall": (tp / n_fg).tolist(),
            "piou_curve": self._piou_curve().tolist(),
        }

    def _piou_curve(self) -> np.ndarray:
        """IoU(tau_i) for every CAM threshold, in threshold order (percent)."""
        tp = self.fg_hist[::-1].cumsum()[::-1][: len(self.thresholds)].astype(np.float64)
        fp = self.bg_hist[::-1].cumsum()[::-1][: len(self.thresholds)].astype(np.float64)
        fn = self.fg_hist.sum() - tp
        denom = tp + fp + fn
        return 100.0 * np.divide(tp, denom, out=np.zeros_like(tp), where=denom > 0)

    def evaluate(self) -> dict[str, Any]:
        if self.count == 0:
            raise RuntimeError("mask evaluator saw no image")
        tp, fp, n_fg = self._cumulative()
        nonzero = (tp + fp) != 0
        with np.errstate(invalid="ignore", divide="ignore"):
            precision = tp / (tp + fp)
        recall = tp / n_fg
        pxap = 100.0 * float((precision[1:] * np.diff(recall))[nonzero[1:]].sum())
        piou = self._piou_curve()
        best = int(np.argmax(piou))
        out: dict[str, Any] = {
            "pxap": pxap,
            "oracle/piou": float(piou[best]),
            "oracle/piou_threshold": float(self.thresholds[best]),
        }
        if self.fixed_index is not None:
            out["fixed/piou"] = float(piou[self.fixed_index])
            out["fixed/piou_threshold"] = float(self.thresholds[self.fixed_index])
        return out

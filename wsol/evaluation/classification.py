"""Top-1 / top-5 classification accuracy (ILSVRC protocol, Russakovsky et al., IJCV 2015,
https://arxiv.org/abs/1409.0575): ``top-k = 100 * #{i : y_i in topk(logits_i)} / N``."""

from __future__ import annotations

from typing import Any

import numpy as np

from wsol.evaluation.base import EvalBatch


def topk_hits(topk: np.ndarray, labels: np.ndarray, k: int) -> np.ndarray:
    """(B,) bool: the GT label is among the first ``k`` predictions."""
    return (np.asarray(topk)[:, :k] == np.asarray(labels)[:, None]).any(axis=1)


class ClassificationEvaluator:
    """Counts top-1 and top-5 hits; state is two integers."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.count = 0
        self.top1 = 0
        self.top5 = 0

    def process(self, batch: EvalBatch) -> None:
        if batch.topk is None:
            raise ValueError("classification evaluation needs the top-k predictions of every image")
        self.count += len(batch.labels)
        self.top1 += int(topk_hits(batch.topk, batch.labels, 1).sum())
        self.top5 += int(topk_hits(batch.topk, batch.labels, 5).sum())

    def evaluate(self) -> dict[str, Any]:
        if self.count == 0:
            raise RuntimeError("classification evaluator saw no image")
        return {"top1_cls": 100.0 * self.top1 / self.count, "top5_cls": 100.0 * self.top5 / self.count}

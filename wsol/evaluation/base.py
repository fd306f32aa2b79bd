"""The evaluator protocol (reset / process / evaluate), the batch every evaluator reads, and a combinator.

Evaluators accumulate fixed-size state (per-threshold counters, score histograms) so memory does not grow with
the dataset (the design of detectron2's ``DatasetEvaluator`` and wsolevaluation's ``evaluation.py``).
Result keys say which threshold a figure uses: ``oracle/...`` = threshold chosen on the evaluated split itself
(wsolevaluation's protocol), ``fixed/...`` = a threshold chosen beforehand (on val) and passed in.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

if TYPE_CHECKING:
    import torch


@dataclass
class EvalBatch:
    """What the evaluators of one batch see; every map is in the 224 x 224 evaluation frame."""

    image_ids: list[str]
    labels: np.ndarray  # (B,) int GT class
    norm_maps: torch.Tensor | None = None  # (B, H, W) float in [0, 1], GT-class maps (any device)
    q_maps: np.ndarray | None = None  # (B, H, W) uint8 = uint8(norm_maps * 255), on CPU
    topk: np.ndarray | None = None  # (B, k) predicted classes, best first (k >= 5 when possible)
    gt_boxes: Sequence[np.ndarray] | None = None  # per image (G_i, 4) int inclusive boxes, eval frame
    masks: torch.Tensor | np.ndarray | None = None  # (B, H, W) uint8 0 / 1 / 255 (ignore)


class Evaluator(Protocol):
    def reset(self) -> None: ...

    def process(self, batch: EvalBatch) -> None: ...

    def evaluate(self) -> dict[str, Any]: ...


def threshold_index(thresholds: np.ndarray, value: float) -> int:
    """Index of the CAM threshold closest to ``value`` (a fixed threshold carried from val)."""
    if not 0 <= value < 1:
        raise ValueError(f"fixed threshold must lie in [0, 1), got {value}")
    return int(np.argmin(np.abs(np.asarray(thresholds) - value)))


class EvaluatorGroup:
    """Runs several evaluators on the same batches and merges their results; colliding keys are an error."""

    def __init__(self, evaluators: Sequence[Evaluator]):
        self.evaluators = list(evaluators)

    def reset(self) -> None:
        for ev in self.evaluators:
            ev.reset()

    def process(self, batch: EvalBatch) -> None:
        for ev in self.evaluators:
            ev.process(batch)

    def evaluate(self) -> dict[str, Any]:
        merged: dict[str, Any] = {}
        for ev in self.evaluators:
            out = ev.evaluate()
            clash = sorted(set(out) & set(merged))
            if clash:
                raise KeyError(f"evaluator {type(ev).__name__} reports keys already reported by another: {clash}")
            merged.update(out)
        return merged

    def curves(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for ev in self.evaluators:
            if hasattr(ev, "curves"):
                out.update(ev.curves())
        return out

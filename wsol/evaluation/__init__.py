"""WSOL metrics with fixed-size state: classification, MaxBoxAcc(V2), GT-known/top-k Loc, PxAP, PIoU.

Names are imported on first use (PEP 562), so that evaluating saved score maps never imports torch.
"""

from __future__ import annotations

from wsol._lazy import lazy_attributes

_HOMES = {
    "EvalBatch": "base",
    "Evaluator": "base",
    "EvaluatorGroup": "base",
    "threshold_index": "base",
    "BoxEvaluator": "box",
    "ClassificationEvaluator": "classification",
    "MaskEvaluator": "mask",
    "evaluate_model": "loop",
    "gt_boxes_of_batch": "loop",
    "localization_record": "loop",
}

__all__ = sorted(_HOMES)


__getattr__, __dir__ = lazy_attributes(__name__, _HOMES, globals())

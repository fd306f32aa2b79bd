"""WSOL metrics with fixed-size state: classification, MaxBoxAcc(V2), GT-known/top-k Loc, PxAP, PIoU.

Names are imported on first use (PEP 562), so that evaluating saved score maps never imports torch.
"""

from __future__ import annotations

import importlib
from typing import Any

_HOMES = {
    "EvalBatch": "base", "Evaluator": "base", "EvaluatorGroup": "base", "threshold_index": "base",
    "BoxEvaluator": "box", "ClassificationEvaluator": "classification", "MaskEvaluator": "mask",
    "evaluate_model": "loop", "gt_boxes_of_batch": "loop", "localization_record": "loop",
}

__all__ = sorted(_HOMES)


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{_HOMES[name]}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_HOMES))

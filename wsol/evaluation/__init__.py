"""WSOL metrics with fixed-size state: classification, MaxBoxAcc(V2), GT-known/top-k Loc, PxAP, PIoU."""

from wsol.evaluation.base import EvalBatch, Evaluator, EvaluatorGroup, threshold_index
from wsol.evaluation.box import BoxEvaluator
from wsol.evaluation.classification import ClassificationEvaluator
from wsol.evaluation.loop import evaluate_model, gt_boxes_of_batch, localization_record
from wsol.evaluation.mask import MaskEvaluator

__all__ = [
    "BoxEvaluator", "ClassificationEvaluator", "EvalBatch", "Evaluator", "EvaluatorGroup", "MaskEvaluator",
    "evaluate_model", "gt_boxes_of_batch", "localization_record", "threshold_index",
]

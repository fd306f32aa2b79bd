"""Validation each epoch: the evaluation module's ``evaluate_model`` when present, else classification only.

This is the hook point between training and ``wsol.evaluation``: ``run_validation`` returns flat metric
names (``top1_cls``, ... and whatever the evaluator reports) and, when the evaluator chose one, the fixed
localization threshold to store in the checkpoint.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from tqdm import tqdm


def classification_metrics(model: Any, loader: Any, device: torch.device, amp: bool, progress: bool = True) -> dict:
    """Top-1 / top-5 accuracy (%) and mean cross-entropy of the main-branch logits."""
    was_training = model.training
    model.eval()
    correct1 = correct5 = total = 0
    loss_sum = 0.0
    with torch.no_grad():
        for batch in tqdm(loader, desc="val", leave=False, disable=not progress):
            images = batch["image"].to(device, non_blocking=True)
            labels = batch["label"].to(device, non_blocking=True)
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
                logits = model(images).logits.float()
            loss_sum += float(F.cross_entropy(logits, labels, reduction="sum"))
            top = logits.topk(min(5, logits.shape[1]), dim=1).indices
            hits = top == labels[:, None]
            correct1 += int(hits[:, 0].sum())
            correct5 += int(hits.any(1).sum())
            total += labels.numel()
    model.train(was_training)
    total = max(total, 1)
    return {"top1_cls": 100.0 * correct1 / total, "top5_cls": 100.0 * correct5 / total, "loss": loss_sum / total}


class MasksAtEvalSize:
    """Iterate a loader with its masks resized (nearest, so 0/1/255 stay) to the evaluator's 224×224 frame.

    The evaluator upsamples maps to 224 as wsolevaluation does, while the dataset yields masks at the
    network input size (64 on the synthetic benchmark); this keeps both in one frame.
    """

    def __init__(self, loader: Any, size: int = 224) -> None:
        self.loader, self.size = loader, size

    def __len__(self) -> int:
        return len(self.loader)

    def __iter__(self):
        for batch in self.loader:
            mask = batch.get("mask")
            if mask is not None and tuple(mask.shape[-2:]) != (self.size, self.size):
                resized = F.interpolate(mask[:, None].float(), size=(self.size, self.size), mode="nearest")
                batch = {**batch, "mask": resized[:, 0].to(torch.uint8)}
            yield batch


def _evaluation_api() -> tuple[Any, Any] | None:
    try:
        from wsol.evaluation import evaluate_model, localization_record
    except ImportError:  # training still works with classification metrics only
        return None
    return evaluate_model, localization_record


def run_validation(model: Any, loader: Any, device: torch.device, amp: bool, localization: bool,
                   protocol: str = "resize", progress: bool = True) -> tuple[dict[str, float], dict | None]:
    """(metrics, the checkpoint's ``localization`` record or None).

    With ``localization`` and ``wsol.evaluation`` available, ``evaluate_model`` gives every figure
    (top-1/top-5 cls, MaxBoxAcc(V2), top-1/GT-known loc, PxAP, the threshold chosen on this split);
    otherwise classification metrics (+ mean CE) from :func:`classification_metrics`.
    """
    api = _evaluation_api() if localization else None
    if api is None:
        return classification_metrics(model, loader, device, amp, progress), None
    evaluate_model, localization_record = api
    result = evaluate_model(model, MasksAtEvalSize(loader), protocol=protocol, device=device, progress=progress)
    metrics = {k: float(v) for k, v in result.items()
               if isinstance(v, (int, float)) and not isinstance(v, bool) and k not in ("num_images",)}
    record = localization_record(result, "val") if "chosen_threshold" in result else None
    return metrics, record

"""Validation each epoch: ``wsol.evaluation.evaluate_model`` (every localization metric) or classification only.

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


def run_validation(model: Any, loader: Any, device: torch.device, amp: bool, localization: bool,
                   protocol: str = "resize", progress: bool = True) -> tuple[dict[str, float], dict | None]:
    """(metrics, the checkpoint's ``localization`` record or None).

    With ``localization``, ``wsol.evaluation.evaluate_model`` gives every figure (top-1/top-5 cls,
    MaxBoxAcc(V2), top-1/GT-known loc, PxAP, the threshold chosen on this split); otherwise classification
    metrics (+ mean CE) from :func:`classification_metrics`.
    """
    if not localization:
        return classification_metrics(model, loader, device, amp, progress), None
    from wsol.evaluation import evaluate_model, localization_record

    result = evaluate_model(model, loader, protocol=protocol, device=device, progress=progress, amp=amp)
    metrics = {k: float(v) for k, v in result.items()
               if isinstance(v, (int, float)) and not isinstance(v, bool) and k not in ("num_images",)}
    record = localization_record(result, "val") if "chosen_threshold" in result else None
    return metrics, record

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


class CrossEntropyTap(torch.nn.Module):
    """Wraps a model for ``evaluate_model`` and sums the cross-entropy of the logits that each
    ``localize(images, classes=labels[:, None])`` call already computes, so the localization pass also gives
    the validation loss at no extra forward."""

    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.model = model
        self.loss_sum, self.count = 0.0, 0

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        return self.model(*args, **kwargs)

    def localize(self, images: torch.Tensor, classes: torch.Tensor | None = None, topk: int = 1) -> Any:
        loc = self.model.localize(images, classes=classes, topk=topk)
        if classes is not None:
            labels = classes[:, 0].to(loc.logits.device)
            self.loss_sum += float(F.cross_entropy(loc.logits.float(), labels, reduction="sum"))
            self.count += labels.numel()
        return loc

    @property
    def loss(self) -> float:
        return self.loss_sum / max(self.count, 1)


def run_validation(
    model: Any,
    loader: Any,
    device: torch.device,
    amp: bool,
    localization: bool,
    protocol: str = "resize",
    progress: bool = True,
    fixed_threshold: float | None = None,
) -> tuple[dict[str, float], dict | None, dict[str, Any]]:
    """(metrics, the checkpoint's ``localization`` record or None, curves).

    With ``localization``, ``wsol.evaluation.evaluate_model`` gives every figure (top-1/top-5 cls,
    MaxBoxAcc(V2), top-1/GT-known loc, PxAP, the threshold chosen on this split, ``fixed/*`` at
    ``fixed_threshold`` when given), the mean cross-entropy ``loss`` and the BoxAcc / PR ``curves``;
    otherwise classification metrics (+ ``loss``) from :func:`classification_metrics` and no curves.
    """
    if not localization:
        return classification_metrics(model, loader, device, amp, progress), None, {}
    from wsol.evaluation import evaluate_model, localization_record

    tap = CrossEntropyTap(model)
    result = evaluate_model(
        tap,
        loader,
        protocol=protocol,
        device=device,
        progress=progress,
        amp=amp,
        fixed_threshold=fixed_threshold,
        with_curves=True,
    )
    metrics = {
        k: float(v)
        for k, v in result.items()
        if isinstance(v, (int, float)) and not isinstance(v, bool) and k not in ("num_images",)
    }
    metrics["loss"] = tap.loss
    record = localization_record(result, "val") if "chosen_threshold" in result else None
    return metrics, record, result.get("curves") or {}

"""The one function that owns the evaluation loop over a WSOLDataset loader (used by training and the CLI)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from wsol.evaluation.base import EvalBatch, EvaluatorGroup
from wsol.evaluation.box import BoxEvaluator
from wsol.evaluation.classification import ClassificationEvaluator
from wsol.evaluation.mask import MaskEvaluator
from wsol.localization.boxes import check_boxes, rescale_gt_boxes
from wsol.localization.maps import EVAL_SIZE, prepare_eval_maps, threshold_list


def localization_record(result: dict[str, Any], split: str = "val") -> dict[str, Any]:
    """The checkpoint's ``localization`` entry: the threshold chosen on ``split`` and the metric that chose it."""
    return {
        "threshold": float(result["chosen_threshold"]),
        "metric": str(result["chosen_threshold_metric"]),
        "split": split,
    }


def gt_boxes_of_batch(batch: dict[str, Any], protocol: str, eval_size: int = EVAL_SIZE) -> list[np.ndarray]:
    """GT boxes of a collated batch in the eval frame (int, inclusive), from the ORIGINAL boxes and sizes so
    that the rescaling is wsolevaluation's truncation (``resize``) or the resize + centre-crop rule."""
    out = []
    for image_id, boxes, size in zip(batch["image_id"], batch["orig_boxes"], batch["orig_size"]):
        boxes = check_boxes(np.asarray(boxes, np.float64), f"image {image_id!r}")
        out.append(rescale_gt_boxes(boxes, tuple(int(v) for v in size), protocol, eval_size))
    return out


def _build(
    batch: dict[str, Any],
    thresholds: np.ndarray,
    iou_thresholds: Sequence[int],
    multi_contour: bool,
    fixed_threshold: float | None,
    num_threads: int | None,
) -> EvaluatorGroup:
    evaluators: list[Any] = [ClassificationEvaluator()]
    if any(len(b) for b in batch["orig_boxes"]):
        evaluators.append(BoxEvaluator(thresholds, iou_thresholds, multi_contour, fixed_threshold, num_threads))
    if batch.get("mask") is not None:
        evaluators.append(MaskEvaluator(thresholds, fixed_threshold))
    return EvaluatorGroup(evaluators)


@torch.no_grad()
def evaluate_model(
    model: torch.nn.Module,
    loader,
    *,
    cam_curve_interval: float = 0.01,
    iou_thresholds: Sequence[int] = (30, 50, 70),
    multi_contour: bool = True,
    protocol: str = "resize",
    fixed_threshold: float | None = None,
    device: torch.device | str | None = None,
    with_curves: bool = False,
    num_threads: int | None = None,
    progress: bool = True,
    overlap: bool | None = None,
    amp: bool = False,
) -> dict[str, Any]:
    """Classify and localise every image of ``loader``; return a flat dict of every figure.

    Per batch: ``model.localize(images, classes=labels[:, None])`` gives the GT-class maps and the logits
    (top-1/top-5 from the logits); maps are upsampled bicubically to 224 and normalised on the model's device;
    only the uint8 maps go to the CPU for the component-tree box pass. Keys: ``top1_cls``, ``top5_cls``,
    ``oracle/*`` (best threshold on this split), ``fixed/*`` (at ``fixed_threshold``, when given), ``pxap`` when
    the loader yields masks, ``chosen_threshold`` (+ ``chosen_threshold_metric``) to carry to test, and
    ``curves`` (a dict of lists) when ``with_curves``. The model's train/eval mode is restored afterwards.

    ``overlap`` (default: on for CUDA) runs the post-processing of batch i in a worker thread while the model
    computes batch i + 1, so that the box pass (which releases the GIL) keeps up with a fast GPU; batches are
    still processed one at a time and in order, so the figures are identical. ``amp`` runs the model under
    bf16 autocast (the maps are cast to float64, as wsolevaluation's, before any post-processing).
    """
    thresholds = threshold_list(cam_curve_interval)
    device = torch.device(device) if device is not None else next(model.parameters()).device
    was_training = model.training
    model.eval()
    group: EvaluatorGroup | None = None
    count, start = 0, time.perf_counter()
    overlap = device.type == "cuda" if overlap is None else overlap
    worker = ThreadPoolExecutor(1) if overlap else None
    pending: Future | None = None
    try:
        for batch in tqdm(loader, desc="evaluate", disable=not progress, leave=False):
            if group is None:
                group = _build(batch, thresholds, iou_thresholds, multi_contour, fixed_threshold, num_threads)
            images = batch["image"].to(device, non_blocking=True)
            labels = batch["label"].to(device)
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
                loc = model.localize(images, classes=labels[:, None])
            norm, q = prepare_eval_maps(loc.maps[:, 0], batch["image_id"])
            k = min(5, loc.logits.shape[1])
            eval_batch = EvalBatch(
                image_ids=list(batch["image_id"]),
                labels=batch["label"].numpy(),
                norm_maps=norm,
                q_maps=q,
                topk=loc.logits.float().topk(k, dim=1).indices.cpu().numpy(),
                gt_boxes=gt_boxes_of_batch(batch, protocol) if any(len(b) for b in batch["orig_boxes"]) else None,
                masks=_masks_at_eval_size(batch.get("mask"), device),
            )
            if worker is None:
                group.process(eval_batch)
            else:
                if pending is not None:
                    pending.result()  # one batch in flight: order and memory stay bounded
                pending = worker.submit(group.process, eval_batch)
            count += len(images)
        if pending is not None:
            pending.result()
    finally:
        if worker is not None:
            worker.shutdown(wait=True)
        model.train(was_training)
    if group is None:
        raise RuntimeError("the evaluation loader yielded no batch")
    result = group.evaluate()
    result.update(_chosen(result))
    result["num_images"] = count
    result["images_per_s"] = count / max(time.perf_counter() - start, 1e-9)
    result["cam_curve_interval"] = cam_curve_interval
    result["protocol"] = protocol
    if with_curves:
        result["curves"] = group.curves()
    return result


def _masks_at_eval_size(mask: torch.Tensor | None, device: torch.device) -> torch.Tensor | None:
    """GT masks in the 224 x 224 frame of the maps (nearest neighbour keeps 0 / 1 / 255), on ``device``."""
    if mask is None:
        return None
    mask = torch.as_tensor(mask).to(device)
    if tuple(mask.shape[-2:]) != (EVAL_SIZE, EVAL_SIZE):
        mask = F.interpolate(mask[:, None].float(), size=(EVAL_SIZE, EVAL_SIZE), mode="nearest")[:, 0]
        mask = mask.to(torch.uint8)
    return mask


def _chosen(result: dict[str, Any]) -> dict[str, Any]:
    """The threshold to carry from val to test: MaxBoxAcc's when boxes were evaluated, else PIoU's."""
    if "oracle/maxboxacc_threshold" in result:
        return {"chosen_threshold": result["oracle/maxboxacc_threshold"], "chosen_threshold_metric": "maxboxacc"}
    if "oracle/piou_threshold" in result:
        return {"chosen_threshold": result["oracle/piou_threshold"], "chosen_threshold_metric": "piou"}
    return {}

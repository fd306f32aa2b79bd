"""A picture of a checkpoint's localization on a split: one panel per image, a few images of every class.

Each panel shows the original image resized to ``panel`` px with the GT-class map (heatmap), GT boxes (green),
the largest region's box at the given threshold (red, with its IoU against the best-matching GT box) and the
mask outline when the split has masks. The caption is ``gt→predicted`` class, green tick when both the class
and the box (IoU ≥ 0.5) are right.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import torch

from wsol.localization import box_iou, normalize_maps, regions_at_threshold
from wsol.viz.overlays import make_grid, render_localization, save_png


def _pick_indices(labels: list[int], count: int) -> list[int]:
    """Round-robin over classes so every class shows up, in dataset order within a class."""
    by_class: dict[int, list[int]] = {}
    for i, label in enumerate(labels):
        by_class.setdefault(label, []).append(i)
    picked: list[int] = []
    queues = [list(v) for _, v in sorted(by_class.items())]
    while len(picked) < count and any(queues):
        for q in queues:
            if q and len(picked) < count:
                picked.append(q.pop(0))
    return picked


@torch.no_grad()
def render_gallery(checkpoint: str | Path, data_root: str | Path, split: str, threshold: float,
                   out_png: str | Path, count: int = 24, panel: int = 160, device: str = "cpu") -> Path:
    """Draw ``count`` test images with their maps and boxes into one PNG grid; returns its path."""
    from wsol.data import WSOLDataset, build_transform, load_split
    from wsol.engine.checkpoint import load_model

    model, cfg = load_model(str(checkpoint), map_location=device)
    model.eval().to(device)
    info = load_split(data_root, split)
    size = int(cfg.data.input_size)
    dataset = WSOLDataset(info, build_transform("eval", size, "resize", size))
    names = info.class_names
    panels = []
    for i in _pick_indices([r.label for r in info.records], count):
        item = dataset[i]
        rec = info.records[i]
        loc = model.localize(item["image"][None].to(device), classes=torch.tensor([[rec.label]], device=device))
        pred = int(loc.logits.argmax(1))
        cam = torch.nn.functional.interpolate(loc.maps[:, :1].float(), size=(panel, panel), mode="bicubic",
                                              align_corners=False)[0, 0]
        cam = normalize_maps(cam[None], [rec.image_id])[0].cpu().numpy()
        image = cv2.cvtColor(cv2.imread(str(info.image_path(i))), cv2.COLOR_BGR2RGB)
        image = cv2.resize(image, (panel, panel), interpolation=cv2.INTER_AREA)
        w, h = rec.size
        gt = rec.boxes * np.array([panel / w, panel / h, panel / w, panel / h], np.float32)
        _, boxes, areas = regions_at_threshold(cam, threshold)
        pred_boxes = boxes[np.argmax(areas)][None] if len(areas) else np.zeros((0, 4))
        ious = box_iou(pred_boxes, gt).max(1) if len(pred_boxes) and len(gt) else np.zeros(len(pred_boxes))
        mask = info.load_mask(i) if info.has_masks else None
        ok = pred == rec.label and len(ious) and ious.max() >= 0.5
        title = f"{'+' if ok else 'x'} {names[rec.label][:8]}>{names[pred][:8]}"
        panels.append(render_localization(image, cam, gt, pred_boxes, ious.tolist(), mask, title))
    return save_png(out_png, make_grid(panels, ncols=8))

"""Per-image results of a checkpoint on a split, with the evaluator's own conventions, in one streaming pass.

For every image: top-1 / top-5 classes, the GT-class map upsampled bicubically to 224 and min-max normalised
(:func:`wsol.localization.maps.prepare_eval_maps`, the evaluator's own pre-processing), quantised as
``uint8(map * 255)``, the MaxBoxAcc (v1) box at the CAM threshold — the box of the largest contour of
``q > int(tau * max q)`` in wsolevaluation's ``(x, y, x + w, y + h)`` convention, computed by the evaluator's own
:func:`wsol.localization.threshold_ious` — and its best inclusive IoU with the GT boxes rescaled to the eval
frame exactly as :func:`wsol.evaluation.loop.gt_boxes_of_batch` does. So ``mean(iou >= 0.5)`` over the records
is the evaluator's ``fixed/gt_known_loc`` at the same threshold, and the share of ``correct`` records its
``fixed/top1_loc`` (Choe et al., CVPR 2020, https://arxiv.org/abs/2001.07437). The threshold is snapped to the
evaluator's grid ``np.arange(0, 1, interval)`` first, as ``fixed_threshold`` is. The number of regions (8-connected,
as cv2.findContours sees them; 0 = nothing above the threshold = "missed") uses the same quantised rule.

Thumbnails (image + heatmap + GT boxes + predicted box with IoU + mask contour) are written to disk as they are
made, named by dataset index (``000042.png``), never by image id. Records are plain dicts (JSON-ready).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
from torch.utils.data import DataLoader, Subset
from tqdm import tqdm

from wsol.data.imageio import read_image
from wsol.data.records import collate_samples
from wsol.drawing import render_localization, save_png
from wsol.evaluation.base import threshold_index
from wsol.evaluation.loop import gt_boxes_of_batch
from wsol.fileio import atomic_write_json, safe_join
from wsol.localization import EVAL_SIZE, threshold_ious, threshold_levels, threshold_list
from wsol.localization.maps import prepare_eval_maps
from wsol.viz.taxonomy import category_names, classify

THUMB_SIZE = 160
CROP_RESIZE = 256  # resize_crop protocol: resize to 256, centre crop 224 (as rescale_gt_boxes' default)


def count_regions(q: np.ndarray, tau: np.ndarray) -> np.ndarray:
    """Number of 8-connected regions of ``q > int(tau * max q)`` per quantised map (B, H, W): the evaluator's rule."""
    levels = threshold_levels(q.reshape(len(q), -1).max(axis=1), tau)[:, 0]
    return np.array(
        [cv2.connectedComponents((m > lev).astype(np.uint8), connectivity=8)[0] - 1 for m, lev in zip(q, levels)],
        np.int64,
    )


def snap_threshold(threshold: float, interval: float = 0.01) -> float:
    """The evaluator's grid value closest to ``threshold`` (what ``fixed_threshold`` is turned into)."""
    grid = threshold_list(interval)
    return float(grid[threshold_index(grid, float(threshold))])


def class_names_of(source: Any) -> list[str]:
    """The split's class names, or ``class <i>`` when it has none for some class."""
    names = list(getattr(source.info, "class_names", None) or [])
    n = int(getattr(source.model, "num_classes", len(names)))
    return [names[i] if i < len(names) and names[i] else f"class {i}" for i in range(max(n, len(names)))]


def eval_frame_image(image: np.ndarray, protocol: str, size: int = THUMB_SIZE) -> np.ndarray:
    """An original RGB image seen as the 224 x 224 eval frame (``resize`` or resize-256 + centre crop), at ``size``."""
    if protocol == "resize_crop":
        image = cv2.resize(image, (CROP_RESIZE, CROP_RESIZE), interpolation=cv2.INTER_AREA)
        o = (CROP_RESIZE - EVAL_SIZE) // 2
        image = image[o : o + EVAL_SIZE, o : o + EVAL_SIZE]
    return cv2.resize(image, (size, size), interpolation=cv2.INTER_AREA)


@torch.no_grad()
def _passes(
    source: Any, threshold: float, indices: Sequence[int] | None, batch_size: int, workers: int, progress: bool
) -> Iterator[tuple[list[int], dict[str, Any], dict[str, Any]]]:
    """Yield (dataset indices, batch, per-image results of the batch) over the split (or ``indices``)."""
    protocol = str(source.config.data.get("protocol") or "resize")
    dataset = source.dataset if indices is None else Subset(source.dataset, list(indices))
    order = list(range(len(source.dataset))) if indices is None else list(indices)
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=workers, collate_fn=collate_samples)
    model, device, start = source.model.to(source.device), source.device, 0
    tau = np.array([threshold], np.float64)
    for batch in tqdm(loader, desc="per-image", disable=not progress, leave=False):
        ids = list(batch["image_id"])
        labels = batch["label"].to(device)
        loc = model.localize(batch["image"].to(device), classes=labels[:, None])
        norm, q = prepare_eval_maps(loc.maps[:, 0], ids)
        gt = gt_boxes_of_batch(batch, protocol)
        res = threshold_ious(q, tau, gt, multi_contour=False, num_threads=1)
        k = min(5, loc.logits.shape[1])
        probs = loc.logits.float().softmax(1)
        top = probs.topk(k, dim=1)
        norm_np = norm.cpu().numpy()
        regions = count_regions(q, tau)
        top1 = top.indices[:, 0].cpu().numpy()
        codes, _ = classify(res.boxes_v1[:, 0], gt, top1 == batch["label"].numpy(), regions > 0)
        out = dict(
            norm=norm_np,
            boxes=res.boxes_v1[:, 0],
            iou=res.iou_v1[:, 0],
            gt=gt,
            regions=regions,
            topk=top.indices.cpu().numpy(),
            score=top.values[:, 0].cpu().numpy(),
            categories=category_names(codes),
            protocol=protocol,
        )
        yield order[start : start + len(ids)], batch, out
        start += len(ids)


def _render(
    source: Any, index: int, batch: dict[str, Any], out: dict[str, Any], j: int, size: int, title: str | None
) -> np.ndarray:
    """The thumbnail of image ``j`` of a batch, in the eval frame scaled to ``size``."""
    image = read_image(source.info.image_path(index), source.info.origin(index))
    image = eval_frame_image(image, out["protocol"], size)
    scale = size / EVAL_SIZE
    mask = batch["mask"][j].numpy() if batch.get("mask") is not None else None
    # wsolevaluation boxes are pixel indices; draw them through the pixel centres of the thumbnail
    return render_localization(
        image,
        out["norm"][j],
        (out["gt"][j] + 0.5) * scale - 0.5,
        (out["boxes"][j][None] + 0.5) * scale - 0.5,
        [float(out["iou"][j])],
        mask,
        title,
    )


def _record(index: int, batch: dict[str, Any], out: dict[str, Any], j: int, names: list[str]) -> dict[str, Any]:
    label, topk = int(batch["label"][j]), [int(c) for c in out["topk"][j]]
    iou = float(out["iou"][j])
    return {
        "index": index,
        "image_id": str(batch["image_id"][j]),
        "label": label,
        "class_name": names[label],
        "pred": topk[0],
        "pred_name": names[topk[0]],
        "top5": topk,
        "score": round(float(out["score"][j]), 4),
        "class_correct": topk[0] == label,
        "top5_correct": label in topk,
        "iou": iou,
        "loc_correct": iou >= 0.5,
        "box": [int(v) for v in out["boxes"][j]],
        "gt_boxes": np.asarray(out["gt"][j]).astype(int).tolist(),
        "num_regions": int(out["regions"][j]),
        "category": out["categories"][j],
    }


def analyse_split(
    source: Any,
    threshold: float,
    thumb_dir: str | Path | None = None,
    *,
    batch_size: int = 32,
    workers: int = 0,
    thumb_size: int = THUMB_SIZE,
    cam_curve_interval: float = 0.01,
    progress: bool = True,
) -> list[dict[str, Any]]:
    """One record per image of ``source`` (a :class:`wsol.viz.source.VizSource`) at the CAM ``threshold``.

    With ``thumb_dir``, each image's overlay is saved there as ``<index:06d>.png`` and that file name goes into
    the record's ``thumb`` field.
    """
    tau = snap_threshold(threshold, cam_curve_interval)
    names = class_names_of(source)
    thumb_dir = Path(thumb_dir) if thumb_dir is not None else None
    if thumb_dir is not None:
        thumb_dir.mkdir(parents=True, exist_ok=True)
    records = []
    for indices, batch, out in _passes(source, tau, None, batch_size, workers, progress):
        for j, index in enumerate(indices):
            rec = _record(index, batch, out, j, names)
            rec["threshold"] = tau
            if thumb_dir is not None:
                rec["thumb"] = _save_thumb(thumb_dir, _render(source, index, batch, out, j, thumb_size, None), index)
            records.append(rec)
    return records


def _save_thumb(thumb_dir: Path, image: np.ndarray, index: int) -> str:
    """Save one overlay as ``<index:06d>.png`` (never named after the image id) and return the file name."""
    name = f"{index:06d}.png"
    save_png(safe_join(thumb_dir, name), image)
    return name


def write_thumbnails(
    source: Any,
    records: Sequence[dict[str, Any]],
    indices: Sequence[int],
    threshold: float,
    thumb_dir: str | Path,
    *,
    thumb_size: int = THUMB_SIZE,
    batch_size: int = 32,
    cam_curve_interval: float = 0.01,
    progress: bool = True,
) -> None:
    """A second pass over the chosen images only: save their overlays and set ``thumb`` in their records
    (for splits too large to keep a thumbnail of every image)."""
    tau = snap_threshold(threshold, cam_curve_interval)
    thumb_dir = Path(thumb_dir)
    thumb_dir.mkdir(parents=True, exist_ok=True)
    by_index = {int(r["index"]): r for r in records}
    for idx, batch, out in _passes(source, tau, sorted(set(indices)), batch_size, 0, progress):
        for j, index in enumerate(idx):
            by_index[index]["thumb"] = _save_thumb(
                thumb_dir, _render(source, index, batch, out, j, thumb_size, None), index
            )


def render_panels(
    source: Any,
    indices: Sequence[int],
    threshold: float,
    size: int = THUMB_SIZE,
    cam_curve_interval: float = 0.01,
    progress: bool = False,
) -> list[np.ndarray]:
    """Overlays of the chosen images (in the given order) with a ``gt>pred`` caption, for grids."""
    tau = snap_threshold(threshold, cam_curve_interval)
    names = class_names_of(source)
    panels: dict[int, np.ndarray] = {}
    for idx, batch, out in _passes(source, tau, indices, 16, 0, progress):
        for j, index in enumerate(idx):
            label, pred = int(batch["label"][j]), int(out["topk"][j][0])
            title = f"{names[label]}>{names[pred]} {out['categories'][j]}"  # wrapped to the tile, never cut
            panels[index] = _render(source, index, batch, out, j, size, title)
    return [panels[i] for i in indices]


def write_records(path: str | Path, records: list[dict[str, Any]], meta: dict[str, Any]) -> Path:
    """``{"meta": ..., "records": [...]}`` as JSON, atomically."""
    atomic_write_json(path, {"meta": meta, "records": records})
    return Path(path)


def default_evaluation(checkpoint: str | Path, split: str) -> Path | None:
    """``eval_<split>/evaluation.json`` beside the checkpoint (``wsol evaluate``) or one level up
    (``wsol quickstart``: ``runs/quickstart/{train,eval_test}``), if one exists."""
    folder = Path(checkpoint).resolve().parent
    for cand in (folder / f"eval_{split}" / "evaluation.json", folder.parent / f"eval_{split}" / "evaluation.json"):
        if cand.is_file():
            return cand
    return None


def load_evaluation(path: str | Path, split: str) -> dict[str, Any]:
    """Read the JSON of ``wsol evaluate`` and check that it evaluates ``split``."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"evaluation file {path} not found (write one with `wsol evaluate`)")
    try:
        result = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise ValueError(f"{path} is not valid JSON (line {err.lineno}): {err.msg}") from err
    if not isinstance(result, dict) or "top1_cls" not in result:
        raise ValueError(f"{path} is not an evaluation of `wsol evaluate` (no 'top1_cls' key)")
    if result.get("split") not in (None, split):
        raise ValueError(
            f"{path} evaluates split {result['split']!r}, not {split!r}; pass --split "
            f"{result['split']} or another evaluation file"
        )
    return result


def same_checkpoint(evaluation: dict[str, Any], checkpoint: str | Path) -> bool:
    """Whether an evaluation JSON was made from ``checkpoint`` (its ``checkpoint`` entry names the same file;
    True when the entry is missing)."""
    named = evaluation.get("checkpoint")
    if not named:
        return True
    try:
        return Path(named).resolve().samefile(Path(checkpoint).resolve())
    except OSError:
        return Path(named).name == Path(checkpoint).name and not Path(named).exists()


def choose_threshold(
    explicit: float | None, evaluation: dict[str, Any] | None, checkpoint: str | Path
) -> tuple[float, str]:
    """The CAM threshold to look at and where it comes from: ``explicit``, else the evaluation's
    ``fixed/threshold`` (chosen on val), else the checkpoint's stored ``localization`` threshold."""
    if explicit is not None:
        return float(explicit), "--threshold"
    if evaluation and isinstance(evaluation.get("fixed/threshold"), (int, float)):
        chosen_on = evaluation.get("fixed_threshold_from") or "val"
        return float(evaluation["fixed/threshold"]), f"fixed, chosen on {chosen_on}"
    from wsol.engine.checkpoint import checkpoint_meta

    loc = checkpoint_meta(checkpoint).get("localization")
    if isinstance(loc, dict) and "threshold" in loc:
        return float(loc["threshold"]), f"stored in the checkpoint (chosen on {loc.get('split', 'val')})"
    raise ValueError(
        f"no CAM threshold: no evaluation with a fixed/threshold and checkpoint {checkpoint} stores "
        "none; pass --threshold, or evaluate with `wsol evaluate --fixed-threshold-from val`"
    )

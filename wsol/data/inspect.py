"""Validation and summary statistics of one dataset split (the engine of ``wsol inspect-dataset``).

Box areas follow the format's convention: wsolevaluation boxes are inclusive integer pixel corners, so a
box covers ``(x1 - x0 + 1) * (y1 - y0 + 1)`` pixels (as in wsolevaluation's IoU); other formats use the
continuous ``(x1 - x0) * (y1 - y0)``. Relative area = box area / image area.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np
from tqdm import tqdm

from wsol.data.dataset import WSOLDataset
from wsol.data.errors import DatasetError
from wsol.data.records import IGNORE_VALUE
from wsol.data.split import SplitInfo

QUANTILES = (0.0, 0.1, 0.25, 0.5, 0.75, 0.9, 1.0)


def box_areas(boxes: np.ndarray, inclusive: bool) -> np.ndarray:
    b = np.asarray(boxes, np.float64).reshape(-1, 4)
    extra = 1.0 if inclusive else 0.0
    return np.clip(b[:, 2] - b[:, 0] + extra, 0, None) * np.clip(b[:, 3] - b[:, 1] + extra, 0, None)


def quantiles(values: list[float] | np.ndarray) -> dict[str, float] | None:
    v = np.asarray(values, np.float64)
    if v.size == 0:
        return None
    return {f"q{int(q * 100):02d}": float(np.quantile(v, q)) for q in QUANTILES} | {"mean": float(v.mean())}


def check_files(split: SplitInfo, show_progress: bool = True) -> tuple[list[str], list[np.ndarray | None]]:
    """Decode every image (and mask) exactly as training/evaluation would; returns (problems, masks)."""
    ds = WSOLDataset(split)
    problems: list[str] = []
    masks: list[np.ndarray | None] = []
    for i in tqdm(range(len(split)), desc=f"checking {split.name}", disable=not show_progress, leave=False):
        try:
            _, mask = ds.load_raw(i)
        except DatasetError as exc:
            problems.append(str(exc))
            mask = None
        masks.append(mask)
    return problems, masks


def summarize(split: SplitInfo, check: bool = True, show_progress: bool = True) -> dict[str, Any]:
    """Counts, per-class counts, boxes per image, relative box areas, mask coverage, part/object ratio
    (synthetic benchmark) and the list of problems found (empty when the split is clean)."""
    inclusive = split.fmt == "wsolevaluation"
    per_class = Counter(r.label for r in split.records)
    boxes_per_image = Counter(len(r.boxes) for r in split.records)
    rel_area = [
        a / (r.size[0] * r.size[1]) for r in split.records if r.size[0] > 0 for a in box_areas(r.boxes, inclusive)
    ]
    summary: dict[str, Any] = {
        "root": str(split.image_root),
        "split": split.name,
        "format": split.fmt,
        "images": len(split),
        "num_classes": split.num_classes,
        "classes_present": len(per_class),
        "images_per_class": {
            split.class_names[c] if c < len(split.class_names) else str(c): n for c, n in sorted(per_class.items())
        },
        "boxes_per_image": {str(k): v for k, v in sorted(boxes_per_image.items())},
        "boxes": int(sum(len(r.boxes) for r in split.records)),
        "box_relative_area": quantiles(rel_area),
        "images_with_masks": int(sum(r.has_mask for r in split.records)),
    }
    parts = split.extras.get("parts")
    if parts is not None:
        summary["part_object_area_ratio"] = _part_ratios(split, parts, inclusive)
    problems: list[str] = []
    if check:
        problems, masks = check_files(split, show_progress)
        fg = [float((m == 1).mean()) for m in masks if m is not None]
        ign = [float((m == IGNORE_VALUE).mean()) for m in masks if m is not None]
        summary["mask_foreground_fraction"] = quantiles(fg)
        summary["mask_ignore_fraction"] = quantiles(ign)
    summary["problems"] = problems
    return summary


def _part_ratios(split: SplitInfo, parts: dict[str, np.ndarray], inclusive: bool) -> dict[str, float] | None:
    ratios = []
    for r in split.records:
        p = parts.get(r.image_id)
        if p is None or len(p) != len(r.boxes):
            continue
        ratios.extend(box_areas(p, inclusive) / np.maximum(box_areas(r.boxes, inclusive), 1e-9))
    return quantiles(ratios)


def format_summary(s: dict[str, Any]) -> str:
    """Human-readable report of :func:`summarize`."""
    lines = [
        f"dataset {s['root']}  split {s['split']}  format {s['format']}",
        f"images {s['images']}  classes {s['num_classes']} ({s['classes_present']} present)  "
        f"boxes {s['boxes']}  images with masks {s['images_with_masks']}",
    ]
    counts = list(s["images_per_class"].values())
    if counts:
        lines.append(f"images per class: min {min(counts)}  max {max(counts)}  mean {np.mean(counts):.1f}")
    if len(counts) <= 20:
        lines += [f"  {name}: {n}" for name, n in s["images_per_class"].items()]
    lines.append("boxes (objects) per image: " + "  ".join(f"{k}: {v}" for k, v in s["boxes_per_image"].items()))
    for key, title in (
        ("box_relative_area", "box area / image area"),
        ("part_object_area_ratio", "part box area / object box area"),
        ("mask_foreground_fraction", "mask foreground fraction"),
        ("mask_ignore_fraction", "mask ignore fraction"),
    ):
        if s.get(key):
            lines.append(f"{title}: " + "  ".join(f"{k} {v:.3f}" for k, v in s[key].items()))
    if s["problems"]:
        lines.append(f"PROBLEMS ({len(s['problems'])}):")
        lines += [f"  {p}" for p in s["problems"]]
    else:
        lines.append("no problems found")
    return "\n".join(lines)

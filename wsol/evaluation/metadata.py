"""Minimal reader of wsolevaluation metadata for the score-map evaluator (``wsol evaluate-scoremaps``).

Layout (one folder per split, comma-separated lines): ``image_ids.txt`` (one id per line),
``class_labels.txt`` (``id,label``), ``image_sizes.txt`` (``id,width,height``; absent for OpenImages),
``localization.txt`` (``id,x0,y0,x1,y1`` per box, or ``id,mask_path,ignore_path`` per mask for OpenImages).
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import cv2
import numpy as np

from wsol.data.records import IGNORE_VALUE, ImageRecord
from wsol.fileio import safe_join
from wsol.localization.maps import EVAL_SIZE


def split_folder(metadata_root: str | Path, split: str) -> Path:
    """``<root>/<split>`` when it holds ``image_ids.txt``, else ``<root>`` itself, else a clear error."""
    root = Path(metadata_root)
    for candidate in (root / split, root / "metadata" / split, root):
        if (candidate / "image_ids.txt").is_file():
            return candidate
    raise FileNotFoundError(f"no image_ids.txt under {root}/{split}, {root}/metadata/{split} or {root}")


def _lines(path: Path) -> list[tuple[int, list[str]]]:
    with open(path, encoding="utf-8") as f:
        return [(n, line.strip().split(",")) for n, line in enumerate(f, 1) if line.strip()]


def _ints(fields: list[str], path: Path, line: int, what: str) -> list[float]:
    try:
        return [float(v) for v in fields]
    except ValueError:
        raise ValueError(f"{path}:{line}: expected {what}, got {','.join(fields)!r}") from None


def read_wsolevaluation_split(metadata_root: str | Path, split: str) -> list[ImageRecord]:
    """Records of one split, boxes in original pixels (mask paths relative to the mask root)."""
    folder = split_folder(metadata_root, split)
    ids = [fields[0] for _, fields in _lines(folder / "image_ids.txt")]
    labels: dict[str, int] = {}
    for n, fields in _lines(folder / "class_labels.txt"):
        labels[fields[0]] = int(_ints(fields[1:2], folder / "class_labels.txt", n, "id,label")[0])
    sizes: dict[str, tuple[int, int]] = {}
    if (folder / "image_sizes.txt").is_file():
        for n, fields in _lines(folder / "image_sizes.txt"):
            w, h = _ints(fields[1:3], folder / "image_sizes.txt", n, "id,width,height")
            sizes[fields[0]] = (int(w), int(h))
    boxes: dict[str, list[list[float]]] = defaultdict(list)
    masks: dict[str, list[str]] = defaultdict(list)
    ignores: dict[str, str] = {}
    loc_path = folder / "localization.txt"
    if loc_path.is_file():
        for n, fields in _lines(loc_path):
            if len(fields) == 5:
                boxes[fields[0]].append(_ints(fields[1:], loc_path, n, "id,x0,y0,x1,y1"))
            elif len(fields) == 3:
                masks[fields[0]].append(fields[1])
                ignores[fields[0]] = fields[2]
            else:
                raise ValueError(f"{loc_path}:{n}: expected id,x0,y0,x1,y1 or id,mask_path,ignore_path")
    records = []
    for image_id in ids:
        if image_id not in labels:
            raise ValueError(f"{folder / 'class_labels.txt'}: no label for image {image_id!r}")
        records.append(ImageRecord(
            image_id=image_id, label=labels[image_id], size=sizes.get(image_id, (EVAL_SIZE, EVAL_SIZE)),
            boxes=np.asarray(boxes.get(image_id, []), np.float32).reshape(-1, 4),
            mask_paths=tuple(masks.get(image_id, ())), ignore_path=ignores.get(image_id)))
    return records


def _read_mask(root: Path, relative: str, image_id: str) -> np.ndarray:
    path = safe_join(root, relative)
    mask = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    if mask is None:
        raise FileNotFoundError(f"mask {path} of image {image_id!r} is missing or unreadable")
    return cv2.resize(np.float32(mask), (EVAL_SIZE, EVAL_SIZE), interpolation=cv2.INTER_NEAREST) > 0.5


def load_gt_mask(mask_root: str | Path, record: ImageRecord) -> np.ndarray:
    """wsolevaluation's GT mask at 224: union of the instance masks = 1; ignore box minus foreground = 255."""
    if not record.mask_paths:
        raise ValueError(f"image {record.image_id!r} has no ground-truth mask")
    root = Path(mask_root)
    fg = np.stack([_read_mask(root, p, record.image_id) for p in record.mask_paths]).any(axis=0)
    out = fg.astype(np.uint8)
    if record.ignore_path:
        ignore = _read_mask(root, record.ignore_path, record.image_id) & ~fg
        out[ignore] = IGNORE_VALUE
    return out

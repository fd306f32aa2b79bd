"""Reader of the native CUB-200-2011 release (Wah et al., 2011, https://www.vision.caltech.edu/datasets/cub_200_2011/).

Files under ``root`` (space separated, one record per line, image ids and class ids 1-based):

- ``images.txt``: ``<image_id> <path relative to root/images>``
- ``image_class_labels.txt``: ``<image_id> <class_id>`` (1-based; stored 0-based as ``class_id - 1``)
- ``bounding_boxes.txt``: ``<image_id> <x> <y> <width> <height>`` (floats; converted to ``x, y, x+w, y+h``)
- ``train_test_split.txt``: ``<image_id> <1 = train, 0 = test>``
- ``classes.txt`` (optional): ``<class_id> <name>``

Splits: ``test`` (official test), ``trainval`` (official train), and a deterministic hold-out of it:
``val`` = for each class, the last ``ceil(val_fraction * n)`` of its ``n`` official-train images in
``images.txt`` order, ``train`` = the rest (``val_fraction=0`` makes ``train == trainval`` and ``val`` empty).
Image sizes are read from file headers (PIL, no decoding); a missing file keeps size (0, 0) and fails
when the dataset loads it.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np

from wsol.data.errors import DatasetError, check_box, where
from wsol.data.records import ImageRecord
from wsol.data.split import SplitInfo
from wsol.fileio import input_path

CUB_SPLITS = ("train", "val", "trainval", "test")


def _table(path: Path, ncols: int, what: str) -> dict[int, tuple[int, list[str]]]:
    """image/class id → (line number, remaining fields) for a space-separated CUB file."""
    if not path.is_file():
        raise DatasetError(f"{path}: CUB file is missing; expected {what}")
    out: dict[int, tuple[int, list[str]]] = {}
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        fields = line.split(maxsplit=ncols - 1) if line.strip() else []
        if not fields:
            continue
        if len(fields) != ncols or not fields[0].isdigit():
            raise DatasetError(f"{where(path, lineno)}: expected {what}, got {line.strip()!r}")
        key = int(fields[0])
        if key in out:
            raise DatasetError(f"{where(path, lineno)}: id {key} repeats line {out[key][0]}")
        out[key] = (lineno, fields[1:])
    return out


def _int(text: str, at: str, what: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise DatasetError(f"{at}: {what} {text!r} is not an integer") from None


def _image_size(path: Path) -> tuple[int, int]:
    from PIL import Image

    try:
        with Image.open(path) as im:
            return im.size
    except Exception:  # unreadable files fail later, per item, with the metadata line
        return (0, 0)


def read_cub_split(root: str | os.PathLike, split: str, val_fraction: float = 0.1) -> SplitInfo:
    root = Path(root)
    if split not in CUB_SPLITS:
        raise DatasetError(f"unknown CUB split {split!r}; expected one of {CUB_SPLITS}")
    if not 0.0 <= val_fraction < 1.0:
        raise ValueError(f"val_fraction must be in [0, 1), got {val_fraction}")
    images = _table(root / "images.txt", 2, "<image_id> <relative path>")
    labels = _table(root / "image_class_labels.txt", 2, "<image_id> <class_id (1-based)>")
    boxes = _table(root / "bounding_boxes.txt", 5, "<image_id> <x> <y> <width> <height>")
    is_train = _table(root / "train_test_split.txt", 2, "<image_id> <is_training_image 0/1>")
    names = _class_names(root, labels)
    for lineno, (value,) in labels.values():  # every label is checked, whichever split is read
        at = where(root / "image_class_labels.txt", lineno)
        if not 1 <= _int(value, at, "class id") <= len(names):
            raise DatasetError(f"{at}: unknown class id {value}; expected 1..{len(names)} (1-based)")
    selected = _select(split, images, labels, is_train, val_fraction, root)
    image_root = root / "images"
    records, origins = [], []
    for image_id in selected:
        lineno, (rel,) = images[image_id]
        try:
            path = input_path(image_root, rel)
        except ValueError as exc:
            raise DatasetError(f"{where(root / 'images.txt', lineno)}: {exc}") from None
        size = _image_size(path)
        label = int(labels[image_id][1][0])
        box = np.zeros((0, 4), np.float32)
        if image_id in boxes:
            b_line, vals = boxes[image_id]
            at = where(root / "bounding_boxes.txt", b_line)
            try:
                x, y, w, h = (float(v) for v in vals)
            except ValueError:
                raise DatasetError(f"{at}: expected 4 numbers <x> <y> <width> <height>, got {vals}") from None
            if w < 0 or h < 0:
                raise DatasetError(f"{at}: negative box width/height ({w:g}, {h:g}); expected >= 0")
            check_box((x, y, x + w, y + h), size, at)
            box = np.array([[x, y, x + w, y + h]], np.float32)
        records.append(ImageRecord(rel, label - 1, size, box))
        origins.append(where(root / "images.txt", lineno))
    return SplitInfo(
        records=records,
        image_root=image_root,
        mask_root=None,
        class_names=names,
        num_classes=len(names),
        name=split,
        fmt="cub",
        origins=origins,
    )


def _class_names(root: Path, labels: dict[int, tuple[int, list[str]]]) -> list[str]:
    path = root / "classes.txt"
    if path.is_file():
        table = _table(path, 2, "<class_id> <name>")
        if sorted(table) != list(range(1, len(table) + 1)):
            raise DatasetError(f"{path}: class ids must be 1..{len(table)} without gaps")
        return [table[c][1][0].strip() for c in range(1, len(table) + 1)]
    top = max((int(v[0]) for _, v in labels.values() if v[0].isdigit()), default=0)
    return [str(c) for c in range(1, top + 1)]


def _select(split, images, labels, is_train, val_fraction, root) -> list[int]:
    for image_id, (lineno, _) in images.items():
        if image_id not in labels or image_id not in is_train:
            raise DatasetError(
                f"{where(root / 'images.txt', lineno)}: image {image_id} has no line in "
                f"image_class_labels.txt or train_test_split.txt"
            )
    flag = {i: v[0].strip() for i, (_, v) in is_train.items()}
    bad = [i for i, f in flag.items() if f not in ("0", "1")]
    if bad:
        at = where(root / "train_test_split.txt", is_train[bad[0]][0])
        raise DatasetError(f"{at}: is_training_image must be 0 or 1, got {flag[bad[0]]!r}")
    ordered = sorted(images, key=lambda i: images[i][0])
    if split == "test":
        return [i for i in ordered if flag[i] == "0"]
    trainval = [i for i in ordered if flag[i] == "1"]
    if split == "trainval":
        return trainval
    by_class: dict[str, list[int]] = {}
    for i in trainval:
        by_class.setdefault(labels[i][1][0], []).append(i)
    val = (
        {i for ids in by_class.values() for i in ids[len(ids) - math.ceil(val_fraction * len(ids)) :]}
        if val_fraction > 0
        else set()
    )
    return [i for i in trainval if (i in val) == (split == "val")]

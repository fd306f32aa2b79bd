"""The registry of on-disk dataset formats and ``load_split`` (format detection + dispatch).

Formats (``fmt``), tried by ``"auto"`` in this order:

- ``"wsolevaluation"``: ``root/metadata/<split>/{image_ids,class_labels,image_sizes,localization}.txt``
  (Choe et al., "Evaluating Weakly Supervised Object Localization Methods Right", CVPR 2020,
  https://arxiv.org/abs/2001.07437); see :mod:`wsol.data.wsoleval`.
- ``"cub"``: the native CUB-200-2011 release folder; see :mod:`wsol.data.cub`.
- ``"coco"``: COCO instances json read with pycocotools; see :mod:`wsol.data.coco`.
- ``"auto"``: the first of the above whose files exist under ``root``.

Readers import :class:`wsol.data.split.SplitInfo`; this module imports the readers. Imports go one way
(split ← readers ← formats), so a new format is one reader module plus one ``DATASET_FORMATS`` entry here.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from wsol.data.coco import read_coco_split
from wsol.data.cub import read_cub_split
from wsol.data.errors import DatasetError
from wsol.data.split import SplitInfo
from wsol.data.wsoleval import read_wsoleval_split
from wsol.registry import Registry


@dataclass(frozen=True)
class DatasetFormat:
    """One on-disk format: ``detect(root, split)`` says whether ``root`` holds it, ``read(root, split, **options)``
    reads a split; ``expects`` names the files ``detect`` looks for (for the error when none matches)."""

    name: str
    priority: int  # order of the ``"auto"`` detection: lowest first
    detect: Callable[[Path, str], bool]
    read: Callable[..., SplitInfo]
    expects: Callable[[str], str]

    def __call__(self, root: str | os.PathLike, split: str, **options: Any) -> SplitInfo:
        return self.read(Path(root), split, **options)


DATASET_FORMATS: Registry[DatasetFormat] = Registry("dataset format")


def _register(fmt: DatasetFormat) -> None:
    DATASET_FORMATS.register(fmt.name)(fmt)


_register(
    DatasetFormat(
        "wsolevaluation",
        0,
        lambda root, split: (root / "metadata" / split / "image_ids.txt").is_file(),
        read_wsoleval_split,
        lambda split: f"metadata/{split}/image_ids.txt (wsolevaluation)",
    )
)
_register(
    DatasetFormat(
        "cub",
        1,
        lambda root, split: (root / "images.txt").is_file() and (root / "image_class_labels.txt").is_file(),
        read_cub_split,
        lambda split: "images.txt + image_class_labels.txt (CUB-200-2011)",
    )
)
_register(
    DatasetFormat(
        "coco",
        2,
        lambda root, split: (
            root.is_file() and root.suffix == ".json" or (root / "annotations" / f"instances_{split}.json").is_file()
        ),
        read_coco_split,
        lambda split: f"annotations/instances_{split}.json (COCO)",
    )
)


def dataset_formats() -> list[DatasetFormat]:
    """Every registered format, in detection order."""
    return sorted((DATASET_FORMATS.get(name) for name in DATASET_FORMATS), key=lambda f: f.priority)


FORMATS = ("auto", *(f.name for f in dataset_formats()))


def detect_format(root: str | os.PathLike, split: str) -> str:
    """Name the on-disk format of ``root`` for ``split``; raises DatasetError listing what was looked for."""
    root = Path(root)
    formats = dataset_formats()
    for fmt in formats:
        if fmt.detect(root, split):
            return fmt.name
    raise DatasetError(
        f"{root}: cannot detect the dataset format for split {split!r}; expected one of "
        + ", ".join(f.expects(split) for f in formats)
    )


def load_split(root: str | os.PathLike, split: str, fmt: str = "auto", **options: Any) -> SplitInfo:
    """Read one split of a dataset into a :class:`SplitInfo`.

    Metadata is validated completely here (malformed lines, unknown classes, boxes outside the image);
    pixel files are only opened by the dataset, so missing images surface per item (and can be skipped in
    training). ``options`` go to the format reader (e.g. ``mask_root`` for wsolevaluation, ``val_fraction``
    for CUB, ``with_masks`` for COCO).
    """
    if fmt not in FORMATS:
        raise DatasetError(f"unknown dataset format {fmt!r}; expected one of {', '.join(FORMATS)}")
    root = Path(root)
    if not root.exists():
        raise DatasetError(f"{root}: dataset root does not exist")
    if fmt == "auto":
        fmt = detect_format(root, split)
    return DATASET_FORMATS.get(fmt)(root, split, **options)

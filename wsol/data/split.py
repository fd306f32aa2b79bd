"""``SplitInfo`` (one split of a dataset, format-independent) and ``load_split`` (format detection + dispatch).

Formats (``fmt``):

- ``"wsolevaluation"``: ``root/metadata/<split>/{image_ids,class_labels,image_sizes,localization}.txt``
  (Choe et al., "Evaluating Weakly Supervised Object Localization Methods Right", CVPR 2020,
  https://arxiv.org/abs/2001.07437); see :mod:`wsol.data.wsoleval`.
- ``"cub"``: the native CUB-200-2011 release folder; see :mod:`wsol.data.cub`.
- ``"coco"``: COCO instances json read with pycocotools; see :mod:`wsol.data.coco`.
- ``"auto"``: the first of the above whose files exist under ``root``.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from wsol.data.errors import DatasetError
from wsol.data.imageio import compose_mask, instance_masks
from wsol.data.records import ImageRecord
from wsol.fileio import input_path

FORMATS = ("auto", "wsolevaluation", "cub", "coco")


@dataclass
class SplitInfo:
    """One split: records plus where their files live. ``origins[i]`` names the metadata ``file:line`` of
    ``records[i]`` so that errors found while loading pixels can point back at the metadata."""

    records: list[ImageRecord]
    image_root: Path
    mask_root: Path | None
    class_names: list[str]
    num_classes: int
    name: str
    fmt: str = ""
    origins: list[str] = field(default_factory=list)
    mask_reader: Callable[[ImageRecord], np.ndarray] | None = None  # formats whose masks are not files (COCO)
    instance_reader: Callable[[ImageRecord], tuple[list[np.ndarray], np.ndarray | None]] | None = None
    extras: dict[str, Any] = field(default_factory=dict)  # format-specific side data (synthetic: part boxes)

    def __len__(self) -> int:
        return len(self.records)

    @property
    def has_masks(self) -> bool:
        return any(r.has_mask for r in self.records)

    def origin(self, index: int) -> str:
        return self.origins[index] if index < len(self.origins) else f"{self.name} record {index}"

    def image_path(self, index: int) -> Path:
        try:
            return input_path(self.image_root, self.records[index].image_id)
        except ValueError as exc:
            raise DatasetError(f"{self.origin(index)}: {exc}") from None

    def load_mask(self, index: int, out_size: int | None = None,
                  image_size: tuple[int, int] | None = None) -> np.ndarray | None:
        """uint8 0/1/255 mask, None when the record has no mask: (H, W) at the original image size, or
        ``out_size`` x ``out_size`` with every file resized straight there (wsolevaluation's GT masks at 224).
        ``image_size`` (w, h), when known from the decoded image, replaces the metadata's size in the checks."""
        rec = self.records[index]
        if not rec.has_mask:
            return None
        if self.mask_reader is not None:
            mask = self.mask_reader(rec)
            if out_size is not None:
                import cv2

                mask = cv2.resize(mask, (int(out_size), int(out_size)), interpolation=cv2.INTER_NEAREST)
            return mask
        if self.mask_root is None:
            raise DatasetError(f"{self.origin(index)}: record {rec.image_id!r} lists masks but the split has no "
                               f"mask root")
        try:
            files = [input_path(self.mask_root, p) for p in rec.mask_paths]
            ignore = input_path(self.mask_root, rec.ignore_path) if rec.ignore_path else None
        except ValueError as exc:
            raise DatasetError(f"{self.origin(index)}: mask of {rec.image_id!r}: {exc}") from None
        return compose_mask(files, ignore, image_size or rec.size, self.origin(index), out_size)


    def load_instances(self, index: int) -> tuple[list[np.ndarray], np.ndarray | None] | None:
        """(one (H, W) bool mask per object, the bool ignore region or None), or None when the record has no
        masks or the format keeps only the union."""
        rec = self.records[index]
        if not rec.has_mask:
            return None
        if self.instance_reader is not None:
            return self.instance_reader(rec)
        if self.mask_reader is not None or self.mask_root is None:
            return None
        files = [input_path(self.mask_root, p) for p in rec.mask_paths]
        ignore = input_path(self.mask_root, rec.ignore_path) if rec.ignore_path else None
        return instance_masks(files, ignore, rec.size, self.origin(index))


def require_images(split: SplitInfo, root: str | os.PathLike) -> SplitInfo:
    """``split`` itself, or a DatasetError when it lists no image (an empty metadata file)."""
    if not split.records:
        listing = Path(root) / "metadata" / split.name / "image_ids.txt" if split.fmt == "wsolevaluation" else root
        raise DatasetError(f"{listing}: split {split.name!r} lists no images; expected at least one")
    return split


def detect_format(root: str | os.PathLike, split: str) -> str:
    """Name the on-disk format of ``root`` for ``split``; raises DatasetError listing what was looked for."""
    root = Path(root)
    if (root / "metadata" / split / "image_ids.txt").is_file():
        return "wsolevaluation"
    if (root / "images.txt").is_file() and (root / "image_class_labels.txt").is_file():
        return "cub"
    if root.is_file() and root.suffix == ".json" or (root / "annotations" / f"instances_{split}.json").is_file():
        return "coco"
    raise DatasetError(
        f"{root}: cannot detect the dataset format for split {split!r}; expected one of "
        f"metadata/{split}/image_ids.txt (wsolevaluation), images.txt + image_class_labels.txt (CUB-200-2011), "
        f"annotations/instances_{split}.json (COCO)"
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
    if fmt == "wsolevaluation":
        from wsol.data.wsoleval import read_wsoleval_split

        return read_wsoleval_split(root, split, **options)
    if fmt == "cub":
        from wsol.data.cub import read_cub_split

        return read_cub_split(root, split, **options)
    from wsol.data.coco import read_coco_split

    return read_coco_split(root, split, **options)

"""``SplitInfo``: one split of a dataset, format-independent (records plus where their files live).

The format readers (:mod:`wsol.data.wsoleval`, :mod:`wsol.data.cub`, :mod:`wsol.data.coco`) build it; detection and
dispatch live in :mod:`wsol.data.formats` (``load_split``), which imports the readers, so imports go one way.
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

    def load_mask(
        self, index: int, out_size: int | None = None, image_size: tuple[int, int] | None = None
    ) -> np.ndarray | None:
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
            raise DatasetError(
                f"{self.origin(index)}: record {rec.image_id!r} lists masks but the split has no mask root"
            )
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

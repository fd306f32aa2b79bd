"""What to export: a dataset split or an image folder, in a fixed sorted order, with unreadable images kept as
"bad" entries so that they are reported (``bad_images.jsonl``) instead of silently dropped."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from wsol.data.records import collate_samples
from wsol.export.quality import GroundTruth
from wsol.export.writers import mask_path, scoremap_path

# what may go wrong while decoding one image: the data part's DatasetError is a ValueError; OpenCV and the
# file system raise their own types
LOAD_ERRORS: tuple[type[BaseException], ...] = (ValueError, OSError, RuntimeError)
try:
    import cv2

    LOAD_ERRORS += (cv2.error,)
except (ImportError, AttributeError):  # pragma: no cover - OpenCV is a dependency
    pass


@dataclass
class ExportSource:
    """Images in export order: ``image_ids[i]`` is sorted index ``i``; ``dataset_index[i]`` its index in
    ``dataset`` or None for an image already known to be unreadable (reason in ``known_bad``)."""

    image_ids: list[str]
    dataset: Dataset[dict[str, Any]]
    dataset_index: list[int | None]
    class_names: list[str]
    description: dict[str, Any]
    labels: list[int] | None = None
    known_bad: dict[str, str] = field(default_factory=dict)
    ground_truth: GroundTruth | None = None

    def ids_digest(self) -> str:
        return hashlib.sha256(json.dumps(self.image_ids).encode("utf-8")).hexdigest()

    def check_output_names(self, out_dir: str | Path) -> None:
        """Every image id must map inside the output folder, each to its own files (raises ValueError naming
        the first bad id, or the two ids that would write the same file: ``a/./x.png`` and ``a/x.png``)."""
        owner: dict[Path, str] = {}
        for image_id in self.image_ids:
            path = mask_path(out_dir, image_id)
            scoremap_path(out_dir, image_id)
            other = owner.setdefault(path, image_id)
            if other != image_id:
                raise ValueError(
                    f"image ids {other!r} and {image_id!r} name the same output file {path}; "
                    f"expected distinct image paths"
                )


def split_source(
    split: Any, transform: Callable[..., dict[str, Any]], dataset_factory: Callable[..., Dataset[dict[str, Any]]]
) -> ExportSource:
    """A ``wsol.data.SplitInfo`` as a source, sorted by image id; labels and ground truth from the records."""
    order = sorted(range(len(split.records)), key=lambda i: split.records[i].image_id)
    ids = [split.records[i].image_id for i in order]
    if len(set(ids)) != len(ids):
        dup = next(i for a, i in zip(ids, ids[1:]) if a == i)
        raise ValueError(f"split {split.name!r}: image id {dup!r} is listed twice")
    return ExportSource(
        image_ids=ids,
        dataset=dataset_factory(split, transform),
        dataset_index=list(order),
        class_names=list(split.class_names),
        labels=[int(split.records[i].label) for i in order],
        description={"kind": "split", "root": str(Path(split.image_root).resolve()), "split": split.name},
        ground_truth=GroundTruth.from_split(split),
    )


def folder_source(dataset: Any, class_names: list[str]) -> ExportSource:
    """A ``wsol.data.ImageFolderDataset`` as a source; its header-unreadable files become bad entries."""
    known_bad = dict(getattr(dataset, "bad_images", []))
    where = {image_id: i for i, image_id in enumerate(dataset.image_ids)}
    ids = sorted(set(where) | set(known_bad))
    return ExportSource(
        image_ids=ids,
        dataset=dataset,
        dataset_index=[where.get(i) for i in ids],
        class_names=list(class_names),
        known_bad=known_bad,
        description={"kind": "folder", "root": str(Path(dataset.root).resolve())},
    )


class SafeItems(Dataset[dict[str, Any]]):
    """Items by sorted index; an image that cannot be loaded becomes ``{"bad": reason}`` instead of raising."""

    def __init__(self, source: ExportSource) -> None:
        self.source = source

    def __len__(self) -> int:
        return len(self.source.image_ids)

    def __getitem__(self, index: int) -> dict[str, Any]:
        image_id = self.source.image_ids[index]
        base = self.source.dataset_index[index]
        if base is None:
            return {"bad": self.source.known_bad.get(image_id, "unreadable"), "index": index, "image_id": image_id}
        try:
            item = self.source.dataset[base]
        except LOAD_ERRORS as exc:
            return {"bad": f"{type(exc).__name__}: {exc}", "index": index, "image_id": image_id}
        item = dict(item, index=index, mask=None)  # the export needs neither the mask nor the boxes per item
        return item


def collate_safe(items: list[dict[str, Any]]) -> tuple[dict[str, Any] | None, list[int], list[dict[str, Any]]]:
    """(batch of the loadable items or None, their sorted indices, bad entries)."""
    good = [it for it in items if "bad" not in it]
    bad = [{"index": it["index"], "image_id": it["image_id"], "reason": it["bad"]} for it in items if "bad" in it]
    batch = collate_samples(good) if good else None
    return batch, [int(it["index"]) for it in good], bad


def as_numpy(t: torch.Tensor) -> np.ndarray:
    return t.detach().float().cpu().numpy()

"""Torch datasets over a :class:`~wsol.data.split.SplitInfo` and over a plain folder of images.

Item layout (see :mod:`wsol.data.records`): ``image`` (3,H,W) float normalised, ``label`` int, ``boxes`` (N,4)
network-input frame, ``orig_boxes`` (N,4) original pixels, ``orig_size`` (w,h), ``image_id``, ``mask``
(H,W) uint8 0/1/255 or None. Batch with :func:`wsol.data.records.collate_samples`.
"""

from __future__ import annotations

import multiprocessing
import os
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from wsol.data.errors import DatasetError, check_box
from wsol.data.imageio import IMAGE_EXTENSIONS, read_image
from wsol.data.split import SplitInfo
from wsol.data.transforms import build_transform


def check_transform(transform: Callable[..., dict]) -> None:
    """An albumentations Compose without ``bbox_params`` passes boxes through untouched (wrong frame)."""
    import albumentations as A

    if isinstance(transform, A.Compose) and "bboxes" not in getattr(transform, "processors", {"bboxes": None}):
        raise ValueError(
            "the transform does not move boxes: build it with wsol.data.build_transform or give "
            "its Compose bbox_params=wsol.data.transforms.bbox_params()"
        )


def apply_transform(
    transform: Callable[..., dict], image: np.ndarray, boxes: np.ndarray, mask: np.ndarray | None
) -> tuple[torch.Tensor, np.ndarray, torch.Tensor | None]:
    """Run an albumentations pipeline on image + boxes (+ mask); returns (image, boxes (M,4), mask)."""
    n = len(boxes)
    tagged = np.concatenate([np.asarray(boxes, np.float32).reshape(n, 4), np.arange(n, dtype=np.float32)[:, None]], 1)
    kwargs: dict[str, Any] = {"image": image, "bboxes": tagged}
    if mask is not None:
        kwargs["mask"] = mask
    out = transform(**kwargs)
    out_boxes = np.asarray(out.get("bboxes", np.zeros((0, 5))), dtype=np.float32).reshape(-1, 5)[:, :4]
    img = out["image"]
    if not isinstance(img, torch.Tensor):  # a pipeline without ToTensorV2
        img = torch.from_numpy(np.ascontiguousarray(np.asarray(img, np.float32).transpose(2, 0, 1)))
    out_mask = out.get("mask") if mask is not None else None
    if out_mask is not None:
        out_mask = torch.as_tensor(np.asarray(out_mask), dtype=torch.uint8)
    return img, out_boxes, out_mask


class WSOLDataset(Dataset):
    """Image, label, GT boxes and mask of every record of a split.

    ``skip_bad=True`` (training only): an image that fails to load is reported with a warning and replaced
    by the next loadable one; ``skipped`` counts them (shared with DataLoader workers) and ``skipped_ids``
    lists them (in this process). With ``skip_bad=False`` (evaluation) every failure raises
    :class:`DatasetError` naming the file and the metadata line.
    """

    def __init__(
        self,
        split: SplitInfo,
        transform: Callable[..., dict] | None = None,
        skip_bad: bool = False,
        mask_size: int | None = None,
    ):
        """``mask_size``: give masks straight from the original resolution at ``mask_size`` x ``mask_size``
        (nearest neighbour, as wsolevaluation's ``cv2.resize(..., INTER_NEAREST)`` to 224) instead of through
        the transform; for evaluation with the ``resize`` protocol, where a detour through a smaller input size
        would lose mask detail."""
        self.split = split
        self.mask_size = mask_size
        self.transform = transform if transform is not None else build_transform("eval")
        check_transform(self.transform)
        self.skip_bad = skip_bad
        self._skipped = multiprocessing.Value("i", 0)
        self.skipped_ids: list[str] = []

    def __len__(self) -> int:
        return len(self.split.records)

    @property
    def skipped(self) -> int:
        """Number of load failures skipped so far (0 unless ``skip_bad``)."""
        return int(self._skipped.value)

    def load_raw(self, index: int, mask_size: int | None = None) -> tuple[np.ndarray, np.ndarray | None]:
        """(H,W,3) uint8 RGB image and mask, validated against the metadata; the mask is (H,W) at the original
        size, or ``mask_size`` x ``mask_size`` straight from the mask files (see :meth:`SplitInfo.load_mask`)."""
        rec = self.split.records[index]
        origin = self.split.origin(index)
        path = self.split.image_path(index)
        image = read_image(path, origin)
        h, w = image.shape[:2]
        if rec.size[0] > 0 and (w, h) != tuple(rec.size):
            raise DatasetError(
                f"{path}: image is {w}x{h} (w x h) but {origin} states {rec.size[0]}x{rec.size[1]}; "
                f"expected the metadata size"
            )
        for box in rec.boxes:
            check_box(tuple(float(v) for v in box), (w, h), f"{origin} (image {path})")
        mask = self.split.load_mask(index, mask_size, (w, h))
        if mask is not None and mask_size is None and mask.shape != (h, w):
            raise DatasetError(
                f"{origin}: mask of {rec.image_id!r} is {mask.shape[1]}x{mask.shape[0]}; "
                f"expected the image size {w}x{h}"
            )
        return image, mask

    def _item(self, index: int) -> dict[str, Any]:
        rec = self.split.records[index]
        image, mask = self.load_raw(index, self.mask_size)
        h, w = image.shape[:2]
        direct = self.mask_size is not None and mask is not None
        img, boxes, out_mask = apply_transform(self.transform, image, rec.boxes, None if direct else mask)
        if direct:
            out_mask = torch.from_numpy(mask)
        return {
            "image": img,
            "label": int(rec.label),
            "boxes": boxes,
            "orig_boxes": np.asarray(rec.boxes, np.float32).reshape(-1, 4),
            "orig_size": (w, h),
            "image_id": rec.image_id,
            "mask": out_mask,
        }

    def __getitem__(self, index: int) -> dict[str, Any]:
        if not self.skip_bad:
            return self._item(index)
        n = len(self)
        for step in range(n):
            j = (index + step) % n
            try:
                return self._item(j)
            except DatasetError as exc:
                with self._skipped.get_lock():
                    self._skipped.value += 1
                self.skipped_ids.append(self.split.records[j].image_id)
                warnings.warn(f"skipping bad image: {exc}", RuntimeWarning, stacklevel=2)
        raise DatasetError(f"split {self.split.name!r}: no loadable image left ({n} tried)")


def find_images(root: Path) -> list[str]:
    """Sorted relative paths of the image files under ``root``, following symlinked files and folders (a
    folder reached twice through links, or a link back to an ancestor, is walked once)."""
    found: list[str] = []
    seen: set[tuple[int, int]] = set()

    def unreadable(err: OSError) -> None:
        raise DatasetError(
            f"{err.filename}: cannot list this folder ({err.strerror}); expected a readable folder of images"
        )

    for folder, dirs, files in os.walk(root, followlinks=True, onerror=unreadable):
        st = os.stat(folder)
        if (st.st_dev, st.st_ino) in seen:
            dirs[:] = []
            continue
        seen.add((st.st_dev, st.st_ino))
        dirs.sort()
        rel = Path(folder).relative_to(root)
        for name in files:
            if Path(name).suffix.lower() in IMAGE_EXTENSIONS and os.path.isfile(os.path.join(folder, name)):
                image_id = (rel / name).as_posix()
                try:  # ids go into JSON outputs and file names of other tools: they must be text
                    image_id.encode("utf-8")
                except UnicodeEncodeError:
                    shown = os.fsencode(os.path.join(folder, name)).decode("utf-8", "backslashreplace")
                    raise DatasetError(
                        f"{shown}: file name is not valid UTF-8; rename it (image ids must be UTF-8 text)"
                    ) from None
                found.append(image_id)
    return sorted(found)


class ImageFolderDataset(Dataset):
    """Every image under ``root`` (recursive, sorted), for explaining/exporting unlabelled folders.

    Items follow the WSOLDataset layout with ``label = -1``, no boxes, no mask and ``image_id`` the path
    relative to ``root``. Files whose header cannot be read are listed in ``bad_images`` as
    ``(relative path, reason)`` with a warning and left out; a failure at decode time raises DatasetError.
    """

    def __init__(self, root: str | os.PathLike, transform: Callable[..., dict] | None = None):
        from PIL import Image

        self.root = Path(root)
        if not self.root.is_dir():
            raise DatasetError(f"{self.root}: image folder does not exist")
        self.transform = transform if transform is not None else build_transform("eval")
        self.image_ids: list[str] = []
        self.sizes: list[tuple[int, int]] = []
        self.bad_images: list[tuple[str, str]] = []
        for rel in find_images(self.root):
            path = self.root / rel
            try:
                with Image.open(path) as im:
                    im.verify()
                    self.sizes.append(im.size)
                self.image_ids.append(rel)
            except Exception as exc:  # PIL raises many types for broken files
                self.bad_images.append((rel, f"{type(exc).__name__}: {exc}"))
        if self.bad_images:
            listing = "; ".join(f"{r} ({why})" for r, why in self.bad_images[:10])
            warnings.warn(
                f"{self.root}: {len(self.bad_images)} unreadable image(s) left out: {listing}",
                RuntimeWarning,
                stacklevel=2,
            )

    def __len__(self) -> int:
        return len(self.image_ids)

    def __getitem__(self, index: int) -> dict[str, Any]:
        image_id = self.image_ids[index]
        image = read_image(self.root / image_id)
        h, w = image.shape[:2]
        img, _, _ = apply_transform(self.transform, image, np.zeros((0, 4), np.float32), None)
        empty = np.zeros((0, 4), np.float32)
        return {
            "image": img,
            "label": -1,
            "boxes": empty,
            "orig_boxes": empty,
            "orig_size": (w, h),
            "image_id": image_id,
            "mask": None,
        }

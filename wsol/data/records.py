"""The one record type every dataset format is read into, and the batch layout every loader yields.

Conventions (shared by data, evaluation and export):
- boxes are ``(N, 4)`` float32 ``x0, y0, x1, y1`` in pixels of the frame named by the field;
  ``ImageRecord.boxes`` is in original-image pixels, exactly as the metadata states them;
- sizes are ``(width, height)``, the order of wsolevaluation's ``image_sizes.txt``;
- masks are uint8 with 0 = background, 1 = foreground, ``IGNORE_VALUE`` = not evaluated.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

IGNORE_VALUE = 255


@dataclass(frozen=True)
class ImageRecord:
    """One image of a dataset split, independent of the on-disk format it was read from."""

    image_id: str  # path of the image relative to the dataset's image root (wsolevaluation's image id)
    label: int  # class index in [0, num_classes)
    size: tuple[int, int]  # original (width, height)
    boxes: np.ndarray = field(default_factory=lambda: np.zeros((0, 4), np.float32))  # (N, 4) xyxy, original px
    mask_paths: tuple[str, ...] = ()  # foreground masks (OpenImages style), relative to the mask root
    ignore_path: str | None = None  # ignore mask, relative to the mask root

    @property
    def has_mask(self) -> bool:
        return bool(self.mask_paths)


def collate_samples(samples: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Collate dataset items into a batch: fixed-shape fields are stacked, per-image box sets stay lists.

    Batch keys: ``image`` (B,3,H,W) float, ``label`` (B,) long, ``boxes`` list of (N_i,4) in the network-input
    frame, ``orig_boxes`` list of (N_i,4) original pixels, ``orig_size`` (B,2) long as (width, height),
    ``image_id`` list[str], ``mask`` (B,H,W) uint8 or None when the dataset has no masks.
    """
    import torch  # here, not at module level: reading metadata needs no torch

    batch: dict[str, Any] = {
        "image": torch.stack([s["image"] for s in samples]),
        "label": torch.as_tensor([int(s["label"]) for s in samples], dtype=torch.long),
        "boxes": [torch.as_tensor(s["boxes"], dtype=torch.float32).reshape(-1, 4) for s in samples],
        "orig_boxes": [torch.as_tensor(s["orig_boxes"], dtype=torch.float32).reshape(-1, 4) for s in samples],
        "orig_size": torch.as_tensor([tuple(s["orig_size"]) for s in samples], dtype=torch.long),
        "image_id": [s["image_id"] for s in samples],
        "mask": None,
    }
    if all(s.get("mask") is not None for s in samples):
        batch["mask"] = torch.stack([torch.as_tensor(s["mask"], dtype=torch.uint8) for s in samples])
    return batch

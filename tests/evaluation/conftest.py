"""A tiny WSOLModel whose maps and logits are read from the image itself, and a loader of collated batches."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from wsol.data.records import collate_samples
from wsol.models.base import WSOLModel, WSOLOutput


class ImageReadingModel(WSOLModel):
    """Channel 0 (pooled 16x) is every class map; the first ``num_classes`` pixels of channel 1 are the logits."""

    def __init__(self, num_classes: int = 3):
        super().__init__()
        self.num_classes = num_classes
        self.backbone = nn.Identity()
        self.scale = nn.Parameter(torch.ones(()))

    def forward(self, images, labels=None):
        maps = nn.functional.avg_pool2d(images[:, :1], 16) * self.scale  # (B, 1, 14, 14)
        logits = images[:, 1, 0, : self.num_classes] * self.scale
        return WSOLOutput(logits, maps.expand(-1, self.num_classes, -1, -1), {})


def blob_item(
    image_id: str, label: int, centre: tuple[int, int], gt: list[int], predicted: int, with_mask: bool = False
) -> dict:
    """A 224x224 'image' whose channel 0 is a 64x64 square at ``centre`` and whose top prediction is ``predicted``."""
    image = torch.zeros(3, 224, 224)
    cy, cx = centre
    image[0, cy - 32 : cy + 32, cx - 32 : cx + 32] = 1.0
    image[1, 0, :3] = torch.tensor([0.1, 0.2, 0.3])
    image[1, 0, predicted] = 1.0
    mask = None
    if with_mask:
        mask = np.zeros((224, 224), np.uint8)
        mask[gt[1] : gt[3] + 1, gt[0] : gt[2] + 1] = 1
    return {
        "image": image,
        "label": label,
        "boxes": np.array([gt], np.float32),
        "orig_boxes": np.array([gt], np.float32),
        "orig_size": (224, 224),
        "image_id": image_id,
        "mask": mask,
    }


def make_loader(with_mask: bool = False):
    items = [
        blob_item("hit_top1.jpg", 0, (64, 64), [32, 32, 95, 95], predicted=0, with_mask=with_mask),
        blob_item("hit_top2.jpg", 1, (150, 150), [118, 118, 181, 181], predicted=2, with_mask=with_mask),
        blob_item("miss.jpg", 2, (48, 170), [0, 150, 60, 215], predicted=2, with_mask=with_mask),
    ]
    return [collate_samples(items[:2]), collate_samples(items[2:])]


@pytest.fixture
def model():
    return ImageReadingModel()

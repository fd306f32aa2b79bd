"""Fixtures for the engine tests: an in-memory dataset of tiny images in the WSOLDataset item layout."""

from __future__ import annotations

import torch
from torch.utils.data import Dataset

from wsol.config import load_config


class TinyBlobs(Dataset):
    """n images of size×size: class c has a bright square in quadrant c (up to 4 classes), plus noise."""

    def __init__(self, n: int = 24, size: int = 32, num_classes: int = 3, seed: int = 0) -> None:
        g = torch.Generator().manual_seed(seed)
        self.labels = torch.arange(n) % num_classes
        self.images = torch.randn(n, 3, size, size, generator=g) * 0.3
        half = size // 2
        self.boxes = []
        for i, c in enumerate(self.labels.tolist()):
            y, x = (c // 2) * half, (c % 2) * half
            self.images[i, :, y + 2 : y + half - 2, x + 2 : x + half - 2] += 2.0
            self.boxes.append(torch.tensor([[x + 2, y + 2, x + half - 2, y + half - 2]], dtype=torch.float32))
        self.size = size

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> dict:
        return {
            "image": self.images[i].clone(),
            "label": int(self.labels[i]),
            "boxes": self.boxes[i],
            "orig_boxes": self.boxes[i],
            "orig_size": (self.size, self.size),
            "image_id": f"img{i}.png",
            "mask": None,
        }


def tiny_config(tmp_path, *extra: str):
    """A CPU config small enough for a test: tiny backbone (8/16 channels), batch 8, 2 epochs."""
    return load_config(
        None,
        [
            f"output_dir={tmp_path}",
            "model.backbone=tiny",
            "model.backbone_args={channels: [8, 16, 16]}",
            "model.head_width=16",
            "data.batch_size=8",
            "data.eval_batch_size=16",
            "data.num_workers=0",
            "train.epochs=3",
            "train.log_every=2",
            "train.overlays=4",
            "train.device=cpu",
            "optim.lr=0.01",
            "optim.schedule=cosine",
            "train.localization=false",
            *extra,
        ],
    )

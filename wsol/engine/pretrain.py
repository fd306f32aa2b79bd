"""Pretrain the tiny backbone on the shapes-and-textures task (:mod:`wsol.data.shapes`), the stand-in for the
ImageNet initialisation that every published WSOL result starts from.

The network is the backbone, global average pooling and one linear layer; only the backbone's state dict is
kept. Everything is seeded (images, initial weights, batch order, augmentation), so one command reproduces
the shipped file bit for bit on the same torch build and thread count.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from wsol.config.schema import PretrainConfig
from wsol.data import shapes
from wsol.data.transforms import IMAGENET_MEAN, IMAGENET_STD
from wsol.models.backbones import tiny


def _normalise(images: torch.Tensor) -> torch.Tensor:
    mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    return (images.permute(0, 3, 1, 2).float() / 255 - mean) / std


class _Classifier(nn.Module):
    def __init__(self, backbone: nn.Module, out_channels: int, num_classes: int) -> None:
        super().__init__()
        self.backbone = backbone
        self.fc = nn.Linear(out_channels, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.backbone(x).mean((2, 3)))


def pretrain(
    cfg: PretrainConfig, progress: Callable[[str], None] | None = None
) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Train and return (backbone state dict, record with the recipe, the held-out accuracy and the time)."""
    start = time.perf_counter()
    torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    x_train, y_train = shapes.render_set(cfg.train_images, cfg.seed, cfg.size)
    x_test, y_test = shapes.render_set(cfg.test_images, cfg.seed + 1, cfg.size)
    backbone = tiny(channels=cfg.channels, large_feature_map=cfg.large_feature_map)
    model = _Classifier(backbone, backbone.out_channels, shapes.NUM_CLASSES)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    steps = cfg.epochs * (cfg.train_images // cfg.batch_size)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=cfg.lr, total_steps=steps, pct_start=0.1)
    gen = torch.Generator().manual_seed(cfg.seed)
    images, labels = torch.from_numpy(x_train), torch.from_numpy(y_train)
    for epoch in range(cfg.epochs):
        model.train()
        order = torch.randperm(len(images), generator=gen)
        total = 0.0
        for i in range(len(images) // cfg.batch_size):
            idx = order[i * cfg.batch_size : (i + 1) * cfg.batch_size]
            x = _normalise(images[idx])
            flip = torch.rand(len(idx), generator=gen) < 0.5
            x = torch.where(flip[:, None, None, None], x.flip(3), x)
            loss = F.cross_entropy(model(x), labels[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            total += float(loss.detach())
        if progress is not None:
            progress(f"epoch {epoch + 1}/{cfg.epochs}: loss {total / max(1, len(images) // cfg.batch_size):.3f}")
    accuracy = _accuracy(model, torch.from_numpy(x_test), torch.from_numpy(y_test))
    state = {k: v.detach().clone() for k, v in backbone.state_dict().items()}
    record = {
        "recipe": asdict(cfg),
        "task": {"classes": [shapes.class_name(k) for k in range(shapes.NUM_CLASSES)]},
        "test_top1": accuracy,
        "seconds": time.perf_counter() - start,
        "torch": torch.__version__,
    }
    return state, record


@torch.no_grad()
def _accuracy(model: nn.Module, images: torch.Tensor, labels: torch.Tensor) -> float:
    model.eval()
    correct = 0
    for i in range(0, len(images), 256):
        correct += int((model(_normalise(images[i : i + 256])).argmax(1) == labels[i : i + 256]).sum())
    return 100.0 * correct / max(1, len(images))


def chance_level() -> float:
    return 100.0 / shapes.NUM_CLASSES


__all__ = ["PretrainConfig", "pretrain", "chance_level"]

"""TensorBoard logging (rank 0 only): scalars, and CAM overlays of a fixed validation batch."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from wsol.viz.overlays import denormalize_image, heatmap_overlay, make_grid


def overlay_grid(model: Any, images: torch.Tensor, labels: torch.Tensor, ncols: int = 8) -> np.ndarray:
    """Ground-truth-class maps of ``model.localize`` upsampled (bicubic) onto the de-normalised images."""
    loc = model.localize(images, classes=labels[:, None])
    maps = F.interpolate(loc.maps[:, :1].float(), size=images.shape[-2:], mode="bicubic", align_corners=False)
    maps = maps.clamp(0, 1)[:, 0].cpu().numpy()
    tiles = [heatmap_overlay(denormalize_image(img), cam) for img, cam in zip(images.cpu(), maps)]
    return make_grid(tiles, ncols=ncols)


class RunLogger:
    """A SummaryWriter under ``<run>/tb`` when enabled; every method is a no-op otherwise (ranks > 0)."""

    def __init__(self, out_dir: str | Path, enabled: bool = True) -> None:
        self.writer = None
        if enabled:
            from torch.utils.tensorboard import SummaryWriter

            self.writer = SummaryWriter(log_dir=str(Path(out_dir) / "tb"))

    def scalars(self, values: dict[str, float], step: int) -> None:
        if self.writer is None:
            return
        for key, value in values.items():
            if isinstance(value, (int, float)) and np.isfinite(value):
                self.writer.add_scalar(key, value, step)

    def overlays(self, model: Any, images: torch.Tensor, labels: torch.Tensor, step: int) -> None:
        if self.writer is None or images.shape[0] == 0:
            return
        self.writer.add_image("val/cam_overlays", overlay_grid(model, images, labels), step, dataformats="HWC")

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()

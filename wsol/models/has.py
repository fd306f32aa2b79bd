"""Hide-and-Seek: CAM trained on images whose random grid patches are hidden.

During training the image is cut into ``patch_size``×``patch_size`` cells; each cell is hidden with
probability ``hide_prob`` (0.5 in the paper) and filled with the dataset mean. Images here are already
normalised with that mean, so the mean pixel is exactly 0 and hiding is ``x · keep``. Evaluation sees the
full image. Singh & Lee, "Hide-and-Seek", ICCV 2017, https://arxiv.org/abs/1704.04232
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from wsol.models.backbones import Backbone
from wsol.models.base import WSOLOutput
from wsol.models.cam import CAMModel, cam_head_args
from wsol.models.registry import METHODS


def hide_patches(images: Tensor, patch_size: int, hide_prob: float, fill: float = 0.0) -> Tensor:
    """Return a copy of ``images`` (B,C,H,W) with each grid cell replaced by ``fill`` with prob ``hide_prob``."""
    b, _, h, w = images.shape
    gh, gw = -(-h // patch_size), -(-w // patch_size)
    hidden = torch.rand(b, 1, gh, gw, device=images.device) < hide_prob
    hidden = hidden.repeat_interleave(patch_size, 2).repeat_interleave(patch_size, 3)[:, :, :h, :w]
    return torch.where(hidden, torch.full_like(images, fill), images)


class HaS(CAMModel):
    """CAM whose training inputs go through :func:`hide_patches`."""

    def __init__(
        self,
        backbone: Backbone,
        num_classes: int,
        head_width: int = 0,
        patch_size: int = 16,
        hide_prob: float = 0.5,
        **head: Any,
    ) -> None:
        super().__init__(backbone, num_classes, head_width, **head)
        if patch_size < 1 or not 0.0 <= hide_prob <= 1.0:
            raise ValueError(f"HaS needs patch_size >= 1 and hide_prob in [0, 1], got {patch_size}, {hide_prob}")
        self.patch_size = patch_size
        self.hide_prob = hide_prob

    def forward(self, images: Tensor, labels: Tensor | None = None) -> WSOLOutput:
        if self.training:
            images = hide_patches(images, self.patch_size, self.hide_prob)
        return super().forward(images, labels)


@METHODS.register("has")
def build_has(backbone: Backbone, num_classes: int, cfg: Any) -> HaS:
    head = cam_head_args(cfg)
    return HaS(
        backbone,
        num_classes,
        head.pop("head_width"),
        patch_size=cfg.has.patch_size,
        hide_prob=cfg.has.hide_prob,
        **head,
    )

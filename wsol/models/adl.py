"""ADL: attention-based dropout layers inserted after chosen backbone stages (training only).

With the self-attention map a = mean_k f_k (channel mean), each call draws one Bernoulli(drop_rate):
if it fires, the features are multiplied by the drop mask 1[a < γ·max(a)] (the most discriminative
region hidden, γ = drop_threshold); otherwise by the importance map sigmoid(a). Evaluation leaves the
features unchanged. Choe & Shim, "Attention-based Dropout Layer for WSOL", CVPR 2019,
https://arxiv.org/abs/1908.10028
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn

from wsol.models.backbones import Backbone
from wsol.models.cam import CAMModel, cam_head_args
from wsol.models.registry import METHODS


class ADLLayer(nn.Module):
    """Parameter-free attention-based dropout (identity in eval mode)."""

    def __init__(self, drop_rate: float = 0.75, drop_threshold: float = 0.8) -> None:
        super().__init__()
        if not 0.0 <= drop_rate <= 1.0 or not 0.0 <= drop_threshold <= 1.0:
            raise ValueError(f"ADL needs drop_rate and drop_threshold in [0, 1], got {drop_rate}, {drop_threshold}")
        self.drop_rate = drop_rate
        self.drop_threshold = drop_threshold

    def forward(self, x: Tensor) -> Tensor:
        if not self.training:
            return x
        attention = x.mean(dim=1, keepdim=True)
        if torch.rand(()) < self.drop_rate:
            peak = attention.flatten(1).amax(dim=1)[:, None, None, None]
            selected = (attention < self.drop_threshold * peak).to(x.dtype)
        else:
            selected = torch.sigmoid(attention)
        return x * selected

    def extra_repr(self) -> str:
        return f"drop_rate={self.drop_rate}, drop_threshold={self.drop_threshold}"


class ADL(CAMModel):
    """CAM with :class:`ADLLayer` appended to each stage named in ``positions``."""

    def __init__(
        self,
        backbone: Backbone,
        num_classes: int,
        positions: Sequence[str],
        head_width: int = 0,
        drop_rate: float = 0.75,
        drop_threshold: float = 0.8,
        **head: Any,
    ) -> None:
        for stage in positions:
            backbone.insert_after(stage, ADLLayer(drop_rate, drop_threshold))
        super().__init__(backbone, num_classes, head_width, **head)


@METHODS.register("adl")
def build_adl(backbone: Backbone, num_classes: int, cfg: Any) -> ADL:
    positions = list(cfg.adl.positions) or backbone.stage_names()[-1:]
    head = cam_head_args(cfg)
    return ADL(
        backbone,
        num_classes,
        positions,
        head.pop("head_width"),
        drop_rate=cfg.adl.drop_rate,
        drop_threshold=cfg.adl.drop_threshold,
        **head,
    )

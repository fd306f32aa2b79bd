"""CAM: a backbone and a 1×1 class-map head; logits = GAP of the maps.

M_c(x, y) = Σ_k w_{c,k} f_k(x, y),  logit_c = (1/hw) Σ_{x,y} M_c(x, y)
Zhou et al., "Learning Deep Features for Discriminative Localization", CVPR 2016,
https://arxiv.org/abs/1512.04150
"""

from __future__ import annotations

from typing import Any

from torch import Tensor

from wsol.models.backbones import Backbone
from wsol.models.base import WSOLModel, WSOLOutput
from wsol.models.heads import CAMHead, gap_logits
from wsol.models.registry import METHODS


class CAMModel(WSOLModel):
    """Class activation mapping; ``head_width > 0`` adds wsolevaluation's ``head_layers`` conv3×3 layers (with
    ``head_dropout`` before each conv) in front of the 1×1 classifier (see :class:`CAMHead`)."""

    def __init__(
        self, backbone: Backbone, num_classes: int, head_width: int = 0, head_layers: int = 1, head_dropout: float = 0.0
    ) -> None:
        super().__init__()
        self.num_classes = num_classes
        self.backbone = backbone
        self.head = CAMHead(backbone.out_channels, num_classes, head_width, head_layers, head_dropout)

    def forward(self, images: Tensor, labels: Tensor | None = None) -> WSOLOutput:
        maps = self.head(self.backbone(images))
        return WSOLOutput(gap_logits(maps), maps, {})


def cam_head_args(cfg: Any) -> dict[str, Any]:
    """The CAM-head keywords (``head_width``, ``head_layers``, ``head_dropout``) from the model config."""
    return {
        "head_width": int(cfg.cam_head_width),
        "head_layers": int(cfg.get("cam_head_layers", 1)),
        "head_dropout": float(cfg.get("cam_head_dropout", 0.0)),
    }


@METHODS.register("cam")
def build_cam(backbone: Backbone, num_classes: int, cfg: Any) -> CAMModel:
    return CAMModel(backbone, num_classes, **cam_head_args(cfg))

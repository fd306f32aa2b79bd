"""ACoL: two class-map heads; branch B learns from features where branch A's discriminative region is erased.

For features F and target class c: M^A = A(F); m = minmax(M^A_c); F' = F · 1[m < δ] (all channels);
M^B = B(F'). Loss = CE(GAP(M^A), y) + CE(GAP(M^B), y). Localization map for class c:
max(minmax(M^A_c), minmax(M^B_c)) with B run on the features erased for c.
δ is 0.6 in the paper, 0.7 in wsolevaluation.
Zhang et al., "Adversarial Complementary Learning for WSOL", CVPR 2018, https://arxiv.org/abs/1804.06962
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from wsol.models.backbones import Backbone
from wsol.models.base import (Localization, WSOLModel, WSOLOutput, _eval_no_grad, gather_maps, normalize_per_map,
                              resolve_classes)
from wsol.models.heads import ACoLHead, gap_logits
from wsol.models.registry import METHODS


def erase_features(features: Tensor, class_maps: Tensor, delta: float) -> Tensor:
    """Zero every channel of ``features`` (N,D,h,w) where the min-max normalised ``class_maps`` (N,h,w) >= δ."""
    keep = normalize_per_map(class_maps.detach().float()) < delta
    return features * keep[:, None].to(features.dtype)


class ACoL(WSOLModel):
    """Adversarial complementary learning with two :class:`ACoLHead` branches on a shared backbone."""

    def __init__(self, backbone: Backbone, num_classes: int, head_width: int = 1024, delta: float = 0.6) -> None:
        super().__init__()
        if not 0.0 < delta <= 1.0:
            raise ValueError(f"ACoL erasing threshold delta must be in (0, 1], got {delta}")
        self.num_classes = num_classes
        self.delta = delta
        self.backbone = backbone
        self.head_a = ACoLHead(backbone.out_channels, num_classes, head_width)
        self.head_b = ACoLHead(backbone.out_channels, num_classes, head_width)

    def forward(self, images: Tensor, labels: Tensor | None = None) -> WSOLOutput:
        """Branch B runs in training (erasing the label's region, or the top-1 class without labels) and
        whenever labels are given; in eval without labels only branch A is computed."""
        features = self.backbone(images)
        maps_a = self.head_a(features)
        logits_a = gap_logits(maps_a)
        extras: dict[str, Tensor] = {}
        if self.training or labels is not None:
            target = labels if labels is not None else logits_a.argmax(1)
            target_maps = gather_maps(maps_a, target[:, None])[:, 0]
            maps_b = self.head_b(erase_features(features, target_maps, self.delta))
            extras = {"logits_b": gap_logits(maps_b), "maps_b": maps_b}
        return WSOLOutput(logits_a, maps_a, extras)

    def loss(self, output: WSOLOutput, labels: Tensor) -> dict[str, Tensor]:
        ce_a = F.cross_entropy(output.logits.float(), labels)
        ce_b = F.cross_entropy(output.extras["logits_b"].float(), labels)
        return {"loss": ce_a + ce_b, "ce_a": ce_a, "ce_b": ce_b}

    def localize(self, images: Tensor, classes: Tensor | None = None, topk: int = 1) -> Localization:
        """Fused maps for K classes per image in one batched branch-B pass over the K erased copies."""
        with _eval_no_grad(self):
            features = self.backbone(images)
            maps_a = self.head_a(features)
            logits = gap_logits(maps_a).float()
            cls = resolve_classes(logits, classes, topk)
            b, k = cls.shape
            norm_a = normalize_per_map(gather_maps(maps_a.float(), cls))  # (B,K,h,w)
            keep = (norm_a < self.delta).flatten(0, 1)[:, None].to(features.dtype)  # (B*K,1,h,w)
            repeated = features.repeat_interleave(k, dim=0) * keep
            maps_b = self.head_b(repeated)  # (B*K,C,h,w)
            norm_b = normalize_per_map(gather_maps(maps_b.float(), cls.reshape(-1, 1))).view_as(norm_a)
            return Localization(logits, cls, torch.maximum(norm_a, norm_b))


@METHODS.register("acol")
def build_acol(backbone: Backbone, num_classes: int, cfg: Any) -> ACoL:
    return ACoL(backbone, num_classes, head_width=cfg.head_width, delta=cfg.acol.delta)

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
from wsol.models.base import (
    Localization,
    WSOLModel,
    WSOLOutput,
    _eval_no_grad,
    gather_maps,
    normalize_per_map,
    resolve_classes,
)
from wsol.models.heads import ACoLHead, gap_logits
from wsol.models.registry import METHODS


def erase_mask(class_maps: Tensor, delta: float, dilation: int = 0, size: tuple[int, int] | None = None) -> Tensor:
    """(N,h,w) float keep-mask: 0 where the min-max normalised ``class_maps`` >= δ, grown by ``dilation`` cells.

    Growing the erased region (a (2k+1)×(2k+1) max filter) matters on coarse maps: a feature cell's receptive
    field is much wider than the cell, so the cells next to the erased ones still carry the discriminative part
    and branch B would fire right beside A's peak instead of on the rest of the object.
    With ``size`` the mask is for a finer tensor (an earlier stage, or the input): the normalised map is
    max-filtered (the dilation), resized bilinearly to ``size`` and thresholded there, so the erased region has
    smooth borders instead of blocky upsampled cells. Max-filtering before thresholding equals dilating after.
    """
    norm = normalize_per_map(class_maps.detach().float())[:, None]
    if dilation > 0:
        norm = F.max_pool2d(norm, 2 * dilation + 1, stride=1, padding=dilation)
    if size is not None and tuple(size) != tuple(norm.shape[-2:]):
        norm = F.interpolate(norm, size=size, mode="bilinear", align_corners=False)
    return 1.0 - (norm[:, 0] >= delta).float()


def erase_features(features: Tensor, class_maps: Tensor, delta: float, dilation: int = 0) -> Tensor:
    """Zero every channel of ``features`` (N,D,H,W) where the min-max normalised ``class_maps`` (N,h,w) >= δ
    (and within ``dilation`` cells of such a location), the map resized to (H,W) when the sizes differ."""
    keep = erase_mask(class_maps, delta, dilation, size=tuple(features.shape[-2:]))
    return features * keep[:, None].to(features.dtype)


class ACoL(WSOLModel):
    """Adversarial complementary learning with two :class:`ACoLHead` branches on a shared backbone."""

    def __init__(
        self,
        backbone: Backbone,
        num_classes: int,
        head_width: int = 1024,
        delta: float = 0.6,
        erase_dilation: int = 0,
        erase_start_step: int = 0,
        head_batch_norm: bool = False,
        erase_at: str = "features",
        head_kernel_size: int = 3,
    ) -> None:
        super().__init__()
        if not 0.0 < delta <= 1.0:
            raise ValueError(f"ACoL erasing threshold delta must be in (0, 1], got {delta}")
        if erase_dilation < 0:
            raise ValueError(f"model.acol.erase_dilation must be >= 0 (feature cells), got {erase_dilation}")
        if erase_start_step < 0:
            raise ValueError(f"model.acol.erase_start_step must be >= 0 (training iterations), got {erase_start_step}")
        self.num_classes = num_classes
        self.delta = delta
        self.erase_dilation = int(erase_dilation)
        self.erase_start_step = int(erase_start_step)
        if self.erase_start_step > 0:  # only then: checkpoints of the paper's setting keep their keys
            self.register_buffer("train_steps", torch.zeros((), dtype=torch.long))
        self.backbone = backbone
        self.erase_start = self._erase_start(backbone, erase_at)
        self.head_a = ACoLHead(backbone.out_channels, num_classes, head_width, head_batch_norm, head_kernel_size)
        self.head_b = ACoLHead(backbone.out_channels, num_classes, head_width, head_batch_norm, head_kernel_size)

    @staticmethod
    def _erase_start(backbone: Backbone, erase_at: str) -> int:
        """Index of the first backbone stage that branch B re-runs on the erased tensor."""
        names = backbone.stage_names()
        if erase_at == "features":
            return len(names)
        if erase_at == "input":
            return 0
        if erase_at not in names:
            raise ValueError(
                f"model.acol.erase_at must be 'features', 'input' or a backbone stage "
                f"({', '.join(names)}), got {erase_at!r}"
            )
        return names.index(erase_at) + 1

    def _trunk(self, images: Tensor) -> tuple[Tensor, Tensor]:
        """(tensor that is erased for B, final features): the two are the same object at the paper's setting."""
        erased_from = self.backbone(images, 0, self.erase_start)  # the images themselves when erase_start is 0
        return erased_from, self.backbone(erased_from, self.erase_start)

    def _branch_b(self, erased_from: Tensor, keep: Tensor) -> Tensor:
        return self.head_b(self.backbone(erased_from * keep[:, None].to(erased_from.dtype), self.erase_start))

    def forward(self, images: Tensor, labels: Tensor | None = None) -> WSOLOutput:
        """Branch B runs in training (erasing the label's region, or the top-1 class without labels) and
        whenever labels are given; in eval without labels only branch A is computed."""
        erased_from, features = self._trunk(images)
        maps_a = self.head_a(features)
        logits_a = gap_logits(maps_a)
        extras: dict[str, Tensor] = {}
        if self.training or labels is not None:
            target = labels if labels is not None else logits_a.argmax(1)
            target_maps = gather_maps(maps_a, target[:, None])[:, 0]
            size = tuple(erased_from.shape[-2:])
            if self.erasing_delayed():
                keep = erased_from.new_ones((erased_from.shape[0], *size), dtype=torch.float32)
            else:
                keep = erase_mask(target_maps, self.delta, self.erase_dilation, size=size)
            maps_b = self._branch_b(erased_from, keep)
            extras = {"logits_b": gap_logits(maps_b), "maps_b": maps_b, "erased_fraction": 1.0 - keep.mean()}
        if self.training and self.erase_start_step > 0 and torch.is_grad_enabled():
            self.train_steps += 1
        return WSOLOutput(logits_a, maps_a, extras)

    def erasing_delayed(self) -> bool:
        """True during the first ``erase_start_step`` training iterations (erasing warm-up): branch B then
        learns from the unerased features, because before A has learned anything its map is noise and
        erasing it only removes random evidence from B. Never true in eval (localization always erases)."""
        return self.training and self.erase_start_step > 0 and int(self.train_steps) < self.erase_start_step

    def loss(self, output: WSOLOutput, labels: Tensor) -> dict[str, Tensor]:
        ce_a = F.cross_entropy(output.logits.float(), labels)
        ce_b = F.cross_entropy(output.extras["logits_b"].float(), labels)
        out = {"loss": ce_a + ce_b, "ce_a": ce_a, "ce_b": ce_b}
        if "erased_fraction" in output.extras:  # a diagnostic (no gradient): the share of cells hidden from B
            out["erased_fraction"] = output.extras["erased_fraction"].detach()
        return out

    def localize(self, images: Tensor, classes: Tensor | None = None, topk: int = 1) -> Localization:
        """Fused maps for K classes per image in one batched branch-B pass over the K erased copies."""
        with _eval_no_grad(self):
            erased_from, features = self._trunk(images)
            maps_a = self.head_a(features)
            logits = gap_logits(maps_a).float()
            cls = resolve_classes(logits, classes, topk)
            b, k = cls.shape
            norm_a = normalize_per_map(gather_maps(maps_a.float(), cls))  # (B,K,h,w)
            keep = erase_mask(norm_a.flatten(0, 1), self.delta, self.erase_dilation, size=tuple(erased_from.shape[-2:]))
            maps_b = self._branch_b(erased_from.repeat_interleave(k, dim=0), keep)  # (B*K,C,h,w)
            norm_b = normalize_per_map(gather_maps(maps_b.float(), cls.reshape(-1, 1))).view_as(norm_a)
            return Localization(logits, cls, torch.maximum(norm_a, norm_b))


@METHODS.register("acol")
def build_acol(backbone: Backbone, num_classes: int, cfg: Any) -> ACoL:
    return ACoL(
        backbone,
        num_classes,
        head_width=cfg.head_width,
        delta=cfg.acol.delta,
        erase_dilation=cfg.acol.get("erase_dilation", 0),
        erase_start_step=cfg.acol.get("erase_start_step", 0),
        head_batch_norm=cfg.acol.get("head_batch_norm", False),
        erase_at=cfg.acol.get("erase_at", "features"),
        head_kernel_size=cfg.acol.get("head_kernel_size", 3),
    )

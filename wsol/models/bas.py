"""BAS: background activation suppression, a foreground map generator trained on the classifier's activation.

The backbone is split at a tap: F = early(x) (the generator's input), then late(pool(F)) → classifier head
(conv3×3-1024 → ReLU → conv3×3-1024 → ReLU → conv1×1-C → ReLU) → class maps A, logits S = GAP(A). The last
ReLU (``head_relu``, the paper's) keeps scores >= 0 for the ratio below; from scratch it can die (every class
map negative, no gradient), so the synthetic config turns it off.
The generator G = σ(conv3×3(F)) has one map per class; M = G_y for the label y (top-1 class without labels).
  S^fg = S_y (detached)
  S^bg = GAP(head'(late'(pool(F.detach() · (1 − M)))))_y   (head', late': the same weights, detached, so this
         path trains only the generator, as BAS's per-step copies of those layers do)
  L_BAS = mean_i [ r_i + λ_area · mean_p M_i(p) ],  r = S^bg / (S^fg + ε), r := 0 where S^bg ≥ S^fg
  S^fg-guided = GAP(A · avgpool(M))  (M pooled to A's size)
  L = CE(S, y) + w_fg · CE(S^fg-guided, y) + L_BAS
Localization map: G_c for class c, or (``fuse_topk`` = k > 0) the mean of G over the k top-scoring classes, the
paper's CUB test-time fusion (k = 80 for VGG16, 200 = all classes otherwise); its own protocol then boxes the
min-max normalised map at a fixed threshold (CUB 0.15; 0.1 for InceptionV3). Under this toolkit's protocol the
threshold is chosen on val like every other method's (see README).
Wu, Zhai, Cao, "Background Activation Suppression for Weakly Supervised Object Localization", CVPR 2022,
https://arxiv.org/abs/2112.00580
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.func import functional_call

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
from wsol.models.heads import _init_new_layers, gap_logits
from wsol.models.registry import METHODS


def background_ratio(score_fg: Tensor, score_bg: Tensor, eps: float = 1e-8) -> Tensor:
    """r = S^bg / (S^fg + ε) per image, 0 where S^bg ≥ S^fg; S^fg carries no gradient.

    Scores are clamped at 0 first: a no-op for the paper's head (ReLU class maps), and without that ReLU
    (``head_relu=false``) a negative background score is already suppressed and needs no further push.
    """
    score_fg, score_bg = score_fg.detach().clamp_min(0), score_bg.clamp_min(0)
    ratio = score_bg / (score_fg + eps)
    return torch.where(score_bg >= score_fg, torch.zeros_like(ratio), ratio)


def bas_loss(score_fg: Tensor, score_bg: Tensor, fg_map: Tensor, area_weight: float) -> tuple[Tensor, Tensor, Tensor]:
    """(L_BAS, mean r, mean area) for scores (B,) and foreground maps (B, 1, H, W)."""
    ratio = background_ratio(score_fg, score_bg)
    area = fg_map.flatten(1).mean(1)
    return (ratio + area_weight * area).mean(), ratio.mean(), area.mean()


def _detached_call(module: nn.Module, *args: Any, **kwargs: Any) -> Any:
    """``module(*args)`` with detached parameters and copied buffers: gradients reach only the inputs, and batch
    norm's running statistics are left alone (the background images are not the data distribution)."""
    state = {n: p.detach() for n, p in module.named_parameters()}
    state.update({n: b.clone() for n, b in module.named_buffers()})
    return functional_call(module, state, args, kwargs)


class BAS(WSOLModel):
    """Background activation suppression on a backbone split after stage ``tap``."""

    def __init__(
        self,
        backbone: Backbone,
        num_classes: int,
        tap: str,
        pool_after_tap: bool = False,
        head_width: int = 1024,
        area_weight: float = 0.7,
        fg_weight: float = 0.0,
        fuse_topk: int = 0,
        head_relu: bool = True,
    ) -> None:
        super().__init__()
        names = backbone.stage_names()
        if tap not in names[:-1]:
            raise ValueError(
                f"model.bas.tap={tap!r} must be a backbone stage before the last; stages: {', '.join(names)}"
            )
        if area_weight < 0 or fg_weight < 0 or fuse_topk < 0:
            raise ValueError(
                f"model.bas: area_weight, fg_weight and fuse_topk must be >= 0, got "
                f"{area_weight}, {fg_weight}, {fuse_topk}"
            )
        self.num_classes, self.split = num_classes, names.index(tap) + 1
        self.area_weight, self.fg_weight, self.fuse_topk = float(area_weight), float(fg_weight), int(fuse_topk)
        self.backbone = backbone
        self.pool: nn.Module = nn.MaxPool2d(2) if pool_after_tap else nn.Identity()
        tap_channels, tap_side, _ = backbone.tap_shapes([tap], size=64)[tap]
        self._map_stride = 64 // tap_side
        self.generator = nn.Conv2d(tap_channels, num_classes, 3, padding=1)
        self.head = nn.Sequential(
            nn.Conv2d(backbone.out_channels, head_width, 3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(head_width, head_width, 3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(head_width, num_classes, 1),
            *([nn.ReLU(inplace=True)] if head_relu else []),
        )
        _init_new_layers(self.head)
        nn.init.xavier_uniform_(self.generator.weight)  # BAS's init for its generator
        nn.init.zeros_(self.generator.bias)

    @property
    def map_stride(self) -> int:
        """The generator's maps are at the tap's resolution."""
        return self._map_stride

    def _late(self, tapped: Tensor) -> Tensor:
        return self.head(self.backbone(self.pool(tapped), start=self.split))

    def forward(self, images: Tensor, labels: Tensor | None = None) -> WSOLOutput:
        """Class maps A, logits S and the generator maps G; in training (or with labels) also M and the
        background and foreground-guided logits."""
        tapped = self.backbone(images, stop=self.split)
        maps = self._late(tapped)
        logits = gap_logits(maps)
        generated = torch.sigmoid(self.generator(tapped))
        extras = {"fg_maps": generated}
        if self.training or labels is not None:
            target = labels if labels is not None else logits.argmax(1)
            fg = gather_maps(generated, target[:, None])  # M (B,1,H,W)
            erased = self.pool(tapped.detach() * (1.0 - fg))
            bg_maps = _detached_call(self.head, _detached_call(self.backbone, erased, start=self.split))
            guided = maps * F.adaptive_avg_pool2d(fg, maps.shape[-2:])
            extras.update(fg=fg, logits_bg=gap_logits(bg_maps), logits_fg=gap_logits(guided))
        return WSOLOutput(logits, maps, extras)

    def loss(self, output: WSOLOutput, labels: Tensor) -> dict[str, Tensor]:
        ce = F.cross_entropy(output.logits.float(), labels)
        extras = output.extras
        if "fg" not in extras:
            return {"loss": ce, "ce": ce}
        index = labels[:, None]
        total_bas, ratio, area = bas_loss(
            output.logits.float().gather(1, index)[:, 0],
            extras["logits_bg"].float().gather(1, index)[:, 0],
            extras["fg"].float(),
            self.area_weight,
        )
        ce_fg = F.cross_entropy(extras["logits_fg"].float(), labels)
        return {"loss": ce + self.fg_weight * ce_fg + total_bas, "ce": ce, "ce_fg": ce_fg, "bas": ratio, "area": area}

    def localize(self, images: Tensor, classes: Tensor | None = None, topk: int = 1) -> Localization:
        """Normalised generator maps: each class's own, or the top-``fuse_topk`` fusion (same for all classes)."""
        with _eval_no_grad(self):
            out = self(images)
            logits = out.logits.float()
            cls = resolve_classes(logits, classes, topk)
            generated = out.extras["fg_maps"].float()
            if self.fuse_topk > 0:
                top = logits.topk(min(self.fuse_topk, logits.shape[1]), dim=1).indices
                fused = gather_maps(generated, top).mean(1, keepdim=True)
                maps = fused.expand(-1, cls.shape[1], -1, -1)
            else:
                maps = gather_maps(generated, cls)
            return Localization(logits, cls, normalize_per_map(maps))


@METHODS.register("bas")
def build_bas(backbone: Backbone, num_classes: int, cfg: Any) -> BAS:
    tap = cfg.bas.tap or backbone.stage_names()[-2]
    return BAS(
        backbone,
        num_classes,
        tap,
        pool_after_tap=cfg.bas.pool_after_tap,
        head_width=cfg.head_width,
        area_weight=cfg.bas.area_weight,
        fg_weight=cfg.bas.fg_weight,
        fuse_topk=cfg.bas.fuse_topk,
        head_relu=cfg.bas.head_relu,
    )

"""SPG: self-produced guidance, pixel-level seeds from the network's own maps supervise auxiliary branches.

Branches (wsolevaluation's layout): the classification stream A ends in conv1×1 class maps M (logits =
GAP(M)); B1 and B2 tap two intermediate layers and share their last layers (conv3×3 → conv1×1 → one map);
C reads the features just before A's classifier (conv3×3 → conv1×1 → one map). All maps are compared at input
resolution (bilinear upsampling). With the seed function
  seeds(a; h, l)(p) = 1 if a(p) > h (or a(p) > fallback·max a when fewer than ``min_foreground`` pixels pass h),
                      0 if a(p) < l (overrides 1), ignored otherwise,
and m = minmax(M_y) the label's normalised class map (y = the label, the top-1 class without labels):
  L = CE(GAP(M), y) + BCE(B2, seeds(m; h₁, l₁)) + BCE(B1, seeds(σ(B2); h₂, l₂))
      + BCE(C, seeds((σ(B1) + σ(B2)) / 2; h₃, l₃))
BCE is averaged over the non-ignored pixels; the seeds carry no gradient. Localization uses M, as for CAM.
Zhang et al., "Self-produced Guidance for Weakly-supervised Object Localization", ECCV 2018,
https://arxiv.org/abs/1807.08902
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from wsol.models.backbones import Backbone
from wsol.models.base import WSOLModel, WSOLOutput, gather_maps, normalize_per_map
from wsol.models.heads import _init_new_layers, gap_logits
from wsol.models.registry import METHODS

IGNORE = -1.0  # seed value of pixels that are neither foreground nor background


@dataclass(frozen=True)
class SPGLayout:
    """Where B1 and B2 tap the backbone, their width, C's width, and the extra convs of stream A."""

    b1: str
    b2: str
    width: int
    c_width: int = 512
    a3: tuple[int, ...] = ()  # widths of the conv3×3 layers between the backbone and A's classifier
    dropout: float = 0.0  # before each of A's convs (the field's InceptionV3)


# wsolevaluation's SPG networks: VGG16 taps conv4 (after its pool) and conv5 and adds two 512 convs to A;
# ResNet50 taps layer3's first block and layer3; InceptionV3 taps the pool before Mixed_6a and Mixed_6d.
LAYOUTS = {
    "vgg16": SPGLayout("conv4", "conv5", 512, 512, (512, 512)),
    "resnet50": SPGLayout("layer3.0", "layer3", 1024, 512),
    "inception_v3": SPGLayout("pool5", "mixed6.2", 512, 512, (1024, 1024), 0.5),
}


def spg_seeds(attention: Tensor, fg: float, bg: float, min_foreground: int = 30, fallback: float = 0.7) -> Tensor:
    """Seed mask of ``attention`` (B, ..., H, W): 1 foreground, 0 background, :data:`IGNORE` elsewhere.

    Foreground: values > ``fg``; an image with fewer than ``min_foreground`` such pixels uses
    values > ``fallback`` · (its max) instead. Background: values < ``bg``, applied last (it wins).
    """
    flat = attention.flatten(1)
    strict = flat > fg
    loose = flat > fallback * flat.amax(1, keepdim=True)
    foreground = torch.where((strict.sum(1, keepdim=True) < min_foreground), loose, strict)
    seeds = torch.full_like(flat, IGNORE)
    seeds = torch.where(foreground, torch.ones_like(seeds), seeds)
    seeds = torch.where(flat < bg, torch.zeros_like(seeds), seeds)
    return seeds.view_as(attention)


def seed_bce(logits: Tensor, seeds: Tensor) -> Tensor:
    """Binary cross-entropy of ``logits`` against the non-ignored ``seeds`` (mean over those pixels; 0 if none)."""
    valid = (seeds != IGNORE).float()
    bce = F.binary_cross_entropy_with_logits(logits.float(), seeds.clamp_min(0), reduction="none")
    return (bce * valid).sum() / valid.sum().clamp_min(1.0)


def _conv_relu(cin: int, cout: int) -> list[nn.Module]:
    return [nn.Conv2d(cin, cout, 3, padding=1), nn.ReLU(inplace=True)]


class SPG(WSOLModel):
    """Self-produced guidance on a shared backbone: stream A (classification) and the B1, B2, C branches."""

    def __init__(
        self,
        backbone: Backbone,
        num_classes: int,
        layout: SPGLayout,
        thresholds: Sequence[Sequence[float]] = ((0.7, 0.01), (0.5, 0.05), (0.7, 0.1)),
        min_foreground: int = 30,
        fallback: float = 0.7,
    ) -> None:
        super().__init__()
        self.thresholds = [tuple(float(v) for v in pair) for pair in thresholds]
        if len(self.thresholds) != 3 or any(len(p) != 2 for p in self.thresholds):
            raise ValueError(f"model.spg.thresholds must be 3 [foreground, background] pairs, got {thresholds}")
        self.num_classes, self.layout = num_classes, layout
        self.min_foreground, self.fallback = int(min_foreground), float(fallback)
        self.backbone = backbone
        shapes = backbone.tap_shapes([layout.b1, layout.b2])
        drop = [nn.Dropout(layout.dropout)] if layout.dropout > 0 else []
        a3: list[nn.Module] = []
        channels = backbone.out_channels
        for width in layout.a3:
            a3 += [*drop, *_conv_relu(channels, width)]
            channels = width
        self.head = nn.Sequential(*a3, *drop)
        self.classifier = nn.Conv2d(channels, num_classes, 1)
        self.b1 = nn.Sequential(*_conv_relu(shapes[layout.b1][0], layout.width))
        self.b2 = nn.Sequential(*_conv_relu(shapes[layout.b2][0], layout.width))
        self.b_shared = nn.Sequential(*_conv_relu(layout.width, layout.width), nn.Conv2d(layout.width, 1, 1))
        self.c = nn.Sequential(*_conv_relu(channels, layout.c_width), nn.Conv2d(layout.c_width, 1, 1))
        # He init for the hidden convs, std 0.01 for the three output convs (as heads.py does for every head)
        _init_new_layers(nn.Sequential(self.head, self.b1, self.b2, self.b_shared[:-1], self.c[:-1], self.classifier))
        _init_new_layers(nn.Sequential(self.b_shared[-1]))
        _init_new_layers(nn.Sequential(self.c[-1]))

    def forward(self, images: Tensor, labels: Tensor | None = None) -> WSOLOutput:
        """The branches run in training and whenever labels are given (eval without labels: stream A only)."""
        features, taps = self.backbone.forward_taps(images, (self.layout.b1, self.layout.b2))
        x = self.head(features)
        maps = self.classifier(x)
        logits = gap_logits(maps)
        if not (self.training or labels is not None):
            return WSOLOutput(logits, maps, {})
        target = labels if labels is not None else logits.argmax(1)
        size = images.shape[-2:]
        class_map = gather_maps(maps.detach().float(), target[:, None])
        attention = normalize_per_map(F.interpolate(class_map, size=size, mode="bilinear", align_corners=False))
        extras = {
            "logits_b1": self.b_shared(self.b1(taps[self.layout.b1])),
            "logits_b2": self.b_shared(self.b2(taps[self.layout.b2])),
            "logits_c": self.c(x),
            "attention": attention,
        }
        return WSOLOutput(logits, maps, extras)

    def seed_masks(self, extras: dict[str, Tensor]) -> tuple[Tensor, Tensor, Tensor]:
        """(seeds for B2, for B1, for C) at input resolution, from the branches' detached outputs."""
        attention = extras["attention"]
        size = attention.shape[-2:]
        b1, b2 = (torch.sigmoid(self._up(extras[k].detach(), size)) for k in ("logits_b1", "logits_b2"))
        (h1, l1), (h2, l2), (h3, l3) = self.thresholds
        seeds = (
            spg_seeds(attention, h1, l1, self.min_foreground, self.fallback),
            spg_seeds(b2, h2, l2, self.min_foreground, self.fallback),
            spg_seeds((b1 + b2) / 2, h3, l3, self.min_foreground, self.fallback),
        )
        return seeds

    @staticmethod
    def _up(x: Tensor, size: Any) -> Tensor:
        return F.interpolate(x.float(), size=size, mode="bilinear", align_corners=False)

    def loss(self, output: WSOLOutput, labels: Tensor) -> dict[str, Tensor]:
        ce = F.cross_entropy(output.logits.float(), labels)
        extras = output.extras
        if "attention" not in extras:
            return {"loss": ce, "ce": ce}
        size = extras["attention"].shape[-2:]
        seeds_b2, seeds_b1, seeds_c = self.seed_masks(extras)
        b2 = seed_bce(self._up(extras["logits_b2"], size), seeds_b2)
        b1 = seed_bce(self._up(extras["logits_b1"], size), seeds_b1)
        c = seed_bce(self._up(extras["logits_c"], size), seeds_c)
        return {"loss": ce + b2 + b1 + c, "ce": ce, "spg_b1": b1, "spg_b2": b2, "spg_c": c}


def spg_layout(backbone_name: str, backbone: Backbone, head_width: int) -> SPGLayout:
    """The field's layout for its backbones; otherwise B1, B2 on the last two stages, ``head_width`` wide."""
    if backbone_name in LAYOUTS:
        return LAYOUTS[backbone_name]
    names = backbone.stage_names()
    if len(names) < 2:
        raise ValueError(f"SPG needs a backbone with at least 2 stages, got {names}")
    return SPGLayout(names[-2], names[-1], head_width, head_width)


@METHODS.register("spg")
def build_spg(backbone: Backbone, num_classes: int, cfg: Any) -> SPG:
    if cfg.backbone == "vgg16" and not cfg.large_feature_map:
        conv4 = backbone.stages.conv4  # the field's SPG-VGG16 pools conv4 with a 3×3/2 pool padded by 1
        conv4[len(conv4) - 1] = nn.MaxPool2d(3, stride=2, padding=1)
    return SPG(
        backbone,
        num_classes,
        spg_layout(cfg.backbone, backbone, cfg.head_width),
        thresholds=list(cfg.spg.thresholds),
        min_foreground=cfg.spg.min_foreground,
        fallback=cfg.spg.fallback,
    )

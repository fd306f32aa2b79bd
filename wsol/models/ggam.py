"""GGAM: channel–spatial attention guided by Grad-CAM channel importances (Xu et al., arXiv 2101.09666,
https://arxiv.org/abs/2101.09666).

For backbone features A (D channels, h×w):
  S = σ(W₂ ReLU(W₁ GAP(A)))                       channel weights, S ∈ (0,1)^D
  B = A · S (per channel);  T = Σ_c B_c / Σ_{c,i,j} B_{c,i,j}   spatial attention (sums to 1 over space)
  D = A ⊙ (hw·T)                                  (hw·T has mean 1, which keeps activations at A's scale)
  maps = conv1×1(D), logits = GAP(maps)
Grad-CAM importances of the target score y^k:  β_c = (1/hw) Σ_{i,j} ∂y^k/∂A_{c,i,j},  β̃ = σ(β)
  L_GGAM = ½ [KL(Ŝ ‖ β̂) + KL(β̂ ‖ Ŝ)], with Ŝ, β̂ the vectors S, β̃ normalised to sum 1 over channels
  Loss = CE + λ · L_GGAM
β is taken with ``torch.autograd.grad(..., create_graph=True)`` inside the loss, so L_GGAM is differentiable
(it reaches the attention FCs, the classifier and the backbone). Under ``torch.no_grad`` (validation) only
CE is reported.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from wsol.models.backbones import Backbone
from wsol.models.base import WSOLModel, WSOLOutput
from wsol.models.cam import cam_head_args
from wsol.models.heads import CAMHead, gap_logits
from wsol.models.registry import METHODS


def symmetric_kl(p: Tensor, q: Tensor, eps: float = 1e-8) -> Tensor:
    """½ (KL(p‖q) + KL(q‖p)) per row for positive vectors (B, D), each first normalised to sum 1."""
    p = p / p.sum(dim=1, keepdim=True).clamp_min(eps)
    q = q / q.sum(dim=1, keepdim=True).clamp_min(eps)
    log_p, log_q = p.clamp_min(eps).log(), q.clamp_min(eps).log()
    return 0.5 * ((p * (log_p - log_q)).sum(1) + (q * (log_q - log_p)).sum(1))


class GGAM(WSOLModel):
    """Grad-CAM guided channel–spatial attention with a CAM classifier on the attended features."""

    def __init__(
        self,
        backbone: Backbone,
        num_classes: int,
        reduction: int = 16,
        lam: float = 1.0,
        head_width: int = 0,
        head_layers: int = 1,
        head_dropout: float = 0.0,
    ) -> None:
        super().__init__()
        self.num_classes = num_classes
        self.lam = lam
        self.backbone = backbone
        dim = backbone.out_channels
        hidden = max(dim // reduction, 1)
        self.attention = nn.Sequential(nn.Linear(dim, hidden), nn.ReLU(inplace=True), nn.Linear(hidden, dim))
        self.head = CAMHead(dim, num_classes, head_width, head_layers, head_dropout)

    def forward(self, images: Tensor, labels: Tensor | None = None) -> WSOLOutput:
        features = self.backbone(images)
        if torch.is_grad_enabled() and not features.requires_grad:
            features.requires_grad_(True)  # frozen trunk: Grad-CAM still needs ∂y/∂A
        weights = torch.sigmoid(self.attention(features.mean(dim=(2, 3))))  # S (B,D)
        weighted = features.clamp_min(0) * weights[:, :, None, None]  # B
        summed = weighted.sum(dim=1, keepdim=True)
        hw = summed.shape[2] * summed.shape[3]
        spatial = hw * summed / summed.sum(dim=(2, 3), keepdim=True).clamp_min(1e-6)  # hw·T
        maps = self.head(features * spatial)
        return WSOLOutput(gap_logits(maps), maps, {"features": features, "channel_weights": weights})

    def loss(self, output: WSOLOutput, labels: Tensor) -> dict[str, Tensor]:
        ce = F.cross_entropy(output.logits.float(), labels)
        features = output.extras["features"]
        if not (torch.is_grad_enabled() and features.requires_grad):
            return {"loss": ce, "ce": ce}
        score = output.logits.gather(1, labels[:, None]).sum()
        (grads,) = torch.autograd.grad(score, features, create_graph=True)
        importance = torch.sigmoid(grads.float().mean(dim=(2, 3)))  # β̃ (B,D)
        ggam = symmetric_kl(output.extras["channel_weights"].float(), importance).mean()
        return {"loss": ce + self.lam * ggam, "ce": ce, "ggam": ggam}


@METHODS.register("ggam")
def build_ggam(backbone: Backbone, num_classes: int, cfg: Any) -> GGAM:
    return GGAM(backbone, num_classes, reduction=cfg.ggam.reduction, lam=cfg.ggam.lam, **cam_head_args(cfg))

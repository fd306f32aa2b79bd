"""The model contract every WSOL method implements: one output type, a loss, and batched localization.

``forward`` always returns :class:`WSOLOutput` (never a flag-dependent type), ``loss`` turns it into a dict
whose ``"loss"`` entry is the total, and ``localize`` gives min-max normalised class maps for the requested
classes at feature resolution (the evaluator upsamples them).
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class WSOLOutput(NamedTuple):
    """What ``forward`` returns, whatever the mode."""

    logits: Tensor  # (B, C) classification logits
    maps: Tensor  # (B, C, h, w) class maps of the main branch (raw, not normalised)
    extras: dict[str, Tensor]  # method-specific tensors the loss needs


class Localization(NamedTuple):
    """What ``localize`` returns: maps for the requested classes only."""

    logits: Tensor  # (B, C)
    classes: Tensor  # (B, K) long
    maps: Tensor  # (B, K, h, w) float in [0, 1], feature resolution


def normalize_per_map(maps: Tensor, eps: float = 1e-12) -> Tensor:
    """Min-max normalise each map over its last two dims to [0, 1]; a constant map becomes all zeros.

    Bicubic upsampling is linear with weights that sum to one, so normalising before or after it gives the
    same map once the evaluator renormalises (min-max is invariant to positive affine changes).
    """
    flat = maps.flatten(-2)
    low = flat.amin(-1, keepdim=True)
    span = flat.amax(-1, keepdim=True) - low
    out = (flat - low) / span.clamp_min(eps)
    out = torch.where(span > eps, out, torch.zeros_like(out))
    return out.view_as(maps)


def gather_maps(maps: Tensor, classes: Tensor) -> Tensor:
    """(B, C, h, w) maps and (B, K) class indices → (B, K, h, w)."""
    b, _, h, w = maps.shape
    index = classes.to(maps.device).long()[:, :, None, None].expand(b, classes.shape[1], h, w)
    return maps.gather(1, index)


def resolve_classes(logits: Tensor, classes: Tensor | None, topk: int) -> Tensor:
    """Explicit (B,) / (B, K) classes, or the top-k predicted ones when ``classes`` is None."""
    if classes is None:
        if not 1 <= topk <= logits.shape[1]:
            raise ValueError(f"topk must be in [1, {logits.shape[1]}], got {topk}")
        return logits.topk(topk, dim=1).indices
    classes = torch.as_tensor(classes, device=logits.device).long()
    if classes.dim() == 1:
        classes = classes[:, None]
    if classes.dim() != 2 or classes.shape[0] != logits.shape[0]:
        raise ValueError(f"classes must be (B,) or (B, K) with B={logits.shape[0]}, got {tuple(classes.shape)}")
    if classes.numel() and (classes.min() < 0 or classes.max() >= logits.shape[1]):
        raise ValueError(
            f"classes must be in [0, {logits.shape[1]}), got range [{int(classes.min())}, {int(classes.max())}]"
        )
    return classes


class WSOLModel(nn.Module):
    """Base of every method: a ``backbone`` (ImageNet-initialisable trunk) plus new layers (heads).

    Subclasses implement ``forward``; the default ``loss`` is cross-entropy on the logits and the default
    ``localize`` gathers and normalises the main-branch maps of the requested classes.
    """

    num_classes: int
    backbone: nn.Module

    def loss(self, output: WSOLOutput, labels: Tensor) -> dict[str, Tensor]:
        ce = F.cross_entropy(output.logits.float(), labels)
        return {"loss": ce, "ce": ce}

    def localize(self, images: Tensor, classes: Tensor | None = None, topk: int = 1) -> Localization:
        """Normalised maps for ``classes`` (B,K) or the top-k predictions; eval mode, no grad, mode restored."""
        with _eval_no_grad(self):
            out = self(images)
            cls = resolve_classes(out.logits, classes, topk)
            maps = normalize_per_map(gather_maps(out.maps.float(), cls))
            return Localization(out.logits.float(), cls, maps)

    @property
    def map_stride(self) -> int:
        """Input pixels per cell of the maps ``localize`` returns (the backbone's stride unless a method says)."""
        return int(self.backbone.stride)

    def parameter_groups(self) -> tuple[list[nn.Parameter], list[nn.Parameter]]:
        """(backbone parameters, new-layer parameters): the field trains new layers at 10× the backbone lr."""
        backbone_ids = {id(p) for p in self.backbone.parameters()}
        backbone = [p for p in self.parameters() if id(p) in backbone_ids and p.requires_grad]
        new = [p for p in self.parameters() if id(p) not in backbone_ids and p.requires_grad]
        return backbone, new


class _eval_no_grad:
    """Context: eval mode + no grad, the previous train flag restored even when the body raises."""

    def __init__(self, model: nn.Module) -> None:
        self.model = model
        self.was_training = model.training
        self.no_grad = torch.no_grad()

    def __enter__(self) -> None:
        self.model.eval()
        self.no_grad.__enter__()

    def __exit__(self, *exc: object) -> None:
        self.no_grad.__exit__(*exc)
        self.model.train(self.was_training)

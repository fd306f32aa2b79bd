"""Score-CAM: channel weights from the scores of the input masked by each (upsampled) activation map."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from wsol.cams.base import CAM_METHODS, Explainer
from wsol.cams.gradcam import forward_with_activations
from wsol.cams.hooks import model_logits
from wsol.cams.targets import Target, TargetSpec, resolve_target, target_scores


@CAM_METHODS.register("scorecam")
class ScoreCAM(Explainer):
    """Score-CAM: ``M = ReLU(Σ_k w_k A_k)``, ``w = softmax_k(y_c(X ⊙ H_k))``, ``H_k = s(Up(A_k))`` with ``s``
    min-max normalisation per channel, i.e. each channel is weighted by the target score of the input masked
    with that channel's upsampled, normalised activation.

    Wang et al., "Score-CAM: Score-Weighted Visual Explanations for Convolutional Neural Networks",
    CVPR-W 2020, https://arxiv.org/abs/1910.01279. Conventions follow pytorch-grad-cam so maps agree:
    raw logits as scores, softmax over channels, masks upsampled bilinearly with ``align_corners=True``
    (``mask_align_corners``) and normalised as ``(u - min) / (max - min + 1e-8)``.

    The B·C masked forwards run in batches of ``batch_size`` built on the fly (never all at once); channels
    whose activation is constant give an all-zero mask, so they share one forward of a blank image.

    Args:
        batch_size: masked images per forward.
    """

    uses_gradients = False
    supports_differentiable = False

    def __init__(
        self,
        model: nn.Module,
        layers: str | Sequence[str] | None = None,
        *,
        batch_size: int = 64,
        mask_align_corners: bool = True,
        **kwargs: object,
    ) -> None:
        super().__init__(model, layers, **kwargs)  # type: ignore[arg-type]
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.batch_size, self.mask_align_corners = batch_size, mask_align_corners

    def _masks(self, acts: Tensor, size: tuple[int, int]) -> Tensor:
        up = F.interpolate(acts[:, None], size=size, mode="bilinear", align_corners=self.mask_align_corners)
        flat = up.flatten(1)
        low, high = flat.amin(1, keepdim=True), flat.amax(1, keepdim=True)
        return ((flat - low) / (high - low + 1e-8)).view_as(up)

    @torch.no_grad()
    def channel_scores(self, images: Tensor, acts: Tensor, target: Target) -> Tensor:
        """(B, C, K) target scores of the masked inputs."""
        b, c = acts.shape[:2]
        flat = acts.flatten(2)
        constant = (flat.amax(2) == flat.amin(2)).flatten()  # all-zero masks
        pairs = torch.arange(b * c, device=acts.device)
        live = pairs[~constant]
        k = target.classes.shape[1]
        scores = torch.empty(b * c, k, device=acts.device, dtype=torch.float32)
        if constant.any():
            blank = model_logits(self.model(torch.zeros_like(images[:1])))
            dead = pairs[constant]
            scores[dead] = target_scores(target, blank.expand(len(dead), -1), dead // c).float()
        size = (images.shape[-2], images.shape[-1])
        for start in range(0, len(live), self.batch_size):
            idx = live[start : start + self.batch_size]
            sample, channel = idx // c, idx % c
            masks = self._masks(acts[sample, channel], size)
            logits = model_logits(self.model(images[sample] * masks))
            scores[idx] = target_scores(target, logits, sample).float()
        return scores.view(b, c, k)

    def _explain(
        self, images: Tensor, names: list[str], targets: TargetSpec, differentiable: bool
    ) -> tuple[list[Tensor], Tensor, Target, bool]:
        acts, logits = forward_with_activations(self.model, names, images, "none")
        acts = self.to_grids(names, acts, (images.shape[-2], images.shape[-1]))[0]
        target, two_d = resolve_target(targets, logits)
        maps = []
        for a in acts:
            weights = torch.softmax(self.channel_scores(images, a, target), dim=1)  # (B, C, K)
            maps.append(torch.relu(torch.einsum("bck,bchw->bkhw", weights.to(a.dtype), a)))
        return maps, logits, target, two_d

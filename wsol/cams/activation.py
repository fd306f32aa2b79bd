"""Gradient-free maps from a layer's activations: CAM (classifier weights) and EigenCAM (first principal
component)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from wsol.cams.base import CAM_METHODS, Explainer
from wsol.cams.gradcam import forward_with_activations
from wsol.cams.hooks import resolve_layers, spatial_layers
from wsol.cams.targets import ClassTarget, Target, TargetSpec, resolve_target


def find_head(model: nn.Module, channels: int, num_classes: int) -> tuple[str, Tensor]:
    """The last ``nn.Linear`` or 1x1 ``nn.Conv2d`` mapping ``channels`` features to ``num_classes`` outputs."""
    found = None
    for name, module in model.named_modules():
        if isinstance(module, nn.Linear) and module.weight.shape == (num_classes, channels):
            found = (name, module.weight)
        elif (
            isinstance(module, nn.Conv2d)
            and module.kernel_size == (1, 1)
            and module.groups == 1
            and module.weight.shape[:2] == (num_classes, channels)
        ):
            found = (name, module.weight[:, :, 0, 0])
    if found is None:
        raise ValueError(
            f"CAM needs a global-average-pooling + linear (or 1x1 conv) head with weight "
            f"({num_classes}, {channels}); none found — pass head=NAME or use Grad-CAM"
        )
    return found


@CAM_METHODS.register("cam")
class CAM(Explainer):
    """Class activation mapping: ``M_c = Σ_k W_ck A_k`` for a GAP + linear head with weights ``W``.

    Zhou et al., "Learning Deep Features for Discriminative Localization", CVPR 2016,
    https://arxiv.org/abs/1512.04150. The head's bias is ignored (a constant shift). ``relu=True`` (default)
    clips negative evidence like the gradient CAMs; ``relu=False`` is wsolevaluation's raw CAM.

    Args:
        head: name of the classifier module; ``None`` → the last Linear / 1x1 Conv2d of shape (classes, C).
    """

    uses_gradients = False

    def __init__(
        self,
        model: nn.Module,
        layers: str | Sequence[str] | None = None,
        *,
        head: str | None = None,
        relu: bool = True,
        **kwargs: object,
    ) -> None:
        super().__init__(model, layers, **kwargs)  # type: ignore[arg-type]
        if head is not None:
            resolve_layers(model, [head])
        self.head, self.relu = head, relu

    def target_layers(self, images: Tensor) -> list[str]:
        """Automatic choice: the last spatial layer whose channels feed the classifier head (for a WSOL model
        that is the backbone, not the class-map head that the generic rule would pick)."""
        if self.layers is None:
            heads = [
                m
                for m in self.model.modules()
                if isinstance(m, nn.Linear) or (isinstance(m, nn.Conv2d) and m.kernel_size == (1, 1) and m.groups == 1)
            ]
            if heads:
                width = heads[-1].weight.shape[1]
                found = [n for n, s in spatial_layers(self.model, images) if s[1] == width and s[2] * s[3] > 1]
                if found:
                    self.layers = [found[-1]]
        return super().target_layers(images)

    def _weights(self, channels: int, num_classes: int) -> Tensor:
        if self.head is None:
            return find_head(self.model, channels, num_classes)[1]
        module = resolve_layers(self.model, [self.head])[0]
        weight = getattr(module, "weight", None)
        if weight is None or weight.dim() not in (2, 4) or weight.shape[:2] != (num_classes, channels):
            raise ValueError(
                f"head {self.head!r} must be a Linear / 1x1 conv with weight ({num_classes}, {channels})"
                f", got {None if weight is None else tuple(weight.shape)}"
            )
        return weight.flatten(1)

    def _explain(
        self, images: Tensor, names: list[str], targets: TargetSpec, differentiable: bool
    ) -> tuple[list[Tensor], Tensor, Target, bool]:
        acts, logits = forward_with_activations(self.model, names, images, "full" if differentiable else "none")
        acts = self.to_grids(names, acts, (images.shape[-2], images.shape[-1]))[0]
        target, two_d = resolve_target(targets, logits)
        if not isinstance(target, ClassTarget):
            raise ValueError("CAM needs class indices as targets (it reads the classifier weights of a class)")
        classes = target.classes.to(logits.device)
        maps = []
        for name, a in zip(names, acts):
            try:
                weight = self._weights(a.shape[1], logits.shape[1])[classes]  # (B, K, C)
            except ValueError as exc:
                raise ValueError(f"layer {name!r} ({a.shape[1]} channels): {exc}") from None
            m = torch.einsum("bkc,bchw->bkhw", weight.to(a.dtype), a)
            maps.append(torch.relu(m) if self.relu else m)
        return maps, logits, target, two_d


@CAM_METHODS.register("eigencam")
class EigenCAM(Explainer):
    """EigenCAM: the projection of the activations on their first principal component,
    ``M = ReLU((A - mean) v_1)`` with ``A`` as (hw, C) and ``v_1`` the first right singular vector.

    Muhammad & Yeasin, "Eigen-CAM: Class Activation Map using Principal Components", IJCNN 2020,
    https://arxiv.org/abs/2008.00299. Class-agnostic (the same map for every target). The SVD's sign is
    fixed so the map correlates positively with the channel-summed activation (pytorch-grad-cam leaves it
    arbitrary).
    """

    uses_gradients = False

    def _explain(
        self, images: Tensor, names: list[str], targets: TargetSpec, differentiable: bool
    ) -> tuple[list[Tensor], Tensor, Target, bool]:
        acts, logits = forward_with_activations(self.model, names, images, "full" if differentiable else "none")
        acts = self.to_grids(names, acts, (images.shape[-2], images.shape[-1]))[0]
        target, two_d = resolve_target(targets, logits)
        k = target.classes.shape[1]
        maps = []
        for a in acts:
            b, c, h, w = a.shape
            x = a.flatten(2).transpose(1, 2)  # (B, hw, C)
            x = x - x.mean(1, keepdim=True)
            _, _, vh = torch.linalg.svd(x, full_matrices=False)
            proj = x @ vh[:, 0, :, None]  # (B, hw, 1)
            ref = a.sum(1).flatten(1)
            sign = torch.sign(((ref - ref.mean(1, keepdim=True)) * proj[..., 0]).sum(1))
            sign = torch.where(sign == 0, torch.ones_like(sign), sign)
            m = torch.relu(proj[..., 0] * sign[:, None]).view(b, 1, h, w)
            maps.append(m.expand(b, k, h, w))
        return maps, logits, target, two_d

"""Gradient-weighted class activation maps: Grad-CAM, Grad-CAM++, XGradCAM, LayerCAM, HiResCAM.

All of them combine a target layer's activations ``A`` (B, C, h, w) with the gradient ``G = ∂y_c / ∂A`` of the
target score. The gradient is taken with ``torch.autograd.grad`` with respect to ``A`` only: the trunk before
the layer runs without a graph, so no parameter gradient is ever computed and ``.grad`` is never touched.
"""

from __future__ import annotations

from abc import abstractmethod

import torch
from torch import Tensor

from wsol.cams.base import CAM_METHODS, Explainer
from wsol.cams.hooks import LayerCapture, model_logits
from wsol.cams.targets import Target, TargetSpec, resolve_target, target_scores


def forward_with_activations(
    model: torch.nn.Module, names: list[str], images: Tensor, grad: str
) -> tuple[list[Tensor], Tensor]:
    """One forward capturing the layers' raw outputs (any layout, see ``Explainer.to_grids``): ``grad`` is
    ``"none"``, ``"head"`` (graph from the first target layer on; the fast path) or ``"full"`` (the model's whole
    graph, for differentiable maps)."""
    with LayerCapture(model, names, detach_trunk=grad == "head", spatial=False) as capture:
        with torch.set_grad_enabled(grad == "full"):
            output = model(images)
        acts = capture.activations()
    return acts, model_logits(output)


def activation_gradients(
    model: torch.nn.Module, names: list[str], images: Tensor, targets: TargetSpec, differentiable: bool
) -> tuple[list[Tensor], list[list[Tensor]], Tensor, Target, bool]:
    """Activations per layer, gradients per (target column k, layer), logits, target, two_d."""
    acts, logits = forward_with_activations(model, names, images, "full" if differentiable else "head")
    target, two_d = resolve_target(targets, logits)
    with torch.enable_grad():
        scores = target_scores(target, logits, torch.arange(images.shape[0], device=logits.device))
        if not scores.requires_grad:
            raise RuntimeError(
                f"the target score does not depend on layer(s) {names}; pick a layer on the path to the logits"
            )
        grads = []
        for k in range(scores.shape[1]):
            g = torch.autograd.grad(
                scores[:, k].sum(),
                acts,
                retain_graph=differentiable or k + 1 < scores.shape[1],
                create_graph=differentiable,
                allow_unused=True,
            )
            if any(x is None for x in g):
                unused = [n for n, x in zip(names, g) if x is None]
                raise RuntimeError(f"the target score does not depend on layer(s) {unused}")
            grads.append(list(g))
    return acts, grads, logits, target, two_d


class GradientCAM(Explainer):
    """Shared driver: one forward, one gradient per target column, then ``combine(A, G)`` per layer."""

    def _explain(
        self, images: Tensor, names: list[str], targets: TargetSpec, differentiable: bool
    ) -> tuple[list[Tensor], Tensor, Target, bool]:
        acts, grads, logits, target, two_d = activation_gradients(self.model, names, images, targets, differentiable)
        acts, grads = self.to_grids(names, acts, (images.shape[-2], images.shape[-1]), grads)
        maps = [torch.stack([self.combine(a, g[i]) for g in grads], 1) for i, a in enumerate(acts)]
        return maps, logits, target, two_d

    @staticmethod
    @abstractmethod
    def combine(acts: Tensor, grads: Tensor) -> Tensor:
        """(B, C, h, w) activations and gradients → (B, h, w) raw map."""


def _weighted_sum(weights: Tensor, acts: Tensor) -> Tensor:
    return torch.relu((weights[:, :, None, None] * acts).sum(1))


@CAM_METHODS.register("gradcam")
class GradCAM(GradientCAM):
    """Grad-CAM: ``M = ReLU(Σ_k w_k A_k)`` with ``w_k = mean_ij ∂y_c/∂A_kij``.

    Selvaraju et al., "Grad-CAM: Visual Explanations from Deep Networks via Gradient-based Localization",
    ICCV 2017, https://arxiv.org/abs/1610.02391
    """

    @staticmethod
    def combine(acts: Tensor, grads: Tensor) -> Tensor:
        return _weighted_sum(grads.mean((2, 3)), acts)


@CAM_METHODS.register("gradcam++")
class GradCAMPlusPlus(GradientCAM):
    """Grad-CAM++: ``w_k = Σ_ij α_kij ReLU(g_kij)``, ``α = g² / (2g² + Σ_ab A_kab · g³ + ε)`` (α = 0 where
    g = 0), ``g = ∂y_c/∂A``, the exponential-score closed form of eq. 19; ``M = ReLU(Σ_k w_k A_k)``.

    Chattopadhay et al., "Grad-CAM++: Improved Visual Explanations for Deep Convolutional Networks",
    WACV 2018, https://arxiv.org/abs/1710.11063 (ε = 1e-6 as pytorch-grad-cam).
    """

    @staticmethod
    def combine(acts: Tensor, grads: Tensor) -> Tensor:
        g2 = grads.pow(2)
        sum_a = acts.sum((2, 3), keepdim=True)
        alpha = g2 / (2 * g2 + sum_a * g2 * grads + 1e-6)
        alpha = torch.where(grads != 0, alpha, torch.zeros_like(alpha))
        return _weighted_sum((torch.relu(grads) * alpha).sum((2, 3)), acts)


@CAM_METHODS.register("xgradcam")
class XGradCAM(GradientCAM):
    """XGrad-CAM: ``w_k = Σ_ij (A_kij / Σ_ab A_kab) ∂y_c/∂A_kij``; ``M = ReLU(Σ_k w_k A_k)``.

    Fu et al., "Axiom-based Grad-CAM: Towards Accurate Visualization and Explanation of CNNs", BMVC 2020,
    https://arxiv.org/abs/2008.02312
    """

    @staticmethod
    def combine(acts: Tensor, grads: Tensor) -> Tensor:
        weights = (grads * acts / (acts.sum((2, 3), keepdim=True) + 1e-7)).sum((2, 3))
        return _weighted_sum(weights, acts)


@CAM_METHODS.register("layercam")
class LayerCAM(GradientCAM):
    """LayerCAM: ``M = ReLU(Σ_k ReLU(∂y_c/∂A_k) ⊙ A_k)`` (element-wise, positive gradients only).

    Jiang et al., "LayerCAM: Exploring Hierarchical Class Activation Maps for Localization", IEEE TIP 2021,
    https://doi.org/10.1109/TIP.2021.3089943
    """

    @staticmethod
    def combine(acts: Tensor, grads: Tensor) -> Tensor:
        return torch.relu((torch.relu(grads) * acts).sum(1))


@CAM_METHODS.register("hirescam")
class HiResCAM(GradientCAM):
    """HiResCAM: ``M = ReLU(Σ_k ∂y_c/∂A_k ⊙ A_k)`` (gradient times activation, no spatial averaging).

    Draelos & Carin, "Use HiResCAM instead of Grad-CAM for faithful explanations of convolutional neural
    networks", 2020, https://arxiv.org/abs/2011.08891
    """

    @staticmethod
    def combine(acts: Tensor, grads: Tensor) -> Tensor:
        return torch.relu((grads * acts).sum(1))

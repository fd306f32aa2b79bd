"""Input-gradient maps: vanilla gradient saliency, guided backpropagation, and SmoothGrad over any explainer."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from wsol.cams.base import CAM_METHODS, Explainer
from wsol.cams.hooks import model_logits
from wsol.cams.targets import Target, TargetSpec, resolve_target, target_scores


def input_gradients(
    model: nn.Module, images: Tensor, targets: TargetSpec, differentiable: bool
) -> tuple[list[Tensor], Tensor, Target, bool]:
    """∂score/∂x for each target column: a list of (B, 3, H, W), plus logits, target and two_d."""
    x = images if (differentiable and images.requires_grad) else images.detach().clone().requires_grad_(True)
    with torch.enable_grad():
        logits = model_logits(model(x))
        target, two_d = resolve_target(targets, logits)
        scores = target_scores(target, logits, torch.arange(x.shape[0], device=logits.device))
        grads = []
        for k in range(scores.shape[1]):
            (g,) = torch.autograd.grad(
                scores[:, k].sum(),
                x,
                retain_graph=differentiable or k + 1 < scores.shape[1],
                create_graph=differentiable,
            )
            grads.append(g)
    return grads, logits, target, two_d


@CAM_METHODS.register("saliency")
class Saliency(Explainer):
    """Vanilla gradient saliency: ``M_ij = max_c |∂y_c/∂x_cij|`` (max over colour channels).

    Simonyan et al., "Deep Inside Convolutional Networks: Visualising Image Classification Models and Saliency
    Maps", ICLR-W 2014, https://arxiv.org/abs/1312.6034. Maps are at input resolution; ``layers`` is ignored.
    """

    uses_layers = False

    def __init__(self, model: nn.Module, layers: str | Sequence[str] | None = None, **kwargs: object) -> None:
        super().__init__(model, None, **kwargs)  # type: ignore[arg-type]

    def _explain(
        self, images: Tensor, names: list[str], targets: TargetSpec, differentiable: bool
    ) -> tuple[list[Tensor], Tensor, Target, bool]:
        grads, logits, target, two_d = input_gradients(self.model, images, targets, differentiable)
        return [torch.stack([g.abs().amax(1) for g in grads], 1)], logits, target, two_d


class _GuidedReLU(torch.autograd.Function):
    """Identity on a ReLU's output whose backward keeps only positive gradients at positive activations."""

    @staticmethod
    def forward(ctx: torch.autograd.function.FunctionCtx, out: Tensor) -> Tensor:  # type: ignore[override]
        ctx.save_for_backward(out)
        return out.clone()

    @staticmethod
    def backward(ctx: torch.autograd.function.FunctionCtx, grad: Tensor) -> Tensor:  # type: ignore[override]
        (out,) = ctx.saved_tensors  # type: ignore[attr-defined]
        return grad.clamp_min(0) * (out > 0).to(grad.dtype)


@CAM_METHODS.register("guided_backprop")
class GuidedBackprop(Saliency):
    """Guided backpropagation: the input gradient with every ReLU's backward replaced by
    ``R_in = 1[x > 0] · ReLU(R_out)``; ``M_ij = max_c |R_cij|``.

    Springenberg et al., "Striving for Simplicity: The All Convolutional Net", ICLR-W 2015,
    https://arxiv.org/abs/1412.6806. Only ``nn.ReLU`` modules are guided (functional ``F.relu`` calls inside a
    model's forward are not seen by hooks). The hooks exist only during the call.
    """

    supports_differentiable = False

    def _explain(
        self, images: Tensor, names: list[str], targets: TargetSpec, differentiable: bool
    ) -> tuple[list[Tensor], Tensor, Target, bool]:
        relus = [m for m in self.model.modules() if isinstance(m, nn.ReLU)]
        if not relus:
            raise ValueError("guided backpropagation needs nn.ReLU modules in the model; none found")
        handles = []
        try:
            for module in relus:
                handles.append(module.register_forward_hook(lambda m, args, out: _GuidedReLU.apply(out)))
            return super()._explain(images, names, targets, differentiable)
        finally:
            for h in handles:
                h.remove()


class _SampleTarget:
    """A target for ``copies`` stacked noisy versions of a batch of ``batch`` samples."""

    def __init__(self, target: Target, batch: int, copies: int) -> None:
        self.target, self.batch = target, batch
        self.classes = target.classes.repeat(copies, 1)

    def __call__(self, logits: Tensor, sample: Tensor) -> Tensor:
        return self.target(logits, sample % self.batch)


@CAM_METHODS.register("smoothgrad")
class SmoothGrad(Explainer):
    """SmoothGrad, a noise tunnel over any explainer: ``M = (1/n) Σ_i E(x + ε_i)``, ``ε_i ~ N(0, σ²)``,
    ``σ = noise_level · (max(x) - min(x))`` per sample; raw maps of the inner explainer are averaged.

    Smilkov et al., "SmoothGrad: removing noise by adding noise", 2017, https://arxiv.org/abs/1706.03825.
    The targets are resolved once on the clean input (predicted class), so every noisy copy explains the same
    class. Noisy copies are stacked into batches of at most ``batch_size`` images.

    Args:
        base: a registered method name (default ``"saliency"``) or an explainer instance.
        samples: noisy copies per image (n). seed: seed of the noise (reproducible maps).
    """

    def __init__(
        self,
        model: nn.Module,
        layers: str | Sequence[str] | None = None,
        *,
        base: str | Explainer = "saliency",
        samples: int = 25,
        noise_level: float = 0.15,
        batch_size: int = 64,
        seed: int = 0,
        **kwargs: object,
    ) -> None:
        super().__init__(model, None, **kwargs)  # type: ignore[arg-type]
        self.base = base if isinstance(base, Explainer) else CAM_METHODS.get(base)(model, layers)
        if self.base.model is not model:
            raise ValueError("the base explainer must wrap the same model")
        if samples < 1 or noise_level < 0 or batch_size < 1:
            raise ValueError(
                f"need samples >= 1, noise_level >= 0, batch_size >= 1; got {samples}, {noise_level}, {batch_size}"
            )
        self.samples, self.noise_level, self.batch_size, self.seed = samples, noise_level, batch_size, seed
        self.uses_layers = False
        self.supports_differentiable = self.base.supports_differentiable

    def _explain(
        self, images: Tensor, names: list[str], targets: TargetSpec, differentiable: bool
    ) -> tuple[list[Tensor], Tensor, Target, bool]:
        with torch.no_grad():
            logits = model_logits(self.model(images))
        target, two_d = resolve_target(targets, logits)
        b = images.shape[0]
        span = (images.flatten(1).amax(1) - images.flatten(1).amin(1)).view(b, 1, 1, 1)
        gen = torch.Generator(device=images.device).manual_seed(self.seed)
        per_chunk = max(1, self.batch_size // b)
        total = torch.zeros((), device=images.device)
        for start in range(0, self.samples, per_chunk):
            n = min(per_chunk, self.samples - start)
            noise = torch.randn((n, *images.shape), generator=gen, device=images.device, dtype=images.dtype)
            noisy = (images.detach()[None] + noise * span * self.noise_level).flatten(0, 1)  # copy-major
            maps = self.base.explain_maps(
                noisy, _SampleTarget(target, b, n), False, "input", "bilinear", differentiable
            )[0]
            total = total + maps.view(n, b, *maps.shape[1:]).sum(0)
        return [total / self.samples], logits, target, two_d

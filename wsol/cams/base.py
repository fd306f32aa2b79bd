"""The explainer base class, its result type and the ``CAM_METHODS`` registry.

An explainer is built once for a model (``GradCAM(model, "layer4")``) and called on batches:
``explainer(images, targets)`` → :class:`Explanation`. It holds no hooks between calls: every call registers
what it needs inside context managers and removes it in ``finally``, so ``with GradCAM(...) as cam:`` and a
plain object behave the same and a model is never left hooked.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import NamedTuple

import torch
from torch import Tensor, nn

from wsol.cams.hooks import check_grad_mode, find_target_layer, layer_names, model_mode
from wsol.cams.layout import ReshapeTransform, prefix_of, resolve_layout, to_grid
from wsol.cams.postprocess import finalize, output_size
from wsol.cams.targets import Target, TargetSpec
from wsol.registry import Registry

CAM_METHODS: Registry = Registry("cam method")


class Explanation(NamedTuple):
    """One explainer call's result."""

    maps: Tensor  # (B, H, W), or (B, K, H, W) when the targets were a (B, K) class tensor
    classes: Tensor  # (B,) or (B, K): the explained classes (-1 for a custom target without classes)
    logits: Tensor  # (B, C) logits of the unperturbed forward, detached


class Explainer(ABC):
    """Base of all explainers: layer choice, model-mode handling, resizing / normalisation / fusion.

    Args:
        model: any module whose output is (B, C) logits, a ``WSOLOutput`` or a tuple starting with logits.
        layers: target layer name(s) from ``model.named_modules()`` or the modules themselves
            (``[model.layer4[-1]]``); ``None`` → the last module with a spatial output that the logits depend on,
            found by a dry forward and backward on the first call (``find_target_layer``). Ignored by input-space
            methods.
        fuse: ``"mean"`` or ``"max"`` over several layers' maps.
        model_mode: ``"auto"`` (eval during the call, flags restored; the model's own mode in differentiable
            calls), ``"eval"`` or ``"keep"``.
    """

    uses_layers: bool = True
    uses_gradients: bool = True
    supports_differentiable: bool = True

    def __init__(
        self,
        model: nn.Module,
        layers: str | nn.Module | Sequence[str | nn.Module] | None = None,
        *,
        fuse: str = "mean",
        model_mode: str = "auto",
        reshape_transform: ReshapeTransform = None,
    ) -> None:
        if not isinstance(model, nn.Module):
            raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
        self.model = model
        self.layers = layer_names(model, layers) if layers is not None else None
        if self.layers is not None and not self.layers:
            raise ValueError("layers must name at least one layer (or be None for automatic choice)")
        self.fuse = fuse
        self.model_mode = model_mode
        self.reshape_transform = reshape_transform
        self.layouts: dict[str, ReshapeTransform] = {}  # layer name → layout used in the last call

    def __enter__(self) -> Explainer:
        return self

    def __exit__(self, *exc: object) -> None:  # noqa: B027 (a concrete no-op that subclasses may extend)
        """Nothing to release: hooks only exist during a call. Errors propagate (never swallowed)."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}(layers={self.layers}, fuse={self.fuse!r})"

    def target_layers(self, images: Tensor) -> list[str]:
        """The layer names used for these images (the automatic choice is made once and remembered)."""
        if self.layers is None:
            self.layers = [find_target_layer(self.model, images, self.reshape_transform)]
        return self.layers

    def to_grids(
        self, names: list[str], acts: list[Tensor], size: tuple[int, int], grads: list[list[Tensor]] | None = None
    ) -> tuple[list[Tensor], list[list[Tensor]] | None]:
        """Layer outputs (and their gradients, per target column) as (B, C, h, w) grids in each layer's layout.

        A token layer whose grid gets no gradient while its prefix tokens do (a ViT's last block, read by the
        head through the class token only) is an error: its maps would be blank.
        """
        for name, a in zip(names, acts):
            self.layouts[name] = resolve_layout(a, self.reshape_transform, size, name)
        grids = [to_grid(a, self.layouts[n], size) for n, a in zip(names, acts)]
        if grads is None:
            return grids, None
        out = []
        for per_layer in grads:
            out.append([to_grid(g, self.layouts[n], size) for n, g in zip(names, per_layer)])
            for n, g, grid in zip(names, per_layer, out[-1]):
                prefix = prefix_of(g, self.layouts[n], size)
                if prefix is not None and not grid.detach().any() and prefix.detach().any():
                    raise ValueError(
                        f"layer {n!r}: the logits depend on its prefix (class) tokens only, so every "
                        "map would be blank; pick a layer before the last token mixing, e.g. the "
                        "last block's first LayerNorm (ViT: encoder.layers[-1].ln_1)"
                    )
        return grids, out

    def __call__(
        self,
        images: Tensor,
        targets: TargetSpec = None,
        *,
        normalize: bool = True,
        size: str | tuple[int, int] = "input",
        upsample: str = "bilinear",
        differentiable: bool = False,
    ) -> Explanation:
        """Explain a batch.

        Args:
            images: (B, 3, H, W) network input.
            targets: ``None`` (predicted top-1), an int, a list / (B,) tensor (one class per sample), a (B, K)
                tensor (K maps per sample), or a target callable (see ``wsol.cams.targets``).
            normalize: min-max each map to [0, 1] (else raw maps, e.g. ReLU'd weighted sums).
            size: ``"input"`` (H, W), ``"feature"`` (target layer resolution) or an explicit (h, w).
            upsample: ``"bilinear"``, ``"bicubic"``, ``"nearest"`` or ``"cv2-bilinear"`` (pytorch-grad-cam's
                normalise → resize → renormalise pipeline; see ``wsol.cams.postprocess``).
            differentiable: keep the maps' graph (``create_graph``) so a training loss can use them; the
                model keeps its train/eval mode unless ``model_mode="eval"``.
        """
        images = self._check_images(images)
        if differentiable and not self.supports_differentiable:
            raise ValueError(f"{type(self).__name__} has no differentiable mode")
        if self.uses_gradients or differentiable:
            check_grad_mode(differentiable)
        with model_mode(self.model, self.model_mode, differentiable):
            maps, logits, target, two_d = self.explain_maps(images, targets, normalize, size, upsample, differentiable)
        classes = target.classes
        if not two_d:
            maps, classes = maps[:, 0], classes[:, 0]
        return Explanation(maps, classes, logits.detach())

    def explain_maps(
        self,
        images: Tensor,
        targets: TargetSpec,
        normalize: bool,
        size: str | tuple[int, int],
        upsample: str,
        differentiable: bool,
    ) -> tuple[Tensor, Tensor, Target, bool]:
        """(B, K, H, W) maps, logits, resolved target, 'targets were 2-D' — without model-mode handling."""
        names = self.target_layers(images) if self.uses_layers else []
        per_layer, logits, target, two_d = self._explain(images, names, targets, differentiable)
        out = finalize(per_layer, output_size(size, images.shape[-2:], per_layer), normalize, upsample, self.fuse)
        return (out if differentiable else out.detach()), logits, target, two_d

    @abstractmethod
    def _explain(
        self, images: Tensor, names: list[str], targets: TargetSpec, differentiable: bool
    ) -> tuple[list[Tensor], Tensor, Target, bool]:
        """Per-layer raw (B, K, h, w) maps, logits, target, two_d: what each method implements."""

    @staticmethod
    def _check_images(images: Tensor) -> Tensor:
        if not isinstance(images, Tensor) or images.dim() != 4:
            shape = tuple(images.shape) if isinstance(images, Tensor) else type(images).__name__
            raise ValueError(f"images must be a (B, C, H, W) tensor, got {shape}")
        if images.shape[0] == 0:
            raise ValueError("images is an empty batch")
        if not torch.is_floating_point(images):
            raise ValueError(f"images must be floating point (normalised), got {images.dtype}")
        return images


def build_explainer(
    name: str, model: nn.Module, layers: str | Sequence[str] | None = None, **kwargs: object
) -> Explainer:
    """``CAM_METHODS.get(name)(model, layers, **kwargs)``: pick a method by name (``cam.method=gradcam``)."""
    return CAM_METHODS.get(name)(model, layers, **kwargs)

"""Explainers as CAM sources: the same ``localize`` contract as ``WSOLModel`` for evaluation and export.

``build_localizer(model, "gradcam")`` returns an object with ``.localize(images, classes, topk)`` giving a
``wsol.models.Localization`` ((B, K, h, w) maps in [0, 1] at feature resolution); ``"native"`` returns the
WSOL model itself (its own heads, no hooks), so CAM, Grad-CAM and ACoL boxes come from one code path.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import torch
from torch import Tensor, nn

from wsol.cams.base import CAM_METHODS, Explainer
from wsol.cams.targets import TopK
from wsol.models import Localization


class Localizer(Protocol):
    def forward(self, images: Tensor, *args: object, **kwargs: object) -> object:
        """The wrapped model's forward (logits or ``WSOLOutput``)."""
        return self.model(images, *args, **kwargs)

    def localize(self, images: Tensor, classes: Tensor | None = None, topk: int = 1) -> Localization: ...


class ExplainerLocalizer(nn.Module):
    """Wrap an explainer (name or instance) so it answers ``localize`` like a ``WSOLModel``.

    It is a module around ``model`` (``parameters()``, ``eval()``/``train()``, ``forward`` pass through), so
    ``wsol.evaluation.evaluate_model(ExplainerLocalizer(model, "gradcam"), loader)`` works unchanged, also
    under its ``torch.no_grad()`` (gradient explainers re-enable grad for their own graph).

    Args:
        model: the classifier (any torchvision CNN or a ``WSOLModel``).
        method: a ``CAM_METHODS`` name (``"gradcam"``, ``"scorecam"``, ...) or an explainer instance.
        layers: target layer(s); ``None`` → automatic. Extra keyword arguments go to the explainer.
        upsample: how maps of several layers are brought to one size before fusion.
    """

    def __init__(
        self,
        model: nn.Module,
        method: str | Explainer = "gradcam",
        layers: str | Sequence[str] | None = None,
        upsample: str = "bilinear",
        **kwargs: object,
    ) -> None:
        super().__init__()
        self.model = model
        self.num_classes = getattr(model, "num_classes", None)
        self.explainer = method if isinstance(method, Explainer) else CAM_METHODS.get(method)(model, layers, **kwargs)
        self.upsample = upsample

    def forward(self, images: Tensor, *args: object, **kwargs: object) -> object:
        """The wrapped model's forward (logits or ``WSOLOutput``)."""
        return self.model(images, *args, **kwargs)

    def localize(self, images: Tensor, classes: Tensor | None = None, topk: int = 1) -> Localization:
        """Maps of the given (B,) / (B, K) classes, or of the top-k predictions, min-max normalised."""
        if classes is None:
            spec: TopK | Tensor = TopK(topk)
        else:
            spec = torch.as_tensor(classes).long()
            spec = spec[:, None] if spec.dim() == 1 else spec  # (B, K): K maps per sample, range checked inside
        out = self.explainer(images, spec, normalize=True, size="feature", upsample=self.upsample)
        maps, found = out.maps, out.classes
        if maps.dim() == 3:
            maps, found = maps[:, None], found[:, None]
        return Localization(out.logits, found.to(out.logits.device), maps)


def build_localizer(
    model: nn.Module, method: str = "native", layers: str | Sequence[str] | None = None, **kwargs: object
) -> Localizer:
    """``"native"`` → the model itself (needs ``.localize``); otherwise an :class:`ExplainerLocalizer`."""
    if method == "native":
        if not hasattr(model, "localize"):
            raise ValueError(
                f"method 'native' needs a WSOL model with .localize; {type(model).__name__} has none "
                f"— pick an explainer: {', '.join(CAM_METHODS.names())}"
            )
        return model  # type: ignore[return-value]
    return ExplainerLocalizer(model, method, layers, **kwargs)

"""``build_model``: the one place that reads the model section of the config."""

from __future__ import annotations

from typing import Any

from wsol.models.base import WSOLModel
from wsol.models.registry import BACKBONES, METHODS


def build_model(model_cfg: Any, num_classes: int) -> WSOLModel:
    """Build the method ``model_cfg.method`` on backbone ``model_cfg.backbone`` for ``num_classes`` classes.

    Unknown names raise ``KeyError`` listing the registered ones; ``model_cfg.backbone_args`` are passed to the
    backbone builder as keyword arguments (e.g. ``channels`` of the tiny backbone).
    """
    if int(num_classes) < 1:
        raise ValueError(f"num_classes must be >= 1, got {num_classes}")
    method = METHODS.get(model_cfg.method)
    make_backbone = BACKBONES.get(model_cfg.backbone)
    extra = dict(model_cfg.get("backbone_args") or {})
    try:
        backbone = make_backbone(
            pretrained=bool(model_cfg.pretrained),
            weights_path=model_cfg.weights_path or None,
            large_feature_map=bool(model_cfg.large_feature_map),
            **extra,
        )
    except TypeError as exc:
        raise TypeError(f"model.backbone_args {extra} do not fit backbone {model_cfg.backbone!r}: {exc}") from None
    return method(backbone, int(num_classes), model_cfg)

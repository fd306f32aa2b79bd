"""Tiny model configs for the model tests (8/16-channel tiny backbone, 32×32 inputs)."""

from __future__ import annotations

from wsol.config import load_config


def tiny_model_cfg(method: str, *extra: str):
    return load_config(
        None,
        [
            f"model.method={method}",
            "model.backbone=tiny",
            "model.backbone_args={channels: [8, 16, 16]}",
            "model.head_width=16",
            "model.adl.positions=[block2, block3]",
            "model.ggam.reduction=4",
            *extra,
        ],
    ).model

"""SGD with the field's split learning rates and per-iteration step / cosine schedules (with linear warmup).

WSOL fine-tunes an ImageNet backbone and trains the new layers (class-map heads, attention) from scratch at
``head_lr_mult`` (10 in wsolevaluation) times the backbone learning rate.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch.optim.lr_scheduler import LambdaLR

from wsol.models.base import WSOLModel


def base_lr(optim_cfg: Any, global_batch: int | None = None) -> float:
    """``optim.lr``, or with ``optim.scale_lr=linear`` the linear scaling rule ``lr × B / B_ref`` for the global
    batch ``B`` (per-process ``data.batch_size`` × world size) and ``B_ref = optim.reference_batch_size``
    (Goyal et al., "Accurate, Large Minibatch SGD", 2017, https://arxiv.org/abs/1706.02677)."""
    mode = str(optim_cfg.get("scale_lr", "none") if hasattr(optim_cfg, "get") else "none")
    if mode == "none" or global_batch is None:
        return float(optim_cfg.lr)
    if mode != "linear":
        raise ValueError(f"optim.scale_lr={mode!r}: expected 'none' or 'linear'")
    reference = int(optim_cfg.reference_batch_size)
    if reference < 1:
        raise ValueError(f"optim.reference_batch_size must be >= 1, got {reference}")
    return float(optim_cfg.lr) * global_batch / reference


def build_optimizer(model: WSOLModel, optim_cfg: Any, global_batch: int | None = None) -> torch.optim.Optimizer:
    """Two parameter groups: ``backbone`` at lr, ``new`` (heads) at lr × head_lr_mult, with lr from
    :func:`base_lr` (``global_batch`` = images per optimizer step over all processes).

    ``optim.name``: ``sgd`` (the field's recipe for ImageNet-initialised backbones) or ``adamw`` (used for the
    from-scratch CPU backbone of the synthetic benchmark, where SGD needs many more epochs).
    """
    lr = base_lr(optim_cfg, global_batch)
    backbone, new = model.parameter_groups()
    groups = [
        {"params": backbone, "lr": lr, "name": "backbone"},
        {"params": new, "lr": lr * optim_cfg.head_lr_mult, "name": "new"},
    ]
    groups = [g for g in groups if g["params"]]
    if optim_cfg.name == "adamw":
        return torch.optim.AdamW(groups, lr=lr, weight_decay=optim_cfg.weight_decay)
    if optim_cfg.name != "sgd":
        raise ValueError(f"optim.name={optim_cfg.name!r}: expected 'sgd' or 'adamw'")
    return torch.optim.SGD(
        groups, lr=lr, momentum=optim_cfg.momentum, weight_decay=optim_cfg.weight_decay, nesterov=optim_cfg.nesterov
    )


def lr_factor(step: int, optim_cfg: Any, epochs: int, iters_per_epoch: int) -> float:
    """Multiplier of the base lr at iteration ``step`` (0-based).

    step: γ^⌊epoch / step_size⌋ (changes at epoch boundaries); cosine: ½(1 + cos(π t / T)) over all
    iterations; constant: 1. Linear warmup over ``warmup_epochs`` multiplies all of them.
    """
    iters_per_epoch = max(iters_per_epoch, 1)
    total = max(epochs * iters_per_epoch, 1)
    if optim_cfg.schedule == "step":
        factor = optim_cfg.gamma ** (step // iters_per_epoch // max(optim_cfg.step_size, 1))
    elif optim_cfg.schedule == "cosine":
        factor = 0.5 * (1.0 + math.cos(math.pi * min(step, total) / total))
    else:
        factor = 1.0
    warmup = optim_cfg.warmup_epochs * iters_per_epoch
    if warmup > 0 and step < warmup:
        factor *= (step + 1) / warmup
    return factor


def build_scheduler(optimizer: torch.optim.Optimizer, optim_cfg: Any, epochs: int, iters_per_epoch: int) -> LambdaLR:
    """A LambdaLR stepped once per iteration; its state (the step count) goes into checkpoints."""
    return LambdaLR(optimizer, lambda step: lr_factor(step, optim_cfg, epochs, iters_per_epoch))

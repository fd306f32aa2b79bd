"""Checkpoints: plain dicts of tensors and containers, written atomically, read with ``weights_only=True``.

Layout: ``model`` (state_dict), ``optimizer``, ``scheduler``, ``epoch`` (epochs completed), ``global_step``,
``rng`` (see ``wsol.engine.seed.rng_state``), ``config`` (resolved, plain dict), ``num_classes``,
``class_names``, ``metrics`` (last validation), ``best`` ({metric, value, epoch}), ``data_order``
({sampler_seed, next_epoch, world_size}) and optionally
``localization`` = {"threshold", "metric", "split"} chosen on val by the evaluator.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig

from wsol.config import config_from_dict
from wsol.fileio import atomic_torch_save
from wsol.models import WSOLModel, build_model


class CheckpointError(ValueError):
    """A checkpoint that cannot be used here (unreadable, or another architecture)."""


def save_checkpoint(state: dict[str, Any], path: str | Path) -> None:
    atomic_torch_save(state, path)


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    try:
        ckpt = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:
        raise CheckpointError(f"{path}: cannot be read as a wsol checkpoint (weights_only=True): {exc}") from None
    if not isinstance(ckpt, dict) or "model" not in ckpt or "config" not in ckpt:
        raise CheckpointError(f"{path}: not a wsol checkpoint (expected a dict with 'model' and 'config')")
    return ckpt


def load_state_checked(model: torch.nn.Module, state: dict[str, torch.Tensor], source: str, arch: str) -> None:
    """``load_state_dict(strict=True)`` with an error that says which architecture the checkpoint is from."""
    own = model.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    shapes = [k for k in set(own) & set(state) if own[k].shape != state[k].shape]
    if missing or unexpected or shapes:
        detail = "; ".join(f"{name}: {keys[:4]}{' ...' if len(keys) > 4 else ''}" for name, keys in
                           (("missing", missing), ("unexpected", unexpected), ("shape mismatch", sorted(shapes)))
                           if keys)
        raise CheckpointError(f"{source} holds weights of another architecture ({arch}); {detail}")
    model.load_state_dict(state, strict=True)


def describe_arch(config: dict[str, Any], num_classes: Any) -> str:
    m = config.get("model", {})
    return f"method={m.get('method')}, backbone={m.get('backbone')}, num_classes={num_classes}"


def checkpoint_meta(path: str | Path) -> dict[str, Any]:
    """A checkpoint's small entries (class names, num_classes, the val-chosen ``localization`` threshold), read
    through a memory map so the weights are not copied."""
    ckpt = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    return {"class_names": ckpt.get("class_names"), "localization": ckpt.get("localization"),
            "num_classes": ckpt.get("num_classes"), "config": ckpt.get("config")}


def load_model(path: str | Path, map_location: str | torch.device = "cpu") -> tuple[WSOLModel, DictConfig]:
    """Rebuild the model a checkpoint was trained with and load its weights; returns (model in eval, config)."""
    ckpt = load_checkpoint(path, map_location)
    plain = copy.deepcopy(ckpt["config"])
    plain.setdefault("model", {})["pretrained"] = False  # the checkpoint's weights replace any initialisation
    cfg = config_from_dict(plain)
    model = build_model(cfg.model, int(ckpt["num_classes"]))
    load_state_checked(model, ckpt["model"], str(path), describe_arch(ckpt["config"], ckpt["num_classes"]))
    model.to(map_location).eval()
    return model, config_from_dict(ckpt["config"])

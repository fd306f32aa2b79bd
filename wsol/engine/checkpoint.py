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
from wsol.errors import UserInputError
from wsol.fileio import atomic_torch_save
from wsol.models import WSOLModel, build_model


class CheckpointError(UserInputError, ValueError):
    """A checkpoint that cannot be used here (missing, unreadable, not ours, or another architecture)."""


def save_checkpoint(state: dict[str, Any], path: str | Path) -> None:
    atomic_torch_save(state, path)


def _read(path: Path, map_location: str | torch.device, mmap: bool = False) -> dict[str, Any]:
    """``torch.load(weights_only=True)`` with one error type: missing, truncated or foreign files all raise
    :class:`CheckpointError` naming the file."""
    if not path.is_file():
        raise CheckpointError(
            f"{path}: checkpoint not found"
            if not path.exists()
            else f"{path}: is not a file; expected a wsol checkpoint (.pt)"
        )
    try:
        ckpt = torch.load(path, map_location=map_location, weights_only=True, mmap=mmap)
    except Exception as exc:  # truncated zip, a pickle with foreign classes, not a torch file at all ...
        reason = " ".join(str(exc).split())[:200]
        raise CheckpointError(
            f"{path}: cannot be read as a wsol checkpoint (truncated or not a torch file, read "
            f"with weights_only=True): {reason}"
        ) from None
    if not isinstance(ckpt, dict) or "model" not in ckpt or "config" not in ckpt:
        raise CheckpointError(
            f"{path}: not a wsol checkpoint (expected a dict with 'model' and 'config', written by `wsol train`)"
        )
    return ckpt


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    return _read(Path(path), map_location)


def load_state_checked(model: torch.nn.Module, state: dict[str, torch.Tensor], source: str, arch: str) -> None:
    """``load_state_dict(strict=True)`` with an error that says which architecture the checkpoint is from."""
    own = model.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    shapes = [k for k in set(own) & set(state) if own[k].shape != state[k].shape]
    if missing or unexpected or shapes:
        detail = "; ".join(
            f"{name}: {keys[:4]}{' ...' if len(keys) > 4 else ''}"
            for name, keys in (("missing", missing), ("unexpected", unexpected), ("shape mismatch", sorted(shapes)))
            if keys
        )
        raise CheckpointError(f"{source} holds weights of another architecture ({arch}); {detail}")
    model.load_state_dict(state, strict=True)


def describe_arch(config: dict[str, Any], num_classes: Any) -> str:
    m = config.get("model", {})
    return f"method={m.get('method')}, backbone={m.get('backbone')}, num_classes={num_classes}"


def checkpoint_meta(path: str | Path) -> dict[str, Any]:
    """A checkpoint's small entries (class names, num_classes, the val-chosen ``localization`` threshold), read
    through a memory map so the weights are not copied."""
    ckpt = _read(Path(path), "cpu", mmap=True)
    return {
        "class_names": ckpt.get("class_names"),
        "localization": ckpt.get("localization"),
        "num_classes": ckpt.get("num_classes"),
        "config": ckpt.get("config"),
    }


def load_model(path: str | Path, map_location: str | torch.device = "cpu") -> tuple[WSOLModel, DictConfig]:
    """Rebuild the model a checkpoint was trained with and load its weights; returns (model in eval, config)."""
    ckpt = load_checkpoint(path, map_location)
    if not isinstance(ckpt["config"], dict) or not isinstance(ckpt.get("num_classes"), int):
        raise CheckpointError(f"{path}: not a wsol checkpoint (expected a 'config' dict and an integer 'num_classes')")
    bad = next((k for k, v in ckpt["model"].items() if v.is_floating_point() and not torch.isfinite(v).all()), None)
    if bad is not None:  # its maps would be NaN: every metric of them is meaningless
        raise CheckpointError(
            f"{path}: weight {bad!r} holds NaN/inf values; expected a checkpoint of a run "
            f"that trained without diverging"
        )
    plain = copy.deepcopy(ckpt["config"])
    plain.setdefault("model", {})["pretrained"] = False  # the checkpoint's weights replace any initialisation
    cfg = config_from_dict(plain)
    model = build_model(cfg.model, int(ckpt["num_classes"]))
    load_state_checked(model, ckpt["model"], str(path), describe_arch(ckpt["config"], ckpt["num_classes"]))
    model.to(map_location).eval()
    return model, config_from_dict(ckpt["config"])

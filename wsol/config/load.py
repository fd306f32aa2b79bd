"""Load a configuration: base YAML chain ← file ← command-line dotlist overrides, checked, then read-only.

A YAML file may name ``base: other.yaml`` (relative to itself); bases are merged first, recursively.
Nothing here touches the file system except reading the YAML files.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from wsol.config.schema import Config
from wsol.errors import UserInputError

CHOICES = {
    "data.format": ("auto", "wsolevaluation", "cub", "coco"),
    "data.protocol": ("resize", "resize_crop"),
    "optim.schedule": ("step", "cosine", "constant"),
    "optim.name": ("sgd", "adamw"),
    "optim.scale_lr": ("none", "linear"),
    "train.amp": ("auto", "bf16", "fp32"),
    "train.best_mode": ("max", "min"),
}


class ConfigError(UserInputError, ValueError):
    """A configuration problem, naming the file or override and the key."""


def _read_chain(path: Path, seen: tuple[Path, ...] = ()) -> list[tuple[str, DictConfig]]:
    path = path.expanduser().resolve()
    if path in seen:
        raise ConfigError(f"{path}: circular 'base:' chain: {' -> '.join(map(str, seen + (path,)))}")
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    try:
        node = OmegaConf.load(path)
    except Exception as exc:  # yaml errors carry line numbers
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(node, DictConfig):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    base = node.pop("base", None)
    chain: list[tuple[str, DictConfig]] = []
    if base is not None:
        if not isinstance(base, str):
            raise ConfigError(f"{path}: 'base' must be a file name, got {base!r}")
        chain = _read_chain(path.parent / base, seen + (path,))
    return chain + [(str(path), node)]


def _merge(cfg: DictConfig, node: Any, source: str) -> DictConfig:
    try:
        return OmegaConf.merge(cfg, node)
    except OmegaConfBaseException as exc:
        key = getattr(exc, "full_key", None) or "?"
        msg = str(exc).split("\n")[0]
        raise ConfigError(f"{source}: bad key {key!r}: {msg}") from None


def check_config(cfg: DictConfig) -> None:
    """Semantic checks the types cannot express: enumerations, known method and backbone, ranges."""
    from wsol.models import BACKBONES, METHODS

    for key, allowed in CHOICES.items():
        value = OmegaConf.select(cfg, key)
        if value not in allowed:
            raise ConfigError(f"{key}={value!r}: expected one of {', '.join(allowed)}")
    if cfg.model.method not in METHODS:
        raise ConfigError(f"model.method={cfg.model.method!r} is unknown; known: {', '.join(METHODS.names())}")
    if cfg.model.backbone not in BACKBONES:
        raise ConfigError(f"model.backbone={cfg.model.backbone!r} is unknown; known: {', '.join(BACKBONES.names())}")
    positive = (
        "data.batch_size",
        "data.eval_batch_size",
        "data.input_size",
        "train.epochs",
        "train.log_every",
        "train.eval_every",
        "model.head_width",
        "optim.reference_batch_size",
    )
    for key in positive:
        if OmegaConf.select(cfg, key) < 1:
            raise ConfigError(f"{key}={OmegaConf.select(cfg, key)}: must be >= 1")
    if not 0.0 < cfg.model.acol.delta <= 1.0:
        raise ConfigError(f"model.acol.delta={cfg.model.acol.delta}: must be in (0, 1]")
    if cfg.optim.lr <= 0:
        raise ConfigError(f"optim.lr={cfg.optim.lr}: must be > 0")
    _check_zoo(cfg)


def _check_zoo(cfg: DictConfig) -> None:
    """Ranges of the CAM head, SPG, BAS and CutMix keys."""
    if cfg.model.cam_head_layers < 1 or not 0.0 <= cfg.model.cam_head_dropout < 1.0:
        raise ConfigError(
            f"model.cam_head_layers={cfg.model.cam_head_layers}, model.cam_head_dropout="
            f"{cfg.model.cam_head_dropout}: expected layers >= 1 and dropout in [0, 1)"
        )
    pairs = [list(p) for p in cfg.model.spg.thresholds]
    if len(pairs) != 3 or any(len(p) != 2 or not all(0.0 <= v <= 1.0 for v in p) for p in pairs):
        raise ConfigError(f"model.spg.thresholds={pairs}: expected 3 [foreground, background] pairs in [0, 1]")
    bas = cfg.model.bas
    if min(bas.area_weight, bas.fg_weight, bas.fuse_topk) < 0 or not 0.0 <= bas.threshold <= 1.0:
        raise ConfigError(
            f"model.bas: area_weight={bas.area_weight}, fg_weight={bas.fg_weight}, fuse_topk="
            f"{bas.fuse_topk} must be >= 0 and threshold={bas.threshold} in [0, 1]"
        )
    cutmix = cfg.train.cutmix
    if not 0.0 <= cutmix.prob <= 1.0 or cutmix.beta < 0:
        raise ConfigError(f"train.cutmix: prob={cutmix.prob} must be in [0, 1] and beta={cutmix.beta} >= 0")


def load_config(path: str | Path | None, overrides: Sequence[str] = ()) -> DictConfig:
    """Schema defaults ← YAML chain of ``path`` ← ``overrides`` ("a.b=value"); resolved, checked, read-only."""
    cfg = OmegaConf.structured(Config)
    if path is not None:
        for source, node in _read_chain(Path(path)):
            cfg = _merge(cfg, node, source)
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"override {item!r}: expected key=value")
        try:
            node = OmegaConf.from_dotlist([item])
        except OmegaConfBaseException as exc:
            raise ConfigError(f"override {item!r}: {exc}") from None
        cfg = _merge(cfg, node, f"override {item!r}")
    try:
        OmegaConf.resolve(cfg)
    except OmegaConfBaseException as exc:
        raise ConfigError(f"cannot resolve interpolations: {exc}") from None
    check_config(cfg)
    OmegaConf.set_readonly(cfg, True)
    return cfg


def config_from_dict(data: dict) -> DictConfig:
    """Rebuild a checked read-only config from the plain dict stored in a checkpoint."""
    cfg = _merge(OmegaConf.structured(Config), OmegaConf.create(data), "checkpoint config")
    check_config(cfg)
    OmegaConf.set_readonly(cfg, True)
    return cfg


def to_plain(cfg: DictConfig) -> dict:
    """The resolved config as plain containers (what checkpoints and ``config.yaml`` store)."""
    return OmegaConf.to_container(cfg, resolve=True)  # type: ignore[return-value]


# How a run is carried out, not what it computes: these may differ between a run and its --resume (more
# epochs to extend it, logging and validation frequency, data-loading processes, threads, device, and where
# the run folder now lives).
RESUME_MAY_CHANGE = (
    "name",
    "output_dir",
    "train.epochs",
    "train.log_every",
    "train.eval_every",
    "train.overlays",
    "train.threads",
    "train.device",
    "data.num_workers",
    "data.eval_batch_size",
)


def _flatten(node: Any, prefix: str = "") -> dict[str, Any]:
    if not isinstance(node, dict) or not node:
        return {prefix: node}
    out: dict[str, Any] = {}
    for key, value in node.items():
        out.update(_flatten(value, f"{prefix}.{key}" if prefix else str(key)))
    return out


def changed_keys(before: dict, after: dict) -> list[str]:
    """``key: old -> new`` for every dotted key (nested dicts flattened) whose value differs, sorted."""
    a, b = _flatten(before), _flatten(after)
    return [f"{k}: {a.get(k)!r} -> {b.get(k)!r}" for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)]


def resume_changes(saved: dict, current: DictConfig, may_change: Sequence[str] = RESUME_MAY_CHANGE) -> list[str]:
    """Dotted keys whose value in ``current`` differs from the checkpoint's ``saved`` config, apart from
    ``may_change``, as ``key: saved -> current``. The saved config is read through the schema first, so keys
    added to the schema since it was written compare at their defaults."""
    changes = changed_keys(to_plain(config_from_dict(saved)), to_plain(current))
    return [c for c in changes if c.split(":", 1)[0] not in may_change]

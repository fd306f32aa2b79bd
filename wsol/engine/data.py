"""Datasets of a run, built from the ``data`` section of the config with ``wsol.data``."""

from __future__ import annotations

from typing import Any

from wsol.config import ConfigError


def check_num_classes(configured: int | None, found: int, where: str) -> int:
    """The dataset's class count, refusing a configured ``data.num_classes`` that disagrees."""
    if configured is not None and int(configured) != int(found):
        raise ConfigError(
            f"data.num_classes={configured} but {where} has {found} classes; fix data.num_classes or data.root"
        )
    return int(found)


def build_datasets(cfg: Any) -> tuple[Any, Any, int, list[str]]:
    """(train dataset, val dataset, num_classes, class names) for ``cfg.data``."""
    from wsol.data import WSOLDataset, build_transform, load_split
    from wsol.data.split import require_images
    from wsol.localization.maps import EVAL_SIZE as EVAL_MASK_SIZE

    d = cfg.data
    train = require_images(load_split(d.root, d.train_split, fmt=d.format), d.root)
    val = require_images(load_split(d.root, d.val_split, fmt=d.format), d.root)
    where = f"{d.root} (split {d.train_split!r})"
    num_classes = check_num_classes(d.num_classes, train.num_classes, where)
    check_num_classes(num_classes, val.num_classes, f"{d.root} (split {d.val_split!r})")
    train_tf = build_transform("train", d.input_size, d.protocol, d.resize_size)
    eval_tf = build_transform("eval", d.input_size, d.protocol, d.resize_size)
    train_set = WSOLDataset(train, train_tf, skip_bad=d.skip_bad)
    # masks at the evaluation frame straight from the originals, as wsolevaluation (resize protocol)
    val_set = WSOLDataset(val, eval_tf, skip_bad=False, mask_size=EVAL_MASK_SIZE if d.protocol == "resize" else None)
    return train_set, val_set, num_classes, list(train.class_names)

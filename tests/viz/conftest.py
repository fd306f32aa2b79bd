"""Fixtures of the picture tests: a tiny seeded CAM checkpoint and a tiny synthetic benchmark (train/val/test).

Both are written by the tests themselves (never ``runs/``): 3 classes, 64 px, a few images per split.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from wsol.config import config_from_dict, to_plain
from wsol.fileio import atomic_torch_save
from wsol.models import build_model

CLASS_NAMES = ["a", "b", "c"]


@pytest.fixture(scope="session")
def viz_data(tmp_path_factory) -> Path:
    """4 train, 2 val and 3 test images per class, with boxes and masks, in the wsolevaluation layout."""
    from wsol.data.synthetic import SyntheticConfig, generate

    root = tmp_path_factory.mktemp("vizsyn") / "synthetic"
    generate(
        root, SyntheticConfig(num_classes=3, train_per_class=4, val_per_class=2, test_per_class=3, size_range=(48, 64))
    )
    return root


@pytest.fixture(scope="session")
def viz_checkpoint(tmp_path_factory, viz_data) -> Path:
    """A randomly initialised (seeded) tiny CAM whose config points at ``viz_data``, with a stored threshold."""
    torch.manual_seed(0)
    cfg = config_from_dict(
        {
            "model": {"method": "cam", "backbone": "tiny", "backbone_args": {"channels": [8, 8, 8]}},
            "data": {"input_size": 64, "root": str(viz_data)},
        }
    )
    model = build_model(cfg.model, len(CLASS_NAMES))
    state = {
        "model": model.state_dict(),
        "config": to_plain(cfg),
        "num_classes": len(CLASS_NAMES),
        "class_names": CLASS_NAMES,
        "epoch": 0,
        "localization": {"threshold": 0.3, "metric": "MaxBoxAccV2", "split": "val"},
    }
    path = tmp_path_factory.mktemp("vizckpt") / "tiny.pt"
    atomic_torch_save(state, path)
    return path

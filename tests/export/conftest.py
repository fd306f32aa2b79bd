"""Fixtures of the export tests: a tiny CAM checkpoint and a tiny synthetic split (written by the tests)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from wsol.config import config_from_dict, to_plain
from wsol.fileio import atomic_torch_save
from wsol.models import build_model

CLASS_NAMES = ["a", "b", "c"]


def tiny_config():
    return config_from_dict(
        {
            "model": {"method": "cam", "backbone": "tiny", "backbone_args": {"channels": [8, 8, 8]}},
            "data": {"input_size": 64},
        }
    )


def write_checkpoint(path: Path, localization: dict | None) -> Path:
    """A randomly initialised (seeded) tiny CAM checkpoint, with ``localization`` when given."""
    torch.manual_seed(0)
    cfg = tiny_config()
    model = build_model(cfg.model, len(CLASS_NAMES))
    state = {
        "model": model.state_dict(),
        "config": to_plain(cfg),
        "num_classes": len(CLASS_NAMES),
        "class_names": CLASS_NAMES,
        "epoch": 0,
    }
    if localization is not None:
        state["localization"] = localization
    atomic_torch_save(state, path)
    return path


@pytest.fixture(scope="session")
def checkpoint(tmp_path_factory) -> Path:
    """The tiny CAM with a stored fixed threshold of 0.3 (as the evaluator would have chosen on val)."""
    return write_checkpoint(
        tmp_path_factory.mktemp("ckpt") / "tiny.pt", {"threshold": 0.3, "metric": "MaxBoxAccV2", "split": "val"}
    )


@pytest.fixture()
def checkpoint_without_threshold(tmp_path) -> Path:
    return write_checkpoint(tmp_path / "no_loc.pt", None)


@pytest.fixture(scope="session")
def model(checkpoint):
    from wsol.engine.checkpoint import load_model

    torch.set_num_threads(1)
    net, cfg = load_model(checkpoint)
    return net


@pytest.fixture(scope="session")
def synthetic_root(tmp_path_factory) -> Path:
    """9 test images (3 classes), with boxes and masks, in the wsolevaluation layout."""
    from wsol.data.synthetic import SyntheticConfig, generate

    root = tmp_path_factory.mktemp("syn") / "synthetic"
    generate(
        root, SyntheticConfig(num_classes=3, train_per_class=0, val_per_class=0, test_per_class=3, size_range=(48, 64))
    )
    return root

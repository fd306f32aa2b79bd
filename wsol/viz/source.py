"""What every picture command starts from: a trained checkpoint and a dataset split, opened the same way.

Defaults point at the quickstart's outputs (``runs/quickstart/train/best.pt`` on ``data/synthetic``), so each
``wsol`` picture command runs out of the box after ``wsol quickstart``. A missing file gets an error that says
which command makes it.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

import torch

from wsol.localization.maps import EVAL_SIZE

DEFAULT_CHECKPOINT = "runs/quickstart/train/best.pt"
DEFAULT_DATA = "data/synthetic"


@dataclass
class VizSource:
    """A model in eval mode on ``device``, its config, the split's records and an eval-transform dataset."""

    model: torch.nn.Module
    config: object
    info: object  # wsol.data.SplitInfo
    dataset: object  # wsol.data.WSOLDataset with the eval transform at the model's input size
    device: torch.device
    checkpoint: Path


def add_source_args(p: argparse.ArgumentParser, split: str = "test") -> None:
    """The shared flags: --checkpoint, --data, --split, --device."""
    p.add_argument("--checkpoint", default=DEFAULT_CHECKPOINT,
                   help="trained checkpoint (default: %(default)s, made by `wsol quickstart`)")
    p.add_argument("--data", default=None,
                   help=f"dataset root (default: the checkpoint config's data.root, else {DEFAULT_DATA})")
    p.add_argument("--split", default=split, help="split to look at (default: %(default)s)")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")


def open_source(checkpoint: str | Path, data: str | Path | None = None, split: str = "test",
                device: str = "cpu") -> VizSource:
    """Load the checkpoint (``weights_only``) and the split with the eval transform the model was trained for."""
    from wsol.data import WSOLDataset, build_transform, load_split
    from wsol.engine.checkpoint import load_model

    ckpt = Path(checkpoint)
    if not ckpt.is_file():
        raise FileNotFoundError(f"checkpoint {ckpt} not found: train one first (`wsol quickstart`, or "
                                "`wsol train --config configs/synthetic/acol.yaml`) or pass --checkpoint")
    model, cfg = load_model(str(ckpt), map_location=device)
    model.eval()
    root = Path(data if data is not None else (cfg.data.get("root") or DEFAULT_DATA))
    if not root.exists():
        raise FileNotFoundError(f"dataset root {root} not found: make the synthetic benchmark with "
                                "`wsol make-synthetic` or pass --data")
    info = load_split(root, split)
    protocol = str(cfg.data.protocol)
    dataset = WSOLDataset(info, build_transform("eval", int(cfg.data.input_size), protocol, int(cfg.data.resize_size)),
                          mask_size=EVAL_SIZE if protocol == "resize" else None)
    return VizSource(model, cfg, info, dataset, torch.device(device), ckpt)

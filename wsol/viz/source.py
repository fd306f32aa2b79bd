"""What every picture command starts from: a trained checkpoint and a dataset split, opened the same way.

Defaults point at the quickstart's outputs (``runs/quickstart/train/best.pt`` on ``data/synthetic``), so each
``wsol`` picture command runs out of the box after ``wsol quickstart``. A missing file gets an error that says
which command makes it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from wsol.defaults import DEFAULT_CHECKPOINT, DEFAULT_DATA  # noqa: F401  (re-exported)
from wsol.localization.maps import EVAL_SIZE


@dataclass
class VizSource:
    """A model in eval mode on ``device``, its config, the split's records and an eval-transform dataset."""

    model: torch.nn.Module
    config: object
    info: object  # wsol.data.SplitInfo
    dataset: object  # wsol.data.WSOLDataset with the eval transform at the model's input size
    device: torch.device
    checkpoint: Path


def open_source(
    checkpoint: str | Path, data: str | Path | None = None, split: str = "test", device: str = "cpu"
) -> VizSource:
    """Load the checkpoint (``weights_only``) and the split with the eval transform the model was trained for.
    ``device="auto"`` is CUDA when available, else CPU."""
    from wsol.data import WSOLDataset, build_transform, load_split
    from wsol.engine.checkpoint import load_model

    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    ckpt = Path(checkpoint)
    if not ckpt.is_file():
        raise FileNotFoundError(
            f"checkpoint {ckpt} not found: train one first (`wsol quickstart`, or "
            "`wsol train --config configs/synthetic/acol.yaml`) or pass --checkpoint"
        )
    model, cfg = load_model(str(ckpt), map_location=device)
    model.eval()
    if data is not None:
        root = Path(data)
    else:
        from wsol.config.paths import resolve_config_path

        root = resolve_config_path(cfg.data.get("root") or DEFAULT_DATA, ckpt, cfg.get("output_dir"))
    if not root.exists():
        raise FileNotFoundError(
            f"dataset root {root} not found: make the synthetic benchmark with `wsol make-synthetic` or pass --data"
        )
    info = load_split(root, split)
    protocol = str(cfg.data.protocol)
    dataset = WSOLDataset(
        info,
        build_transform("eval", int(cfg.data.input_size), protocol, int(cfg.data.resize_size)),
        mask_size=EVAL_SIZE if protocol == "resize" else None,
    )
    return VizSource(model, cfg, info, dataset, torch.device(device), ckpt)

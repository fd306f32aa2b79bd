#!/usr/bin/env python
"""Measure training throughput (images/s): fp32 vs bf16 + channels_last, in-memory tensors vs the data pipeline.

One full training step (forward, loss, backward, SGD step) of the configured model, timed after warm-up.
``memory`` feeds one fixed batch already on the device (the model's ceiling); ``pipeline`` reads the train
split through WSOLDataset + DataLoader with ``data.num_workers`` workers. On CPU use tiny settings, e.g.
  python tools/bench/train.py --config configs/synthetic/acol.yaml --steps 5
On a GPU, the issue's setting (ACoL-VGG16, 224², batch 64):
  python tools/bench/train.py --config configs/imagenet/acol_vgg16.yaml data.root=/data/ILSVRC data.batch_size=64 \\
      data.num_workers=16 model.pretrained=false --steps 50
"""

from __future__ import annotations

import argparse
import itertools
import time
from collections.abc import Iterator
from typing import Any

from wsol.cli._common import new_parser

MODES = {"fp32": ("fp32", "false"), "bf16_cl": ("bf16", "true")}  # name → (train.amp, train.channels_last)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = new_parser("tools/bench/train.py", __doc__.split("\n", 1)[0])
    p.add_argument("--config", required=True)
    p.add_argument("overrides", nargs="*", help="dotlist overrides (batch size, workers, model, ...)")
    p.add_argument("--steps", type=int, default=20, help="timed steps per measurement")
    p.add_argument("--warmup", type=int, default=3, help="untimed steps first")
    p.add_argument("--precisions", nargs="+", choices=sorted(MODES), default=["fp32", "bf16_cl"])
    p.add_argument("--sources", nargs="+", choices=["memory", "pipeline"], default=["memory", "pipeline"])
    p.add_argument("--num-classes", type=int, default=None, help="memory-only runs without a dataset")
    p.add_argument("--json", default=None, help="also write the figures to this JSON file")
    return p.parse_intermixed_args(argv)


def _batches(source: str, trainer: Any, num_classes: int) -> Iterator[dict[str, Any]]:
    import torch

    cfg = trainer.cfg
    if source == "memory":
        g = torch.Generator().manual_seed(0)
        size = cfg.data.input_size
        batch = {
            "image": torch.randn(cfg.data.batch_size, 3, size, size, generator=g).to(trainer.device),
            "label": torch.randint(0, num_classes, (cfg.data.batch_size,), generator=g).to(trainer.device),
        }
        return itertools.repeat(batch)
    return itertools.chain.from_iterable(itertools.repeat(trainer.train_loader))


def measure(trainer: Any, batches: Iterator[dict[str, Any]], steps: int, warmup: int) -> float:
    """Images per second over ``steps`` training steps after ``warmup`` ones (device synchronised)."""
    import torch

    def sync() -> None:
        if trainer.device.type == "cuda":
            torch.cuda.synchronize(trainer.device)

    trainer.net.train()
    for _ in range(warmup):
        trainer.train_step(next(batches))
    sync()
    count, start = 0, time.perf_counter()
    for _ in range(steps):
        batch = next(batches)
        trainer.train_step(batch)
        count += int(batch["label"].numel())
    sync()
    return count / (time.perf_counter() - start)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    import torch

    from wsol.config import load_config
    from wsol.engine.seed import seed_everything
    from wsol.engine.trainer import Trainer
    from wsol.fileio import atomic_write_json
    from wsol.models import build_model

    rows = []
    for precision, source in itertools.product(args.precisions, args.sources):
        amp, cl = MODES[precision]
        cfg = load_config(
            args.config,
            [
                *args.overrides,
                f"train.amp={amp}",
                f"train.channels_last={cl}",
                "train.overlays=0",
                "output_dir=runs/bench_train",
            ],
        )
        if cfg.train.threads:
            torch.set_num_threads(cfg.train.threads)
        if source == "pipeline" or args.num_classes is None:
            from wsol.engine.data import build_datasets

            train_set, _, num_classes, _ = build_datasets(cfg)
        else:
            from torch.utils.data import TensorDataset

            num_classes = args.num_classes
            train_set = TensorDataset(torch.zeros(cfg.data.batch_size, 1))  # memory source never reads it
        seed_everything(0)
        trainer = Trainer(
            cfg, build_model(cfg.model, num_classes), train_set, None, progress=False, verbose=False, tensorboard=False
        )
        ips = measure(trainer, _batches(source, trainer, num_classes), args.steps, args.warmup)
        rows.append(
            {
                "precision": precision,
                "source": source,
                "images_per_s": ips,
                "device": str(trainer.device),
                "batch_size": cfg.data.batch_size,
                "input_size": cfg.data.input_size,
                "method": cfg.model.method,
                "backbone": cfg.model.backbone,
            }
        )
        print(
            f"{precision:>8} {source:>9}: {ips:9.1f} img/s  ({trainer.device}, batch {cfg.data.batch_size}, "
            f"{cfg.data.input_size}px, {cfg.model.method}-{cfg.model.backbone})",
            flush=True,
        )
    if args.json:
        atomic_write_json(args.json, rows)
    return 0


if __name__ == "__main__":
    from wsol.cli import run_main

    raise SystemExit(run_main("tools/bench/train.py", main))

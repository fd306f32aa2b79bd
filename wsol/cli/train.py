"""Train a WSOL model from a YAML config (dotlist overrides, --resume, torchrun for several GPUs/nodes).

Examples:
  wsol train --config configs/synthetic/acol.yaml
  wsol train --config configs/cub/acol_vgg16.yaml data.root=/data/CUB optim.lr=0.002 --resume
  torchrun --nproc_per_node=4 tools/train.py --config configs/imagenet/acol_vgg16.yaml
"""

from __future__ import annotations

import argparse
import os
import sys

from wsol.cli._common import new_parser

from tqdm import tqdm


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = new_parser("wsol train", __doc__.split("\n", 1)[0],
                   epilog="Overrides are key=value pairs of the config schema (wsol/config/schema.py). "
                          "data.batch_size is per process: under torchrun the global batch is batch_size x "
                          "nproc; optim.scale_lr=linear scales the lr by global batch / optim.reference_batch_size.")
    p.add_argument("--config", required=True, help="YAML config (may name a `base:` YAML)")
    p.add_argument("overrides", nargs="*", help="dotlist overrides, e.g. train.epochs=5 optim.lr=0.01")
    p.add_argument("--resume", nargs="?", const=True, default=False, metavar="PATH",
                   help="continue from <output_dir>/last.pt if it exists, or from the checkpoint PATH")
    p.add_argument("--no-progress", action="store_true", help="hide progress bars")
    args = p.parse_intermixed_args(argv)
    if isinstance(args.resume, str) and "=" in args.resume and not os.path.isfile(args.resume):
        args.overrides.append(args.resume)  # `--resume key=value`: an override after a bare --resume
        args.resume = True
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from wsol.config import ConfigError, load_config

    try:
        cfg = load_config(args.config, args.overrides)
    except ConfigError as exc:
        print(f"wsol train: config error: {exc}", file=sys.stderr)
        return 2
    import torch

    from wsol.data import DatasetError
    from wsol.engine.checkpoint import CheckpointError
    from wsol.engine.data import build_datasets
    from wsol.engine.distributed import cleanup, init_distributed
    from wsol.engine.seed import seed_everything
    from wsol.engine.trainer import NonFiniteLossError, Trainer
    from wsol.models import build_model

    if cfg.train.threads:
        torch.set_num_threads(cfg.train.threads)
    torch.backends.cudnn.benchmark = not cfg.train.deterministic
    ctx = init_distributed()
    try:
        train_set, val_set, num_classes, names = build_datasets(cfg)
        seed_everything(cfg.train.seed)  # same initial weights on every rank and every run
        model = build_model(cfg.model, num_classes)
        trainer = Trainer(cfg, model, train_set, val_set, ctx=ctx, class_names=names,
                          progress=not args.no_progress)
        summary = trainer.fit(resume=args.resume)
    except (ConfigError, CheckpointError, DatasetError, FileNotFoundError, NonFiniteLossError) as exc:
        print(f"wsol train: {exc}", file=sys.stderr)
        return 1
    finally:
        cleanup(ctx)
    if ctx.is_main:
        tqdm.write(f"done: {summary['epoch']} epochs, best {summary['best']}, checkpoint {summary['last']}")
    return 0

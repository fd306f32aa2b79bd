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
from pathlib import Path

from tqdm import tqdm

from wsol.cli._common import new_parser


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = new_parser(
        "wsol train",
        __doc__.split("\n", 1)[0],
        epilog="Overrides are key=value pairs of the config schema (wsol/config/schema.py). "
        "data.batch_size is per process: under torchrun the global batch is batch_size x "
        "nproc; optim.scale_lr=linear scales the lr by global batch / optim.reference_batch_size.",
    )
    p.add_argument("--config", required=True, help="YAML config (may name a `base:` YAML)")
    p.add_argument("overrides", nargs="*", help="dotlist overrides, e.g. train.epochs=5 optim.lr=0.01")
    p.add_argument(
        "--resume",
        nargs="?",
        const=True,
        default=False,
        metavar="PATH",
        help="continue from <output_dir>/last.pt if it exists, or from the checkpoint PATH",
    )
    p.add_argument("--no-progress", action="store_true", help="hide progress bars")
    args = p.parse_intermixed_args(argv)
    if isinstance(args.resume, str) and "=" in args.resume and not os.path.isfile(args.resume):
        args.overrides.append(args.resume)  # `--resume key=value`: an override after a bare --resume
        args.resume = True
    return args


def check_device(name: str, field: str) -> None:
    """A CUDA device asked for on a machine without one is a usage error, said before anything starts."""
    if not name.startswith("cuda"):
        return
    import torch

    if not torch.cuda.is_available():
        raise SystemExit(f"{field}={name!r} but CUDA is not available on this machine; use cpu or auto")
    if name.startswith("cuda:") and name[5:].isdigit() and int(name[5:]) >= torch.cuda.device_count():
        raise SystemExit(f"{field}={name!r} but this machine has {torch.cuda.device_count()} CUDA device(s)")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from wsol.config import load_config

    cfg = load_config(args.config, args.overrides)
    check_device(cfg.train.device, "train.device")
    import torch

    from wsol.engine.checkpoint import checkpoint_meta
    from wsol.engine.trainer import NonFiniteLossError, Trainer, check_resume_config

    last = Path(cfg.output_dir) / "last.pt"
    if args.resume and last.is_file():  # refused before the run folder is touched (the trainer checks again)
        check_resume_config(checkpoint_meta(last)["config"], cfg, last)

    from wsol.engine.data import build_datasets
    from wsol.engine.distributed import cleanup, init_distributed
    from wsol.engine.seed import seed_everything
    from wsol.models import build_model

    if cfg.train.threads:
        torch.set_num_threads(cfg.train.threads)
    torch.backends.cudnn.benchmark = not cfg.train.deterministic
    ctx = init_distributed()
    try:
        train_set, val_set, num_classes, names = build_datasets(cfg)
        seed_everything(cfg.train.seed)  # same initial weights on every rank and every run
        model = build_model(cfg.model, num_classes)
        trainer = Trainer(cfg, model, train_set, val_set, ctx=ctx, class_names=names, progress=not args.no_progress)
        summary = trainer.fit(resume=args.resume)
    except FileNotFoundError as exc:  # model.weights_path and the like: the message names the file
        raise SystemExit(str(exc)) from exc
    except NonFiniteLossError as exc:  # not a usage error: the run itself failed
        print(f"wsol train: {exc}", file=sys.stderr)
        return 1
    finally:
        cleanup(ctx)
    if ctx.is_main:
        skipped = getattr(train_set, "skipped", 0)
        if skipped:
            tqdm.write(
                f"skipped {skipped} unreadable training image load(s) (data.skip_bad=true); they were "
                f"replaced by the next loadable image"
            )
        tqdm.write(f"done: {summary['epoch']} epochs, best {summary['best']}, checkpoint {summary['last']}")
    return 0

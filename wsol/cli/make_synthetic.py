"""Generate the built-in synthetic WSOL benchmark (wsolevaluation layout, boxes + masks).

Example: ``wsol make-synthetic --out data/synthetic --preview docs/images/synthetic_samples.png``.
The design is documented in :mod:`wsol.data.synthetic`.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from wsol.cli._common import new_parser
from wsol.data.synthetic_config import SyntheticConfig


def _pair(kind):
    def parse(text: str):
        parts = text.split(",")
        if len(parts) != 2:
            raise argparse.ArgumentTypeError(f"expected two comma-separated values like 96,160, got {text!r}")
        return tuple(kind(p) for p in parts)

    return parse


def build_parser() -> argparse.ArgumentParser:
    d = SyntheticConfig()
    p = new_parser("wsol make-synthetic", __doc__.split("\n")[0])
    p.add_argument("--out", default="data/synthetic", help="output folder (default: %(default)s)")
    p.add_argument("--preview", default=None, help="also write a PNG grid of samples with boxes and masks")
    p.add_argument("--overwrite", action="store_true", help="replace a different dataset in --out")
    p.add_argument("--num-classes", type=int, default=d.num_classes)
    p.add_argument("--train-per-class", type=int, default=d.train_per_class)
    p.add_argument("--val-per-class", type=int, default=d.val_per_class)
    p.add_argument("--test-per-class", type=int, default=d.test_per_class)
    p.add_argument("--size-range", type=_pair(int), default=d.size_range, help="min,max image side in px")
    p.add_argument("--objects-per-image", type=_pair(int), default=d.objects_per_image, help="min,max")
    p.add_argument("--body-contrast", type=float, default=d.body_contrast)
    p.add_argument("--part-scale", type=float, default=d.part_scale)
    p.add_argument("--seed", type=int, default=d.seed)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from wsol.data.errors import DatasetError
    from wsol.data.synthetic import generate, render_preview

    try:
        cfg = SyntheticConfig(
            num_classes=args.num_classes,
            train_per_class=args.train_per_class,
            val_per_class=args.val_per_class,
            test_per_class=args.test_per_class,
            size_range=args.size_range,
            objects_per_image=args.objects_per_image,
            body_contrast=args.body_contrast,
            part_scale=args.part_scale,
            seed=args.seed,
        )
    except ValueError as exc:
        print(f"wsol make-synthetic: error: {exc}")
        return 2
    start = time.perf_counter()
    try:
        out = generate(args.out, cfg, overwrite=args.overwrite)
    except DatasetError as exc:
        print(f"wsol make-synthetic: error: {exc}")
        return 1
    total = cfg.num_classes * (cfg.train_per_class + cfg.val_per_class + cfg.test_per_class)
    print(
        f"wrote {total} images ({cfg.num_classes} classes, train/val/test per class "
        f"{cfg.train_per_class}/{cfg.val_per_class}/{cfg.test_per_class}) to {out} "
        f"in {time.perf_counter() - start:.1f}s"
    )
    if args.preview:
        from wsol.drawing import save_png

        path = save_png(Path(args.preview), render_preview(out, "train"))
        print(f"preview: {path} ({path.stat().st_size // 1024} KB)")
    return 0

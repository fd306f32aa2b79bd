"""Pretrain the tiny backbone on the shapes-and-textures task (the offline stand-in for ImageNet weights).

Example (reproduces the weights shipped in the package, which ``model.pretrained=true`` loads for the tiny
backbone): ``wsol pretrain --out wsol/models/weights/tiny_shapes.pt``. Writes the backbone state dict and, beside
it, a JSON record of the recipe, the held-out accuracy on the pretraining task and the file's SHA-256.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import sys
from pathlib import Path


def build_parser() -> argparse.ArgumentParser:
    from wsol.config.schema import PretrainConfig

    defaults = dataclasses.asdict(PretrainConfig())

    p = argparse.ArgumentParser(
        prog="wsol pretrain",
        description=__doc__.split("\n", 1)[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--out", default="runs/pretrain/tiny_shapes.pt", help="backbone state dict to write")
    for name, value in defaults.items():
        kind = type(value)
        if kind is list:
            p.add_argument(f"--{name.replace('_', '-')}", type=int, nargs="+", default=value)
        elif kind is bool:
            p.add_argument(
                f"--{name.replace('_', '-')}",
                type=lambda t: t.lower() in ("1", "true", "yes"),
                default=value,
                metavar="BOOL",
            )
        else:
            p.add_argument(f"--{name.replace('_', '-')}", type=kind, default=value)
    p.add_argument("--no-progress", action="store_true")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from wsol.config.schema import PretrainConfig
    from wsol.engine.pretrain import pretrain
    from wsol.fileio import atomic_torch_save, atomic_write_json

    fields = {f.name for f in dataclasses.fields(PretrainConfig)}
    cfg = PretrainConfig(**{k: v for k, v in vars(args).items() if k in fields})
    if cfg.train_images < cfg.batch_size or cfg.epochs < 1:
        raise SystemExit(
            f"--train-images ({cfg.train_images}) must be >= --batch-size ({cfg.batch_size}) and --epochs >= 1"
        )
    say = (lambda m: None) if args.no_progress else (lambda m: print(m, file=sys.stderr, flush=True))
    state, record = pretrain(cfg, progress=say)
    out = Path(args.out)
    atomic_torch_save(state, out)
    record["sha256"] = hashlib.sha256(out.read_bytes()).hexdigest()  # of the file: what the loader checks
    record["command"] = "wsol pretrain " + " ".join(argv if argv is not None else sys.argv[1:])
    atomic_write_json(out.with_suffix(".json"), record)
    print(
        f"wrote {out} (test top-1 {record['test_top1']:.1f}% on the pretraining task, chance "
        f"{100 / len(record['task']['classes']):.1f}%; sha256 {record['sha256'][:12]}...; "
        f"{record['seconds']:.0f} s)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

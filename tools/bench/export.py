#!/usr/bin/env python
"""Benchmark the export: images/s of the full pseudo-label export vs the bare forward of the same model and batch.

The bare forward is ``model(images)`` on batches already decoded and on the device (the ceiling); the export
is the whole ``wsol export`` path on the same images: decode + transform (DataLoader workers), ``localize``,
upsampling, regions, RLE, PNG and .npy writes (thread pool, overlapped with the model) and the shard commits.
The merge (one pass over the shards at the end) is timed separately.

Example: ``python tools/bench/export.py --backbone resnet50 --images 128 --batch-size 32`` (random weights) or
``python tools/bench/export.py --checkpoint runs/acol/best.pt``.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from wsol.cli._common import new_parser

if TYPE_CHECKING:  # for annotations only: these load after the arguments are parsed
    import torch


def build_parser() -> argparse.ArgumentParser:
    p = new_parser("tools/bench/export.py", __doc__.split("\n")[0])
    p.add_argument("--checkpoint", default=None, help="trained checkpoint (default: random weights from --method)")
    p.add_argument("--method", default="acol")
    p.add_argument("--backbone", default="tiny")
    p.add_argument("--num-classes", type=int, default=10)
    p.add_argument("--input-size", type=int, default=224)
    p.add_argument("--images", type=int, default=64, help="number of generated test images")
    p.add_argument("--image-size", type=int, nargs=2, default=(320, 256), metavar=("W", "H"))
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--topk", type=int, default=1)
    p.add_argument("--threshold", type=float, default=0.2, help="box threshold used by the benchmark export")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--post-workers", type=int, default=2)
    p.add_argument("--device", default="auto")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--json", default=None, help="also write the figures to this JSON file")
    return p


def _model(args: argparse.Namespace, device: str):
    import torch

    if args.checkpoint:
        from wsol.engine.checkpoint import load_model

        model, cfg = load_model(args.checkpoint, map_location=device)
        return model, int(cfg.data.input_size), f"checkpoint {args.checkpoint}"
    from wsol.config import load_config
    from wsol.models import build_model

    cfg = load_config(
        None, [f"model.method={args.method}", f"model.backbone={args.backbone}", "model.pretrained=false"]
    )
    torch.manual_seed(0)
    model = build_model(cfg.model, args.num_classes).to(device).eval()
    return model, args.input_size, f"{args.method}/{args.backbone} (random weights)"


def _write_images(folder: Path, count: int, size: tuple[int, int]) -> None:
    import cv2
    import numpy as np

    rng = np.random.default_rng(0)
    w, h = size
    for i in range(count):
        img = (rng.random((h, w, 3)) * 60).astype(np.uint8)
        x0, y0 = rng.integers(0, w // 2), rng.integers(0, h // 2)
        img[y0 : y0 + h // 3, x0 : x0 + w // 3] += 150
        cv2.imwrite(str(folder / f"img_{i:05d}.jpg"), img)


def _sync(device: str) -> None:
    import torch

    if device.startswith("cuda"):
        torch.cuda.synchronize()


def bare_forward(model: torch.nn.Module, batches: list[torch.Tensor], device: str) -> float:
    """Images/s of ``model(images)`` under no_grad on batches already on the device (after one warm-up)."""
    import torch

    with torch.no_grad():
        model(batches[0])
        _sync(device)
        start = time.perf_counter()
        for x in batches:
            model(x)
        _sync(device)
    return sum(len(x) for x in batches) / (time.perf_counter() - start)


def run_bench(args: argparse.Namespace) -> dict[str, Any]:
    import torch

    from wsol.data import ImageFolderDataset, build_transform
    from wsol.export.merge import merge_export
    from wsol.export.pipeline import run_export
    from wsol.export.postprocess import PostprocessSettings
    from wsol.export.runner import ExportSpec, RunOptions
    from wsol.export.source import folder_source

    device = args.device if args.device != "auto" else ("cuda" if torch.cuda.is_available() else "cpu")
    model, input_size, what = _model(args, device)
    with tempfile.TemporaryDirectory(prefix="wsol_bench_export_") as tmp:
        folder, out = Path(tmp) / "images", Path(tmp) / "out"
        folder.mkdir()
        _write_images(folder, args.images, tuple(args.image_size))
        dataset = ImageFolderDataset(folder, build_transform("eval", input_size=input_size))
        items = [dataset[i]["image"] for i in range(len(dataset))]
        batches = [
            torch.stack(items[i : i + args.batch_size]).to(device) for i in range(0, len(items), args.batch_size)
        ]
        forward = bare_forward(model, batches, device)
        source = folder_source(dataset, [f"class_{i}" for i in range(model.num_classes)])
        spec = ExportSpec(
            post=PostprocessSettings(threshold=args.threshold, num_classes=model.num_classes),
            topk=args.topk,
            shard_size=max(args.batch_size * 4, 1),
        )
        opts = RunOptions(
            batch_size=args.batch_size,
            workers=args.workers,
            post_workers=args.post_workers,
            device=device,
            progress=False,
        )
        warm = [torch.stack(items[: args.batch_size]).to(device)]
        bare_forward(model, warm, device)
        stats = run_export(model, source, spec, opts, out, "bench", overwrite=True)
        start = time.perf_counter()
        merge_export(out)
        merge_s = time.perf_counter() - start
    return {
        "model": what,
        "device": device,
        "threads": torch.get_num_threads(),
        "images": args.images,
        "image_size": list(args.image_size),
        "batch_size": args.batch_size,
        "topk": args.topk,
        "forward_img_s": round(forward, 2),
        "export_img_s": round(stats["images_per_s"], 2),
        "ratio": round(stats["images_per_s"] / forward, 3),
        "merge_s": round(merge_s, 3),
        "annotations": stats["annotations"],
    }


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    result = run_bench(args)
    print(
        f"model {result['model']} on {result['device']} ({result['threads']} threads), {result['images']} images "
        f"{result['image_size'][0]}x{result['image_size'][1]}, batch {result['batch_size']}, top-{result['topk']}"
    )
    print(f"  bare forward : {result['forward_img_s']:8.2f} img/s")
    print(
        f"  export       : {result['export_img_s']:8.2f} img/s  ({result['ratio']:.2f} x forward; "
        f"{result['annotations']} annotations; merge {result['merge_s']:.2f} s)"
    )
    if args.json:
        from wsol.fileio import atomic_write_json

        atomic_write_json(args.json, result)
    return 0


if __name__ == "__main__":
    from wsol.cli import run_main

    raise SystemExit(run_main("tools/bench/export.py", main))

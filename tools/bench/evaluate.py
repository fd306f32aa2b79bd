#!/usr/bin/env python
"""Measure evaluation throughput (images/s): the model alone vs the whole evaluation (maps, boxes, metrics).

The issue's question: does post-processing keep up with the model? ``model`` times ``model.localize`` on batches
already on the device (the model's ceiling); ``end-to-end`` runs :func:`wsol.evaluation.evaluate_model` on the
same in-memory batches: host→device copy, model, bicubic upsampling to 224, normalisation, boxes at every CAM
threshold (MaxBoxAcc + MaxBoxAccV2), top-1/5 cls and loc. Image decoding is left out (a data-loader matter,
measured by ``python tools/bench/train.py``'s pipeline mode). Random images and GT boxes; random weights.
On a GPU, the issue's setting (ACoL-VGG16, 1,000 thresholds, target >= 1,000 images/s end to end):
  python tools/bench/evaluate.py --config configs/imagenet/acol_vgg16.yaml --images 4096 --batch-size 256 \\
      --cam-curve-interval 0.001 --amp
On CPU, tiny: ``python tools/bench/evaluate.py --config configs/synthetic/acol.yaml --num-classes 10``
"""

from __future__ import annotations

import argparse
import time
from typing import TYPE_CHECKING, Any

from wsol.cli._common import new_parser, resolve_device

if TYPE_CHECKING:  # for annotations only: these load after the arguments are parsed
    import torch


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = new_parser("tools/bench/evaluate.py", __doc__.split("\n", 1)[0])
    p.add_argument("--config", required=True, help="training config whose model is measured (random weights)")
    p.add_argument("overrides", nargs="*", help="dotlist overrides (model, data.input_size, ...)")
    p.add_argument("--num-classes", type=int, default=1000)
    p.add_argument("--images", type=int, default=1024, help="images per timed run")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--cam-curve-interval", type=float, default=0.001, help="0.001 = 1,000 thresholds")
    p.add_argument("--device", default="auto", help="auto (cuda when available) | cpu | cuda | cuda:N")
    p.add_argument("--amp", action="store_true", help="bf16 autocast for the model (CUDA)")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    p.add_argument("--json", default=None, help="also write the figures to this JSON file")
    return p.parse_intermixed_args(argv)


def make_batches(
    num_images: int, batch_size: int, input_size: int, num_classes: int, seed: int = 0
) -> list[dict[str, Any]]:
    """Collated batches in the loader's layout: random images, labels and one GT box per 224 x 224 image."""
    import torch

    g = torch.Generator().manual_seed(seed)
    batches = []
    for lo in range(0, num_images, batch_size):
        n = min(batch_size, num_images - lo)
        xy = torch.randint(0, 112, (n, 2), generator=g).float()
        wh = torch.randint(32, 112, (n, 2), generator=g).float()
        boxes = torch.cat([xy, (xy + wh).clamp(max=223)], 1)
        image = torch.randn(n, 3, input_size, input_size, generator=g)
        batches.append(
            {
                "image": image.pin_memory() if torch.cuda.is_available() else image,
                "label": torch.randint(0, num_classes, (n,), generator=g),
                "image_id": [f"bench/{lo + i:06d}.jpg" for i in range(n)],
                "orig_boxes": [b[None].numpy() for b in boxes],
                "orig_size": [(224, 224)] * n,
                "boxes": [b[None] for b in boxes],
                "mask": None,
            }
        )
    return batches


def _sync(device: torch.device) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)


def model_throughput(model: torch.nn.Module, batches: list[dict[str, Any]], device: torch.device, amp: bool) -> float:
    """Images/s of ``model.localize`` alone, inputs already on the device (after one warm-up batch)."""
    import torch

    on_device = [(b["image"].to(device), b["label"].to(device)) for b in batches]
    if device.type == "cuda":
        on_device = [(x.contiguous(memory_format=torch.channels_last), y) for x, y in on_device]

    @torch.no_grad()
    def run(items: list) -> None:
        for images, labels in items:
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
                model.localize(images, classes=labels[:, None])

    run(on_device[:1])
    _sync(device)
    start = time.perf_counter()
    run(on_device)
    _sync(device)
    return sum(len(x) for x, _ in on_device) / (time.perf_counter() - start)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    import torch

    from wsol.config import load_config
    from wsol.evaluation import evaluate_model
    from wsol.fileio import atomic_write_json
    from wsol.localization.maps import threshold_list
    from wsol.models import build_model

    if args.threads:
        torch.set_num_threads(args.threads)
    cfg = load_config(args.config, [*args.overrides, "model.pretrained=false"])
    device = torch.device(resolve_device(args.device))
    model = build_model(cfg.model, args.num_classes).to(device).eval()
    if device.type == "cuda":
        model = model.to(memory_format=torch.channels_last)
    size = int(cfg.data.input_size)
    batches = make_batches(args.images, args.batch_size, size, args.num_classes)
    model_ips = model_throughput(model, batches, device, args.amp)
    evaluate_model(
        model, batches[:1], cam_curve_interval=args.cam_curve_interval, device=device, amp=args.amp, progress=False
    )  # warm-up: kernels compiled, allocator primed
    _sync(device)
    result = evaluate_model(
        model, batches, cam_curve_interval=args.cam_curve_interval, device=device, amp=args.amp, progress=False
    )
    e2e_ips = result["images_per_s"]
    figures = {
        "config": args.config,
        "device": str(device),
        "amp": args.amp,
        "input_size": size,
        "batch_size": args.batch_size,
        "images": args.images,
        "thresholds": len(threshold_list(args.cam_curve_interval)),
        "model_images_per_s": model_ips,
        "end_to_end_images_per_s": e2e_ips,
        "ratio": e2e_ips / model_ips,
    }
    print(
        f"{cfg.model.method}-{cfg.model.backbone}, {size}px, batch {args.batch_size}, {figures['thresholds']} "
        f"thresholds, {device}{' bf16' if args.amp else ''}:"
    )
    print(f"  model alone  {model_ips:10.1f} images/s")
    print(
        f"  end to end   {e2e_ips:10.1f} images/s  ({figures['ratio']:.2f}x the model; maps, boxes at every "
        "threshold, every metric)"
    )
    if args.json:
        atomic_write_json(args.json, figures)
    return 0


if __name__ == "__main__":
    from wsol.cli import run_main

    raise SystemExit(run_main("tools/bench/evaluate.py", main))

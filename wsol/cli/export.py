"""Export pseudo-labels (COCO json + RLE masks, PNG masks, score maps) of a checkpoint for a folder or a split.

Examples::

    wsol export --checkpoint runs/acol/best.pt --data data/synthetic --split test --out runs/acol/pseudo
    wsol export --checkpoint best.pt --images photos/ --out pseudo --topk 3 --threshold-from eval.json
    torchrun --nproc_per_node=2 -m wsol export --checkpoint best.pt --images photos/ --out pseudo
    wsol export --checkpoint best.pt --images photos/ --out pseudo --rank 1 --world-size 2   # then --merge-only
"""

from __future__ import annotations

import argparse
import datetime
import os
from pathlib import Path
from typing import Any

from wsol.cli._common import new_parser


def build_parser() -> argparse.ArgumentParser:
    p = new_parser("wsol export", __doc__)
    p.add_argument("--checkpoint", help="trained wsol checkpoint (.pt); not needed with --merge-only")
    src = p.add_mutually_exclusive_group()
    src.add_argument("--images", help="image folder (recursive, no labels needed)")
    src.add_argument("--data", help="dataset root (with --split)")
    p.add_argument("--split", default="test", help="split of --data (default: test)")
    p.add_argument("--format", default="auto", help="dataset format of --data (auto|wsolevaluation|cub|coco)")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--topk", type=int, default=1, help="predicted classes exported per image (default 1)")
    p.add_argument("--use-gt-class", action="store_true", help="export the GT class instead (labelled split)")
    thr = p.add_mutually_exclusive_group()
    thr.add_argument("--threshold", type=float, help="box/mask threshold on the normalised map, in [0, 1)")
    thr.add_argument("--threshold-from", help="evaluation JSON holding the fixed threshold chosen on val")
    p.add_argument("--boxes", choices=("all", "largest"), default="all", help="every region, or the largest")
    p.add_argument(
        "--ignore-below",
        type=float,
        default=None,
        help="PNG masks: mark uncovered pixels whose map exceeds this value as ignore (255/65535)",
    )
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--workers", type=int, default=2, help="DataLoader processes decoding images")
    p.add_argument("--post-workers", type=int, default=2, help="threads post-processing batches")
    p.add_argument("--shard-size", type=int, default=256, help="images per resumable shard")
    p.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    p.add_argument("--no-masks", action="store_true", help="skip PNG masks")
    p.add_argument("--no-scoremaps", action="store_true", help="skip .npy score maps")
    p.add_argument("--no-dataset-json", action="store_true", help="skip dataset.json (results.json only)")
    p.add_argument(
        "--segmentation",
        choices=("rle", "rle-uncompressed", "polygon"),
        default="rle",
        help="segmentation format of dataset.json and gt_segm.json (results.json stays compressed RLE): "
        "polygon / rle-uncompressed for readers that call frPyObjects (torchvision references)",
    )
    p.add_argument("--overwrite", action="store_true", help="replace an existing export in --out")
    p.add_argument("--rank", type=int, default=None, help="this process's rank without torchrun")
    p.add_argument("--world-size", type=int, default=None, help="number of independent rank processes")
    p.add_argument("--merge-only", action="store_true", help="merge finished shards of --out and stop")
    p.add_argument(
        "--cam-method",
        default="native",
        help="map source: 'native' (the model's own class maps) or an explainer name (gradcam, ...)",
    )
    p.add_argument("--cam-layer", nargs="+", default=["backbone"], help="target layer(s) of an explainer")
    p.add_argument("--no-progress", action="store_true")
    return p


def _device(name: str, local_rank: int) -> str:
    import torch

    if name != "auto":
        return name
    return f"cuda:{local_rank}" if torch.cuda.is_available() else "cpu"


def _inside(inner: Path, outer: Path) -> bool:
    inner, outer = inner.resolve(), outer.resolve()
    return inner == outer or outer in inner.parents


def check_args(args: argparse.Namespace) -> None:
    """Every check that needs no model, before anything is loaded or written (a rejected run leaves no file)."""
    from wsol.cli.train import check_device

    if not args.checkpoint:
        raise SystemExit("--checkpoint is required (except with --merge-only)")
    if not Path(args.checkpoint).exists():
        raise SystemExit(f"{args.checkpoint}: checkpoint not found")
    if not args.images and not args.data:
        raise SystemExit("give --images DIR or --data ROOT --split SPLIT")
    for flag, value, low in (
        ("--topk", args.topk, 1),
        ("--batch-size", args.batch_size, 1),
        ("--shard-size", args.shard_size, 1),
        ("--workers", args.workers, 0),
        ("--post-workers", args.post_workers, 0),
        ("--threads", args.threads, 1),
    ):
        if value is not None and value < low:
            raise SystemExit(f"{flag} must be >= {low}, got {value}")
    if args.threshold is not None and not 0.0 <= args.threshold < 1.0:
        raise SystemExit(f"--threshold must be in [0, 1), got {args.threshold}")
    if args.ignore_below is not None and not 0.0 <= args.ignore_below <= 1.0:
        raise SystemExit(f"--ignore-below must be in [0, 1], got {args.ignore_below}")
    if args.cam_method != "native":
        from wsol.cams import CAM_METHODS

        if args.cam_method not in CAM_METHODS:
            raise SystemExit(f"--cam-method {args.cam_method!r} is unknown; known: native, {', '.join(CAM_METHODS)}")
    check_device(args.device, "--device")
    if args.images:
        images = Path(args.images)
        if not images.is_dir():
            raise SystemExit(f"{images}: --images folder {'is not a folder' if images.exists() else 'does not exist'}")
        if _inside(Path(args.out), images):
            raise SystemExit(
                f"--out {args.out} lies inside --images {images}: the export would read its own "
                f"outputs; choose an output folder outside {images}"
            )
    elif not Path(args.data).exists():
        raise SystemExit(f"{args.data}: --data root does not exist")


def _dist_context(args: argparse.Namespace) -> tuple[int, int, int, bool]:
    """(rank, world_size, local_rank, joined a process group): torchrun's env, or --rank/--world-size."""
    import torch

    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1:
        import torch
        import torch.distributed as dist

        if args.rank is not None:
            raise SystemExit("--rank/--world-size are for runs without torchrun")
        local = int(os.environ.get("LOCAL_RANK", "0"))
        if not dist.is_initialized():
            backend = "nccl" if torch.cuda.is_available() else "gloo"
            if backend == "nccl":
                torch.cuda.set_device(local)
            dist.init_process_group(backend, timeout=datetime.timedelta(hours=12))
        return dist.get_rank(), dist.get_world_size(), local, True
    rank, world = args.rank or 0, args.world_size or 1
    if not 0 <= rank < world:
        raise SystemExit(f"--rank must be in [0, --world-size={world}), got {rank}")
    return rank, world, 0, False


def _source(args: argparse.Namespace, cfg: Any, class_names: list[str] | None, num_classes: int):
    from wsol.data import ImageFolderDataset, WSOLDataset, build_transform, load_split
    from wsol.export.source import folder_source, split_source

    transform = build_transform(
        "eval", input_size=int(cfg.data.input_size), protocol="resize", resize_size=int(cfg.data.resize_size)
    )
    if args.images:
        names = list(class_names) if class_names else [f"class_{i}" for i in range(num_classes)]
        dataset = ImageFolderDataset(args.images, transform)
        if not dataset.image_ids and not dataset.bad_images:
            from wsol.data.imageio import IMAGE_EXTENSIONS

            raise SystemExit(
                f"no images found under {args.images} (looked for {', '.join(IMAGE_EXTENSIONS)}, recursively)"
            )
        return folder_source(dataset, names)
    from wsol.data.split import require_images

    split = require_images(load_split(args.data, args.split, fmt=args.format), args.data)
    if split.num_classes != num_classes:
        raise SystemExit(
            f"{args.data} split {args.split!r} has {split.num_classes} classes but the "
            f"checkpoint was trained for {num_classes}"
        )
    return split_source(split, transform, WSOLDataset)


def _merge_only(args: argparse.Namespace) -> int:
    from wsol.export.merge import merge_export
    from wsol.export.quality import GroundTruth, format_report

    gt = None
    if args.data:
        from wsol.data import load_split

        gt = GroundTruth.from_split(load_split(args.data, args.split, fmt=args.format))
    try:
        summary = merge_export(args.out, gt)
    except (FileNotFoundError, ValueError) as exc:  # no export there yet, unfinished or torn shards
        raise SystemExit(str(exc)) from None
    _print_summary({"merge": summary}, args.out)
    if summary.get("quality"):
        print(format_report(summary["quality"]))
    return 0


def _print_summary(stats: dict[str, Any], out: str) -> None:
    merge = stats.get("merge")
    if "images" in stats:
        print(
            f"exported {stats['images']} images ({stats['bad_images']} unreadable), {stats['annotations']} "
            f"annotations, shards {stats['shards_mine'] - stats['shards_skipped']} run / "
            f"{stats['shards_skipped']} resumed of {stats['shards_total']}, {stats['images_per_s']:.1f} img/s"
        )
    if merge:
        print(
            f"merged {merge['images']} images, {merge['annotations']} annotations, {merge['bad_images']} "
            f"unreadable → {out}/{{{','.join(merge['files'])}}} (threshold {merge['threshold']})"
        )


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    import torch

    if args.merge_only:
        return _merge_only(args)
    check_args(args)

    if args.threads:
        torch.set_num_threads(args.threads)
    from wsol.engine.checkpoint import checkpoint_meta, load_model
    from wsol.export.pipeline import file_digest, resolve_threshold, run_export
    from wsol.export.postprocess import PostprocessSettings
    from wsol.export.quality import format_report
    from wsol.export.runner import ExportSpec, RunOptions
    from wsol.export.shards import ExportExistsError

    rank, world, local, _ = _dist_context(args)
    meta = checkpoint_meta(args.checkpoint)
    try:
        threshold, origin = resolve_threshold(args.threshold, args.threshold_from, meta["localization"])
    except (ValueError, FileNotFoundError) as exc:
        raise SystemExit(str(exc)) from None
    device = _device(args.device, local)
    model, cfg = load_model(args.checkpoint, map_location=device)
    if args.topk > int(model.num_classes):
        raise SystemExit(f"--topk {args.topk} exceeds the checkpoint's {int(model.num_classes)} classes")
    if args.cam_method != "native":
        from wsol.cams import build_localizer
        from wsol.cli.explain import check_layers

        check_layers(model, args.cam_layer, "--cam-layer")
        model = build_localizer(model, args.cam_method, args.cam_layer)
    source = _source(args, cfg, meta["class_names"], int(model.num_classes))
    post = PostprocessSettings(
        threshold=threshold,
        num_classes=int(model.num_classes),
        boxes=args.boxes,
        ignore_below=args.ignore_below,
        write_masks=not args.no_masks,
        write_scoremaps=not args.no_scoremaps,
    )
    spec = ExportSpec(
        post=post,
        topk=args.topk,
        use_gt_class=args.use_gt_class,
        shard_size=args.shard_size,
        write_dataset=not args.no_dataset_json,
    )
    opts = RunOptions(
        batch_size=args.batch_size,
        workers=args.workers,
        post_workers=args.post_workers,
        device=device,
        rank=rank,
        world_size=world,
        progress=not args.no_progress,
    )
    if rank == 0:
        print(
            f"threshold {threshold:g} from {origin}; {len(source.image_ids)} images; device {device}; "
            f"world size {world}"
        )
    extra = {
        "threshold_source": origin,
        "checkpoint_localization": meta["localization"],
        "segmentation": args.segmentation,
    }
    if args.cam_method != "native":  # the maps' source is part of what is exported
        extra.update(cam_method=args.cam_method, cam_layer=list(args.cam_layer))

    try:
        stats = run_export(
            model, source, spec, opts, args.out, file_digest(args.checkpoint), args.overwrite, extra_settings=extra
        )
    except (ExportExistsError, ValueError) as exc:
        raise SystemExit(str(exc)) from None
    _print_summary(stats, args.out)
    merge = stats.get("merge")
    if merge and merge.get("quality"):
        print(format_report(merge["quality"]))
    if world > 1 and "merge" not in stats and rank == 0:
        print(
            f"rank {rank}: shards done; when every rank has finished run: wsol export --checkpoint "
            f"{args.checkpoint} --out {args.out} --merge-only"
            + (f" --data {args.data} --split {args.split}" if args.data else "")
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

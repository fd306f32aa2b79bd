"""Maximally activating dataset patches for channels of a layer, cropped by its receptive field (PNG + JSON).

    wsol top-patches                                   # quickstart checkpoint, test split, 8 most active channels
    wsol top-patches --layer backbone.stages.block3 --num-channels 12 --k 10
    wsol top-patches --channels 3,17,40-43 --max-images 100 --heatmap --tensorboard runs/quickstart/train/tb

One streaming pass over the split finds, per channel, the k images whose strongest unit is highest (one patch
per image); each patch is the unit's receptive-field box of the eval-transformed image (grey where the box
leaves the image), optionally with the channel's activation as a heatmap. Default output:
``<checkpoint dir>/../pictures/top_patches_<layer>.png`` and the winners as ``.json`` beside it.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from wsol.cli._common import add_source_args, new_parser
from wsol.fileio import atomic_write_json

PROG = "wsol top-patches"


def build_parser() -> argparse.ArgumentParser:
    p = new_parser(PROG, __doc__.split("\n", 1)[0])
    add_source_args(p)
    p.add_argument(
        "--layer",
        default="backbone",
        help="module name from model.named_modules() (default: %(default)s; `wsol activations "
        "--list-layers` lists them with their receptive fields)",
    )
    group = p.add_mutually_exclusive_group()
    group.add_argument("--channels", nargs="+", help="channels to show, e.g. '3,17,40-43'")
    group.add_argument(
        "--num-channels",
        type=int,
        default=8,
        help="show the N channels with the highest mean activation (default: %(default)s)",
    )
    p.add_argument("--k", type=int, default=8, help="patches per channel (default: %(default)s)")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--num-workers", type=int, default=0)
    p.add_argument("--max-images", type=int, help="search only the first N images of the split (a quick run)")
    p.add_argument("--tile", type=int, default=80, help="patch tile side in pixels (default: %(default)s)")
    p.add_argument(
        "--heatmap",
        action="store_true",
        help="blend the channel's activation over each patch (scaled by the row's best value)",
    )
    p.add_argument(
        "--out", type=Path, help="output PNG (default: <checkpoint dir>/../pictures/top_patches_<layer>.png)"
    )
    p.add_argument("--tensorboard", type=Path, metavar="DIR", help="also log the grid to TensorBoard in DIR")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if (
        args.k < 1
        or args.batch_size < 1
        or args.num_channels < 1
        or args.tile < 16
        or (args.max_images is not None and args.max_images < 1)
    ):
        raise SystemExit(f"{PROG}: --k, --batch-size, --num-channels, --max-images must be >= 1, --tile >= 16")
    from wsol.drawing import save_png
    from wsol.viz.activations import add_to_tensorboard, default_picture_path, parse_channels, safe_layer_name
    from wsol.viz.receptive_field import describe, receptive_field
    from wsol.viz.top_patches import find_top_patches, render_top_patches, winner_maps, winners_table

    t0 = time.perf_counter()
    try:
        from wsol.viz.source import open_source

        src = open_source(args.checkpoint, args.data, args.split, args.device)
        rf = receptive_field(src.model, args.layer)  # before the pass: fail fast on a layer we cannot crop
        result = find_top_patches(
            src.model,
            args.layer,
            src.dataset,
            args.k,
            args.batch_size,
            args.max_images,
            args.num_workers,
            src.device,
            progress=not args.quiet,
        )
        channels = parse_channels(args.channels, result.values.shape[0]) or result.most_active(
            min(args.num_channels, result.values.shape[0])
        )
    except (FileNotFoundError, KeyError, ValueError) as exc:
        raise SystemExit(f"{PROG}: {exc.args[0] if isinstance(exc, KeyError) else exc}") from None
    t_pass = time.perf_counter() - t0
    winners = result.image[channels]
    wanted = sorted(set(winners[winners >= 0].tolist()))
    rgb, maps = winner_maps(
        src.model, args.layer, lambda i: src.dataset[i]["image"], wanted, channels, args.batch_size, src.device
    )
    h, w = result.feature_size
    heading = (
        f"{args.layer} ({h}x{w}): top-{args.k} of {result.num_images} {args.split} images per channel, one "
        f"patch per image; receptive field {describe(rf)}"
    )
    grid = render_top_patches(result, rf, channels, rgb, maps if args.heatmap else None, args.tile, heading)
    layer = safe_layer_name(args.layer)
    out = args.out or default_picture_path(src.checkpoint, f"top_patches_{layer}.png")
    save_png(out, grid)
    ids = [r.image_id for r in src.info.records]
    atomic_write_json(out.with_suffix(".json"), winners_table(result, rf, channels, ids))
    print(
        f"{out}  layer {args.layer}, channels {channels}, {result.num_images} images searched in {t_pass:.1f}s "
        f"(+{len(wanted)} winning images re-read), receptive field {describe(rf)}"
    )
    print(f"{out.with_suffix('.json')}  winners: value, image id, unit (y, x), input box per channel")
    if args.tensorboard:
        add_to_tensorboard(args.tensorboard, f"top_patches/{layer}", grid)
        print(f"  TensorBoard: {args.tensorboard} tag top_patches/{layer}")
    return 0

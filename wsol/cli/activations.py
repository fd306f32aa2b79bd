"""Per-channel activation grid of one layer for one or a few images (PNG, optionally TensorBoard).

    wsol activations                                   # quickstart checkpoint, test image 0, backbone output
    wsol activations --list-layers                     # layers with their output shapes and receptive fields
    wsol activations --layer backbone.stages.block2 --image-index 0 5 --num-channels 32 --sort
    wsol activations --channels 0-7,12 --overlay --tensorboard runs/quickstart/train/tb

The input image comes first, then one tile per channel, each min–max normalised on its own and labelled with
its index and raw maximum. Default output: ``<checkpoint dir>/../pictures/activations_<layer>.png``.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from wsol.cli._common import add_source_args, new_parser

if TYPE_CHECKING:  # for annotations only: these load after the arguments are parsed
    import torch

PROG = "wsol activations"


def build_parser() -> argparse.ArgumentParser:
    p = new_parser(PROG, __doc__.split("\n", 1)[0])
    add_source_args(p)
    p.add_argument(
        "--layer",
        default="backbone",
        help="module name from model.named_modules() (default: %(default)s, the feature trunk output; "
        "see --list-layers)",
    )
    p.add_argument("--image-index", type=int, nargs="+", default=[0], help="index(es) into the split (default: 0)")
    p.add_argument("--channels", nargs="+", help="channels to show, e.g. '0-7,12' or '3 5 9' (default: all)")
    p.add_argument(
        "--num-channels",
        type=int,
        default=64,
        help="without --channels: show the first (with --sort: the most active) N channels "
        "(default: %(default)s; 0 = all)",
    )
    p.add_argument("--sort", action="store_true", help="order channels by mean activation, highest first")
    p.add_argument("--tile", type=int, default=96, help="tile side in pixels (default: %(default)s)")
    p.add_argument("--ncols", type=int, default=None, help="tiles per row (default: about square)")
    p.add_argument("--smooth", action="store_true", help="bilinear upsampling (default: nearest, true resolution)")
    p.add_argument("--overlay", action="store_true", help="blend each channel onto the image")
    p.add_argument("--list-layers", action="store_true", help="print the spatial layers and exit")
    p.add_argument(
        "--out", type=Path, help="output PNG (default: <checkpoint dir>/../pictures/activations_<layer>.png)"
    )
    p.add_argument("--tensorboard", type=Path, metavar="DIR", help="also log the grid to TensorBoard in DIR")
    return p


def list_layers(model: torch.nn.Module, image: torch.Tensor) -> list[str]:
    """Lines ``name  shape  receptive field`` for every module with a (B, C, h, w) output."""
    from wsol.cams.hooks import spatial_layers
    from wsol.viz.receptive_field import describe, receptive_field_or_none

    rows = []
    for name, shape in spatial_layers(model, image[None]):
        rf = receptive_field_or_none(model, name)
        rows.append((name, "x".join(map(str, shape[1:])), describe(rf) if rf else "-"))
    width = max(len(r[0]) for r in rows)
    return [f"{'layer':<{width}}  {'C x h x w':<14}  receptive field"] + [
        f"{n:<{width}}  {s:<14}  {r}" for n, s, r in rows
    ]


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.tile < 16 or args.num_channels < 0 or (args.ncols is not None and args.ncols < 1):
        raise SystemExit(f"{PROG}: --tile must be >= 16, --num-channels >= 0, --ncols >= 1")
    from wsol.drawing import save_png
    from wsol.viz.activations import (
        add_to_tensorboard,
        capture_activations,
        default_picture_path,
        parse_channels,
        render_activations,
        safe_layer_name,
        select_channels,
    )

    try:
        from wsol.viz.source import open_source

        src = open_source(args.checkpoint, args.data, args.split, args.device)
        n = len(src.dataset)
        bad = [i for i in args.image_index if not 0 <= i < n]
        if bad:
            raise ValueError(f"--image-index {bad} outside the {args.split} split (0..{n - 1})")
        items = [src.dataset[i] for i in args.image_index]
        import torch

        images = torch.stack([it["image"] for it in items])
        if args.list_layers:
            print("\n".join(list_layers(src.model, images[0])))
            return 0
        acts = capture_activations(src.model, images, args.layer)
        explicit = parse_channels(args.channels, acts.shape[1])
        channels = select_channels(acts, explicit, None if explicit else args.num_channels, args.sort)
    except (FileNotFoundError, KeyError, ValueError) as exc:
        raise SystemExit(f"{PROG}: {exc.args[0] if isinstance(exc, KeyError) else exc}") from None
    names = src.info.class_names
    titles = [
        f"#{i} {names[int(it['label'])]}" if 0 <= int(it["label"]) < len(names) else f"#{i}"
        for i, it in zip(args.image_index, items)
    ]
    order = "sorted by mean activation" if args.sort else "in index order"
    heading = (
        f"{args.layer}  {'x'.join(map(str, acts.shape[1:]))}  ({args.split} split; each channel min-max "
        f"normalised on its own; {order})"
    )
    grid = render_activations(
        images,
        acts,
        channels,
        titles,
        heading=heading,
        tile=args.tile,
        ncols=args.ncols,
        smooth=args.smooth,
        overlay=args.overlay,
    )
    layer = safe_layer_name(args.layer)
    out = args.out or default_picture_path(src.checkpoint, f"activations_{layer}.png")
    save_png(out, grid)
    shown = f"{len(channels)} of {acts.shape[1]} channels"
    print(f"{out}  layer {args.layer} {tuple(acts.shape[1:])}, {shown}, images {args.image_index}")
    if len(channels) < acts.shape[1] and explicit is None:
        print(f"  (showing {shown}: --num-channels 0 for all, --channels to pick, --sort for the most active)")
    if args.tensorboard:
        add_to_tensorboard(args.tensorboard, f"activations/{layer}", grid)
        print(f"  TensorBoard: {args.tensorboard} tag activations/{layer}")
    return 0

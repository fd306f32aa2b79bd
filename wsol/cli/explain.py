"""Explain a classifier's predictions on images: heatmap overlays (Grad-CAM, Score-CAM, saliency, ...) as PNGs.

    wsol explain --torchvision-model resnet50 --image a.jpg b.png --method gradcam --out runs/explain
    wsol explain --checkpoint runs/acol/best.pt --image a.jpg --method scorecam --layer backbone --out out/

Each image is resized to ``--size`` (the ``resize`` eval protocol), normalised with ImageNet statistics, and
explained for ``--class`` (default: the predicted class); ``<out>/<image stem>_<method>.png`` shows the map
(min-max normalised) over the resized image.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from wsol.cli._common import CAM_METHOD_NAMES, UPSAMPLE_NAMES, new_parser
from wsol.fileio import safe_join

if TYPE_CHECKING:  # for annotations only: these load after the arguments are parsed
    import numpy as np
    import torch
    from torch import nn


def load_classifier(args: argparse.Namespace) -> nn.Module:
    """A WSOL checkpoint (``--checkpoint``) or a torchvision architecture (``--torchvision-model``)."""
    import torch

    if args.checkpoint:
        from wsol.engine.checkpoint import load_model

        return load_model(args.checkpoint)[0]
    import torchvision

    try:
        model = torchvision.models.get_model(args.torchvision_model, weights=None, num_classes=args.num_classes)
    except ValueError as exc:
        raise SystemExit(f"wsol explain: --torchvision-model: {exc}") from None
    if args.weights:
        state = torch.load(args.weights, map_location="cpu", weights_only=True)
        missing, unexpected = model.load_state_dict(state, strict=False)
        if missing or unexpected:
            raise SystemExit(
                f"wsol explain: {args.weights} does not fit {args.torchvision_model}: missing keys "
                f"{missing[:5]}, unexpected keys {unexpected[:5]}"
            )
    return model.eval()


def check_layers(model: nn.Module, names: list[str] | None, flag: str) -> None:
    """Unknown target layers are a usage error, named with the close matches, before any output exists."""
    from wsol.cams.hooks import resolve_layers

    try:
        resolve_layers(model, names or [])
    except KeyError as exc:
        raise SystemExit(f"{flag}: {exc.args[0]}") from None


def load_batch(paths: list[Path], size: int) -> tuple[torch.Tensor, list[np.ndarray]]:
    """(B, 3, size, size) normalised tensor and the resized uint8 RGB images."""
    import cv2
    import numpy as np
    import torch

    from wsol.data.imageio import read_image
    from wsol.drawing import IMAGENET_MEAN, IMAGENET_STD

    resized = [cv2.resize(read_image(p), (size, size), interpolation=cv2.INTER_LINEAR) for p in paths]
    x = torch.from_numpy(np.stack(resized)).permute(0, 3, 1, 2).float() / 255.0
    mean, std = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    return (x - mean) / std, resized


def main(argv: list[str] | None = None) -> int:
    parser = new_parser("wsol explain", __doc__.split("\n", 1)[0])
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--checkpoint", help="WSOL checkpoint written by `wsol train`")
    source.add_argument("--torchvision-model", help="torchvision architecture name, e.g. resnet50")
    parser.add_argument("--weights", help="state_dict for --torchvision-model (loaded with weights_only=True)")
    parser.add_argument("--num-classes", type=int, default=1000, help="classes of --torchvision-model")
    parser.add_argument("--image", nargs="+", required=True, type=Path, help="image file(s)")
    parser.add_argument("--method", default="gradcam", metavar="METHOD", help=f"one of {', '.join(CAM_METHOD_NAMES)}")
    parser.add_argument("--layer", nargs="+", help="target layer name(s) (default: the last spatial layer)")
    parser.add_argument("--fuse", choices=("mean", "max"), default="mean", help="fusion of several layers")
    parser.add_argument("--class", dest="target", type=int, help="class to explain (default: predicted top-1)")
    parser.add_argument("--size", type=int, default=224, help="network input side")
    parser.add_argument("--upsample", choices=UPSAMPLE_NAMES, default="bilinear")
    parser.add_argument("--alpha", type=float, default=0.5, help="heatmap opacity")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--out", required=True, type=Path, help="output folder")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    args = parser.parse_args(argv)
    from tqdm import tqdm

    from wsol.cams import CAM_METHODS
    from wsol.drawing import heatmap_overlay, save_png

    for ok, what in (
        (args.size >= 8, f"--size must be >= 8, got {args.size}"),
        (args.batch_size >= 1, f"--batch-size must be >= 1, got {args.batch_size}"),
        (0 <= args.alpha <= 1, f"--alpha must be in [0, 1], got {args.alpha}"),
        (args.method in CAM_METHODS, f"--method {args.method!r} is unknown; known: {', '.join(CAM_METHODS)}"),
    ):
        if not ok:
            raise SystemExit(what)
    method = CAM_METHODS.get(args.method)
    missing = [p for p in args.image if not p.is_file()]
    if missing:  # before the first overlay is written
        raise SystemExit(
            f"{missing[0]}: --image file does not exist"
            + (f" (and {len(missing) - 1} more)" if len(missing) > 1 else "")
        )
    model = load_classifier(args)
    check_layers(model, args.layer, "--layer")
    explainer = method(model, args.layer, fuse=args.fuse)
    used: set[str] = set()
    for start in tqdm(
        range(0, len(args.image), args.batch_size), desc="explain", unit="batch", disable=args.no_progress, leave=False
    ):
        paths = args.image[start : start + args.batch_size]
        images, resized = load_batch(paths, args.size)
        out = explainer(images, args.target, upsample=args.upsample)
        probs = out.logits.softmax(1)
        for path, img, cam, cls, p in zip(paths, resized, out.maps, out.classes, probs):
            name = f"{path.stem}_{args.method}"
            name = (
                next(f"{name}_{i}" for i in range(1, len(used) + 2) if f"{name}_{i}" not in used)
                if name in used
                else name
            )  # same stem twice (a/x.jpg, b/x.jpg): keep both
            used.add(name)
            dest = safe_join(args.out, f"{name}.png")
            save_png(dest, heatmap_overlay(img, cam.numpy(), alpha=args.alpha))
            print(f"{dest}  class {int(cls)} (p={float(p[int(cls)]):.3f})")
    return 0

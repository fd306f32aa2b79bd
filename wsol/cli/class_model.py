"""Class-model visualisation: gradient ascent on the input to the image that maximises each class score.

    wsol class-model                                  # quickstart checkpoint, every class (up to 20)
    wsol class-model --classes c02_checker 7 --steps 300 --jitter 4 --blur-every 4 --out runs/cm

Simonyan et al. 2014 (arXiv:1312.6034): maximise S_c(I) − λ‖I‖² over the input I (the logit, not the
softmax), starting from the dataset mean; optional jitter and Gaussian blur (Yosinski et al. 2015,
arXiv:1506.06579). Writes into ``--out`` (default ``<checkpoint dir>/../class_model``): ``class_model.png``
(one image per class, contrast stretched, with its name and score before → after), ``scores.png`` (score vs step),
``classes/<class name>.png`` (each image at input size, not stretched) and ``summary.json``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from wsol.cli._common import add_source_args, new_parser
from wsol.fileio import atomic_write_json, safe_join

MAX_CLASSES = 20


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = new_parser("wsol class-model", __doc__.split("\n", 1)[0])
    add_source_args(p, split="val")
    p.add_argument(
        "--classes",
        nargs="+",
        default=None,
        help=f"class indices or names (default: all, at most the first {MAX_CLASSES})",
    )
    p.add_argument("--steps", type=int, default=200, help="gradient-ascent steps (default: %(default)s)")
    p.add_argument(
        "--lr",
        type=float,
        default=0.1,
        help="step in normalised pixel units per RMS-normalised gradient (default: %(default)s)",
    )
    p.add_argument("--l2", type=float, default=0.05, help="λ of the L2 penalty λ‖I‖² (default: %(default)s)")
    p.add_argument("--jitter", type=int, default=0, help="random roll of up to J px each step (default: off)")
    p.add_argument("--blur-every", type=int, default=0, help="Gaussian blur every n steps (default: off)")
    p.add_argument("--blur-sigma", type=float, default=0.5, help="blur standard deviation, px (default: %(default)s)")
    p.add_argument("--init", choices=("mean", "noise"), default="mean", help="start image (default: %(default)s)")
    p.add_argument("--size", type=int, default=None, help="image side (default: the model's input size)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--tile", type=int, default=160, help="tile side in the grid picture, px")
    p.add_argument("--no-stretch", action="store_true", help="show the grid without contrast stretching")
    p.add_argument("--out", type=Path, default=None, help="output folder (default: <checkpoint dir>/../class_model)")
    p.add_argument("--tensorboard", type=Path, default=None, help="also log the pictures here")
    args = p.parse_args(argv)
    if args.steps < 1 or args.lr <= 0 or args.l2 < 0 or args.jitter < 0 or args.blur_every < 0 or args.blur_sigma <= 0:
        p.error("need --steps >= 1, --lr > 0, --l2 >= 0, --jitter >= 0, --blur-every >= 0, --blur-sigma > 0")
    if args.size is not None and args.size < 8:
        p.error("--size must be >= 8")
    return args


def resolve_classes(tokens: list[str] | None, names: list[str], num_classes: int) -> list[int]:
    """Class indices from indices or names; unknown ones fail listing the known names."""
    if tokens is None:
        return list(range(min(num_classes, MAX_CLASSES)))
    out = []
    for tok in tokens:
        if tok.lstrip("-").isdigit():
            c = int(tok)
            if not 0 <= c < num_classes:
                raise SystemExit(f"wsol class-model: --classes: index {c} is outside [0, {num_classes})")
        elif tok in names:
            c = names.index(tok)
        else:
            raise SystemExit(f"wsol class-model: --classes: unknown class {tok!r}; known: {', '.join(names)}")
        out.append(c)
    return out


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    import torch

    from wsol.cams.hooks import model_logits
    from wsol.drawing import denormalize_image, save_png
    from wsol.viz.class_model import class_model_images, render_class_models, score_plot_png
    from wsol.viz.embeddings import png_to_array
    from wsol.viz.source import open_source

    t0 = time.perf_counter()
    src = open_source(args.checkpoint, args.data, args.split, args.device)
    num_classes = int(getattr(src.model, "num_classes", src.info.num_classes))
    names = list(src.info.class_names or [])
    names = names if len(names) >= num_classes else [str(c) for c in range(num_classes)]
    classes = resolve_classes(args.classes, names, num_classes)
    size = args.size or int(src.config.data.input_size)
    out = args.out if args.out is not None else src.checkpoint.resolve().parent.parent / "class_model"
    result = class_model_images(
        src.model,
        classes,
        size,
        steps=args.steps,
        lr=args.lr,
        l2=args.l2,
        jitter=args.jitter,
        blur_every=args.blur_every,
        blur_sigma=args.blur_sigma,
        init=args.init,
        seed=args.seed,
        progress=True,
    )
    seconds = time.perf_counter() - t0
    grid = render_class_models(result, names, tile=args.tile, stretch=not args.no_stretch)
    save_png(out / "class_model.png", grid)
    extras = f", jitter {args.jitter}" if args.jitter else ""
    extras += f", blur σ={args.blur_sigma} every {args.blur_every}" if args.blur_every else ""
    plot = score_plot_png(
        result,
        names,
        out / "scores.png",
        f"gradient ascent on the input: {args.steps} steps, lr {args.lr}, λ={args.l2}{extras}",
    )
    with torch.no_grad():
        probs = model_logits(src.model(result.images.to(src.device))).softmax(1).cpu()
    rows = []
    for i, c in enumerate(classes):
        save_png(safe_join(out / "classes", f"{names[c]}.png"), denormalize_image(result.images[i]))
        rows.append(
            {
                "class": c,
                "name": names[c],
                "score_start": float(result.scores[0, i]),
                "score_end": float(result.scores[-1, i]),
                "prob_end": float(probs[i, c]),
                "image_rms": float(result.images[i].pow(2).mean().sqrt()),
            }
        )
        print(
            f"{names[c]:<24} S_c {rows[-1]['score_start']:8.3f} -> {rows[-1]['score_end']:8.3f}   "
            f"p={rows[-1]['prob_end']:.3f}"
        )
    if args.tensorboard is not None:
        from torch.utils.tensorboard import SummaryWriter

        with SummaryWriter(str(args.tensorboard)) as writer:
            writer.add_image("class_model/images", grid, 0, dataformats="HWC")
            writer.add_image("class_model/scores", png_to_array(plot), 0, dataformats="HWC")
    settings = {
        k: getattr(args, k) for k in ("steps", "lr", "l2", "jitter", "blur_every", "blur_sigma", "init", "seed")
    }
    atomic_write_json(
        out / "summary.json",
        {"checkpoint": str(src.checkpoint), "size": size, **settings, "seconds": round(seconds, 2), "classes": rows},
    )
    print(
        f"wrote {out}/class_model.png, scores.png, classes/*.png, summary.json ({len(classes)} classes, "
        f"{args.steps} steps in {seconds:.1f} s)"
    )
    return 0

"""Draw a grid of CAM + box overlays of chosen images (worst / best / first; by failure or class) to PNG + TensorBoard.

Example (after ``wsol quickstart``): ``wsol overlays --sort worst --failure "part only" --count 16`` writes
``runs/quickstart/pictures/overlays_test_worst.png``; ``--tensorboard runs/quickstart/train/tb`` also logs it
as an image. Each panel: GT-class heatmap, GT boxes (green), the MaxBoxAcc box at the threshold with its IoU
(red), the GT mask outline (cyan) and ``gt>predicted class, failure category``.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from wsol.cli._common import FAILURE_CATEGORIES as CATEGORIES
from wsol.cli._common import add_source_args, new_parser

SORTS = ("worst", "best", "dataset")


def build_parser() -> argparse.ArgumentParser:
    p = new_parser("wsol overlays", __doc__.split("\n")[0])
    add_source_args(p, split="test")
    p.add_argument("--count", type=int, default=16, help="images in the grid (default: %(default)s)")
    p.add_argument(
        "--sort",
        choices=SORTS,
        default="worst",
        help="worst/best = lowest/highest IoU first, dataset = split order (default: %(default)s)",
    )
    p.add_argument("--failure", choices=CATEGORIES, default=None, help="only images of this failure category")
    p.add_argument("--class", dest="cls", default=None, help="only images of this GT class (name or index)")
    p.add_argument(
        "--threshold",
        type=float,
        default=None,
        help="CAM threshold (default: the evaluation's fixed/threshold, else the checkpoint's)",
    )
    p.add_argument(
        "--evaluation",
        default=None,
        help="evaluation.json to read the threshold from (default: eval_<split>/evaluation.json near the checkpoint)",
    )
    p.add_argument("--size", type=int, default=192, help="panel side in px (default: %(default)s)")
    p.add_argument("--ncols", type=int, default=8)
    p.add_argument(
        "--out", default=None, help="PNG path (default: <checkpoint dir>/../pictures/overlays_<split>_<sort>.png)"
    )
    p.add_argument("--tensorboard", default=None, metavar="DIR", help="also log the grid to this TensorBoard dir")
    p.add_argument("--tag", default=None, help="TensorBoard image tag (default: overlays/<split>_<sort>)")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--no-progress", action="store_true")
    return p


def class_index(value: str, names: Sequence[str]) -> int:
    """A class given by name or index → its index, or a ValueError listing the known names."""
    if value in names:
        return list(names).index(value)
    if value.lstrip("-").isdigit() and 0 <= int(value) < len(names):
        return int(value)
    raise ValueError(f"unknown class {value!r}; known: {', '.join(names)} (or an index 0..{len(names) - 1})")


def select(
    records: Sequence[dict[str, Any]], count: int, sort: str, failure: str | None = None, label: int | None = None
) -> list[dict[str, Any]]:
    """Filter by failure category / GT class, order by IoU (worst or best first, ties in dataset order) or
    dataset order, keep the first ``count``."""
    kept = [
        r for r in records if (failure is None or r["category"] == failure) and (label is None or r["label"] == label)
    ]
    if sort == "worst":
        kept.sort(key=lambda r: (r["iou"], r["index"]))
    elif sort == "best":
        kept.sort(key=lambda r: (-r["iou"], r["index"]))
    elif sort == "dataset":
        kept.sort(key=lambda r: r["index"])
    else:
        raise ValueError(f"unknown sort {sort!r}; known: {', '.join(SORTS)}")
    return kept[:count]


def log_tensorboard(log_dir: str | Path, tag: str, image: Any, step: int = 0) -> None:
    """One (H, W, 3) uint8 image into a TensorBoard event file under ``log_dir``."""
    from torch.utils.tensorboard import SummaryWriter

    writer = SummaryWriter(log_dir=str(log_dir))
    try:
        writer.add_image(tag, image, step, dataformats="HWC")
    finally:
        writer.close()


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from wsol.drawing import make_grid, save_png
    from wsol.viz.per_image import (
        analyse_split,
        choose_threshold,
        class_names_of,
        default_evaluation,
        load_evaluation,
        render_panels,
    )
    from wsol.viz.source import open_source

    if args.count < 1:
        raise SystemExit("wsol overlays: --count must be at least 1")
    try:
        eval_path = Path(args.evaluation) if args.evaluation else default_evaluation(args.checkpoint, args.split)
        evaluation = load_evaluation(eval_path, args.split) if eval_path else None
        threshold, why = choose_threshold(args.threshold, evaluation, args.checkpoint)
        source = open_source(args.checkpoint, args.data, args.split, args.device)
        label = class_index(args.cls, class_names_of(source)) if args.cls is not None else None
    except (ValueError, FileNotFoundError) as err:
        raise SystemExit(f"wsol overlays: {err}") from err
    records = analyse_split(source, threshold, None, batch_size=args.batch_size, progress=not args.no_progress)
    chosen = select(records, args.count, args.sort, args.failure, label)
    if not chosen:
        raise SystemExit(
            f"wsol overlays: no image of split {args.split!r} matches --failure {args.failure!r} "
            f"--class {args.cls!r} at threshold {threshold:.2f}"
        )
    panels = render_panels(source, [r["index"] for r in chosen], threshold, args.size)
    grid = make_grid(panels, ncols=args.ncols)
    out = (
        Path(args.out)
        if args.out
        else (Path(args.checkpoint).resolve().parent.parent / "pictures" / f"overlays_{args.split}_{args.sort}.png")
    )
    save_png(out, grid)
    print(f"wrote {out} ({len(chosen)} of {len(records)} images, threshold {threshold:.2f}, {why})")
    if args.tensorboard:
        tag = args.tag or f"overlays/{args.split}_{args.sort}"
        log_tensorboard(args.tensorboard, tag, grid)
        print(f"logged {tag!r} to TensorBoard in {args.tensorboard}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

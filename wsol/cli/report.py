"""Write a static HTML report of a checkpoint on a split: metrics, curves, failure taxonomy, per-image gallery.

Example (after ``wsol quickstart``): ``wsol report`` reads ``runs/quickstart/eval_test/evaluation.json`` and writes
``runs/quickstart/report_test/index.html`` (open it in a browser; it works offline). ``--screenshot page.png``
also renders it in headless Chromium.
"""

from __future__ import annotations

import argparse
import datetime as dt
from pathlib import Path
from typing import Any

from wsol.cli._common import add_source_args, new_parser


def build_parser() -> argparse.ArgumentParser:
    p = new_parser("wsol report", __doc__.split("\n")[0])
    add_source_args(p, split="test")
    p.add_argument(
        "--evaluation",
        default=None,
        help="evaluation.json of `wsol evaluate` (default: eval_<split>/evaluation.json in or beside "
        "the checkpoint's folder if it exists, else the evaluation is run here)",
    )
    p.add_argument(
        "--threshold",
        type=float,
        default=None,
        help="CAM threshold of the gallery (default: the evaluation's fixed/threshold, else the "
        "checkpoint's stored one)",
    )
    p.add_argument("--out", default=None, help="report folder (default: <checkpoint dir>/../report_<split>)")
    p.add_argument("--screenshot", default=None, metavar="PNG", help="also render index.html with headless Chromium")
    p.add_argument(
        "--screenshot-size", default="1280x1600", metavar="WxH", help="browser window (default: %(default)s)"
    )
    p.add_argument(
        "--screenshot-palette",
        action="store_true",
        help="store the screenshot with 256 colours (smaller file, e.g. for a README)",
    )
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--workers", type=int, default=0)
    p.add_argument(
        "--gallery-max",
        type=int,
        default=2000,
        help="at most this many gallery thumbnails, a sample stratified by failure category; the tables "
        "count every image (default: %(default)s; 0 = all)",
    )
    p.add_argument("--thumb-size", type=int, default=160, help="gallery thumbnail side in px (default: %(default)s)")
    p.add_argument("--no-progress", action="store_true")
    return p


def _evaluate_here(source: Any, threshold: float, args: argparse.Namespace) -> dict[str, Any]:
    from torch.utils.data import DataLoader

    from wsol.data.records import collate_samples
    from wsol.evaluation import evaluate_model

    loader = DataLoader(
        source.dataset, batch_size=args.batch_size, num_workers=args.workers, collate_fn=collate_samples
    )
    result = evaluate_model(
        source.model,
        loader,
        fixed_threshold=threshold,
        with_curves=True,
        protocol=str(source.config.data.get("protocol") or "resize"),
        device=source.device,
        progress=not args.no_progress,
    )
    result.update(split=args.split, checkpoint=str(args.checkpoint), fixed_threshold_from="checkpoint")
    return result


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from wsol.viz.per_image import (
        analyse_split,
        choose_threshold,
        default_evaluation,
        load_evaluation,
        same_checkpoint,
        snap_threshold,
        write_thumbnails,
    )
    from wsol.viz.report import gallery_sample, write_report
    from wsol.viz.source import open_source

    eval_path = Path(args.evaluation) if args.evaluation else default_evaluation(args.checkpoint, args.split)
    try:
        evaluation = load_evaluation(eval_path, args.split) if eval_path else None
        if evaluation is not None and not same_checkpoint(evaluation, args.checkpoint):
            if args.evaluation is None:  # found next to the checkpoint but made from another one (best vs last)
                print(f"{eval_path} evaluates {evaluation.get('checkpoint')}, not {args.checkpoint}: ignoring it")
                eval_path, evaluation = None, None
            else:
                print(f"warning: {eval_path} evaluates {evaluation.get('checkpoint')}, not {args.checkpoint}")
        threshold, why = choose_threshold(args.threshold, evaluation, args.checkpoint)
    except (ValueError, FileNotFoundError) as err:
        raise SystemExit(f"wsol report: {err}") from err
    source = open_source(args.checkpoint, args.data, args.split, args.device)
    if evaluation is None:
        print(f"no evaluation.json found for split {args.split!r}: evaluating here (threshold {threshold:.3f})")
        evaluation = _evaluate_here(source, threshold, args)
    out = Path(args.out) if args.out else Path(args.checkpoint).resolve().parent.parent / f"report_{args.split}"
    thumbs = out / "assets" / "thumbs"
    every = args.gallery_max <= 0 or len(source.dataset) <= args.gallery_max
    records = analyse_split(
        source,
        threshold,
        thumbs if every else None,
        batch_size=args.batch_size,
        workers=args.workers,
        thumb_size=args.thumb_size,
        progress=not args.no_progress,
    )
    if not every:  # a second pass draws the sampled images only
        write_thumbnails(
            source,
            records,
            gallery_sample(records, args.gallery_max),
            threshold,
            thumbs,
            thumb_size=args.thumb_size,
            batch_size=args.batch_size,
            progress=not args.no_progress,
        )
    meta = {
        "checkpoint": str(args.checkpoint),
        "split": args.split,
        "data": str(source.info.image_root),
        "threshold": snap_threshold(threshold),
        "threshold_source": why,
        "evaluation": str(eval_path) if eval_path else "computed by wsol report",
        "generated": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
    }
    index = write_report(out, records, evaluation, meta)
    print(f"wrote {index} ({len(records)} images, threshold {meta['threshold']:.2f}, {why})")
    if args.screenshot:
        from wsol.viz.browser import screenshot

        try:
            width, height = (int(v) for v in args.screenshot_size.lower().split("x"))
        except ValueError:
            raise SystemExit(
                f"wsol report: --screenshot-size must be WxH, e.g. 1280x1600; got {args.screenshot_size!r}"
            ) from None
        try:
            print(f"wrote {screenshot(index, args.screenshot, width, height, palette=args.screenshot_palette)}")
        except (FileNotFoundError, RuntimeError) as err:
            raise SystemExit(f"wsol report: {err}") from err
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

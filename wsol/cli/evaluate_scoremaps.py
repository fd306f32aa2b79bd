"""Evaluate saved score maps against wsolevaluation metadata (drop-in for wsolevaluation's evaluation.py).

Example: ``wsol evaluate-scoremaps --scoremap-root scoremaps --metadata-root metadata/CUB --split test``.
Prints a table; writes ``<out>/evaluation.json`` (every figure and curve) and PNG plots.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from wsol.evaluation.metadata import read_wsolevaluation_split
from wsol.evaluation.report import format_table, write_outputs
from wsol.evaluation.scoremaps import evaluate_scoremaps


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="wsol evaluate-scoremaps", description=__doc__.split("\n")[0])
    p.add_argument("--scoremap-root", required=True, help="folder of <image_id>.npy maps (224x224, values in [0,1])")
    p.add_argument("--metadata-root", required=True, help="folder holding <split>/image_ids.txt ... (or the split)")
    p.add_argument("--split", default="test")
    p.add_argument("--mask-root", default=None, help="root of the mask files named in localization.txt")
    p.add_argument("--cam-curve-interval", type=float, default=0.001, help="threshold step (wsolevaluation: 0.001)")
    p.add_argument("--iou-thresholds", type=int, nargs="+", default=[30, 50, 70], help="MaxBoxAccV2 IoUs (%%)")
    p.add_argument("--multi-contour-eval", action=argparse.BooleanOptionalAction, default=True,
                   help="also report MaxBoxAccV2 (every contour); MaxBoxAcc v1 is always reported")
    p.add_argument("--fixed-threshold", type=float, default=None, help="CAM threshold chosen on val (reported as fixed/*)")
    p.add_argument("--normalize", action="store_true", help="min-max normalise maps instead of requiring [0, 1]")
    p.add_argument("--protocol", choices=["resize", "resize_crop"], default="resize")
    p.add_argument("--threads", type=int, default=None, help="CPU threads for the box pass (default: all cores)")
    p.add_argument("--out", default=None, help="output folder (default: <scoremap-root>/../evaluation_<split>)")
    p.add_argument("--no-progress", action="store_true")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    records = read_wsolevaluation_split(args.metadata_root, args.split)
    result = evaluate_scoremaps(
        args.scoremap_root, records, mask_root=args.mask_root, cam_curve_interval=args.cam_curve_interval,
        iou_thresholds=args.iou_thresholds, multi_contour=args.multi_contour_eval,
        fixed_threshold=args.fixed_threshold, normalize=args.normalize, protocol=args.protocol,
        num_threads=args.threads, progress=not args.no_progress)
    result["split"] = args.split
    print(format_table(result, args.split, "given" if args.fixed_threshold is not None else None))
    out = Path(args.out) if args.out else Path(args.scoremap_root).resolve().parent / f"evaluation_{args.split}"
    for path in write_outputs(result, out):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

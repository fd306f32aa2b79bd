"""Evaluate saved score maps against wsolevaluation metadata (drop-in for wsolevaluation's evaluation.py).

Example: ``wsol evaluate-scoremaps --scoremap-root scoremaps --metadata-root metadata/CUB --split test``.
Prints a table; writes ``<out>/evaluation.json`` (every figure and curve) and PNG plots.

wsolevaluation's own spelling works too (``--scoremap_root ... --metadata_root metadata --dataset_name CUB
--split test --multi_contour_eval True --multi_iou_eval True``): the metadata is then read from
``<metadata_root>/<dataset_name>/<split>`` and the masks from ``<mask_root>/OpenImages``, and the last line is its
headline figure, ``localization: <value>`` (see :func:`wsolevaluation_headline`). Every figure is reported
whatever the flags; ``--multi_contour_eval`` (default False there, as in wsolevaluation) only picks the headline,
``--no-multi-contour-eval`` skips the MaxBoxAccV2 pass.
"""

from __future__ import annotations

import argparse
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

DATASETS = {"CUB": "CUB", "ILSVRC": "ILSVRC", "ImageNet": "ILSVRC", "OpenImages": "OpenImages"}


def str2bool(text: str) -> bool:
    """wsolevaluation's boolean flag values: yes/no, true/false, t/f, y/n, 1/0 (any case)."""
    value = text.strip().lower()
    if value in ("yes", "true", "t", "y", "1"):
        return True
    if value in ("no", "false", "f", "n", "0"):
        return False
    raise argparse.ArgumentTypeError(f"expected a boolean (true/false, yes/no, 1/0), got {text!r}")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="wsol evaluate-scoremaps", description=__doc__.split("\n")[0])
    p.add_argument(
        "--scoremap-root",
        "--scoremap_root",
        required=True,
        help="folder of <image_id>.npy maps: 224x224 in [0,1], or any other 2-D size (resized bicubically "
        "to 224 and min-max normalised, as wsolevaluation's inference.py)",
    )
    p.add_argument(
        "--metadata-root",
        "--metadata_root",
        required=True,
        help="folder holding <split>/image_ids.txt ... (or the split)",
    )
    p.add_argument(
        "--dataset-name",
        "--dataset_name",
        choices=sorted(DATASETS),
        default=None,
        help="wsolevaluation's layout: metadata in <metadata-root>/<dataset>/<split>, masks in <mask-root>/OpenImages",
    )
    p.add_argument("--split", default="test")
    p.add_argument("--mask-root", "--mask_root", default=None, help="root of the mask files named in localization.txt")
    p.add_argument(
        "--cam-curve-interval",
        "--cam_curve_interval",
        type=float,
        default=0.001,
        help="threshold step (wsolevaluation: 0.001)",
    )
    p.add_argument(
        "--iou-thresholds",
        "--iou_threshold_list",
        type=int,
        nargs="+",
        default=[30, 50, 70],
        help="MaxBoxAccV2 IoUs (%%)",
    )
    p.add_argument(
        "--multi-contour-eval",
        "--multi_contour_eval",
        type=str2bool,
        nargs="?",
        const=True,
        default=None,
        help="headline from every contour (MaxBoxAccV2 boxes); both are always reported",
    )
    p.add_argument(
        "--no-multi-contour-eval",
        dest="multi_contour_eval",
        action="store_false",
        help="skip the MaxBoxAccV2 pass (MaxBoxAcc only, faster)",
    )
    p.add_argument(
        "--multi-iou-eval",
        "--multi_iou_eval",
        type=str2bool,
        nargs="?",
        const=True,
        default=False,
        help="headline averaged over --iou-thresholds instead of IoU 50",
    )
    p.add_argument(
        "--fixed-threshold", type=float, default=None, help="CAM threshold chosen on val (reported as fixed/*)"
    )
    p.add_argument("--normalize", action="store_true", help="min-max normalise maps instead of requiring [0, 1]")
    p.add_argument("--protocol", choices=["resize", "resize_crop"], default="resize")
    p.add_argument("--threads", type=int, default=None, help="CPU threads for the box pass (default: all cores)")
    p.add_argument("--out", default=None, help="output folder (default: <scoremap-root>/../evaluation_<split>)")
    p.add_argument(
        "--no-plots",
        action="store_true",
        help="write evaluation.json only (drawing the PNG curves costs about a second: matplotlib)",
    )
    p.add_argument("--no-progress", action="store_true")
    return p


def wsolevaluation_headline(
    result: dict[str, Any], multi_contour: bool, multi_iou: bool, iou_thresholds: Sequence[int] = (30, 50, 70)
) -> float:
    """The one figure wsolevaluation's ``evaluate_wsol`` returns: PxAP for masks; for boxes the best BoxAcc over
    thresholds of the largest contour (or of every contour with ``multi_contour``), at IoU 50 or, with
    ``multi_iou``, averaged over ``iou_thresholds`` (Choe et al., CVPR 2020, https://arxiv.org/abs/2001.07437)."""
    if "pxap" in result:
        return float(result["pxap"])
    kind = "v2" if multi_contour else "v1"
    deltas = list(iou_thresholds) if multi_iou else [50]
    curves = result["curves"]
    missing = [d for d in deltas if f"boxacc_{kind}_iou{d}" not in curves]
    if missing:
        raise ValueError(f"no BoxAcc curve for {kind} at IoU {missing} (MaxBoxAccV2 skipped?)")
    return float(np.mean([max(curves[f"boxacc_{kind}_iou{d}"]) for d in deltas]))


def _prefetch_plotting() -> threading.Thread:
    """Import matplotlib (about half a second) in the background while the maps are evaluated: the plots are
    drawn at the end, and the evaluation threads leave the interpreter free most of the time."""

    def load() -> None:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot

    thread = threading.Thread(target=load, name="prefetch-matplotlib", daemon=True)
    thread.start()
    return thread


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    plotting = None if args.no_plots else _prefetch_plotting()
    # imported here, not at module level: `wsol evaluate-scoremaps --help` stays instant
    from wsol.data.wsoleval import find_split_folder, read_wsoleval_folder
    from wsol.evaluation.report import format_table, write_outputs
    from wsol.evaluation.scoremaps import evaluate_scoremaps

    metadata_root, mask_root = args.metadata_root, args.mask_root
    if args.dataset_name:
        metadata_root = Path(metadata_root) / DATASETS[args.dataset_name]
        if mask_root is not None and DATASETS[args.dataset_name] == "OpenImages":
            mask_root = Path(mask_root) / "OpenImages"
    folder = find_split_folder(metadata_root, args.split)
    split = read_wsoleval_folder(folder, folder, mask_root, name=args.split)
    result = evaluate_scoremaps(
        args.scoremap_root,
        split,
        cam_curve_interval=args.cam_curve_interval,
        iou_thresholds=args.iou_thresholds,
        multi_contour=args.multi_contour_eval is not False,
        fixed_threshold=args.fixed_threshold,
        normalize=args.normalize,
        protocol=args.protocol,
        num_threads=args.threads,
        progress=not args.no_progress,
    )
    result["split"] = args.split
    print(format_table(result, args.split, "given" if args.fixed_threshold is not None else None))
    out = Path(args.out) if args.out else Path(args.scoremap_root).resolve().parent / f"evaluation_{args.split}"
    if plotting is not None:
        plotting.join()
    for path in write_outputs(result, out, plots=plotting is not None):
        print(f"wrote {path}")
    headline = wsolevaluation_headline(result, bool(args.multi_contour_eval), args.multi_iou_eval, args.iou_thresholds)
    print(f"localization: {headline}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Evaluate a checkpoint on a dataset split: classification, MaxBoxAcc(V2), top-k Loc, PxAP/PIoU.

Example: ``wsol evaluate --checkpoint runs/acol/last.pt --data data/synthetic --split test
--fixed-threshold-from val``: the CAM threshold is chosen on val (oracle there) and applied to test (fixed/*),
next to test's own oracle figures. Prints a table; writes JSON + PNG plots next to the checkpoint.
``--json`` prints the results as JSON on stdout instead (one object; keyed by map source when several), the
tables then go to stderr. A relative ``data.root`` of the checkpoint's config is found from the current folder
or from the run's own folder (``wsol.config.paths``).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from pathlib import Path
from typing import Any

from wsol.cli._common import new_parser, resolve_device
from wsol.defaults import DEFAULT_DATA


def build_parser() -> argparse.ArgumentParser:
    p = new_parser("wsol evaluate", __doc__.split("\n")[0])
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--data", default=None, help="dataset root (default: the checkpoint config's data.root)")
    p.add_argument("--split", default="test")
    p.add_argument(
        "--fixed-threshold-from",
        default=None,
        help="split to choose the CAM threshold on (e.g. val), 'checkpoint' for the stored one, or "
        "'paper' for the method's own fixed threshold (model.<method>.threshold, e.g. BAS)",
    )
    p.add_argument("--cam-curve-interval", type=float, default=0.01)
    p.add_argument("--iou-thresholds", type=int, nargs="+", default=[30, 50, 70])
    p.add_argument(
        "--protocol",
        choices=["resize", "resize_crop"],
        default=None,
        help="eval transform and GT-box rule (default: the checkpoint config's data.protocol)",
    )
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--workers", type=int, default=0)
    p.add_argument("--device", default="auto", help="auto (cuda when available) | cpu | cuda | cuda:N")
    p.add_argument(
        "--out", "--output-dir", dest="out", default=None, help="output folder (default: <checkpoint dir>/eval_<split>)"
    )
    p.add_argument("--json", action="store_true", help="print the results as JSON on stdout (tables to stderr)")
    p.add_argument("--print-config", action="store_true", help="print the checkpoint's resolved config and exit")
    p.add_argument(
        "--cam-method",
        nargs="+",
        default=["native"],
        help="map source(s): 'native' (the model's own class maps) and/or explainer names "
        "(gradcam, gradcam++, layercam, scorecam, ...; see wsol.cams.CAM_METHODS); several → "
        "each is evaluated and a comparison table is printed",
    )
    p.add_argument(
        "--cam-layer",
        nargs="+",
        default=["backbone"],
        help="target layer(s) of an explainer (default: backbone, the features the heads see)",
    )
    p.add_argument("--amp", action="store_true", help="run the model under bf16 autocast (CUDA; maps go on in fp32)")
    p.add_argument("--no-progress", action="store_true")
    return p


def _loader(args: argparse.Namespace, split: str):
    from torch.utils.data import DataLoader

    from wsol.data import WSOLDataset, build_transform, load_split
    from wsol.data.records import collate_samples
    from wsol.data.split import require_images
    from wsol.localization.maps import EVAL_SIZE

    info = require_images(load_split(args.data, split, fmt=args.format), args.data)
    dataset = WSOLDataset(
        info,
        build_transform("eval", args.input_size, args.protocol, args.resize_size),
        mask_size=EVAL_SIZE if args.protocol == "resize" else None,
    )
    return DataLoader(
        dataset,
        batch_size=args.batch_size,
        shuffle=False,
        num_workers=args.workers,
        collate_fn=collate_samples,
        pin_memory=args.device.startswith("cuda"),
    )


def _stored_threshold(path: str) -> float:
    from wsol.engine.checkpoint import checkpoint_meta

    loc = checkpoint_meta(path)["localization"]
    if not isinstance(loc, dict) or "threshold" not in loc:
        raise SystemExit(f"{path}: the checkpoint stores no 'localization' threshold; use --fixed-threshold-from val")
    return float(loc["threshold"])


def _paper_threshold(path: str) -> float:
    """The fixed threshold a method's paper boxes its maps at, from the checkpoint's ``model.<method>.threshold``."""
    from wsol.engine.checkpoint import checkpoint_meta
    from wsol.errors import UserInputError

    model = (checkpoint_meta(path)["config"] or {}).get("model", {})
    section = model.get(model.get("method"), {})
    if not isinstance(section, dict) or "threshold" not in section:
        raise UserInputError(
            f"checkpoint {path}: method {model.get('method')!r} has no paper threshold "
            f"(model.<method>.threshold); use --fixed-threshold-from val"
        )
    return float(section["threshold"])


def _get(node: Any, key: str, default: Any = None) -> Any:
    """Read a key of an OmegaConf node or a plain dict (the checkpoint's config), with a default."""
    if node is None:
        return default
    value = node.get(key, default) if hasattr(node, "get") else getattr(node, key, default)
    return default if value is None else value


COMPARISON_KEYS = [
    ("top-1 cls", "top1_cls"),
    ("top-1 loc", "fixed/top1_loc"),
    ("GT-known loc", "fixed/gt_known_loc"),
    ("MaxBoxAccV2", "oracle/maxboxacc_v2"),
    ("PxAP", "pxap"),
    ("threshold", "fixed/threshold"),
]


def comparison_table(results: dict[str, dict[str, Any]]) -> str:
    """Markdown table, one row per map source (loc columns at the fixed threshold, when one was chosen)."""
    cols = [(name, key) for name, key in COMPARISON_KEYS if any(key in r for r in results.values())]
    lines = ["| map source | " + " | ".join(n for n, _ in cols) + " |", "|---" * (len(cols) + 1) + "|"]
    for source, r in results.items():
        cells = [f"{r[k]:.2f}" if isinstance(r.get(k), (int, float)) else "-" for _, k in cols]
        lines.append(f"| {source} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _evaluate_source(args: argparse.Namespace, base_model: Any, method: str) -> dict[str, Any]:
    from wsol.evaluation import evaluate_model
    from wsol.evaluation.report import format_table, write_outputs

    model = base_model
    if method != "native":
        from wsol.cams import build_localizer

        model = build_localizer(base_model, method, args.cam_layer)
    common = dict(
        cam_curve_interval=args.cam_curve_interval,
        iou_thresholds=args.iou_thresholds,
        protocol=args.protocol,
        device=args.device,
        progress=not args.no_progress,
        amp=args.amp,
    )
    fixed = None
    if args.fixed_threshold_from == "checkpoint":
        if method != "native":
            raise SystemExit(
                "wsol evaluate: the checkpoint's threshold belongs to its native maps; use "
                "--fixed-threshold-from val with --cam-method"
            )
        fixed = _stored_threshold(args.checkpoint)
    elif args.fixed_threshold_from == "paper":
        fixed = _paper_threshold(args.checkpoint)
    elif args.fixed_threshold_from:
        chosen = evaluate_model(model, _loader(args, args.fixed_threshold_from), **common)
        fixed = chosen["chosen_threshold"]
        print(
            f"[{method}] CAM threshold chosen on {args.fixed_threshold_from} "
            f"({chosen['chosen_threshold_metric']}): {fixed:.4f}"
        )
    result = evaluate_model(model, _loader(args, args.split), fixed_threshold=fixed, with_curves=True, **common)
    result.update(
        split=args.split,
        checkpoint=str(args.checkpoint),
        fixed_threshold_from=args.fixed_threshold_from,
        cam_method=method,
    )
    print(f"[{method}]")
    print(format_table(result, args.split, args.fixed_threshold_from))
    suffix = "" if method == "native" else f"_{method.replace('+', 'p')}"
    out = Path(args.out) if args.out else Path(args.checkpoint).resolve().parent / f"eval_{args.split}"
    if len(args.cam_method) > 1 or method != "native":
        out = out.with_name(out.name + suffix) if suffix else out
    for path in write_outputs(result, out):
        print(f"wrote {path}")
    return result


def check_args(args: argparse.Namespace) -> None:
    """Argument checks that need no model (a rejected run loads nothing and writes nothing)."""
    from wsol.cli.train import check_device

    unknown = []
    if any(m != "native" for m in args.cam_method):
        from wsol.cams import CAM_METHODS

        unknown = [m for m in args.cam_method if m != "native" and m not in CAM_METHODS]
    if unknown:
        raise SystemExit(f"--cam-method {unknown[0]!r} is unknown; known: native, {', '.join(CAM_METHODS)}")
    for flag, value, low in (("--batch-size", args.batch_size, 1), ("--workers", args.workers, 0)):
        if value < low:
            raise SystemExit(f"{flag} must be >= {low}, got {value}")
    if not 0.0 < args.cam_curve_interval < 1.0:
        raise SystemExit(f"--cam-curve-interval must be in (0, 1), got {args.cam_curve_interval}")
    check_device(args.device, "--device")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.print_config:
        return _print_config(args.checkpoint)
    from wsol.config.paths import resolve_config_path
    from wsol.engine.checkpoint import load_model

    check_args(args)
    args.device = resolve_device(args.device)
    model, cfg = load_model(args.checkpoint, map_location=args.device)
    model.to(args.device)
    if any(m != "native" for m in args.cam_method):
        from wsol.cli.explain import check_layers

        check_layers(model, args.cam_layer, "--cam-layer")
    data_cfg = _get(cfg, "data")
    from_config = args.data is None
    if from_config:  # the config's root, found from here or from the run's folder
        root = _get(data_cfg, "root")
        args.data = str(resolve_config_path(root, args.checkpoint, _get(cfg, "output_dir"))) if root else DEFAULT_DATA
    args.protocol = args.protocol or _get(data_cfg, "protocol", "resize")
    args.format = _get(data_cfg, "format", "auto") if from_config or args.data == _get(data_cfg, "root") else "auto"
    args.input_size = int(_get(data_cfg, "input_size", 224))
    args.resize_size = int(_get(data_cfg, "resize_size", 256))
    with contextlib.redirect_stdout(sys.stderr) if args.json else contextlib.nullcontext():
        results = {method: _evaluate_source(args, model, method) for method in args.cam_method}
        if len(results) > 1:
            print(
                f"\nMap sources on {args.split} (threshold chosen on "
                f"{args.fixed_threshold_from or 'the split itself'}):"
            )
            print(comparison_table(results))
    if args.json:
        plain = {m: {k: v for k, v in r.items() if k != "curves"} for m, r in results.items()}
        print(json.dumps(plain[args.cam_method[0]] if len(plain) == 1 else plain, indent=2, sort_keys=True))
    return 0


def _print_config(checkpoint: str) -> int:
    """The config stored in the checkpoint, as YAML (what ``wsol train`` resolved)."""
    from omegaconf import OmegaConf

    from wsol.engine.checkpoint import load_checkpoint

    print(OmegaConf.to_yaml(OmegaConf.create(load_checkpoint(checkpoint, "cpu")["config"])), end="")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""The main job end to end on the built-in benchmark: generate, train ACoL, evaluate, export, report, pictures.

Example: ``wsol quickstart`` (about 5 minutes on 2 CPU cores). Every step is the same entry point as its own
subcommand (``make-synthetic``, ``train``, ``evaluate``, ``export``), run in this process; re-running resumes
training from ``last.pt`` and redoes the later steps. Outputs, under ``--out`` (default ``runs/quickstart``):
``train/`` (checkpoints, TensorBoard), ``eval_test/`` (evaluation.json + curves), ``export/`` (COCO json, masks,
score maps), ``report_test/index.html`` (the HTML report) and ``pictures/`` (samples, CAM + box overlays, curves).
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path

import wsol
from wsol.cli import run
from wsol.cli._common import new_parser

CONFIG = Path(wsol.__file__).resolve().parent.parent / "configs" / "synthetic" / "acol.yaml"


def build_parser() -> argparse.ArgumentParser:
    p = new_parser("wsol quickstart", __doc__.split("\n")[0])
    p.add_argument("--out", default="runs/quickstart", help="output folder (default: %(default)s)")
    p.add_argument("--data", default="data/synthetic", help="synthetic benchmark folder (default: %(default)s)")
    p.add_argument("--config", default=str(CONFIG), help="training config (default: the synthetic ACoL one)")
    p.add_argument("overrides", nargs="*", help="training config overrides, e.g. train.epochs=3")
    p.add_argument("--no-progress", action="store_true", help="hide progress bars")
    return p


def _step(title: str, command: str, argv: list[str]) -> None:
    print(f"\n=== {title}: wsol {command} {' '.join(argv)}", flush=True)
    start = time.perf_counter()
    code = run(command, argv)
    if code != 0:
        raise SystemExit(f"wsol quickstart: step '{command}' failed with exit code {code}")
    print(f"=== {title}: done in {time.perf_counter() - start:.0f}s", flush=True)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if not Path(args.config).is_file():
        raise SystemExit(
            f"wsol quickstart: config {args.config} not found (run from a checkout of wsol, or pass --config)"
        )
    out, data = Path(args.out), Path(args.data)
    pictures = out / "pictures"
    quiet = ["--no-progress"] if args.no_progress else []
    start = time.perf_counter()

    _step("1/6 benchmark", "make-synthetic", ["--out", str(data), "--preview", str(pictures / "synthetic_samples.png")])
    train_dir = out / "train"
    _step(
        "2/6 train ACoL",
        "train",
        ["--config", args.config, f"output_dir={train_dir}", f"data.root={data}", *args.overrides, "--resume", *quiet],
    )
    ckpt = train_dir / "best.pt"
    eval_dir = out / "eval_test"
    _step(
        "3/6 evaluate",
        "evaluate",
        [
            "--checkpoint",
            str(ckpt),
            "--data",
            str(data),
            "--split",
            "test",
            "--fixed-threshold-from",
            "val",
            "--out",
            str(eval_dir),
            *quiet,
        ],
    )
    export_dir = out / "export"
    _step(
        "4/6 export pseudo-labels",
        "export",
        [
            "--checkpoint",
            str(ckpt),
            "--data",
            str(data),
            "--split",
            "test",
            "--out",
            str(export_dir),
            "--threshold-from",
            str(eval_dir / "evaluation.json"),
            "--overwrite",
            *quiet,
        ],
    )

    report_dir = out / "report_test"
    _step(
        "5/6 HTML report",
        "report",
        [
            "--checkpoint",
            str(ckpt),
            "--data",
            str(data),
            "--split",
            "test",
            "--evaluation",
            str(eval_dir / "evaluation.json"),
            "--out",
            str(report_dir),
            *quiet,
        ],
    )

    print("\n=== 6/6 pictures", flush=True)
    from wsol.viz.gallery import render_gallery

    threshold = json.loads((eval_dir / "evaluation.json").read_text())["fixed/threshold"]
    gallery = render_gallery(ckpt, data, "test", threshold, pictures / "localization_test.png")
    for png in sorted(eval_dir.glob("*.png")):
        shutil.copyfile(png, pictures / png.name)

    summary = json.loads((eval_dir / "evaluation.json").read_text())
    keys = ["top1_cls", "fixed/top1_loc", "fixed/gt_known_loc", "oracle/maxboxacc_v2", "pxap"]
    print("\nTest split (threshold chosen on val):")
    for key in keys:
        if key in summary:
            print(f"  {key:<22} {summary[key]:6.2f}")
    print(f"\nfinished in {time.perf_counter() - start:.0f}s. Look at:")
    print(f"  {report_dir}/index.html  the evaluation report (metrics, curves, failure taxonomy, per-image gallery)")
    print(f"  {pictures}/          samples, CAM + box overlays ({gallery.name}), BoxAcc and PR curves")
    print(f"  {export_dir}/results.json  COCO results with RLE masks (+ dataset.json, masks/, scoremaps/)")
    print(f"  {eval_dir}/evaluation.json every figure")
    print(f"  tensorboard --logdir {train_dir}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

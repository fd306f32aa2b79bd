"""Train every WSOL method on the synthetic benchmark (several seeds, same budget) and tabulate.

For each method and seed: train with ``configs/synthetic/<method>.yaml`` (+ overrides), keep the fixed
CAM threshold chosen on val (MaxBoxAcc, IoU 50), then evaluate ``last.pt`` on the test split. Reported per
method as mean ± std over seeds, and per seed: top-1 cls, GT-known loc at the oracle threshold (the best on
the test split itself, wsolevaluation's protocol) and at the val-chosen one, top-1 loc at the val threshold,
MaxBoxAccV2 and PxAP (threshold-free), and the chosen threshold. Writes ``<out>/results.md``,
``<out>/results.json`` and a picture of the same test images under two methods (``--picture-methods``).
A finished run keeps its ``result.json``: running the command again skips it (same config) and goes on.
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path
from typing import Any

from wsol.cli._common import new_parser
from wsol.fileio import atomic_write_json, atomic_write_text

COLUMNS = [  # (header, result key)
    ("top-1 cls", "top1_cls"),
    ("GT-known loc (oracle)", "oracle/maxboxacc"),
    ("GT-known loc (fixed)", "fixed/gt_known_loc"),
    ("top-1 loc (fixed)", "fixed/top1_loc"),
    ("MaxBoxAccV2", "oracle/maxboxacc_v2"),
    ("PxAP", "pxap"),
    ("threshold (val)", "val_threshold"),
]
METHODS = ["cam", "acol", "has", "adl", "ggam", "spg", "bas", "cutmix"]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = new_parser("wsol compare-methods", __doc__.split("\n", 1)[0])
    p.add_argument("--methods", nargs="+", default=METHODS, help="<config-dir>/<method>.yaml for each")
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2, 3, 4])
    p.add_argument("--config-dir", default="configs/synthetic", help="holds <method>.yaml")
    p.add_argument("--out", default="runs/compare", help="output folder (one run folder per method and seed)")
    p.add_argument("--split", default="test", help="split the table is computed on")
    p.add_argument(
        "--picture-methods",
        nargs=2,
        default=["cam", "acol"],
        metavar=("A", "B"),
        help="draw the same test images under these two methods (first seed; skipped if not run)",
    )
    p.add_argument("--picture-count", type=int, default=8)
    p.add_argument("--no-progress", action="store_true")
    p.add_argument("overrides", nargs="*", help="dotlist overrides applied to every run, e.g. train.epochs=4")
    return p.parse_intermixed_args(argv)


def run_one(config: Path, overrides: list[str], split: str, progress: bool) -> dict[str, Any]:
    """Train one configuration, then evaluate its last checkpoint on ``split`` at the val threshold; a run
    whose ``result.json`` was written for the same config is read back instead."""
    import torch

    from wsol.config import load_config
    from wsol.data import WSOLDataset, build_transform, load_split
    from wsol.engine.data import build_datasets
    from wsol.engine.seed import seed_everything
    from wsol.engine.trainer import Trainer, make_loader
    from wsol.evaluation import evaluate_model
    from wsol.localization.maps import EVAL_SIZE
    from wsol.models import build_model

    cfg = load_config(config, overrides)
    from wsol.config import to_plain

    done = Path(cfg.output_dir) / "result.json"
    if done.is_file():
        previous = json.loads(done.read_text())
        if same_run(previous.get("config"), to_plain(cfg)) and previous.get("split") == split:
            return dict(previous["result"])
    if cfg.train.threads:
        torch.set_num_threads(cfg.train.threads)
    train_set, val_set, num_classes, names = build_datasets(cfg)
    seed_everything(cfg.train.seed)
    model = build_model(cfg.model, num_classes)
    summary = Trainer(cfg, model, train_set, val_set, class_names=names, progress=progress, verbose=False).fit()
    if summary["localization"] is None:
        raise RuntimeError(f"{config}: validation chose no localization threshold (train.localization=false?)")
    threshold = summary["localization"]["threshold"]
    d = cfg.data
    test = WSOLDataset(
        load_split(d.root, split, fmt=d.format),
        build_transform("eval", d.input_size, d.protocol, d.resize_size),
        mask_size=EVAL_SIZE if d.protocol == "resize" else None,
    )
    loader = make_loader(test, d.eval_batch_size, d.num_workers)
    result = evaluate_model(model.eval(), loader, protocol=d.protocol, fixed_threshold=threshold, progress=progress)
    result["val_threshold"] = threshold
    figures = {k: float(v) for k, v in result.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
    atomic_write_json(done, {"config": to_plain(cfg), "split": split, "result": figures})
    return figures


def same_run(a: Any, b: Any) -> bool:
    """Two resolved configs describe the same run whatever its folder is called (a moved folder is reused)."""
    if not isinstance(a, dict) or not isinstance(b, dict):
        return False
    where = ("name", "output_dir")
    return {k: v for k, v in a.items() if k not in where} == {k: v for k, v in b.items() if k not in where}


def mean_std(values: list[float]) -> str:
    if not values:
        return "-"
    std = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.fmean(values):.2f} ± {std:.2f}"


def markdown_table(results: dict[str, list[dict[str, float]]], split: str, seeds: list[int]) -> str:
    header = "| method | " + " | ".join(h for h, _ in COLUMNS) + " |"
    lines = [header, "|" + "---|" * (len(COLUMNS) + 1)]
    for method, runs in results.items():
        cells = [mean_std([r[key] for r in runs if key in r]) for _, key in COLUMNS]
        lines.append(f"| {method} | " + " | ".join(cells) + " |")
    lines += [
        "",
        f"{split} split, mean ± std over seeds; oracle = the best CAM threshold on the {split} split "
        f"itself, fixed = the threshold chosen on val (MaxBoxAcc, IoU 50); MaxBoxAccV2 and PxAP are "
        f"threshold-free.",
        "",
        "Per seed (" + ", ".join(h for h, _ in COLUMNS[:5]) + "):",
        "",
        "| method | " + " | ".join(f"seed {s}" for s in seeds) + " |",
        "|" + "---|" * (len(seeds) + 1),
    ]
    for method, runs in results.items():
        cells = [" / ".join(f"{r.get(key, float('nan')):.1f}" for _, key in COLUMNS[:5]) for r in runs]
        lines.append(f"| {method} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def draw_pair(out: Path, methods: list[str], seed: int, split: str, count: int) -> Path | None:
    """The first ``count`` test images of one class per column under each of two methods (rows), each at its
    val-chosen threshold: map, GT boxes (green), predicted box with IoU (red)."""
    from wsol.drawing import make_grid, save_png
    from wsol.viz.per_image import render_panels
    from wsol.viz.source import open_source

    checkpoints = [out / f"{m}_s{seed}" / "last.pt" for m in methods]
    results = [out / f"{m}_s{seed}" / "result.json" for m in methods]
    if not all(p.is_file() for p in checkpoints + results):
        return None
    rows = []
    for ckpt, result in zip(checkpoints, results):
        source = open_source(ckpt, split=split)
        labels = [r.label for r in source.info.records]
        indices = [labels.index(c) for c in sorted(set(labels))][:count]
        threshold = json.loads(result.read_text())["result"]["val_threshold"]
        rows += render_panels(source, indices, threshold)
    path = out / f"{methods[0]}_vs_{methods[1]}.png"
    save_png(path, make_grid(rows, ncols=len(rows) // 2))
    return path


def main(argv: list[str] | None = None) -> int:
    from tqdm import tqdm

    args = parse_args(argv)
    out = Path(args.out)
    results: dict[str, list[dict[str, float]]] = {}
    jobs = [(m, s) for s in args.seeds for m in args.methods]  # seed-major: a cut-short run still compares all
    table = ""
    for method, seed in tqdm(jobs, desc="runs", disable=args.no_progress):
        overrides = [
            *args.overrides,
            f"train.seed={seed}",
            f"name=compare_{method}_s{seed}",
            f"output_dir={out / f'{method}_s{seed}'}",
            "train.localization=true",
        ]
        result = run_one(Path(args.config_dir) / f"{method}.yaml", overrides, args.split, not args.no_progress)
        results.setdefault(method, []).append(result)
        atomic_write_json(out / "results.json", results)
        table = markdown_table(results, args.split, args.seeds)
        atomic_write_text(out / "results.md", table + "\n")  # partial tables survive an interruption
    print(table)
    picture = draw_pair(out, list(args.picture_methods), args.seeds[0], args.split, args.picture_count)
    if picture is not None:
        print(f"wrote {picture}")
    return 0

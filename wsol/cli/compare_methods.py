"""Train CAM, ACoL, HaS, ADL and GGAM on the synthetic benchmark (several seeds, same budget) and tabulate.

For each method and seed: train with ``configs/synthetic/<method>.yaml`` (+ overrides), keep the fixed
CAM threshold chosen on val (MaxBoxAcc, IoU 50), then evaluate ``last.pt`` on the test split. Reported per
method as mean ± std over seeds: top-1 cls, top-1 loc and GT-known loc at the val threshold, MaxBoxAccV2 and
PxAP (threshold-free), and the chosen threshold. Writes ``<out>/results.md`` and ``<out>/results.json``.
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path
from typing import Any

from wsol.cli._common import new_parser
from wsol.fileio import atomic_write_json, atomic_write_text


COLUMNS = [  # (header, result key)
    ("top-1 cls", "top1_cls"), ("top-1 loc", "fixed/top1_loc"), ("GT-known loc", "fixed/gt_known_loc"),
    ("MaxBoxAccV2", "oracle/maxboxacc_v2"), ("PxAP", "pxap"), ("threshold (val)", "val_threshold"),
]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = new_parser("wsol compare-methods", __doc__.split("\n", 1)[0])
    p.add_argument("--methods", nargs="+", default=["cam", "acol", "has", "adl", "ggam"])
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    p.add_argument("--config-dir", default="configs/synthetic", help="holds <method>.yaml")
    p.add_argument("--out", default="runs/compare", help="output folder (one run folder per method and seed)")
    p.add_argument("--split", default="test", help="split the table is computed on")
    p.add_argument("--no-progress", action="store_true")
    p.add_argument("overrides", nargs="*", help="dotlist overrides applied to every run, e.g. train.epochs=4")
    return p.parse_intermixed_args(argv)


def run_one(config: Path, overrides: list[str], split: str, progress: bool) -> dict[str, Any]:
    """Train one configuration, then evaluate its last checkpoint on ``split`` at the val threshold."""
    from wsol.localization.maps import EVAL_SIZE
    import torch

    from wsol.config import load_config
    from wsol.data import WSOLDataset, build_transform, load_split
    from wsol.engine.data import build_datasets
    from wsol.engine.seed import seed_everything
    from wsol.engine.trainer import Trainer, make_loader
    from wsol.evaluation import evaluate_model
    from wsol.models import build_model

    cfg = load_config(config, overrides)
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
    test = WSOLDataset(load_split(d.root, split, fmt=d.format),
                       build_transform("eval", d.input_size, d.protocol, d.resize_size),
                       mask_size=EVAL_SIZE if d.protocol == "resize" else None)
    loader = make_loader(test, d.eval_batch_size, d.num_workers)
    result = evaluate_model(model.eval(), loader, protocol=d.protocol, fixed_threshold=threshold,
                            progress=progress)
    result["val_threshold"] = threshold
    return {k: float(v) for k, v in result.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}


def mean_std(values: list[float]) -> str:
    if not values:
        return "-"
    std = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.fmean(values):.2f} ± {std:.2f}"


def markdown_table(results: dict[str, list[dict[str, float]]], split: str) -> str:
    header = "| method | " + " | ".join(h for h, _ in COLUMNS) + " |"
    lines = [header, "|" + "---|" * (len(COLUMNS) + 1)]
    for method, runs in results.items():
        cells = [mean_std([r[key] for r in runs if key in r]) for _, key in COLUMNS]
        lines.append(f"| {method} | " + " | ".join(cells) + " |")
    lines.append("")
    lines.append(f"{split} split, mean ± std over {max(len(r) for r in results.values())} seeds; loc columns at "
                 f"the CAM threshold chosen on val (MaxBoxAcc, IoU 50); MaxBoxAccV2 and PxAP are threshold-free.")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    from tqdm import tqdm

    args = parse_args(argv)
    out = Path(args.out)
    results: dict[str, list[dict[str, float]]] = {}
    jobs = [(m, s) for s in args.seeds for m in args.methods]  # seed-major: a cut-short run still compares all
    for method, seed in tqdm(jobs, desc="runs", disable=args.no_progress):
        overrides = [*args.overrides, f"train.seed={seed}", f"name=compare_{method}_s{seed}",
                     f"output_dir={out / f'{method}_s{seed}'}", "train.localization=true"]
        result = run_one(Path(args.config_dir) / f"{method}.yaml", overrides, args.split, not args.no_progress)
        results.setdefault(method, []).append(result)
        atomic_write_json(out / "results.json", results)
        table = markdown_table(results, args.split)
        atomic_write_text(out / "results.md", table + "\n")  # partial tables survive an interruption
    print(table)
    return 0

"""tools/bench/train.py on a tiny generated synthetic set (CPU, fp32, both batch sources)."""

from __future__ import annotations

import json

from tests.tools.conftest import ROOT, load_bench

bench = load_bench("train")

TINY = [
    "model.backbone_args={channels: [8, 16, 16]}",
    "model.head_width=16",
    "data.input_size=32",
    "data.resize_size=32",
    "data.batch_size=8",
    "data.num_workers=0",
    "train.threads=1",
]


def test_bench_train_runs_on_cpu(tmp_path):
    from wsol.data.synthetic import SyntheticConfig, generate

    root = tmp_path / "data"
    generate(
        root, SyntheticConfig(num_classes=3, train_per_class=6, val_per_class=3, test_per_class=2, size_range=(48, 64))
    )
    report = tmp_path / "bench.json"
    code = bench.main(
        [
            "--config",
            str(ROOT / "configs/synthetic/cam.yaml"),
            f"data.root={root}",
            *TINY,
            "--steps",
            "2",
            "--warmup",
            "1",
            "--precisions",
            "fp32",
            "--json",
            str(report),
        ]
    )
    assert code == 0
    rows = json.loads(report.read_text())
    assert [(r["precision"], r["source"]) for r in rows] == [("fp32", "memory"), ("fp32", "pipeline")]
    assert all(r["images_per_s"] > 0 and r["batch_size"] == 8 and r["input_size"] == 32 for r in rows)
    assert {(r["method"], r["backbone"], r["device"]) for r in rows} == {("cam", "tiny", "cpu")}


def test_measure_counts_the_timed_steps_images_only():
    """``measure``: ``warmup`` untimed steps, then images of ``steps`` steps / their seconds (a fake clock)."""
    import types

    import torch

    steps = []
    trainer = types.SimpleNamespace(
        device=torch.device("cpu"), net=torch.nn.Identity(), train_step=lambda batch: steps.append(len(batch["label"]))
    )
    batches = iter([{"label": torch.zeros(n)} for n in (5, 5, 3, 4, 2)])
    ticks = iter([1.0, 1.5])
    real_time = bench.time
    bench.time = types.SimpleNamespace(perf_counter=lambda: next(ticks))
    try:
        assert bench.measure(trainer, batches, steps=3, warmup=2) == (3 + 4 + 2) / 0.5
    finally:
        bench.time = real_time
    assert steps == [5, 5, 3, 4, 2]

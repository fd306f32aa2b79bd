"""`wsol train` and `wsol compare-methods` end to end on a tiny generated synthetic set."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from wsol.cli import run

CONFIGS = Path(__file__).resolve().parents[2] / "configs" / "synthetic"

TINY = [
    "model.backbone_args={channels: [8, 16, 16]}",
    "model.head_width=16",
    "data.input_size=32",
    "data.resize_size=32",
    "data.batch_size=8",
    "data.eval_batch_size=16",
    "data.num_workers=0",
    "train.threads=1",
    "train.overlays=2",
    "train.log_every=1",
]


@pytest.fixture(scope="module")
def tiny_synthetic(tmp_path_factory):
    from wsol.data.synthetic import SyntheticConfig, generate

    root = tmp_path_factory.mktemp("synthetic") / "data"
    generate(
        root, SyntheticConfig(num_classes=3, train_per_class=6, val_per_class=3, test_per_class=2, size_range=(48, 64))
    )
    return root


def test_train_cli_writes_checkpoint_with_val_threshold(tiny_synthetic, tmp_path):
    out = tmp_path / "run"
    code = run(
        "train",
        [
            "--config",
            str(CONFIGS / "acol.yaml"),
            f"data.root={tiny_synthetic}",
            f"output_dir={out}",
            "train.epochs=2",
            "--no-progress",
            *TINY,
        ],
    )
    assert code == 0
    ckpt = torch.load(out / "last.pt", weights_only=True)
    assert ckpt["epoch"] == 2 and ckpt["num_classes"] == 3 and len(ckpt["class_names"]) == 3
    loc = ckpt["localization"]
    assert loc["split"] == "val" and 0.0 <= loc["threshold"] <= 1.0 and loc["metric"]
    assert "val/oracle/maxboxacc_v2" in ckpt["metrics"] and "val/pxap" in ckpt["metrics"]
    assert "model:\n  method: acol" in (out / "config.yaml").read_text()
    # --resume on a finished run trains nothing more
    assert (
        run(
            "train",
            [
                "--config",
                str(CONFIGS / "acol.yaml"),
                f"data.root={tiny_synthetic}",
                f"output_dir={out}",
                "train.epochs=2",
                "--no-progress",
                "--resume",
                *TINY,
            ],
        )
        == 0
    )
    assert torch.load(out / "last.pt", weights_only=True)["global_step"] == ckpt["global_step"]


def test_train_cli_errors_before_training(tiny_synthetic, tmp_path, capsys):
    assert run("train", ["--config", str(CONFIGS / "acol.yaml"), "model.method=nope", "--no-progress"]) == 2
    assert "known: acol, adl, bas, cam, ggam, has, spg" in capsys.readouterr().err
    code = run(
        "train",
        [
            "--config",
            str(CONFIGS / "acol.yaml"),
            f"data.root={tiny_synthetic}",
            f"output_dir={tmp_path / 'r'}",
            "data.num_classes=7",
            "--no-progress",
            *TINY,
        ],
    )
    assert code == 2
    assert "data.num_classes=7" in capsys.readouterr().err and not (tmp_path / "r").exists()


def test_mean_std_and_markdown_table():
    from wsol.cli.compare_methods import markdown_table, mean_std

    assert mean_std([1.0, 3.0]) == "2.00 ± 1.41" and mean_std([5.0]) == "5.00 ± 0.00" and mean_std([]) == "-"
    table = markdown_table(
        {
            "cam": [
                {"top1_cls": 50.0, "pxap": 10.0, "oracle/maxboxacc": 4.0},
                {"top1_cls": 70.0, "pxap": 20.0, "oracle/maxboxacc": 8.0},
            ]
        },
        "test",
        [0, 1],
    )
    row = table.splitlines()[2]
    assert row.startswith("| cam | 60.00 ± 14.14 | 6.00 ± 2.83 | - | - | - | 15.00 ± 7.07 | - |")
    assert "| cam | 50.0 / 4.0 / nan / nan / nan | 70.0 / 8.0 / nan / nan / nan |" in table.splitlines()


def test_compare_methods_end_to_end(tiny_synthetic, tmp_path):
    out = tmp_path / "cmp"
    code = run(
        "compare-methods",
        [
            "--methods",
            "cam",
            "acol",
            "--seeds",
            "0",
            "1",
            "--config-dir",
            str(CONFIGS),
            "--out",
            str(out),
            "--no-progress",
            f"data.root={tiny_synthetic}",
            "train.epochs=1",
            *TINY,
        ],
    )
    assert code == 0
    results = json.loads((out / "results.json").read_text())
    assert sorted(results) == ["acol", "cam"] and all(len(v) == 2 for v in results.values())
    for runs in results.values():
        for r in runs:
            assert 0.0 <= r["val_threshold"] <= 1.0 and "fixed/gt_known_loc" in r and "pxap" in r
    md = (out / "results.md").read_text()
    assert "| acol |" in md and "| cam |" in md and "±" in md
    assert (out / "cam_vs_acol.png").is_file()
    # a second call finds every run finished (same config) and only re-tabulates: no checkpoint is rewritten
    stamps = {p: p.stat().st_mtime_ns for p in out.glob("*/last.pt")}
    assert (
        run(
            "compare-methods",
            [
                "--methods",
                "cam",
                "acol",
                "--seeds",
                "0",
                "1",
                "--config-dir",
                str(CONFIGS),
                "--out",
                str(out),
                "--no-progress",
                f"data.root={tiny_synthetic}",
                "train.epochs=1",
                *TINY,
            ],
        )
        == 0
    )
    assert {p: p.stat().st_mtime_ns for p in out.glob("*/last.pt")} == stamps and len(stamps) == 4
    assert json.loads((out / "results.json").read_text()) == results


def test_val_pxap_in_training_equals_wsol_evaluate(tiny_synthetic, tmp_path):
    """Validation masks take wsolevaluation's path (original mask straight to 224, nearest), not a detour through
    the 32 px network input: the checkpoint's val/pxap is what `wsol evaluate` reports for it on val."""
    import json

    from wsol.config import load_config
    from wsol.data import WSOLDataset, build_transform, load_split
    from wsol.engine.data import build_datasets

    out = tmp_path / "run"
    assert (
        run(
            "train",
            [
                "--config",
                str(CONFIGS / "cam.yaml"),
                f"data.root={tiny_synthetic}",
                f"output_dir={out}",
                "train.epochs=1",
                "--no-progress",
                *TINY,
            ],
        )
        == 0
    )
    metrics = torch.load(out / "last.pt", weights_only=True)["metrics"]
    assert (
        run(
            "evaluate",
            [
                "--checkpoint",
                str(out / "last.pt"),
                "--split",
                "val",
                "--device",
                "cpu",
                "--out",
                str(tmp_path / "eval"),
                "--no-progress",
            ],
        )
        == 0
    )
    result = json.loads((tmp_path / "eval" / "evaluation.json").read_text())
    assert metrics["val/pxap"] == pytest.approx(result["pxap"], abs=1e-9)
    assert metrics["val/oracle/piou"] == pytest.approx(result["oracle/piou"], abs=1e-9)
    # the path matters: masks through the 32 px transform differ from the originals resized to 224
    cfg = load_config(CONFIGS / "cam.yaml", [f"data.root={tiny_synthetic}", *TINY])
    _, val_set, _, _ = build_datasets(cfg)
    via_input = WSOLDataset(load_split(tiny_synthetic, "val"), build_transform("eval", 32, "resize", 32))
    direct, detour = val_set[0]["mask"], via_input[0]["mask"]
    assert tuple(direct.shape) == (224, 224) and tuple(detour.shape) == (32, 32)
    upsampled = torch.nn.functional.interpolate(detour[None, None].float(), size=(224, 224), mode="nearest")[0, 0]
    assert not torch.equal(direct, upsampled.to(torch.uint8))

"""The command line behaves like its peers: --help and argument errors without torch, defaults in --help,
evaluate's --json / --print-config / --output-dir, config paths found from another folder, --resume PATH,
the linear lr scaling rule."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from wsol.cli import _common, available_commands

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("torch", "numba")
# evaluate-scoremaps compiles its kernels at import: its start-up is changed on its own
LIGHT_COMMANDS = sorted(set(available_commands()) - {"evaluate-scoremaps"})

PROBE = """
import contextlib, importlib, io, json, sys
mod = importlib.import_module(sys.argv[1])
for argv in (["--help"], ["--no-such-flag"]):
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        try:
            mod.main(argv)
        except SystemExit:
            pass
print(json.dumps([m for m in sys.argv[2:] if m in sys.modules]))
"""


@pytest.mark.parametrize("command", LIGHT_COMMANDS)
def test_cli_help_and_argument_errors_do_not_import_torch(command):
    module = available_commands()[command]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run(
        [sys.executable, "-c", PROBE, module, *HEAVY], capture_output=True, text=True, env=env, cwd=ROOT, timeout=60
    )
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == [], f"wsol {command} --help imported {out.stdout.strip()}"


def test_cli_light_choice_lists_match_their_registries():
    from wsol.cams import CAM_METHODS, UPSAMPLE_MODES
    from wsol.data.formats import FORMATS
    from wsol.viz.taxonomy import CATEGORIES

    assert set(_common.CAM_METHOD_NAMES) == set(CAM_METHODS.names())
    assert tuple(_common.UPSAMPLE_NAMES) == tuple(UPSAMPLE_MODES)
    assert tuple(_common.DATA_FORMATS) == tuple(FORMATS)
    assert tuple(_common.FAILURE_CATEGORIES) == tuple(CATEGORIES)


def test_cli_help_shows_defaults(capsys):
    from wsol.cli.evaluate import build_parser

    text = " ".join(build_parser().format_help().split())
    assert "--batch-size BATCH_SIZE default: 32" in text
    assert "--cam-curve-interval CAM_CURVE_INTERVAL default: 0.01" in text
    assert "(default: None)" not in text and "(default: False)" not in text  # only meaningful defaults


def test_cli_config_paths_resolve_against_the_run_folder(tmp_path, monkeypatch):
    from wsol.config.paths import resolve_config_path, run_origin
    from wsol.errors import UserInputError

    clone = tmp_path / "clone"
    (clone / "data" / "synthetic").mkdir(parents=True)
    ckpt = clone / "runs" / "quickstart" / "train" / "best.pt"
    ckpt.parent.mkdir(parents=True)
    ckpt.write_bytes(b"")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    assert run_origin(ckpt, "runs/quickstart/train") == clone
    assert run_origin(ckpt, "./runs/quickstart/train/") == clone
    assert run_origin(ckpt, "runs/other") is None and run_origin(ckpt, "/abs/runs") is None
    assert resolve_config_path("data/synthetic", ckpt, "runs/quickstart/train") == clone / "data" / "synthetic"
    (elsewhere / "data" / "synthetic").mkdir(parents=True)  # the current folder wins when it has the path
    assert resolve_config_path("data/synthetic", ckpt, "runs/quickstart/train") == Path("data/synthetic")
    with pytest.raises(UserInputError, match=r"data.root 'data/missing' .* pass --data PATH"):
        resolve_config_path("data/missing", ckpt, "runs/quickstart/train")


@pytest.fixture(scope="module")
def run_folder(tmp_path_factory):
    """A tiny CAM checkpoint at <clone>/runs/tiny/best.pt whose config says data.root=data/synthetic."""
    from wsol.config import config_from_dict, to_plain
    from wsol.data.synthetic import SyntheticConfig, generate
    from wsol.fileio import atomic_torch_save
    from wsol.models import build_model

    clone = tmp_path_factory.mktemp("clone")
    generate(
        clone / "data" / "synthetic",
        SyntheticConfig(num_classes=2, train_per_class=0, val_per_class=2, test_per_class=2, size_range=(48, 56)),
    )
    torch.manual_seed(0)
    cfg = config_from_dict(
        {
            "model": {"method": "cam", "backbone": "tiny", "backbone_args": {"channels": [8, 8, 8]}},
            "data": {"input_size": 64, "root": "data/synthetic"},
            "output_dir": "runs/tiny",
        }
    )
    model = build_model(cfg.model, 2)
    ckpt = clone / "runs" / "tiny" / "best.pt"
    ckpt.parent.mkdir(parents=True)
    atomic_torch_save(
        {"model": model.state_dict(), "config": to_plain(cfg), "num_classes": 2, "class_names": ["a", "b"], "epoch": 0},
        ckpt,
    )
    return clone, ckpt


def test_cli_evaluate_json_print_config_and_output_dir_from_another_folder(run_folder, tmp_path, monkeypatch, capsys):
    from wsol.cli.evaluate import main

    clone, ckpt = run_folder
    monkeypatch.chdir(tmp_path)  # data.root=data/synthetic does not exist here: found from the run's folder
    assert main(["--checkpoint", str(ckpt), "--print-config"]) == 0
    assert "root: data/synthetic" in capsys.readouterr().out
    out = tmp_path / "ev"
    assert (
        main(
            [
                "--checkpoint",
                str(ckpt),
                "--json",
                "--output-dir",
                str(out),
                "--device",
                "cpu",
                "--no-progress",
                "--fixed-threshold-from",
                "val",
            ]
        )
        == 0
    )
    captured = capsys.readouterr()
    result = json.loads(captured.out)  # stdout is JSON only; the table went to stderr
    assert result["num_images"] == 4 and result["split"] == "test" and "curves" not in result
    assert "fixed/threshold" in result and "MaxBoxAcc" in captured.err
    assert json.loads((out / "evaluation.json").read_text())["top1_cls"] == result["top1_cls"]


def test_cli_train_resume_path_and_overrides():
    from wsol.cli.train import parse_args

    assert parse_args(["--config", "c.yaml", "--resume", "runs/a/last.pt"]).resume == "runs/a/last.pt"
    bare = parse_args(["--config", "c.yaml", "--resume", "train.epochs=5"])
    assert bare.resume is True and bare.overrides == ["train.epochs=5"]
    assert parse_args(["--config", "c.yaml"]).resume is False


def test_trainer_resumes_from_a_given_checkpoint_and_scales_lr(tmp_path):
    from tests.engine.conftest import tiny_config
    from tests.engine.test_engine_trainer import make_trainer

    first = make_trainer(tiny_config(tmp_path / "a", "model.method=cam"))
    first.fit(stop_after=2)
    other = make_trainer(tiny_config(tmp_path / "b", "model.method=cam"))
    assert other.fit(resume=str(tmp_path / "a" / "last.pt"))["epoch"] == 3
    with pytest.raises(FileNotFoundError, match="no such checkpoint"):
        make_trainer(tiny_config(tmp_path / "c", "model.method=cam")).fit(resume=str(tmp_path / "none.pt"))
    # linear rule: lr × (batch 8 × 1 process) / reference 32; the heads keep their 10× multiplier
    scaled = make_trainer(tiny_config(tmp_path / "d", "optim.scale_lr=linear", "optim.reference_batch_size=32"))
    lrs = {g["name"]: g["initial_lr"] for g in scaled.optimizer.param_groups}
    assert lrs == pytest.approx({"backbone": 0.01 * 8 / 32, "new": 0.1 * 8 / 32})
    plain = make_trainer(tiny_config(tmp_path / "e"))
    assert {g["name"]: g["initial_lr"] for g in plain.optimizer.param_groups} == pytest.approx(
        {"backbone": 0.01, "new": 0.1}
    )

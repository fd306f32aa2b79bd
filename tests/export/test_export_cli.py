"""The ``wsol export`` command: two real rank processes + ``--merge-only`` equal one process; no overwrite."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from wsol.cli.export import main


def args(checkpoint: Path, root: Path, out: Path, *extra: str) -> list[str]:
    return [
        "--checkpoint",
        str(checkpoint),
        "--data",
        str(root),
        "--split",
        "test",
        "--out",
        str(out),
        "--shard-size",
        "2",
        "--batch-size",
        "2",
        "--workers",
        "0",
        "--topk",
        "2",
        "--threads",
        "1",
        "--no-progress",
        *extra,
    ]


def tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_export_cli_two_processes_equal_one(checkpoint, synthetic_root, tmp_path, capsys):
    single, multi = tmp_path / "single", tmp_path / "multi"
    assert main(args(checkpoint, synthetic_root, single)) == 0
    assert "COCO bbox" in capsys.readouterr().out
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    env.pop("WORLD_SIZE", None)
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "wsol",
                "export",
                *args(checkpoint, synthetic_root, multi, "--rank", str(r), "--world-size", "2"),
            ],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for r in (0, 1)
    ]
    for p in procs:
        output = p.communicate(timeout=120)[0]
        assert p.returncode == 0, output
    assert not (multi / "results.json").exists()
    assert main(["--out", str(multi), "--merge-only", "--data", str(synthetic_root), "--split", "test"]) == 0
    assert tree(multi) == tree(single)


def test_export_cli_refuses_to_overwrite(checkpoint, synthetic_root, tmp_path):
    out = tmp_path / "out"
    assert main(args(checkpoint, synthetic_root, out, "--threshold", "0.4")) == 0
    before = tree(out)
    with pytest.raises(SystemExit, match="finished export"):
        main(args(checkpoint, synthetic_root, out, "--threshold", "0.5"))
    assert tree(out) == before
    assert main(args(checkpoint, synthetic_root, out, "--threshold", "0.5", "--overwrite")) == 0
    assert tree(out) != before


def test_export_cli_needs_a_threshold(checkpoint_without_threshold, synthetic_root, tmp_path):
    with pytest.raises(SystemExit, match="no threshold"):
        main(args(checkpoint_without_threshold, synthetic_root, tmp_path / "out"))
    assert not (tmp_path / "out").exists()


def test_export_cli_torchrun_gloo_equals_one_process(checkpoint, synthetic_root, tmp_path):
    """torchrun with 2 CPU processes (gloo): rank r takes shards r::2, rank 0 merges after a barrier."""
    single, multi = tmp_path / "single", tmp_path / "multi"
    assert main(args(checkpoint, synthetic_root, single)) == 0
    env = {k: v for k, v in os.environ.items() if k not in ("WORLD_SIZE", "RANK", "LOCAL_RANK", "MASTER_PORT")}
    env["OMP_NUM_THREADS"] = "1"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            "--nproc_per_node=2",
            "-m",
            "wsol",
            "export",
            *args(checkpoint, synthetic_root, multi),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "world size 2" in proc.stdout and "merged 9 images" in proc.stdout
    assert tree(multi) == tree(single)

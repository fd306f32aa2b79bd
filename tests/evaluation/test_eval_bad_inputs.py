"""Every bad score map or metadata input of `wsol evaluate-scoremaps`: exit code 2 and one line on stderr naming the
file (and the metadata line), no traceback. One row per case; each runs the real command in a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]


def _box_fixture(tmp: Path) -> list[str]:
    meta = tmp / "metadata" / "CUB" / "test"
    meta.mkdir(parents=True)
    ids = ["c0/a.jpg", "c1/b.jpg"]
    (meta / "image_ids.txt").write_text("c0/a.jpg\nc1/b.jpg\n")
    (meta / "class_labels.txt").write_text("c0/a.jpg,0\nc1/b.jpg,1\n")
    (meta / "image_sizes.txt").write_text("c0/a.jpg,300,200\nc1/b.jpg,250,250\n")
    (meta / "localization.txt").write_text("c0/a.jpg,10,20,200,150\nc1/b.jpg,30,30,120,200\n")
    yy, xx = np.mgrid[:224, :224]
    for k, image_id in enumerate(ids):
        (tmp / "maps" / image_id).parent.mkdir(parents=True, exist_ok=True)
        m = np.exp(-((yy - 80 - 40 * k) ** 2 + (xx - 100) ** 2) / 2000.0)
        np.save(tmp / "maps" / f"{image_id}.npy", m / m.max())
    return ids


def _mask_fixture(tmp: Path) -> None:
    meta = tmp / "metadata" / "OpenImages" / "test"
    meta.mkdir(parents=True)
    masks = tmp / "dataset" / "OpenImages" / "test"
    masks.mkdir(parents=True)
    m = np.zeros((60, 80), np.uint8)
    m[10:30, 20:50] = 255
    for name in ("a_m1.png", "a_m2.png", "a_ignore.png"):
        cv2.imwrite(str(masks / name), m)
    (meta / "image_ids.txt").write_text("test/a.jpg\n")
    (meta / "class_labels.txt").write_text("test/a.jpg,0\n")
    (meta / "image_sizes.txt").write_text("")
    (meta / "localization.txt").write_text("test/a.jpg,test/a_m1.png,test/a_ignore.png\ntest/a.jpg,test/a_m2.png,\n")
    (tmp / "maps" / "test").mkdir(parents=True)
    np.save(tmp / "maps" / "test" / "a.jpg.npy", np.linspace(0, 1, 224 * 224).reshape(224, 224))


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))


CUB = Path("metadata/CUB/test")
OI = Path("metadata/OpenImages/test")

# (case, dataset, how to break the fixture, what the one stderr line must contain)
CASES = [
    ("missing map", "CUB", lambda t: (t / "maps/c1/b.jpg.npy").unlink(), ["b.jpg.npy", "image_ids.txt:2", "missing"]),
    (
        "NaN map",
        "CUB",
        lambda t: np.save(t / "maps/c1/b.jpg.npy", np.full((224, 224), np.nan)),
        ["b.jpg.npy", "image_ids.txt:2", "NaN"],
    ),
    (
        "inf map",
        "CUB",
        lambda t: np.save(t / "maps/c0/a.jpg.npy", np.full((14, 14), np.inf)),
        ["a.jpg.npy", "image_ids.txt:1", "inf"],
    ),
    (
        "wrong rank",
        "CUB",
        lambda t: np.save(t / "maps/c1/b.jpg.npy", np.zeros((1, 224, 224))),
        ["b.jpg.npy", "image_ids.txt:2", "(1, 224, 224)", "2-D"],
    ),
    (
        "unreadable npy",
        "CUB",
        lambda t: (t / "maps/c1/b.jpg.npy").write_bytes(b"not a numpy file"),
        ["b.jpg.npy", "image_ids.txt:2", "unreadable"],
    ),
    (
        "truncated npy",
        "CUB",
        lambda t: (t / "maps/c1/b.jpg.npy").write_bytes((t / "maps/c1/b.jpg.npy").read_bytes()[:500]),
        ["b.jpg.npy", "image_ids.txt:2", "unreadable"],
    ),
    (
        "text map",
        "CUB",
        lambda t: np.save(t / "maps/c1/b.jpg.npy", np.full((224, 224), "x")),
        ["b.jpg.npy", "image_ids.txt:2", "dtype <U1"],
    ),
    (
        "values outside [0, 1]",
        "CUB",
        lambda t: np.save(t / "maps/c1/b.jpg.npy", np.full((224, 224), 3.0)),
        ["b.jpg.npy", "image_ids.txt:2", "outside [0, 1]"],
    ),
    (
        "short field",
        "CUB",
        lambda t: _edit(t / CUB / "class_labels.txt", "c1/b.jpg,1", "c1/b.jpg"),
        ["class_labels.txt:2", "expected 2 fields"],
    ),
    (
        "non-numeric size",
        "CUB",
        lambda t: _edit(t / CUB / "image_sizes.txt", "250,250", "250,wide"),
        ["image_sizes.txt:2", "'wide' is not an integer"],
    ),
    (
        "non-numeric box",
        "CUB",
        lambda t: _edit(t / CUB / "localization.txt", "30,30,120", "30,3O,120"),
        ["localization.txt:2", "'3O' is not a number"],
    ),
    (
        "short box line",
        "CUB",
        lambda t: _edit(t / CUB / "localization.txt", "30,30,120,200", "30,30,120"),
        ["localization.txt:2", "expected 5 fields"],
    ),
    (
        "image id listed twice",
        "CUB",
        lambda t: _edit(t / CUB / "image_ids.txt", "c1/b.jpg\n", "c1/b.jpg\nc0/a.jpg\n"),
        ["image_ids.txt:3", "'c0/a.jpg' repeats line 1"],
    ),
    (
        "label listed twice",
        "CUB",
        lambda t: _edit(t / CUB / "class_labels.txt", "c1/b.jpg,1\n", "c1/b.jpg,1\nc0/a.jpg,1\n"),
        ["class_labels.txt:3", "listed twice"],
    ),
    (
        "image without box",
        "CUB",
        lambda t: _edit(t / CUB / "localization.txt", "c1/b.jpg,30,30,120,200\n", ""),
        ["image_ids.txt:2", "no box"],
    ),
    (
        "metadata file missing",
        "CUB",
        lambda t: (t / CUB / "class_labels.txt").unlink(),
        ["class_labels.txt", "missing"],
    ),
    (
        "mask file missing",
        "OpenImages",
        lambda t: (t / "dataset/OpenImages/test/a_m2.png").unlink(),
        ["a_m2.png", "image_ids.txt:1", "missing"],
    ),
    (
        "mask of the wrong size",
        "OpenImages",
        lambda t: cv2.imwrite(str(t / "dataset/OpenImages/test/a_ignore.png"), np.zeros((80, 30), np.uint8)),
        ["a_ignore.png", "image_ids.txt:1", "30x80", "80x60"],
    ),
    (
        "second ignore mask",
        "OpenImages",
        lambda t: _edit(t / OI / "localization.txt", "a_m2.png,", "a_m2.png,x.png"),
        ["localization.txt:2", "second ignore mask"],
    ),
]


@pytest.mark.parametrize("case,dataset,breaker,culprits", CASES, ids=[c[0] for c in CASES])
def test_bad_input_is_one_line_exit_2(tmp_path, case, dataset, breaker, culprits):
    (_box_fixture if dataset == "CUB" else _mask_fixture)(tmp_path)
    breaker(tmp_path)
    env = dict(os.environ, PYTHONPATH=str(ROOT), WSOL_DEBUG="")
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "wsol",
            "evaluate-scoremaps",
            "--scoremap_root",
            str(tmp_path / "maps"),
            "--metadata_root",
            str(tmp_path / "metadata"),
            "--mask_root",
            str(tmp_path / "dataset"),
            "--dataset_name",
            dataset,
            "--split",
            "test",
            "--cam_curve_interval",
            "0.1",
            "--out",
            str(tmp_path / "out"),
            "--no-progress",
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
    )
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2, proc.stderr
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert lines[0].startswith("wsol evaluate-scoremaps: ")
    for culprit in culprits:
        assert culprit in lines[0], (culprit, lines[0])
    assert not (tmp_path / "out" / "evaluation.json").exists()


def test_the_fixtures_themselves_evaluate(tmp_path):
    """Each broken case differs from a fixture that evaluates fine (so the rows test the break, not the set-up)."""
    for dataset, make in (("CUB", _box_fixture), ("OpenImages", _mask_fixture)):
        root = tmp_path / dataset
        make(root)
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "wsol",
                "evaluate-scoremaps",
                "--scoremap_root",
                str(root / "maps"),
                "--metadata_root",
                str(root / "metadata"),
                "--mask_root",
                str(root / "dataset"),
                "--dataset_name",
                dataset,
                "--split",
                "test",
                "--cam_curve_interval",
                "0.1",
                "--out",
                str(root / "out"),
                "--no-progress",
            ],
            capture_output=True,
            text=True,
            env=dict(os.environ, PYTHONPATH=str(ROOT)),
            timeout=120,
        )
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.strip().splitlines()[-1].startswith("localization: ")

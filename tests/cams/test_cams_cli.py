"""``wsol explain`` writes one overlay per image and refuses bad input before writing anything."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from wsol.cli import run


@pytest.fixture
def image_files(tmp_path):
    paths = []
    for i, sub in enumerate(["a", "b"]):
        (tmp_path / sub).mkdir()
        path = tmp_path / sub / "same.png"
        img = np.zeros((40, 50, 3), np.uint8)
        img[10 + i : 30, 5:25] = 255
        cv2.imwrite(str(path), img)
        paths.append(str(path))
    return paths


def test_cams_explain_writes_overlays(tmp_path, image_files, capsys):
    out = tmp_path / "out"
    code = run(
        "explain",
        [
            "--torchvision-model",
            "resnet18",
            "--num-classes",
            "3",
            "--image",
            *image_files,
            "--method",
            "gradcam",
            "--layer",
            "layer3",
            "--size",
            "64",
            "--out",
            str(out),
        ],
    )
    assert code == 0
    written = sorted(p.name for p in out.iterdir())
    assert written == ["same_gradcam.png", "same_gradcam_1.png"]  # same stem twice: both kept
    overlay = cv2.imread(str(out / "same_gradcam.png"))
    assert overlay.shape == (64, 64, 3)
    assert "class" in capsys.readouterr().out


def test_cams_explain_bad_input(tmp_path, image_files, capsys):
    assert (
        run(
            "explain",
            [
                "--torchvision-model",
                "resnet18",
                "--image",
                image_files[0],
                "--method",
                "nope",
                "--out",
                str(tmp_path / "out_a"),
            ],
        )
        == 2
    )
    assert "--method 'nope' is unknown; known: cam," in capsys.readouterr().err
    assert (
        run(
            "explain",
            [
                "--torchvision-model",
                "resnet18",
                "--image",
                image_files[0],
                "--layer",
                "layer9",
                "--out",
                str(tmp_path / "out_b"),
            ],
        )
        == 2
    )
    assert "unknown layer 'layer9'" in capsys.readouterr().err
    assert not (tmp_path / "out_a").exists() and not (tmp_path / "out_b").exists()

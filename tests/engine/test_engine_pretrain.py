"""The shapes-and-textures pretraining task, `wsol pretrain` and the shipped tiny-backbone weights."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest
import torch

from wsol.cli import run
from wsol.data import shapes
from wsol.models import backbones


def test_shapes_images_are_a_pure_function_of_seed_and_index():
    a, la = shapes.render_set(30, seed=3)
    b, lb = shapes.render_set(10, seed=3, start=20)
    assert a.shape == (30, 64, 64, 3) and a.dtype == np.uint8
    assert np.array_equal(a[20:], b) and np.array_equal(la[20:], lb)
    assert la.tolist() == [i % shapes.NUM_CLASSES for i in range(30)]
    assert not np.array_equal(a, shapes.render_set(30, seed=4)[0])
    names = [shapes.class_name(k) for k in range(shapes.NUM_CLASSES)]
    assert len(set(names)) == shapes.NUM_CLASSES == 24


def test_pretrain_cli_writes_weights_with_their_checksum_and_they_load(tmp_path):
    out = tmp_path / "w.pt"
    code = run(
        "pretrain",
        [
            "--out",
            str(out),
            "--train-images",
            "128",
            "--test-images",
            "48",
            "--epochs",
            "1",
            "--batch-size",
            "32",
            "--channels",
            "8",
            "16",
            "16",
            "--threads",
            "1",
            "--no-progress",
        ],
    )
    assert code == 0
    record = json.loads(out.with_suffix(".json").read_text())
    assert record["sha256"] == hashlib.sha256(out.read_bytes()).hexdigest()
    assert record["recipe"]["channels"] == [8, 16, 16] and record["recipe"]["train_images"] == 128
    assert 0.0 <= record["test_top1"] <= 100.0 and record["command"].startswith("wsol pretrain --out")
    net = backbones.tiny(pretrained=True, weights_path=str(out), channels=(8, 16, 16), large_feature_map=True)
    state = torch.load(out, weights_only=True)
    assert all(torch.equal(state[k], v) for k, v in net.state_dict().items())


def test_pretrain_rejects_fewer_images_than_a_batch(capsys):
    assert run("pretrain", ["--train-images", "8", "--batch-size", "32"]) == 2
    assert "--train-images (8) must be >= --batch-size (32)" in capsys.readouterr().err


def test_shipped_weights_load_and_a_damaged_file_is_refused(tmp_path, monkeypatch):
    state, record = backbones.load_packaged_tiny_weights()
    net = backbones.tiny(
        pretrained=True, channels=record["recipe"]["channels"], large_feature_map=record["recipe"]["large_feature_map"]
    )
    assert all(torch.equal(state[k], v) for k, v in net.state_dict().items())
    with pytest.raises(ValueError, match="shipped tiny weights are for channels"):
        backbones.tiny(pretrained=True, channels=(8, 8, 8))
    copy = tmp_path / "tiny_shapes.pt"
    data = bytearray(backbones.TINY_WEIGHTS.read_bytes())
    data[len(data) // 2] ^= 0xFF  # one flipped byte inside the tensor data
    copy.write_bytes(bytes(data))
    copy.with_suffix(".json").write_text(json.dumps(record))
    monkeypatch.setattr(backbones, "TINY_WEIGHTS", copy)
    with pytest.raises(ValueError, match="differs from"):
        backbones.load_packaged_tiny_weights()

"""Maximally activating patches: streaming top-k vs brute force, bounded memory, crops by the receptive field."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
import torch
from torch import nn

from wsol.cli.top_patches import main as top_patches_main
from wsol.viz.receptive_field import receptive_field
from wsol.viz.top_patches import StreamingTopK, crop_patch, find_top_patches, map_on_box


def brute_force(acts: torch.Tensor, k: int) -> list[list[tuple[float, int, int, int]]]:
    """Every activation kept: per channel, each image's maximum at its first row-major position, then all
    images sorted by (value descending, image index ascending), the first k."""
    n, c, h, w = acts.shape
    out = []
    for ch in range(c):
        entries = []
        for i in range(n):
            m = acts[i, ch]
            best = float(m.max())
            y, x = next((y, x) for y in range(h) for x in range(w) if float(m[y, x]) == best)
            entries.append((best, i, y, x))
        entries.sort(key=lambda e: (-e[0], e[1]))
        out.append(entries[:k])
    return out


def stream(acts: torch.Tensor, k: int, batch: int) -> StreamingTopK:
    buf = StreamingTopK(acts.shape[1], k)
    for s in range(0, len(acts), batch):
        buf.update(acts[s : s + batch], torch.arange(s, min(s + batch, len(acts))))
    return buf


@pytest.mark.parametrize("batch", [1, 3, 7, 40])
@pytest.mark.parametrize("k", [1, 4])
def test_streaming_topk_equals_brute_force_with_ties(batch, k):
    g = torch.Generator().manual_seed(batch * 10 + k)
    acts = torch.randint(0, 4, (23, 5, 3, 4), generator=g).float()  # 4 levels: ties everywhere
    acts[5, 2] = 9.0  # a constant map: its argmax is the first unit (0, 0)
    acts[[6, 11], 3] = 7.0  # equal across images: the lower index wins
    buf = stream(acts, k, batch)
    expected = brute_force(acts, k)
    for ch in range(5):
        got = list(zip(buf.values[ch].tolist(), buf.image[ch].tolist(), buf.y[ch].tolist(), buf.x[ch].tolist()))
        assert got == [(float(v), i, y, x) for v, i, y, x in expected[ch]], ch
    assert (buf.values[2, 0], buf.image[2, 0], buf.y[2, 0], buf.x[2, 0]) == (9.0, 5, 0, 0)
    if k > 1:
        assert buf.image[3, :2].tolist() == [6, 11]
    torch.testing.assert_close(buf.channel_means(), acts.mean(dim=(0, 2, 3)))


def test_streaming_topk_random_floats_and_shuffled_image_order():
    g = torch.Generator().manual_seed(1)
    acts = torch.randn(30, 6, 5, 5, generator=g)
    expected = brute_force(acts, 5)
    perm = torch.randperm(30, generator=g)  # images arriving in any order give the same answer
    buf = StreamingTopK(6, 5)
    for s in range(0, 30, 4):
        idx = perm[s : s + 4]
        buf.update(acts[idx], idx)
    for ch in range(6):
        assert buf.image[ch].tolist() == [e[1] for e in expected[ch]]
        assert buf.values[ch].tolist() == [e[0] for e in expected[ch]]


def test_memory_is_bounded_and_short_datasets_leave_empty_slots():
    small, large = StreamingTopK(4, 3), StreamingTopK(4, 3)
    small.update(torch.rand(2, 4, 6, 6), torch.arange(2))
    for s in range(0, 300, 50):
        large.update(torch.rand(50, 4, 6, 6), torch.arange(s, s + 50))
    for name in ("values", "image", "y", "x", "channel_sum"):
        assert getattr(small, name).shape == getattr(large, name).shape  # (C, k) / (C,) whatever the length
    assert small.values.shape == (4, 3)
    assert torch.isinf(small.values[:, 2]).all()  # 2 images, k = 3: one empty slot per channel
    with pytest.raises(ValueError, match="NaN activations in images \\[1\\]"):
        small.update(torch.tensor([[[[0.0]]], [[[float("nan")]]]]).expand(2, 4, 1, 1), torch.tensor([0, 1]))


class Images(torch.utils.data.Dataset):
    def __init__(self, images: torch.Tensor) -> None:
        self.images = images

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> dict:
        return {
            "image": self.images[i],
            "label": 0,
            "boxes": np.zeros((0, 4)),
            "orig_boxes": np.zeros((0, 4)),
            "orig_size": (8, 8),
            "image_id": f"{i}.png",
            "mask": None,
        }


def test_find_top_patches_on_a_model_matches_brute_force():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.Conv2d(4, 5, 3, stride=2, padding=1))
    images = torch.randn(11, 3, 12, 12)
    with torch.no_grad():
        acts = net[:3](images)
    result = find_top_patches(net, "2", Images(images), k=3, batch_size=4, progress=False)
    expected = brute_force(acts, 3)
    for ch in range(5):
        assert result.image[ch].tolist() == [e[1] for e in expected[ch]]
        assert (result.y[ch].tolist(), result.x[ch].tolist()) == (
            [e[2] for e in expected[ch]],
            [e[3] for e in expected[ch]],
        )
    assert result.most_active(2) == torch.sort(acts.mean((0, 2, 3)), descending=True).indices[:2].tolist()
    short = find_top_patches(net, "2", Images(images), k=3, max_images=2, progress=False)
    assert short.num_images == 2 and (short.image[:, 2] == -1).all()
    assert set(short.image[:, :2].flatten().tolist()) == {0, 1}


def test_crop_box_is_the_receptive_field_box():
    net = nn.Sequential(nn.Conv2d(1, 1, 3, padding=1), nn.Conv2d(1, 1, 3, stride=2, padding=1), nn.MaxPool2d(2))
    rf = receptive_field(net, "2")
    # conv3 p1: r 3; conv3 s2 p1: r 5, j 2; maxpool2: r 7, j 4, s 0.5·2 = 1.
    # unit (2, 1): centre (9, 5) → rows 6..12, cols 2..8
    assert rf.box(2, 1) == (2, 6, 8, 12)
    yy, xx = np.mgrid[0:16, 0:16]
    image = np.stack([yy, xx, np.zeros_like(yy)], -1).astype(np.uint8)  # pixel (y, x) holds (y, x, 0)
    patch = crop_patch(image, rf.box(2, 1))
    assert patch.shape == (7, 7, 3)
    assert patch[0, 0].tolist() == [6, 2, 0] and patch[-1, -1].tolist() == [12, 8, 0]
    np.testing.assert_array_equal(patch, image[6:13, 2:9])
    # unit (0, 0): centre (1, 1) → -2..4: the two rows/cols outside the image are grey, the rest is the image
    corner = crop_patch(image, rf.box(0, 0), fill=128)
    assert corner.shape == (7, 7, 3)
    assert (corner[:2] == 128).all() and (corner[:, :2] == 128).all()
    np.testing.assert_array_equal(corner[2:, 2:], image[0:5, 0:5])


def test_map_on_box_puts_unit_centres_on_their_pixels():
    rf = receptive_field(nn.Sequential(nn.Conv2d(1, 1, 3, stride=4, padding=1)), "0")  # r 3, j 4, s 0
    act = torch.arange(16.0).view(4, 4)
    heat = map_on_box(act, rf, (0, 0, 12, 12))
    assert heat[4, 8] == pytest.approx(float(act[1, 2]))  # pixel (4, 8) is the centre of unit (1, 2)
    assert heat[6, 8] == pytest.approx(float(act[1:3, 2].mean()))  # half-way to unit (2, 2)
    assert heat[12, 12] == pytest.approx(15.0)


def test_top_patches_command(viz_checkpoint, tmp_path, capsys):
    out = tmp_path / "tp.png"
    tb = tmp_path / "tb"
    assert (
        top_patches_main(
            [
                "--checkpoint",
                str(viz_checkpoint),
                "--layer",
                "backbone.stages.block2",
                "--num-channels",
                "3",
                "--k",
                "4",
                "--batch-size",
                "5",
                "--tile",
                "32",
                "--heatmap",
                "--out",
                str(out),
                "--tensorboard",
                str(tb),
                "--quiet",
            ]
        )
        == 0
    )
    assert "receptive field 7x7 px" in capsys.readouterr().out
    picture = cv2.imread(str(out))
    # 3 rows of 32 + 14 px tiles and 5 columns (label + k), 2 px padding, plus a header band
    assert picture.shape[1] == 5 * 34 + 2 and (picture.shape[0] - (3 * 48 + 2)) > 0
    table = json.loads(out.with_suffix(".json").read_text())
    assert table["num_images"] == 9 and table["receptive_field"]["size"] == [7, 7]
    assert len(table["channels"]) == 3 and all(len(v) == 4 for v in table["channels"].values())
    assert any(p.name.startswith("events") for p in tb.iterdir())
    with pytest.raises(SystemExit, match="unknown layer 'backbone.stage'"):
        top_patches_main(["--checkpoint", str(viz_checkpoint), "--layer", "backbone.stage", "--quiet"])

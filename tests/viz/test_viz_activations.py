"""Per-channel activation grids: capture, channel choice, per-channel normalisation, the command."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch
from torch import nn

from wsol.cli.activations import main as activations_main
from wsol.viz.activations import (
    CAPTION_HEIGHT,
    activation_grid,
    capture_activations,
    colorize,
    normalize_channels,
    parse_channels,
    select_channels,
)


def test_capture_matches_the_submodule_and_leaves_the_model_as_it_was():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(inplace=True), nn.Conv2d(4, 2, 1))
    net.train()
    x = torch.randn(2, 3, 8, 8)
    acts = capture_activations(net, x, "1")
    net.eval()
    with torch.no_grad():
        expected = net[1](net[0](x))  # the BN output before the in-place ReLU rewrites it
    net.train()
    torch.testing.assert_close(acts, expected)
    assert (acts < 0).any()  # not the ReLU'd tensor
    assert all(m.training for m in net.modules()) and not net[1]._forward_hooks


def test_normalize_channels_each_on_its_own():
    maps = torch.tensor([[[0.0, 2.0], [4.0, 8.0]], [[-1.0, -1.0], [-1.0, -1.0]], [[10.0, 20.0], [30.0, 10.0]]])
    norm = normalize_channels(maps)
    torch.testing.assert_close(norm[0], torch.tensor([[0.0, 0.25], [0.5, 1.0]]))
    assert (norm[1] == 0).all()  # constant channel → zeros
    torch.testing.assert_close(norm[2], torch.tensor([[0.0, 0.5], [1.0, 0.0]]))


def test_channel_selection():
    acts = torch.zeros(2, 5, 3, 3)
    acts[:, 3] = 4.0
    acts[0, 1] = 2.0
    acts[1, 4] = 1.0
    assert select_channels(acts) == [0, 1, 2, 3, 4]
    assert select_channels(acts, num_channels=2) == [0, 1]
    # means over images and positions: ch3 4, ch1 1, ch4 0.5, then ties (ch0, ch2) in index order
    assert select_channels(acts, sort_by_mean=True) == [3, 1, 4, 0, 2]
    assert select_channels(acts, [4, 1, 3], sort_by_mean=True, num_channels=2) == [3, 1]
    assert parse_channels(["0-2,4", "1"], 5) == [0, 1, 2, 4]
    assert parse_channels(None, 5) is None
    with pytest.raises(ValueError, match="--channels: '5' is outside the layer's channels 0..4"):
        parse_channels(["5"], 5)
    with pytest.raises(ValueError, match="cannot read 'a'"):
        parse_channels(["a"], 5)


def test_grid_layout_and_tiles():
    image = torch.zeros(3, 16, 16)
    acts = torch.zeros(6, 2, 2)
    acts[2] = torch.tensor([[0.0, 1.0], [2.0, 3.0]])
    grid = activation_grid(image, acts, [2, 5, 0], tile=20, ncols=2)
    cell_h, cell_w = 20 + CAPTION_HEIGHT + 2, 22
    assert grid.shape == (2 * cell_h + 2, 2 * cell_w + 2, 3)  # 4 tiles (input + 3 channels) in 2×2
    tile = grid[2 + 0 : 2 + 20, 2 + cell_w : 2 + cell_w + 20]  # second tile: channel 2, nearest upsampled
    np.testing.assert_array_equal(tile, colorize(np.array([[0.0, 1 / 3], [2 / 3, 1.0]]), 20))
    assert (tile[:10, :10] == tile[0, 0]).all() and (tile[0, 0] != tile[-1, -1]).any()


def test_activations_command(viz_checkpoint, tmp_path, capsys):
    out = tmp_path / "act.png"
    tb = tmp_path / "tb"
    assert (
        activations_main(
            [
                "--checkpoint",
                str(viz_checkpoint),
                "--layer",
                "backbone.stages.block2",
                "--image-index",
                "0",
                "2",
                "--num-channels",
                "5",
                "--sort",
                "--tile",
                "32",
                "--out",
                str(out),
                "--tensorboard",
                str(tb),
            ]
        )
        == 0
    )
    assert "5 of 8 channels" in capsys.readouterr().out
    picture = cv2.imread(str(out))
    assert picture.shape[1] == 6 * 34 + 2  # several images, few channels: one row each (input + 5)
    assert any(p.name.startswith("events") for p in tb.iterdir())
    assert activations_main(["--checkpoint", str(viz_checkpoint), "--list-layers"]) == 0
    listing = capsys.readouterr().out
    assert "backbone.stages.block2" in listing and "7x7 px, jump 4" in listing
    with pytest.raises(SystemExit, match="image-index \\[99\\]"):
        activations_main(["--checkpoint", str(viz_checkpoint), "--image-index", "99", "--out", str(out)])
    with pytest.raises(SystemExit, match="close matches"):
        activations_main(["--checkpoint", str(viz_checkpoint), "--layer", "backbone.stage.block2", "--out", str(out)])

"""Dead-channel diagnostic: exact fractions on heads whose weights make known channels dead."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from wsol.engine.diagnostics import dead_channel_fraction


class TwoHeads(nn.Module):
    """backbone → head_a (conv 1x1, 4 channels, ReLU) and head_b (linear, 5 → ReLU → linear 3 → ReLU)."""

    def __init__(self) -> None:
        super().__init__()
        self.backbone = nn.Sequential(nn.Conv2d(3, 2, 1), nn.ReLU())
        self.head_a = nn.Sequential(nn.Conv2d(2, 4, 1), nn.ReLU())
        self.head_b = nn.Sequential(nn.Linear(2, 5), nn.ReLU(), nn.Linear(5, 3), nn.ReLU())
        self.plain = nn.Linear(2, 2)  # no ReLU: not reported

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        f = self.backbone(x)
        return self.head_a(f).mean((2, 3)) + self.head_b(f.mean((2, 3)))[:, :1] + self.plain(f.mean((2, 3)))[:, :1]


def test_dead_channel_fraction_counts_channels_zero_everywhere():
    model = TwoHeads()
    with torch.no_grad():
        model.backbone[0].weight.zero_()
        model.backbone[0].bias.fill_(1.0)  # backbone output is 1 everywhere (after ReLU)
        model.head_a[0].weight.zero_()
        model.head_a[0].bias.copy_(torch.tensor([-1.0, 0.5, -0.1, 2.0]))  # channels 0 and 2 dead
        model.head_b[0].weight.zero_()
        model.head_b[0].bias.copy_(torch.tensor([1.0, -1.0, -2.0, 3.0, -0.5]))  # 3 of 5 dead
        model.head_b[2].weight.zero_()
        model.head_b[2].bias.copy_(torch.tensor([1.0, 1.0, -1.0]))  # 1 of 3 dead
    model.train()
    handles_before = sum(len(m._forward_hooks) for m in model.modules())
    out = dead_channel_fraction(model, torch.randn(3, 3, 5, 4))
    assert out == {"head_a": 2 / 4, "head_b": (3 + 1) / (5 + 3)}
    assert model.training and all(m.training for m in model.modules())
    assert sum(len(m._forward_hooks) for m in model.modules()) == handles_before


def test_dead_channel_fraction_alive_somewhere_is_alive_and_hooks_removed_on_error():
    model = TwoHeads()
    with torch.no_grad():  # head_a channel k is alive only where input channel k is positive
        model.backbone[0].weight.copy_(torch.eye(2, 3)[:, :, None, None])
        model.backbone[0].bias.zero_()
        model.head_a[0].weight.copy_(torch.tensor([[1.0, 0], [0, 1], [-1, 0], [0, -1]])[:, :, None, None])
        model.head_a[0].bias.zero_()
    images = torch.zeros(2, 3, 2, 2)
    images[1, 0, 1, 1] = 1.0  # one positive pixel of input channel 0 in the second image
    assert dead_channel_fraction(model, images)["head_a"] == 3 / 4
    with pytest.raises(RuntimeError):
        dead_channel_fraction(model, torch.zeros(2, 5, 2, 2))  # wrong channel count
    assert sum(len(m._forward_hooks) for m in model.modules()) == 0

"""Tiny models for the explainer tests (a uniquely named helper module: every test folder has a conftest)."""

from __future__ import annotations

import torch
from torch import nn


class GapLinear(nn.Module):
    """``feat`` (identity: the target layer output IS the input) → GAP → linear head ``fc``."""

    def __init__(self, weight: list[list[float]]) -> None:
        super().__init__()
        w = torch.tensor(weight, dtype=torch.float32)
        self.feat = nn.Identity()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(w.shape[1], w.shape[0])
        with torch.no_grad():
            self.fc.weight.copy_(w)
            self.fc.bias.zero_()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.pool(self.feat(x)).flatten(1))


class FlatLinear(nn.Module):
    """``feat`` (identity) → flatten → linear: a gradient that varies over space (HiResCAM ≠ Grad-CAM)."""

    def __init__(self, weight: torch.Tensor) -> None:
        super().__init__()
        self.feat = nn.Identity()
        self.fc = nn.Linear(weight.shape[1], weight.shape[0], bias=False)
        with torch.no_grad():
            self.fc.weight.copy_(weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.feat(x).flatten(1))


class TinyNet(nn.Module):
    """conv-ReLU-conv-ReLU (in-place ReLUs) → GAP → linear; ``boom=True`` makes the forward raise after the
    features (to test that hooks are removed when a call fails)."""

    def __init__(self, classes: int = 3, width: int = 6) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, width, 3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(width, width, 3, padding=1),
            nn.BatchNorm2d(width),
            nn.ReLU(inplace=True),
        )
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(width, classes)
        self.boom = False

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        f = self.features(x)
        if self.boom:
            raise RuntimeError("boom")
        return self.fc(self.pool(f).flatten(1))

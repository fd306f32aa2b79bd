"""Fixtures of the explainer tests."""

from __future__ import annotations

import pytest
import torch
from cams_models import TinyNet


@pytest.fixture
def tiny() -> TinyNet:
    torch.manual_seed(0)
    model = TinyNet()
    with torch.no_grad():  # non-trivial BN statistics so eval and train mode differ
        model.features[3].running_mean.uniform_(-0.5, 0.5)
        model.features[3].running_var.uniform_(0.5, 2.0)
    return model.eval()


@pytest.fixture
def images() -> torch.Tensor:
    torch.manual_seed(1)
    return torch.randn(3, 3, 12, 12)

"""The WSOLModel contract, checked for every registered method on the tiny backbone."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tests.models.conftest import tiny_model_cfg
from wsol.engine.cutmix import cutmix
from wsol.models import METHODS, Localization, WSOLOutput, build_model
from wsol.models.base import gather_maps, normalize_per_map, resolve_classes

C = 5


@pytest.fixture(params=METHODS.names())
def model(request):
    torch.manual_seed(0)
    return build_model(tiny_model_cfg(request.param), C)


def test_all_methods_registered():
    assert set(METHODS.names()) >= {"cam", "acol", "has", "adl", "ggam", "spg", "bas"}


@pytest.mark.parametrize("mixed", [False, True], ids=["plain", "cutmix"])
def test_one_training_step_changes_every_parameter(model, mixed):
    """One SGD step on a tiny batch (optionally CutMix-ed, the loss mixed term by term) moves every trainable
    parameter, keeps the loss finite and leaves the declared map shape."""
    torch.manual_seed(1)
    np.random.seed(1)
    model.train()
    images, labels = torch.randn(4, 3, 32, 32), torch.tensor([0, 1, 2, 3])
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    if mixed:
        mix = cutmix(images, labels, beta=1.0)
        assert 0.0 <= mix.lam <= 1.0
        losses = mix.loss(model.loss, model(mix.images, mix.forward_labels))
    else:
        losses = model.loss(model(images, labels), labels)
    assert torch.isfinite(losses["loss"]) and losses["loss"].dim() == 0
    optimizer.zero_grad()
    losses["loss"].backward()
    optimizer.step()
    for name, p in model.named_parameters():
        assert not torch.equal(p.detach(), before[name]), f"{name} did not move"
    side = 32 // model.map_stride
    assert model.localize(images, topk=1).maps.shape == (4, 1, side, side)


def test_forward_returns_wsol_output_with_class_maps(model):
    images, labels = torch.randn(3, 3, 32, 32), torch.tensor([0, 4, 2])
    for mode in (True, False):
        model.train(mode)
        out = model(images, labels)
        assert isinstance(out, WSOLOutput)
        assert out.logits.shape == (3, C) and out.maps.shape == (3, C, 4, 4)
        out = model(images)  # no labels: same type
        assert isinstance(out, WSOLOutput) and out.maps.shape == (3, C, 4, 4)


def test_every_parameter_gets_a_gradient(model):
    model.train()
    images, labels = torch.randn(4, 3, 32, 32), torch.tensor([0, 1, 2, 3])
    losses = model.loss(model(images, labels), labels)
    assert losses["loss"].dim() == 0 and torch.isfinite(losses["loss"])
    losses["loss"].backward()
    for name, p in model.named_parameters():
        assert p.grad is not None, f"{name} received no gradient"
        assert torch.isfinite(p.grad).all(), name
        assert p.grad.abs().sum() > 0, f"{name} has an all-zero gradient"


def test_localize_explicit_and_topk_classes(model):
    model.train()
    images = torch.randn(2, 3, 32, 32)
    loc = model.localize(images, classes=torch.tensor([[1, 3, 0], [4, 4, 2]]))
    side = 32 // model.map_stride  # the declared map size: 4 (stride 8) for all but BAS, 8 for BAS's tap
    assert isinstance(loc, Localization)
    assert loc.maps.shape == (2, 3, side, side) and loc.logits.shape == (2, C)
    assert loc.classes.tolist() == [[1, 3, 0], [4, 4, 2]]
    assert loc.maps.min() >= 0 and loc.maps.max() <= 1
    assert model.training, "localize must restore the train flag"
    top = model.localize(images, topk=2)
    assert top.maps.shape == (2, 2, side, side)
    assert torch.equal(top.classes, top.logits.topk(2, dim=1).indices)
    # the maps of an explicitly requested class equal those of the same class requested via top-k
    again = model.localize(images, classes=top.classes)
    assert torch.allclose(again.maps, top.maps, atol=1e-6)


def test_normalize_per_map_hand_values():
    maps = torch.tensor([[[[1.0, 3.0], [5.0, 2.0]], [[7.0, 7.0], [7.0, 7.0]]]])
    out = normalize_per_map(maps)
    assert torch.allclose(out[0, 0], torch.tensor([[0.0, 0.5], [1.0, 0.25]]))
    assert torch.equal(out[0, 1], torch.zeros(2, 2))  # constant map → zeros
    assert maps[0, 0, 0, 0] == 1.0  # input untouched


def test_gather_and_resolve_classes():
    maps = torch.arange(2 * 3 * 1 * 1, dtype=torch.float32).view(2, 3, 1, 1)
    assert gather_maps(maps, torch.tensor([[2, 0], [1, 1]])).flatten().tolist() == [2, 0, 4, 4]
    logits = torch.tensor([[0.1, 0.9, 0.5]])
    assert resolve_classes(logits, None, 2).tolist() == [[1, 2]]
    assert resolve_classes(logits, torch.tensor([2]), 1).tolist() == [[2]]
    with pytest.raises(ValueError, match=r"in \[0, 3\)"):
        resolve_classes(logits, torch.tensor([[3]]), 1)
    with pytest.raises(ValueError, match="topk"):
        resolve_classes(logits, None, 4)

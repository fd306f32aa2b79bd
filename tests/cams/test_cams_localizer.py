"""Explainers as CAM sources: the ``localize`` contract of ``WSOLModel`` (evaluation and export use it)."""

from __future__ import annotations

import pytest
import torch
import torchvision

from wsol.cams import ExplainerLocalizer, build_localizer
from wsol.models import Localization
from wsol.models.backbones import tiny as tiny_backbone
from wsol.models.cam import CAMModel


def test_cams_localizer_explicit_classes_and_topk(tiny, images):
    loc = ExplainerLocalizer(tiny, "gradcam").localize(images, torch.tensor([0, 2, 1]))
    assert isinstance(loc, Localization)
    assert loc.maps.shape == (3, 1, 12, 12) and loc.classes.tolist() == [[0], [2], [1]]
    assert float(loc.maps.min()) >= 0 and float(loc.maps.max()) <= 1
    top = ExplainerLocalizer(tiny, "gradcam++").localize(images, topk=2)
    assert top.maps.shape == (3, 2, 12, 12)
    assert torch.equal(top.classes, top.logits.topk(2, dim=1).indices)
    with pytest.raises(ValueError, match="topk must be in"):
        ExplainerLocalizer(tiny, "gradcam").localize(images, topk=4)
    with pytest.raises(ValueError, match="out of range"):
        ExplainerLocalizer(tiny, "gradcam").localize(images, torch.tensor([[0], [5], [1]]))


def test_cams_cam_explainer_reproduces_native_wsol_maps():
    torch.manual_seed(0)
    model = CAMModel(tiny_backbone(channels=(8, 8, 8, 8)), 4).eval()
    x, classes = torch.randn(2, 3, 32, 32), torch.tensor([[1, 3], [2, 0]])
    native = build_localizer(model, "native").localize(x, classes)
    ours = build_localizer(model, "cam", "backbone", relu=False).localize(x, classes)
    # automatic layer for CAM: the one feeding the classifier (the backbone), not the class-map head
    auto = build_localizer(model, "cam", relu=False)
    assert torch.allclose(auto.localize(x, classes).maps, ours.maps) and auto.explainer.layers == ["backbone"]
    assert ours.maps.shape == native.maps.shape == (2, 2, 4, 4)
    assert torch.allclose(ours.maps, native.maps, atol=1e-5)
    assert torch.allclose(ours.logits, native.logits, atol=1e-6)
    # logits = GAP of linear maps: Grad-CAM at the backbone equals ReLU'd CAM
    grad = build_localizer(model, "gradcam", "backbone").localize(x, classes)
    relu_cam = build_localizer(model, "cam", "backbone").localize(x, classes)
    assert torch.allclose(grad.maps, relu_cam.maps, atol=1e-5)


def test_cams_native_needs_a_wsol_model():
    with pytest.raises(ValueError, match="native.*pick an explainer"):
        build_localizer(torchvision.models.resnet18(weights=None), "native")
    with pytest.raises(KeyError, match="unknown cam method 'gradcamm'"):
        build_localizer(torchvision.models.resnet18(weights=None), "gradcamm")

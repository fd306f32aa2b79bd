"""Method internals checked by hand: ACoL erasing and batched localization, GGAM loss, HaS, ADL."""

from __future__ import annotations

import math

import pytest
import torch

from tests.models.conftest import tiny_model_cfg
from wsol.models import build_model
from wsol.models.acol import erase_features
from wsol.models.adl import ADLLayer
from wsol.models.base import gather_maps, normalize_per_map
from wsol.models.ggam import symmetric_kl
from wsol.models.has import hide_patches


def test_acol_erasing_by_hand():
    features = torch.ones(1, 2, 2, 2)
    class_map = torch.tensor([[[0.0, 1.0], [2.0, 4.0]]])  # normalised: [[0, .25], [.5, 1]]
    erased = erase_features(features, class_map, delta=0.5)  # >= 0.5 is erased, on every channel
    expected = torch.tensor([[1.0, 1.0], [0.0, 0.0]])
    assert torch.equal(erased[0, 0], expected) and torch.equal(erased[0, 1], expected)
    assert torch.equal(erase_features(features, class_map, delta=0.6)[0, 0], torch.tensor([[1.0, 1.0], [1.0, 0.0]]))
    assert torch.equal(features, torch.ones(1, 2, 2, 2))  # input untouched


def test_acol_branch_b_sees_features_erased_for_the_label():
    torch.manual_seed(0)
    model = build_model(tiny_model_cfg("acol", "model.acol.delta=0.7"), 4).train()
    images, labels = torch.randn(2, 3, 32, 32), torch.tensor([3, 1])
    out = model(images, labels)
    features = model.backbone(images)
    manual = model.head_b(erase_features(features, gather_maps(out.maps, labels[:, None])[:, 0], 0.7))
    assert torch.allclose(out.extras["logits_b"], manual.mean((2, 3)), atol=1e-6)
    losses = model.loss(out, labels)
    assert torch.allclose(losses["loss"], losses["ce_a"] + losses["ce_b"])


def test_acol_batched_localize_equals_one_class_at_a_time():
    torch.manual_seed(1)
    model = build_model(tiny_model_cfg("acol", "model.acol.delta=0.6"), 5).eval()
    images = torch.randn(3, 3, 32, 32)
    classes = torch.tensor([[0, 2, 4], [1, 1, 3], [4, 0, 2]])
    batched = model.localize(images, classes=classes).maps
    with torch.no_grad():
        for i in range(3):
            features = model.backbone(images[i : i + 1])
            maps_a = model.head_a(features)
            for k in range(3):
                c = int(classes[i, k])
                norm_a = normalize_per_map(maps_a[0, c])
                erased = features * (norm_a < 0.6).float()
                norm_b = normalize_per_map(model.head_b(erased)[0, c])
                assert torch.allclose(batched[i, k], torch.maximum(norm_a, norm_b), atol=1e-6), (i, k)


def test_ggam_symmetric_kl_by_hand():
    p, q = torch.tensor([[1.0, 1.0]]), torch.tensor([[1.0, 3.0]])  # normalised: [.5,.5] vs [.25,.75]
    kl_pq = 0.5 * math.log(0.5 / 0.25) + 0.5 * math.log(0.5 / 0.75)
    kl_qp = 0.25 * math.log(0.25 / 0.5) + 0.75 * math.log(0.75 / 0.5)
    assert symmetric_kl(p, q).item() == pytest.approx(0.5 * (kl_pq + kl_qp), rel=1e-5)
    assert symmetric_kl(q, q).item() == pytest.approx(0.0, abs=1e-7)


def test_ggam_loss_is_differentiable_wrt_attention_weights():
    torch.manual_seed(2)
    model = build_model(tiny_model_cfg("ggam", "model.ggam.lam=0.5"), 4).train()
    images, labels = torch.randn(3, 3, 32, 32), torch.tensor([0, 3, 1])
    out = model(images, labels)
    losses = model.loss(out, labels)
    # the Grad-CAM term equals symmetric KL(S, σ(mean ∂y/∂A)) computed separately
    (grads,) = torch.autograd.grad(
        out.logits.gather(1, labels[:, None]).sum(), out.extras["features"], retain_graph=True
    )
    expected = symmetric_kl(out.extras["channel_weights"], torch.sigmoid(grads.mean((2, 3)))).mean()
    assert losses["ggam"].item() == pytest.approx(expected.item(), rel=1e-5)
    assert torch.allclose(losses["loss"], losses["ce"] + 0.5 * losses["ggam"])
    fc1, fc2 = model.attention[0].weight, model.attention[2].weight
    g1, g2 = torch.autograd.grad(losses["ggam"], (fc1, fc2), retain_graph=True)
    assert g1.abs().sum() > 0 and g2.abs().sum() > 0
    # the Grad-CAM importances themselves carry gradient (create_graph=True): the term reaches the classifier
    (g_head,) = torch.autograd.grad(losses["ggam"], model.head.layers[-1].weight)
    assert g_head.abs().sum() > 0


def test_ggam_validation_loss_is_ce_only():
    model = build_model(tiny_model_cfg("ggam"), 4).eval()
    labels = torch.tensor([1, 2])
    with torch.no_grad():
        losses = model.loss(model(torch.randn(2, 3, 32, 32)), labels)
    assert set(losses) == {"loss", "ce"}


def test_hide_patches_grid():
    images = torch.randn(4, 3, 10, 12) + 5.0
    assert torch.equal(hide_patches(images, 4, 0.0), images)
    assert torch.equal(hide_patches(images, 4, 1.0), torch.zeros_like(images))
    torch.manual_seed(0)
    out = hide_patches(images, 4, 0.5)
    hidden = out == 0
    assert hidden.any() and (~hidden).any()
    for y in range(0, 10, 4):  # each 4×4 cell (clipped at the border) is hidden or kept as a whole
        for x in range(0, 12, 4):
            cell = hidden[:, :, y : y + 4, x : x + 4].flatten(1)
            assert (cell.all(1) | (~cell).all(1)).all()


def test_has_hides_only_in_training():
    torch.manual_seed(0)
    model = build_model(tiny_model_cfg("has", "model.has.hide_prob=1.0"), 3)
    images = torch.randn(2, 3, 32, 32)
    model.train()
    zeros = model(torch.zeros_like(images)).logits
    assert torch.allclose(model(images).logits, zeros)  # everything hidden = the all-mean image
    model.eval()
    assert not torch.allclose(model(images).logits, model(torch.zeros_like(images)).logits)


def test_adl_layer_by_hand():
    x = torch.tensor([[[[1.0, 2.0], [3.0, 10.0]]]]).repeat(1, 2, 1, 1)  # channel mean = same map
    drop = ADLLayer(drop_rate=1.0, drop_threshold=0.5).train()
    assert torch.equal(drop(x)[0, 0], torch.tensor([[1.0, 2.0], [3.0, 0.0]]))  # >= 0.5·max(10) dropped
    importance = ADLLayer(drop_rate=0.0, drop_threshold=0.5).train()
    assert torch.allclose(importance(x)[0, 1], x[0, 1] * torch.sigmoid(x[0, 0]))
    assert torch.equal(drop.eval()(x), x)


def test_adl_inserted_after_named_stages():
    model = build_model(tiny_model_cfg("adl", "model.adl.positions=[block1, block3]"), 3)
    found = [name for name, m in model.backbone.named_modules() if isinstance(m, ADLLayer)]
    assert found == ["stages.block1.1", "stages.block3.1"]
    with pytest.raises(KeyError, match="known: block1, block2, block3"):
        build_model(tiny_model_cfg("adl", "model.adl.positions=[conv9]"), 3)

"""SPG, CutMix and BAS mechanisms checked by hand: seed masks, the pasted box and its label weight, BAS's
background path, ratio and area terms, and its fused localization maps."""

from __future__ import annotations

from collections import OrderedDict

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from tests.models.conftest import tiny_model_cfg
from wsol.engine.cutmix import MixedBatch, cutmix, cutmix_box, maybe_cutmix
from wsol.models import build_model
from wsol.models.backbones import Backbone
from wsol.models.bas import BAS, background_ratio, bas_loss
from wsol.models.base import normalize_per_map
from wsol.models.spg import IGNORE, seed_bce, spg_seeds

I = IGNORE  # noqa: E741 (one letter keeps the hand-written label grids below aligned)


# ----------------------------------------------------------------------------------------------- SPG
def test_spg_seeds_two_thresholds_by_hand():
    att = torch.tensor([[[0.9, 0.8, 0.5], [0.3, 0.05, 0.0], [0.75, 0.2, 0.01]]])
    seeds = spg_seeds(att, fg=0.7, bg=0.1, min_foreground=1)
    assert torch.equal(seeds, torch.tensor([[[1.0, 1.0, I], [I, 0.0, 0.0], [1.0, I, 0.0]]]))
    # background is applied last: with bg above fg a pixel in (fg, bg) is background
    seeds = spg_seeds(att, fg=0.25, bg=0.4, min_foreground=1)
    assert torch.equal(seeds, torch.tensor([[[1.0, 1.0, 1.0], [0.0, 0.0, 0.0], [1.0, 0.0, 0.0]]]))


def test_spg_seeds_fall_back_to_a_fraction_of_the_max_with_too_few_foreground_pixels():
    att = torch.tensor(
        [
            [[0.4, 0.3, 0.1], [0.25, 0.0, 0.2]],  # nothing > 0.7: foreground = > 0.7·0.4 = 0.28
            [[0.9, 0.8, 0.75], [0.6, 0.0, 0.72]],
        ]
    )  # 4 pixels > 0.7: kept
    seeds = spg_seeds(att, fg=0.7, bg=0.05, min_foreground=3, fallback=0.7)
    assert torch.equal(seeds[0], torch.tensor([[1.0, 1.0, I], [I, 0.0, I]]))
    assert torch.equal(seeds[1], torch.tensor([[1.0, 1.0, 1.0], [I, 0.0, 1.0]]))
    # the decision is per image: the same second image alone gives the same seeds
    assert torch.equal(spg_seeds(att[1:], 0.7, 0.05, 3, 0.7)[0], seeds[1])


def test_seed_bce_averages_over_the_seeded_pixels_only():
    logits = torch.tensor([[[2.0, -1.0], [0.5, 3.0]]])
    seeds = torch.tensor([[[1.0, 0.0], [I, I]]])
    expected = (np.log1p(np.exp(-2.0)) + np.log1p(np.exp(-1.0))) / 2
    assert seed_bce(logits, seeds).item() == pytest.approx(expected, rel=1e-6)
    assert seed_bce(logits, torch.full_like(seeds, I)).item() == 0.0


def test_spg_loss_is_ce_plus_the_three_seed_losses():
    torch.manual_seed(0)
    model = build_model(tiny_model_cfg("spg"), 4).train()
    images, labels = torch.randn(3, 3, 32, 32), torch.tensor([2, 0, 3])
    out = model(images, labels)
    # attention = the label's class map, upsampled to the input and min-max normalised
    up = F.interpolate(
        out.maps.detach()[torch.arange(3), labels][:, None], size=(32, 32), mode="bilinear", align_corners=False
    )
    assert torch.allclose(out.extras["attention"], normalize_per_map(up), atol=1e-6)

    def bce(key, target):
        return seed_bce(F.interpolate(out.extras[key], size=(32, 32), mode="bilinear", align_corners=False), target)

    sig = {
        k: torch.sigmoid(F.interpolate(out.extras[k].detach(), size=(32, 32), mode="bilinear", align_corners=False))
        for k in ("logits_b1", "logits_b2")
    }
    expected = (
        F.cross_entropy(out.logits, labels)
        + bce("logits_b2", spg_seeds(out.extras["attention"], 0.7, 0.01))
        + bce("logits_b1", spg_seeds(sig["logits_b2"], 0.5, 0.05))
        + bce("logits_c", spg_seeds((sig["logits_b1"] + sig["logits_b2"]) / 2, 0.7, 0.1))
    )
    assert model.loss(out, labels)["loss"].item() == pytest.approx(expected.item(), rel=1e-5)
    model.eval()
    assert set(model.loss(model(images), labels)) == {"loss", "ce"}  # eval without labels: stream A only


def test_backbone_taps_inside_a_stage():
    torch.manual_seed(0)
    net = build_model(tiny_model_cfg("cam"), 3).backbone.eval()
    x = torch.randn(1, 3, 32, 32)
    out, taps = net.forward_taps(x, ["block2.0", "block2"])
    first = net.stages.block1(x)
    assert torch.allclose(taps["block2.0"], net.stages.block2[0](first))  # block2's conv, before BN
    assert torch.allclose(taps["block2"], net.stages.block2(first)) and torch.allclose(out, net(x))
    with pytest.raises(KeyError, match="block9"):
        net.forward_taps(x, ["block9"])


# -------------------------------------------------------------------------------------------- CutMix
def test_cutmix_box_by_hand():
    # λ = 0.75 → side ratio 0.5: 5 × 4 box on a 10 × 8 image; centre (1, 7) → clipped to rows 0:3, cols 5:8
    assert cutmix_box(10, 8, 0.75, 1, 7) == (0, 3, 5, 8)
    assert cutmix_box(10, 8, 0.75, 5, 4) == (3, 7, 2, 6)  # unclipped: 2·⌊5/2⌋ × 2·⌊4/2⌋
    assert cutmix_box(10, 8, 1.0, 5, 4) == (5, 5, 4, 4)  # λ = 1: empty box
    assert cutmix_box(10, 8, 0.0, 5, 4) == (0, 10, 0, 8)  # λ = 0: the whole image


def test_cutmix_at_a_fixed_rng_state():
    images = torch.arange(4 * 1 * 10 * 8, dtype=torch.float32).view(4, 1, 10, 8)
    labels = torch.tensor([0, 1, 2, 3])
    np.random.seed(5)
    torch.manual_seed(5)
    mix = cutmix(images, labels, beta=1.0)
    # the same draws, in wsolevaluation's order: λ ~ Beta(1, 1), the permutation, then the centre (row, col)
    np.random.seed(5)
    torch.manual_seed(5)
    lam0, perm = np.random.beta(1.0, 1.0), torch.randperm(4)
    cy, cx = np.random.randint(10), np.random.randint(8)
    y0, y1, x0, x1 = cutmix_box(10, 8, lam0, cy, cx)
    assert mix.box == (y0, y1, x0, x1) and (y1 - y0) * (x1 - x0) > 0
    assert mix.lam == pytest.approx(1 - (y1 - y0) * (x1 - x0) / 80)
    assert torch.equal(mix.labels_b, labels[perm]) and torch.equal(mix.labels, labels)
    inside = torch.zeros(10, 8, dtype=torch.bool)
    inside[y0:y1, x0:x1] = True
    assert torch.equal(mix.images[:, :, inside], images[perm][:, :, inside])
    assert torch.equal(mix.images[:, :, ~inside], images[:, :, ~inside])
    assert images[0, 0, 0, 1] == 1.0  # the input is untouched


def test_mixed_loss_weights_each_term_by_area():
    logits = torch.tensor([[2.0, 0.0, -1.0], [0.0, 1.0, 0.0]])
    mix = MixedBatch(torch.zeros(2, 3, 4, 4), torch.tensor([0, 1]), torch.tensor([2, 0]), 0.25, (0, 2, 0, 2))

    def loss_fn(out, y):
        ce = F.cross_entropy(out, y)
        return {"loss": ce + 1.0, "ce": ce, "const": torch.tensor(7.0)}

    got = mix.loss(loss_fn, logits)
    ce_a, ce_b = F.cross_entropy(logits, mix.labels), F.cross_entropy(logits, mix.labels_b)
    assert got["ce"].item() == pytest.approx(0.25 * ce_a.item() + 0.75 * ce_b.item())
    assert got["loss"].item() == pytest.approx(got["ce"].item() + 1.0)
    assert got["const"].item() == pytest.approx(7.0)  # label-independent terms count once
    assert torch.equal(mix.forward_labels, mix.labels_b)  # the larger part (0.75) is the pasted image's


def test_maybe_cutmix_probability():
    images, labels = torch.randn(2, 3, 8, 8), torch.tensor([0, 1])
    off = type("Cfg", (), {"prob": 0.0, "beta": 1.0})
    np.random.seed(0)
    state = np.random.get_state()[1].copy()
    assert maybe_cutmix(images, labels, off) is None and maybe_cutmix(images, labels, None) is None
    assert np.array_equal(np.random.get_state()[1], state)  # off draws nothing: other runs' RNG unchanged
    on = type("Cfg", (), {"prob": 1.0, "beta": 1.0})
    assert isinstance(maybe_cutmix(images, labels, on), MixedBatch)


# ----------------------------------------------------------------------------------------------- BAS
def test_background_ratio_and_loss_by_hand():
    fg, bg = torch.tensor([2.0, 1.0, 0.5, 4.0]), torch.tensor([1.0, 3.0, 0.5, -1.0])
    assert torch.allclose(background_ratio(fg, bg), torch.tensor([0.5, 0.0, 0.0, 0.0]))
    maps = torch.zeros(4, 1, 2, 2)
    maps[0, 0, 0, 0] = 1.0  # areas: 0.25, 0, 0, 0
    total, ratio, area = bas_loss(fg, bg, maps, area_weight=2.0)
    assert total.item() == pytest.approx((0.5 + 2.0 * 0.25) / 4)
    assert ratio.item() == pytest.approx(0.125) and area.item() == pytest.approx(0.0625)


def hand_bas(head_relu: bool = True, fuse_topk: int = 0) -> BAS:
    """BAS on an identity trunk (the 'image' is the hand-made feature map): generator M_c = σ(F_0 + b_c)."""
    backbone = Backbone(OrderedDict(tap=nn.Identity(), late=nn.Identity()), out_channels=3, stride=1)
    model = BAS(
        backbone,
        3,
        "tap",
        pool_after_tap=True,
        head_width=4,
        area_weight=0.5,
        fg_weight=0.25,
        fuse_topk=fuse_topk,
        head_relu=head_relu,
    )
    with torch.no_grad():
        model.generator.weight.zero_()
        model.generator.weight[:, 0, 1, 1] = 1.0
        model.generator.bias.copy_(torch.tensor([-1.0, 0.0, 2.0]))
    return model


def test_bas_background_map_and_loss_on_a_hand_made_feature_map():
    torch.manual_seed(0)
    model = hand_bas().train()
    features = torch.rand(2, 3, 4, 4)
    labels = torch.tensor([2, 0])
    out = model(features, labels)
    fg = torch.sigmoid(features[:, :1] + torch.tensor([2.0, -1.0])[:, None, None, None])  # M of each label
    assert torch.allclose(out.extras["fg"], fg, atol=1e-6)
    erased = F.max_pool2d(features * (1 - fg), 2)  # F·(1 − M), pooled, through the same head
    assert torch.allclose(out.extras["logits_bg"], model.head(erased).mean((2, 3)), atol=1e-6)
    assert torch.allclose(out.logits, model.head(F.max_pool2d(features, 2)).mean((2, 3)), atol=1e-6)
    guided = out.maps * F.avg_pool2d(fg, 2)
    assert torch.allclose(out.extras["logits_fg"], guided.mean((2, 3)), atol=1e-6)
    losses = model.loss(out, labels)
    s_fg, s_bg = out.logits[torch.arange(2), labels], out.extras["logits_bg"][torch.arange(2), labels]
    ratio = torch.where(s_bg >= s_fg, torch.zeros(2), s_bg / (s_fg + 1e-8))
    expected = (
        F.cross_entropy(out.logits, labels)
        + 0.25 * F.cross_entropy(out.extras["logits_fg"], labels)
        + (ratio + 0.5 * fg.mean((1, 2, 3))).mean()
    )
    assert losses["loss"].item() == pytest.approx(expected.item(), rel=1e-5)


def test_bas_background_path_trains_only_the_generator_and_keeps_bn_statistics():
    torch.manual_seed(0)
    model = build_model(tiny_model_cfg("bas"), 4).train()
    images, labels = torch.randn(3, 3, 32, 32), torch.tensor([0, 1, 3])
    out = model(images, labels)
    s_bg = out.extras["logits_bg"][torch.arange(3), labels].sum()
    names = [n for n, _ in model.named_parameters()]
    grads = dict(zip(names, torch.autograd.grad(s_bg, list(model.parameters()), allow_unused=True)))
    assert grads["generator.weight"] is not None and grads["generator.weight"].abs().sum() > 0
    late = [n for n in names if n.startswith(("head.", "backbone.stages.block3"))]  # after the tap (block2)
    assert late and all(grads[n] is None for n in late)  # they run with detached weights on this path
    assert grads["backbone.stages.block1.0.weight"].abs().sum() > 0  # through M = G(F): F is detached only
    # where it is multiplied by 1 − M, as in the paper
    # one training forward updates each BN's running statistics once: the background pass leaves them alone
    bn = model.backbone.stages.block3[1]
    before = bn.running_mean.clone(), int(bn.num_batches_tracked)
    with torch.no_grad():
        tapped = model.backbone(images, stop=model.split)
    model(images, labels)
    momentum = bn.momentum
    stage_in = model.pool(tapped)
    batch_mean = model.backbone.stages.block3[0](stage_in).mean((0, 2, 3))
    assert torch.allclose(bn.running_mean, (1 - momentum) * before[0] + momentum * batch_mean, atol=1e-5)
    assert int(bn.num_batches_tracked) == before[1] + 1


def test_bas_localize_class_maps_and_top_k_fusion():
    torch.manual_seed(0)
    features = torch.rand(2, 3, 4, 4)
    own = hand_bas().localize(features, classes=torch.tensor([[0, 2], [1, 1]]))
    generated = torch.sigmoid(features[:, :1] + torch.tensor([-1.0, 0.0, 2.0])[None, :, None, None])  # (2,3,4,4)
    assert torch.allclose(own.maps[0, 1], normalize_per_map(generated[0, 2]), atol=1e-6)
    assert torch.allclose(own.maps[1, 0], normalize_per_map(generated[1, 1]), atol=1e-6)
    fused_model = hand_bas(fuse_topk=2)
    fused = fused_model.localize(features, classes=torch.tensor([[0, 2], [1, 1]]))
    top2 = fused.logits.topk(2, dim=1).indices
    for i in range(2):
        expected = normalize_per_map(generated[i, top2[i]].mean(0))
        assert torch.allclose(fused.maps[i, 0], expected, atol=1e-6) and torch.equal(fused.maps[i, 0], fused.maps[i, 1])
    assert fused_model.map_stride == 1 and fused.maps.shape == (2, 2, 4, 4)

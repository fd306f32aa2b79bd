"""Receptive-field arithmetic: small nets by hand, residual envelopes, a gradient check, wsol's backbones."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from wsol.config import config_from_dict
from wsol.models import build_model
from wsol.viz.receptive_field import ReceptiveField, envelope, receptive_field


def small_net() -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(3, 4, 3, stride=1, padding=1),
        nn.ReLU(),
        nn.Conv2d(4, 4, 3, stride=2, padding=1),
        nn.BatchNorm2d(4),
        nn.MaxPool2d(2, 2),
        nn.Conv2d(4, 4, 3, padding=1),
    )


def test_small_net_by_hand():
    net = small_net()
    # r' = r + (k-1)·d·j, j' = j·stride, s' = s + ((k-1)/2·d - p)·j, starting from r=1, j=1, s=0:
    # conv3 s1 p1: r = 1 + 2·1 = 3,  j = 1, s = 0 + (1 - 1)·1 = 0
    assert receptive_field(net, "0") == ReceptiveField((3, 3), (1, 1), (0.0, 0.0))
    # conv3 s2 p1: r = 3 + 2·1 = 5,  j = 2, s = 0
    # BatchNorm keeps them
    assert receptive_field(net, "3") == ReceptiveField((5, 5), (2, 2), (0.0, 0.0))
    # maxpool2 s2 p0: r = 5 + 1·2 = 7, j = 4, s = 0 + (0.5 - 0)·2 = 1
    assert receptive_field(net, "4") == ReceptiveField((7, 7), (4, 4), (1.0, 1.0))
    # conv3 s1 p1: r = 7 + 2·4 = 15, j = 4, s = 1 + 0 = 1
    rf = receptive_field(net, "5")
    assert rf == ReceptiveField((15, 15), (4, 4), (1.0, 1.0))
    # unit (y=2, x=3): centre (1 + 2·4, 1 + 3·4) = (9, 13), half-width 7 → y 2..16, x 6..20
    assert rf.box(2, 3) == (6, 2, 20, 16)
    # unit (0, 0): centre (1, 1) → -6..8, clipped to the image
    assert rf.box(0, 0) == (-6, -6, 8, 8)
    assert rf.box(0, 0, image_shape=(32, 32)) == (0, 0, 8, 8)
    # last unit of a 32×32 input (output 8×8): centre 1 + 7·4 = 29 → 22..36, clipped to 31
    assert rf.box(7, 7, image_shape=(32, 32)) == (22, 22, 31, 31)
    assert rf.boxes([2, 7], [3, 7], (32, 32)).tolist() == [[6, 2, 20, 16], [22, 22, 31, 31]]


def test_per_axis_dilation_and_even_kernels():
    net = nn.Sequential(
        nn.Conv2d(1, 1, (1, 7), padding=(0, 3)), nn.Conv2d(1, 1, 3, dilation=2, padding=2), nn.AvgPool2d(2)
    )
    # (1,7) p(0,3): r = (1, 7), s = (0, 0 + (3 - 3)) = (0, 0)
    # 3×3 dilation 2 pad 2: r += 2·2 → (5, 11), s += (1·2 - 2) = 0
    # avgpool 2: r += 1 → (6, 12), j = 2, s += 0.5 → (0.5, 0.5)
    rf = receptive_field(net, "2")
    assert rf == ReceptiveField((6, 12), (2, 2), (0.5, 0.5))
    # unit (1, 1): centre 2.5 → y 0..5 (6 px), x -3..8 (12 px)
    assert rf.box(1, 1) == (-3, 0, 8, 5)


class Branches(nn.Module):
    """Two branches shifted up and down, added: the union is taller than either branch."""

    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Sequential(nn.ZeroPad2d((1, 1, 2, 0)), nn.Conv2d(1, 1, 3))  # unit 0 sees rows -2..0, cols -1..1
        self.b = nn.Sequential(nn.ZeroPad2d((1, 1, 0, 2)), nn.Conv2d(1, 1, 3))  # unit 0 sees rows 0..2, cols -1..1
        self.post = nn.Conv2d(1, 1, 3, padding=1)

    def forward(self, x):
        return self.post(self.a(x) + self.b(x))


class Residual(nn.Module):
    """Bottleneck-like block: conv3 s2 → conv3 on one side, a strided 1×1 projection on the other."""

    def __init__(self) -> None:
        super().__init__()
        self.main = nn.Sequential(nn.Conv2d(1, 2, 3, stride=2, padding=1), nn.Conv2d(2, 1, 3, padding=1))
        self.shortcut = nn.Conv2d(1, 1, 1, stride=2)

    def forward(self, x):
        return torch.relu(self.main(x) + self.shortcut(x))


def test_residual_envelope():
    # main: conv3 s2 p1 → r 3, j 2, s 0; conv3 p1 → r 3 + 2·2 = 7, j 2, s 0
    # shortcut: conv1 s2 → r 1, j 2, s 0;  envelope = the larger box (same centres): r 7
    net = nn.Sequential(Residual(), Residual())
    assert receptive_field(net, "0") == ReceptiveField((7, 7), (2, 2), (0.0, 0.0))
    # second block on the j=2 grid: main adds 2·2 + 2·4 = 12 → 19, j 4
    assert receptive_field(net, "1") == ReceptiveField((19, 19), (4, 4), (0.0, 0.0))
    assert receptive_field(net, "1.shortcut") == ReceptiveField((7, 7), (4, 4), (0.0, 0.0))
    # shifted branches: a sees rows -2..0 (s_y = -1), b rows 0..2 (s_y = 1), both cols -1..1
    # → union rows -2..2 (r_y 5, s_y 0), cols r_x 3; post conv3 p1 → (7, 5)
    assert receptive_field(Branches(), "a") == ReceptiveField((3, 3), (1, 1), (-1.0, 0.0))
    assert receptive_field(Branches(), "post") == ReceptiveField((7, 5), (1, 1), (0.0, 0.0))


def test_envelope_rejects_different_jumps():
    with pytest.raises(ValueError, match="different jumps"):
        envelope([ReceptiveField((3, 3), (1, 1), (0, 0)), ReceptiveField((1, 1), (2, 2), (0, 0))])

    class Mixed(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.a, self.b = nn.Conv2d(1, 1, 1, stride=2), nn.Conv2d(1, 1, 5)  # both 8×8 → 4×4
            self.c = nn.Conv2d(1, 1, 1)

        def forward(self, x):
            return self.c(self.a(x) + self.b(x))

    assert receptive_field(Mixed(), "a").jump == (2, 2)
    with pytest.raises(ValueError, match="'c'.*different jumps"):
        receptive_field(Mixed(), "c")


def _gradient_support(net: nn.Module, layer: nn.Module, size: int, unit: tuple[int, int]) -> set:
    """Input pixels (y, x) on which one unit of ``layer``'s first channel has a non-zero gradient."""
    out = {}
    handle = layer.register_forward_hook(lambda m, a, o: out.setdefault("v", o))
    x = torch.rand(1, net_in_channels(net), size, size, dtype=torch.float64) + 0.5
    x.requires_grad_(True)
    net(x)
    handle.remove()
    (grad,) = torch.autograd.grad(out["v"][0, 0, unit[0], unit[1]], x)
    return {tuple(p) for p in (grad[0].abs().sum(0) > 0).nonzero().tolist()}


def net_in_channels(net: nn.Module) -> int:
    return next(m for m in net.modules() if isinstance(m, nn.Conv2d)).in_channels


@pytest.mark.parametrize("unit", [(3, 4), (0, 0), (7, 2)])
def test_gradient_support_equals_box(unit):
    """Positive weights, positive inputs, average pooling: every pixel of the box moves the unit, no other.

    (No dilation here: a dilated kernel on a coarse grid can skip pixels inside its box.)
    """
    torch.manual_seed(0)
    net = nn.Sequential(
        nn.Conv2d(2, 3, 3, padding=1),
        nn.Conv2d(3, 3, 3, stride=2, padding=1),
        nn.AvgPool2d(2),
        nn.Conv2d(3, 1, 3, padding=1),
        Branches(),
    ).double()
    for p in net.parameters():
        p.data.uniform_(0.1, 1.0)
    size = 32  # feature map 8×8
    for name, layer in [("3", net[3]), ("4", net[4]), ("4.a", net[4].a)]:
        rf = receptive_field(net, name)
        x0, y0, x1, y1 = rf.box(*unit, image_shape=(size, size))
        expected = {(y, x) for y in range(y0, y1 + 1) for x in range(x0, x1 + 1)}
        assert _gradient_support(net, layer, size, unit) == expected, name


def test_wsol_backbones_by_hand():
    def rf_of(backbone: str, layer: str) -> ReceptiveField:
        cfg = config_from_dict({"model": {"method": "cam", "backbone": backbone}})
        return receptive_field(build_model(cfg.model, 3), layer)

    # tiny: four conv3 p1 blocks, the first three at stride 2:
    # r = 1 + 2·1 + 2·2 + 2·4 (j 8) + 2·8 = 31, jump 8, all centres at 0
    assert rf_of("tiny", "backbone") == ReceptiveField((31, 31), (8, 8), (0.0, 0.0))
    # vgg16 without pool5: conv1 (2 convs) r 5, pool → 6 j2; conv2 +8 → 14, pool → 16 j4; conv3 +24 → 40,
    # pool → 44 j8; conv4 +48 → 92, pool → 100 j16; conv5 +96 → 196. Each pool shifts s by 0.5·j:
    # s = 0.5·(1 + 2 + 4 + 8) = 7.5
    assert rf_of("vgg16", "backbone") == ReceptiveField((196, 196), (16, 16), (7.5, 7.5))
    assert rf_of("vgg16", "backbone.stages.conv3") == ReceptiveField((44, 44), (8, 8), (3.5, 3.5))
    # resnet50 (torchvision: stride on the 3×3; wsol: layer4 at stride 1): conv7 s2 → 7 j2; maxpool3 s2 → 11 j4;
    # layer1 3×conv3 at j4 → 35; layer2 first conv3 (at j4) → 43 j8, 3 more → 91; layer3 first → 107 j16,
    # 5 more → 267; layer4 3×conv3 at j16 → 363. Every padding is (k-1)/2, so s stays 0.
    assert rf_of("resnet50", "backbone.stages.layer3") == ReceptiveField((267, 267), (16, 16), (0.0, 0.0))
    assert rf_of("resnet50", "backbone") == ReceptiveField((363, 363), (16, 16), (0.0, 0.0))


def test_acol_head_layer_and_flags_restored():
    cfg = config_from_dict(
        {"model": {"method": "acol", "backbone": "tiny", "head_width": 4, "backbone_args": {"channels": [4, 4, 4]}}}
    )
    model = build_model(cfg.model, 3).train()
    # tiny with 3 blocks: 1 + 2 + 4 + 8 = 15, j 8; head conv3 p1 at j8: 15 + 16 = 31
    assert receptive_field(model, "head_a.layers.0") == ReceptiveField((31, 31), (8, 8), (0.0, 0.0))
    assert all(m.training for m in model.modules())


def test_clear_errors():
    class Untraceable(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(1, 1, 3)

        def forward(self, x):
            return self.conv(x) if x.sum() > 0 else x

    with pytest.raises(ValueError, match="layer 'conv'.*could not trace"):
        receptive_field(Untraceable(), "conv")
    up = nn.Sequential(nn.Conv2d(1, 1, 3), nn.Upsample(scale_factor=2), nn.Conv2d(1, 1, 3))
    with pytest.raises(ValueError, match="layer '2'.*Upsample"):
        receptive_field(up, "2")
    with pytest.raises(KeyError, match="close matches"):
        receptive_field(small_net(), "6")


def test_squeeze_excitation_keeps_the_field_and_global_pooling_is_refused():
    from torchvision.ops import SqueezeExcitation

    net = nn.Sequential(
        nn.Conv2d(3, 8, 3, stride=2, padding=1),
        SqueezeExcitation(8, 2),
        nn.Conv2d(8, 8, 3, padding=1),
        nn.AdaptiveAvgPool2d(1),
    )
    # conv3 s2 p1: r 3, j 2; the SE block only rescales channels (weights from a global pool): unchanged
    assert receptive_field(net, "1") == ReceptiveField((3, 3), (2, 2), (0.0, 0.0))
    # conv3 p1 at j 2: 3 + 2·2 = 7
    assert receptive_field(net, "2") == ReceptiveField((7, 7), (2, 2), (0.0, 0.0))
    with pytest.raises(ValueError, match="layer '3'.*global pooling"):
        receptive_field(net, "3")


def test_published_values_for_torchvision_models():
    """The table of google-research/receptive_field (Araujo et al.): vgg_16 pool5 212 px, effective stride 32,
    effective padding 90; inception_v3 (Mixed_7c) 1311 px, stride 32, padding 618 (branches met by channel
    concatenation); alexnet_v2 195 px, stride 32 (its padding differs from torchvision's AlexNet)."""
    import torchvision

    vgg = torchvision.models.vgg16(weights=None)
    rf = receptive_field(vgg, "features.30")  # pool5
    assert (rf.size, rf.jump) == ((212, 212), (32, 32))
    assert rf.box(0, 0)[:2] == (-90, -90)  # effective padding: the first unit's box starts 90 px before the image
    inception = torchvision.models.inception_v3(weights=None, aux_logits=False, init_weights=False)
    rf = receptive_field(inception, "Mixed_7c")
    assert (rf.size, rf.jump, rf.box(0, 0)[:2]) == ((1311, 1311), (32, 32), (-618, -618))
    alexnet = torchvision.models.alexnet(weights=None)
    assert (receptive_field(alexnet, "features.12").size, receptive_field(alexnet, "features.12").jump) == (
        (195, 195),
        (32, 32),
    )

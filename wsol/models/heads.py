"""Class-map heads: convolutions whose last layer has one channel per class; logits = GAP of the maps.

Writing the classifier as a 1×1 convolution before global average pooling gives the same logits as
GAP → linear (Zhou et al., CVPR 2016, https://arxiv.org/abs/1512.04150) while producing the class maps
in the same pass, so no hooks are needed.
"""

from __future__ import annotations

from torch import Tensor, nn


def _init_new_layers(module: nn.Module) -> None:
    """He init for hidden convs; the class-map conv starts small (std 0.01) so initial logits are near 0."""
    convs = [m for m in module.modules() if isinstance(m, nn.Conv2d)]
    for i, m in enumerate(convs):
        if i == len(convs) - 1:
            nn.init.normal_(m.weight, std=0.01)
        else:
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        if m.bias is not None:
            nn.init.zeros_(m.bias)


class CAMHead(nn.Module):
    """``[conv3×3-width → ReLU] → conv1×1-C``; ``width=0`` is the plain 1×1 head of CAM.

    The optional 3×3 layer is wsolevaluation's conv6 for VGG16-CAM.
    """

    def __init__(self, in_channels: int, num_classes: int, width: int = 0) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        if width > 0:
            layers += [nn.Conv2d(in_channels, width, 3, padding=1), nn.ReLU(inplace=True)]
            in_channels = width
        layers.append(nn.Conv2d(in_channels, num_classes, 1))
        self.layers = nn.Sequential(*layers)
        _init_new_layers(self)

    def forward(self, features: Tensor) -> Tensor:
        return self.layers(features)


class ACoLHead(nn.Module):
    """ACoL classifier branch: conv3×3-width → ReLU → conv3×3-width → ReLU → conv1×1-C (width 1024 in the paper).

    ``batch_norm=True`` puts a BatchNorm after each hidden conv. Without it, a from-scratch head on non-negative
    features can lose most of its ReLU units in a few large steps (their pre-activations pushed below zero for
    every input), after which the branch stops learning; normalising the pre-activations keeps each unit's
    batch statistics centred, so a unit cannot stay dead.
    Zhang et al., "Adversarial Complementary Learning for WSOL", CVPR 2018, https://arxiv.org/abs/1804.06962
    """

    def __init__(self, in_channels: int, num_classes: int, width: int = 1024, batch_norm: bool = False) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        for cin in (in_channels, width):
            layers.append(nn.Conv2d(cin, width, 3, padding=1, bias=not batch_norm))
            if batch_norm:
                layers.append(nn.BatchNorm2d(width))
            layers.append(nn.ReLU(inplace=True))
        layers.append(nn.Conv2d(width, num_classes, 1))
        self.layers = nn.Sequential(*layers)
        _init_new_layers(self)

    def forward(self, features: Tensor) -> Tensor:
        return self.layers(features)


def gap_logits(maps: Tensor) -> Tensor:
    """(B, C, h, w) → (B, C): global average pooling of the class maps."""
    return maps.mean(dim=(2, 3))

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
    """``[dropout] → ([conv3×3-width → ReLU → dropout] × layers) → conv1×1-C``; ``width=0`` is CAM's plain 1×1 head.

    The 3×3 layers are wsolevaluation's extra convs: one (conv6, 1024) for VGG16, two (SPG_A3_1b/2b, 1024) for
    InceptionV3, whose CAM also drops out (p = 0.5) before each conv. Dropout modules exist only when
    ``dropout > 0``, so the parameter names of the other heads do not depend on it.
    """

    def __init__(
        self, in_channels: int, num_classes: int, width: int = 0, layers: int = 1, dropout: float = 0.0
    ) -> None:
        super().__init__()
        if layers < 1 or not 0.0 <= dropout < 1.0:
            raise ValueError(f"CAM head needs layers >= 1 and dropout in [0, 1), got {layers}, {dropout}")
        drop = [nn.Dropout(dropout)] if dropout > 0 else []
        modules: list[nn.Module] = []
        for _ in range(layers if width > 0 else 0):
            modules += [*drop, nn.Conv2d(in_channels, width, 3, padding=1), nn.ReLU(inplace=True)]
            in_channels = width
        modules += [*drop, nn.Conv2d(in_channels, num_classes, 1)]
        self.layers = nn.Sequential(*modules)
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

    def __init__(
        self, in_channels: int, num_classes: int, width: int = 1024, batch_norm: bool = False, kernel_size: int = 3
    ) -> None:
        super().__init__()
        if kernel_size < 1 or kernel_size % 2 == 0:
            raise ValueError(f"ACoL head kernel size must be odd and >= 1, got {kernel_size}")
        layers: list[nn.Module] = []
        for cin in (in_channels, width):
            layers.append(nn.Conv2d(cin, width, kernel_size, padding=kernel_size // 2, bias=not batch_norm))
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

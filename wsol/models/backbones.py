"""Feature trunks with the WSOL modifications, built from torchvision and split into named stages.

- ``vgg16``: pool5 removed (stride 16, 14×14 at 224); ``large_feature_map`` also removes pool4 (28×28).
- ``resnet50``: layer4 at stride 1 (no dilation), so stride 16, 14×14 at 224.
- ``inception_v3``: the field's layout up to Mixed_6e (768 channels, stride 16, 14×14 at 224); ``large_feature_map``
  keeps stride 8 (28×28); ``mixed7`` (BAS) appends Mixed_7a-7c.
- ``tiny``: a few conv-BN-ReLU blocks at stride 8 for the synthetic benchmark on CPU.

Each builder returns a :class:`Backbone` whose ``stages`` are named so methods can insert layers after
chosen stages (ADL). ImageNet weights never trigger a download: they are read from torchvision's file in
``torch.hub.get_dir()/checkpoints`` or from ``weights_path``; a missing file is an error that names it.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
import torchvision
from torch import Tensor, nn

from wsol.registry import Registry

BACKBONES: Registry = Registry("backbone")


class Backbone(nn.Module):
    """Sequential named stages; ``out_channels`` and ``stride`` describe the final feature map."""

    def __init__(self, stages: OrderedDict[str, nn.Module], out_channels: int, stride: int) -> None:
        super().__init__()
        self.stages = nn.Sequential(stages)
        self.out_channels = out_channels
        self.stride = stride

    def forward(self, x: Tensor, start: int = 0, stop: int | None = None) -> Tensor:
        """Run stages ``start:stop`` (all by default); BAS runs the part after its tap on its own."""
        for stage in list(self.stages)[start:stop]:
            x = stage(x)
        return x

    def forward_taps(self, x: Tensor, taps: Sequence[str]) -> tuple[Tensor, dict[str, Tensor]]:
        """The output and the intermediate outputs named in ``taps``: a stage name (its output) or
        ``"stage.i"`` (the output of child i of that stage, e.g. ``layer3.0`` = ResNet's first layer3 block)."""
        found: dict[str, Tensor] = {}
        for name, stage in self.stages.named_children():
            inner = [t for t in taps if t.startswith(name + ".")]
            if inner:
                for i, child in enumerate(stage.children()):
                    x = child(x)
                    if f"{name}.{i}" in taps:
                        found[f"{name}.{i}"] = x
            else:
                x = stage(x)
            if name in taps:
                found[name] = x
        missing = [t for t in taps if t not in found]
        if missing:
            raise KeyError(f"unknown backbone tap(s) {missing}; stages: {', '.join(self.stage_names())}")
        return x, found

    def tap_shapes(self, taps: Sequence[str], size: int = 64) -> dict[str, tuple[int, ...]]:
        """(C, h, w) of each tap for a ``size``² input, from a dry run (no grad, eval mode, flag restored)."""
        first = next(self.parameters(), None)
        device = first.device if first is not None else torch.device("cpu")
        was_training = self.training
        self.eval()
        try:
            with torch.no_grad():
                _, found = self.forward_taps(torch.zeros(1, 3, size, size, device=device), taps)
        finally:
            self.train(was_training)
        return {k: tuple(v.shape[1:]) for k, v in found.items()}

    def stage_names(self) -> list[str]:
        return [name for name, _ in self.stages.named_children()]

    def insert_after(self, stage: str, module: nn.Module) -> None:
        """Append ``module`` to the end of stage ``stage``, or after child i of a stage for ``"stage.i"``
        (used for ADL: the field puts it after ResNet's ``layer3.0``, VGG's ``conv4.5`` before pool4, ...)."""
        name, _, child = stage.partition(".")
        if name not in self.stage_names():
            raise KeyError(f"unknown backbone stage {stage!r}; known: {', '.join(self.stage_names())}")
        parent = getattr(self.stages, name)
        if not child:
            setattr(self.stages, name, nn.Sequential(parent, module))
            return
        children = [n for n, _ in parent.named_children()]
        if child not in children:
            raise KeyError(f"unknown backbone position {stage!r}; stage {name!r} has children {', '.join(children)}")
        setattr(parent, child, nn.Sequential(getattr(parent, child), module))


def pretrained_file(weights: Any, weights_path: str | None) -> Path:
    """The local file holding ``weights`` (a torchvision weights enum); checked first, never downloaded."""
    if weights_path:
        path = Path(weights_path).expanduser()
        if not path.is_file():
            raise FileNotFoundError(f"model.weights_path={weights_path!r} does not exist or is not a file")
        return path
    name = weights.url.rsplit("/", 1)[-1]
    folder = Path(torch.hub.get_dir()) / "checkpoints"
    path = folder / name
    if not path.is_file():
        raise FileNotFoundError(
            f"ImageNet weights not found: put the file {name!r} (from {weights.url}) in the folder {folder} "
            f"(torch.hub.get_dir()/checkpoints), or set model.weights_path=/path/to/{name}, "
            f"or model.pretrained=false to train from scratch"
        )
    return path


def _load_torchvision(
    model: nn.Module, weights: Any, pretrained: bool, weights_path: str | None, prefix: str = ""
) -> None:
    """Load the torchvision state dict (only its ``prefix`` part, e.g. VGG's ``features.``) into ``model``."""
    if not pretrained:
        return
    path = pretrained_file(weights, weights_path)
    state = torch.load(path, map_location="cpu", weights_only=True)
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if prefix:
        state = {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise RuntimeError(f"{path}: not a {type(model).__name__} ImageNet state dict: {exc}") from None


@BACKBONES.register("vgg16")
def vgg16(pretrained: bool = False, weights_path: str | None = None, large_feature_map: bool = False) -> Backbone:
    """VGG16 conv trunk without pool5 (and without pool4 for the 28×28 large feature map)."""
    weights = torchvision.models.VGG16_Weights.IMAGENET1K_V1
    features = torchvision.models.vgg.make_layers(torchvision.models.vgg.cfgs["D"])  # no 100M-param classifier
    _load_torchvision(features, weights, pretrained, weights_path, prefix="features.")
    stages: OrderedDict[str, nn.Module] = OrderedDict()
    block: list[nn.Module] = []
    for layer in features:
        block.append(layer)
        if isinstance(layer, nn.MaxPool2d):
            stages[f"conv{len(stages) + 1}"] = nn.Sequential(*block)
            block = []
    stages["conv5"] = nn.Sequential(*list(stages["conv5"])[:-1])  # pool5 dropped
    stride = 16
    if large_feature_map:
        stages["conv4"] = nn.Sequential(*list(stages["conv4"])[:-1])
        stride = 8
    return Backbone(stages, out_channels=512, stride=stride)


@BACKBONES.register("resnet50")
def resnet50(pretrained: bool = False, weights_path: str | None = None, large_feature_map: bool = False) -> Backbone:
    """ResNet50 trunk with layer4 at stride 1 (14×14 at 224); ``large_feature_map`` also sets layer3 stride 1."""
    weights = torchvision.models.ResNet50_Weights.IMAGENET1K_V1
    net = torchvision.models.resnet50(weights=None)
    _load_torchvision(net, weights, pretrained, weights_path)
    layers = [net.layer4] + ([net.layer3] if large_feature_map else [])
    for layer in layers:
        layer[0].conv2.stride = (1, 1)
        layer[0].downsample[0].stride = (1, 1)
    stem = nn.Sequential(net.conv1, net.bn1, net.relu, net.maxpool)
    stages = OrderedDict(stem=stem, layer1=net.layer1, layer2=net.layer2, layer3=net.layer3, layer4=net.layer4)
    return Backbone(stages, out_channels=2048, stride=8 if large_feature_map else 16)


class _InceptionBStride1(torchvision.models.inception.InceptionB):
    """Mixed_6a at stride 1: its 3×3 convs and its max pool padded by 1, so it keeps the spatial size.

    The field's InceptionV3 (wsolevaluation, after SPG) moves Mixed_6a's down-sampling to a plain max pool
    before it, which ``large_feature_map`` drops (28×28 maps instead of 14×14). Same weights as torchvision's.
    """

    def __init__(self, in_channels: int = 288) -> None:
        super().__init__(in_channels)
        for conv in (self.branch3x3.conv, self.branch3x3dbl_3.conv):
            conv.stride, conv.padding = (1, 1), (1, 1)

    def _forward(self, x: Tensor) -> list[Tensor]:
        dbl = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        return [self.branch3x3(x), dbl, F.max_pool2d(x, kernel_size=3, stride=1, padding=1)]


class _InceptionDPadded(torchvision.models.inception.InceptionD):
    """Mixed_7a with its stride-2 convs and pool padded by 1 (BAS's InceptionV3): 28×28 → 14×14 exactly."""

    def __init__(self, in_channels: int = 768) -> None:
        super().__init__(in_channels)
        for conv in (self.branch3x3_2.conv, self.branch7x7x3_4.conv):
            conv.padding = (1, 1)

    def _forward(self, x: Tensor) -> list[Tensor]:
        b3 = self.branch3x3_2(self.branch3x3_1(x))
        b7 = self.branch7x7x3_4(self.branch7x7x3_3(self.branch7x7x3_2(self.branch7x7x3_1(x))))
        return [b3, b7, F.max_pool2d(x, kernel_size=3, stride=2, padding=1)]


def _copied(module: nn.Module, source: nn.Module) -> nn.Module:
    module.load_state_dict(source.state_dict(), strict=True)
    return module


@BACKBONES.register("inception_v3")
def inception_v3(
    pretrained: bool = False, weights_path: str | None = None, large_feature_map: bool = False, mixed7: bool = False
) -> Backbone:
    """The field's InceptionV3 trunk up to Mixed_6e (768 channels): 14×14 at 224, 28×28 with ``large_feature_map``.

    As in wsolevaluation's InceptionV3: Conv2d_1a padded by 1, both stem pools 3×3/2 padded by 1 with ceil
    mode, Mixed_6a at stride 1 (:class:`_InceptionBStride1`) and a 3×3/2 ceil-mode max pool (stage ``pool5``)
    before it, an identity with ``large_feature_map``. ``mixed7`` appends Mixed_7a-7c (2048 channels, stride ×2,
    BAS's padded Mixed_7a); BAS uses it with ``large_feature_map``.
    """
    weights = torchvision.models.Inception_V3_Weights.IMAGENET1K_V1
    net = torchvision.models.inception_v3(weights=None, aux_logits=True, init_weights=False)
    _load_torchvision(net, weights, pretrained, weights_path)
    net.Conv2d_1a_3x3.conv.padding = (1, 1)
    stem = nn.Sequential(
        net.Conv2d_1a_3x3,
        net.Conv2d_2a_3x3,
        net.Conv2d_2b_3x3,
        nn.MaxPool2d(3, stride=2, padding=1, ceil_mode=True),
        net.Conv2d_3b_1x1,
        net.Conv2d_4a_3x3,
        nn.MaxPool2d(3, stride=2, padding=1, ceil_mode=True),
    )
    pool5: nn.Module = nn.Identity() if large_feature_map else nn.MaxPool2d(3, stride=2, ceil_mode=True)
    stages = OrderedDict(
        stem=stem,
        mixed5=nn.Sequential(net.Mixed_5b, net.Mixed_5c, net.Mixed_5d),
        pool5=pool5,
        mixed6a=_copied(_InceptionBStride1(288), net.Mixed_6a),
        mixed6=nn.Sequential(net.Mixed_6b, net.Mixed_6c, net.Mixed_6d, net.Mixed_6e),
    )
    stride, channels = (8 if large_feature_map else 16), 768
    if mixed7:
        stages["mixed7"] = nn.Sequential(_copied(_InceptionDPadded(768), net.Mixed_7a), net.Mixed_7b, net.Mixed_7c)
        stride, channels = stride * 2, 2048
    return Backbone(stages, out_channels=channels, stride=stride)


def _conv_block(cin: int, cout: int, stride: int, batch_norm: bool) -> nn.Sequential:
    layers: list[nn.Module] = [nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=not batch_norm)]
    if batch_norm:
        layers.append(nn.BatchNorm2d(cout))
    layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


TINY_WEIGHTS = Path(__file__).with_name("weights") / "tiny_shapes.pt"


def load_packaged_tiny_weights() -> tuple[dict[str, Tensor], dict[str, Any]]:
    """The tiny backbone's shipped weights (``wsol pretrain`` on the shapes-and-textures task) and their
    record, refused unless the file's SHA-256 equals the one the record states."""
    import hashlib
    import json

    record_path = TINY_WEIGHTS.with_suffix(".json")
    if not TINY_WEIGHTS.is_file() or not record_path.is_file():
        raise FileNotFoundError(
            f"the tiny backbone's pretrained weights are missing from the package "
            f"({TINY_WEIGHTS}); reinstall wsol or recreate them with "
            f"`wsol pretrain --out {TINY_WEIGHTS}`"
        )
    record = json.loads(record_path.read_text())
    digest = hashlib.sha256(TINY_WEIGHTS.read_bytes()).hexdigest()
    if digest != record.get("sha256"):
        raise ValueError(
            f"{TINY_WEIGHTS}: SHA-256 {digest} differs from {record.get('sha256')} in {record_path}; "
            f"the file is damaged: recreate it with `wsol pretrain --out {TINY_WEIGHTS}`"
        )
    return torch.load(TINY_WEIGHTS, map_location="cpu", weights_only=True), record


@BACKBONES.register("tiny")
def tiny(
    pretrained: bool = False,
    weights_path: str | None = None,
    large_feature_map: bool = False,
    channels: Sequence[int] = (32, 64, 128, 128),
    batch_norm: bool = True,
) -> Backbone:
    """Small CPU trunk: one conv-BN-ReLU block per stage, the first three at stride 2 (stride 8 overall);
    ``large_feature_map`` keeps the third at stride 1 (stride 4: a 16×16 map at 64 px).

    ``pretrained=True`` loads ``weights_path`` or, without it, the shipped shapes-and-textures weights
    (:func:`load_packaged_tiny_weights`; their channels must match).
    """
    channels = [int(c) for c in channels]
    if len(channels) < 3:
        raise ValueError(f"tiny backbone needs at least 3 channel entries, got {channels}")
    stages: OrderedDict[str, nn.Module] = OrderedDict()
    cin = 3
    for i, cout in enumerate(channels):
        stride = 2 if i < 3 and not (large_feature_map and i == 2) else 1
        stages[f"block{i + 1}"] = _conv_block(cin, cout, stride, batch_norm)
        cin = cout
    net = Backbone(stages, out_channels=cin, stride=4 if large_feature_map else 8)
    if pretrained:
        if weights_path:
            state = torch.load(weights_path, map_location="cpu", weights_only=True)
        else:
            state, record = load_packaged_tiny_weights()
            shipped = list(record["recipe"]["channels"])
            if shipped != channels or not batch_norm:
                raise ValueError(
                    f"the shipped tiny weights are for channels={shipped} with batch norm; the config "
                    f"asks for channels={channels}, batch_norm={batch_norm}: set "
                    f"model.backbone_args.channels={shipped} or model.pretrained=false"
                )
        net.load_state_dict(state, strict=True)
    return net

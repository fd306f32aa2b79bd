"""Feature trunks with the WSOL modifications, built from torchvision and split into named stages.

- ``vgg16``: pool5 removed (stride 16, 14×14 at 224); ``large_feature_map`` also removes pool4 (28×28).
- ``resnet50``: layer4 at stride 1 (no dilation), so stride 16, 14×14 at 224.
- ``inception_v3``: features up to Mixed_6e (768 channels).
- ``tiny``: a few conv-BN-ReLU blocks at stride 8 for the synthetic benchmark on CPU.

Each builder returns a :class:`Backbone` whose ``stages`` are named so methods can insert layers after
chosen stages (ADL). ImageNet weights never trigger a download: they are read from torchvision's file in
``torch.hub.get_dir()/checkpoints`` or from ``weights_path``; a missing file is an error that names it.
"""

from __future__ import annotations

from collections import OrderedDict
from pathlib import Path
from typing import Any, Sequence

import torch
import torchvision
from torch import Tensor, nn

from wsol.registry import Registry

BACKBONES: Registry = Registry("backbone")


class Backbone(nn.Module):
    """Sequential named stages; ``out_channels`` and ``stride`` describe the final feature map."""

    def __init__(self, stages: "OrderedDict[str, nn.Module]", out_channels: int, stride: int) -> None:
        super().__init__()
        self.stages = nn.Sequential(stages)
        self.out_channels = out_channels
        self.stride = stride

    def forward(self, x: Tensor) -> Tensor:
        return self.stages(x)

    def stage_names(self) -> list[str]:
        return [name for name, _ in self.stages.named_children()]

    def insert_after(self, stage: str, module: nn.Module) -> None:
        """Append ``module`` to the end of stage ``stage`` (used for ADL); unknown names list the known ones."""
        if stage not in self.stage_names():
            raise KeyError(f"unknown backbone stage {stage!r}; known: {', '.join(self.stage_names())}")
        old = getattr(self.stages, stage)
        setattr(self.stages, stage, nn.Sequential(old, module))


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
            f"or model.pretrained=false to train from scratch")
    return path


def _load_torchvision(model: nn.Module, weights: Any, pretrained: bool, weights_path: str | None,
                      prefix: str = "") -> None:
    """Load the torchvision state dict (only its ``prefix`` part, e.g. VGG's ``features.``) into ``model``."""
    if not pretrained:
        return
    path = pretrained_file(weights, weights_path)
    state = torch.load(path, map_location="cpu", weights_only=True)
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if prefix:
        state = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
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


@BACKBONES.register("inception_v3")
def inception_v3(pretrained: bool = False, weights_path: str | None = None,
                 large_feature_map: bool = False) -> Backbone:
    """InceptionV3 trunk up to Mixed_6e (768 channels, 12×12 at 224)."""
    if large_feature_map:
        raise ValueError("inception_v3 has no large_feature_map variant; set model.large_feature_map=false")
    weights = torchvision.models.Inception_V3_Weights.IMAGENET1K_V1
    net = torchvision.models.inception_v3(weights=None, aux_logits=True, init_weights=False)
    _load_torchvision(net, weights, pretrained, weights_path)
    stem = nn.Sequential(net.Conv2d_1a_3x3, net.Conv2d_2a_3x3, net.Conv2d_2b_3x3, net.maxpool1,
                         net.Conv2d_3b_1x1, net.Conv2d_4a_3x3, net.maxpool2)
    stages = OrderedDict(stem=stem, mixed5=nn.Sequential(net.Mixed_5b, net.Mixed_5c, net.Mixed_5d),
                         mixed6a=net.Mixed_6a,
                         mixed6=nn.Sequential(net.Mixed_6b, net.Mixed_6c, net.Mixed_6d, net.Mixed_6e))
    return Backbone(stages, out_channels=768, stride=16)


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
        raise FileNotFoundError(f"the tiny backbone's pretrained weights are missing from the package "
                                f"({TINY_WEIGHTS}); reinstall wsol or recreate them with "
                                f"`wsol pretrain --out {TINY_WEIGHTS}`")
    record = json.loads(record_path.read_text())
    digest = hashlib.sha256(TINY_WEIGHTS.read_bytes()).hexdigest()
    if digest != record.get("sha256"):
        raise ValueError(f"{TINY_WEIGHTS}: SHA-256 {digest} differs from {record.get('sha256')} in {record_path}; "
                         f"the file is damaged: recreate it with `wsol pretrain --out {TINY_WEIGHTS}`")
    return torch.load(TINY_WEIGHTS, map_location="cpu", weights_only=True), record


@BACKBONES.register("tiny")
def tiny(pretrained: bool = False, weights_path: str | None = None, large_feature_map: bool = False,
         channels: Sequence[int] = (32, 64, 128, 128), batch_norm: bool = True) -> Backbone:
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
                raise ValueError(f"the shipped tiny weights are for channels={shipped} with batch norm; the config "
                                 f"asks for channels={channels}, batch_norm={batch_norm}: set "
                                 f"model.backbone_args.channels={shipped} or model.pretrained=false")
        net.load_state_dict(state, strict=True)
    return net

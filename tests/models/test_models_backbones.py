"""Backbone modifications (strides, channels) and the ImageNet-weights lookup that never downloads."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

from wsol.models import BACKBONES
from wsol.models.backbones import pretrained_file


@pytest.mark.parametrize(
    "name, size, large, channels, side",
    [
        ("tiny", 64, False, 128, 8),
        ("tiny", 64, True, 128, 16),
        ("vgg16", 64, False, 512, 4),
        ("vgg16", 64, True, 512, 8),
        ("resnet50", 64, False, 2048, 4),
        ("inception_v3", 224, False, 768, 14),
        ("inception_v3", 224, True, 768, 28),
        ("inception_v3", 64, False, 768, 4),
    ],
)
def test_backbone_feature_maps(name, size, large, channels, side):
    net = BACKBONES.get(name)(pretrained=False, large_feature_map=large).eval()
    with torch.no_grad():
        out = net(torch.randn(1, 3, size, size))
    assert out.shape == (1, channels, side, side)
    assert net.out_channels == channels
    assert size // net.stride == side


def test_vgg16_has_no_pool5():
    net = BACKBONES.get("vgg16")()
    pools = [m for m in net.modules() if isinstance(m, torch.nn.MaxPool2d)]
    assert len(pools) == 4
    assert [n for n, _ in net.stages.named_children()] == ["conv1", "conv2", "conv3", "conv4", "conv5"]
    assert sum(isinstance(m, torch.nn.Conv2d) for m in net.modules()) == 13
    assert (
        len([m for m in BACKBONES.get("vgg16")(large_feature_map=True).modules() if isinstance(m, torch.nn.MaxPool2d)])
        == 3
    )


def test_missing_imagenet_weights_name_the_file_and_folder(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))

    def no_download(*args, **kwargs):
        raise AssertionError("a download was attempted")

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", no_download)
    monkeypatch.setattr(torch.hub, "download_url_to_file", no_download)
    with pytest.raises(FileNotFoundError) as info:
        BACKBONES.get("resnet50")(pretrained=True)
    message = str(info.value)
    assert "resnet50-0676ba61.pth" in message and str(tmp_path / "checkpoints") in message
    assert "pretrained=false" in message
    with pytest.raises(FileNotFoundError, match="model.weights_path"):
        BACKBONES.get("vgg16")(pretrained=True, weights_path=str(tmp_path / "nope.pth"))


def test_weights_found_in_hub_cache(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    fake = SimpleNamespace(url="https://example.invalid/models/foo-1234.pth")
    (tmp_path / "checkpoints").mkdir()
    (tmp_path / "checkpoints" / "foo-1234.pth").write_bytes(b"x")
    assert pretrained_file(fake, None) == tmp_path / "checkpoints" / "foo-1234.pth"


def test_vgg16_imagenet_file_layout_loads(tmp_path):
    """A file in torchvision's VGG16 layout (features.* + classifier.*) loads into the conv trunk."""
    import torchvision

    torch.manual_seed(0)
    features = torchvision.models.vgg.make_layers(torchvision.models.vgg.cfgs["D"])
    state = {f"features.{k}": v for k, v in features.state_dict().items()}
    state["classifier.0.weight"] = torch.zeros(2, 2)
    torch.save(state, tmp_path / "vgg16.pth")
    net = BACKBONES.get("vgg16")(pretrained=True, weights_path=str(tmp_path / "vgg16.pth"))
    assert torch.equal(net.stages.conv1[0].weight, features[0].weight)
    assert torch.equal(net.stages.conv5[-2].weight, features[28].weight)


def test_weights_path_loads_into_the_backbone(tmp_path):
    torch.manual_seed(0)
    source = BACKBONES.get("tiny")(channels=(8, 8, 8))
    torch.save(source.state_dict(), tmp_path / "tiny.pth")
    loaded = BACKBONES.get("tiny")(pretrained=True, weights_path=str(tmp_path / "tiny.pth"), channels=(8, 8, 8))
    for (k, a), b in zip(source.state_dict().items(), loaded.state_dict().values()):
        assert torch.equal(a, b), k
    with pytest.raises(ValueError, match="shipped tiny weights are for channels"):
        BACKBONES.get("tiny")(pretrained=True, channels=(8, 8, 8))  # the shipped file is for other channels


def test_insert_after_a_child_of_a_stage():
    """``stage.i`` puts the module right after child i (wsolevaluation's ADL after ResNet's layer3.0, or after
    VGG16's conv4_3 ReLU, before pool4); the output is that of the module applied at that point."""
    torch.manual_seed(0)
    net = BACKBONES.get("tiny")(channels=(4, 4, 4)).eval()
    x = torch.randn(1, 3, 16, 16)
    mid = net.stages.block2(net.stages.block1(x))
    net.insert_after("block2.1", torch.nn.Tanh())  # after block2's BN, before its ReLU
    expected = net.stages.block3(
        torch.relu(torch.tanh(net.stages.block2[1][0](net.stages.block2[0](net.stages.block1(x)))))
    )
    assert torch.allclose(net(x), expected)
    assert not torch.allclose(net.stages.block2(net.stages.block1(x)), mid)
    vgg = BACKBONES.get("vgg16")()
    vgg.insert_after("conv4.5", torch.nn.Identity())
    assert isinstance(vgg.stages.conv4[5][0], torch.nn.ReLU) and isinstance(vgg.stages.conv4[6], torch.nn.MaxPool2d)
    with pytest.raises(KeyError, match="has children"):
        net.insert_after("block1.7", torch.nn.Identity())

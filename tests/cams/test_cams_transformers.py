"""Explainers on transformers: ViT token grids and Swin channels-last blocks agree with pytorch-grad-cam given
the matching ``reshape_transform``; layouts are detected or declared, never guessed."""

from __future__ import annotations

import os

import pytest
import torch
import torchvision
from torch import nn

from wsol.cams import EigenCAM, GradCAM, LayerCAM
from wsol.cams.hooks import find_target_layer
from wsol.cams.layout import detect_layout, token_grid

os.environ.setdefault("TQDM_DISABLE", "1")
VIT_LN = "encoder.layers.encoder_layer_11.ln_1"


def vit_tokens(x):  # pytorch-grad-cam's documented ViT transform: drop the class token, fold 14x14
    return x[:, 1:].reshape(x.shape[0], 14, 14, x.shape[2]).permute(0, 3, 1, 2)


@pytest.fixture(scope="module")
def vit():
    torch.manual_seed(0)
    model = torchvision.models.vit_b_16(weights=None, num_classes=5).eval()
    nn.init.normal_(model.heads.head.weight, std=0.05)  # torchvision zero-initialises the head: all maps blank
    return model


@pytest.fixture(scope="module")
def swin():
    torch.manual_seed(0)
    return torchvision.models.swin_t(weights=None, num_classes=5).eval()


@pytest.fixture(scope="module")
def image():
    torch.manual_seed(3)
    return torch.randn(1, 3, 224, 224)


def theirs(model, layer, image, cls, transform):
    pgc = pytest.importorskip("pytorch_grad_cam", reason="optional: pip install --no-deps grad-cam ttach")
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

    cam = pgc.GradCAM(model=model, target_layers=[layer], reshape_transform=transform)
    try:
        return torch.from_numpy(cam(input_tensor=image, targets=[ClassifierOutputTarget(cls)]))
    finally:
        cam.activations_and_grads.release()


@pytest.mark.optional
def test_cams_vit_tokens_match_pytorch_grad_cam(vit, image):
    layer = vit.encoder.layers[-1].ln_1
    ref = theirs(vit, layer, image, 2, vit_tokens)
    ours = GradCAM(vit, [layer])
    maps = ours(image, [2], upsample="cv2-bilinear").maps
    assert ours.layouts == {VIT_LN: "tokens"}  # detected: 197 = 1 class token + 14 x 14
    assert ref.abs().max() > 0.5 and (maps - ref).abs().max() < 1e-4
    declared = GradCAM(vit, VIT_LN, reshape_transform=token_grid(1, (14, 14)))(image, [2], upsample="cv2-bilinear")
    assert (declared.maps - ref).abs().max() < 1e-4


@pytest.mark.optional
def test_cams_swin_channels_last_matches_pytorch_grad_cam(swin, image):
    ref = theirs(swin, swin.features[-1], image, 1, lambda x: x.permute(0, 3, 1, 2))
    ours = GradCAM(swin, "features")
    maps = ours(image, [1], upsample="cv2-bilinear").maps
    assert ours.layouts == {"features": "channels_last"}  # (1, 7, 7, 768): 768 cannot be a width of 224 px
    assert ref.abs().max() > 0.5 and (maps - ref).abs().max() < 1e-4
    # reading it channels-first (what happened before layouts) gives another map
    wrong = GradCAM(swin, "features", reshape_transform="channels_first")(image, [1], upsample="cv2-bilinear").maps
    assert (wrong - ref).abs().max() > 0.1


def test_cams_automatic_layer_skips_patch_embedding_and_class_token_outputs(vit, swin, image):
    assert find_target_layer(vit, image) == VIT_LN  # not conv_proj, not the blocks fed to the head via [CLS]
    assert find_target_layer(swin, image) == "permute"  # (1, 768, 7, 7) after the final norm
    explainer = LayerCAM(vit)
    assert explainer(image).maps.shape == (1, 224, 224) and explainer.layers == [VIT_LN]


def test_cams_class_token_only_layer_and_non_spatial_layer_are_refused(vit, swin, image):
    with pytest.raises(ValueError, match="prefix \\(class\\) tokens only"):
        GradCAM(vit, vit.encoder.layers[-1])(image)
    with pytest.raises(ValueError, match="layer 'heads' has no spatial output"):
        GradCAM(vit, "heads")(image)
    with pytest.raises(ValueError, match="layer 'flatten' has no spatial output"):
        EigenCAM(swin, "flatten")(image)
    with pytest.raises(ValueError, match="not a submodule"):
        GradCAM(vit, [nn.Linear(2, 2)])


def test_cams_layout_rules():
    assert detect_layout((2, 512, 7, 7), (224, 224)) == "channels_first"
    assert detect_layout((2, 7, 7, 768), (224, 224)) == "channels_last"
    assert detect_layout((2, 2048, 8, 8), (299, 299)) == "channels_first"  # valid convolutions lose a cell
    assert detect_layout((2, 197, 768), (224, 224)) == "tokens"
    assert detect_layout((2, 198, 384), (224, 224)) == "tokens"  # DeiT: class + distillation tokens
    assert detect_layout((2, 392, 64), (224, 448)) == "tokens"  # 14 x 28 grid, no prefix
    with pytest.raises(ValueError, match="several split"):
        detect_layout((2, 2, 8), (32, 32))  # 1 + 1x1 or a 1x2 grid: undecidable
    with pytest.raises(ValueError, match="no split"):
        detect_layout((2, 201, 8), (224, 224))  # 4 register tokens + class token: declare it
    with pytest.raises(ValueError, match="neither"):
        detect_layout((2, 64, 3, 90), (96, 96))
    grid = token_grid(1, (2, 3))(torch.arange(14.0).view(1, 7, 2))
    assert grid.shape == (1, 2, 2, 3) and grid[0, 1].tolist() == [[3, 5, 7], [9, 11, 13]]


def test_cams_modules_accepted_as_layers(image):
    torch.manual_seed(0)
    model = torchvision.models.resnet18(weights=None, num_classes=4).eval()
    small = image[:, :, :64, :64]
    by_module = GradCAM(model, [model.layer4[-1]])
    assert by_module.layers == ["layer4.1"]
    assert torch.equal(by_module(small, [1]).maps, GradCAM(model, "layer4.1")(small, [1]).maps)


@pytest.mark.optional
def test_cams_convnext_channels_last_inside_a_block_matches_pytorch_grad_cam():
    torch.manual_seed(0)
    model = torchvision.models.convnext_tiny(weights=None, num_classes=4).eval()
    image = torch.randn(1, 3, 96, 96)
    layer = model.features[7][2].block[4]  # the block's GELU between its Linears: (1, 3, 3, 3072), channels-last
    ref = theirs(model, layer, image, 3, lambda x: x.permute(0, 3, 1, 2))
    ours = GradCAM(model, [layer])
    maps = ours(image, [3], upsample="cv2-bilinear").maps
    assert list(ours.layouts.values()) == ["channels_last"]
    assert ref.abs().max() > 0.5 and (maps - ref).abs().max() < 1e-4


def test_cams_automatic_layer_choice_works_inside_inference_mode(vit, image):
    with torch.inference_mode():
        assert find_target_layer(vit, image) == VIT_LN
        maps = EigenCAM(vit)(image).maps  # a gradient-free explainer, as an evaluation loop would run it
    assert maps.shape == (1, 224, 224)

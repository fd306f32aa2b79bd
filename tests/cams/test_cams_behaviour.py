"""Fast paths against slow obvious ones, layer choice and fusion, targets, differentiable mode."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
import torchvision

from wsol.cams import (
    GradCAM,
    GradCAMPlusPlus,
    HiResCAM,
    Occlusion,
    ScoreCAM,
    SmoothGrad,
    SoftmaxTarget,
    find_target_layer,
)
from wsol.cams.postprocess import minmax


def test_cams_auto_layer_is_last_spatial_block(tiny, images):
    assert find_target_layer(tiny, images) == "features"
    resnet = torchvision.models.resnet18(weights=None, num_classes=4).eval()
    x = torch.randn(2, 3, 64, 64)
    assert find_target_layer(resnet, x) == "layer4"  # avgpool's 1x1 output is not spatial
    cam = GradCAM(resnet)
    assert cam(x).maps.shape == (2, 64, 64) and cam.layers == ["layer4"]


def slow_scorecam(model, images, layer, classes):
    """Score-CAM one masked image at a time, straight from the paper / pytorch-grad-cam conventions."""
    acts = {}
    handle = dict(model.named_modules())[layer].register_forward_hook(lambda m, a, o: acts.update(a=o.detach()))
    with torch.no_grad():
        model(images)
        handle.remove()
        out = []
        for b in range(images.shape[0]):
            a = acts["a"][b]
            scores = []
            for c in range(a.shape[0]):
                up = F.interpolate(a[c][None, None], size=images.shape[-2:], mode="bilinear", align_corners=True)
                up = (up - up.min()) / (up.max() - up.min() + 1e-8)
                scores.append(model(images[b : b + 1] * up)[0, classes[b]])
            w = torch.softmax(torch.stack(scores), 0)
            out.append(torch.relu((w[:, None, None] * a).sum(0)))
    return torch.stack(out)


def test_cams_scorecam_batched_equals_slow_loop(tiny, images):
    with torch.no_grad():
        tiny.features[2].bias[0] = -1e3  # channel 0 dead after BN+ReLU: exercises the shared blank forward
    classes = [0, 2, 1]
    expected = slow_scorecam(tiny, images, "features", classes)
    for batch_size in (1, 5, 1000):
        got = ScoreCAM(tiny, "features", batch_size=batch_size)(images, classes, normalize=False, size="feature")
        assert torch.allclose(got.maps, expected, atol=1e-5), batch_size


def slow_occlusion(model, images, cls, window, stride):
    h, w = images.shape[-2:]
    ys = list(range(0, h - window + 1, stride)) + ([h - window] if (h - window) % stride else [])
    xs = list(range(0, w - window + 1, stride)) + ([w - window] if (w - window) % stride else [])
    total, count = torch.zeros(h, w), torch.zeros(h, w)
    with torch.no_grad():
        clean = model(images)[0, cls]
        for y in ys:
            for x in xs:
                occluded = images.clone()
                occluded[..., y : y + window, x : x + window] = 0
                total[y : y + window, x : x + window] += clean - model(occluded)[0, cls]
                count[y : y + window, x : x + window] += 1
    return total / count


def test_cams_occlusion_batched_equals_slow_loop(tiny, images):
    x = images[:1]  # 12x12, window 5 stride 3: starts 0, 3, 6 and the flush 7
    expected = slow_occlusion(tiny, x, 2, 5, 3)
    got = Occlusion(tiny, window=5, stride=3, batch_size=7)(x, 2, normalize=False).maps[0]
    assert torch.allclose(got, expected, atol=1e-5)


def test_cams_layer_fusion(tiny, images):
    one = GradCAM(tiny, "features.1")(images, 0, size="feature").maps
    two = GradCAM(tiny, "features")(images, 0, size="feature").maps
    fused = GradCAM(tiny, ["features.1", "features"], fuse="max")(images, 0, size="feature").maps
    assert torch.allclose(fused, minmax(torch.maximum(one, two)), atol=1e-6)
    mean = GradCAM(tiny, ["features.1", "features"])(images, 0, size="feature").maps
    assert torch.allclose(mean, minmax((one + two) / 2), atol=1e-6)


def test_cams_targets_forms(tiny, images):
    cam = GradCAM(tiny)
    pred = cam(images)
    assert torch.equal(pred.classes, pred.logits.argmax(1))
    assert torch.allclose(pred.maps, cam(images, pred.classes.tolist()).maps)
    multi = cam(images, torch.tensor([[0, 1], [1, 2], [2, 0]]))
    assert multi.maps.shape == (3, 2, 12, 12) and multi.classes.shape == (3, 2)
    for k in range(2):
        assert torch.allclose(multi.maps[:, k], cam(images, multi.classes[:, k]).maps, atol=1e-6)
    same = cam(images, 1).maps
    assert torch.allclose(same, cam(images, [1, 1, 1]).maps)
    # a custom callable: the logit of class 1 minus class 0, one map per sample
    diff = cam(images, lambda logits, sample: logits[:, 1] - logits[:, 0])
    assert diff.maps.shape == (3, 12, 12) and torch.equal(diff.classes, torch.full((3,), -1))
    soft = cam(images, SoftmaxTarget(torch.tensor([[0], [1], [2]])))
    assert soft.maps.shape == (3, 12, 12)


def test_cams_fast_path_equals_full_graph_and_differentiable_mode(tiny, images):
    for method in (GradCAM, GradCAMPlusPlus, HiResCAM):
        fast = method(tiny, "features.2")(images, [0, 1, 2], normalize=False).maps
        tiny.train()
        tiny.features[3].eval()  # BN in eval so both paths see the same statistics
        diff = method(tiny, "features.2")(images, [0, 1, 2], normalize=False, differentiable=True)
        assert tiny.training, "differentiable mode keeps the caller's train mode"
        tiny.eval()
        assert diff.maps.requires_grad
        assert torch.allclose(diff.maps, fast, atol=1e-5), method.__name__
    grads = torch.autograd.grad(diff.maps.sum(), list(tiny.parameters()), allow_unused=True)
    named = dict(zip([n for n, _ in tiny.named_parameters()], grads))
    assert named["features.0.weight"] is not None and named["features.0.weight"].abs().sum() > 0
    assert all(p.grad is None for p in tiny.parameters())


def test_cams_smoothgrad_without_noise_equals_base(tiny, images):
    base = GradCAM(tiny, "features")(images, [0, 1, 2], normalize=False).maps
    smooth = SmoothGrad(tiny, "features", base="gradcam", samples=3, noise_level=0.0, batch_size=4)
    assert torch.allclose(smooth(images, [0, 1, 2], normalize=False).maps, base, atol=1e-6)
    noisy = SmoothGrad(tiny, "features", base="gradcam", samples=3, noise_level=0.2, seed=3)
    first, again = noisy(images, [0, 1, 2]).maps, noisy(images, [0, 1, 2]).maps
    assert torch.equal(first, again) and not torch.allclose(first, minmax(base))


@pytest.mark.parametrize("upsample", ["bilinear", "bicubic", "nearest", "cv2-bilinear"])
def test_cams_sizes_and_upsampling(tiny, images, upsample):
    cam = GradCAM(tiny, "features")
    feature = cam(images, 0, size="feature", upsample=upsample).maps
    assert feature.shape == (3, 12, 12)
    out = cam(images, 0, size=(20, 16), upsample=upsample).maps
    assert out.shape == (3, 20, 16)
    assert float(out.amin()) >= 0 and float(out.amax()) <= 1 + 1e-6

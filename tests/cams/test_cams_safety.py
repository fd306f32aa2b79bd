"""Hook safety: no hooks left (also after errors), train/eval flags restored, parameter .grad untouched,
memory flat over 1,000 calls, clear errors for bad input."""

from __future__ import annotations

import gc

import pytest
import torch

from wsol.cams import CAM_METHODS, GradCAM, ScoreCAM, build_explainer

FAST_KW = {"scorecam": {"batch_size": 32}, "smoothgrad": {"samples": 2}, "occlusion": {"window": 6, "stride": 6}}


def hook_counts(model: torch.nn.Module) -> int:
    return sum(
        len(m._forward_hooks) + len(m._forward_pre_hooks) + len(m._backward_hooks) + len(m._backward_pre_hooks)
        for m in model.modules()
    )


@pytest.mark.parametrize("name", CAM_METHODS.names())
def test_cams_no_hooks_flags_or_grads_changed(tiny, images, name):
    tiny.train()
    tiny.features[3].eval()  # a mixed state must come back exactly
    flags = [m.training for m in tiny.modules()]
    for p in tiny.parameters():
        p.grad = torch.full_like(p, 7.0)
    before = [p.grad.clone() for p in tiny.parameters()]
    with build_explainer(name, tiny, model_mode="eval", **FAST_KW.get(name, {})) as explainer:
        out = explainer(images)
    assert out.maps.shape == (3, 12, 12) and not out.maps.requires_grad
    assert hook_counts(tiny) == 0
    assert [m.training for m in tiny.modules()] == flags
    assert all(torch.equal(p.grad, b) for p, b in zip(tiny.parameters(), before))


@pytest.mark.parametrize("name", ["gradcam", "scorecam", "guided_backprop", "occlusion", "cam"])
def test_cams_hooks_removed_when_the_call_raises(tiny, images, name):
    explainer = build_explainer(name, tiny, "features", **FAST_KW.get(name, {}))
    tiny.train()
    tiny.boom = True
    with pytest.raises(RuntimeError, match="boom"):
        with explainer:  # __exit__ must not swallow the error
            explainer(images)
    assert hook_counts(tiny) == 0
    assert all(m.training for m in tiny.modules())


def test_cams_eval_during_call_and_grad_none_stays_none(tiny, images):
    seen = []
    tiny.fc.register_forward_pre_hook(lambda m, a: seen.append(m.training))
    tiny.train()
    GradCAM(tiny)(images)
    assert seen and not any(seen) and tiny.training
    assert all(p.grad is None for p in tiny.parameters())
    tiny.fc._forward_pre_hooks.clear()


def test_cams_memory_flat_over_1000_calls(tiny):
    """Neither live tensors nor Python objects accumulate (nothing is kept between calls)."""
    x = torch.randn(2, 3, 6, 6)
    explainer = GradCAM(tiny, "features")
    for _ in range(20):
        explainer(x, [0, 1])
    gc.collect()
    objects_before = len(gc.get_objects())
    tensors_before = sum(issubclass(type(o), torch.Tensor) for o in gc.get_objects())
    for _ in range(1000):
        explainer(x, [0, 1])
    gc.collect()
    assert sum(issubclass(type(o), torch.Tensor) for o in gc.get_objects()) <= tensors_before
    assert len(gc.get_objects()) - objects_before < 100
    assert hook_counts(tiny) == 0


def test_cams_unknown_layer_lists_candidates(tiny):
    with pytest.raises(KeyError, match=r"'feature'.*close matches.*'features'.*top-level layers"):
        GradCAM(tiny, "feature")


def test_cams_non_spatial_layer_is_refused(tiny, images):
    with pytest.raises(ValueError, match=r"layer 'fc' has no spatial output: got \(3, 3\)"):
        GradCAM(tiny, "fc")(images)


def test_cams_class_out_of_range(tiny, images):
    with pytest.raises(ValueError, match=r"out of range.*\[0, 3\].*3 classes"):
        GradCAM(tiny)(images, [0, 1, 3])
    with pytest.raises(ValueError, match="list of 3 ints"):
        GradCAM(tiny)(images, [0, 1])


def test_cams_wrong_mode_errors(tiny, images):
    tiny.train()
    with pytest.raises(ValueError, match="training mode"):
        GradCAM(tiny, model_mode="keep")(images)
    tiny.eval()
    with torch.inference_mode(), pytest.raises(RuntimeError, match="inference_mode"):
        GradCAM(tiny)(images)
    with torch.no_grad(), pytest.raises(RuntimeError, match="no_grad"):
        GradCAM(tiny)(images, differentiable=True)
    with pytest.raises(ValueError, match="no differentiable mode"):
        ScoreCAM(tiny)(images, differentiable=True)
    with torch.no_grad():  # plain gradient maps work inside no_grad (evaluation loops)
        assert GradCAM(tiny)(images).maps.shape == (3, 12, 12)
    assert hook_counts(tiny) == 0


def test_cams_bad_images_and_options(tiny, images):
    with pytest.raises(ValueError, match=r"\(B, C, H, W\)"):
        GradCAM(tiny)(images[0])
    with pytest.raises(ValueError, match="upsample must be one of"):
        GradCAM(tiny)(images, upsample="area")
    with pytest.raises(ValueError, match="size must be"):
        GradCAM(tiny)(images, size="huge")

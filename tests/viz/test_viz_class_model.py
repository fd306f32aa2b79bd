"""Class-model visualisation: ascent raises every class score, L2 shrinks the image, the model is untouched,
seeded runs repeat, and the blur is a true Gaussian blur."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from wsol.engine.checkpoint import load_model
from wsol.fileio import atomic_torch_save
from wsol.viz.class_model import (
    class_model_images,
    gaussian_blur,
    gaussian_kernel1d,
    render_class_models,
    stretch_contrast,
    valid_range,
)


def strengthen(model: torch.nn.Module) -> torch.nn.Module:
    """Give the fixture CAM "trained-like" numbers: its fresh BatchNorms (zero bias → every ReLU dead at the
    mean image) and its std-0.01 class-map conv (logits ~1e-3) are re-drawn, seeded, so scores are O(1)."""
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.bias.copy_(torch.rand(m.bias.shape, generator=gen) * 0.5)
                m.running_var.copy_(torch.rand(m.running_var.shape, generator=gen) + 0.5)
        model.head.layers[0].weight.normal_(0, 1, generator=gen)
    return model


@pytest.fixture(scope="module")
def tiny_model(viz_checkpoint):
    return strengthen(load_model(str(viz_checkpoint))[0].eval())


@pytest.mark.parametrize("init", ["mean", "noise"])
def test_ascent_raises_every_class_score(tiny_model, init):
    res = class_model_images(tiny_model, [0, 1, 2], size=32, steps=25, lr=0.1, l2=0.0, init=init)
    assert res.images.shape == (3, 3, 32, 32) and res.scores.shape == (26, 3)
    gain = res.scores[-1] - res.scores[0]
    assert (gain > 1.0).all(), gain
    # the last row is the score of the returned images, measured independently here
    with torch.no_grad():
        again = tiny_model(res.images).logits[torch.arange(3), res.classes]
    torch.testing.assert_close(again, res.scores[-1], rtol=1e-4, atol=1e-4)
    low, high = valid_range()
    assert (res.images >= low - 1e-6).all() and (res.images <= high + 1e-6).all()


def test_l2_penalty_shrinks_the_image(tiny_model):
    free = class_model_images(tiny_model, [0, 1, 2], size=32, steps=40, lr=0.1, l2=0.0)
    tight = class_model_images(tiny_model, [0, 1, 2], size=32, steps=40, lr=0.1, l2=1.0)
    free_norm = free.images.flatten(1).norm(dim=1)
    tight_norm = tight.images.flatten(1).norm(dim=1)
    assert (tight_norm < 0.5 * free_norm).all(), (tight_norm, free_norm)


def test_model_parameters_grads_and_mode_untouched(tiny_model):
    model = tiny_model
    model.train()  # the ascent must run in eval and hand the model back in train mode
    before = {k: v.clone() for k, v in model.state_dict().items()}
    class_model_images(model, [2, 0], size=32, steps=5, jitter=2, blur_every=2)
    assert model.training and all(m.training for m in model.modules())
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)  # BN running stats included
    assert all(p.grad is None for p in model.parameters())
    assert all(not m._forward_hooks for m in model.modules())
    model.eval()


def test_blur_regulariser_smooths_the_images(tiny_model):
    def total_variation(x: torch.Tensor) -> float:
        return float((x[..., 1:, :] - x[..., :-1, :]).abs().mean() + (x[..., 1:] - x[..., :-1]).abs().mean())

    sharp = class_model_images(tiny_model, [0, 1, 2], size=32, steps=20, l2=0.0)
    smooth = class_model_images(tiny_model, [0, 1, 2], size=32, steps=20, l2=0.0, blur_every=1, blur_sigma=1.0)
    assert total_variation(smooth.images) < 0.5 * total_variation(sharp.images)


def test_same_seed_same_images(tiny_model):
    kw = dict(size=32, steps=8, init="noise", jitter=3, blur_every=3, blur_sigma=0.7)
    a = class_model_images(tiny_model, [0, 1], seed=5, **kw)
    b = class_model_images(tiny_model, [0, 1], seed=5, **kw)
    c = class_model_images(tiny_model, [0, 1], seed=6, **kw)
    assert torch.equal(a.images, b.images) and torch.equal(a.scores, b.scores)
    assert not torch.equal(a.images, c.images)


def test_dead_start_warns(viz_checkpoint):
    fresh = load_model(str(viz_checkpoint))[0].eval()  # zero BN bias: all ReLUs are 0 at the mean image
    with pytest.warns(UserWarning, match="gradient is exactly zero"):
        res = class_model_images(fresh, [0], size=32, steps=2)
    assert torch.equal(res.images, torch.zeros_like(res.images))


def test_bad_classes_and_settings_are_refused(tiny_model):
    with pytest.raises(ValueError, match=r"classes must be .* in \[0, 3\)"):
        class_model_images(tiny_model, [3], size=32, steps=1)
    with pytest.raises(ValueError, match="lr > 0"):
        class_model_images(tiny_model, [0], size=32, lr=0)


def slow_blur(img: np.ndarray, sigma: float) -> np.ndarray:
    """2-D Gaussian sum over the window, borders replicated by clamping indices: pixel by pixel."""
    r = max(1, math.ceil(3 * sigma))
    h, w = img.shape
    out = np.zeros_like(img, dtype=np.float64)
    for y in range(h):
        for x in range(w):
            acc, total = 0.0, 0.0
            for dy in range(-r, r + 1):
                for dx in range(-r, r + 1):
                    wgt = math.exp(-(dx * dx + dy * dy) / (2 * sigma * sigma))
                    acc += wgt * img[min(max(y + dy, 0), h - 1), min(max(x + dx, 0), w - 1)]
                    total += wgt
            out[y, x] = acc / total
    return out


@pytest.mark.parametrize("sigma", [0.5, 1.3])
def test_blur_is_a_gaussian_blur(sigma):
    img = torch.rand(1, 2, 7, 9, generator=torch.Generator().manual_seed(1))
    fast = gaussian_blur(img, sigma)
    for ch in range(2):
        np.testing.assert_allclose(
            fast[0, ch].numpy(), slow_blur(img[0, ch].numpy().astype(np.float64), sigma), atol=1e-5
        )
    assert gaussian_kernel1d(sigma).sum().item() == pytest.approx(1.0)
    const = torch.full((1, 1, 5, 5), 0.3)
    torch.testing.assert_close(gaussian_blur(const, 2.0), const)  # borders replicated: constants stay


def test_rendering_and_stretch(tiny_model):
    res = class_model_images(tiny_model, [0, 2], size=32, steps=2)
    grid = render_class_models(res, ["a", "b", "c"], tile=64)
    assert grid.dtype == np.uint8 and grid.shape == (4 + 64 + 34 + 4, 4 + 2 * (64 + 4), 3)
    img = np.full((4, 4, 3), 100, np.uint8)
    img[0, 0] = 110
    out = stretch_contrast(img, percentile=0)
    assert out.max() == 255 and out.min() == 0
    assert np.array_equal(stretch_contrast(np.full((3, 3, 3), 7, np.uint8)), np.full((3, 3, 3), 7, np.uint8))


def test_cli_writes_grid_plot_and_summary(tmp_path, viz_checkpoint, capsys):
    from wsol.cli.class_model import main

    state = torch.load(viz_checkpoint, weights_only=True)
    state["model"] = strengthen(load_model(str(viz_checkpoint))[0]).state_dict()
    ckpt = tmp_path / "strong.pt"
    atomic_torch_save(state, ckpt)
    out = tmp_path / "cm"
    assert (
        main(
            [
                "--checkpoint",
                str(ckpt),
                "--classes",
                "c00_hstripes",
                "2",
                "--steps",
                "6",
                "--size",
                "32",
                "--jitter",
                "1",
                "--l2",
                "0.001",
                "--out",
                str(out),
                "--tensorboard",
                str(tmp_path / "tb"),
            ]
        )
        == 0
    )
    summary = json.loads((out / "summary.json").read_text())
    assert [r["name"] for r in summary["classes"]] == ["c00_hstripes", "c02_checker"] and summary["size"] == 32
    assert all(r["score_end"] > r["score_start"] for r in summary["classes"])
    for name in ("class_model.png", "scores.png", "classes/c00_hstripes.png", "classes/c02_checker.png"):
        assert (out / name).stat().st_size > 100
    assert "S_c" in capsys.readouterr().out
    with pytest.raises(SystemExit, match="unknown class 'zz'; known: c00_hstripes, c01_vstripes, c02_checker"):
        main(["--checkpoint", str(viz_checkpoint), "--classes", "zz", "--out", str(out)])

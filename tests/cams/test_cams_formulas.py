"""Maps computed by hand on models whose target-layer output is the input itself."""

from __future__ import annotations

import pytest
import torch
from cams_models import FlatLinear, GapLinear

from wsol.cams import (
    CAM,
    EigenCAM,
    GradCAM,
    GradCAMPlusPlus,
    GuidedBackprop,
    HiResCAM,
    LayerCAM,
    Occlusion,
    Saliency,
    SmoothGrad,
    XGradCAM,
)

# A (1, 2, 2, 2): channel 0 = [[1, 0], [0, 0]], channel 1 = [[0, 0], [0, 2]]; class 0 weights (1, -1).
A = torch.tensor([[[[1.0, 0.0], [0.0, 0.0]], [[0.0, 0.0], [0.0, 2.0]]]])
W = [[1.0, -1.0], [0.5, 0.5]]


def raw(explainer_cls, model, x, target, **kw):
    return explainer_cls(model, "feat", **kw)(x, target, normalize=False, size="feature").maps


def test_cams_gradcam_by_hand():
    # GAP over 4 cells → ∂y0/∂A_k = W0k / 4 = (0.25, -0.25); w = mean = same; ReLU(0.25 A0 - 0.25 A1)
    expected = torch.tensor([[[0.25, 0.0], [0.0, 0.0]]])
    assert torch.allclose(raw(GradCAM, GapLinear(W), A, 0), expected)


def test_cams_gradcam_plus_plus_by_hand():
    # g = 0.25 for channel 0, ΣA0 = 1: α = g²/(2g² + 1·g³) = 0.0625 / 0.140625 = 4/9; w0 = Σ_ij ReLU(g) α = 4/9;
    # channel 1 has g < 0 → weight 0. Map = ReLU(4/9 · A0).
    expected = torch.tensor([[[4 / 9, 0.0], [0.0, 0.0]]])
    assert torch.allclose(raw(GradCAMPlusPlus, GapLinear(W), A, 0), expected, atol=1e-5)


def test_cams_uniform_gradient_methods_equal_cam():
    # with GAP + linear the gradient is W/hw everywhere: Grad-CAM = XGradCAM = HiResCAM = ReLU(CAM) / hw
    model = GapLinear(W)
    cam = raw(CAM, model, A, 0)
    assert torch.allclose(cam, torch.tensor([[[1.0, 0.0], [0.0, 0.0]]]))  # ReLU(A0 - A1)
    for method in (GradCAM, XGradCAM, HiResCAM):
        assert torch.allclose(raw(method, model, A, 0) * 4, cam), method.__name__
    # LayerCAM keeps positive gradients only: ReLU(0.25) A0 = [[0.25, 0], [0, 0]]
    assert torch.allclose(raw(LayerCAM, model, A, 0), torch.tensor([[[0.25, 0.0], [0.0, 0.0]]]))
    # class 1 (weights 0.5, 0.5 ≥ 0): LayerCAM = Grad-CAM = 0.125 (A0 + A1)
    both = torch.tensor([[[0.125, 0.0], [0.0, 0.25]]])
    assert torch.allclose(raw(LayerCAM, model, A, 1), both) and torch.allclose(raw(GradCAM, model, A, 1), both)


def test_cams_cam_without_relu_keeps_negative_evidence():
    assert torch.allclose(raw(CAM, GapLinear(W), A, 0, relu=False), torch.tensor([[[1.0, 0.0], [0.0, -2.0]]]))


def test_cams_hirescam_differs_from_gradcam_for_spatial_gradients():
    # y = Σ G ⊙ A with G0 = [[1, 0], [0, -1]], G1 = 0; A0 = [[1, 1], [1, 3]]
    g = torch.tensor([[1.0, 0.0, 0.0, -1.0, 0.0, 0.0, 0.0, 0.0]])
    x = torch.tensor([[[[1.0, 1.0], [1.0, 3.0]], [[0.0, 0.0], [0.0, 0.0]]]])
    model = FlatLinear(g)
    assert torch.allclose(raw(GradCAM, model, x, 0), torch.zeros(1, 2, 2))  # mean(G0) = 0
    assert torch.allclose(raw(HiResCAM, model, x, 0), torch.tensor([[[1.0, 0.0], [0.0, 0.0]]]))  # ReLU(G0 ⊙ A0)


def test_cams_eigencam_rank_one():
    # A_k = u_k · s with u = (3, 4): first PC ∝ u, projection = (s - mean s)·|u| = (s - 2.5)·5, then ReLU
    s = torch.tensor([[1.0, 2.0], [3.0, 4.0]])
    x = torch.stack([3 * s, 4 * s])[None]
    out = raw(EigenCAM, GapLinear(W), x, 0)
    assert torch.allclose(out, torch.tensor([[[0.0, 0.0], [2.5, 7.5]]]), atol=1e-4)


def test_cams_saliency_is_weight_magnitude_for_linear_model():
    torch.manual_seed(0)
    weight = torch.randn(2, 12)
    model = FlatLinear(weight)  # input (1, 3, 2, 2): gradient of class 1 = its weight row
    x = torch.randn(1, 3, 2, 2)
    out = Saliency(model)(x, 1, normalize=False).maps
    assert torch.allclose(out, weight[1].view(3, 2, 2).abs().amax(0)[None])
    # SmoothGrad of a linear model: the gradient does not depend on the noise, so it equals the saliency
    smooth = SmoothGrad(model, base="saliency", samples=5, noise_level=0.5, batch_size=3)(x, 1, normalize=False)
    assert torch.allclose(smooth.maps, out, atol=1e-6)


def test_cams_guided_backprop_by_hand():
    # y = w · ReLU(x): plain gradient w ⊙ 1[x>0]; guided keeps only positive w: ReLU(w) ⊙ 1[x>0]
    class ReluLinear(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.relu = torch.nn.ReLU()
            self.fc = torch.nn.Linear(4, 1, bias=False)
            with torch.no_grad():
                self.fc.weight.copy_(torch.tensor([[2.0, -3.0, 1.0, 5.0]]))

        def forward(self, x):
            return self.fc(self.relu(x).flatten(1))

    x = torch.tensor([[[[1.0, 1.0], [-1.0, 1.0]]]])  # one channel, 2x2
    model = ReluLinear()
    assert torch.equal(Saliency(model)(x, 0, normalize=False).maps, torch.tensor([[[2.0, 3.0], [0.0, 5.0]]]))
    assert torch.equal(GuidedBackprop(model)(x, 0, normalize=False).maps, torch.tensor([[[2.0, 0.0], [0.0, 5.0]]]))


def test_cams_occlusion_linear_model_by_hand():
    # y = Σ x (all weights 1), baseline 0, window 1x1 stride 1: the drop at each pixel is x summed over channels
    model = FlatLinear(torch.ones(1, 12))
    x = torch.arange(12, dtype=torch.float32).view(1, 3, 2, 2)
    out = Occlusion(model, window=1, stride=1, batch_size=3)(x, 0, normalize=False).maps
    assert torch.allclose(out, x.sum(1))


@pytest.mark.parametrize("cls", [GradCAM, CAM, EigenCAM])
def test_cams_normalised_maps_are_in_unit_range(cls):
    out = cls(GapLinear(W), "feat")(A.repeat(2, 1, 1, 1) + torch.rand(2, 2, 2, 2), [0, 1], size=(7, 5)).maps
    assert out.shape == (2, 7, 5)
    assert float(out.min()) == 0.0 and float(out.max()) == pytest.approx(1.0)

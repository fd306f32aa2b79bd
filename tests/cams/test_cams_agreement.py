"""Agreement with pytorch-grad-cam (PyPI ``grad-cam``, optional): same model, layer, input and targets give
the same normalised maps to 1e-4 with ``upsample="cv2-bilinear"``."""

from __future__ import annotations

import os

import pytest
import torch
import torchvision
from cams_models import TinyNet

os.environ.setdefault("TQDM_DISABLE", "1")
pgc = pytest.importorskip("pytorch_grad_cam", reason="optional: pip install --no-deps grad-cam ttach scikit-learn")
from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget  # noqa: E402

from wsol.cams import GradCAM, GradCAMPlusPlus, HiResCAM, LayerCAM, ScoreCAM, XGradCAM  # noqa: E402

pytestmark = pytest.mark.optional
PAIRS = {
    "GradCAM": GradCAM,
    "GradCAMPlusPlus": GradCAMPlusPlus,
    "XGradCAM": XGradCAM,
    "LayerCAM": LayerCAM,
    "HiResCAM": HiResCAM,
    "ScoreCAM": ScoreCAM,
}


def theirs(name, model, layers, images, classes):
    modules = dict(model.named_modules())
    cam = getattr(pgc, name)(model=model, target_layers=[modules[n] for n in layers])
    try:
        return torch.from_numpy(cam(input_tensor=images, targets=[ClassifierOutputTarget(c) for c in classes]))
    finally:
        cam.activations_and_grads.release()


@pytest.fixture(scope="module")
def resnet():
    torch.manual_seed(0)
    return torchvision.models.resnet18(weights=None, num_classes=7).eval()


@pytest.mark.parametrize("name", ["GradCAM", "GradCAMPlusPlus", "XGradCAM", "LayerCAM", "HiResCAM"])
@pytest.mark.parametrize("layers", [["layer4"], ["layer3", "layer4"]])
def test_cams_gradient_cams_match_pytorch_grad_cam(resnet, name, layers):
    torch.manual_seed(2)
    images, classes = torch.randn(3, 3, 96, 96), [1, 4, 6]
    ours = PAIRS[name](resnet, layers)(images, classes, upsample="cv2-bilinear").maps
    assert (ours - theirs(name, resnet, layers, images, classes)).abs().max() < 1e-4
    if len(layers) == 1:  # one layer: the default convention gives the same normalised map
        default = PAIRS[name](resnet, layers)(images, classes).maps
        assert (default - ours).abs().max() < 1e-4


# not "features.0": a conv followed by ReLU(inplace=True); on CPU pytorch-grad-cam's stored activation
# (``.cpu().detach()`` shares storage) is overwritten by the ReLU, while we keep the conv's own output
@pytest.mark.parametrize("layers", [["features"], ["features.1", "features"]])
def test_cams_scorecam_matches_pytorch_grad_cam(layers):
    torch.manual_seed(0)
    model = TinyNet(classes=5, width=8).eval()
    images, classes = torch.randn(2, 3, 16, 16), [3, 0]
    ours = ScoreCAM(model, layers, batch_size=7)(images, classes, upsample="cv2-bilinear").maps
    assert (ours - theirs("ScoreCAM", model, layers, images, classes)).abs().max() < 1e-4

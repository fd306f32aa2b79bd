"""Class maps for CNNs and transformers: CAM, the Grad-CAM family, Score-CAM, EigenCAM, saliency, guided backprop,
SmoothGrad and occlusion — ViT tokens and Swin channels-last blocks read as grids (``wsol.cams.layout``), batched,
hook-safe, and usable as map sources for evaluation and export.

    from wsol.cams import GradCAM
    maps = GradCAM(model, "layer4")(images, targets=labels).maps      # (B, H, W) in [0, 1]

``CAM_METHODS`` maps names to explainer classes (``build_explainer("gradcam", model)``); ``build_localizer``
turns any of them (or a WSOL model's native maps) into a ``localize(images, classes, topk)`` source.
"""

from wsol.cams.activation import CAM, EigenCAM
from wsol.cams.base import CAM_METHODS, Explainer, Explanation, build_explainer
from wsol.cams.gradcam import GradCAM, GradCAMPlusPlus, HiResCAM, LayerCAM, XGradCAM
from wsol.cams.hooks import LayerCapture, find_target_layer, spatial_layers
from wsol.cams.layout import LAYOUTS, detect_layout, token_grid
from wsol.cams.localizer import ExplainerLocalizer, build_localizer
from wsol.cams.occlusion import Occlusion
from wsol.cams.postprocess import UPSAMPLE_MODES
from wsol.cams.saliency import GuidedBackprop, Saliency, SmoothGrad
from wsol.cams.scorecam import ScoreCAM
from wsol.cams.targets import ClassTarget, SoftmaxTarget, TopK

__all__ = [
    "CAM",
    "CAM_METHODS",
    "LAYOUTS",
    "ClassTarget",
    "EigenCAM",
    "Explainer",
    "Explanation",
    "ExplainerLocalizer",
    "GradCAM",
    "GradCAMPlusPlus",
    "GuidedBackprop",
    "HiResCAM",
    "LayerCAM",
    "LayerCapture",
    "Occlusion",
    "Saliency",
    "ScoreCAM",
    "SmoothGrad",
    "SoftmaxTarget",
    "TopK",
    "UPSAMPLE_MODES",
    "XGradCAM",
    "build_explainer",
    "build_localizer",
    "detect_layout",
    "find_target_layer",
    "spatial_layers",
    "token_grid",
]

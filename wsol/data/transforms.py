"""albumentations pipelines that move image, boxes and mask together, and the pure box geometry of the
evaluation protocols (so evaluation and export can map boxes without running a pipeline).

Protocols for evaluation (``protocol=``):

- ``"resize"``: resize the image to ``input_size x input_size`` (wsolevaluation, Choe et al. CVPR 2020,
  https://arxiv.org/abs/2001.07437). A box maps as ``x' = x * S / w``, ``y' = y * S / h``.
- ``"resize_crop"``: resize to ``resize_size x resize_size`` then centre-crop ``input_size`` (the protocol of
  BAS, TS-CAM and PSOL). With ``R = resize_size``, ``o = (R - S) // 2`` (albumentations' centre-crop offset):
  ``x' = x * R / w - o``, ``y' = y * R / h - o``; boxes are then clipped to ``[0, S]``.

Boxes use the albumentations ``pascal_voc`` format (``x0, y0, x1, y1`` in pixels). Boxes are clipped to the
output frame (``clip=True``); a box that ends up with no area (completely cut away by a random or centre
crop) is dropped, which is why the dataset returns the transformed ``boxes`` beside the untouched
``orig_boxes``. Masks are resized with nearest neighbour so 0/1/255 values survive.
"""

from __future__ import annotations

from typing import Literal

import albumentations as A
import numpy as np
from albumentations.pytorch import ToTensorV2

from wsol.data.errors import DatasetError

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
PROTOCOLS = ("resize", "resize_crop")
TRAIN_SCALE = (0.3, 1.0)  # RandomResizedCrop area range: milder than ImageNet's 0.08 so objects survive crops


def bbox_params() -> A.BboxParams:
    """pascal_voc boxes clipped to the frame; boxes left without area are removed (see module docstring).
    Extra columns after the 4 coordinates (the dataset appends the box index) travel with each box."""
    return A.BboxParams(format="pascal_voc", clip=True, min_area=0.0, min_visibility=0.0, filter_invalid_bboxes=True)


def build_transform(
    kind: Literal["train", "eval"],
    input_size: int = 224,
    protocol: Literal["resize", "resize_crop"] = "resize",
    resize_size: int = 256,
) -> A.Compose:
    """Pipeline callable as ``t(image=HxWx3 uint8 RGB, bboxes=(N,4+) pascal_voc, mask=HxW uint8)``.

    Returns ``image`` as a (3, S, S) float tensor normalised with ImageNet mean/std, ``bboxes`` in the
    network-input frame and ``mask`` as an (S, S) uint8 tensor. Train: random resized crop (area in
    ``TRAIN_SCALE``), horizontal flip (p=0.5), colour jitter (p=0.8; hue kept small because colour is class
    evidence). Eval: ``protocol`` as in the module docstring.
    """
    if input_size <= 0:
        raise ValueError(f"input_size must be positive, got {input_size}")
    if kind == "train":
        geometry = [
            A.RandomResizedCrop(size=(input_size, input_size), scale=TRAIN_SCALE),
            A.HorizontalFlip(p=0.5),
            A.ColorJitter(brightness=0.3, contrast=0.3, saturation=0.3, hue=0.02, p=0.8),
        ]
    elif kind == "eval":
        if protocol == "resize":
            geometry = [A.Resize(input_size, input_size)]
        elif protocol == "resize_crop":
            if resize_size < input_size:
                raise ValueError(f"resize_size ({resize_size}) must be >= input_size ({input_size})")
            geometry = [A.Resize(resize_size, resize_size), A.CenterCrop(input_size, input_size)]
        else:
            raise ValueError(f"unknown eval protocol {protocol!r}; expected one of {PROTOCOLS}")
    else:
        raise ValueError(f"unknown transform kind {kind!r}; expected 'train' or 'eval'")
    return A.Compose(
        [*geometry, A.Normalize(mean=IMAGENET_MEAN, std=IMAGENET_STD), ToTensorV2()], bbox_params=bbox_params()
    )


def _affine(orig_size: tuple[int, int], input_size: int, protocol: str, resize_size: int):
    """(scale_x, scale_y, offset) with ``x' = x * scale_x - offset`` for the eval protocol."""
    w, h = orig_size
    if w <= 0 or h <= 0:
        raise DatasetError(f"original size {orig_size} must be positive (width, height)")
    if protocol == "resize":
        return input_size / w, input_size / h, 0.0
    if protocol == "resize_crop":
        if resize_size < input_size:
            raise ValueError(f"resize_size ({resize_size}) must be >= input_size ({input_size})")
        return resize_size / w, resize_size / h, float((resize_size - input_size) // 2)
    raise ValueError(f"unknown eval protocol {protocol!r}; expected one of {PROTOCOLS}")


def boxes_to_input(
    boxes: np.ndarray,
    orig_size: tuple[int, int],
    input_size: int = 224,
    protocol: str = "resize",
    resize_size: int = 256,
    clip: bool = True,
) -> np.ndarray:
    """Map (N, 4) xyxy boxes from original pixels to the network-input frame of an eval protocol."""
    sx, sy, off = _affine(orig_size, input_size, protocol, resize_size)
    b = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    out = b * np.array([sx, sy, sx, sy]) - off
    if clip:
        out = np.clip(out, 0.0, float(input_size))
    return out.astype(np.float32)


def boxes_to_original(
    boxes: np.ndarray,
    orig_size: tuple[int, int],
    input_size: int = 224,
    protocol: str = "resize",
    resize_size: int = 256,
    clip: bool = True,
) -> np.ndarray:
    """Inverse of :func:`boxes_to_input`: network-input frame → original pixels (clipped to the image)."""
    sx, sy, off = _affine(orig_size, input_size, protocol, resize_size)
    b = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    out = (b + off) / np.array([sx, sy, sx, sy])
    if clip:
        w, h = orig_size
        out = np.clip(out, 0.0, np.array([w, h, w, h], dtype=np.float64))
    return out.astype(np.float32)

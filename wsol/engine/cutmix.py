"""CutMix as wsolevaluation trains WSOL with it: a box of one image pasted onto another, labels mixed by area.

Per training batch, with probability ``prob`` (and ``beta > 0``):
  λ ~ Beta(β, β);  r = √(1 − λ);  box side (⌊H·r⌋, ⌊W·r⌋) centred at a uniform pixel (c_y, c_x):
  y ∈ [clip(c_y − ⌊H·r⌋/2), clip(c_y + ⌊H·r⌋/2)), x likewise, clipped to the image;
  image_i ← image_i outside the box, image_π(i) inside it (π a random permutation of the batch);
  λ ← 1 − |box| / (H·W)  (the area actually kept after clipping);
  L = λ · L(y) + (1 − λ) · L(y_π), applied to every term of the method's loss dict.
Label-independent terms (SPG's seed losses, BAS's area term) appear in both and so count once. Methods whose
forward uses the label (ACoL's erasing, SPG's attention, BAS's generator map) get the label of the larger part.
The draws (numpy's global RNG for the coin, λ and the centre, torch's for the permutation) follow wsolevaluation's
order and come from the per-epoch seeded generators, so a resumed run repeats them.
Yun et al., "CutMix", ICCV 2019, https://arxiv.org/abs/1905.04899
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor


def cutmix_box(height: int, width: int, lam: float, cy: int, cx: int) -> tuple[int, int, int, int]:
    """(y0, y1, x0, x1) of the pasted box for area ratio ``lam`` centred at (cy, cx), clipped to the image."""
    ratio = math.sqrt(1.0 - lam)
    cut_h, cut_w = int(height * ratio), int(width * ratio)
    y0, y1 = int(np.clip(cy - cut_h // 2, 0, height)), int(np.clip(cy + cut_h // 2, 0, height))
    x0, x1 = int(np.clip(cx - cut_w // 2, 0, width)), int(np.clip(cx + cut_w // 2, 0, width))
    return y0, y1, x0, x1


@dataclass
class MixedBatch:
    """A CutMix-ed batch: ``lam`` of each image is its own (label ``labels``), the rest from ``labels_b``."""

    images: Tensor
    labels: Tensor
    labels_b: Tensor
    lam: float
    box: tuple[int, int, int, int]

    @property
    def forward_labels(self) -> Tensor:
        """The label of the larger part of each image, for methods whose forward uses the label."""
        return self.labels if self.lam >= 0.5 else self.labels_b

    def loss(self, loss_fn: Callable[[Any, Tensor], dict[str, Tensor]], output: Any) -> dict[str, Tensor]:
        """λ · loss_fn(output, y) + (1 − λ) · loss_fn(output, y_b), term by term."""
        la, lb = loss_fn(output, self.labels), loss_fn(output, self.labels_b)
        return {k: self.lam * la[k] + (1.0 - self.lam) * lb[k] for k in la}


def cutmix(images: Tensor, labels: Tensor, beta: float) -> MixedBatch:
    """Mix ``images`` (B,C,H,W) with a permutation of the batch (a new tensor; the input is untouched)."""
    lam = float(np.random.beta(beta, beta))
    perm = torch.randperm(images.shape[0]).to(images.device)
    h, w = images.shape[-2:]
    cy, cx = int(np.random.randint(h)), int(np.random.randint(w))
    y0, y1, x0, x1 = cutmix_box(h, w, lam, cy, cx)
    mixed = images.clone()
    mixed[:, :, y0:y1, x0:x1] = images[perm, :, y0:y1, x0:x1]
    lam = 1.0 - (y1 - y0) * (x1 - x0) / float(h * w)
    return MixedBatch(mixed, labels, labels[perm], lam, (y0, y1, x0, x1))


def maybe_cutmix(images: Tensor, labels: Tensor, cfg: Any) -> MixedBatch | None:
    """:func:`cutmix` with probability ``cfg.prob`` (``train.cutmix``); None when the batch stays as it is."""
    if cfg is None or cfg.prob <= 0 or cfg.beta <= 0:
        return None
    if not np.random.rand() < cfg.prob:
        return None
    return cutmix(images, labels, cfg.beta)

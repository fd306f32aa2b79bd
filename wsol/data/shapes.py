"""A shapes-and-textures classification task for pretraining the tiny backbone (``wsol pretrain``).

Every published WSOL result starts from ImageNet features; nothing here can download them, so the project
makes its own generic features on a different, larger task. Class ``k`` of :data:`NUM_CLASSES` is a pair
(outline, texture family):

- outline: ellipse, rectangle, triangle or diamond, at a random size, aspect, rotation and place;
- texture family: stripes, thin stripes, checker, dots, grid or noise blobs, at a random orientation,
  period (4-11 % of the image side), phase and contrast, over a random base colour.

The task shares no label with the WSOL benchmark and has no colour cue and no part: colours, orientations and
scales are random, so the features it teaches are texture and shape detectors at every orientation rather
than the benchmark's class textures. Clutter (smooth colour fields, flat untextured shapes) appears in every
image. Images are drawn in memory from ``numpy.random.default_rng([seed, index])``: a pure function of the
seed and index, so the pretrained weights are reproducible.
"""

from __future__ import annotations

import numpy as np

from wsol.data import synthetic_draw as draw

OUTLINES = ("ellipse", "rectangle", "triangle", "diamond")
FAMILIES = ("stripes", "thin-stripes", "checker", "dots", "grid", "blobs")
NUM_CLASSES = len(OUTLINES) * len(FAMILIES)


def class_name(k: int) -> str:
    return f"{OUTLINES[k // len(FAMILIES)]}-{FAMILIES[k % len(FAMILIES)]}"


def _outline(kind: str, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Inside test in the object's own frame (u, v scaled so that the outline spans about [-1, 1])."""
    if kind == "ellipse":
        return u * u + v * v <= 1.0
    if kind == "rectangle":
        return (np.abs(u) <= 0.9) & (np.abs(v) <= 0.9)
    if kind == "triangle":
        return (v >= -0.8) & (v <= 1.0 - 1.9 * np.abs(u))
    return np.abs(u) + np.abs(v) <= 1.1  # diamond


def _texture(rng: np.random.Generator, family: str, xx: np.ndarray, yy: np.ndarray, side: int) -> np.ndarray:
    """A texture in {-1, 1} (blobs: smooth noise thresholded) at a random orientation, period and phase."""
    theta = rng.uniform(0, np.pi)
    period = side * rng.uniform(0.04, 0.11)
    w = 2 * np.pi / period
    a = xx * np.cos(theta) + yy * np.sin(theta) + rng.uniform(0, period)
    b = -xx * np.sin(theta) + yy * np.cos(theta) + rng.uniform(0, period)
    if family == "stripes":
        s = np.cos(w * a)
    elif family == "thin-stripes":
        s = np.cos(w * a) - 0.7
    elif family == "checker":
        s = np.cos(w * a) * np.cos(w * b)
    elif family == "dots":
        s = np.cos(w * a) + np.cos(w * b) - 1.2
    elif family == "grid":
        s = np.maximum(np.cos(w * a), np.cos(w * b)) - 0.7
    else:  # blobs: band-limited noise at the same scale
        cells = max(2, int(round(side / period)))
        s = draw.background(rng, cells, cells)[..., 0] - 127.5
        s = np.asarray(_resize(s, xx.shape[1], xx.shape[0]))
    return np.where(s > 0, 1.0, -1.0).astype(np.float32)


def _resize(a: np.ndarray, w: int, h: int) -> np.ndarray:
    import cv2

    return cv2.resize(a.astype(np.float32), (w, h), interpolation=cv2.INTER_CUBIC)


def render(label: int, seed: int, index: int, size: int = 64) -> np.ndarray:
    """Image ``index`` of class ``label``: (size, size, 3) uint8 RGB."""
    rng = np.random.default_rng([seed, index])
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    canvas = draw.background(rng, size, size)
    for _ in range(int(rng.integers(2, 5))):  # flat untextured clutter of every outline
        kind = OUTLINES[int(rng.integers(len(OUTLINES)))]
        u, v = _frame(rng, xx, yy, size, rng.uniform(0.08, 0.2))
        canvas[_outline(kind, u, v)] = rng.uniform(30, 225, 3).astype(np.float32)
    outline, family = OUTLINES[label // len(FAMILIES)], FAMILIES[label % len(FAMILIES)]
    u, v = _frame(rng, xx, yy, size, rng.uniform(0.2, 0.38))
    inside = _outline(outline, u, v)
    base = rng.uniform(50, 205, 3).astype(np.float32)
    contrast = rng.uniform(0.15, 0.4) * 255 / 2
    tex = _texture(rng, family, xx, yy, size)
    canvas[inside] = np.clip(base + contrast * tex[..., None], 0, 255)[inside]
    canvas += rng.normal(0.0, 6.0, size=canvas.shape).astype(np.float32)
    return np.clip(np.rint(canvas), 0, 255).astype(np.uint8)


def _frame(
    rng: np.random.Generator, xx: np.ndarray, yy: np.ndarray, size: int, radius: float
) -> tuple[np.ndarray, np.ndarray]:
    """Coordinates of a randomly placed, rotated and stretched object frame (radius as a fraction of size)."""
    r = radius * size
    aspect = rng.uniform(0.6, 1.0)
    phi = rng.uniform(0, 2 * np.pi)
    cx, cy = rng.uniform(r, size - r, 2)
    dx, dy = xx - cx, yy - cy
    u = (dx * np.cos(phi) + dy * np.sin(phi)) / r
    v = (-dx * np.sin(phi) + dy * np.cos(phi)) / (r * aspect)
    return u, v


def render_set(count: int, seed: int, size: int = 64, start: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``count`` images (N, size, size, 3) uint8 and their labels (N,) int64, classes in round-robin order."""
    labels = (np.arange(start, start + count) % NUM_CLASSES).astype(np.int64)
    images = np.stack([render(int(k), seed, start + i, size) for i, k in enumerate(labels)])
    return images, labels

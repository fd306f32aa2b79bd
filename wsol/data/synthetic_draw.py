"""Drawing primitives of the synthetic WSOL benchmark (see :mod:`wsol.data.synthetic` for the design).

All functions are vectorised numpy on float32 (H, W, 3) canvases in [0, 255]; randomness comes only from the
``numpy.random.Generator`` passed in, so an image is a pure function of its seed.
"""

from __future__ import annotations

import colorsys

import cv2
import numpy as np

TEXTURES = ("hstripes", "vstripes", "checker", "crosshatch", "grid")
DUTY_THRESHOLDS = (0.0, 0.6, 0.85)  # square-wave threshold: 50% duty, thin, thinner (scale-invariant variants)
PERIOD_FRACTION = 0.09  # texture period as a fraction of the image's short side (survives resizing to 64 px)


def hsv(h: float, s: float, v: float) -> np.ndarray:
    return np.array(colorsys.hsv_to_rgb(h % 1.0, s, v), np.float32) * 255.0


def class_head_colors(c: int, num_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """Saturated class hue for the head disc and the complementary hue for its centre dot."""
    h = c / num_classes
    return hsv(h, 0.95, 0.95), hsv(h + 0.5, 0.9, 0.35)


def texture_name(c: int) -> str:
    variant = (c // len(TEXTURES)) % len(DUTY_THRESHOLDS)
    suffix = ("", "-thin", "-thinner")[variant]
    scale = c // (len(TEXTURES) * len(DUTY_THRESHOLDS))
    return f"{TEXTURES[c % len(TEXTURES)]}{suffix}" + (f"-x{scale + 1}" if scale else "")


def class_texture(c: int, xx: np.ndarray, yy: np.ndarray, period: float) -> np.ndarray:
    """Class ``c``'s body texture in {-1, 1}: a square wave of one of five layouts that a horizontal flip maps
    to itself (so flip augmentation keeps the label) and one of three duty cycles (50%, thin, thinner lines),
    which, unlike a period, survive random-resized-crop zooms. Classes beyond 15 also scale the period."""
    kind = TEXTURES[c % len(TEXTURES)]
    thr = DUTY_THRESHOLDS[(c // len(TEXTURES)) % len(DUTY_THRESHOLDS)]
    w = 2 * np.pi / (period * (1 + 0.5 * (c // (len(TEXTURES) * len(DUTY_THRESHOLDS)))))
    if kind == "hstripes":
        s = np.cos(w * yy)
    elif kind == "vstripes":
        s = np.cos(w * xx)
    elif kind == "checker":
        s = np.cos(w * xx) * np.cos(w * yy)
    elif kind == "crosshatch":
        s = np.maximum(np.cos(w * (xx + yy) / 1.41), np.cos(w * (xx - yy) / 1.41))
    else:  # grid
        s = np.maximum(np.cos(w * xx), np.cos(w * yy))
    return np.where(s > thr, 1.0, -1.0).astype(np.float32)


def background(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """Smooth colour clutter: a random 5x5 colour grid upsampled bicubically, plus fine grain."""
    grid = rng.uniform(40, 215, size=(5, 5, 3)).astype(np.float32)
    canvas = cv2.resize(grid, (w, h), interpolation=cv2.INTER_CUBIC)
    return np.clip(canvas, 0, 255)


def disc(xx: np.ndarray, yy: np.ndarray, cx: float, cy: float, r: float) -> np.ndarray:
    return (xx - cx) ** 2 + (yy - cy) ** 2 <= r * r


def ellipse(xx: np.ndarray, yy: np.ndarray, cx: float, cy: float, a: float, b: float, phi: float) -> np.ndarray:
    u = (xx - cx) * np.cos(phi) + (yy - cy) * np.sin(phi)
    v = -(xx - cx) * np.sin(phi) + (yy - cy) * np.cos(phi)
    return (u / a) ** 2 + (v / b) ** 2 <= 1.0


def paint(canvas: np.ndarray, region: np.ndarray, color: np.ndarray) -> None:
    canvas[region] = color


def draw_distractors(
    rng: np.random.Generator, canvas: np.ndarray, xx: np.ndarray, yy: np.ndarray, head_r: float, cfg
) -> None:
    """Off-object clutter: head-like discs without a class colour (grey-ish, with a centre dot), random
    rectangles/ellipses/bars, and patches of a random class texture with no head (texture alone is weak)."""
    h, w = canvas.shape[:2]
    for _ in range(int(rng.integers(cfg.distractor_heads[0], cfg.distractor_heads[1] + 1))):
        cx, cy = rng.uniform(0, w), rng.uniform(0, h)
        r = head_r * rng.uniform(0.8, 1.25)
        paint(canvas, disc(xx, yy, cx, cy, r), hsv(rng.uniform(), rng.uniform(0, 0.25), rng.uniform(0.3, 0.9)))
        paint(canvas, disc(xx, yy, cx, cy, r * 0.45), hsv(rng.uniform(), rng.uniform(0, 0.25), rng.uniform(0.1, 0.9)))
    for _ in range(int(rng.integers(cfg.distractor_shapes[0], cfg.distractor_shapes[1] + 1))):
        cx, cy = rng.uniform(0, w), rng.uniform(0, h)
        a, b = rng.uniform(0.04, 0.2) * min(h, w), rng.uniform(0.02, 0.12) * min(h, w)
        color = hsv(rng.uniform(), rng.uniform(0.05, 0.4), rng.uniform(0.3, 0.9))
        if rng.uniform() < 0.5:
            region = (np.abs(xx - cx) <= a) & (np.abs(yy - cy) <= b)
        else:
            region = ellipse(xx, yy, cx, cy, a, b, rng.uniform(0, np.pi))
        paint(canvas, region, color)
    for _ in range(int(rng.integers(0, cfg.texture_patches + 1))):
        cx, cy = rng.uniform(0, w), rng.uniform(0, h)
        s = rng.uniform(0.05, 0.09) * min(h, w)
        region = (np.abs(xx - cx) <= s) & (np.abs(yy - cy) <= s)
        base = hsv(rng.uniform(), rng.uniform(0.15, 0.5), rng.uniform(0.4, 0.8))
        tex = class_texture(int(rng.integers(0, cfg.num_classes)), xx[region], yy[region], PERIOD_FRACTION * min(h, w))
        canvas[region] = base + (cfg.body_contrast * 127.5) * tex[:, None]


def draw_object(
    rng: np.random.Generator, canvas: np.ndarray, xx: np.ndarray, yy: np.ndarray, c: int, geom: dict, cfg
) -> tuple[np.ndarray, np.ndarray]:
    """Body (ellipse with the subtle class texture on a random colour) + head (disc in the class colour
    with a complementary centre dot) at the end of the major axis. Returns (object mask, head mask)."""
    cx, cy, a, b, phi, r = geom["cx"], geom["cy"], geom["a"], geom["b"], geom["phi"], geom["r"]
    body = ellipse(xx, yy, cx, cy, a, b, phi)
    base = hsv(rng.uniform(), rng.uniform(0.15, 0.5), rng.uniform(0.45, 0.8))
    tex = class_texture(c, xx[body], yy[body], PERIOD_FRACTION * min(canvas.shape[:2]))
    canvas[body] = base + (cfg.body_contrast * 127.5) * tex[:, None]
    hx, hy = cx + 0.92 * a * np.cos(phi), cy + 0.92 * a * np.sin(phi)
    head = disc(xx, yy, hx, hy, r)
    outer, inner = class_head_colors(c, cfg.num_classes)
    paint(canvas, head, outer)
    paint(canvas, disc(xx, yy, hx, hy, r * 0.4), inner)
    return body | head, head


def object_extent(geom: dict) -> tuple[float, float, float, float]:
    """Analytic bounding box (x0, y0, x1, y1) of body ellipse ∪ head disc, for placement."""
    cx, cy, a, b, phi, r = geom["cx"], geom["cy"], geom["a"], geom["b"], geom["phi"], geom["r"]
    ex = np.sqrt((a * np.cos(phi)) ** 2 + (b * np.sin(phi)) ** 2)
    ey = np.sqrt((a * np.sin(phi)) ** 2 + (b * np.cos(phi)) ** 2)
    hx, hy = cx + 0.92 * a * np.cos(phi), cy + 0.92 * a * np.sin(phi)
    return (min(cx - ex, hx - r), min(cy - ey, hy - r), max(cx + ex, hx + r), max(cy + ey, hy + r))


def mask_box(mask: np.ndarray) -> tuple[int, int, int, int] | None:
    """Inclusive pixel box (x0, y0, x1, y1) of a boolean mask (wsolevaluation's convention), or None."""
    ys = np.flatnonzero(mask.any(axis=1))
    xs = np.flatnonzero(mask.any(axis=0))
    if ys.size == 0:
        return None
    return int(xs[0]), int(ys[0]), int(xs[-1]), int(ys[-1])

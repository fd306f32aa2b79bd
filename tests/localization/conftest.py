"""Random score maps shaped like CAMs (smooth blobs, upsampled low-res activations) and adversarial noise."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.ndimage as nd


def make_map(rng: np.random.Generator, shape: tuple[int, int], kind: str) -> np.ndarray:
    h, w = shape
    if kind == "noise":
        m = rng.random(shape)
    elif kind == "blobs":
        yy, xx = np.mgrid[:h, :w]
        m = 0.05 * nd.gaussian_filter(rng.random(shape), 1.5)
        for _ in range(int(rng.integers(1, 5))):
            cy, cx = rng.random(2) * [h, w]
            s = rng.uniform(1.5, max(2.0, min(h, w) / 4))
            m = m + rng.uniform(0.3, 1) * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * s * s))
    elif kind == "relu":  # ReLU'd smooth activations: flat zero background with holes and pockets
        m = np.maximum(nd.gaussian_filter(rng.normal(size=shape), rng.uniform(1, 3)), 0)
    else:
        m = nd.gaussian_filter(rng.random(shape), rng.uniform(1, 4))
    m = m - m.min()
    return m / m.max() if m.max() > 0 else m


def random_gt(rng: np.random.Generator, shape: tuple[int, int], n: int = 2) -> np.ndarray:
    h, w = shape
    x0 = rng.integers(0, w, n)
    y0 = rng.integers(0, h, n)
    x1 = np.minimum(w - 1, x0 + rng.integers(0, w, n))
    y1 = np.minimum(h - 1, y0 + rng.integers(0, h, n))
    return np.stack([x0, y0, x1, y1], 1).astype(np.int64)


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)

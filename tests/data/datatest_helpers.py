"""Helpers shared by the data tests (importable: tests/data is on sys.path under rootdir imports)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from wsol.data.synthetic import SyntheticConfig


def write_png(path: Path, array: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if array.ndim == 3:
        array = cv2.cvtColor(array, cv2.COLOR_RGB2BGR)
    assert cv2.imwrite(str(path), array)


def rgb(w: int, h: int, value: int = 100) -> np.ndarray:
    img = np.full((h, w, 3), value, np.uint8)
    img[:, : w // 2, 0] = 200  # left half reddish so flips are visible
    return img


def polygon(x0, y0, x1, y1):
    return [[x0, y0, x1, y0, x1, y1, x0, y1]]


TINY_SYNTHETIC = SyntheticConfig(num_classes=3, train_per_class=2, val_per_class=1, test_per_class=4,
                                 size_range=(64, 80), objects_per_image=(1, 2), seed=7)



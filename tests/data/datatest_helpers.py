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


TINY_SYNTHETIC = SyntheticConfig(
    num_classes=3,
    train_per_class=2,
    val_per_class=1,
    test_per_class=4,
    size_range=(64, 80),
    objects_per_image=(1, 2),
    seed=7,
)


# How JPEGs get damaged in practice, each applied in the middle of the entropy-coded scan data
JPEG_DAMAGE_MODES = ("cut_off", "random_bytes", "zeroed_block", "dropped_bytes")


def noisy_jpeg(w: int = 131, h: int = 97) -> bytes:
    """A JPEG of smooth noise: a scan of several KB (room to damage it), odd sizes so chroma subsampling has
    edges."""
    noise = (np.random.default_rng(1).random((h, w, 3)) * 255).astype(np.uint8)
    ok, buf = cv2.imencode(".jpg", cv2.GaussianBlur(noise, (5, 5), 2), [cv2.IMWRITE_JPEG_QUALITY, 90])
    assert ok
    return buf.tobytes()


def damage_jpeg(data: bytes, mode: str, span: int = 512) -> bytes:
    """``data`` (a baseline JPEG) damaged ``span`` bytes into the middle of its scan, as a stopped download
    (cut_off), a bad sector or bad RAM (random_bytes, zeroed_block), or a lost network packet (dropped_bytes)."""
    mid = (data.find(b"\xff\xda") + len(data)) // 2
    assert 0 < mid and mid + span < len(data) - 2, "the scan is too short to damage"
    if mode == "cut_off":
        return data[:mid]
    if mode == "dropped_bytes":
        return data[:mid] + data[mid + span :]
    fill = (
        np.random.default_rng(0).integers(0, 256, span, np.uint8).tobytes() if mode == "random_bytes" else bytes(span)
    )
    return data[:mid] + fill + data[mid + span :]

"""Per-image output files: COCO RLE masks, class-id PNG masks and score maps in wsolevaluation's layout.

File formats (all written atomically, all names go through :func:`wsol.fileio.safe_join`):

* **RLE**: pycocotools' compressed run-length encoding (column-major runs of an (H, W) binary mask,
  https://github.com/cocodataset/cocoapi/blob/master/PythonAPI/pycocotools/mask.py) with ``counts`` decoded
  to ``str`` so that it can be stored in JSON: ``{"size": [H, W], "counts": "..."}``.
* **PNG masks** ``<out>/masks/<image_id>.png`` at the original image size: pixel value = class index + 1,
  0 = background, :func:`ignore_value` (255 for uint8, 65535 for uint16) = not labelled (the band between the
  ignore threshold and the box threshold). uint8 is used up to 254 classes (ids 1..254, 255 reserved), uint16
  above (ids 1..65534, 65535 reserved).
* **Score maps** ``<out>/scoremaps/<image_id>.npy``: (224, 224) float32 min-max normalised map, the file name
  is the image id (its sub-folders kept) + ``.npy``, as wsolevaluation's ``evaluate_wsol(scoremap_root=...)``
  reads them (Choe et al., CVPR 2020, https://arxiv.org/abs/2001.07437).

Per-image files are replaced atomically (temp file + rename) and flushed to disk once per shard.
"""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from pycocotools import mask as mask_utils

from wsol.fileio import atomic_write_bytes, safe_join

MASK_DIR = "masks"
SCOREMAP_DIR = "scoremaps"
MAX_UINT8_CLASSES = 254
MAX_UINT16_CLASSES = 65534


def encode_rle(mask: np.ndarray) -> dict[str, Any]:
    """(H, W) boolean/0-1 mask → COCO compressed RLE with ``counts`` as str (JSON-ready)."""
    mask = np.asarray(mask)
    if mask.ndim != 2:
        raise ValueError(f"expected an (H, W) mask, got shape {mask.shape}")
    rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
    return {"size": [int(rle["size"][0]), int(rle["size"][1])], "counts": rle["counts"].decode("ascii")}


def decode_rle(rle: dict[str, Any]) -> np.ndarray:
    """Inverse of :func:`encode_rle`: (H, W) uint8 0/1 mask (``counts`` may be str or bytes)."""
    counts = rle["counts"]
    compressed = {"size": list(rle["size"]), "counts": counts.encode("ascii") if isinstance(counts, str) else counts}
    mask: np.ndarray = mask_utils.decode(compressed)
    return mask


def class_mask_dtype(num_classes: int) -> np.dtype:
    """uint8 for up to 254 classes (ids 1..254 + the reserved 255), uint16 up to 65534, else an error."""
    if num_classes < 1:
        raise ValueError(f"num_classes must be >= 1, got {num_classes}")
    if num_classes <= MAX_UINT8_CLASSES:
        return np.dtype(np.uint8)
    if num_classes <= MAX_UINT16_CLASSES:
        return np.dtype(np.uint16)
    raise ValueError(f"PNG class masks support at most {MAX_UINT16_CLASSES} classes, got {num_classes}")


def ignore_value(dtype: np.dtype) -> int:
    """The reserved "not labelled" value of a class-mask dtype: its maximum (255 or 65535)."""
    return int(np.iinfo(np.dtype(dtype)).max)


def encode_png(class_mask: np.ndarray) -> bytes:
    """Lossless PNG bytes of an (H, W) uint8 or uint16 class-id mask."""
    if class_mask.ndim != 2 or class_mask.dtype not in (np.uint8, np.uint16):
        raise ValueError(f"expected an (H, W) uint8/uint16 mask, got {class_mask.dtype} {class_mask.shape}")
    ok, buf = cv2.imencode(".png", np.ascontiguousarray(class_mask))
    if not ok:
        raise RuntimeError("OpenCV failed to encode a PNG mask")
    return buf.tobytes()


def read_png_mask(path: str | os.PathLike[str]) -> np.ndarray:
    """Read a class-id PNG mask back with its bit depth (uint8 or uint16) unchanged."""
    data = np.fromfile(Path(path), dtype=np.uint8)
    mask = cv2.imdecode(data, cv2.IMREAD_UNCHANGED) if data.size else None
    if mask is None:
        raise ValueError(f"{path}: not a readable PNG mask")
    return mask


def replace_write(path: Path, data: bytes) -> None:
    """Write through a temp file renamed over ``path``: a reader never sees a partial file.

    Unlike :func:`wsol.fileio.atomic_write_bytes` there is no fsync per file (two per image would dominate the
    export on most disks); the runner calls :func:`flush_to_disk` once before it commits a shard, so a
    committed shard's files are durable.
    """
    atomic_write_bytes(path, data, fsync=False)


def flush_to_disk() -> None:
    """Flush every written file to disk (once per shard, before its commit)."""
    if hasattr(os, "sync"):
        os.sync()


def mask_path(out_dir: str | os.PathLike[str], image_id: str) -> Path:
    """``<out>/masks/<image_id>.png``; raises ValueError when the id would escape the output folder."""
    return safe_join(Path(out_dir) / MASK_DIR, f"{image_id}.png")


def scoremap_path(out_dir: str | os.PathLike[str], image_id: str) -> Path:
    """``<out>/scoremaps/<image_id>.npy`` (wsolevaluation layout); refuses ids that escape the folder."""
    return safe_join(Path(out_dir) / SCOREMAP_DIR, f"{image_id}.npy")


def write_png_mask(out_dir: str | os.PathLike[str], image_id: str, class_mask: np.ndarray) -> Path:
    path = mask_path(out_dir, image_id)
    replace_write(path, encode_png(class_mask))
    return path


def npy_bytes(array: np.ndarray) -> bytes:
    """The ``.npy`` serialisation of ``array`` (deterministic: same array → same bytes)."""
    buf = io.BytesIO()
    np.save(buf, np.ascontiguousarray(array), allow_pickle=False)
    return buf.getvalue()


def write_scoremap(out_dir: str | os.PathLike[str], image_id: str, scoremap: np.ndarray) -> Path:
    """Save one (H, W) normalised map as float32 ``.npy`` under the image id."""
    if scoremap.ndim != 2:
        raise ValueError(f"score map of {image_id!r} must be (H, W), got {scoremap.shape}")
    path = scoremap_path(out_dir, image_id)
    replace_write(path, npy_bytes(scoremap.astype(np.float32)))
    return path

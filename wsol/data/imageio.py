"""Reading images and masks from disk with errors that name the file and its metadata origin.

Images are decoded with OpenCV from bytes (``np.fromfile`` + ``cv2.imdecode``) so that non-ASCII paths
work and a truncated/corrupt file is reported instead of yielding ``None`` somewhere downstream.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from wsol.data.errors import DatasetError
from wsol.data.records import IGNORE_VALUE

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")


def _cv2():  # imported on first decode: reading metadata (and evaluating score maps of boxes) needs no cv2
    import cv2

    if "OPENCV_LOG_LEVEL" not in os.environ:  # a failed decode is reported once, by our error naming the file,
        cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)  # not also by OpenCV's own log lines
    return cv2


def _read_bytes(path: Path, what: str, origin: str | None) -> np.ndarray:
    suffix = f" (listed at {origin})" if origin else ""
    try:
        data = np.fromfile(path, dtype=np.uint8)
    except FileNotFoundError:
        raise DatasetError(f"{path}: {what} file is missing{suffix}; expected a readable {what} file") from None
    except OSError as exc:
        raise DatasetError(f"{path}: cannot read {what} file{suffix}: {exc}") from exc
    if data.size == 0:
        raise DatasetError(f"{path}: {what} file is empty{suffix}; expected an encoded {what}")
    return data


def jpeg_truncated(data: np.ndarray) -> bool:
    """True for a JPEG cut off inside its last scan: no end-of-image marker (FF D9) after the last
    start-of-scan (FF DA). Both markers cannot occur inside entropy-coded data (an FF there is followed by
    00), so the test holds for progressive JPEGs and for files with trailing data or an embedded thumbnail.
    Some decoders fill the missing rows with grey and succeed, so the file would otherwise pass as good."""
    raw = data.tobytes() if isinstance(data, np.ndarray) else bytes(data)
    if raw[:2] != b"\xff\xd8":
        return False
    return raw.rfind(b"\xff\xd9") < raw.rfind(b"\xff\xda")


def read_image(path: str | Path, origin: str | None = None) -> np.ndarray:
    """Decode an image file into an (H, W, 3) uint8 RGB array; grey and RGBA inputs are converted."""
    path = Path(path)
    data = _read_bytes(path, "image", origin)
    if jpeg_truncated(data):
        suffix = f" (listed at {origin})" if origin else ""
        raise DatasetError(f"{path}: damaged JPEG{suffix}: its data stops before the end-of-image marker "
                           f"(a cut-off file); expected a complete JPEG")
    cv2 = _cv2()
    img = cv2.imdecode(data, cv2.IMREAD_COLOR_RGB) if hasattr(cv2, "IMREAD_COLOR_RGB") else None
    if img is None:
        bgr = cv2.imdecode(data, cv2.IMREAD_COLOR)
        img = None if bgr is None else cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    if img is None:
        suffix = f" (listed at {origin})" if origin else ""
        raise DatasetError(f"{path}: unreadable or corrupt image{suffix}; expected a JPEG/PNG/BMP/TIFF/WebP file")
    return np.ascontiguousarray(img)


def read_grey(path: str | Path, origin: str | None = None) -> np.ndarray:
    """Decode a single-channel mask PNG into an (H, W) uint8 array."""
    path = Path(path)
    data = _read_bytes(path, "mask", origin)
    cv2 = _cv2()
    img = cv2.imdecode(data, cv2.IMREAD_GRAYSCALE)
    if img is None:
        suffix = f" (listed at {origin})" if origin else ""
        raise DatasetError(f"{path}: unreadable or corrupt mask{suffix}; expected a greyscale PNG")
    return img


def _fit_mask(mask: np.ndarray, size: tuple[int, int], path: Path, origin: str | None,
              out_size: int | None = None) -> np.ndarray:
    """A mask at the image size ``size`` (w, h), or straight at ``out_size`` x ``out_size`` when given.

    Masks must match the image size; a mask with the image's aspect ratio (OpenImages ships some at another
    resolution, and wsolevaluation resizes every mask anyway) is accepted. Resizing is nearest neighbour, from
    the file's own pixels: wsolevaluation's ``get_mask`` resizes each file straight to 224 that way.
    """
    w, h = size
    mh, mw = mask.shape
    if (mw, mh) != (w, h) and abs(mw / mh - w / h) > 0.01 * (w / h):
        suffix = f" (listed at {origin})" if origin else ""
        raise DatasetError(f"{path}: mask has size {mw}x{mh} (w x h){suffix}; expected the image size {w}x{h} "
                           f"or the same aspect ratio")
    target = (w, h) if out_size is None else (int(out_size), int(out_size))
    if (mw, mh) == target:
        return mask
    cv2 = _cv2()
    return cv2.resize(mask, target, interpolation=cv2.INTER_NEAREST)


def compose_mask(
    mask_files: list[Path], ignore_file: Path | None, size: tuple[int, int], origin: str | None = None,
    out_size: int | None = None,
) -> np.ndarray:
    """Union of instance masks (pixel > 0 is foreground) + ignore region → uint8 0/1/255, at the image size
    ``size`` (w, h) or, with ``out_size``, at ``out_size`` x ``out_size`` (each file resized straight there).

    As in wsolevaluation (``evaluation.get_mask``), the ignore region is the ignore mask minus the foreground,
    so foreground always wins where they overlap. A size of (0, 0) means unknown (wsolevaluation's OpenImages
    metadata has no image sizes): the first mask's size stands for the image's.
    """
    if not mask_files:
        raise DatasetError(f"{origin or 'mask'}: no foreground mask file listed")
    grey = [read_grey(f, origin) for f in mask_files]
    if size[0] <= 0 or size[1] <= 0:
        size = (grey[0].shape[1], grey[0].shape[0])
    fg = None
    for f, m in zip(mask_files, grey):
        part = _fit_mask(m, size, f, origin, out_size) > 0
        fg = part if fg is None else fg | part
    out = fg.astype(np.uint8)
    if ignore_file is not None:
        ignore = _fit_mask(read_grey(ignore_file, origin), size, ignore_file, origin, out_size) > 0
        out[ignore & ~fg] = IGNORE_VALUE
    return out


def instance_masks(
    mask_files: list[Path], ignore_file: Path | None, size: tuple[int, int], origin: str | None = None
) -> tuple[list[np.ndarray], np.ndarray | None]:
    """One (H, W) bool mask per file (one file = one instance, as in wsolevaluation's OpenImages metadata) and
    the ignore region minus their union (None without an ignore file): the per-object view of
    :func:`compose_mask`."""
    masks = [_fit_mask(read_grey(f, origin), size, f, origin) > 0 for f in mask_files]
    if ignore_file is None:
        return masks, None
    ignore = _fit_mask(read_grey(ignore_file, origin), size, ignore_file, origin) > 0
    for m in masks:
        ignore &= ~m
    return masks, ignore

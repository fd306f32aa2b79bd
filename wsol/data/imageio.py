"""Reading images and masks from disk with errors that name the file and its metadata origin.

Images are read as bytes (``np.fromfile``, so that non-ASCII paths work) and decoded from memory: JPEGs with
libjpeg-turbo through simplejpeg, in strict mode, everything else (and the rare JPEG that the TurboJPEG API cannot
take) with ``cv2.imdecode``. A truncated or corrupt file is reported instead of yielding ``None`` or a half-grey
picture somewhere downstream.

Why strict JPEG decoding: libjpeg treats damaged entropy-coded data (bytes overwritten, zeroed or dropped in the
middle of a scan, a stray marker) as a *warning*, fills what it cannot decode with grey and succeeds; OpenCV
prints the warning and returns the picture. Strict mode turns the first such warning into an error, so the image
is listed as damaged with libjpeg's own words. JPEG has no checksum: a flipped bit that still decodes to valid
Huffman codes cannot be told from a good file by any decoder.
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


def jpeg_truncated(data: np.ndarray | bytes) -> bool:
    """True for a JPEG cut off inside its last scan: no end-of-image marker (FF D9) after the last
    start-of-scan (FF DA). Both markers cannot occur inside entropy-coded data (an FF there is followed by
    00), so the test holds for progressive JPEGs and for files with trailing data or an embedded thumbnail.
    Some decoders fill the missing rows with grey and succeed, so the file would otherwise pass as good."""
    raw = data.tobytes() if isinstance(data, np.ndarray) else bytes(data)
    if raw[:2] != b"\xff\xd8":
        return False
    return raw.rfind(b"\xff\xd9") < raw.rfind(b"\xff\xda")


def jpeg_damage(data: np.ndarray | bytes) -> tuple[np.ndarray | None, str | None]:
    """Decode a JPEG strictly: (RGB image, None) for a sound file, (None, libjpeg's first warning) for a damaged
    one, (None, None) when the TurboJPEG API cannot decode it at all (the caller then tries OpenCV).

    A warning is told from a fatal error by decoding a second time, leniently: libjpeg recovers from everything
    it only warns about, so a lenient decode that succeeds after a strict one failed means damaged data.
    """
    import simplejpeg

    raw = data.tobytes() if isinstance(data, np.ndarray) else bytes(data)
    try:
        return simplejpeg.decode_jpeg(raw, colorspace="RGB", strict=True), None
    except ValueError as exc:
        warning = str(exc)
    try:
        simplejpeg.decode_jpeg(raw, colorspace="RGB", strict=False)
    except ValueError:
        return None, None
    return None, warning


def _read_jpeg(data: np.ndarray, path: Path, origin: str | None) -> np.ndarray | None:
    """The RGB pixels of a sound JPEG (None: leave the decoding to OpenCV), DatasetError for a damaged one."""
    suffix = f" (listed at {origin})" if origin else ""
    raw = data.tobytes()
    if jpeg_truncated(raw):
        raise DatasetError(
            f"{path}: damaged JPEG{suffix}: its data stops before the end-of-image marker "
            f"(a cut-off file); expected a complete JPEG"
        )
    img, warning = jpeg_damage(raw)
    if warning is not None:
        raise DatasetError(
            f"{path}: damaged JPEG{suffix}: libjpeg reports {warning.rstrip('.')!r}; "
            f"expected a JPEG that decodes without errors"
        )
    if img is not None and b"Exif\x00\x00" in raw[: max(raw.find(b"\xff\xda"), 0)]:
        return None  # OpenCV applies the EXIF orientation (as this reader always has); the TurboJPEG API does not
    return img


def read_image(path: str | Path, origin: str | None = None) -> np.ndarray:
    """Decode an image file into an (H, W, 3) uint8 RGB array; grey and RGBA inputs are converted. A damaged
    JPEG (cut off, or corrupt data that libjpeg would only warn about) raises DatasetError."""
    path = Path(path)
    data = _read_bytes(path, "image", origin)
    if data[:3].tobytes() == b"\xff\xd8\xff":
        img = _read_jpeg(data, path, origin)
        if img is not None:
            return img
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


def _fit_mask(
    mask: np.ndarray, size: tuple[int, int], path: Path, origin: str | None, out_size: int | None = None
) -> np.ndarray:
    """A mask at the image size ``size`` (w, h), or straight at ``out_size`` x ``out_size`` when given.

    Masks must match the image size; a mask with the image's aspect ratio (OpenImages ships some at another
    resolution, and wsolevaluation resizes every mask anyway) is accepted. Resizing is nearest neighbour, from
    the file's own pixels: wsolevaluation's ``get_mask`` resizes each file straight to 224 that way.
    """
    w, h = size
    mh, mw = mask.shape
    if (mw, mh) != (w, h) and abs(mw / mh - w / h) > 0.01 * (w / h):
        suffix = f" (listed at {origin})" if origin else ""
        raise DatasetError(
            f"{path}: mask has size {mw}x{mh} (w x h){suffix}; expected the image size {w}x{h} or the same aspect ratio"
        )
    target = (w, h) if out_size is None else (int(out_size), int(out_size))
    if (mw, mh) == target:
        return mask
    cv2 = _cv2()
    return cv2.resize(mask, target, interpolation=cv2.INTER_NEAREST)


def compose_mask(
    mask_files: list[Path],
    ignore_file: Path | None,
    size: tuple[int, int],
    origin: str | None = None,
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

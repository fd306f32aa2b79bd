"""Evaluate a folder of saved score maps, as wsolevaluation's ``evaluation.py`` does (drop-in replacement).

Score maps are ``<scoremap_root>/<image_id>.npy`` (wsolevaluation's code appends ``.npy`` to the image id;
``<image_id without extension>.npy`` is accepted too): 2-D arrays of any size, float16/32/64 (or integer).
They are read as float64, as wsolevaluation's loader casts them (``t2n``), and brought to the 224 x 224 frame:

- a 224 x 224 map is used as it is and must lie in [0, 1] (wsolevaluation's ``check_scoremap_validity``), or is
  min-max normalised with ``normalize=True``;
- any other size is resized as wsolevaluation's ``inference.py`` resizes CAMs before saving them:
  ``cv2.resize(cam, (224, 224), interpolation=cv2.INTER_CUBIC)`` in float64 (reproduced exactly by
  :func:`wsol.localization.maps.upsample_maps`), then min-max normalised (a constant map becomes zeros).

Maps are then quantised ``uint8(map * 255)`` for the box pass. Reading, resizing and quantising chunks of maps run
in one thread pool and the component tree in another (numpy, file reads and the numba kernels release the GIL), so
the box pass keeps every core busy end to end (see :func:`_pipeline`). Nothing here imports torch.
"""

from __future__ import annotations

import ast
import functools
import os
import threading
from collections import deque
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from wsol.data.errors import DatasetError
from wsol.data.split import SplitInfo
from wsol.errors import UserInputError
from wsol.evaluation.base import threshold_index
from wsol.evaluation.box import BoxEvaluator
from wsol.evaluation.mask import MaskEvaluator
from wsol.localization.boxes import rescale_gt_boxes
from wsol.localization.component_tree import warm_up
from wsol.localization.maps import EVAL_SIZE, normalize_maps, threshold_list, upsample_maps


class ScoreMapError(DatasetError):
    """A score map that cannot be evaluated: missing, unreadable, not 2-D, not numeric, NaN/inf, out of range."""


def _where(path: Path | str, image_id: str, origin: str | None) -> str:
    listed = f", listed at {origin}" if origin else ""
    return f"{path} (score map of image {image_id!r}{listed})"


def scoremap_path(root: str | os.PathLike, image_id: str, origin: str | None = None) -> Path:
    """Path of an image's score map; a missing one raises :class:`ScoreMapError` naming the metadata line.

    The id must stay inside ``root`` lexically (relative, no ``..``): this is checked here rather than with
    ``safe_join``, whose two ``realpath`` calls per file cost more than reading the map, and the files are only
    read (a symlink the user placed in their own folder is theirs to follow)."""
    parts = Path(image_id).parts
    if not image_id or os.path.isabs(image_id) or ".." in parts or (len(image_id) > 1 and image_id[1] == ":"):
        raise ScoreMapError(
            f"{origin or image_id}: image id {image_id!r} would leave the score-map folder {root}; "
            f"expected a relative path without '..'"
        )
    primary = Path(root, image_id + ".npy")
    if primary.is_file():
        return primary
    alternative = Path(root, os.path.splitext(image_id)[0] + ".npy")
    if alternative.is_file():
        return alternative
    raise ScoreMapError(
        f"{_where(primary, image_id, origin)}: file is missing; expected <scoremap_root>/<image_id>.npy"
    )


@functools.lru_cache(maxsize=64)
def _npy_header(header: bytes) -> tuple[np.dtype, tuple[int, ...], bool] | None:
    """(dtype, shape, fortran order) of a ``.npy`` header, parsed once per distinct header: a folder of maps
    shares one or a few headers, and ``np.load`` spends more time parsing each header than reading the pixels."""
    meta = ast.literal_eval(header.decode("latin1"))
    if not isinstance(meta, dict) or not {"descr", "shape", "fortran_order"} <= set(meta):
        return None
    dtype = np.dtype(np.lib.format.descr_to_dtype(meta["descr"]))
    if dtype.hasobject:
        return None
    return dtype, tuple(int(v) for v in meta["shape"]), bool(meta["fortran_order"])


def _load_npy(path: Path) -> np.ndarray:
    """``np.load(path, allow_pickle=False)`` with the header parse cached (:func:`_npy_header`)."""
    data = path.read_bytes()
    if data[:6] == b"\x93NUMPY" and data[6:7] in (b"\x01", b"\x02", b"\x03"):
        size_bytes = 2 if data[6:7] == b"\x01" else 4
        start = 8 + size_bytes
        length = int.from_bytes(data[8:start], "little")
        parsed = _npy_header(data[start : start + length])
        if parsed is not None:
            dtype, shape, fortran = parsed
            count = int(np.prod(shape, dtype=np.int64))
            if len(data) - start - length != count * dtype.itemsize:
                raise ValueError(
                    f"the file holds {len(data) - start - length} data bytes; its header "
                    f"({dtype}, shape {shape}) needs {count * dtype.itemsize}"
                )
            flat = np.frombuffer(data, dtype, count, offset=start + length)
            return flat.reshape(shape, order="F" if fortran else "C")
    return np.load(path, allow_pickle=False)  # anything unusual: numpy's reader and its error


def read_scoremap(path: Path, image_id: str, origin: str | None = None) -> np.ndarray:
    """The map of one ``.npy`` file as float64 (H, W); unreadable, not 2-D, not real or NaN/inf maps raise."""
    at = _where(path, image_id, origin)
    try:
        cam = _load_npy(path)
    except (OSError, ValueError, EOFError, SyntaxError) as err:
        raise ScoreMapError(f"{at}: unreadable .npy file ({err}); expected an array saved with np.save") from None
    if not isinstance(cam, np.ndarray) or cam.ndim != 2:
        shape = getattr(cam, "shape", None)
        raise ScoreMapError(f"{at}: array of shape {shape}; expected a 2-D (height, width) map")
    if cam.dtype.kind not in "fiub":
        raise ScoreMapError(f"{at}: dtype {cam.dtype}; expected a float16/32/64 (or integer) map")
    if cam.size == 0:
        raise ScoreMapError(f"{at}: empty map of shape {cam.shape}; expected at least one pixel")
    cam = cam.astype(np.float64, copy=False)
    low, high = cam.min(), cam.max()  # NaN and inf reach min or max
    if not (np.isfinite(low) and np.isfinite(high)):
        raise ScoreMapError(f"{at}: contains NaN or inf values; expected finite scores")
    return cam


def to_eval_frame(cam: np.ndarray, image_id: str, normalize: bool = False, where: str = "") -> np.ndarray:
    """A finite float64 map in the 224 x 224 frame with values in [0, 1] (see the module docstring)."""
    if cam.shape != (EVAL_SIZE, EVAL_SIZE):
        return normalize_maps(upsample_maps(cam[None]), [image_id])[0]
    if normalize:
        return normalize_maps(cam[None], [image_id])[0]
    low, high = cam.min(), cam.max()
    if low < 0 or high > 1:
        raise ScoreMapError(
            f"{where or image_id}: values in [{low:.6g}, {high:.6g}], outside [0, 1]; expected "
            f"maps in [0, 1] (pass --normalize to min-max normalise them)"
        )
    return cam


def load_eval_maps(
    root: str | os.PathLike, split: SplitInfo, indices: Sequence[int], normalize: bool = False
) -> np.ndarray:
    """(B, 224, 224) float64 maps of the records ``indices`` of ``split``, validated and in [0, 1]."""
    out = np.empty((len(indices), EVAL_SIZE, EVAL_SIZE))
    for k, i in enumerate(indices):
        image_id, origin = split.records[i].image_id, split.origin(i)
        path = scoremap_path(root, image_id, origin)
        out[k] = to_eval_frame(
            read_scoremap(path, image_id, origin), image_id, normalize, _where(path, image_id, origin)
        )
    return out


def _gt_boxes(split: SplitInfo, indices: Sequence[int], protocol: str) -> list[np.ndarray]:
    boxes = []
    for i in indices:
        rec = split.records[i]
        if len(rec.boxes) == 0:
            raise DatasetError(
                f"{split.origin(i)}: image {rec.image_id!r} has no box in localization.txt; box "
                f"evaluation needs at least one per image"
            )
        boxes.append(rescale_gt_boxes(np.asarray(rec.boxes, np.float64), rec.size, protocol))
    return boxes


def _gt_masks(split: SplitInfo, indices: Sequence[int]) -> np.ndarray:
    masks = []
    for i in indices:
        mask = split.load_mask(i, out_size=EVAL_SIZE)
        if mask is None:
            raise DatasetError(
                f"{split.origin(i)}: image {split.records[i].image_id!r} has no mask in "
                f"localization.txt; mask evaluation needs every image's masks"
            )
        masks.append(mask)
    return np.stack(masks)


def _chunks(n: int, size: int) -> list[range]:
    return [range(lo, min(lo + size, n)) for lo in range(0, n, size)]


def _progress(items: Iterator[Any], total: int, enabled: bool) -> Iterator[Any]:
    if not enabled:
        return items
    from tqdm import tqdm  # only when shown: start-up time

    return iter(tqdm(items, total=total, desc="evaluate score maps", unit="chunk"))


def _pipeline(chunks: Sequence[range], prepare: Any, compute: Any, threads: int, window: int = 64) -> Iterator[Any]:
    """``compute(prepare(chunk))`` for every chunk, in order, with the two stages in two thread pools.

    Reading a chunk never waits for the kernel: while the first call of a kernel compiles (a fresh environment,
    no numba cache yet) or while the kernels run, up to ``window`` chunks are read and quantised ahead (uint8
    maps: 64 chunks of 16 maps hold about 50 MB), so both cores stay busy whichever stage is the slower.
    """
    with ThreadPoolExecutor(threads) as readers, ThreadPoolExecutor(threads) as kernels:
        pending: deque[tuple[Future, Future]] = deque()
        try:
            for chunk in chunks:
                ready = readers.submit(prepare, chunk)
                pending.append((ready, kernels.submit(lambda f: compute(f.result()), ready)))
                if len(pending) >= window:
                    yield pending.popleft()[1].result()
            while pending:
                yield pending.popleft()[1].result()
        finally:  # a bad map stops the run at once: the chunks not started yet are dropped
            for ready, done in pending:
                ready.cancel()
                done.cancel()


def evaluate_scoremaps(
    scoremap_root: str | os.PathLike,
    split: SplitInfo,
    *,
    cam_curve_interval: float = 0.001,
    iou_thresholds: Sequence[int] = (30, 50, 70),
    multi_contour: bool = True,
    fixed_threshold: float | None = None,
    normalize: bool = False,
    protocol: str = "resize",
    chunk_size: int = 16,
    num_threads: int | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Box metrics when the split has boxes, mask metrics (PxAP, PIoU) when it has masks; plus curves.

    Masks are read from ``split.mask_root``, each file resized straight to 224 by nearest neighbour
    (wsolevaluation's ``get_mask``). Chunks of ``chunk_size`` maps go to ``num_threads`` workers (default: all
    cores); the figures do not depend on either (the counters are sums).
    """
    if not split.records:
        raise DatasetError(f"{split.name}: the metadata lists no image")
    try:  # bad values fail before any map is read
        thresholds = threshold_list(cam_curve_interval)
        if fixed_threshold is not None:
            threshold_index(thresholds, fixed_threshold)
    except ValueError as err:
        raise UserInputError(f"bad threshold argument: {err}") from None
    use_masks = split.has_masks
    if use_masks and split.mask_root is None:
        raise DatasetError(
            f"{split.name}: the metadata lists masks; pass --mask-root (the folder the mask paths of "
            f"localization.txt are relative to)"
        )
    box_ev = None if use_masks else BoxEvaluator(thresholds, iou_thresholds, multi_contour, fixed_threshold, 1)
    mask_ev = MaskEvaluator(thresholds, fixed_threshold) if use_masks else None

    def prepare(indices: range) -> Any:
        """Read, validate, resize and quantise one chunk (numpy and file reads: releases the GIL)."""
        ids = [split.records[i].image_id for i in indices]
        maps = load_eval_maps(scoremap_root, split, indices, normalize)
        if mask_ev is not None:
            return mask_ev.histograms(maps, _gt_masks(split, indices), ids), len(ids)
        # numpy's uint8(map * 255), equal to quantize_maps', so that reading never waits for a numba kernel that
        # is still being compiled (fresh environment) or loaded from the cache
        np.multiply(maps, 255, out=maps)
        return maps.astype(np.uint8), _gt_boxes(split, indices, protocol), ids

    def compute(prepared: Any) -> Any:
        """The component-tree pass of one chunk (numba, nogil); mask chunks are done in ``prepare``."""
        return prepared if mask_ev is not None else box_ev.ious(*prepared, num_threads=1)

    if box_ev is not None:  # kernels load (or compile) while the first chunks are read
        threading.Thread(target=warm_up, name="warm-up-kernels", daemon=True).start()
    chunks = _chunks(len(split.records), chunk_size)
    threads = max(1, min(num_threads or os.cpu_count() or 1, len(chunks)))
    for res in _progress(_pipeline(chunks, prepare, compute, threads), len(chunks), progress):
        if mask_ev is not None:
            (fg, bg), count = res
            mask_ev.add(fg, bg, count)
        else:
            box_ev.add(res)
    ev: Any = mask_ev if mask_ev is not None else box_ev
    result = ev.evaluate()
    if "oracle/maxboxacc_threshold" in result:
        result.update(chosen_threshold=result["oracle/maxboxacc_threshold"], chosen_threshold_metric="maxboxacc")
    else:
        result.update(chosen_threshold=result["oracle/piou_threshold"], chosen_threshold_metric="piou")
    result.update(
        num_images=len(split.records), cam_curve_interval=cam_curve_interval, protocol=protocol, curves=ev.curves()
    )
    return result

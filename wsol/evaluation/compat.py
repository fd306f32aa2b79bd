"""wsolevaluation's Python API on top of the fast evaluators: switching is one import line.

Users of clovaai/wsolevaluation (Choe et al., CVPR 2020, https://arxiv.org/abs/2001.07437) compute score maps in
their own loop and feed them one by one::

    from wsol.evaluation.compat import BoxEvaluator, MaskEvaluator, configure_metadata

    evaluator = BoxEvaluator(metadata=configure_metadata("metadata/CUB/test"), dataset_name="CUB", split="test",
                             cam_threshold_list=list(np.arange(0, 1, 0.001)), iou_threshold_list=[30, 50, 70],
                             mask_root=None, multi_contour_eval=True)
    for scoremap, image_id in ...:
        evaluator.accumulate(scoremap, image_id)
    max_box_acc = evaluator.compute()  # one MaxBoxAcc per IoU threshold, in iou_threshold_list's order

Same constructor keywords, methods and return values as wsolevaluation's ``evaluation.BoxEvaluator`` /
``MaskEvaluator``: ``compute()`` gives ``[max_tau BoxAcc(tau, delta) for delta in iou_threshold_list]`` (largest
contour, or every contour with ``multi_contour_eval``), and PxAP (float) for masks. Score maps are read as
wsolevaluation's ``check_scoremap_validity`` wants them (2-D, finite, in [0, 1]), in float16/32/64; a map that is
not 224 x 224 is resized bicubically and normalised as :mod:`wsol.evaluation.scoremaps` does. Box maps are
buffered as uint8 and evaluated in batches by the component-tree kernel, so ``accumulate`` costs a few
microseconds and ``compute`` flushes the last batch.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np

from wsol.data.errors import DatasetError
from wsol.data.split import SplitInfo
from wsol.data.wsoleval import read_wsoleval_folder
from wsol.evaluation.box import BoxEvaluator as _FastBoxEvaluator
from wsol.evaluation.mask import MaskEvaluator as _FastMaskEvaluator
from wsol.evaluation.scoremaps import to_eval_frame
from wsol.localization.boxes import rescale_gt_boxes
from wsol.localization.maps import EVAL_SIZE, quantize_maps

_FILES = ("image_ids", "image_ids_proxy", "class_labels", "image_sizes", "localization")


def configure_metadata(metadata_root: str | os.PathLike) -> SimpleNamespace:
    """The metadata handle wsolevaluation's evaluators take: one attribute per file path of the split folder."""
    return SimpleNamespace(**{name: os.path.join(metadata_root, f"{name}.txt") for name in _FILES})


def _split_of(metadata: Any, mask_root: str | os.PathLike | None, split: str) -> SplitInfo:
    """Read the split that ``metadata`` (a :func:`configure_metadata` handle, a dict or a folder) points to."""
    if isinstance(metadata, (str, os.PathLike)):
        folder = Path(metadata)
    else:
        ids = metadata["image_ids"] if isinstance(metadata, dict) else metadata.image_ids
        folder = Path(ids).parent
    return read_wsoleval_folder(folder, folder, mask_root, name=split)


class _Compat:
    def __init__(
        self,
        metadata: Any,
        dataset_name: str,
        split: str,
        cam_threshold_list: Sequence[float],
        iou_threshold_list: Sequence[int],
        mask_root: str | os.PathLike | None,
        multi_contour_eval: bool,
    ):
        self.metadata = metadata
        self.dataset_name = dataset_name
        self.split = split
        self.cam_threshold_list = cam_threshold_list
        self.iou_threshold_list = list(iou_threshold_list)
        self.mask_root = mask_root
        self.multi_contour_eval = multi_contour_eval
        self._split = _split_of(metadata, mask_root, split)
        self._index = {r.image_id: i for i, r in enumerate(self._split.records)}
        self.image_ids = [r.image_id for r in self._split.records]

    def _record(self, image_id: str) -> int:
        if image_id not in self._index:
            raise DatasetError(f"image id {image_id!r} is not listed in the metadata of split {self.split!r}")
        return self._index[image_id]

    def _map(self, scoremap: Any, image_id: str) -> np.ndarray:
        cam = np.asarray(scoremap)
        if cam.ndim != 2:
            raise ValueError(f"Scoremap must be a 2D array; it is {cam.ndim}D (image {image_id!r}).")
        if cam.dtype.kind not in "fiub":
            raise TypeError(f"Scoremap must be a float array; it is of {cam.dtype} type (image {image_id!r}).")
        cam = cam.astype(np.float64)
        if not np.isfinite(cam).all():
            raise ValueError(f"Scoremap of image {image_id!r} must not contain nans or infs.")
        return to_eval_frame(cam, image_id, where=f"score map of image {image_id!r}")


class BoxEvaluator(_Compat):
    """wsolevaluation's ``BoxEvaluator``: MaxBoxAcc per IoU threshold, from maps given one at a time."""

    def __init__(
        self,
        metadata: Any = None,
        dataset_name: str = "CUB",
        split: str = "test",
        cam_threshold_list: Sequence[float] = (),
        iou_threshold_list: Sequence[int] = (30, 50, 70),
        mask_root: str | os.PathLike | None = None,
        multi_contour_eval: bool = False,
        batch_size: int = 64,
        num_threads: int | None = None,
    ):
        super().__init__(
            metadata, dataset_name, split, cam_threshold_list, iou_threshold_list, mask_root, multi_contour_eval
        )
        self._fast = _FastBoxEvaluator(
            np.asarray(cam_threshold_list, np.float64),
            self.iou_threshold_list,
            multi_contour=bool(multi_contour_eval),
            num_threads=num_threads,
        )
        self.resize_length = EVAL_SIZE
        self.batch_size = batch_size
        self._maps: list[np.ndarray] = []
        self._boxes: list[np.ndarray] = []
        self._ids: list[str] = []

    def accumulate(self, scoremap: Any, image_id: str) -> None:
        """Add one map (H, W) in [0, 1] of image ``image_id``; evaluated with the next full batch."""
        rec = self._split.records[self._record(image_id)]
        if len(rec.boxes) == 0:
            raise DatasetError(f"image {image_id!r} has no box in the metadata's localization.txt")
        self._maps.append(quantize_maps(self._map(scoremap, image_id)[None], parallel=False)[0])
        self._boxes.append(rescale_gt_boxes(np.asarray(rec.boxes, np.float64), rec.size, "resize"))
        self._ids.append(image_id)
        if len(self._maps) >= self.batch_size:
            self._flush()

    def _flush(self) -> None:
        if self._maps:
            self._fast.add(self._fast.ious(np.stack(self._maps), self._boxes, self._ids))
            self._maps, self._boxes, self._ids = [], [], []

    @property
    def cnt(self) -> int:
        """Maps accumulated so far (wsolevaluation's counter)."""
        return self._fast.count + len(self._maps)

    @property
    def num_correct(self) -> dict[int, np.ndarray]:
        """IoU threshold → hits per CAM threshold (wsolevaluation's attribute), after flushing pending maps."""
        self._flush()
        table = self._fast.correct_v2 if self.multi_contour_eval else self._fast.correct_v1
        return {d: table[self._fast.iou_thresholds.index(int(d))].astype(np.float64) for d in self.iou_threshold_list}

    def compute(self) -> list[float]:
        """``[max_tau BoxAcc(tau, delta) for delta in iou_threshold_list]`` in percent."""
        counts = self.num_correct
        if self.cnt == 0:
            raise ZeroDivisionError("no score map was accumulated")
        return [float((counts[d] * 100.0 / float(self.cnt)).max()) for d in self.iou_threshold_list]


class MaskEvaluator(_Compat):
    """wsolevaluation's ``MaskEvaluator``: PxAP from score histograms at GT foreground / background pixels."""

    def __init__(
        self,
        metadata: Any = None,
        dataset_name: str = "OpenImages",
        split: str = "test",
        cam_threshold_list: Sequence[float] = (),
        iou_threshold_list: Sequence[int] = (30, 50, 70),
        mask_root: str | os.PathLike | None = None,
        multi_contour_eval: bool = False,
    ):
        if dataset_name != "OpenImages":
            raise ValueError("Mask evaluation must be performed on OpenImages.")
        super().__init__(
            metadata, dataset_name, split, cam_threshold_list, iou_threshold_list, mask_root, multi_contour_eval
        )
        if mask_root is None:
            raise DatasetError("mask evaluation needs mask_root, the folder the mask paths are relative to")
        self._fast = _FastMaskEvaluator(np.asarray(cam_threshold_list, np.float64))
        self.num_bins = len(self._fast.edges) - 1
        self.threshold_list_right_edge = self._fast.edges

    def accumulate(self, scoremap: Any, image_id: str) -> None:
        """Add the histograms of one map (H, W) in [0, 1] against the image's GT mask at 224."""
        index = self._record(image_id)
        mask = self._split.load_mask(index, out_size=EVAL_SIZE)
        if mask is None:
            raise DatasetError(f"image {image_id!r} has no mask in the metadata's localization.txt")
        cam = self._map(scoremap, image_id)
        fg, bg = self._fast.histograms(cam[None], mask[None], [image_id])
        self._fast.add(fg, bg, 1)

    @property
    def gt_true_score_hist(self) -> np.ndarray:
        return self._fast.fg_hist.astype(np.float64)

    @property
    def gt_false_score_hist(self) -> np.ndarray:
        return self._fast.bg_hist.astype(np.float64)

    def compute(self) -> float:
        """PxAP (area under the pixel precision-recall curve, percent)."""
        return float(self._fast.evaluate()["pxap"])

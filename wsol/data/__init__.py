"""Datasets of WSOL: format readers (wsolevaluation, CUB-200-2011, COCO), box-aware transforms, the synthetic
benchmark. Public API: :func:`load_split`, :class:`SplitInfo`, :class:`WSOLDataset`,
:class:`ImageFolderDataset`, :func:`build_transform`, :class:`DatasetError`."""

from wsol.data.dataset import ImageFolderDataset, WSOLDataset
from wsol.data.errors import DatasetError
from wsol.data.records import IGNORE_VALUE, ImageRecord, collate_samples
from wsol.data.split import SplitInfo, detect_format, load_split
from wsol.data.transforms import boxes_to_input, boxes_to_original, build_transform

__all__ = [
    "DatasetError", "IGNORE_VALUE", "ImageFolderDataset", "ImageRecord", "SplitInfo", "WSOLDataset",
    "boxes_to_input", "boxes_to_original", "build_transform", "collate_samples", "detect_format", "load_split",
]

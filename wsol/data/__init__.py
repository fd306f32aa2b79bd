"""Datasets of WSOL: format readers (wsolevaluation, CUB-200-2011, COCO), box-aware transforms, the synthetic
benchmark. Public API: :func:`load_split`, :class:`SplitInfo`, :class:`WSOLDataset`,
:class:`ImageFolderDataset`, :func:`build_transform`, :class:`DatasetError`.

The names are loaded on first use (PEP 562), so that importing a light submodule (``wsol.data.errors``,
``wsol.data.synthetic_config``) does not import torch: the command line parses its arguments first.
"""

from __future__ import annotations

from wsol._lazy import lazy_attributes

_HOMES = {
    "ImageFolderDataset": "dataset",
    "WSOLDataset": "dataset",
    "DatasetError": "errors",
    "IGNORE_VALUE": "records",
    "ImageRecord": "records",
    "collate_samples": "records",
    "SplitInfo": "split",
    "detect_format": "formats",
    "load_split": "formats",
    "boxes_to_input": "transforms",
    "boxes_to_original": "transforms",
    "build_transform": "transforms",
}
__all__ = sorted(_HOMES)


__getattr__, __dir__ = lazy_attributes(__name__, _HOMES, globals())

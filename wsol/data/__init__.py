"""Datasets of WSOL: format readers (wsolevaluation, CUB-200-2011, COCO), box-aware transforms, the synthetic
benchmark. Public API: :func:`load_split`, :class:`SplitInfo`, :class:`WSOLDataset`,
:class:`ImageFolderDataset`, :func:`build_transform`, :class:`DatasetError`.

Names are imported on first use (PEP 562): reading metadata must not pay for torch and albumentations, which
only the datasets and transforms need.
"""

from __future__ import annotations

import importlib
from typing import Any

_HOMES = {
    "ImageFolderDataset": "dataset", "WSOLDataset": "dataset", "DatasetError": "errors", "IGNORE_VALUE": "records",
    "ImageRecord": "records", "collate_samples": "records", "SplitInfo": "split", "detect_format": "split",
    "load_split": "split", "boxes_to_input": "transforms", "boxes_to_original": "transforms",
    "build_transform": "transforms",
}

__all__ = sorted(_HOMES)


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{_HOMES[name]}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_HOMES))

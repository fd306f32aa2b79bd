"""Pseudo-label export: a checkpoint's class maps → COCO json (boxes + RLE masks), PNG masks, score maps.

Batched, overlapped with the model, resumable in fixed shards and shardable across processes (torchrun);
entry point ``wsol export`` (:mod:`wsol.cli.export`), benchmark ``tools/bench/export.py``.
"""

from wsol.export.coco import coco_eval, dataset_json, results_json
from wsol.export.merge import merge_export
from wsol.export.pipeline import resolve_threshold, run_export
from wsol.export.postprocess import PostprocessSettings, image_labels
from wsol.export.quality import GroundTruth, quality_report
from wsol.export.runner import ExportSpec, RunOptions
from wsol.export.source import ExportSource, folder_source, split_source
from wsol.export.writers import decode_rle, encode_rle, read_png_mask

__all__ = [
    "ExportSource",
    "ExportSpec",
    "GroundTruth",
    "PostprocessSettings",
    "RunOptions",
    "coco_eval",
    "dataset_json",
    "decode_rle",
    "encode_rle",
    "folder_source",
    "image_labels",
    "merge_export",
    "quality_report",
    "read_png_mask",
    "resolve_threshold",
    "results_json",
    "run_export",
    "split_source",
]

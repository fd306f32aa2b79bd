"""Merge finished shards into the final COCO files, the bad-image report and the quality report."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from wsol.export.coco import GT_BOX_FILE, GT_SEGM_FILE, dataset_json, results_json, with_segmentation_format
from wsol.export.quality import GroundTruth, ground_truth_datasets, quality_report
from wsol.export.shards import (
    BAD_FILE,
    DATASET_FILE,
    QUALITY_FILE,
    RESULTS_FILE,
    SETTINGS_FILE,
    load_shards,
    num_shards,
    number,
    read_json,
    write_bad_images,
)
from wsol.fileio import atomic_write_json


def merge_export(
    out_dir: str | Path, gt: GroundTruth | None = None, extra_quality: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Read ``export.json`` and every shard of ``out_dir``; write the final files; return a summary.

    With ground truth, ``gt_bbox.json`` (and ``gt_segm.json`` when the split has masks) hold the COCO ground
    truth that ``quality.json`` was scored against. ``results.json`` is written last: its presence marks a
    finished export. The output bytes depend only on
    the shards' content (sorted by image index), so any split of the work across processes merges the same.
    """
    out = Path(out_dir)
    if not (out / SETTINGS_FILE).is_file():
        raise FileNotFoundError(f"{out}: no {SETTINGS_FILE}; run the export before --merge-only")
    settings = read_json(out / SETTINGS_FILE)
    total = num_shards(settings["num_images"], settings["shard_size"])
    images, anns, bad = load_shards(out, total, settings["fingerprint"])
    coco_images, coco_anns = number(images, anns)
    results = results_json(coco_anns)
    class_names = settings["class_names"]
    seg_format = settings.get("segmentation", "rle")
    write_bad_images(out, bad)
    gt_files = []
    summary: dict[str, Any] = {
        "images": len(images),
        "annotations": len(coco_anns),
        "bad_images": len(bad),
        "threshold": settings["postprocess"]["threshold"],
        "quality": None,
    }
    if gt is not None:
        with_classes = [{**ci, "classes": im["classes"], "pred": im["pred"]} for ci, im in zip(coco_images, images)]
        datasets = ground_truth_datasets(with_classes, class_names, gt)
        report = quality_report(with_classes, coco_anns, results, class_names, gt, datasets)
        atomic_write_json(out / GT_BOX_FILE, datasets[0], indent=None)
        gt_files.append(GT_BOX_FILE)
        if datasets[1] is not None:
            atomic_write_json(out / GT_SEGM_FILE, with_segmentation_format(datasets[1], seg_format), indent=None)
            gt_files.append(GT_SEGM_FILE)
        report["threshold"] = settings["postprocess"]["threshold"]
        report["bad_images"] = len(bad)
        for key in ("threshold_source", "checkpoint_localization"):
            if key in settings:
                report[key] = settings[key]
        report.update(extra_quality or {})
        atomic_write_json(out / QUALITY_FILE, report)
        summary["quality"] = report
    if settings.get("write_dataset", True):
        info = {
            "description": "wsol pseudo-labels",
            "threshold": settings["postprocess"]["threshold"],
            "boxes": settings["postprocess"]["boxes"],
            "source": settings["source"],
            "segmentation": seg_format,
        }
        atomic_write_json(
            out / DATASET_FILE, dataset_json(coco_images, coco_anns, class_names, info, seg_format), indent=None
        )
    atomic_write_json(out / RESULTS_FILE, results, indent=None)
    summary["files"] = (
        [RESULTS_FILE, BAD_FILE]
        + ([DATASET_FILE] if settings.get("write_dataset", True) else [])
        + ([QUALITY_FILE] if gt is not None else [])
        + gt_files
    )
    return summary

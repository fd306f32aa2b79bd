"""Merge finished shards into the final COCO files, the bad-image report and the quality report."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from wsol.export.coco import dataset_json, results_json
from wsol.export.quality import GroundTruth, quality_report
from wsol.export.shards import (BAD_FILE, DATASET_FILE, QUALITY_FILE, RESULTS_FILE, SETTINGS_FILE, read_json,
                                load_shards, num_shards, number, write_bad_images)
from wsol.fileio import atomic_write_json


def merge_export(out_dir: str | Path, gt: GroundTruth | None = None,
                 extra_quality: dict[str, Any] | None = None) -> dict[str, Any]:
    """Read ``export.json`` and every shard of ``out_dir``; write the final files; return a summary.

    ``results.json`` is written last: its presence marks a finished export. The output bytes depend only on
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
    write_bad_images(out, bad)
    summary: dict[str, Any] = {"images": len(images), "annotations": len(coco_anns), "bad_images": len(bad),
                               "threshold": settings["postprocess"]["threshold"], "quality": None}
    if gt is not None:
        with_classes = [{**ci, "classes": im["classes"], "pred": im["pred"]} for ci, im in zip(coco_images, images)]
        report = quality_report(with_classes, coco_anns, results, class_names, gt)
        report["threshold"] = settings["postprocess"]["threshold"]
        report["bad_images"] = len(bad)
        for key in ("threshold_source", "checkpoint_localization"):
            if key in settings:
                report[key] = settings[key]
        report.update(extra_quality or {})
        atomic_write_json(out / QUALITY_FILE, report)
        summary["quality"] = report
    if settings.get("write_dataset", True):
        info = {"description": "wsol pseudo-labels", "threshold": settings["postprocess"]["threshold"],
                "boxes": settings["postprocess"]["boxes"], "source": settings["source"]}
        atomic_write_json(out / DATASET_FILE, dataset_json(coco_images, coco_anns, class_names, info), indent=None)
    atomic_write_json(out / RESULTS_FILE, results, indent=None)
    summary["files"] = [RESULTS_FILE, BAD_FILE] + ([DATASET_FILE] if settings.get("write_dataset", True) else []) \
        + ([QUALITY_FILE] if gt is not None else [])
    return summary

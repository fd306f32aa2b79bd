"""CAMs to boxes and pseudo-masks: upsampling, normalisation, thresholds, regions, IoU (wsolevaluation rules)."""

from wsol.localization.boxes import PROTOCOLS, box_iou, check_boxes, contour_box_from_extent, rescale_gt_boxes
from wsol.localization.component_tree import ThresholdIoUs, boxes_at_thresholds, threshold_ious
from wsol.localization.maps import (
    EVAL_SIZE,
    check_finite,
    normalize_maps,
    quantize_maps,
    threshold_levels,
    threshold_list,
    upsample_maps,
)
from wsol.localization.masks import pseudo_mask, regions_at_threshold

__all__ = [
    "EVAL_SIZE",
    "PROTOCOLS",
    "ThresholdIoUs",
    "box_iou",
    "boxes_at_thresholds",
    "check_boxes",
    "check_finite",
    "contour_box_from_extent",
    "normalize_maps",
    "pseudo_mask",
    "quantize_maps",
    "regions_at_threshold",
    "rescale_gt_boxes",
    "threshold_ious",
    "threshold_levels",
    "threshold_list",
    "upsample_maps",
]

"""Pictures of what a model localizes: heatmap overlays, boxes, mask contours, grids."""

from wsol.drawing import (
    denormalize_image,
    draw_boxes,
    draw_mask_contours,
    heatmap_overlay,
    make_grid,
    render_localization,
    save_png,
)

__all__ = [
    "denormalize_image",
    "draw_boxes",
    "draw_mask_contours",
    "heatmap_overlay",
    "make_grid",
    "render_localization",
    "save_png",
]
